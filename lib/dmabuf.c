// SPDX-License-Identifier: MIT
/*
 * dmabuf - cmafs_dmabuf(): a file of the mount as a dma-buf, for a driver
 * that imports one (V4L2_MEMORY_DMABUF, DRM PRIME).  The helper makes it
 * (CMABUF_IOC_EXPORT) on the buffer's descriptor, which the hand-off
 * gives; the dma-buf keeps that descriptor's file, so nothing stays open
 * here.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cmabuf.h"
#include "internal.h"
#include "libcmafs.h"

LC_EXPORT int cmafs_dmabuf(int fd, int flags)
{
	struct cmafs_handoff_reply r;
	struct cmabuf_export e = { 0 };
	int bfd;

	if (flags & ~O_CLOEXEC) {
		errno = EINVAL;
		return -1;
	}
	bfd = cmafs_handoff(fd, &r);
	if (bfd < 0)
		return -1;
	/* The sim backend's memfd is not contiguous memory: no dma-buf. */
	if (!(r.flags & CMAFS_HANDOFF_CMABUF)) {
		close(bfd);
		errno = EOPNOTSUPP;
		return -1;
	}
	e.flags = (flags & O_CLOEXEC) ? CMABUF_EXPORT_CLOEXEC : 0;
	if (ioctl(bfd, CMABUF_IOC_EXPORT, &e)) {
		int err = errno;

		close(bfd);
		/* An older helper knows no EXPORT. */
		errno = err == ENOTTY ? EOPNOTSUPP : err;
		return -1;
	}
	close(bfd);
	return e.fd;
}
