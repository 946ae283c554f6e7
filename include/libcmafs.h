/* SPDX-License-Identifier: MIT */
/*
 * libcmafs.h - map a file of a cmafs mount so that the mapping is the
 * buffer itself, on every kernel (libcmafs(3)).
 *
 * A plain mmap(2) of a file of the mount is the buffer only under FUSE
 * passthrough (user.cma.mmap = "direct"); otherwise it is a page-cache
 * copy that reaches the buffer at msync/fsync.  cmafs_map() maps the
 * buffer either way: the file itself when the mount maps directly, else
 * the buffer's own descriptor, which the daemon hands out over its socket
 * (cmafs.h, "The descriptor hand-off").
 *
 * Every call returns 0 (cmafs_buffer_fd, cmafs_handoff: a descriptor) or
 * -1 with errno set; none prints or aborts.  Link with -lcmafs
 * (pkg-config --libs libcmafs).
 */
#ifndef LIBCMAFS_H
#define LIBCMAFS_H

#include <stddef.h>
#include <stdint.h>

#include <cmafs.h>

#ifdef __cplusplus
extern "C" {
#endif

/* struct cmafs_map.kind: what the mapping is a mapping of. */
#define CMAFS_MAP_PASSTHROUGH 1	/* the file (passthrough): fd is a
				 * duplicate of its descriptor */
#define CMAFS_MAP_CMABUF      2	/* a cmabuf.ko buffer's descriptor */
#define CMAFS_MAP_MEMFD       3	/* the sim backend's memfd: no cache
				 * between the CPU and "the device" */

struct cmafs_map {
	void *addr;		/* first byte of the buffer */
	size_t length;		/* bytes mapped: the file's size then */
	int fd;			/* what cmafs_sync() uses; closed by
				 * cmafs_unmap() */
	int prot;		/* PROT_READ, or PROT_READ | PROT_WRITE */
	uint32_t kind;		/* CMAFS_MAP_* */
	uint32_t cache;		/* CMAFS_CACHE_* of the buffer */
	uint64_t reserved[4];	/* zero */
};

/*
 * The buffer's own descriptor, for a descriptor @fd opened through the
 * mount: new, O_CLOEXEC, with at most @fd's access.  cmafs_handoff() also
 * returns the daemon's reply (flags, cache mode, size) in @reply.
 */
int cmafs_buffer_fd(int fd);
int cmafs_handoff(int fd, struct cmafs_handoff_reply *reply);

/*
 * Map the whole file of @fd (PROT_READ, or PROT_READ | PROT_WRITE, which
 * needs @fd to be O_RDWR) MAP_SHARED, directly.  @fd may be closed
 * afterwards.  On failure @m has addr NULL and fd -1.
 */
int cmafs_map(int fd, int prot, struct cmafs_map *m);

/* The same for a path: @oflags O_RDONLY or O_RDWR (| O_NOFOLLOW). */
int cmafs_map_path(const char *path, int oflags, struct cmafs_map *m);

/*
 * Make CPU stores visible to the device (CMAFS_SYNC_DEVICE) or device
 * writes visible to the CPU (CMAFS_SYNC_CPU) for [@offset, @offset +
 * @length) of the mapping (@length 0: to its end).
 */
int cmafs_sync(const struct cmafs_map *m, uint64_t offset, uint64_t length,
	       unsigned int direction);

/* Unmap and close what cmafs_map() made; a no-op on a failed map. */
int cmafs_unmap(struct cmafs_map *m);

/*
 * The buffer of @fd (opened O_RDWR through the mount) as a new dma-buf
 * descriptor, for a driver to import; @flags 0 or O_CLOEXEC.  One
 * contiguous segment for the importer; the buffer cannot be resized while
 * a dma-buf of it lives (EBUSY), and its memory lives until the last
 * reference to the dma-buf is gone, even after rm.  EBADF for a read-only
 * @fd; EOPNOTSUPP on the sim backend or a helper without the export.
 */
int cmafs_dmabuf(int fd, int flags);

#ifdef __cplusplus
}
#endif

#endif /* LIBCMAFS_H */
