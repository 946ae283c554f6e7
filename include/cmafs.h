/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * cmafs.h - ioctls on an open file of a cmafs mount (usually /cma).
 *
 * Every operation here is also reachable through the user.cma.* extended
 * attributes; the ioctls exist so that C programs need not format and parse
 * strings.  All calls return 0 or -1 with errno set:
 *
 *   CMAFS_IOC_INFO       ENODATA  the file has no buffer yet (size 0)
 *                        EACCES   caller is neither root nor the file's owner
 *   CMAFS_IOC_SYNC       EINVAL   bad direction, reserved field not zero, or
 *                                 offset + length beyond the buffer
 *                        ENODATA  the file has no buffer yet
 *   CMAFS_IOC_SET_CACHE  EINVAL   unknown mode or reserved field not zero
 *                        EBUSY    the file has a buffer and is open elsewhere
 *   CMAFS_IOC_SET_ALIGN  EINVAL   not a power of two, or below the page size
 *   all but INFO         EBADF    the descriptor is not open for writing
 *   all                  ENOTTY   a directory or the mount's .stats file
 *
 * Structures have fixed-width fields and reserved space that must be zero.
 */
#ifndef CMAFS_UAPI_H
#define CMAFS_UAPI_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define CMAFS_IOC_MAGIC 0xCF

/* Cache modes, shared with the kernel helper (cmabuf.h). */
#define CMAFS_CACHE_UNCACHED    0	/* coherent, Normal non-cacheable */
#define CMAFS_CACHE_CACHED      1	/* cacheable, explicit syncs */
#define CMAFS_CACHE_WRITECOMBINE 2	/* write-combining */

/* How mmap of the file behaves (SPEC section 4). */
#define CMAFS_MMAP_CACHED 0	/* page-cache copy, synced by fsync */
#define CMAFS_MMAP_DIRECT 1	/* maps the buffer itself (passthrough) */

/* Sync directions. */
#define CMAFS_SYNC_DEVICE 1	/* clean CPU caches so the device sees stores */
#define CMAFS_SYNC_CPU    2	/* invalidate so the CPU sees device writes */

struct cmafs_info {
	__u64 phys_addr;	/* start of the buffer as the CPU sees it */
	__u64 dma_addr;		/* address for the device */
	__u64 size;		/* bytes allocated, page-rounded */
	__u64 align;		/* alignment used for the next allocation */
	__u32 cache;		/* CMAFS_CACHE_* */
	__u32 mmap;		/* CMAFS_MMAP_* */
	__u64 reserved[4];
};

struct cmafs_sync {
	__u64 offset;
	__u64 length;		/* 0 = to the end of the buffer */
	__u32 direction;	/* CMAFS_SYNC_* */
	__u32 reserved;
};

#define CMAFS_IOC_INFO      _IOR(CMAFS_IOC_MAGIC, 1, struct cmafs_info)
#define CMAFS_IOC_SYNC      _IOW(CMAFS_IOC_MAGIC, 2, struct cmafs_sync)
#define CMAFS_IOC_SET_CACHE _IOW(CMAFS_IOC_MAGIC, 3, __u32)
#define CMAFS_IOC_SET_ALIGN _IOW(CMAFS_IOC_MAGIC, 4, __u64)

#endif /* CMAFS_UAPI_H */
