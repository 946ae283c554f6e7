/* SPDX-License-Identifier: MIT */
/* internal.h - what the files of libcmafs share; nothing here is exported. */
#ifndef LIBCMAFS_INTERNAL_H
#define LIBCMAFS_INTERNAL_H

#include <stdbool.h>
#include <sys/types.h>

/* -fvisibility=hidden hides everything else; lib/libcmafs.map names these
 * too, with the version node future changes are made against. */
#define LC_EXPORT __attribute__((visibility("default")))

/* What a descriptor is, as far as mapping it goes. */
struct lc_file {
	off_t size;		/* st_size */
	int accmode;		/* O_RDONLY, O_WRONLY or O_RDWR */
	bool direct;		/* user.cma.mmap is "direct" */
};

/* 0, or -1 with errno: EISDIR, EXDEV (not cmafs), EINVAL (a view such
 * as .stats), EBADF (O_PATH or closed). */
int lc_probe(int fd, struct lc_file *f);

/* -1 with errno saying why a regular file lacks user.cma.mmap or
 * CMAFS_SOCKET_XATTR: EXDEV (not a cmafs file), EINVAL (a view such as
 * .stats), EOPNOTSUPP (a daemon without the hand-off). */
int lc_why_not(int fd);

/* CMAFS_CACHE_* of a cache mode's name (user.cma.cache); -1 unknown. */
int lc_cache_mode(int fd);

#endif
