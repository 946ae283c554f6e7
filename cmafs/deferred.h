/* SPDX-License-Identifier: MIT */
/* deferred - a thread for replies that wait: syncs, fsyncs (see .c). */
#ifndef CMAFS_DEFERRED_H
#define CMAFS_DEFERRED_H

#include <stdbool.h>
#include <stdint.h>

#include "fs.h"

int deferred_start(struct fs *fs);
void deferred_stop(void);

/* cma_sync() and the reply (setxattr, or ioctl when @ioctl), off-loop. */
void deferred_sync(fuse_req_t req, fuse_ino_t ino, uint64_t off, uint64_t len,
		   unsigned int direction, bool ioctl);
/* cma_fsync() and the reply, off-loop. */
void deferred_fsync(fuse_req_t req, fuse_ino_t ino);

#endif /* CMAFS_DEFERRED_H */
