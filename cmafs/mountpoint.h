/* SPDX-License-Identifier: MIT */
/*
 * mountpoint - what is at the mount point before we mount there: refuse
 * what would leave a broken or doubled mount, and say how to fix it.
 */
#ifndef CMAFS_MOUNTPOINT_H
#define CMAFS_MOUNTPOINT_H

#include <sys/types.h>

/* 0: mount there (after a warning for a non-empty directory); -1: a line
 * saying why not has been logged. */
int mountpoint_check(const char *path);

/* The device number of the cmafs mount on @path: 0, or -1 if none. */
int mountpoint_dev(const char *path, dev_t *dev);

#endif /* CMAFS_MOUNTPOINT_H */
