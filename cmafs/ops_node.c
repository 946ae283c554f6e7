// SPDX-License-Identifier: MIT
/*
 * ops_node - requests on names and attributes: lookup, getattr/setattr,
 * mkdir/mknod/symlink/link, unlink/rmdir/rename, readdir and statfs.
 * File contents are in ops_file.c, extended attributes in ops_xattr.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/stat.h>

#include "fs.h"
#include "ops.h"
#include "privs.h"
#include "views.h"

#define ENTRY_TIMEOUT 1.0

static bool is_view(fuse_ino_t parent, const char *name)
{
	return view_lookup(parent, name) != 0;
}

void fill_entry(struct fs *fs, struct node *n, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->generation = n->generation;
	/*
	 * Under passthrough the kernel knows the size better than we do,
	 * and it believes every attribute we send: a stale size here would
	 * cut the file.  So every reply with attributes refreshes first.
	 */
	if (S_ISREG(n->mode))
		fb_refresh(fs, n);
	ns_fill_stat(fs, n, &e->attr);
	e->attr_timeout = ENTRY_TIMEOUT;
	e->entry_timeout = ENTRY_TIMEOUT;
	n->nlookup++;
}

static void reply_entry(fuse_req_t req, struct fs *fs, struct node *n)
{
	struct fuse_entry_param e;

	fill_entry(fs, n, &e);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_entry(req, &e);
}

/* Common checks for a new name in @parent; 0 or -errno. */
int check_new_name(struct fs *fs, struct node *dir, fuse_ino_t parent,
		   const char *name)
{
	if (!dir || !S_ISDIR(dir->mode))
		return -ENOTDIR;
	if (dir->nlink == 0)
		return -ENOENT;
	if (strlen(name) > 255)
		return -ENAMETOOLONG;
	if (is_view(parent, name) || ns_lookup(fs, dir, name))
		return -EEXIST;
	return 0;
}

/*
 * Owner and group of a new entry: the caller's, or a setgid dir's group.
 * The node is one of the caller's inodes until it dies.
 */
struct node *new_child(struct fs *fs, fuse_req_t req, struct node *dir,
		       mode_t mode, int *err, struct quota_miss *miss)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	gid_t gid = ctx->gid;
	struct node *n;

	if (dir->mode & S_ISGID) {
		gid = dir->gid;
		if (S_ISDIR(mode))
			mode |= S_ISGID;
	}
	*err = quota_check(&fs->quota, ctx->uid, USE_INODES, 1, miss);
	if (*err)
		return NULL;
	n = ns_new_node(fs, mode, ctx->uid, gid);
	if (!n) {
		*err = -ENOMEM;
		return NULL;
	}
	n->charged = true;
	n->charged_uid = ctx->uid;
	quota_add(&fs->quota, ctx->uid, USE_INODES, 1);
	return n;
}

