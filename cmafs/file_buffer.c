// SPDX-License-Identifier: MIT
/*
 * file_buffer - how a regular file's size maps onto its buffer.
 *
 * st_size is what the user asked for; the buffer (capacity) is a page
 * multiple >= st_size.  truncate and fallocate size the buffer exactly.
 * Writes past the end double the capacity so that appending S bytes in any
 * chunk size copies O(S) in total, and the slack is given back when the last
 * handle closes.  Every failure leaves size, contents and address as they
 * were, and logs the kernel-style line users grep for.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmafs.h"
#include "fs.h"
#include "log.h"
#include "passthrough.h"

static uint64_t round_pages(struct fs *fs, uint64_t bytes)
{
	return (bytes + fs->page_size - 1) / fs->page_size * fs->page_size;
}

/*
 * Reads without passthrough are served from a mapping of the buffer: one
 * copy, straight into the reply, where pread would need a bounce buffer.
 * Mapped at the first read, dropped when the buffer changes or the last
 * handle closes, so idle files cost no address space.  Only bytes below
 * st_size (which the buffer's file holds) are ever touched.
 */
const char *fb_map(struct fs *fs, struct node *n)
{
	struct file_data *f = &n->file;
	void *p;

	if (f->map || !f->has_buf || !fs->be->map_reads)
		return f->map;
	p = mmap(NULL, f->buf.size, PROT_READ, MAP_SHARED, f->buf.fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	f->map = p;
	f->map_len = f->buf.size;
	return p;
}

void fb_unmap(struct node *n)
{
	struct file_data *f = &n->file;

	if (f->map) {
		munmap(f->map, f->map_len);
		f->map = NULL;
	}
}

static uint64_t capacity(const struct node *n)
{
	return n->file.has_buf ? n->file.buf.size : 0;
}

static void log_failure(struct fs *fs, uint64_t bytes, int err)
{
	struct pool_stats st;
	uint64_t ps = fs->page_size;

	fs->be->ops->stats(fs->be, &st);
	if (err == -EMFILE || err == -ENFILE) {
		log_err("alloc failed: out of file descriptors (each buffer holds one, limit %" PRIu64 "): raise RLIMIT_NOFILE (ulimit -n)",
			fs->max_buffer_fds);
		return;
	}
	log_err("alloc failed, req-size: %" PRIu64 " pages, free: %" PRIu64
		" pages, largest free: %" PRIu64 " pages",
		bytes / ps, st.free_bytes / ps, st.largest_free_bytes / ps);
}

static void count_alloc(struct fs *fs, struct node *n)
{
	n->file.has_buf = true;
	fs->ct.allocs++;
	fs->ct.buffers++;
	if (n->nlink == 0)
		fs->ct.orphan_buffers++;
}

/* @bytes: what the buffer held, for the owner's account. */
static void count_free(struct fs *fs, struct node *n, uint64_t bytes)
{
	quota_add(&fs->quota, n->uid, -(int64_t)bytes);
	n->file.has_buf = false;
	fs->ct.frees++;
	fs->ct.buffers--;
	if (n->nlink == 0)
		fs->ct.orphan_buffers--;
}

/*
 * A buffer file for @n.  Descriptors are kept in reserve so that running
 * out of them fails an allocation (and says so), not the daemon itself.
 */
static int new_file(struct fs *fs, struct node *n, uint64_t cap)
{
	struct file_data *f = &n->file;
	int err;

	if (fs->buffer_fds >= fs->max_buffer_fds)
		return -EMFILE;
	err = fs->be->ops->alloc(fs->be, cap, f->align, f->cache, &f->buf);
	if (err)
		return err;
	f->has_file = true;
	fs->buffer_fds++;
	return 0;
}

/*
 * Give the file exactly @cap bytes of buffer (a page multiple, 0 = none).
 * A @quiet failure is an attempt with a fallback: not counted, not logged.
 */
static int set_capacity(struct fs *fs, struct node *n, uint64_t cap,
			bool quiet)
{
	struct file_data *f = &n->file;
	const struct backend_ops *ops = fs->be->ops;
	uint64_t old = capacity(n);
	int err;

	if (f->has_buf && f->buf.size == cap)
		return 0;
	if (cap > old && quota_exceeded(&fs->quota, n->uid, cap - old)) {
		fs->quota.refused++;
		return -EDQUOT;
	}
	fb_unmap(n);
	if (cap == 0) {
		/* Keep an empty file where it may be a passthrough backing. */
		if (!f->has_file || !fs->be->empty_buffers) {
			fb_release(fs, n);
			return 0;
		}
		if (f->has_buf &&
		    !ops->resize(fs->be, &f->buf, 0, f->align, f->cache))
			count_free(fs, n, old);
		return 0;
	}
	if (f->has_file) {
		err = ops->resize(fs->be, &f->buf, cap, f->align, f->cache);
		if (!err && f->has_buf)
			fs->ct.resizes++;
		else if (!err)
			count_alloc(fs, n);
	} else {
		err = new_file(fs, n, cap);
		if (!err)
			count_alloc(fs, n);
	}
	if (!err)
		quota_add(&fs->quota, n->uid, (int64_t)(f->buf.size - old));
	if (err && !quiet) {
		fs->ct.alloc_failures++;
		log_failure(fs, cap, err);
	}
	/* Out of memory or descriptors is, to the user, an exhausted pool. */
	if (err == -ENOMEM || err == -EMFILE || err == -ENFILE)
		err = -ENOSPC;
	return err;
}

int fb_ensure_file(struct fs *fs, struct node *n)
{
	if (n->file.has_file)
		return 0;
	if (!fs->be->empty_buffers)
		return -EOPNOTSUPP;
	return new_file(fs, n, 0);
}

static bool later(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec > b->tv_nsec);
}

