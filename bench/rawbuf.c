// SPDX-License-Identifier: MIT
/*
 * rawbuf - the kernel helper's own descriptor, without cmafs: the baseline
 * of the hand-off figures (bench/handoff, tests/vm/vm-bench).  Needs
 * /dev/cmabuf (cmabuf.ko).
 *
 *   rawbuf sweep SIZE CACHE    CMABUF_IOC_ALLOC of SIZE (CACHE: uncached,
 *       cached or writecombine), then bench/handoff_sweep's two sweeps on
 *       mappings of that descriptor: the write (first touch, faults
 *       included) closed by CMABUF_IOC_SYNC for the device, the read on a
 *       fresh mapping.  Prints "WRITE_GBPS READ_GBPS".
 *   rawbuf sync SIZE N         a cached buffer of SIZE from ALLOC: N times
 *       one store, then CMABUF_IOC_SYNC (device) of the whole buffer,
 *       timed.  Prints "MEDIAN_US P99_US".
 *   rawbuf alloc FILE SIZE N   N samples of each, interleaved sample by
 *       sample, in microseconds, one "MEDIAN P99" line each:
 *         1. truncate(FILE, SIZE) on a file of a cmafs mount (an empty
 *            file: a fresh allocation through the daemon)
 *         2. truncate(FILE, 0) (the daemon frees it)
 *         3. CMABUF_IOC_ALLOC of SIZE, uncached, CLOEXEC
 *         4. close of that descriptor (the helper frees it)
 *         5. CMABUF_IOC_ALLOC with the flags the daemon uses (FILE,
 *            NOWAIT where the module knows it, CLOEXEC)
 *         6. close of that one
 *         7. truncate(FILE, SIZE) again, the file being SIZE already
 *            (what a truncate costs through the daemon without allocating)
 *         8. getxattr(FILE, "security.capability"): the round trip the
 *            kernel makes before each truncate (the killpriv check: FUSE
 *            inodes are never S_NOSEC), answered ENODATA
 *   rawbuf rawalloc SIZE N     the helper alone (no mount): N samples
 *       each, interleaved, "MEDIAN P99" (microseconds) per line:
 *         1. CMABUF_IOC_ALLOC of SIZE, uncached, CLOEXEC, + close
 *         2. the same with FILE and NOWAIT (where the module knows it),
 *            as the daemon allocates, + close
 *       (vm-bench runs it under the module built before issue 14 and
 *       under this one, in the same guest: the allocation path's cost
 *       before and after.)
 *   rawbuf parts FILE N        where cmafs_map's time goes without
 *       passthrough, for FILE (with a buffer) of a cmafs mount, N samples
 *       each, interleaved, "MEDIAN P99" (microseconds) per line:
 *         1. cmafs_buffer_fd + close (the whole hand-off, for reference)
 *         2. fgetxattr user.cma.socket (the library's first step: one
 *            FUSE round trip)
 *         3. the socket conversation alone: socket, connect, the request
 *            with the descriptor, the reply with the buffer's, close both
 *         4. CMABUF_IOC_DUP + close on the handed-out descriptor (the
 *            kernel work the daemon does for 3)
 *         5. cmafs_map's probe: fcntl, fstat, fstatfs, fgetxattr
 *            user.cma.mmap (one more round trip)
 *         6. fstatfs alone (a STATFS round trip; cmafs_handoff makes one
 *            too)
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cmabuf.h"
#include "common.h"
#include "libcmafs.h"

static int dev = -1;

static unsigned int cache_of(const char *s)
{
	if (!strcmp(s, "uncached"))
		return CMABUF_CACHE_UNCACHED;
	if (!strcmp(s, "cached"))
		return CMABUF_CACHE_CACHED;
	if (!strcmp(s, "writecombine"))
		return CMABUF_CACHE_WRITECOMBINE;
	die("rawbuf: bad cache mode %s", s);
}

static int alloc(uint64_t size, unsigned int cache, unsigned int flags)
{
	struct cmabuf_alloc a = { .size = size, .cache = cache,
				  .flags = flags | CMABUF_ALLOC_CLOEXEC };

	if (ioctl(dev, CMABUF_IOC_ALLOC, &a))
		die("CMABUF_IOC_ALLOC %llu: %s", (unsigned long long)size,
		    strerror(errno));
	return a.fd;
}

static void sync_dev(int fd)
{
	struct cmabuf_sync s = { .direction = CMABUF_SYNC_DEVICE };

	if (ioctl(fd, CMABUF_IOC_SYNC, &s))
		die("CMABUF_IOC_SYNC: %s", strerror(errno));
}

static void *map(int fd, size_t size, int prot)
{
	void *p = mmap(NULL, size, prot, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	return p;
}

static int sweep(uint64_t size, unsigned int cache)
{
	size_t i, n = size / sizeof(uint64_t);
	volatile uint64_t sink;
	uint64_t *p, sum = 0;
	double t0, tw, tr;
	int fd = alloc(size, cache, 0);

	p = map(fd, size, PROT_READ | PROT_WRITE);
	t0 = now_s();
	for (i = 0; i < n; i++)
		p[i] = i;
	sync_dev(fd);
	tw = now_s() - t0;
	munmap(p, size);

	p = map(fd, size, PROT_READ);
	t0 = now_s();
	for (i = 0; i < n; i++)
		sum += p[i];
	tr = now_s() - t0;
	sink = sum;
	(void)sink;
	munmap(p, size);
	close(fd);
	if (sum != (uint64_t)n * (n - 1) / 2)
		die("rawbuf sweep: read back wrong data");
	printf("%.3f %.3f\n", size / tw / 1e9, size / tr / 1e9);
	return 0;
}

static int sync_lat(uint64_t size, size_t n)
{
	int fd = alloc(size, CMABUF_CACHE_CACHED, 0);
	volatile char *p = map(fd, size, PROT_READ | PROT_WRITE);
	double *lat = calloc(n ? n : 1, sizeof(double));
	size_t i;

	if (!lat || !n)
		die("rawbuf sync: N must be >= 1 (or out of memory)");
	for (i = 0; i < n; i++) {
		double t0;

		p[i % size] = (char)i;
		t0 = now_s();
		sync_dev(fd);
		lat[i] = now_s() - t0;
	}
	report(lat, n);
	munmap((void *)p, size);
	close(fd);
	return 0;
}

/* The flags cmafs allocates with: FILE, and NOWAIT where the module knows it. */
static unsigned int daemon_flags(void)
{
	struct cmabuf_version v;

	if (ioctl(dev, CMABUF_IOC_VERSION, &v))
		die("CMABUF_IOC_VERSION: %s", strerror(errno));
	return CMABUF_ALLOC_FILE |
	       (v.alloc_flags & CMABUF_ALLOC_NOWAIT ? CMABUF_ALLOC_NOWAIT : 0);
}

