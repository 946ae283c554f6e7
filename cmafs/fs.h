/* SPDX-License-Identifier: MIT */
/*
 * fs - the state of one mount: inodes, names, buffers and counters.
 *
 * One mutex (fs.lock) guards all of it.  Requests are short and the data
 * path bypasses the daemon under passthrough, so a single lock costs little
 * and keeps resize, unlink and I/O trivially consistent.  The lock is never
 * held across a call that waits for the kernel to send us a request
 * (fuse_lowlevel_notify_*), which would deadlock.
 */
#ifndef CMAFS_FS_H
#define CMAFS_FS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include <fuse_lowlevel.h>

#include "backend.h"
#include "parse.h"
#include "quota.h"

#define ROOT_INO  FUSE_ROOT_ID
/* The views at the root (views.c): files, but not nodes. */
#define STATS_INO 2
#define BUFFERS_INO 3
#define MAP_INO 4
#define FIRST_NODE_INO 5
#define STATS_NAME ".stats"
#define BUFFERS_NAME ".buffers"
#define MAP_NAME ".map"
#define XATTR_MAX_TOTAL (64 * 1024)	/* names + values per file */
/* Each open of /.stats keeps a snapshot: bounded like other metadata. */
#define STATS_OPEN_MAX 4096
#define STATS_OPEN_USER 64

struct xattr {
	struct xattr *next;
	char *name;
	size_t size;
	uid_t uid;			/* charged for it */
	char value[];
};

struct node;

struct dentry {
	struct dentry *hnext;		/* hash chain */
	struct dentry *prev, *next;	/* siblings, in creation order */
	struct node *parent;
	struct node *node;
	uint64_t seq;			/* readdir offset, rising in the list */
	bool charged;			/* an extra hard link, charged to uid */
	uid_t uid;
	char name[];
};

struct file_data {
	uint64_t size;			/* st_size */
	bool has_file;			/* buf.fd is open */
	bool has_buf;			/* ... and holds memory */
	struct buffer buf;
	uint64_t align;			/* for the next allocation */
	unsigned int cache;		/* mode of the next allocation */
	int backing_id;			/* passthrough registration, 0 = none */
	bool backed;			/* buf.fd was ever a backing file */
	struct timespec seen_mtime, seen_ctime;	/* buf.fd's, last looked at */
	void *map;			/* daemon's view, for serving reads */
	uint64_t map_len;
	/*
	 * Handed out (handoff.c): someone else may hold the buffer beyond
	 * the file's life (held.c), and, if writable, change its file's
	 * size behind our back (fb_refresh follows, fb_map stays away).
	 */
	bool handed, handed_rw;
	bool held;			/* in fs.held: outlives its file */
};

struct node {
	fuse_ino_t ino;
	uint64_t generation;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	dev_t rdev;
	nlink_t nlink;
	uint64_t nlookup;		/* kernel's references (FORGET) */
	uint32_t opens;			/* open handles */
	bool charged;			/* an inode of charged_uid's */
	uid_t charged_uid;
	struct dentry *link;		/* its latest name, for log lines */
	struct timespec atime, mtime, ctime;
	struct xattr *xattrs;
	size_t xattr_bytes;
	union {
		struct {
			struct dentry *head, *tail;
			uint64_t entries;
			uint64_t next_seq;	/* of the next entry */
			uint64_t detaches;	/* readdir hints older are stale */
		} dir;
		char *symlink;
		struct file_data file;
	};
};

/*
 * Everything an open (file or directory) allocates starts with this, so
 * that what the kernel never released (we were stopped) is freed at exit.
 */
struct opened {
	struct opened *prev, *next;
	void (*free)(struct opened *o);
};

struct counters {
	uint64_t allocs, frees, resizes, alloc_failures;
	uint64_t buffers, orphan_buffers, files;
};

struct fs {
	pthread_mutex_t lock;
	struct backend *be;
	struct fuse_session *se;
	uint64_t page_size;

