// SPDX-License-Identifier: MIT
/*
 * ops_file - requests on open files: create/open/release, read/write,
 * fsync, fallocate and the ioctls of include/cmafs.h; /.stats too.
 *
 * Without passthrough, reads and writes are FOPEN_DIRECT_IO and served with
 * pread/pwrite on the buffer's file, so nothing is cached twice; where
 * the kernel cannot map a direct_io file shared (before Linux 6.6) the file
 * is opened in page-cache mode instead so that mmap keeps working.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmafs.h"
#include "fs.h"
#include "log.h"
#include "buffer_ops.h"
#include "ops.h"
#include "deferred.h"
#include "passthrough.h"
#include "privs.h"
#include "views.h"

/*
 * The passthrough registration of @n's buffer file, made at the first open
 * and dropped at the last close.  Every open of a file gets it, the empty
 * ones too (the backend keeps a file without memory), so that an
 * open-ftruncate-mmap sequence maps the buffer itself.  0 = no passthrough.
 */
static int passthrough_id(struct fs *fs, struct node *n)
{
	struct file_data *f = &n->file;

	if (!pt_active() || fb_ensure_file(fs, n))
		return 0;
	if (!f->backing_id) {
		int id = pt_backing_open(fs->se, f->buf.fd);
		if (id < 0) {
			log_err("ino %" PRIu64 ": passthrough refused (%s): served by the daemon",
				(uint64_t)n->ino, strerror(-id));
			return 0;
		}
		f->backing_id = id;
		f->backed = true;
	}
	return f->backing_id;
}

static void passthrough_put(struct fs *fs, struct node *n)
{
	if (n->file.backing_id) {
		pt_backing_close(fs->se, n->file.backing_id);
		n->file.backing_id = 0;
	}
}

/*
 * Under passthrough the kernel writes into the buffer's file without asking
 * us, and a memfd (sim) grows without limit: only the helper (kmod) refuses
 * what the CMA area cannot hold, and nothing knows the owner's quota.  So a
 * writable open is passed through for mmap only (FOPEN_DIRECT_IO overrides
 * passthrough for read and write, not for mmap) unless growth by the kernel
 * stays within what would have been granted.
 */
static bool writes_pass_through(struct fs *fs, const struct node *n)
{
	return fs->be->bounded_growth &&
	       !(fs->quota.user[USE_BYTES] && n->uid != 0);
}

/* Called with fs.lock held; fills fi and takes an open reference. */
static int open_node(fuse_req_t req, struct fs *fs, struct node *n,
		     struct fuse_file_info *fi, int *backing_id, bool *killed)
{
	bool writable = (fi->flags & O_ACCMODE) != O_RDONLY;
	struct handle *h;

	if (S_ISDIR(n->mode))
		return -EISDIR;
	if (!S_ISREG(n->mode))
		return -EINVAL;	/* the kernel opens special files itself */
	/*
	 * As any open(O_TRUNC) of an existing file: new times, even if empty,
	 * and the setuid/setgid bits the kernel's truncation would drop (with
	 * FUSE_ATOMIC_O_TRUNC it leaves them to us: privs.c).
	 */
	if (fi->flags & O_TRUNC) {
		int err = fb_truncate(fs, n, 0);

		if (err)
			return err;
		*killed = privs_drop(req, n);
		ns_touch(&n->mtime);
		n->ctime = n->mtime;
	}
	h = handle_new(fs, HANDLE_FILE);
	if (!h)
		return -ENOMEM;
	h->node = n;
	h->writable = writable;
	h->uid = fuse_req_ctx(req)->uid;
	n->opens++;
	*backing_id = passthrough_id(fs, n);
	/*
	 * Without a backing file the daemon serves I/O: direct_io, unless
	 * the kernel could then not map the file shared (before 6.6), where
	 * page-cache mode keeps mmap working.
	 */
	if (*backing_id)
		fi->direct_io = writable && !writes_pass_through(fs, n);
	else
		fi->direct_io = pt_dio_mmap();
	fi->keep_cache = 0;
	fi->fh = (uintptr_t)h;
	return 0;
}