static int alloc_lat(const char *file, uint64_t size, size_t n)
{
	unsigned int dflags = daemon_flags();
	double *lat[8];
	char cap[64];
	size_t i;
	int k, fd;

	for (k = 0; k < 8; k++)
		if (!n || !(lat[k] = calloc(n, sizeof(double))))
			die("rawbuf alloc: N must be >= 1 (or out of memory)");
	fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("open %s: %s", file, strerror(errno));
	close(fd);
	for (i = 0; i < n; i++) {
		double t0 = now_s();

		if (truncate(file, (off_t)size))
			die("truncate %s: %s", file, strerror(errno));
		lat[0][i] = now_s() - t0;
		t0 = now_s();
		if (truncate(file, (off_t)size))
			die("truncate %s again: %s", file, strerror(errno));
		lat[6][i] = now_s() - t0;
		t0 = now_s();
		if (getxattr(file, "security.capability", cap, sizeof(cap)) >= 0 ||
		    (errno != ENODATA && errno != EOPNOTSUPP))
			die("getxattr security.capability %s: %s", file,
			    strerror(errno));
		lat[7][i] = now_s() - t0;
		t0 = now_s();
		if (truncate(file, 0))
			die("truncate %s 0: %s", file, strerror(errno));
		lat[1][i] = now_s() - t0;

		for (k = 0; k < 2; k++) {
			t0 = now_s();
			fd = alloc(size, CMABUF_CACHE_UNCACHED, k ? dflags : 0);
			lat[2 + 2 * k][i] = now_s() - t0;
			t0 = now_s();
			close(fd);
			lat[3 + 2 * k][i] = now_s() - t0;
		}
	}
	for (k = 0; k < 8; k++)
		report(lat[k], n);
	return 0;
}

static int rawalloc_lat(uint64_t size, size_t n)
{
	unsigned int dflags = daemon_flags();
	double *lat[2];
	size_t i;
	int k, fd;

	for (k = 0; k < 2; k++)
		if (!n || !(lat[k] = calloc(n, sizeof(double))))
			die("rawbuf rawalloc: N must be >= 1 (or out of memory)");
	for (i = 0; i < n; i++)
		for (k = 0; k < 2; k++) {
			double t0 = now_s();

			fd = alloc(size, CMABUF_CACHE_UNCACHED, k ? dflags : 0);
			close(fd);
			lat[k][i] = now_s() - t0;
		}
	for (k = 0; k < 2; k++)
		report(lat[k], n);
	return 0;
}

/* The hand-off's request and reply on a connected socket (lib/handoff.c
 * without its checks): the buffer's descriptor. */
