/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * cmabuf.h - interface of the kernel helper cmabuf.ko (kmod/).
 *
 * /dev/cmabuf hands out physically contiguous DMA buffers.  Each buffer is
 * a file descriptor of a regular file on the helper's own internal
 * filesystem: read/write/pread/pwrite/lseek stay inside the buffer, mmap
 * (MAP_SHARED only) maps the buffer itself in its cache mode, fsync cleans
 * the CPU caches for the device, fstat reports its size.  The memory is
 * freed when the last descriptor is closed and the last mapping is gone.
 * The descriptor can be used as a FUSE passthrough backing file.
 *
 * Buffers allocated with CMABUF_ALLOC_FILE ("file buffers") behave as
 * regular files of their own size instead: the file's size (st_size) is a
 * logical size from 0 to the capacity (the memory allocated, a page multiple,
 * which INFO and RESIZE report as size), starting at 0.  Such a buffer may
 * have no memory at all (capacity 0, phys_addr and dma_addr 0).  read stops at
 * the file's size; write past it extends the file; a write past the capacity
 * first grows the buffer in place of the same file (as RESIZE, to twice the
 * capacity when that can be allocated, else to exactly the end of the write
 * rounded up to the page size); ftruncate sets the size, growing the buffer
 * to exactly the new size (rounded up) when it is beyond the capacity and
 * never shrinking it, and zeroes what a shrink cuts off; mmap gives SIGBUS
 * past the page holding the end of the file.  This is what a FUSE passthrough
 * backing file must be: the kernel bounds passthrough reads by the backing
 * file's size and sends writes past it straight to the backing file.  The
 * flag is new in the same ABI version 1: check VERSION's alloc_flags.
 * With CMABUF_ALLOC_LIMIT (newer still) the file's size may not exceed
 * size_limit, as a file system's largest file size: a write starting at or
 * past it fails with EFBIG, one crossing it is shortened, and ftruncate past
 * it fails with EFBIG; nothing changes then.  (cmafs sets the CMA area's size,
 * so that a write no state of the area could hold is EFBIG, not ENOSPC.)
 * With CMABUF_ALLOC_NOWAIT (newer still) every allocation for the buffer
 * (ALLOC, RESIZE, growth by write or ftruncate) passes over the parts of
 * the CMA area where a movable page is locked, instead of waiting for it to
 * be unlocked so that it can be migrated, and fails with ENOSPC when no
 * part is left.  For a FUSE server: the page may be locked by a read or
 * write of its own file system that waits for the server's reply, i.e. for
 * the allocation.  This is implied for openers without CAP_SYS_ADMIN or
 * CAP_SYS_RAWIO (the flag changes nothing for them); only a privileged
 * opener's allocations without it wait, uninterruptibly and holding up
 * every CMA user meanwhile.  Such an allocation never uses the memory
 * reserves: it is only started while the free memory outside CMA covers
 * its size, the page allocator's reserve and a margin (1/64 of RAM, at
 * least 8 MiB), else it fails at once with ENOMEM and a log line.  Direct
 * reclaim is off during it, as during the kernel's own direct compaction.
 * A fatal signal ends it (EINTR).  See cmabuf(4), ALLOCATION AND LOCKED
 * PAGES.
 *
 * Addresses: phys_addr and dma_addr (ALLOC, INFO, RESIZE) are reported
 * only for buffers allocated through an open of /dev/cmabuf made with
 * CAP_SYS_ADMIN or CAP_SYS_RAWIO (as the kernel asks for pagemap's frame
 * numbers); for the others, and on files made by DUP with
 * CMABUF_DUP_NOADDR, they read 0.  The privilege is taken at open and
 * travels with the buffer's files, whoever calls.
 *
 * Limits (module parameters max_bytes and opener_max_bytes, see cmabuf(4)):
 * the bytes all buffers hold, and those the buffers of one unprivileged
 * open of /dev/cmabuf hold, are capped; memory over-allocated for an
 * alignment counts, and so does the old memory during a resize.
 *
 * Every call returns 0 (ALLOC: the new descriptor is in the structure) or -1
 * with errno set.  All structures have fixed-width fields; reserved fields
 * and unknown flag bits must be zero (else EINVAL) so that they can be given
 * a meaning later.  Common to every ioctl:
 *   EFAULT  the argument pointer is bad
 *   ENOTTY  unknown ioctl number (the structure size is part of the number)
 *
 * Device ioctls (on an open /dev/cmabuf):
 *   CMABUF_IOC_VERSION  never fails (but EFAULT).
 *   CMABUF_IOC_ALLOC    EBADF   /dev/cmabuf is not open for writing
 *                       EINVAL  size 0 (without CMABUF_ALLOC_FILE), size
 *                               or alignment overflow when
 *                               rounded, alignment not a power of two or
 *                               below the page size, alignment above both
 *                               256 MiB and the size rounded up to a power
 *                               of two, unknown cache mode,
 *                               unknown flag, reserved field not zero
 *                       ENOSPC  the memory could not be allocated (larger
 *                               than the area, no contiguous range free, or
 *                               an alignment no free range can meet), or
 *                               the module-wide cap (max_bytes) would be
 *                               exceeded; the kernel log says which, rate
 *                               limited: "cmabuf: alloc failed, req-size:
 *                               N pages, ..." or "cmabuf: max_bytes cap
 *                               reached: ...".  Allocations are made with
 *                               __GFP_NOWARN: neither CMA nor the page
 *                               allocator logs anything of its own
 *                       EDQUOT  the cap of the opener (opener_max_bytes;
 *                               openers without CAP_SYS_ADMIN and
 *                               CAP_SYS_RAWIO only) would be exceeded;
 *                               "cmabuf: opener_max_bytes cap reached ..."
 *                       EOPNOTSUPP  cache mode not available from the
 *                               configured memory region (cached buffers
 *                               need a reusable CMA region)
 *                       EMFILE  no free descriptor
 *                       ENOMEM  free memory outside CMA too low for an
 *                               allocation that passes over locked pages
 *                               (see CMABUF_ALLOC_NOWAIT above; "cmabuf:
 *                               ...: not enough free memory outside CMA
 *                               ..."), or the helper's own bookkeeping
 *                               failed
 *                       EINTR   a fatal signal came (the task is dying)
 *   CMABUF_IOC_STATS    never fails (but EFAULT).
 *
 * Buffer ioctls (on a buffer descriptor):
 *   CMABUF_IOC_INFO     never fails (but EFAULT); works read-only.
 *   CMABUF_IOC_SYNC     EINVAL  unknown direction, reserved field not zero,
 *                               offset + length beyond the buffer
 *                       EBADF   CMABUF_SYNC_CPU on a descriptor not open
 *                               for writing (invalidating discards stores
 *                               not yet cleaned); CMABUF_SYNC_DEVICE works
 *                               read-only
 *   CMABUF_IOC_RESIZE   EBADF   not open for writing
 *                       EPERM   a file made by DUP (or a reopen of one)
 *                       EINVAL  as for ALLOC (size 0 is valid for file
 *                               buffers: it frees the memory, keeps the
 *                               file and cuts its size to 0)
 *                       ENOSPC, EDQUOT, ENOMEM, EINTR  as for ALLOC
 *                               (the caps are those of the buffer's
 *                               opener); the buffer is unchanged
 *                       EBUSY   a change of cache mode while the buffer is
 *                               mapped
 *                       EOPNOTSUPP  as for ALLOC
 *   CMABUF_IOC_DUP      EINVAL  unknown flag, reserved field not zero
 *                       EBADF   not open for writing, without
 *                               CMABUF_DUP_RDONLY
 *                       EMFILE  no free descriptor
 *                       ENOMEM  the kernel's bookkeeping failed
 *
 * read/write: a read at or past the end returns 0, a write at or past the
 * end fails with ENOSPC; transfers that cross the end are shortened.
 * mmap: EINVAL for MAP_PRIVATE, EPERM for PROT_EXEC (the buffers' file
 * system is noexec); pages past the end of the buffer give SIGBUS when
 * touched (as for a truncated file).  chmod and chown: EPERM.  ftruncate
 * of a buffer that is not a file buffer: EINVAL (RESIZE sets its size).
 * For file buffers, "the end" is the file's size: a read at or past it
 * returns 0 and one across it is shortened; a write extends the file, and
 * when the buffer must grow and cannot, it writes what fits below the
 * capacity and returns that count, or fails with ENOSPC (nothing changed)
 * when nothing fits; ftruncate beyond the capacity fails with ENOSPC when
 * the memory cannot be allocated, and nothing changes; growth by write or
 * ftruncate moves the memory as RESIZE does (INFO tells the new address and
 * capacity; descriptors and mappings follow).
 *
 * Placement: the DMA API serves single-page buffers from the page allocator
 * (unless the helper has a memory-region of its own) and larger ones from
 * CMA; when CMA cannot place a buffer of up to the page
 * allocator's largest order, dma-direct falls back to the page allocator, so
 * such a buffer may lie outside the CMA area.  INFO flags such a buffer
 * CMABUF_INFO_BUDDY and STATS counts them (buddy_buffers, buddy_bytes): their
 * memory is contiguous and within the DMA mask as any other, but it is not
 * taken from CmaFree.  (These flag and counters are new in ABI version 1 too:
 * older modules report zero.)
 *
 * Device tree: bind the helper to a node with
 *	compatible = "cmafs,cmabuf";
 *	memory-region = <&pool>;	(optional)
 * where pool is a reserved-memory node with compatible = "shared-dma-pool"
 * ("reusable" for a CMA region; a "no-map" pool serves uncached and
 * writecombine buffers only).  Without a bound node the helper allocates
 * from the default CMA area (cma= on the kernel command line).
 */
#ifndef CMABUF_UAPI_H
#define CMABUF_UAPI_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define CMABUF_DEVICE		"/dev/cmabuf"
#define CMABUF_DT_COMPATIBLE	"cmafs,cmabuf"
#define CMABUF_ABI_VERSION	1

#define CMABUF_IOC_MAGIC	0xCB

/* Cache modes: the same numbers as CMAFS_CACHE_* in cmafs.h. */
#define CMABUF_CACHE_UNCACHED		0	/* coherent memory: Normal non-cacheable on arm64 */
#define CMABUF_CACHE_CACHED		1	/* cacheable, explicit syncs */
#define CMABUF_CACHE_WRITECOMBINE	2	/* DMA_ATTR_WRITE_COMBINE */

/* Sync directions: the same numbers as CMAFS_SYNC_* in cmafs.h. */
#define CMABUF_SYNC_DEVICE	1	/* clean CPU caches: the device sees CPU stores */
#define CMABUF_SYNC_CPU		2	/* invalidate: the CPU sees device writes */

/* CMABUF_IOC_VERSION */
struct cmabuf_version {
	__u32 abi_version;	/* out: CMABUF_ABI_VERSION of the module */
	__u32 page_size;	/* out: sizes are rounded up to this */
	__u64 alloc_flags;	/* out: CMABUF_ALLOC_* bits the module knows */
	__u64 reserved[4];	/* out: zero */
};

/* cmabuf_alloc.flags */
#define CMABUF_ALLOC_CLOEXEC	(1u << 0)	/* FD_CLOEXEC on the new descriptor */
#define CMABUF_ALLOC_FILE	(1u << 1)	/* a file buffer (see above) */
#define CMABUF_ALLOC_LIMIT	(1u << 2)	/* size_limit is set (file buffers) */
#define CMABUF_ALLOC_NOWAIT	(1u << 3)	/* never wait for a locked page (see above;
						 * implied for unprivileged openers) */
