/* SPDX-License-Identifier: MIT */
/*
 * buffer_ops - the user.cma.* operations, shared by the xattr and ioctl
 * handlers (below both: neither includes the other).  Each takes fs.lock
 * itself; call without it.  Returns 0 or -errno.
 */
#ifndef CMAFS_BUFFER_OPS_H
#define CMAFS_BUFFER_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "fs.h"

/*
 * Who sees a buffer's physical and DMA addresses, through every path
 * (attributes, ioctls, .buffers and .map, handed-out descriptors): the
 * -o addresses= policy, root and the owner by default.
 */
bool addresses_visible(const struct fs *fs, uid_t uid, const struct node *n);
bool may_see_addresses(fuse_req_t req, const struct node *n);
/* mmap maps the buffer itself (passthrough is in effect). */
bool mmap_direct(void);

/* @own_opens: the caller's own opens of the file (an ioctl's: 1). */
int cma_set_cache(struct fs *fs, fuse_ino_t ino, unsigned int cache,
		  uint32_t own_opens);
int cma_set_align(struct fs *fs, fuse_ino_t ino, uint64_t align);
/* May wait for the kernel (page-cache writeback): not on the request loop. */
int cma_sync(struct fs *fs, fuse_ino_t ino, uint64_t off, uint64_t len,
	     unsigned int direction);
/* fsync: whatever the CPU wrote, to the buffer and past the caches. */
int cma_fsync(struct fs *fs, fuse_ino_t ino);

#endif /* CMAFS_BUFFER_OPS_H */
