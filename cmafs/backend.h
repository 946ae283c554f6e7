/* SPDX-License-Identifier: MIT */
/*
 * backend - where buffers come from.
 *
 * The namespace never knows whether memory is simulated (sim) or comes from
 * the kernel helper (kmod): it allocates, resizes, syncs and frees buffers
 * through this table only.  Every buffer's bytes live in a file descriptor of
 * a regular file (sim: a memfd; kmod: the helper's buffer file), so reads and
 * writes are pread/pwrite on that descriptor and zero-copy passthrough hands
 * the same descriptor to the kernel.
 *
 * Functions return 0 or a negative errno.  A failed alloc/resize changes
 * nothing: the old buffer, its contents and its address stay valid.
 * Callers serialise calls on one buffer; the backend locks its own pool.
 */
#ifndef CMAFS_BACKEND_H
#define CMAFS_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct buffer {
	int fd;			/* regular file holding the bytes */
	uint64_t size;		/* bytes allocated (page multiple, > 0) */
	uint64_t phys_addr;
	uint64_t dma_addr;
	unsigned int cache;	/* CMAFS_CACHE_* */
	void *priv;		/* backend's own per-buffer state */
};

struct pool_stats {
	uint64_t pool_bytes;
	uint64_t used_bytes;
	uint64_t free_bytes;
	uint64_t largest_free_bytes;
	/* The pool's first address when the pool is this mount's alone
	 * (sim); 0 when it is shared and its extent unknown (kmod). */
	uint64_t base;
};

struct backend;

struct backend_ops {
	const char *name;
	/*
	 * New zero-filled buffer of @size bytes (a page multiple) aligned to
	 * @align bytes, in cache mode @cache, whose file is empty.  On failure
	 * @out is untouched.
	 */
	int (*alloc)(struct backend *be, uint64_t size, uint64_t align,
		     unsigned int cache, struct buffer *out);
	/*
	 * Change @buf to @size bytes (and cache mode @cache), keeping the
	 * first min(old, new) bytes; the file size is cut to @size if it was
	 * larger.  buf->fd stays the same file, so descriptors and mappings
	 * of it follow; the addresses may change.
	 */
	int (*resize)(struct backend *be, struct buffer *buf, uint64_t size,
		      uint64_t align, unsigned int cache);
	/* Clean (CMAFS_SYNC_DEVICE) or invalidate (CMAFS_SYNC_CPU) a range. */
	int (*sync)(struct backend *be, struct buffer *buf, uint64_t off,
		    uint64_t len, unsigned int direction);
	/*
	 * Optional: re-read size and addresses after the buffer's file grew
	 * the buffer by itself (a passthrough write past the end).
	 */
	int (*refresh)(struct backend *be, struct buffer *buf);
	/*
	 * A new descriptor of @buf for another process (the descriptor
	 * hand-off, handoff.c), close-on-exec: read-only unless @writable,
	 * reporting no addresses unless @addresses, and unable to move or
	 * resize the buffer.  Returns it or a negative errno.
	 */
	int (*handout)(struct backend *be, struct buffer *buf, bool writable,
		       bool addresses);
	/*
	 * Does a handed-out descriptor (or a mapping of one) still hold
	 * @buf?  1 yes, 0 no, negative errno when it cannot tell.
	 */
	int (*held)(struct backend *be, struct buffer *buf);
	/* Give the memory back and close buf->fd. */
	void (*release)(struct backend *be, struct buffer *buf);
	void (*stats)(struct backend *be, struct pool_stats *st);
	/* Backend-specific "key: value" lines appended to .stats. */
	void (*stats_extra)(struct backend *be, FILE *out);
	void (*destroy)(struct backend *be);
};

struct backend {
	const struct backend_ops *ops;
	uint64_t page_size;
	/*
	 * alloc and resize accept size 0: a file without memory, which keeps
	 * its descriptor so that it can be a passthrough backing file before
	 * it is sized.  Buffers of size 0 take nothing from the pool.
	 */
	bool empty_buffers;
	/*
	 * The daemon may serve reads from its own mapping of a buffer.  Not
	 * for kmod: the kernel cannot pin a driver's mapped pages for the
	 * reply to /dev/fuse.
	 */
	bool map_reads;
	/*
	 * The buffer's file refuses growth its pool cannot hold, when the
	 * kernel writes into it under passthrough (kmod: the helper does;
	 * sim: a memfd grows without limit).
	 */
	bool bounded_growth;
	/* Handed-out descriptors are cmabuf.ko buffers (its ioctls work). */
	bool cmabuf_fds;
};

struct sim_config {
	uint64_t pool_bytes;
	uint64_t phys_base;
};

/* Each returns NULL and logs one line saying why on failure. */
struct backend *backend_sim_new(const struct sim_config *cfg);
struct backend *backend_kmod_new(const char *devpath);

#endif /* CMAFS_BACKEND_H */