#define CMABUF_ALLOC_FLAGS	(CMABUF_ALLOC_CLOEXEC | CMABUF_ALLOC_FILE | \
				 CMABUF_ALLOC_LIMIT | CMABUF_ALLOC_NOWAIT)

/* CMABUF_IOC_ALLOC */
struct cmabuf_alloc {
	__u64 size;		/* in: bytes (> 0, or 0 for a file buffer);
				 * out: rounded up to the page size */
	__u64 align;		/* in: 0 = page size, else power of two >= page size */
	__u32 cache;		/* in: CMABUF_CACHE_* */
	__u32 flags;		/* in: CMABUF_ALLOC_* */
	__s32 fd;		/* out: buffer descriptor (read/write) */
	__u32 reserved0;	/* in: zero */
	__u64 phys_addr;	/* out: start as the CPU sees it */
	__u64 dma_addr;		/* out: start as the device sees it */
	__u64 size_limit;	/* in, with CMABUF_ALLOC_LIMIT: the largest
				 * size of the file (else zero) */
	__u64 reserved[3];	/* in: zero */
};

/* CMABUF_IOC_STATS: counters of the whole module. */
struct cmabuf_stats {
	__u64 buffers;		/* buffers alive (descriptor or mapping held) */
	__u64 bytes;		/* bytes allocated for them */
	__u64 allocs;		/* successful allocations, resizes included */
	__u64 alloc_failures;	/* failed allocations, resizes included */
	__u64 frees;		/* memory regions given back */
	__u64 resizes;		/* successful resizes, file buffers' growth
				 * by write or ftruncate included */
	__u64 buddy_buffers;	/* alive buffers from the page allocator */
	__u64 buddy_bytes;	/* bytes allocated for them */
	__u64 reserved[4];	/* zero */
};

