// SPDX-License-Identifier: MIT
/*
 * backend_kmod - buffers from the kernel helper cmabuf.ko (/dev/cmabuf),
 * that is from the kernel's CMA area through the DMA API.
 *
 * The helper does the real work (allocation, moves, cache maintenance);
 * this file translates.  Buffers are asked for with CMABUF_ALLOC_FILE, so
 * that the helper's file behaves like the user's file (its size is
 * st_size, a write past the end grows the buffer in the kernel) and can be
 * a passthrough backing file from the moment the file is created.  Its one policy: the helper says ENOSPC for any
 * allocation it cannot make, and the user is told EFBIG when no free
 * state of the area could ever hold the request (larger than CmaTotal).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "backend.h"
#include "cmabuf.h"
#include "log.h"


struct kmod {
	struct backend be;
	int dev;
	uint64_t bytes;		/* held by this mount */
	uint64_t size_limit;	/* CmaTotal, when the helper takes a limit */
	uint32_t alloc_flags;	/* CMABUF_ALLOC_* for every buffer */
	pthread_mutex_t lock;
};

static struct kmod *to_kmod(struct backend *be)
{
	return (struct kmod *)be;
}

/* CmaTotal and CmaFree in bytes; 0 when the kernel has no CMA. */
static void cma_meminfo(uint64_t *total, uint64_t *free_bytes)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	unsigned long long kb;

	*total = *free_bytes = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "CmaTotal: %llu kB", &kb) == 1)
			*total = kb * 1024;
		else if (sscanf(line, "CmaFree: %llu kB", &kb) == 1)
			*free_bytes = kb * 1024;
	}
	fclose(f);
}

static int no_room(uint64_t size)
{
	uint64_t total, free_bytes;

	cma_meminfo(&total, &free_bytes);
	return total && size > total ? -EFBIG : -ENOSPC;
}

static int kmod_alloc(struct backend *be, uint64_t size, uint64_t align,
		      unsigned int cache, struct buffer *out)
{
	struct kmod *k = to_kmod(be);
	struct cmabuf_alloc a = {
		.size = size, .align = align, .cache = cache,
		.flags = k->alloc_flags,
	};

	if (k->size_limit && size <= k->size_limit) {
		a.flags |= CMABUF_ALLOC_LIMIT;
		a.size_limit = k->size_limit;
	}

	if (ioctl(k->dev, CMABUF_IOC_ALLOC, &a) < 0)
		return errno == ENOSPC ? no_room(size) : -errno;
	out->fd = a.fd;
	out->size = a.size;
	out->phys_addr = a.phys_addr;
	out->dma_addr = a.dma_addr;
	out->cache = cache;
	out->priv = NULL;
	pthread_mutex_lock(&k->lock);
	k->bytes += a.size;
	pthread_mutex_unlock(&k->lock);
	return 0;
}

static int kmod_resize(struct backend *be, struct buffer *buf, uint64_t size,
		       uint64_t align, unsigned int cache)
{
	struct kmod *k = to_kmod(be);
	struct cmabuf_resize r = { .size = size, .align = align,
				   .cache = cache };

	if (ioctl(buf->fd, CMABUF_IOC_RESIZE, &r) < 0)
		return errno == ENOSPC ? no_room(size) : -errno;
	pthread_mutex_lock(&k->lock);
	k->bytes = k->bytes - buf->size + r.size;
	pthread_mutex_unlock(&k->lock);
	buf->size = r.size;
	buf->phys_addr = r.phys_addr;
	buf->dma_addr = r.dma_addr;
	buf->cache = cache;
	return 0;
}

static int kmod_refresh(struct backend *be, struct buffer *buf)
{
	struct kmod *k = to_kmod(be);
	struct cmabuf_info info;

	if (ioctl(buf->fd, CMABUF_IOC_INFO, &info) < 0)
		return -errno;
	pthread_mutex_lock(&k->lock);
	k->bytes = k->bytes - buf->size + info.size;
	pthread_mutex_unlock(&k->lock);
	buf->size = info.size;
	buf->phys_addr = info.phys_addr;
	buf->dma_addr = info.dma_addr;
	return 0;
}

static int kmod_sync(struct backend *be, struct buffer *buf, uint64_t off,
		     uint64_t len, unsigned int direction)
{
	struct cmabuf_sync s = { .offset = off, .length = len,
				 .direction = direction };

	(void)be;
	return ioctl(buf->fd, CMABUF_IOC_SYNC, &s) < 0 ? -errno : 0;
}

/*
 * The helper's DUP: a file of the same buffer that cannot resize it, so
 * that allocations stay ours (and the quota's), never a client's.
 */
static int kmod_handout(struct backend *be, struct buffer *buf, bool writable,
			bool addresses)
{
	struct cmabuf_dup d = {
		.flags = CMABUF_DUP_CLOEXEC |
			 (writable ? 0 : CMABUF_DUP_RDONLY) |
			 (addresses ? 0 : CMABUF_DUP_NOADDR),
	};

	(void)be;
	if (ioctl(buf->fd, CMABUF_IOC_DUP, &d) < 0)
		return errno == ENOTTY ? -EOPNOTSUPP : -errno;
	return d.fd;
}

