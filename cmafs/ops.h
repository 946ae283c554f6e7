/* SPDX-License-Identifier: MIT */
/* ops - pieces shared by the request handlers in ops_*.c. */
#ifndef CMAFS_OPS_H
#define CMAFS_OPS_H

#include "fs.h"

/* What an open file handle (fi->fh) points at. */
struct handle {
	struct opened link;	/* first: freed at exit if never released */
	struct node *node;	/* NULL for /.stats */
	char *stats;		/* /.stats: the snapshot taken at open */
	size_t stats_len;
};

/* Allocate a handle and track it; with fs.lock held. */
struct handle *handle_new(struct fs *fs);
void handle_free(struct opened *o);

void ops_node_init(struct fuse_lowlevel_ops *ops);
void ops_file_init(struct fuse_lowlevel_ops *ops);
void ops_xattr_init(struct fuse_lowlevel_ops *ops);

/*
 * fuse_reply_err() that first logs one line naming the file (@ino, or @name
 * in directory @ino), the operation and the reason.  Call without fs.lock.
 */
void reply_refusal(fuse_req_t req, fuse_ino_t ino, const char *name,
		   const char *op, int err);

void fill_entry(struct fs *fs, struct node *n, struct fuse_entry_param *e);
void stats_fill_stat(struct fs *fs, struct stat *st);
int check_new_name(struct fs *fs, struct node *dir, fuse_ino_t parent,
		   const char *name);
struct node *new_child(struct fs *fs, fuse_req_t req, struct node *dir,
		       mode_t mode);

/* The user.cma.* operations, shared by xattrs and ioctls. */
bool may_see_addresses(fuse_req_t req, const struct node *n);
int cma_set_cache(struct fs *fs, fuse_ino_t ino, unsigned int cache);
int cma_set_align(struct fs *fs, fuse_ino_t ino, uint64_t align);
int cma_sync(struct fs *fs, fuse_ino_t ino, uint64_t off, uint64_t len,
	     unsigned int direction);
/* mmap maps the buffer itself (passthrough is in effect). */
bool mmap_direct(void);

#endif /* CMAFS_OPS_H */