/* cmabuf_info.flags */
#define CMABUF_INFO_MAPPED	(1u << 0)	/* some process maps the buffer */
#define CMABUF_INFO_FILE	(1u << 1)	/* made with CMABUF_ALLOC_FILE */
#define CMABUF_INFO_BUDDY	(1u << 2)	/* from the page allocator, not CMA
						 * (see Placement) */

/* CMABUF_IOC_INFO */
struct cmabuf_info {
	__u64 phys_addr;	/* start as the CPU sees it */
	__u64 dma_addr;		/* start as the device sees it */
	__u64 size;		/* bytes allocated (capacity), a page multiple */
	__u64 align;		/* alignment asked for at the last alloc/resize */
	__u32 cache;		/* CMABUF_CACHE_* */
	__u32 flags;		/* CMABUF_INFO_* */
	__u32 files;		/* open files of the buffer (descriptors
				 * from ALLOC, DUP and reopens; a file
				 * shared by dup(2) or fork counts once) */
	__u32 maps;		/* mappings (VMAs) of it */
	__u32 exports;		/* live dma-bufs of it (CMABUF_IOC_EXPORT) */
	__u32 reserved32;	/* zero */
	__u64 reserved[2];	/* zero */
};

/*
 * CMABUF_IOC_DUP: a new file of the same buffer, to hand to another process
 * (cmafs's descriptor hand-off).  It shares the memory, size and mappings'
 * fate with the original, but cannot change the size: RESIZE fails with
 * EPERM, ftruncate (and truncate through /proc/PID/fd) with EPERM, and
 * writes stop at the file's size (ENOSPC at or past it; one across it is
 * shortened).  CMABUF_DUP_RDONLY: a read-only file (write fails with EBADF,
 * a writable shared mapping or mprotect to writable with EACCES, SYNC_CPU
 * with EBADF; it cannot be reopened for writing).  CMABUF_DUP_NOADDR: INFO
 * on it reports no addresses (0), whoever calls.  The restrictions are
 * those of the file's own dentry: a reopen through /proc/PID/fd keeps them,
 * and a DUP of a DUP can only add to them.  INFO's files counts every
 * struct file of the buffer (a mapping holds the file it was made from
 * open until it is unmapped); files == 1 and maps == 0 on one's own
 * descriptor mean that nobody else holds the buffer.
 */