/* Our descriptor is one file; anything more is someone else's. */
static int kmod_held(struct backend *be, struct buffer *buf)
{
	struct cmabuf_info info;

	(void)be;
	if (ioctl(buf->fd, CMABUF_IOC_INFO, &info) < 0)
		return -errno;
	return info.files > 1 || info.maps > 0;
}

static void kmod_release(struct backend *be, struct buffer *buf)
{
	struct kmod *k = to_kmod(be);

	/* The helper frees the memory when the last mapping goes too. */
	close(buf->fd);
	buf->fd = -1;
	pthread_mutex_lock(&k->lock);
	k->bytes -= buf->size;
	pthread_mutex_unlock(&k->lock);
}

/*
 * The pool is the CMA area, shared with the rest of the system: free is
 * what the kernel reports free, and the largest free run is not exported
 * by the kernel, so it is reported as the free total (an upper bound).
 */
static void kmod_stats(struct backend *be, struct pool_stats *st)
{
	struct kmod *k = to_kmod(be);
	uint64_t total, free_bytes;

	cma_meminfo(&total, &free_bytes);
	st->pool_bytes = total;
	st->base = 0;
	st->free_bytes = free_bytes;
	st->largest_free_bytes = free_bytes;
	pthread_mutex_lock(&k->lock);
	st->used_bytes = k->bytes;
	pthread_mutex_unlock(&k->lock);
}

static void kmod_stats_extra(struct backend *be, FILE *out)
{
	struct kmod *k = to_kmod(be);
	struct cmabuf_stats s;
	uint64_t total, free_bytes;

	cma_meminfo(&total, &free_bytes);
	fprintf(out, "cma_total_bytes: %" PRIu64 "\ncma_free_bytes: %" PRIu64
		"\n", total, free_bytes);
	if (ioctl(k->dev, CMABUF_IOC_STATS, &s) == 0)
		fprintf(out,
			"helper_buffers: %llu\nhelper_bytes: %llu\n"
			"helper_alloc_failures: %llu\n"
			"helper_buddy_buffers: %llu\nhelper_buddy_bytes: %llu\n",
			(unsigned long long)s.buffers,
			(unsigned long long)s.bytes,
			(unsigned long long)s.alloc_failures,
			(unsigned long long)s.buddy_buffers,
			(unsigned long long)s.buddy_bytes);
}

static void kmod_destroy(struct backend *be)
{
	struct kmod *k = to_kmod(be);

	close(k->dev);
	pthread_mutex_destroy(&k->lock);
	free(k);
}

static const struct backend_ops kmod_ops = {
	.name = "kmod",
	.alloc = kmod_alloc,
	.resize = kmod_resize,
	.refresh = kmod_refresh,
	.sync = kmod_sync,
	.handout = kmod_handout,
	.held = kmod_held,
	.release = kmod_release,
	.stats = kmod_stats,
	.stats_extra = kmod_stats_extra,
	.destroy = kmod_destroy,
};

struct backend *backend_kmod_new(const char *devpath)
{
	struct cmabuf_version v = { 0 };
	struct kmod *k;
	int dev = open(devpath, O_RDWR | O_CLOEXEC);

	if (dev < 0) {
		log_err("cannot open %s: %s%s", devpath, strerror(errno),
			errno == ENOENT ? " (load the helper: modprobe cmabuf)" :
			errno == EACCES ? " (a udev rule can grant the cma group access)" : "");
		return NULL;
	}
	if (ioctl(dev, CMABUF_IOC_VERSION, &v) < 0 ||
	    v.abi_version != CMABUF_ABI_VERSION) {
		log_err("%s speaks another ABI (module %u, cmafs %u): rebuild the helper",
			devpath, v.abi_version, CMABUF_ABI_VERSION);
		close(dev);
		return NULL;
	}
	if (!(v.alloc_flags & CMABUF_ALLOC_FILE)) {
		log_err("%s is an older helper without file buffers: load the cmabuf.ko built with this cmafs",
			devpath);
		close(dev);
		return NULL;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		close(dev);
		return NULL;
	}
	pthread_mutex_init(&k->lock, NULL);
	k->be.ops = &kmod_ops;
	k->be.page_size = v.page_size;
	k->be.empty_buffers = true;
	k->be.bounded_growth = true;
	k->be.cmabuf_fds = true;
	k->dev = dev;
	k->alloc_flags = CMABUF_ALLOC_CLOEXEC | CMABUF_ALLOC_FILE;
	/*
	 * Without passthrough, a client's read or write holds page-cache
	 * pages of ours locked until we reply; were CMA to wait for them
	 * while migrating, we would never reply.
	 */
	if (v.alloc_flags & CMABUF_ALLOC_NOWAIT)
		k->alloc_flags |= CMABUF_ALLOC_NOWAIT;
	else
		log_err("%s is an older helper: without passthrough, an allocation may wait forever for a page a client holds locked; load the cmabuf.ko built with this cmafs",
			devpath);
	/*
	 * Under passthrough a write past the end grows the helper's file in
	 * the kernel: with the area's size as the file's limit, one that no
	 * state of the area could hold is EFBIG there too, not ENOSPC.
	 */
	if (v.alloc_flags & CMABUF_ALLOC_LIMIT) {
		uint64_t free_bytes;

		cma_meminfo(&k->size_limit, &free_bytes);
	}
	return &k->be;
}
