// SPDX-License-Identifier: MIT
/*
 * handoff - the buffer descriptor hand-off (include/cmafs.h has the
 * protocol, cmafs(8) the user's view).
 *
 * FUSE cannot map foreign memory before passthrough (Linux 6.9), and
 * passthrough needs a privileged daemon: elsewhere a mapping through the
 * mount is a page-cache copy.  So processes may ask for the buffer's own
 * descriptor over a socket, naming the file by a descriptor they opened
 * through the mount.  That open was the kernel's permission decision; the
 * daemon makes it again for the peer's credentials (the file's mode may
 * have changed, the descriptor may have been passed on), and never grants
 * more than the descriptor's own access mode.
 *
 * One thread serves the socket with epoll, non-blocking on every
 * descriptor: a client that sends garbage, never reads or never closes
 * costs a slot (bounded per user and in all, idle ones are dropped) and
 * never the FUSE request loop, which takes fs.lock only for the lookup.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "buffer_ops.h"
#include "cmafs.h"
#include "fs.h"
#include "handoff.h"
#include "log.h"
#include "mountpoint.h"

#define MAX_CLIENTS 32		/* connections in all */
#define USER_CLIENTS 8		/* per user but root */
#define IDLE_SECONDS 30		/* a connection that sends nothing */
#define MAX_FDS 8		/* descriptors read from one message */

struct client {
	int fd;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	gid_t *groups;		/* supplementary groups (SO_PEERGROUPS) */
	int ngroups;
	time_t last;		/* CLOCK_MONOTONIC seconds of its last message */
};

static struct {
	struct fs *fs;
	int listen_fd, wake_fd, epfd;
	pthread_t thread;
	bool running;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t sock_dev;		/* the socket file we made, to remove it */
	ino_t sock_ino;
	char *mountpoint;
	dev_t dev;		/* the mount's, once known */
	bool have_dev;
	bool listen_paused;	/* out of descriptors: until the next tick */
	struct client *clients[MAX_CLIENTS];
} h = { .listen_fd = -1, .wake_fd = -1, .epfd = -1 };

/* epoll tags for the two descriptors that are not clients */
static char listen_tag, wake_tag;

static time_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

const char *handoff_socket(void)
{
	return h.listen_fd >= 0 ? h.path : NULL;
}

/* ---- the socket's place --------------------------------------------- */

/*
 * A directory only we can write to: nobody else can put a socket of
 * theirs where clients look for ours.
 */
static int own_dir(const char *dir, mode_t mode)
{
	struct stat st;

	if (mkdir(dir, mode) && errno != EEXIST)
		return -errno;
	if (lstat(dir, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)))
		return -EPERM;
	return 0;
}

/* "/cma" -> "cma", "/a/b-c" -> "a-b_2dc": one name per mount point. */
static void escape(const char *mp, char *out, size_t len)
{
	size_t o = 0;

	for (const char *p = mp + (*mp == '/'); *p && o + 4 < len; p++) {
		unsigned char c = (unsigned char)*p;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.')
			out[o++] = (char)c;
		else if (c == '/')
			out[o++] = '-';
		else
			o += (size_t)snprintf(out + o, len - o, "_%02x", c);
	}
	out[o] = '\0';
	if (!o)
		snprintf(out, len, "root");
}

static uint64_t fnv1a(const char *s)
{
	uint64_t x = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		x = (x ^ (unsigned char)*s) * 0x100000001b3ULL;
	return x;
}

static int auto_path(const char *mp, char *out, size_t len)
{
	char dir[64], name[PATH_MAX];
	int err;

	if (geteuid() == 0)
		snprintf(dir, sizeof(dir), "/run/cmafs");
	else
		snprintf(dir, sizeof(dir), "/tmp/cmafs-%u",
			 (unsigned int)geteuid());
	/* Others must reach the socket in it: search, not read or write. */
	err = own_dir(dir, geteuid() == 0 ? 0755 : 0711);
	if (err) {
		log_err("no descriptor hand-off socket: %s is not a directory of this user's that only it can write (%s); give -o socket=PATH",
			dir, strerror(-err));
		return -1;
	}
	escape(mp, name, sizeof(name));
	if ((size_t)snprintf(out, len, "%s/%s.sock", dir, name) >= len)
		snprintf(out, len, "%s/%016" PRIx64 ".sock", dir, fnv1a(mp));
	return 0;
}

/*
 * A socket left by a daemon that was killed is in the way: remove it.  A
 * live one (someone answers) or anything else is not ours to remove.
 */
static int clear_stale(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, err;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	err = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ? errno : 0;
	close(fd);
	if (!err)
		return -EADDRINUSE;
	if (err != ECONNREFUSED && err != EPROTOTYPE)
		return -err;
	return unlink(path) ? -errno : 0;
}