	/* inode table: nodes[ino], free slots chained through free_inos */
	struct node **nodes;
	fuse_ino_t nodes_cap;
	fuse_ino_t *free_inos;
	fuse_ino_t free_count;
	fuse_ino_t next_ino;
	uint64_t generation;

	/* name hash: (parent, name) -> dentry */
	struct dentry **htab;
	uint64_t hcap, hcount;

	unsigned int default_cache;
	uint64_t default_align;
	uid_t owner;
	gid_t group;
	/*
	 * One descriptor per buffer, and per empty file while it is open
	 * (a passthrough backing).  Non-root owners stop 1/16 short.
	 */
	uint64_t buffer_fds, max_buffer_fds;
	struct timespec stats_time;
	struct counters ct;
	struct quota quota;
	struct opened open_list;	/* circular; fs.lock */
	/* Dead files whose buffer a handed-out descriptor holds (held.c). */
	fuse_ino_t *held;
	size_t nheld, held_cap;
	bool allow_other;		/* -o allow_other: others may use it */
	enum addr_policy addresses;	/* -o addresses= */
};

/* namespace.c */
int ns_init(struct fs *fs, mode_t root_mode);
void ns_destroy(struct fs *fs);
struct node *ns_node(struct fs *fs, fuse_ino_t ino);
struct dentry *ns_lookup(struct fs *fs, struct node *dir, const char *name);
struct node *ns_new_node(struct fs *fs, mode_t mode, uid_t uid, gid_t gid);
/* @charge: an extra hard link, one inode of that uid's; NULL: none. */
int ns_link(struct fs *fs, struct node *dir, const char *name,
	    struct node *node, const uid_t *charge);
void ns_unlink(struct fs *fs, struct dentry *d);
int ns_rename(struct fs *fs, struct dentry *d, struct node *newdir,
	      const char *newname);
void ns_exchange(struct dentry *a, struct dentry *b);
void ns_maybe_free(struct fs *fs, struct node *n);
void ns_fill_stat(struct fs *fs, const struct node *n, struct stat *st);
/* The first entry of @dir whose readdir offset is above @off, or NULL. */
struct dentry *ns_dir_seek(struct node *dir, uint64_t off);
void ns_touch(struct timespec *ts);
/* "/dir/name" of @n (or of @name in @n when given), for log lines. */
void ns_path(struct fs *fs, const struct node *n, const char *name,
	     char *buf, size_t len);

void ns_track(struct fs *fs, struct opened *o, void (*fn)(struct opened *));
void ns_untrack(struct opened *o);

/* file_buffer.c */
int fb_truncate(struct fs *fs, struct node *n, uint64_t size);
int fb_reserve(struct fs *fs, struct node *n, uint64_t end);
bool fb_trim(struct fs *fs, struct node *n);
void fb_release(struct fs *fs, struct node *n);
int fb_ensure_file(struct fs *fs, struct node *n);
void fb_refresh(struct fs *fs, struct node *n);
const char *fb_map(struct fs *fs, struct node *n);
void fb_unmap(struct node *n);
/* @own_opens: opens of the caller itself, which do not make it busy. */
int fb_set_cache(struct fs *fs, struct node *n, unsigned int cache,
		 uint32_t own_opens);
/*
 * A sync in two steps, so that the cache maintenance runs without fs.lock:
 * under the lock, check the range and take a descriptor of the buffer of
 * its own into @out; without it, sync (len 0: to the end) and close it.
 */
int fb_sync_begin(struct fs *fs, struct node *n, uint64_t off, uint64_t len,
		  struct buffer *out);
int fb_sync_end(struct fs *fs, struct buffer *b, uint64_t off, uint64_t len,
		unsigned int direction);

/* held.c: buffers that outlive their file, under fs.lock */
bool held_keep(struct fs *fs, struct node *n);
void held_check(struct fs *fs);

/* stats.c */
char *stats_render(struct fs *fs, size_t *len);
void stats_statfs(struct fs *fs, struct statvfs *sv);

/* ops.c: the lowlevel operation table */
void ops_build(struct fuse_lowlevel_ops *ops);

static inline struct fs *req_fs(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

#endif /* CMAFS_FS_H */
