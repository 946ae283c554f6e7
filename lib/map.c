// SPDX-License-Identifier: MIT
/*
 * map - cmafs_map(): the buffer itself in the caller's address space.
 * Under passthrough the file maps the buffer, and mapping it spares the
 * daemon a round trip; otherwise the file would map a page-cache copy, so
 * the buffer's own descriptor is mapped instead.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "libcmafs.h"

static int fail(struct cmafs_map *m, int err)
{
	m->addr = NULL;
	m->fd = -1;
	errno = err;
	return -1;
}

static int map_direct(int fd, const struct lc_file *f, int prot,
		      struct cmafs_map *m)
{
	int cache = lc_cache_mode(fd);
	void *p;
	int dup;

	if (cache < 0)
		return fail(m, errno);
	/* A duplicate: the caller may close @fd, and syncs go through it. */
	dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup < 0)
		return fail(m, errno);
	p = mmap(NULL, (size_t)f->size, prot, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		int err = errno;

		close(dup);
		return fail(m, err);
	}
	m->addr = p;
	m->length = (size_t)f->size;
	m->fd = dup;
	m->kind = CMAFS_MAP_PASSTHROUGH;
	m->cache = (uint32_t)cache;
	return 0;
}

static int map_handoff(int fd, const struct lc_file *f, int prot,
		       struct cmafs_map *m)
{
	struct cmafs_handoff_reply r;
	/* lc_probe() has checked the descriptor: no second STATFS. */
	int bfd = lc_handoff(fd, f->accmode, &r);
	void *p;

	if (bfd < 0)
		return fail(m, errno);
	if (r.size == 0 || r.size > SIZE_MAX) {
		close(bfd);
		return fail(m, r.size ? EFBIG : ENODATA);
	}
	p = mmap(NULL, (size_t)r.size, prot, MAP_SHARED, bfd, 0);
	if (p == MAP_FAILED) {
		int err = errno;

		close(bfd);
		return fail(m, err);
	}
	m->addr = p;
	m->length = (size_t)r.size;
	m->fd = bfd;
	m->kind = (r.flags & CMAFS_HANDOFF_CMABUF) ? CMAFS_MAP_CMABUF :
						     CMAFS_MAP_MEMFD;
	m->cache = r.cache;
	return 0;
}

LC_EXPORT int cmafs_map(int fd, int prot, struct cmafs_map *m)
{
	struct lc_file f;

	if (!m) {
		errno = EINVAL;
		return -1;
	}
	memset(m, 0, sizeof(*m));
	if (prot != PROT_READ && prot != (PROT_READ | PROT_WRITE))
		return fail(m, EINVAL);
	if (lc_probe(fd, &f))
		return fail(m, errno);
	/* Refused before asking the daemon: it would only refuse later. */
	if (f.accmode == O_WRONLY ||
	    ((prot & PROT_WRITE) && f.accmode != O_RDWR))
		return fail(m, EACCES);
	if (f.size == 0)
		return fail(m, ENODATA);
	m->prot = prot;
	return f.direct ? map_direct(fd, &f, prot, m) :
			  map_handoff(fd, &f, prot, m);
}

LC_EXPORT int cmafs_map_path(const char *path, int oflags, struct cmafs_map *m)
{
	int acc = oflags & O_ACCMODE, fd, rc, err;

	if (!m) {
		errno = EINVAL;
		return -1;
	}
	if ((oflags & ~(O_ACCMODE | O_NOFOLLOW | O_CLOEXEC)) ||
	    (acc != O_RDONLY && acc != O_RDWR))
		return fail(m, EINVAL);
	fd = open(path, oflags | O_CLOEXEC);
	if (fd < 0)
		return fail(m, errno);
	rc = cmafs_map(fd, acc == O_RDWR ? PROT_READ | PROT_WRITE : PROT_READ,
		       m);
	err = errno;
	close(fd);
	errno = err;
	return rc;
}

LC_EXPORT int cmafs_unmap(struct cmafs_map *m)
{
	int rc = 0, err = 0;

	if (!m)
		return 0;
	if (m->addr && munmap(m->addr, m->length)) {
		rc = -1;
		err = errno;
	}
	if (m->fd >= 0 && close(m->fd) && !rc) {
		rc = -1;
		err = errno;
	}
	m->addr = NULL;
	m->fd = -1;
	errno = rc ? err : errno;
	return rc;
}