#define CMABUF_DUP_RDONLY	(1u << 0)
#define CMABUF_DUP_CLOEXEC	(1u << 1)
#define CMABUF_DUP_NOADDR	(1u << 2)
#define CMABUF_DUP_FLAGS	(CMABUF_DUP_RDONLY | CMABUF_DUP_CLOEXEC | \
				 CMABUF_DUP_NOADDR)

struct cmabuf_dup {
	__u32 flags;		/* in: CMABUF_DUP_* */
	__s32 fd;		/* out: the new descriptor */
	__u64 reserved[3];	/* in: zero */
};

/*
 * CMABUF_IOC_EXPORT: the buffer as a dma-buf, for another driver to import
 * (V4L2_MEMORY_DMABUF, DRM PRIME, ...).  Its map_dma_buf gives the
 * importer one contiguous segment, mapped for the importer's device;
 * mmap(2) of the dma-buf maps the buffer with its cache mode, and
 * DMA_BUF_IOCTL_SYNC syncs a cached buffer (a no-op for the others).  The
 * dma-buf holds the file it was made from: the memory lives until the last
 * reference to the dma-buf is gone, whatever happens to other descriptors
 * (cmafs: after rm).  While a dma-buf of the buffer lives, anything that
 * would move the buffer (RESIZE, growth past the capacity by write or
 * ftruncate, a shrink that frees memory) fails with EBUSY: an importer
 * keeps the address it was given.  Errors: EBADF the descriptor is not
 * open for writing (a device may write through the dma-buf); EINVAL
 * unknown flag, reserved not zero, fd not 0, or a buffer of no memory (a
 * file buffer of size 0); EOPNOTSUPP memory without struct pages (a no-map
 * memory-region).
 */
