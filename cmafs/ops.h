/* SPDX-License-Identifier: MIT */
/* ops - pieces shared by the request handlers in ops_*.c. */
#ifndef CMAFS_OPS_H
#define CMAFS_OPS_H

#include "fs.h"

/*
 * What fi->fh points at.  The kernel sends requests on any descriptor to
 * any handler (an ioctl on a directory reaches the file ioctl handler), so
 * every handler takes its handle through handle_get(), which checks the
 * kind; no handler casts fi->fh itself.
 */
enum handle_kind {
	HANDLE_FILE = 0x46494c45,	/* a regular file: node */
	HANDLE_STATS,			/* /.stats: stats, stats_len */
	HANDLE_DIR,			/* a directory: node and the cursor */
};

struct handle {
	struct opened link;	/* first: freed at exit if never released */
	enum handle_kind kind;
	bool writable;		/* opened for writing (O_WRONLY, O_RDWR) */
	uid_t uid;		/* of the opener */
	struct node *node;	/* the file or the directory */
	char *stats;		/* /.stats: the snapshot taken at open */
	size_t stats_len;
	/* readdir: where the last reply stopped, valid while no name left */
	struct dentry *next;
	uint64_t next_off;
	uint64_t stamp;		/* the directory's detaches then */
	bool cursor;
};

/* Allocate a handle of @kind and track it; with fs.lock held. */
struct handle *handle_new(struct fs *fs, enum handle_kind kind);
void handle_free(struct opened *o);
/* fi's handle if it is of @kind, else NULL (the caller replies an error). */
struct handle *handle_get(const struct fuse_file_info *fi,
			  enum handle_kind kind);

void ops_node_init(struct fuse_lowlevel_ops *ops);
void ops_file_init(struct fuse_lowlevel_ops *ops);
void ops_xattr_init(struct fuse_lowlevel_ops *ops);

/*
 * fuse_reply_err() that first logs one line naming the file (@ino, or @name
 * in directory @ino), the operation and the reason.  Call without fs.lock.
 */
void reply_refusal(fuse_req_t req, fuse_ino_t ino, const char *name,
		   const char *op, int err);
/* The same, saying what would have been accepted. */
void reply_refusal_hint(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *op, int err, const char *hint);

void fill_entry(struct fs *fs, struct node *n, struct fuse_entry_param *e);
int check_new_name(struct fs *fs, struct node *dir, fuse_ino_t parent,
		   const char *name);
/* A new node for @dir, owned and charged as the caller's; NULL: see @err. */
struct node *new_child(struct fs *fs, fuse_req_t req, struct node *dir,
		       mode_t mode, int *err, struct quota_miss *miss);
/*
 * Reply @err to a request that a limit refused: one log line naming the
 * file, the operation, the user and the limit.  Without fs.lock.
 */
void reply_over_limit(fuse_req_t req, fuse_ino_t ino, const char *name,
		      const char *op, int err, const struct quota_miss *m);

#endif /* CMAFS_OPS_H */
