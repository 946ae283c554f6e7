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

/*
 * The descriptor hand-off (cmafs(8), THE BUFFER DESCRIPTOR).  Before Linux
 * 6.9, or without passthrough, a mapping of a file of the mount is a copy
 * in the page cache; a mapping of the buffer's own descriptor is the
 * buffer.  The daemon hands that descriptor to any process over a
 * Unix-domain socket whose path is the value of the extended attribute
 * CMAFS_SOCKET_XATTR, readable on every file of the mount.
 *
 * The socket is SOCK_SEQPACKET: one message per request and per reply.  A
 * request is a struct cmafs_handoff_req with exactly one descriptor in
 * SCM_RIGHTS: a regular file of the mount, opened through it (not O_PATH).
 * The grant is at most that descriptor's access: O_RDONLY gives a buffer
 * descriptor that cannot be mapped or made writable, O_RDWR a writable one
 * (O_WRONLY is refused: a buffer is mapped to be read).  The daemon checks
 * the access again, as open(2) through the mount would, for the user and
 * groups of the process at the other end of the socket (SO_PEERCRED,
 * SO_PEERGROUPS), never for anything the request says.  The reply is a
 * struct cmafs_handoff_reply, with the buffer's descriptor in SCM_RIGHTS
 * when error is 0.  Integers are in the machine's byte order.
 *
 * The buffer descriptor holds the buffer as an open file does: removing the
 * file frees the memory only when every handed-out descriptor is closed and
 * unmapped.  Its size follows the file's (truncate through the mount moves
 * the buffer, mappings follow); it cannot be resized through the descriptor
 * itself.  error is a positive errno:
 *   EPROTO     short request, bad magic  EPROTONOSUPPORT  version (the
 *              reply's version is the highest the daemon speaks)
 *   EINVAL     unknown op, flags or reserved field not zero, not exactly
 *              one descriptor, not a regular file (a directory: EISDIR;
 *              the mount's .stats, .buffers, .map files: EINVAL)
 *   EMSGSIZE   request longer than struct cmafs_handoff_req
 *   EBADF      an O_PATH descriptor  EXDEV  not a file of this mount
 *   EACCES     O_WRONLY, or the peer may not open the file so
 *   ENOENT     the file is gone      ENODATA  it has no buffer (size 0)
 *   EAGAIN     too many clients; try again
 */
#define CMAFS_SOCKET_XATTR "user.cma.socket"
#define CMAFS_HANDOFF_MAGIC   0x53464d43u	/* "CMFS" little-endian */
#define CMAFS_HANDOFF_VERSION 1
#define CMAFS_HANDOFF_GET     1		/* op: the buffer's descriptor */

/* cmafs_handoff_reply.flags */
#define CMAFS_HANDOFF_WRITABLE (1u << 0)	/* the descriptor is O_RDWR */
#define CMAFS_HANDOFF_CMABUF   (1u << 1)	/* a cmabuf.ko buffer: its ioctls
						 * (cmabuf.h) work on it; else a
						 * memfd (sim: no cache to sync) */

struct cmafs_handoff_req {
	__u32 magic;		/* CMAFS_HANDOFF_MAGIC */
	__u16 version;		/* CMAFS_HANDOFF_VERSION */
	__u16 op;		/* CMAFS_HANDOFF_GET */
	__u32 flags;		/* zero */
	__u32 reserved;		/* zero */
};

struct cmafs_handoff_reply {
	__u32 magic;		/* CMAFS_HANDOFF_MAGIC */
	__u16 version;		/* of this reply */
	__u16 op;		/* of the request */
	__s32 error;		/* 0, or a positive errno: no descriptor */
	__u32 flags;		/* CMAFS_HANDOFF_* */
	__u32 cache;		/* CMAFS_CACHE_* of the buffer */
	__u32 reserved;		/* zero */
	__u64 size;		/* the file's size (st_size) when handed out */
};

#define CMAFS_IOC_INFO      _IOR(CMAFS_IOC_MAGIC, 1, struct cmafs_info)
#define CMAFS_IOC_SYNC      _IOW(CMAFS_IOC_MAGIC, 2, struct cmafs_sync)
#define CMAFS_IOC_SET_CACHE _IOW(CMAFS_IOC_MAGIC, 3, __u32)
#define CMAFS_IOC_SET_ALIGN _IOW(CMAFS_IOC_MAGIC, 4, __u64)

#endif /* CMAFS_UAPI_H */