static int converse(const struct sockaddr_un *sa, socklen_t len, int fd)
{
	struct cmafs_handoff_req req = {
		.magic = CMAFS_HANDOFF_MAGIC,
		.version = CMAFS_HANDOFF_VERSION,
		.op = CMAFS_HANDOFF_GET,
	};
	struct cmafs_handoff_reply rep;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = &req, .iov_len = sizeof(req) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *c;
	int sock, bfd = -1;

	sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sock < 0 || connect(sock, (const struct sockaddr *)sa, len))
		die("connect %s: %s", sa->sun_path, strerror(errno));
	memset(&ctl, 0, sizeof(ctl));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(sock, &msg, MSG_NOSIGNAL) != (ssize_t)sizeof(req))
		die("sendmsg: %s", strerror(errno));
	iov.iov_base = &rep;
	iov.iov_len = sizeof(rep);
	msg.msg_controllen = sizeof(ctl.buf);
	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != (ssize_t)sizeof(rep) ||
	    rep.error)
		die("the hand-off's reply: %s", strerror(rep.error ? rep.error : errno));
	c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_type == SCM_RIGHTS)
		memcpy(&bfd, CMSG_DATA(c), sizeof(int));
	close(sock);
	if (bfd < 0)
		die("the hand-off's reply has no descriptor");
	return bfd;
}

static int parts(const char *file, size_t n)
{
	struct cmabuf_dup d = { .flags = CMABUF_DUP_CLOEXEC };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char v[256];
	double *lat[6];
	socklen_t len;
	ssize_t sl;
	size_t i;
	int k, fd, bfd;

	for (k = 0; k < 6; k++)
		if (!n || !(lat[k] = calloc(n, sizeof(double))))
			die("rawbuf parts: N must be >= 1 (or out of memory)");
	fd = open(file, O_RDWR);
	if (fd < 0)
		die("open %s: %s", file, strerror(errno));
	sl = fgetxattr(fd, CMAFS_SOCKET_XATTR, sa.sun_path, sizeof(sa.sun_path) - 1);
	if (sl <= 0 || sa.sun_path[0] == '@')
		die("%s: no socket path in %s", file, CMAFS_SOCKET_XATTR);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)sl + 1);
	for (i = 0; i < n; i++) {
		struct statfs sfs;
		struct stat st;
		double t0 = now_s();

		bfd = cmafs_buffer_fd(fd);
		if (bfd < 0)
			die("cmafs_buffer_fd %s: %s", file, strerror(errno));
		close(bfd);
		lat[0][i] = now_s() - t0;

		t0 = now_s();
		if (fgetxattr(fd, CMAFS_SOCKET_XATTR, v, sizeof(v)) < 0)
			die("fgetxattr: %s", strerror(errno));
		lat[1][i] = now_s() - t0;

		t0 = now_s();
		bfd = converse(&sa, len, fd);
		close(bfd);
		lat[2][i] = now_s() - t0;

		bfd = converse(&sa, len, fd);
		t0 = now_s();
		if (ioctl(bfd, CMABUF_IOC_DUP, &d))
			die("CMABUF_IOC_DUP: %s", strerror(errno));
		close(d.fd);
		lat[3][i] = now_s() - t0;
		close(bfd);

		t0 = now_s();
		if (fcntl(fd, F_GETFL) < 0 || fstat(fd, &st) || fstatfs(fd, &sfs) ||
		    fgetxattr(fd, "user.cma.mmap", v, sizeof(v)) < 0)
			die("probe: %s", strerror(errno));
		lat[4][i] = now_s() - t0;

		t0 = now_s();
		if (fstatfs(fd, &sfs))
			die("fstatfs: %s", strerror(errno));
		lat[5][i] = now_s() - t0;
	}
	for (k = 0; k < 6; k++)
		report(lat[k], n);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		goto usage;
	dev = open(CMABUF_DEVICE, O_RDWR | O_CLOEXEC);
	if (dev < 0)
		die("open %s: %s", CMABUF_DEVICE, strerror(errno));
	if (!strcmp(argv[1], "sweep") && argc == 4)
		return sweep(parse_size(argv[2]), cache_of(argv[3]));
	if (!strcmp(argv[1], "sync") && argc == 4)
		return sync_lat(parse_size(argv[2]), (size_t)parse_size(argv[3]));
	if (!strcmp(argv[1], "alloc") && argc == 5)
		return alloc_lat(argv[2], parse_size(argv[3]),
				 (size_t)parse_size(argv[4]));
	if (!strcmp(argv[1], "rawalloc") && argc == 4)
		return rawalloc_lat(parse_size(argv[2]),
				    (size_t)parse_size(argv[3]));
	if (!strcmp(argv[1], "parts") && argc == 4)
		return parts(argv[2], (size_t)parse_size(argv[3]));
usage:
	die("usage: rawbuf sweep SIZE CACHE | sync SIZE N | alloc FILE SIZE N | rawalloc SIZE N | parts FILE N");
}
