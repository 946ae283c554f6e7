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
#include <fcntl.h>
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

	/* A writable hand-off may cut the file under a mapping: SIGBUS. */
	if (f->map || !f->has_buf || !fs->be->map_reads || f->handed_rw)
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

/*
 * The kernel's own line for a failed CMA allocation, so that what users
 * grep for works on both; then which file and whose, for the admin.
 */
static void log_failure(struct fs *fs, const struct node *n, uint64_t bytes,
			int err)
{
	struct pool_stats st;
	uint64_t ps = fs->page_size;
	char path[512];

	fs->be->ops->stats(fs->be, &st);
	ns_path(fs, n, NULL, path, sizeof(path));
	if (err == -EBUSY) {
		log_err("resize refused for %s (uid %u): its buffer is exported as a dma-buf, whose importer keeps the address; close every dma-buf of it first",
			path, (unsigned int)n->uid);
		return;
	}
	if (err == -EMFILE || err == -ENFILE) {
		log_err("alloc failed: out of file descriptors (each buffer holds one; %" PRIu64 " held, limit %" PRIu64 ", the last 1/16 for root's files): raise RLIMIT_NOFILE (ulimit -n)",
			fs->buffer_fds, fs->max_buffer_fds);
		return;
	}
	log_err("alloc failed, req-size: %" PRIu64 " pages, free: %" PRIu64
		" pages, largest free: %" PRIu64 " pages (%s, uid %u)",
		bytes / ps, st.free_bytes / ps, st.largest_free_bytes / ps,
		path, (unsigned int)n->uid);
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
	quota_add(&fs->quota, n->uid, USE_BYTES, -(int64_t)bytes);
	n->file.has_buf = false;
	fs->ct.frees++;
	fs->ct.buffers--;
	if (n->nlink == 0)
		fs->ct.orphan_buffers--;
}

/*
 * A buffer file for @n.  Descriptors are kept in reserve so that running
 * out of them fails an allocation (and says so), not the daemon itself;
 * the last 1/16 are root's, so that root can still make and free buffers
 * when users have taken the rest.
 */
static int new_file(struct fs *fs, struct node *n, uint64_t cap)
{
	struct file_data *f = &n->file;
	uint64_t max = fs->max_buffer_fds;
	struct stat st;
	int err;

	if (n->uid != 0)
		max -= max / 16;
	if (fs->buffer_fds >= max)
		return -EMFILE;
	err = fs->be->ops->alloc(fs->be, cap, f->align, f->cache, &f->buf);
	if (err)
		return err;
	/* A new file's own times say nothing about the user's file. */
	if (!fstat(f->buf.fd, &st)) {
		f->seen_mtime = st.st_mtim;
		f->seen_ctime = st.st_ctim;
	}
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
	if (cap > old) {
		struct quota_miss m;
		err = quota_check(&fs->quota, n->uid, USE_BYTES, cap - old, &m);
		if (err) {
			char path[512];

			if (quiet)
				return err;
			ns_path(fs, n, NULL, path, sizeof(path));
			log_info("alloc refused for %s: uid %u holds %" PRIu64 " bytes, %" PRIu64 " more would pass quota=%" PRIu64 ": %s",
				 path, (unsigned int)n->uid,
				 quota_of(&fs->quota, n->uid, USE_BYTES),
				 cap - old, m.limit, strerror(-err));
			return err;
		}
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
		quota_add(&fs->quota, n->uid, USE_BYTES,
			  (int64_t)(f->buf.size - old));
	if (err && !quiet) {
		fs->ct.alloc_failures++;
		log_failure(fs, n, cap, err);
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

/* Take the buffer file's time if it changed since we last looked. */
static void follow_time(struct timespec *node, struct timespec *seen,
			const struct timespec *now)
{
	if (now->tv_sec == seen->tv_sec && now->tv_nsec == seen->tv_nsec)
		return;
	*seen = *now;
	if (later(now, node))
		*node = *now;
}

/*
 * Under passthrough, or once handed out writable (handoff.c), the
 * buffer's file is the truth about the write times,
 * and, where the kernel may write into it (read-only opens cannot; see
 * writes_pass_through() in ops_file.c), about st_size: kmod's helper grows
 * the buffer itself within the CMA area, and we follow.  A file that holds
 * more than the pool and the owner's quota grant is cut back to what they
 * grant (fail closed: st_size never exceeds the buffer), and says so.
 */
void fb_refresh(struct fs *fs, struct node *n)
{
	struct file_data *f = &n->file;
	uint64_t size;
	struct stat st;

	if (!f->has_file || (!pt_active() && !f->handed_rw) ||
	    fstat(f->buf.fd, &st))
		return;
	follow_time(&n->mtime, &f->seen_mtime, &st.st_mtim);
	follow_time(&n->ctime, &f->seen_ctime, &st.st_ctim);
	size = st.st_size < 0 ? 0 : (uint64_t)st.st_size;
	if (size == f->size)
		return;
	/* kmod: the helper may have grown the buffer itself; where is it? */
	if (fs->be->ops->refresh) {
		bool had = f->has_buf;
		uint64_t old = f->buf.size;

		if (!fs->be->ops->refresh(fs->be, &f->buf) && f->buf.size) {
			if (!had)
				count_alloc(fs, n);
			else if (f->buf.size != old)
				fs->ct.resizes++;
			quota_add(&fs->quota, n->uid, USE_BYTES,
				  (int64_t)(f->buf.size - (had ? old : 0)));
		}
		fb_unmap(n);
	}
	if (round_pages(fs, size) > capacity(n) &&
	    set_capacity(fs, n, round_pages(fs, size), false)) {
		uint64_t keep = capacity(n);	/* >= f->size, < size */

		log_err("ino %" PRIu64 ": the buffer file grew to %" PRIu64 " bytes, beyond what was granted: cut back to %" PRIu64,
			(uint64_t)n->ino, size, keep);
		if (ftruncate(f->buf.fd, (off_t)keep) == 0)
			size = keep;
		else
			size = f->size;
	}
	f->size = size;
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
	f->backed = false;
	fs->buffer_fds--;
}

int fb_set_cache(struct fs *fs, struct node *n, unsigned int cache,
		 uint32_t own_opens)
{
	struct file_data *f = &n->file;

	if (f->cache == cache)
		return 0;
	if (f->has_buf) {
		int err;

		if (n->opens > own_opens)
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

int fb_sync_begin(struct fs *fs, struct node *n, uint64_t off, uint64_t len,
		  struct buffer *out)
{
	struct file_data *f = &n->file;

	(void)fs;
	if (!f->has_buf)
		return -ENODATA;
	if (off > f->buf.size || len > f->buf.size - off)
		return -EINVAL;
	*out = f->buf;
	out->fd = fcntl(f->buf.fd, F_DUPFD_CLOEXEC, 0);
	return out->fd < 0 ? -errno : 0;
}

int fb_sync_end(struct fs *fs, struct buffer *b, uint64_t off, uint64_t len,
		unsigned int direction)
{
	int err = 0;

	if (len == 0)
		len = b->size - off;	/* to the end, as the helper sees it */
	if (len)
		err = fs->be->ops->sync(fs->be, b, off, len, direction);
	close(b->fd);
	return err;
}