/* A view (/.stats, /.buffers, /.map): one snapshot per open. */
static void open_view(fuse_req_t req, struct fs *fs, fuse_ino_t ino,
		      struct fuse_file_info *fi)
{
	uid_t uid = fuse_req_ctx(req)->uid;
	struct quota_miss miss = { 0 };
	struct handle *h = NULL;
	int err;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		reply_refusal(req, ino, NULL, "open for writing", EACCES);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	err = quota_check(&fs->quota, uid, USE_STATS, 1, &miss);
	if (!err && !(h = handle_new(fs, HANDLE_STATS)))
		err = -ENOMEM;
	if (h) {
		h->uid = uid;
		h->stats = view_render(fs, ino, uid, &h->stats_len);
		if (!h->stats) {
			ns_untrack(&h->link);
			free(h);
			h = NULL;
			err = -ENOMEM;
		} else {
			quota_add(&fs->quota, uid, USE_STATS, 1);
		}
	}
	pthread_mutex_unlock(&fs->lock);
	if (err == -ENOMEM) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (err) {
		reply_over_limit(req, ROOT_INO, view_name(ino), "open", EMFILE,
				 &miss);
		return;
	}
	fi->direct_io = 1;	/* size 0 in stat, content from the snapshot */
	fi->fh = (uintptr_t)h;
	fuse_reply_open(req, fi);
}

static void cmafs_open(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct node *n;
	int err, backing_id = 0;
	bool killed = false;

	if (view_ino(ino)) {
		open_view(req, fs, ino, fi);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	n = ns_node(fs, ino);
	err = n ? open_node(req, fs, n, fi, &backing_id, &killed) : -ENOENT;
	pthread_mutex_unlock(&fs->lock);
	/*
	 * The mode changed behind the kernel's attribute cache: drop it
	 * before the caller runs on (attributes only: no page lock taken,
	 * so the kernel does not wait for this request).
	 */
	if (killed)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
	if (err)
		reply_refusal(req, ino, NULL, "open", -err);
	else
		pt_reply_open(req, fi, backing_id);
}

static void cmafs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct quota_miss miss = { 0 };
	struct fuse_entry_param e;
	struct node *dir, *n;
	int err, backing_id = 0;
	bool killed = false;	/* a new file: nothing to drop */

	pthread_mutex_lock(&fs->lock);
	dir = ns_node(fs, parent);
	err = check_new_name(fs, dir, parent, name);
	if (err)
		goto fail;
	n = new_child(fs, req, dir, S_IFREG | (mode & 07777), &err, &miss);
	if (!n)
		goto fail;
	err = ns_link(fs, dir, name, n, NULL);
	if (!err)
		err = open_node(req, fs, n, fi, &backing_id, &killed);
	if (err) {
		ns_maybe_free(fs, n);
		goto fail;
	}
	fill_entry(fs, n, &e);
	pthread_mutex_unlock(&fs->lock);
	pt_reply_create(req, &e, fi, backing_id);
	return;
fail:
	pthread_mutex_unlock(&fs->lock);
	if (miss.option)
		reply_over_limit(req, parent, name, "create", -err, &miss);
	else
		reply_refusal(req, parent, name, "create", -err);
}

static void release_stats(fuse_req_t req, struct fs *fs, struct handle *h)
{
	pthread_mutex_lock(&fs->lock);
	quota_add(&fs->quota, h->uid, USE_STATS, -1);
	ns_untrack(&h->link);
	pthread_mutex_unlock(&fs->lock);
	handle_free(&h->link);
	fuse_reply_err(req, 0);
}

static void cmafs_release(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct handle *h = handle_get(fi, HANDLE_FILE);
	struct node *n;
	bool trimmed = false;

	if (!h) {
		h = handle_get(fi, HANDLE_STATS);
		if (h)
			release_stats(req, fs, h);
		else
			fuse_reply_err(req, EBADF);
		return;
	}
	n = h->node;
	pthread_mutex_lock(&fs->lock);
	if (--n->opens == 0) {
		fb_unmap(n);
		passthrough_put(fs, n);
		fb_refresh(fs, n);
		trimmed = fb_trim(fs, n);
		/*
		 * An empty file holds no descriptor when nobody has it open,
		 * unless it was a passthrough backing: a mapping made through
		 * passthrough maps buf.fd itself, outlives every open, and
		 * must keep following the file.
		 */
		if (!n->file.has_buf && !n->file.backed)
			fb_release(fs, n);
		ns_maybe_free(fs, n);
	}
	ns_untrack(&h->link);
	pthread_mutex_unlock(&fs->lock);
	handle_free(&h->link);
	fuse_reply_err(req, 0);
	/*
	 * st_blocks shrank behind the kernel's attribute cache.  Attributes
	 * only (offset < 0): no page-cache writeback, so no request for us.
	 */
	if (trimmed)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
}

