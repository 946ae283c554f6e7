// SPDX-License-Identifier: MIT
/*
 * probe - is a descriptor a buffer file of a cmafs mount, and how does the
 * mount map it?  Asked of the file itself (its file system type and its
 * user.cma.* attributes), so that a wrong descriptor fails before any
 * round trip to the daemon.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>

#include "cmafs.h"
#include "internal.h"

static int fail(int err)
{
	errno = err;
	return -1;
}

/* ENODATA and EOPNOTSUPP both mean "no such attribute here". */
static int has_xattr(int fd, const char *name)
{
	char c[256];

	return fgetxattr(fd, name, c, sizeof(c)) >= 0 || errno == ERANGE;
}

int lc_why_not(int fd)
{
	bool mmap_attr = has_xattr(fd, "user.cma.mmap");
	bool socket_attr = has_xattr(fd, CMAFS_SOCKET_XATTR);

	if (mmap_attr && !socket_attr)
		return fail(EOPNOTSUPP);
	return fail(socket_attr ? EINVAL : EXDEV);
}

int lc_check(int fd, int *flags, struct stat *st)
{
	struct statfs sfs;

	*flags = fcntl(fd, F_GETFL);
	if (*flags < 0 || fstat(fd, st))
		return -1;
	/* O_PATH opens nothing: the daemon refuses it too. */
	if (*flags & O_PATH)
		return fail(EBADF);
	/* Refused here without a round trip, with the daemon's answer. */
	if (S_ISDIR(st->st_mode))
		return fail(EISDIR);
	/*
	 * Only a FUSE file is asked about its buffer: a user.cma.socket
	 * attribute anyone may set on a file of tmpfs or ext4 must not send
	 * the caller's descriptor to a stranger's socket.
	 */
	if (!S_ISREG(st->st_mode) || fstatfs(fd, &sfs) ||
	    sfs.f_type != FUSE_SUPER_MAGIC)
		return fail(EXDEV);
	return 0;
}

int lc_probe(int fd, struct lc_file *f)
{
	struct stat st;
	char mode[16];
	ssize_t n;
	int fl;

	if (lc_check(fd, &fl, &st))
		return -1;
	n = fgetxattr(fd, "user.cma.mmap", mode, sizeof(mode) - 1);
	if (n < 0) {
		if (errno != ENODATA && errno != EOPNOTSUPP)
			return -1;
		return lc_why_not(fd);
	}
	mode[n] = '\0';
	f->size = st.st_size;
	f->accmode = fl & O_ACCMODE;
	f->direct = !strcmp(mode, "direct");
	return 0;
}

int lc_cache_mode(int fd)
{
	static const char *const names[] = {
		[CMAFS_CACHE_UNCACHED] = "uncached",
		[CMAFS_CACHE_CACHED] = "cached",
		[CMAFS_CACHE_WRITECOMBINE] = "writecombine",
	};
	char v[32];
	ssize_t n = fgetxattr(fd, "user.cma.cache", v, sizeof(v) - 1);

	if (n < 0)
		return -1;
	v[n] = '\0';
	for (int i = 0; i < (int)(sizeof(names) / sizeof(*names)); i++)
		if (!strcmp(v, names[i]))
			return i;
	return fail(EPROTO);
}