static void cmafs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = req_fs(req);
	struct fuse_entry_param e;
	struct node *dir;
	struct dentry *d;

	if (is_view(parent, name)) {
		memset(&e, 0, sizeof(e));
		e.ino = view_lookup(parent, name);
		e.generation = 1;
		pthread_mutex_lock(&fs->lock);
		view_fill_stat(fs, e.ino, &e.attr);
		pthread_mutex_unlock(&fs->lock);
		e.entry_timeout = ENTRY_TIMEOUT;
		fuse_reply_entry(req, &e);
		return;
	}
	if (strlen(name) > 255) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	dir = ns_node(fs, parent);
	d = dir && S_ISDIR(dir->mode) ? ns_lookup(fs, dir, name) : NULL;
	if (!d) {
		pthread_mutex_unlock(&fs->lock);
		/* A negative entry lets the kernel cache the miss. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = ENTRY_TIMEOUT;
		if (dir && S_ISDIR(dir->mode))
			fuse_reply_entry(req, &e);
		else
			fuse_reply_err(req, ENOTDIR);
		return;
	}
	reply_entry(req, fs, d->node);
}

static void forget_one(struct fs *fs, fuse_ino_t ino, uint64_t nlookup)
{
	struct node *n = ns_node(fs, ino);

	if (!n)
		return;
	n->nlookup = n->nlookup > nlookup ? n->nlookup - nlookup : 0;
	ns_maybe_free(fs, n);
}

static void cmafs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs *fs = req_fs(req);

	pthread_mutex_lock(&fs->lock);
	forget_one(fs, ino, nlookup);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_none(req);
}

static void cmafs_forget_multi(fuse_req_t req, size_t count,
			       struct fuse_forget_data *forgets)
{
	struct fs *fs = req_fs(req);

	pthread_mutex_lock(&fs->lock);
	for (size_t i = 0; i < count; i++)
		forget_one(fs, forgets[i].ino, forgets[i].nlookup);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_none(req);
}

static void cmafs_getattr(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct stat st;
	double timeout;

	(void)fi;
	pthread_mutex_lock(&fs->lock);
	if (view_ino(ino)) {
		view_fill_stat(fs, ino, &st);
		timeout = 0;
	} else {
		struct node *n = ns_node(fs, ino);

		if (!n) {
			pthread_mutex_unlock(&fs->lock);
			fuse_reply_err(req, ENOENT);
			return;
		}
		if (S_ISREG(n->mode))
			fb_refresh(fs, n);
		ns_fill_stat(fs, n, &st);
		timeout = ENTRY_TIMEOUT;
	}
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_attr(req, &st, timeout);
}

static void set_time(struct timespec *dst, const struct timespec *src,
		     bool now)
{
	if (now)
		ns_touch(dst);
	else
		*dst = *src;
}

static void cmafs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			  int to_set, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct stat st;
	struct node *n;
	int err = 0;

	(void)fi;
	if (view_ino(ino)) {
		reply_refusal(req, ino, NULL, "setattr", EPERM);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	n = ns_node(fs, ino);
	if (!n) {
		err = ENOENT;
		goto out;
	}
	if (S_ISREG(n->mode))
		fb_refresh(fs, n);
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (S_ISDIR(n->mode)) {
			err = EISDIR;
			goto out;
		}
		if (!S_ISREG(n->mode)) {
			err = EINVAL;
			goto out;
		}
		err = -fb_truncate(fs, n, (uint64_t)attr->st_size);
		if (err)
			goto out;
		ns_touch(&n->mtime);
		n->ctime = n->mtime;
	}
	if (to_set & FUSE_SET_ATTR_MODE)
		n->mode = (n->mode & S_IFMT) | (attr->st_mode & 07777);
	/*
	 * A truncation drops setuid/setgid as on tmpfs: the kernel's FUSE
	 * sends the mode without the bits it drops, but keeps a setgid bit
	 * without group-exec that a caller outside the group loses (privs.c).
	 * The reply's attributes carry the new mode to the kernel.
	 */
	if (to_set & FUSE_SET_ATTR_SIZE)
		privs_drop(req, n);
	if ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != n->uid) {
		/* The buffer is charged to its owner: chown moves it. */
		uint64_t held = S_ISREG(n->mode) && n->file.has_buf ?
				n->file.buf.size : 0;

		if (held && quota_check(&fs->quota, attr->st_uid, USE_BYTES,
					held, NULL)) {
			err = EDQUOT;
			goto out;
		}
		quota_add(&fs->quota, n->uid, USE_BYTES, -(int64_t)held);
		quota_add(&fs->quota, attr->st_uid, USE_BYTES, (int64_t)held);
		n->uid = attr->st_uid;
	}
	if (to_set & FUSE_SET_ATTR_GID)
		n->gid = attr->st_gid;
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW))
		set_time(&n->atime, &attr->st_atim,
			 to_set & FUSE_SET_ATTR_ATIME_NOW);
	if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))
		set_time(&n->mtime, &attr->st_mtim,
			 to_set & FUSE_SET_ATTR_MTIME_NOW);
	if (to_set & FUSE_SET_ATTR_CTIME)
		n->ctime = attr->st_ctim;
	else
		ns_touch(&n->ctime);
	/* Keep the buffer's file in step: fb_refresh() trusts its times. */
	if (S_ISREG(n->mode) && n->file.has_file &&
	    (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW |
		       FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))) {
		struct timespec ts[2] = { n->atime, n->mtime };

		futimens(n->file.buf.fd, ts);
	}