static void cmafs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct handle *h = handle_get(fi, HANDLE_FILE);
	uint64_t pos = (uint64_t)off;
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(0);
	const struct file_data *f;
	const char *map;

	(void)ino;
	if (!h) {
		h = handle_get(fi, HANDLE_STATS);
		if (!h) {
			fuse_reply_err(req, EBADF);
			return;
		}
		size_t len = off >= 0 && pos < h->stats_len ?
			     h->stats_len - pos : 0;

		fuse_reply_buf(req, h->stats + (len ? pos : 0),
			       len < size ? len : size);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	f = &h->node->file;
	/* Never past what the buffer holds, whatever st_size says. */
	if (off < 0 || !f->has_buf || pos >= f->size || pos >= f->buf.size) {
		pthread_mutex_unlock(&fs->lock);
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > f->size - pos)
		size = f->size - pos;
	if (size > f->buf.size - pos)
		size = f->buf.size - pos;
	map = fb_map(fs, h->node);
	if (map && pos + size <= f->map_len) {
		/* Under the lock: a resize must not unmap under the copy. */
		fuse_reply_buf(req, map + pos, size);
		pthread_mutex_unlock(&fs->lock);
		return;
	}
	bv.buf[0].size = size;
	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bv.buf[0].fd = f->buf.fd;
	bv.buf[0].pos = off;
	/* Under the lock: a concurrent release must not close the fd. */
	fuse_reply_data(req, &bv, 0);
	pthread_mutex_unlock(&fs->lock);
}

static void cmafs_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
			size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct handle *h = handle_get(fi, HANDLE_FILE);
	uint64_t pos = (uint64_t)off, end = pos + size;
	bool killed = false;
	struct node *n;
	ssize_t done = 0;
	int err;

	if (!h || !h->writable) {
		reply_refusal(req, ino, NULL, "write", EBADF);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	n = h->node;
	if (size == 0) {
		fuse_reply_write(req, 0);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	err = end < pos ? -EFBIG : fb_reserve(fs, n, end);
	if (!err) {
		done = pwrite(n->file.buf.fd, buf, size, off);
		if (done < 0)
			err = -errno;
	}
	if (done > 0) {
		if (pos + (uint64_t)done > n->file.size)
			n->file.size = pos + (uint64_t)done;
		ns_touch(&n->mtime);
		n->ctime = n->mtime;
		killed = privs_drop(req, n);
	}
	pthread_mutex_unlock(&fs->lock);
	/* the mode changed behind the kernel's attribute cache (cmafs_open) */
	if (killed)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_write(req, (size_t)done);
}

static void cmafs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	(void)datasync;
	/* The kernel wrote dirty mapped pages back before asking us. */
	if (handle_get(fi, HANDLE_FILE))
		deferred_fsync(req, ino);
	else
		fuse_reply_err(req, 0);
}

static void cmafs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			    off_t off, off_t len, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct handle *h = handle_get(fi, HANDLE_FILE);
	struct node *n = h ? h->node : NULL;
	uint64_t end = (uint64_t)off + (uint64_t)len;
	bool killed = false;
	int err = 0;

	if (!n || !h->writable) {
		fuse_reply_err(req, EBADF);
		return;
	}
	if (mode) {
		reply_refusal(req, ino, NULL, "fallocate (mode != 0)",
			      EOPNOTSUPP);
		return;
	}
	if (off < 0 || len <= 0 || end > INT64_MAX) {
		reply_refusal(req, ino, NULL, "fallocate",
			      off < 0 || len <= 0 ? EINVAL : EFBIG);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	if (end > n->file.size)
		err = fb_truncate(fs, n, end);
	/* As tmpfs: new times and dropped bits, whether or not it grew. */
	if (!err) {
		killed = privs_drop(req, n);
		ns_touch(&n->mtime);
		n->ctime = n->mtime;
	}
	pthread_mutex_unlock(&fs->lock);
	if (killed)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
	fuse_reply_err(req, -err);
}

static int ioctl_info(fuse_req_t req, struct node *n,
		      struct cmafs_info *info)
{
	memset(info, 0, sizeof(*info));
	if (!may_see_addresses(req, n))
		return -EACCES;
	if (!n->file.has_buf)
		return -ENODATA;
	info->phys_addr = n->file.buf.phys_addr;
	info->dma_addr = n->file.buf.dma_addr;
	info->size = n->file.buf.size;
	info->align = n->file.align;
	info->cache = n->file.cache;
	info->mmap = mmap_direct() ? CMAFS_MMAP_DIRECT : CMAFS_MMAP_CACHED;
	return 0;
}

