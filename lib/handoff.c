// SPDX-License-Identifier: MIT
/*
 * handoff - the client side of the descriptor hand-off (cmafs.h): one
 * request on a fresh SOCK_SEQPACKET connection to the socket the mount
 * names, one reply with the buffer's descriptor.
 *
 * A connection per request keeps the library free of global state (no
 * lock, nothing to redo after fork, nothing left open behind the caller's
 * back); it costs a connect(2), far less than the round trip itself.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cmafs.h"
#include "internal.h"
#include "libcmafs.h"

/* Room for more descriptors than the one expected, so that a daemon that
 * sends extra ones has them all closed instead of leaked. */
#define MAX_FDS 8

static int fail(int err)
{
	errno = err;
	return -1;
}

static void close_all(const int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* The socket's address from CMAFS_SOCKET_XATTR; "@name" is abstract. */
static int socket_addr(int fd, struct sockaddr_un *sa, socklen_t *len)
{
	ssize_t n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = fgetxattr(fd, CMAFS_SOCKET_XATTR, sa->sun_path,
		      sizeof(sa->sun_path) - 1);
	if (n < 0) {
		if (errno == ERANGE)
			return fail(ENAMETOOLONG);
		if (errno != ENODATA && errno != EOPNOTSUPP)
			return -1;
		return lc_why_not(fd);
	}
	/* A value written by hand (setfattr) may end in a newline or NUL. */
	while (n > 0 && (sa->sun_path[n - 1] == '\0' ||
			 sa->sun_path[n - 1] == '\n'))
		n--;
	if (n == 0)
		return fail(EPROTO);
	if (sa->sun_path[0] == '@')
		sa->sun_path[0] = '\0';
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
			   (size_t)n + (sa->sun_path[0] ? 1 : 0));
	return 0;
}

static int send_request(int sock, int fd)
{
	struct cmafs_handoff_req req = {
		.magic = CMAFS_HANDOFF_MAGIC,
		.version = CMAFS_HANDOFF_VERSION,
		.op = CMAFS_HANDOFF_GET,
	};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = &req, .iov_len = sizeof(req) };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *c;
	ssize_t n;

	memset(&ctl, 0, sizeof(ctl));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	return n == (ssize_t)sizeof(req) ? 0 : fail(EPROTO);
}

/* The reply and the descriptors that came with it (*nfds of them). */
static ssize_t recv_reply(int sock, struct cmafs_handoff_reply *reply,
			  int *fds, int *nfds, int *msg_flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	/* One byte more than a reply: a longer message shows as MSG_TRUNC. */
	char data[sizeof(*reply) + 1];
	struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	ssize_t n;

	*nfds = 0;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c;
	     c = CMSG_NXTHDR(&msg, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k && *nfds < MAX_FDS; i++)
			memcpy(&fds[(*nfds)++],
			       CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	*msg_flags = msg.msg_flags;
	memcpy(reply, data, sizeof(*reply) < (size_t)n ? sizeof(*reply) :
							  (size_t)n);
	return n;
}

/* The reply is one this library understands and grants no more than
 * the caller's descriptor allows; else EPROTO, nothing kept. */
static int check_reply(const struct cmafs_handoff_reply *r, ssize_t n,
		       int msg_flags, const int *fds, int nfds, int accmode)
{
	int fl;

	if (n < (ssize_t)sizeof(*r) || (msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    r->magic != CMAFS_HANDOFF_MAGIC || r->op != CMAFS_HANDOFF_GET)
		return fail(EPROTO);
	if (r->error) {
		if (nfds || r->error < 0 || r->error > 4095)
			return fail(EPROTO);
		return fail(r->error);
	}
	if (nfds != 1 || r->version != CMAFS_HANDOFF_VERSION)
		return fail(EPROTO);
	fl = fcntl(fds[0], F_GETFL);
	if (fl < 0 || (accmode == O_RDONLY && (fl & O_ACCMODE) != O_RDONLY))
		return fail(EPROTO);
	return 0;
}

int lc_handoff(int fd, int accmode, struct cmafs_handoff_reply *reply)
{
	struct cmafs_handoff_reply r;
	struct sockaddr_un sa;
	int fds[MAX_FDS] = { -1 }, nfds = 0, msg_flags = 0, sock, err;
	socklen_t salen = 0;
	ssize_t n;

	if (socket_addr(fd, &sa, &salen))
		return -1;
	sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return -1;
	if (connect(sock, (const struct sockaddr *)&sa, salen) ||
	    send_request(sock, fd)) {
		err = errno;
		close(sock);
		return fail(err);
	}
	memset(&r, 0, sizeof(r));
	n = recv_reply(sock, &r, fds, &nfds, &msg_flags);
	err = n < 0 ? errno : 0;
	close(sock);
	if (n < 0)
		return fail(err);
	if (check_reply(&r, n, msg_flags, fds, nfds, accmode)) {
		err = errno;
		close_all(fds, nfds);
		return fail(err);
	}
	if (reply)
		*reply = r;
	return fds[0];
}

LC_EXPORT int cmafs_handoff(int fd, struct cmafs_handoff_reply *reply)
{
	struct stat st;
	int fl;

	if (lc_check(fd, &fl, &st))
		return -1;
	return lc_handoff(fd, fl & O_ACCMODE, reply);
}

LC_EXPORT int cmafs_buffer_fd(int fd)
{
	return cmafs_handoff(fd, NULL);
}