out:
	if (err) {
		pthread_mutex_unlock(&fs->lock);
		/* A resize over quota has been logged with its figures. */
		if (err == EDQUOT && (to_set & FUSE_SET_ATTR_SIZE))
			fuse_reply_err(req, err);
		else
			reply_refusal(req, ino, NULL,
				      to_set & FUSE_SET_ATTR_SIZE ?
				      "truncate" : "setattr", err);
		return;
	}
	if (S_ISREG(n->mode))
		fb_refresh(fs, n);
	ns_fill_stat(fs, n, &st);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_attr(req, &st, ENTRY_TIMEOUT);
}

static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, dev_t rdev, const char *link,
		      const char *op)
{
	struct fs *fs = req_fs(req);
	uid_t uid = fuse_req_ctx(req)->uid;
	struct quota_miss miss = { 0 };
	struct node *dir, *n;
	int err;

	pthread_mutex_lock(&fs->lock);
	dir = ns_node(fs, parent);
	err = check_new_name(fs, dir, parent, name);
	if (err)
		goto fail;
	/* A symlink's target is metadata the user makes us keep. */
	if (link) {
		err = quota_check(&fs->quota, uid, USE_XATTR,
				  strlen(link), &miss);
		if (err)
			goto fail;
	}
	n = new_child(fs, req, dir, mode, &err, &miss);
	if (!n)
		goto fail;
	n->rdev = rdev;
	if (link) {
		n->symlink = strdup(link);
		if (!n->symlink) {
			err = -ENOMEM;
			ns_maybe_free(fs, n);
			goto fail;
		}
		quota_add(&fs->quota, uid, USE_XATTR,
			  (int64_t)strlen(link));
	}
	err = ns_link(fs, dir, name, n, NULL);
	if (err) {
		ns_maybe_free(fs, n);
		goto fail;
	}
	reply_entry(req, fs, n);
	return;
fail:
	pthread_mutex_unlock(&fs->lock);
	if (miss.option)
		reply_over_limit(req, parent, name, op, -err, &miss);
	else
		reply_refusal(req, parent, name, op, -err);
}

static void cmafs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode)
{
	make_node(req, parent, name, S_IFDIR | (mode & 07777), 0, NULL, "mkdir");
}

static void cmafs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode, dev_t rdev)
{
	make_node(req, parent, name, mode, rdev, NULL, "mknod");
}

static void cmafs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			  const char *name)
{
	make_node(req, parent, name, S_IFLNK | 0777, 0, link, "symlink");
}

static void cmafs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = req_fs(req);
	struct node *n;
	char *target;

	pthread_mutex_lock(&fs->lock);
	n = ns_node(fs, ino);
	target = n && S_ISLNK(n->mode) ? strdup(n->symlink) : NULL;
	pthread_mutex_unlock(&fs->lock);
	if (!target) {
		fuse_reply_err(req, n ? EINVAL : ENOENT);
		return;
	}
	fuse_reply_readlink(req, target);
	free(target);
}