static int make_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	err = clear_stale(path);
	if (err)
		return err;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/*
	 * Anyone may connect: what they get depends on their credentials
	 * and the descriptor they send, not on reaching the socket.
	 */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    chmod(path, 0666) || listen(fd, 128) || lstat(path, &st)) {
		err = -errno;
		close(fd);
		unlink(path);
		return err;
	}
	h.sock_dev = st.st_dev;
	h.sock_ino = st.st_ino;
	return fd;
}

/* ---- clients ---------------------------------------------------------- */

static void drop(struct client *c)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (h.clients[i] == c)
			h.clients[i] = NULL;
	epoll_ctl(h.epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->groups);
	free(c);
}

static void send_reply(int fd, const struct cmafs_handoff_reply *r, int bfd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)r, .iov_len = sizeof(*r) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (bfd >= 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		m.msg_control = u.buf;
		m.msg_controllen = sizeof(u.buf);
		cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &bfd, sizeof(int));
	}
	/* A client that does not read loses its reply, never our time. */
	(void)sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void refuse_connection(int fd, int err)
{
	struct cmafs_handoff_reply r = {
		.magic = CMAFS_HANDOFF_MAGIC, .version = CMAFS_HANDOFF_VERSION,
		.error = err,
	};

	send_reply(fd, &r, -1);
	close(fd);
}

static int peer_groups(struct client *c)
{
	socklen_t len = 64 * sizeof(gid_t);

	for (int tries = 0; tries < 2; tries++) {
		gid_t *g = realloc(c->groups, len ? len : sizeof(gid_t));

		if (!g)
			return -ENOMEM;
		c->groups = g;
		if (!getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, g, &len)) {
			c->ngroups = (int)(len / sizeof(gid_t));
			return 0;
		}
		if (errno != ERANGE)
			return -errno;
	}
	return -ERANGE;
}

static void accept_clients(void)
{
	for (;;) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		struct epoll_event ev = { .events = EPOLLIN };
		struct client *c;
		int fd, slot = -1, mine = 0;

		fd = accept4(h.listen_fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			/*
			 * The pending connection stays, and with it the
			 * event: listen again at the next tick, not in a
			 * busy loop.
			 */
			if (errno == EMFILE || errno == ENFILE) {
				log_err("descriptor hand-off: out of descriptors, not accepting connections for a second (%s)",
					strerror(errno));
				epoll_ctl(h.epfd, EPOLL_CTL_DEL, h.listen_fd, NULL);
				h.listen_paused = true;
			}
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
			close(fd);
			continue;
		}
		for (int i = 0; i < MAX_CLIENTS; i++) {
			if (!h.clients[i])
				slot = slot < 0 ? i : slot;
			else if (h.clients[i]->uid == cred.uid)
				mine++;
		}
		if (slot < 0 || (cred.uid != 0 && mine >= USER_CLIENTS)) {
			log_info("descriptor hand-off: too many connections (%d of uid %u, %d in all): refused with EAGAIN; a client should connect once and close when done",
				 mine, (unsigned int)cred.uid, MAX_CLIENTS);
			refuse_connection(fd, EAGAIN);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			refuse_connection(fd, ENOMEM);
			continue;
		}
		c->fd = fd;
		c->uid = cred.uid;
		c->gid = cred.gid;
		c->pid = cred.pid;
		c->last = now_s();
		ev.data.ptr = c;
		if (peer_groups(c) || epoll_ctl(h.epfd, EPOLL_CTL_ADD, fd, &ev)) {
			free(c->groups);
			free(c);
			refuse_connection(fd, ENOMEM);
			continue;
		}
		h.clients[slot] = c;
	}
}

/* ---- one request ------------------------------------------------------ */

/* As the kernel's generic_permission() for a regular file. */
static bool may_access(const struct fs *fs, const struct node *n,
		       const struct client *c, bool write)
{
	mode_t want = write ? 06 : 04, bits;

	/* Without allow_other FUSE lets no one but the mounting user in. */
	if (!fs->allow_other && c->uid != fs->owner)
		return false;
	if (c->uid == 0)
		return true;
	if (c->uid == n->uid) {
		bits = n->mode >> 6;
	} else {
		bool member = c->gid == n->gid;

		for (int i = 0; !member && i < c->ngroups; i++)
			member = c->groups[i] == n->gid;
		bits = member ? n->mode >> 3 : n->mode;
	}
	return (bits & want) == want;
}