/*
 * Under passthrough, writes go from the kernel straight to the buffer's
 * file: that file is the truth about st_size and the write times, and the
 * pool has to follow its size.  A memfd cannot be stopped from growing, so
 * growth the simulated pool cannot hold is logged and counted here, after
 * the fact, and the data stays (the write has already succeeded).
 */
void fb_refresh(struct fs *fs, struct node *n)
{
	struct file_data *f = &n->file;
	struct stat st;

	if (!f->has_file || !pt_active() || fstat(f->buf.fd, &st))
		return;
	if (later(&st.st_mtim, &n->mtime))
		n->mtime = st.st_mtim;
	if (later(&st.st_ctim, &n->ctime))
		n->ctime = st.st_ctim;
	if ((uint64_t)st.st_size == f->size)
		return;
	f->size = (uint64_t)st.st_size;
	/* kmod: the helper may have grown the buffer itself; where is it? */
	if (fs->be->ops->refresh) {
		bool had = f->has_buf;
		uint64_t old = f->buf.size;

		if (!fs->be->ops->refresh(fs->be, &f->buf) && f->buf.size) {
			if (!had)
				count_alloc(fs, n);
			else if (f->buf.size != old)
				fs->ct.resizes++;
			quota_add(&fs->quota, n->uid,
				  (int64_t)(f->buf.size - (had ? old : 0)));
		}
		fb_unmap(n);
	}
	if (round_pages(fs, f->size) > capacity(n))
		(void)set_capacity(fs, n, round_pages(fs, f->size), false);
}

int fb_truncate(struct fs *fs, struct node *n, uint64_t size)
{
	struct file_data *f = &n->file;
	int err;

	if (size > INT64_MAX)
		return -EFBIG;
	/*
	 * Allocation first: it is the step that can fail, and nothing has
	 * changed yet when it does.  The buffer's file then takes the size;
	 * the file zero-fills what a grow exposes, as any file does.
	 */
	err = set_capacity(fs, n, round_pages(fs, size), false);
	if (err)
		return err;
	if (f->has_file && ftruncate(f->buf.fd, (off_t)size) < 0) {
		err = -errno;
		log_err("ino %" PRIu64 ": cannot size the buffer file: %s",
			(uint64_t)n->ino, strerror(errno));
		return err;
	}
	f->size = size;
	return 0;
}

int fb_reserve(struct fs *fs, struct node *n, uint64_t end)
{
	uint64_t need = round_pages(fs, end);
	uint64_t have = capacity(n);

	if (end > INT64_MAX)
		return -EFBIG;
	if (need <= have)
		return 0;
	/* Doubling is a wish; exactly enough is the requirement. */
	if (have && have * 2 > need &&
	    !set_capacity(fs, n, round_pages(fs, have * 2), true))
		return 0;
	return set_capacity(fs, n, need, false);
}

bool fb_trim(struct fs *fs, struct node *n)
{
	struct file_data *f = &n->file;
	uint64_t cap = round_pages(fs, f->size);

	if (!f->has_buf || f->buf.size == cap)
		return false;
	/* A shrink that must move and finds no room keeps the slack. */
	return set_capacity(fs, n, cap, true) == 0;
}

void fb_release(struct fs *fs, struct node *n)
{
	struct file_data *f = &n->file;

	if (!f->has_file)
		return;
	fb_unmap(n);
	if (f->has_buf)
		count_free(fs, n, f->buf.size);
	fs->be->ops->release(fs->be, &f->buf);
	f->has_file = false;
	fs->buffer_fds--;
}

int fb_set_cache(struct fs *fs, struct node *n, unsigned int cache)
{
	struct file_data *f = &n->file;

	if (f->cache == cache)
		return 0;
	if (f->has_buf) {
		int err;

		if (n->opens)
			return -EBUSY;
		fb_unmap(n);
		err = fs->be->ops->resize(fs->be, &f->buf, f->buf.size,
					  f->align, cache);
		if (err)
			return err;
	}
	f->cache = cache;
	return 0;
}

int fb_sync(struct fs *fs, struct node *n, uint64_t off, uint64_t len,
	    unsigned int direction)
{
	struct file_data *f = &n->file;

	if (!f->has_buf)
		return -ENODATA;
	if (len == 0 && off <= f->buf.size)
		len = f->buf.size - off;
	if (off > f->buf.size || len > f->buf.size - off)
		return -EINVAL;
	if (len == 0)
		return 0;
	return fs->be->ops->sync(fs->be, &f->buf, off, len, direction);
}