static void cmafs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		       const char *newname)
{
	struct fs *fs = req_fs(req);
	uid_t uid = fuse_req_ctx(req)->uid;
	struct quota_miss miss = { 0 };
	struct node *n, *dir;
	int err;

	if (view_ino(ino)) {
		reply_refusal(req, ino, NULL, "link", EPERM);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	n = ns_node(fs, ino);
	dir = ns_node(fs, newparent);
	err = n ? check_new_name(fs, dir, newparent, newname) : -ENOENT;
	if (!err && S_ISDIR(n->mode))
		err = -EPERM;
	/* Each name costs memory: an extra link is one of the linker's. */
	if (!err)
		err = quota_check(&fs->quota, uid, USE_INODES, 1, &miss);
	if (!err)
		err = ns_link(fs, dir, newname, n, &uid);
	if (err) {
		pthread_mutex_unlock(&fs->lock);
		if (miss.option)
			reply_over_limit(req, newparent, newname, "link", -err,
					 &miss);
		else
			reply_refusal(req, newparent, newname, "link", -err);
		return;
	}
	reply_entry(req, fs, n);
}

static int remove_checks(struct fs *fs, fuse_ino_t parent, const char *name,
			 bool want_dir, struct dentry **out)
{
	struct node *dir = ns_node(fs, parent);
	struct dentry *d;

	if (is_view(parent, name))
		return -EPERM;
	if (!dir || !S_ISDIR(dir->mode))
		return -ENOTDIR;
	d = ns_lookup(fs, dir, name);
	if (!d)
		return -ENOENT;
	if (want_dir && !S_ISDIR(d->node->mode))
		return -ENOTDIR;
	if (!want_dir && S_ISDIR(d->node->mode))
		return -EISDIR;
	if (want_dir && d->node->dir.entries)
		return -ENOTEMPTY;
	*out = d;
	return 0;
}

static void remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name,
			 bool dir)
{
	struct fs *fs = req_fs(req);
	struct dentry *d = NULL;
	int err;

	pthread_mutex_lock(&fs->lock);
	err = remove_checks(fs, parent, name, dir, &d);
	if (!err)
		ns_unlink(fs, d);
	pthread_mutex_unlock(&fs->lock);
	reply_refusal(req, parent, name, dir ? "rmdir" : "unlink", -err);
}

static void cmafs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, false);
}

static void cmafs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, true);
}

static int do_rename(struct fs *fs, fuse_ino_t parent, const char *name,
		     fuse_ino_t newparent, const char *newname,
		     unsigned int flags)
{
	struct node *dir = ns_node(fs, parent), *ndir = ns_node(fs, newparent);
	struct dentry *src, *dst;

	if (is_view(parent, name) || is_view(newparent, newname))
		return -EPERM;
	if (flags & ~(unsigned int)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if (!dir || !ndir || !S_ISDIR(dir->mode) || !S_ISDIR(ndir->mode))
		return -ENOTDIR;
	if (strlen(newname) > 255)
		return -ENAMETOOLONG;
	src = ns_lookup(fs, dir, name);
	if (!src)
		return -ENOENT;
	dst = ns_lookup(fs, ndir, newname);
	if (flags & RENAME_EXCHANGE) {
		if (!dst)
			return -ENOENT;
		ns_exchange(src, dst);
		return 0;
	}
	if (dst) {
		if (flags & RENAME_NOREPLACE)
			return -EEXIST;
		if (dst->node == src->node)
			return 0;
		if (S_ISDIR(src->node->mode) && !S_ISDIR(dst->node->mode))
			return -ENOTDIR;
		if (!S_ISDIR(src->node->mode) && S_ISDIR(dst->node->mode))
			return -EISDIR;
		if (S_ISDIR(dst->node->mode) && dst->node->dir.entries)
			return -ENOTEMPTY;
		ns_unlink(fs, dst);
	}
	return ns_rename(fs, src, ndir, newname);
}

static void cmafs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			 fuse_ino_t newparent, const char *newname,
			 unsigned int flags)
{
	struct fs *fs = req_fs(req);
	int err;

	pthread_mutex_lock(&fs->lock);
	err = do_rename(fs, parent, name, newparent, newname, flags);
	pthread_mutex_unlock(&fs->lock);
	reply_refusal(req, parent, name, "rename", -err);
}

/*
 * Directories are listed straight from the namespace: an open directory
 * costs a handle, never a copy of its names, and each READDIR reply does
 * work proportional to what it returns.  Offsets are the entries' sequence
 * numbers, so a listing that runs while names come and go returns every
 * name that stayed exactly once (POSIX leaves the others open).  The handle
 * remembers where the last reply stopped; a name leaving the directory
 * makes that stale, and the next reply seeks by offset instead.
 */
static void cmafs_opendir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct handle *h = NULL;
	struct node *dir;
	int err = 0;

	pthread_mutex_lock(&fs->lock);
	dir = ns_node(fs, ino);
	if (!dir || !S_ISDIR(dir->mode))
		err = dir ? ENOTDIR : ENOENT;
	else if (!(h = handle_new(fs, HANDLE_DIR)))
		err = ENOMEM;
	if (h) {
		h->node = dir;
		h->uid = fuse_req_ctx(req)->uid;
		dir->opens++;
	}
	pthread_mutex_unlock(&fs->lock);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uintptr_t)h;
	fuse_reply_open(req, fi);
}

