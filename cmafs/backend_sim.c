// SPDX-License-Identifier: MIT
/*
 * backend_sim - a simulated CMA area inside the daemon.
 *
 * Placement and accounting are the real thing (cma_area: the kernel's
 * first-fit over aligned positions); the bytes live in one memfd per buffer,
 * so that resizing keeps the same file (descriptors and mappings follow it)
 * and passthrough can hand the memfd to the kernel.  The memfd's size is
 * the file's st_size; the simulated allocation is only bookkeeping.  The
 * addresses are invented from phys_base and must never reach hardware.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "cma_area.h"
#include "cmafs.h"
#include "log.h"

struct sim {
	struct backend be;
	pthread_mutex_t lock;
	struct cma_area *area;
	uint64_t phys_base;
};

struct sim_buf {
	uint64_t first;		/* page index in the area */
	uint64_t pages;
};

static struct sim *to_sim(struct backend *be)
{
	return (struct sim *)be;
}

static void place(struct sim *s, struct buffer *buf, uint64_t first)
{
	buf->phys_addr = s->phys_base + first * s->be.page_size;
	buf->dma_addr = buf->phys_addr;
}

static int sim_alloc(struct backend *be, uint64_t size, uint64_t align,
		     unsigned int cache, struct buffer *out)
{
	struct sim *s = to_sim(be);
	uint64_t pages = size / be->page_size, first;
	struct sim_buf *sb;
	int fd, err;

	sb = malloc(sizeof(*sb));
	if (!sb)
		return -ENOMEM;
	first = 0;
	err = 0;
	if (pages) {
		pthread_mutex_lock(&s->lock);
		err = cma_area_alloc(s->area, pages, align / be->page_size,
				     &first);
		pthread_mutex_unlock(&s->lock);
	}
	if (err) {
		free(sb);
		return err;
	}
	fd = memfd_create("cmafs-sim", MFD_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pthread_mutex_lock(&s->lock);
		if (pages)
			cma_area_free(s->area, first, pages);
		pthread_mutex_unlock(&s->lock);
		free(sb);
		return err;
	}
	sb->first = first;
	sb->pages = pages;
	out->fd = fd;
	out->size = size;
	out->cache = cache;
	out->priv = sb;
	place(s, out, first);
	return 0;
}

static int sim_resize(struct backend *be, struct buffer *buf, uint64_t size,
		      uint64_t align, unsigned int cache)
{
	struct sim *s = to_sim(be);
	struct sim_buf *sb = buf->priv;
	uint64_t pages = size / be->page_size, first = sb->first;
	int err;

	if (pages != sb->pages) {
		pthread_mutex_lock(&s->lock);
		if (!sb->pages) {
			err = cma_area_alloc(s->area, pages,
					     align / be->page_size, &first);
		} else if (!pages) {
			cma_area_free(s->area, sb->first, sb->pages);
			err = 0;
			first = 0;
		} else {
			err = cma_area_resize(s->area, sb->first, sb->pages,
					      pages, align / be->page_size,
					      &first);
		}
		pthread_mutex_unlock(&s->lock);
		if (err)
			return err;
		/* The memfd only ever holds st_size bytes: cut, never grow. */
		struct stat st;

		if (!fstat(buf->fd, &st) && (uint64_t)st.st_size > size)
			(void)!ftruncate(buf->fd, (off_t)size);
	} else if (pages && align > be->page_size &&
		   ((s->phys_base / be->page_size + sb->first) %
		    (align / be->page_size))) {
		/* Same size, new alignment asked: a real move is needed. */
		pthread_mutex_lock(&s->lock);
		err = cma_area_alloc(s->area, pages, align / be->page_size,
				     &first);
		if (!err)
			cma_area_free(s->area, sb->first, sb->pages);
		pthread_mutex_unlock(&s->lock);
		if (err)
			return err;
	}
	sb->first = first;
	sb->pages = pages;
	buf->size = size;
	buf->cache = cache;
	place(s, buf, first);
	return 0;
}

