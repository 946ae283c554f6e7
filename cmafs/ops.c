// SPDX-License-Identifier: MIT
/* ops - the operation table, the INIT handshake, refusals. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "fs.h"
#include "log.h"
#include "ops.h"
#include "passthrough.h"
#include "views.h"

static void cmafs_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* Another cache in front of the buffer would hide device writes. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/*
	 * libfuse 3.14 claims HANDLE_KILLPRIV by default, which makes us
	 * responsible for dropping setuid/setgid everywhere, without being
	 * told who has CAP_FSETID.  Unclaimed, the kernel drops them itself
	 * on truncate, chown, fallocate and the writes passthrough sends to
	 * the buffer without us; privs.c does the rest (our writes,
	 * open(O_TRUNC)) and why HANDLE_KILLPRIV_V2 is not asked for.
	 */
	conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
	pt_init(conn);
}

/*
 * Errors that are our answer to what the caller asked, as opposed to a
 * question's normal outcome (ENOENT, ENODATA, ERANGE, ENOTTY are how
 * lookups, xattr probes and isatty() work, and would flood the log).
 * Allocation failures have their own kernel-style line.
 */
static bool is_refusal(int err)
{
	switch (err) {
	case EPERM: case EACCES: case EBUSY: case EINVAL: case ENOTEMPTY:
	case ENAMETOOLONG: case EOPNOTSUPP: case EEXIST: case EISDIR:
	case ENOTDIR: case EBADF: case EDQUOT:
		return true;
	}
	return false;
}

void reply_refusal_hint(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *op, int err, const char *hint)
{
	struct fs *fs = req_fs(req);

	if (err && is_refusal(err)) {
		char path[512];

		pthread_mutex_lock(&fs->lock);
		if (view_ino(ino))
			snprintf(path, sizeof(path), "/%s", view_name(ino));
		else
			ns_path(fs, ns_node(fs, ino), name, path, sizeof(path));
		pthread_mutex_unlock(&fs->lock);
		log_info("%s %s: %s (uid %u%s%s)", op, path, strerror(err),
			 (unsigned int)fuse_req_ctx(req)->uid,
			 hint ? "; " : "", hint ? hint : "");
	}
	fuse_reply_err(req, err);
}

void reply_refusal(fuse_req_t req, fuse_ino_t ino, const char *name,
		   const char *op, int err)
{
	reply_refusal_hint(req, ino, name, op, err, NULL);
}

void reply_over_limit(fuse_req_t req, fuse_ino_t ino, const char *name,
		      const char *op, int err, const struct quota_miss *m)
{
	struct fs *fs = req_fs(req);
	char path[512];

	pthread_mutex_lock(&fs->lock);
	ns_path(fs, ns_node(fs, ino), name, path, sizeof(path));
	pthread_mutex_unlock(&fs->lock);
	log_info("%s %s: %s: uid %u is at %s=%" PRIu64 "%s", op, path,
		 strerror(err), (unsigned int)m->uid, m->option, m->limit,
		 err == ENOSPC && m->uid ? " (the rest is root's reserve)" : "");
	fuse_reply_err(req, err);
}

void ops_build(struct fuse_lowlevel_ops *ops)
{
	ops->init = cmafs_init;
	ops_node_init(ops);
	ops_file_init(ops);
	ops_xattr_init(ops);
}