static const char *why(int err, bool write_only)
{
	if (write_only)
		return "opened O_WRONLY: buffer descriptors are for reading, or reading and writing";
	switch (err) {
	case EPROTO:
		return "not a request (expected struct cmafs_handoff_req)";
	case EPROTONOSUPPORT:
		return "protocol version not spoken here (1 is)";
	case EMSGSIZE:
		return "request too long";
	case EBADF:
		return "an O_PATH descriptor: open the file for reading";
	case EXDEV:
		return "the descriptor is not a file of this mount";
	case EISDIR:
		return "a directory";
	case EACCES:
		return "its mode, owner and groups do not let this user open it so, as open(2) through the mount would say (without allow_other: no one but the mounting user)";
	case ENODATA:
		return "the file has no buffer yet (size it first)";
	case ENOENT:
		return "the file is gone";
	case EINVAL:
		return "expected exactly one descriptor of a regular file, op 1, flags and reserved 0";
	default:
		return strerror(err);
	}
}

/*
 * The mount's device number, from mountinfo: asking the kernel for our
 * own root's attributes would be a request to ourselves.
 */
static bool mount_dev(dev_t *dev)
{
	if (!h.have_dev && !mountpoint_dev(h.mountpoint, &h.dev))
		h.have_dev = true;
	*dev = h.dev;
	return h.have_dev;
}

/* Under no lock: the statx may be answered by our own request loop. */
static int name_file(int fd, bool *writable, fuse_ino_t *ino)
{
	struct statx sx;
	int fl = fcntl(fd, F_GETFL);
	dev_t dev;

	if (fl < 0)
		return EBADF;
	if (fl & O_PATH)
		return EBADF;
	if ((fl & O_ACCMODE) == O_WRONLY)
		return EACCES;
	*writable = (fl & O_ACCMODE) == O_RDWR;
	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC,
		  STATX_TYPE | STATX_INO, &sx))
		return errno;
	if (!mount_dev(&dev) ||
	    makedev(sx.stx_dev_major, sx.stx_dev_minor) != dev)
		return EXDEV;
	if (S_ISDIR(sx.stx_mode))
		return EISDIR;
	*ino = sx.stx_ino;
	return 0;
}

static int grant(const struct client *c, int fd,
		 struct cmafs_handoff_reply *r, int *bfd)
{
	struct fs *fs = h.fs;
	bool writable = false;
	fuse_ino_t ino = 0;
	struct node *n;
	int err = name_file(fd, &writable, &ino);

	if (err)
		return err;
	if (ino != ROOT_INO && ino < FIRST_NODE_INO)
		return EINVAL;		/* .stats, .buffers, .map */
	pthread_mutex_lock(&fs->lock);
	n = ns_node(fs, ino);
	if (!n)
		err = ENOENT;
	else if (S_ISDIR(n->mode))
		err = EISDIR;
	else if (!S_ISREG(n->mode))
		err = EINVAL;
	else if (!may_access(fs, n, c, writable))
		err = EACCES;
	else if (!n->file.has_buf)
		err = ENODATA;
	else if (!fs->be->ops->handout)
		err = EOPNOTSUPP;
	if (!err) {
		struct file_data *f = &n->file;
		bool addresses = addresses_visible(fs, c->uid, n);

		*bfd = fs->be->ops->handout(fs->be, &f->buf, writable,
					    addresses);
		if (*bfd < 0) {
			err = -*bfd;
			*bfd = -1;
		} else {
			f->handed = true;
			if (writable && !f->handed_rw) {
				f->handed_rw = true;
				fb_unmap(n);
			}
			r->flags = (writable ? CMAFS_HANDOFF_WRITABLE : 0) |
				   (fs->be->cmabuf_fds ? CMAFS_HANDOFF_CMABUF : 0);
			r->cache = f->buf.cache;
			r->size = f->size;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return err;
}

/* The descriptors of a message, whatever else is wrong with it. */
static int take_fds(struct msghdr *m, int *fds)
{
	int nfds = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm;
	     cm = CMSG_NXTHDR(m, cm)) {
		size_t k;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (nfds < MAX_FDS)
				fds[nfds++] = fd;
			else
				close(fd);
		}
	}
	return nfds;
}

static int check_request(const struct cmafs_handoff_req *q, ssize_t len,
			 const struct msghdr *m, int nfds)
{
	if (m->msg_flags & MSG_TRUNC)
		return EMSGSIZE;
	if ((size_t)len < sizeof(*q) || q->magic != CMAFS_HANDOFF_MAGIC)
		return EPROTO;
	if (q->version != CMAFS_HANDOFF_VERSION)
		return EPROTONOSUPPORT;
	if (q->op != CMAFS_HANDOFF_GET || q->flags || q->reserved ||
	    nfds != 1 || (m->msg_flags & MSG_CTRUNC))
		return EINVAL;
	return 0;
}