/* Adds one entry to @buf; false when it does not fit. */
static bool add_entry(fuse_req_t req, char *buf, size_t size, size_t *used,
		      const char *name, fuse_ino_t ino, mode_t type,
		      uint64_t next_off)
{
	struct stat st = { .st_ino = ino, .st_mode = type };
	size_t len = fuse_add_direntry(req, buf + *used, size - *used, name,
				       &st, (off_t)next_off);

	if (len > size - *used)
		return false;
	*used += len;
	return true;
}

static void cmafs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			  off_t off, struct fuse_file_info *fi)
{
	struct handle *h = handle_get(fi, HANDLE_DIR);
	struct fs *fs = req_fs(req);
	uint64_t pos = off < 0 ? 0 : (uint64_t)off;
	struct node *dir;
	struct dentry *d;
	size_t used = 0;
	bool listed;
	char *buf;

	if (!h) {
		fuse_reply_err(req, EBADF);
		return;
	}
	if (size > 1 << 20)
		size = 1 << 20;
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	dir = h->node;
	/* the kernel fills in the real ".." */
	if (pos == 0 && add_entry(req, buf, size, &used, ".", ino, S_IFDIR, 1))
		pos = 1;
	if (pos == 1 && add_entry(req, buf, size, &used, "..", ino, S_IFDIR, 2))
		pos = 2;
	/* the views of the root, ino 2 to 4 at offsets 2 to 4 */
	while (dir->ino == ROOT_INO && pos >= 2 && pos < FIRST_NODE_INO &&
	       add_entry(req, buf, size, &used, view_name(pos), pos, S_IFREG,
			 pos + 1))
		pos++;
	listed = dir->ino == ROOT_INO ? pos >= FIRST_NODE_INO : pos >= 2;
	if (!listed)
		d = NULL;	/* the reply is full already */
	else if (h->cursor && h->next_off == pos &&
		 h->stamp == dir->dir.detaches)
		d = h->next;
	else
		d = ns_dir_seek(dir, pos);
	for (; d; d = d->next) {
		if (!add_entry(req, buf, size, &used, d->name, d->node->ino,
			       d->node->mode & S_IFMT, d->seq))
			break;
		pos = d->seq;
	}
	h->next = d;
	h->next_off = pos;
	h->stamp = dir->dir.detaches;
	h->cursor = listed;
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void cmafs_releasedir(fuse_req_t req, fuse_ino_t ino,
			     struct fuse_file_info *fi)
{
	struct handle *h = handle_get(fi, HANDLE_DIR);
	struct fs *fs = req_fs(req);

	(void)ino;
	if (!h) {
		fuse_reply_err(req, EBADF);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	h->node->opens--;
	ns_maybe_free(fs, h->node);
	ns_untrack(&h->link);
	pthread_mutex_unlock(&fs->lock);
	handle_free(&h->link);
	fuse_reply_err(req, 0);
}

static void cmafs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = req_fs(req);
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	pthread_mutex_lock(&fs->lock);
	stats_statfs(fs, &sv);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_statfs(req, &sv);
}

void ops_node_init(struct fuse_lowlevel_ops *ops)
{
	ops->lookup = cmafs_lookup;
	ops->forget = cmafs_forget;
	ops->forget_multi = cmafs_forget_multi;
	ops->getattr = cmafs_getattr;
	ops->setattr = cmafs_setattr;
	ops->readlink = cmafs_readlink;
	ops->mknod = cmafs_mknod;
	ops->mkdir = cmafs_mkdir;
	ops->symlink = cmafs_symlink;
	ops->link = cmafs_link;
	ops->unlink = cmafs_unlink;
	ops->rmdir = cmafs_rmdir;
	ops->rename = cmafs_rename;
	ops->opendir = cmafs_opendir;
	ops->readdir = cmafs_readdir;
	ops->releasedir = cmafs_releasedir;
	ops->statfs = cmafs_statfs;
}