#define CMABUF_EXPORT_CLOEXEC	(1u << 0)	/* FD_CLOEXEC on the dma-buf */

struct cmabuf_export {
	__u32 flags;		/* in: CMABUF_EXPORT_* */
	__s32 fd;		/* in: 0; out: the dma-buf's descriptor */
	__u64 size;		/* out: its size, the buffer's capacity */
	__u64 reserved[2];	/* in: zero */
};

/* CMABUF_IOC_SYNC */
struct cmabuf_sync {
	__u64 offset;
	__u64 length;		/* 0 = to the end of the buffer */
	__u32 direction;	/* CMABUF_SYNC_* */
	__u32 reserved;		/* zero */
};

/*
 * CMABUF_IOC_RESIZE: move the buffer to a new contiguous region of @size
 * bytes in cache mode @cache, keeping the first min(old, new) bytes (the rest
 * is zero).  The descriptor stays the same file: other descriptors and
 * mappings of it follow (mappings fault onto the new memory).  On failure
 * nothing changes.  A file buffer's size is cut to the new capacity if it
 * was larger, else kept.
 */
struct cmabuf_resize {
	__u64 size;		/* in: bytes (> 0, or 0 for a file buffer);
				 * out: rounded up */
	__u64 align;		/* in: as in cmabuf_alloc */
	__u32 cache;		/* in: CMABUF_CACHE_* */
	__u32 flags;		/* in: zero (none defined yet) */
	__u64 phys_addr;	/* out */
	__u64 dma_addr;		/* out */
	__u64 reserved[4];	/* in: zero */
};

#define CMABUF_IOC_VERSION	_IOR(CMABUF_IOC_MAGIC, 0x00, struct cmabuf_version)
#define CMABUF_IOC_ALLOC	_IOWR(CMABUF_IOC_MAGIC, 0x01, struct cmabuf_alloc)
#define CMABUF_IOC_STATS	_IOR(CMABUF_IOC_MAGIC, 0x02, struct cmabuf_stats)
#define CMABUF_IOC_INFO		_IOR(CMABUF_IOC_MAGIC, 0x10, struct cmabuf_info)
#define CMABUF_IOC_SYNC		_IOW(CMABUF_IOC_MAGIC, 0x11, struct cmabuf_sync)
#define CMABUF_IOC_RESIZE	_IOWR(CMABUF_IOC_MAGIC, 0x12, struct cmabuf_resize)
#define CMABUF_IOC_DUP		_IOWR(CMABUF_IOC_MAGIC, 0x13, struct cmabuf_dup)
#define CMABUF_IOC_EXPORT	_IOWR(CMABUF_IOC_MAGIC, 0x14, struct cmabuf_export)

#endif /* CMABUF_UAPI_H */
