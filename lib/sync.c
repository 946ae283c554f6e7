// SPDX-License-Identifier: MIT
/*
 * sync - cmafs_sync(): cache maintenance on the descriptor the mapping came
 * from.  A handed-out cmabuf descriptor takes the helper's SYNC itself, so
 * the cost is one ioctl, without a FUSE round trip; a memfd (sim) has no
 * cache between CPU and device, so ordering the stores is all there is.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdatomic.h>
#include <sys/ioctl.h>

#include "cmabuf.h"
#include "internal.h"
#include "libcmafs.h"

LC_EXPORT int cmafs_sync(const struct cmafs_map *m, uint64_t offset, uint64_t length,
	       unsigned int direction)
{
	if (!m || !m->addr || m->fd < 0 ||
	    (direction != CMAFS_SYNC_DEVICE && direction != CMAFS_SYNC_CPU) ||
	    offset > m->length || length > m->length - offset) {
		errno = EINVAL;
		return -1;
	}
	/* Stores before the sync are ordered before whatever starts the
	 * device, and loads after it see no earlier value. */
	atomic_thread_fence(memory_order_seq_cst);
	switch (m->kind) {
	case CMAFS_MAP_CMABUF: {
		struct cmabuf_sync s = {
			.offset = offset,
			.length = length,
			.direction = direction,
		};

		return ioctl(m->fd, CMABUF_IOC_SYNC, &s);
	}
	case CMAFS_MAP_PASSTHROUGH: {
		struct cmafs_sync s = {
			.offset = offset,
			.length = length,
			.direction = direction,
		};

		return ioctl(m->fd, CMAFS_IOC_SYNC, &s);
	}
	case CMAFS_MAP_MEMFD:
		return 0;
	default:
		errno = EINVAL;
		return -1;
	}
}