/* false: the client is gone or was dropped. */
static bool serve(struct client *c)
{
	union {
		char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct cmafs_handoff_req q;
	char data[sizeof(q) + 1];
	struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmafs_handoff_reply r = {
		.magic = CMAFS_HANDOFF_MAGIC, .version = CMAFS_HANDOFF_VERSION,
	};
	int fds[MAX_FDS], nfds, bfd = -1, err, fl = 0;
	ssize_t len = recvmsg(c->fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	if (len < 0)
		return errno == EAGAIN || errno == EINTR;
	fds[0] = -1;
	nfds = take_fds(&m, fds);
	if (len == 0 && !nfds)
		return false;		/* closed */
	c->last = now_s();
	memset(&q, 0, sizeof(q));
	memcpy(&q, data, (size_t)len < sizeof(q) ? (size_t)len : sizeof(q));
	r.op = q.op;
	err = check_request(&q, len, &m, nfds);
	if (!err) {
		fl = fcntl(fds[0], F_GETFL);
		err = grant(c, fds[0], &r, &bfd);
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (err) {
		r.error = err;
		log_info("descriptor hand-off refused to uid %u (pid %d): %s: %s",
			 (unsigned int)c->uid, (int)c->pid, strerror(err),
			 why(err, err == EACCES && fl >= 0 &&
				  !(fl & O_PATH) &&
				  (fl & O_ACCMODE) == O_WRONLY));
	}
	send_reply(c->fd, &r, bfd);
	if (bfd >= 0)
		close(bfd);
	return true;
}

/* ---- the thread ------------------------------------------------------- */

static int add(int fd, void *tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };

	return epoll_ctl(h.epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void tick(void)
{
	time_t t = now_s();

	if (h.listen_paused && !add(h.listen_fd, &listen_tag))
		h.listen_paused = false;
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = h.clients[i];

		if (c && t - c->last > IDLE_SECONDS)
			drop(c);
	}
	pthread_mutex_lock(&h.fs->lock);
	if (h.fs->nheld)
		held_check(h.fs);
	pthread_mutex_unlock(&h.fs->lock);
}

static void *loop(void *arg)
{
	time_t last_tick = now_s();

	(void)arg;
	for (;;) {
		struct epoll_event ev[16];
		int n = epoll_wait(h.epfd, ev, 16, 1000);

		for (int i = 0; i < n; i++) {
			void *p = ev[i].data.ptr;

			if (p == &wake_tag)
				return NULL;
			if (p == &listen_tag)
				accept_clients();
			else if ((ev[i].events & EPOLLIN) ? !serve(p) :
				 (ev[i].events & (EPOLLHUP | EPOLLERR)) != 0)
				drop(p);
		}
		if (now_s() != last_tick) {
			last_tick = now_s();
			tick();
		}
	}
}

int handoff_start(struct fs *fs, const char *mountpoint, const char *opt)
{
	bool explicit = opt && strcmp(opt, "auto");
	int fd;

	if (opt && !strcmp(opt, "none"))
		return 0;
	h.fs = fs;
	if (explicit)
		snprintf(h.path, sizeof(h.path), "%s", opt);
	else if (auto_path(mountpoint, h.path, sizeof(h.path)))
		return 0;
	h.mountpoint = strdup(mountpoint);
	fd = h.mountpoint ? make_socket(h.path) : -ENOMEM;
	if (fd < 0) {
		log_err("cannot serve the descriptor hand-off on %s: %s%s",
			h.path, strerror(-fd),
			fd == -EADDRINUSE ? " (another daemon answers there)" :
			fd == -EEXIST ? " (something that is not a socket is there)" : "");
		free(h.mountpoint);
		h.mountpoint = NULL;
		return explicit ? -1 : 0;
	}
	h.listen_fd = fd;
	h.epfd = epoll_create1(EPOLL_CLOEXEC);
	h.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h.epfd < 0 || h.wake_fd < 0 || add(h.listen_fd, &listen_tag) ||
	    add(h.wake_fd, &wake_tag) ||
	    pthread_create(&h.thread, NULL, loop, NULL)) {
		log_err("cannot start the descriptor hand-off thread: %s",
			strerror(errno));
		handoff_stop();
		return explicit ? -1 : 0;
	}
	h.running = true;
	log_debug("descriptor hand-off on %s", h.path);
	return 0;
}

void handoff_stop(void)
{
	struct stat st;

	if (h.running) {
		uint64_t one = 1;

		if (write(h.wake_fd, &one, sizeof(one)) == sizeof(one))
			pthread_join(h.thread, NULL);
		h.running = false;
	}
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (h.clients[i])
			drop(h.clients[i]);
	if (h.listen_fd >= 0) {
		/* Only the socket we made: another daemon may have taken over. */
		if (!lstat(h.path, &st) && st.st_dev == h.sock_dev &&
		    st.st_ino == h.sock_ino)
			unlink(h.path);
		close(h.listen_fd);
		h.listen_fd = -1;
	}
	if (h.wake_fd >= 0)
		close(h.wake_fd);
	if (h.epfd >= 0)
		close(h.epfd);
	h.wake_fd = h.epfd = -1;
	free(h.mountpoint);
	h.mountpoint = NULL;
}
