/* SPDX-License-Identifier: MIT */
/*
 * views - the read-only files at the root that are views of the mount, not
 * nodes: /.stats (the pool's counters), /.buffers (every buffer) and /.map
 * (the pool in address order).  Each open renders one snapshot under
 * fs.lock, for the reader it is opened by: addresses only for root and
 * each buffer's owner.
 */
#ifndef CMAFS_VIEWS_H
#define CMAFS_VIEWS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "fs.h"

/* The view called @name in directory @parent, or 0. */
fuse_ino_t view_lookup(fuse_ino_t parent, const char *name);
static inline bool view_ino(fuse_ino_t ino)
{
	return ino >= STATS_INO && ino < FIRST_NODE_INO;
}
const char *view_name(fuse_ino_t ino);
void view_fill_stat(struct fs *fs, fuse_ino_t ino, struct stat *st);
/* With fs.lock held: the text of view @ino for @reader, malloc'ed. */
char *view_render(struct fs *fs, fuse_ino_t ino, uid_t reader, size_t *len);

#endif /* CMAFS_VIEWS_H */