static int sim_sync(struct backend *be, struct buffer *buf, uint64_t off,
		    uint64_t len, unsigned int direction)
{
	/*
	 * The memfd is the buffer: there is no cache between the CPU and a
	 * simulated device.  Checking the arguments is all that is left.
	 */
	(void)be;
	(void)buf;
	(void)off;
	(void)len;
	if (direction != CMAFS_SYNC_DEVICE && direction != CMAFS_SYNC_CPU)
		return -EINVAL;
	return 0;
}

/*
 * A new open file of the memfd (not a dup: the client gets its own offset
 * and access mode), marked with an OFD read lock.  The lock lives as long
 * as that open file does, through every dup and mapping of it, so a write
 * lock test on our own descriptor tells whether any is left (sim_held).
 * A client can drop the lock or reopen the memfd unmarked: then only the
 * simulated addresses are given back early; the memory is the client's
 * memfd pages, charged to whoever touched them.
 */
static int sim_handout(struct backend *be, struct buffer *buf, bool writable,
		       bool addresses)
{
	struct flock lock = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
	char path[64];
	int fd;

	(void)be;
	(void)addresses;	/* a memfd has none to tell */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", buf->fd);
	fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fcntl(fd, F_OFD_SETLK, &lock) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int sim_held(struct backend *be, struct buffer *buf)
{
	struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	(void)be;
	if (fcntl(buf->fd, F_OFD_GETLK, &lock) < 0)
		return -errno;
	return lock.l_type != F_UNLCK;
}

static void sim_release(struct backend *be, struct buffer *buf)
{
	struct sim *s = to_sim(be);
	struct sim_buf *sb = buf->priv;

	if (sb->pages) {
		pthread_mutex_lock(&s->lock);
		cma_area_free(s->area, sb->first, sb->pages);
		pthread_mutex_unlock(&s->lock);
	}
	close(buf->fd);
	buf->fd = -1;
	free(sb);
	buf->priv = NULL;
}

static void sim_stats(struct backend *be, struct pool_stats *st)
{
	struct sim *s = to_sim(be);
	uint64_t ps = be->page_size;

	pthread_mutex_lock(&s->lock);
	st->pool_bytes = cma_area_pages(s->area) * ps;
	st->base = s->phys_base;
	st->free_bytes = cma_area_free_pages(s->area) * ps;
	st->largest_free_bytes = cma_area_largest_free(s->area) * ps;
	pthread_mutex_unlock(&s->lock);
	st->used_bytes = st->pool_bytes - st->free_bytes;
}

static void sim_stats_extra(struct backend *be, FILE *out)
{
	fprintf(out, "phys_base: 0x%" PRIx64 "\n", to_sim(be)->phys_base);
}

static void sim_destroy(struct backend *be)
{
	struct sim *s = to_sim(be);

	cma_area_destroy(s->area);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static const struct backend_ops sim_ops = {
	.name = "sim",
	.alloc = sim_alloc,
	.resize = sim_resize,
	.sync = sim_sync,
	.handout = sim_handout,
	.held = sim_held,
	.release = sim_release,
	.stats = sim_stats,
	.stats_extra = sim_stats_extra,
	.destroy = sim_destroy,
};

struct backend *backend_sim_new(const struct sim_config *cfg)
{
	uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE);
	struct sim *s;

	if (cfg->pool_bytes < ps || cfg->pool_bytes % ps) {
		log_err("bad value for pool=: %" PRIu64
			" (must be a positive multiple of the page size %" PRIu64 ")",
			cfg->pool_bytes, ps);
		return NULL;
	}
	if (cfg->phys_base % ps ||
	    cfg->phys_base > UINT64_MAX - cfg->pool_bytes) {
		log_err("bad value for phys_base=: 0x%" PRIx64
			" (must be page aligned and leave room for the pool)",
			cfg->phys_base);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->area = cma_area_new(cfg->pool_bytes / ps);
	if (!s->area) {
		free(s);
		log_err("cannot allocate the simulated area");
		return NULL;
	}
	cma_area_set_base(s->area, cfg->phys_base / ps);
	pthread_mutex_init(&s->lock, NULL);
	s->be.ops = &sim_ops;
	s->be.page_size = ps;
	s->be.empty_buffers = true;
	s->be.map_reads = true;
	s->phys_base = cfg->phys_base;
	return &s->be;
}
