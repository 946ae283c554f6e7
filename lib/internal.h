/* SPDX-License-Identifier: MIT */
/* internal.h - what the files of libcmafs share; nothing here is exported. */
#ifndef LIBCMAFS_INTERNAL_H
#define LIBCMAFS_INTERNAL_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

struct cmafs_handoff_reply;

/* -fvisibility=hidden hides everything else; lib/libcmafs.map names these
 * too, with the version node future changes are made against. */
#define LC_EXPORT __attribute__((visibility("default")))

/* What a descriptor is, as far as mapping it goes. */
struct lc_file {
	off_t size;		/* st_size */
	int accmode;		/* O_RDONLY, O_WRONLY or O_RDWR */
	bool direct;		/* user.cma.mmap is "direct" */
};

/*
 * Could @fd be a buffer file of a cmafs mount?  Asks nothing but the
 * kernel (fcntl, fstat, fstatfs).  0, with its F_GETFL flags and stat, or
 * -1 with errno: EBADF (O_PATH or closed), EISDIR, EXDEV (not a regular
 * file of a FUSE mount).
 */
int lc_check(int fd, int *flags, struct stat *st);

/* lc_check(), then how the mount maps it: 0, or -1 with lc_check()'s
 * errno or EINVAL (a view such as .stats). */
int lc_probe(int fd, struct lc_file *f);

/* The hand-off for a descriptor lc_check() passed, opened @accmode. */
int lc_handoff(int fd, int accmode, struct cmafs_handoff_reply *reply);

/* -1 with errno saying why a regular file lacks user.cma.mmap or
 * CMAFS_SOCKET_XATTR: EXDEV (not a cmafs file), EINVAL (a view such as
 * .stats), EOPNOTSUPP (a daemon without the hand-off). */
int lc_why_not(int fd);

/* CMAFS_CACHE_* of a cache mode's name (user.cma.cache); -1 unknown. */
int lc_cache_mode(int fd);

#endif