static void cmafs_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd,
			void *arg, struct fuse_file_info *fi, unsigned int flags,
			const void *in, size_t in_size, size_t out_size)
{
	struct fs *fs = req_fs(req);
	struct handle *h = handle_get(fi, HANDLE_FILE);
	struct node *n = h ? h->node : NULL;
	const char *op = "ioctl CMAFS_IOC_SYNC", *hint = NULL;
	struct cmafs_info info;
	struct cmafs_sync sync;
	bool cleaning = false;
	__u32 cache;
	__u64 align;
	int err;

	(void)arg;
	/* Directories, /.stats: no ioctls (FUSE forwards them all). */
	if (!n || (flags & (FUSE_IOCTL_COMPAT | FUSE_IOCTL_DIR))) {
		fuse_reply_err(req, ENOTTY);
		return;
	}
	/*
	 * What changes the buffer needs a descriptor open for writing, as the
	 * same user.cma.* xattrs need write permission: a reader must not
	 * realign, recache or invalidate (and so discard) the owner's data.
	 * Cleaning for the device loses nothing: a reader may (as the
	 * helper's own SYNC, so cmafs_sync() is the same on every path).
	 */
	if (cmd == CMAFS_IOC_SYNC && in_size >= sizeof(sync)) {
		memcpy(&sync, in, sizeof(sync));
		cleaning = sync.direction == CMAFS_SYNC_DEVICE;
	}
	if (cmd != CMAFS_IOC_INFO && !h->writable &&
	    (cmd == CMAFS_IOC_SET_CACHE || cmd == CMAFS_IOC_SET_ALIGN ||
	     (cmd == CMAFS_IOC_SYNC && !cleaning))) {
		reply_refusal(req, ino, NULL,
			      "ioctl (descriptor not open for writing)", EBADF);
		return;
	}
	switch (cmd) {
	case CMAFS_IOC_INFO:
		if (out_size < sizeof(info)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		pthread_mutex_lock(&fs->lock);
		err = ioctl_info(req, n, &info);
		pthread_mutex_unlock(&fs->lock);
		if (err)
			reply_refusal(req, ino, NULL, "ioctl CMAFS_IOC_INFO",
				      -err);
		else
			fuse_reply_ioctl(req, 0, &info, sizeof(info));
		return;
	case CMAFS_IOC_SYNC:
		if (in_size < sizeof(sync)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		memcpy(&sync, in, sizeof(sync));
		if (sync.reserved) {
			err = -EINVAL;
			break;
		}
		deferred_sync(req, ino, sync.offset, sync.length,
			      sync.direction, true);
		return;
	case CMAFS_IOC_SET_CACHE:
		if (in_size < sizeof(cache)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		memcpy(&cache, in, sizeof(cache));
		err = cma_set_cache(fs, ino, cache, 1);
		op = "ioctl CMAFS_IOC_SET_CACHE";
		hint = err == -EBUSY ? "the file is open or mapped elsewhere" :
		       "expected CMAFS_CACHE_UNCACHED, _CACHED or _WRITECOMBINE";
		break;
	case CMAFS_IOC_SET_ALIGN:
		if (in_size < sizeof(align)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		memcpy(&align, in, sizeof(align));
		err = cma_set_align(fs, ino, align);
		op = "ioctl CMAFS_IOC_SET_ALIGN";
		hint = "expected a power of two >= the page size";
		break;
	default:
		fuse_reply_err(req, ENOTTY);
		return;
	}
	if (err)
		reply_refusal_hint(req, ino, NULL, op, -err, hint);
	else
		fuse_reply_ioctl(req, 0, NULL, 0);
}

void ops_file_init(struct fuse_lowlevel_ops *ops)
{
	ops->create = cmafs_create;
	ops->open = cmafs_open;
	ops->release = cmafs_release;
	ops->read = cmafs_read;
	ops->write = cmafs_write;
	/* No flush: its ENOSYS tells the kernel to stop sending FLUSH. */
	ops->fsync = cmafs_fsync;
	ops->fallocate = cmafs_fallocate;
	ops->ioctl = cmafs_ioctl;
}
