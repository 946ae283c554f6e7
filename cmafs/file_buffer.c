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
#include <unistd.h>

#include "cmafs.h"
#include "fs.h"
#include "log.h"

static uint64_t round_pages(struct fs *fs, uint64_t bytes)
{
	return (bytes + fs->page_size - 1) / fs->page_size * fs->page_size;
}

static void unmap(struct node *n)
{
	if (n->file.map) {
		munmap(n->file.map, n->file.map_len);
		n->file.map = NULL;
		n->file.map_len = 0;
	}
}

void *fb_map(struct fs *fs, struct node *n)
{
	struct file_data *f = &n->file;
	void *p;

	(void)fs;
	if (!f->has_buf)
		return NULL;
	if (f->map)
		return f->map;
	p = mmap(NULL, f->buf.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 f->buf.fd, 0);
	if (p == MAP_FAILED) {
		log_err("ino %" PRIu64 ": cannot map buffer: %s",
			(uint64_t)n->ino, strerror(errno));
		return NULL;
	}
	f->map = p;
	f->map_len = f->buf.size;
	return p;
}

static void log_failure(struct fs *fs, uint64_t bytes, int err)
{
	struct pool_stats st;
	uint64_t ps = fs->page_size;

	fs->be->ops->stats(fs->be, &st);
	if (err == -EMFILE || err == -ENFILE) {
		log_err("alloc failed: out of file descriptors (each buffer holds one): raise RLIMIT_NOFILE");
		return;
	}
	log_err("alloc failed, req-size: %" PRIu64 " pages, free: %" PRIu64
		" pages, largest free: %" PRIu64 " pages",
		bytes / ps, st.free_bytes / ps, st.largest_free_bytes / ps);
}

/* Give the file exactly @cap bytes of buffer (a page multiple, 0 = none). */
static int set_capacity(struct fs *fs, struct node *n, uint64_t cap)
{
	struct file_data *f = &n->file;
	const struct backend_ops *ops = fs->be->ops;
	int err;

	if (cap == 0) {
		fb_release(fs, n);
		return 0;
	}
	if (f->has_buf && f->buf.size == cap)
		return 0;
	if (f->has_buf) {
		unmap(n);
		err = ops->resize(fs->be, &f->buf, cap, f->align, f->cache);
		if (!err)
			fs->ct.resizes++;
	} else {
		err = ops->alloc(fs->be, cap, f->align, f->cache, &f->buf);
		if (!err) {
			f->has_buf = true;
			fs->ct.allocs++;
			fs->ct.buffers++;
			if (n->nlink == 0)
				fs->ct.orphan_buffers++;
		}
	}
	if (err) {
		fs->ct.alloc_failures++;
		if (err == -ENOMEM)
			err = -ENOSPC;
		if (err == -EMFILE || err == -ENFILE)
			err = -ENOSPC;
		log_failure(fs, cap, err);
	}
	return err;
}

/* Bytes [from, to) that were inside the old buffer must read as zero. */
static void zero_range(struct fs *fs, struct node *n, uint64_t from,
		       uint64_t to)
{
	char *p;

	if (!n->file.has_buf || from >= to)
		return;
	if (to > n->file.buf.size)
		to = n->file.buf.size;
	if (from >= to)
		return;
	p = fb_map(fs, n);
	if (p)
		memset(p + from, 0, to - from);
}

static uint64_t capacity(const struct node *n)
{
	return n->file.has_buf ? n->file.buf.size : 0;
}

int fb_truncate(struct fs *fs, struct node *n, uint64_t size)
{
	struct file_data *f = &n->file;
	uint64_t old = f->size, old_cap = capacity(n);
	int err;

	if (size > INT64_MAX)
		return -EFBIG;
	err = set_capacity(fs, n, round_pages(fs, size));
	if (err)
		return err;
	/*
	 * Fresh pages are zero already; what was slack in the old buffer (or
	 * the tail of a page kept by a shrink) may hold stale bytes.
	 */
	if (size < old)
		zero_range(fs, n, size, old);
	else
		zero_range(fs, n, old, size < old_cap ? size : old_cap);
	f->size = size;
	return 0;
}

int fb_reserve(struct fs *fs, struct node *n, uint64_t off, uint64_t end)
{
	struct file_data *f = &n->file;
	uint64_t need = round_pages(fs, end);
	uint64_t have = capacity(n);
	uint64_t want;

	if (end > INT64_MAX)
		return -EFBIG;
	/* A write that starts past EOF leaves a hole that must read as 0. */
	if (off > f->size)
		zero_range(fs, n, f->size, off < have ? off : have);
	if (need <= have)
		return 0;
	want = have * 2 > need ? round_pages(fs, have * 2) : need;
	if (want > need) {
		/* The doubled size is a wish: fall back to exactly enough. */
		struct pool_stats st;

		fs->be->ops->stats(fs->be, &st);
		if (want - have > st.largest_free_bytes)
			want = need;
	}
	return set_capacity(fs, n, want);
}

void fb_trim(struct fs *fs, struct node *n)
{
	struct file_data *f = &n->file;
	uint64_t cap = round_pages(fs, f->size);

	if (!f->has_buf || f->buf.size == cap)
		return;
	/* Shrinking cannot fail for lack of room; if it does, keep the slack. */
	(void)set_capacity(fs, n, cap);
}

void fb_release(struct fs *fs, struct node *n)
{
	struct file_data *f = &n->file;

	if (!f->has_buf)
		return;
	unmap(n);
	fs->be->ops->release(fs->be, &f->buf);
	f->has_buf = false;
	fs->ct.frees++;
	fs->ct.buffers--;
	if (n->nlink == 0)
		fs->ct.orphan_buffers--;
}

int fb_set_cache(struct fs *fs, struct node *n, unsigned int cache)
{
	struct file_data *f = &n->file;
	int err;

	if (f->cache == cache)
		return 0;
	if (f->has_buf) {
		if (n->opens)
			return -EBUSY;
		unmap(n);
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
