// SPDX-License-Identifier: MIT
/*
 * buffer_ops - the user.cma.* operations on a file's buffer: cache mode,
 * alignment, sync, and who may see addresses.  One policy, used by both
 * the xattr handlers (ops_xattr.c) and the ioctls (ops_file.c); callers
 * check the caller's access (write permission, a writable descriptor).
 */
#include <errno.h>

#include "buffer_ops.h"
#include "cmafs.h"
#include "fs.h"
#include "passthrough.h"

bool mmap_direct(void)
{
	return pt_active();
}

bool addresses_visible(const struct fs *fs, uid_t uid, const struct node *n)
{
	switch (fs->addresses) {
	case ADDR_ALL:
		return true;
	case ADDR_ROOT:
		return uid == 0;
	case ADDR_OWNER:
		break;
	}
	return uid == 0 || uid == n->uid;
}

bool may_see_addresses(fuse_req_t req, const struct node *n)
{
	return addresses_visible(req_fs(req), fuse_req_ctx(req)->uid, n);
}

static struct node *regular(struct fs *fs, fuse_ino_t ino, int *err)
{
	struct node *n = ns_node(fs, ino);

	*err = !n ? -ENOENT : !S_ISREG(n->mode) ? -EINVAL : 0;
	return *err ? NULL : n;
}

int cma_set_cache(struct fs *fs, fuse_ino_t ino, unsigned int cache,
		  uint32_t own_opens)
{
	struct node *n;
	int err;

	if (cache > CMAFS_CACHE_WRITECOMBINE)
		return -EINVAL;
	pthread_mutex_lock(&fs->lock);
	n = regular(fs, ino, &err);
	if (n)
		err = fb_set_cache(fs, n, cache, own_opens);
	pthread_mutex_unlock(&fs->lock);
	return err;
}

int cma_set_align(struct fs *fs, fuse_ino_t ino, uint64_t align)
{
	struct node *n;
	int err;

	if (align < fs->page_size || (align & (align - 1)))
		return -EINVAL;
	pthread_mutex_lock(&fs->lock);
	n = regular(fs, ino, &err);
	if (n)
		n->file.align = align;
	pthread_mutex_unlock(&fs->lock);
	return err;
}

/*
 * In cached-mmap mode the kernel's page cache stands between a mapping and
 * the buffer.  Dropping it (which first writes dirty pages back) is what
 * makes stores visible to the device and device writes visible to the CPU.
 * It must run without fs.lock: writing dirty pages back sends us WRITEs.
 */
static void drop_page_cache(struct fs *fs, fuse_ino_t ino, uint64_t off,
			    uint64_t len)
{
	if (!mmap_direct())
		fuse_lowlevel_notify_inval_inode(fs->se, ino, (off_t)off,
						 (off_t)len);
}

/*
 * Cache maintenance of a large cached buffer takes long: it runs on a
 * descriptor of its own without fs.lock (and off the request loop, in
 * deferred.c), so that other users' requests go on meanwhile.
 */
static int sync_unlocked(struct fs *fs, fuse_ino_t ino, uint64_t off,
			 uint64_t len, unsigned int direction)
{
	struct buffer b;
	struct node *n;
	int err;

	pthread_mutex_lock(&fs->lock);
	n = regular(fs, ino, &err);
	if (n)
		err = fb_sync_begin(fs, n, off, len, &b);
	pthread_mutex_unlock(&fs->lock);
	return err ? err : fb_sync_end(fs, &b, off, len, direction);
}

int cma_fsync(struct fs *fs, fuse_ino_t ino)
{
	struct node *n;
	int err;

	pthread_mutex_lock(&fs->lock);
	n = regular(fs, ino, &err);
	if (n)
		fb_refresh(fs, n);
	if (n && !n->file.has_buf)
		n = NULL;
	pthread_mutex_unlock(&fs->lock);
	return n ? sync_unlocked(fs, ino, 0, 0, CMAFS_SYNC_DEVICE) :
		   err == -ENOENT ? 0 : err;
}

int cma_sync(struct fs *fs, fuse_ino_t ino, uint64_t off, uint64_t len,
	     unsigned int direction)
{
	struct node *n;
	int err;

	if (direction != CMAFS_SYNC_DEVICE && direction != CMAFS_SYNC_CPU)
		return -EINVAL;
	pthread_mutex_lock(&fs->lock);
	n = regular(fs, ino, &err);
	if (n)
		fb_refresh(fs, n);	/* a passthrough write may have sized it */
	if (n && !n->file.has_buf)
		err = -ENODATA;
	if (n && !err && (off > n->file.buf.size ||
			  len > n->file.buf.size - off))
		err = -EINVAL;
	pthread_mutex_unlock(&fs->lock);
	if (err)
		return err;
	if (direction == CMAFS_SYNC_DEVICE)
		drop_page_cache(fs, ino, off, len);
	err = sync_unlocked(fs, ino, off, len, direction);
	if (!err && direction == CMAFS_SYNC_CPU)
		drop_page_cache(fs, ino, off, len);
	return err;
}

