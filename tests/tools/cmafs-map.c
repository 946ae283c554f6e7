/* SPDX-License-Identifier: MIT */
/*
 * cmafs-map - libcmafs (include/libcmafs.h) from the bats suites.  Each
 * command prints its findings on one line and exits 0, or prints the errno
 * name of the call that failed and exits 1.
 *
 *   cmafs-map map FILE ro|rw        cmafs_map_path: kind= cache= length=
 *   cmafs-map store FILE OFF BYTE   store BYTE at OFF through a cmafs_map
 *                                   mapping, no sync; then, through a
 *                                   second buffer descriptor handed out
 *                                   for a new open of FILE: pread= map=
 *   cmafs-map pcstore FILE OFF BYTE the same store through a plain mmap of
 *                                   FILE (the mount's own mapping), no
 *                                   msync: what the buffer holds then
 *   cmafs-map devwrite FILE OFF BYTE a map of FILE first, then BYTE written
 *                                   at OFF through a second buffer
 *                                   descriptor (the device's stand-in):
 *                                   what the first mapping shows, no sync
 *   cmafs-map peek FILE OFF         the byte at OFF as a buffer descriptor
 *                                   handed out now sees it: pread= map=
 *   cmafs-map readonly FILE         FILE opened O_RDONLY: cmafs_map
 *                                   writable=, its buffer descriptor mapped
 *                                   PROT_WRITE mmap=, mapped PROT_READ then
 *                                   mprotect(PROT_WRITE) mprotect=, and
 *                                   its access mode acc=
 *   cmafs-map errors PATH           PATH opened O_RDONLY (a directory too):
 *                                   map= and bufferfd= (errno names or ok)
 *   cmafs-map sync FILE device|cpu  cmafs_sync over the whole map
 *   cmafs-map fds FILE N            N map/unmap cycles: descriptors open
 *                                   before= and after= (no leak)
 *   cmafs-map frames FILE           a cmafs_map mapping of FILE: the
 *                                   physical address of its first page and
 *                                   whether the rest follows it (pagemap:
 *                                   root) phys= contiguous=, and an FNV-1a
 *                                   hash of its bytes fnv=
 *   cmafs-map dmabuf FILE           the same for a mapping of the dma-buf
 *                                   cmafs_dmabuf makes of FILE (O_RDWR)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libcmafs.h"

static const char *ename(int err)
{
	const char *n = strerrorname_np(err);

	return n ? n : "E?";
}

static int die(void)
{
	printf("%s\n", ename(errno));
	return 1;
}

static const char *kind_name(uint32_t k)
{
	switch (k) {
	case CMAFS_MAP_PASSTHROUGH: return "passthrough";
	case CMAFS_MAP_CMABUF: return "cmabuf";
	case CMAFS_MAP_MEMFD: return "memfd";
	default: return "?";
	}
}

/*
 * A second, independent buffer descriptor for @path, taken before the store
 * it is to check: closing a descriptor of a FUSE file writes its dirty
 * page-cache pages back, which would hide what the store did.
 */
static int second_fd(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), bfd;

	if (fd < 0)
		return -1;
	bfd = cmafs_buffer_fd(fd);
	close(fd);
	return bfd;
}

/* The byte at @off as @bfd sees it: by pread and through a mapping. */
static int look(int bfd, size_t off, unsigned char *pr, unsigned char *mp)
{
	unsigned char *p;

	if (pread(bfd, pr, 1, (off_t)off) != 1)
		return -1;
	p = mmap(NULL, off + 1, PROT_READ, MAP_SHARED, bfd, 0);
	if (p == MAP_FAILED)
		return -1;
	*mp = p[off];
	munmap(p, off + 1);
	return 0;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* phys= contiguous= fnv= of @len bytes mapped at @p. */
static int frames(const unsigned char *p, size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t e, first = 0, h = 14695981039346656037ull;
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC), contig = 1;
	size_t i;

	if (pm < 0)
		return die();
	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	for (i = 0; i < len; i += (size_t)page) {
		uint64_t pfn;

		if (pread(pm, &e, sizeof(e), (off_t)((uintptr_t)(p + i) / page * 8)) != sizeof(e))
			return die();
		pfn = e & ((1ull << 55) - 1);
		if (!(e >> 63) || !pfn) {
			errno = EPERM;	/* not present, or PFNs hidden */
			return die();
		}
		if (!i)
			first = pfn;
		else if (pfn != first + i / (size_t)page)
			contig = 0;
	}
	close(pm);
	printf("phys=0x%" PRIx64 " contiguous=%d fnv=%016" PRIx64 "\n",
	       first * (uint64_t)page, contig, h);
	return 0;
}

int main(int argc, char **argv)
{
	struct cmafs_map m;
	unsigned char pr, mp;
	const char *cmd = argc > 2 ? argv[1] : "", *path = argc > 2 ? argv[2] : "";
	size_t off = argc > 3 ? strtoul(argv[3], NULL, 0) : 0;
	int byte = argc > 4 ? (int)strtol(argv[4], NULL, 0) : 0;

	if (!strcmp(cmd, "map") && argc == 4) {
		if (cmafs_map_path(path, strcmp(argv[3], "rw") ? O_RDONLY :
				   O_RDWR, &m))
			return die();
		printf("kind=%s cache=%u length=%zu\n", kind_name(m.kind),
		       m.cache, m.length);
		return cmafs_unmap(&m) ? die() : 0;
	}
	if (!strcmp(cmd, "store") && argc == 5) {
		int bfd = second_fd(path);

		if (bfd < 0 || cmafs_map_path(path, O_RDWR, &m))
			return die();
		((volatile unsigned char *)m.addr)[off] = (unsigned char)byte;
		if (look(bfd, off, &pr, &mp))
			return die();
		printf("kind=%s pread=0x%02x map=0x%02x\n", kind_name(m.kind),
		       pr, mp);
		return cmafs_unmap(&m) ? die() : 0;
	}
	if (!strcmp(cmd, "peek") && argc == 4) {
		int bfd = second_fd(path);

		if (bfd < 0 || look(bfd, off, &pr, &mp))
			return die();
		printf("pread=0x%02x map=0x%02x\n", pr, mp);
		return 0;
	}
	if (!strcmp(cmd, "pcstore") && argc == 5) {
		int bfd = second_fd(path), fd = open(path, O_RDWR | O_CLOEXEC);
		unsigned char *p;

		if (bfd < 0 || fd < 0)
			return die();
		p = mmap(NULL, off + 1, PROT_READ | PROT_WRITE, MAP_SHARED,
			 fd, 0);
		if (p == MAP_FAILED)
			return die();
		((volatile unsigned char *)p)[off] = (unsigned char)byte;
		if (look(bfd, off, &pr, &mp))
			return die();
		printf("pread=0x%02x map=0x%02x\n", pr, mp);
		munmap(p, off + 1);
		close(fd);
		return 0;
	}
	if (!strcmp(cmd, "devwrite") && argc == 5) {
		unsigned char b = (unsigned char)byte;
		int fd = open(path, O_RDWR | O_CLOEXEC), bfd;

		if (fd < 0 || cmafs_map(fd, PROT_READ, &m))
			return die();
		bfd = cmafs_buffer_fd(fd);
		if (bfd < 0 || pwrite(bfd, &b, 1, (off_t)off) != 1)
			return die();
		printf("kind=%s map=0x%02x\n", kind_name(m.kind),
		       ((volatile unsigned char *)m.addr)[off]);
		close(bfd);
		close(fd);
		return cmafs_unmap(&m) ? die() : 0;
	}
	if (!strcmp(cmd, "readonly") && argc == 3) {
		int fd = open(path, O_RDONLY | O_CLOEXEC), bfd, e_map, e_mmap,
		    e_mprot = 0, acc;
		void *p;

		if (fd < 0)
			return die();
		e_map = cmafs_map(fd, PROT_READ | PROT_WRITE, &m) ? errno : 0;
		bfd = cmafs_buffer_fd(fd);
		if (bfd < 0)
			return die();
		acc = fcntl(bfd, F_GETFL) & O_ACCMODE;
		p = mmap(NULL, 1, PROT_READ | PROT_WRITE, MAP_SHARED, bfd, 0);
		e_mmap = p == MAP_FAILED ? errno : 0;
		p = mmap(NULL, 1, PROT_READ, MAP_SHARED, bfd, 0);
		if (p == MAP_FAILED)
			return die();
		if (mprotect(p, 1, PROT_READ | PROT_WRITE))
			e_mprot = errno;
		printf("writable=%s mmap=%s mprotect=%s acc=%s\n",
		       e_map ? ename(e_map) : "ok",
		       e_mmap ? ename(e_mmap) : "ok",
		       e_mprot ? ename(e_mprot) : "ok",
		       acc == O_RDONLY ? "rdonly" : "writable");
		return 0;
	}
	if (!strcmp(cmd, "errors") && argc == 3) {
		int fd = open(path, O_RDONLY | O_CLOEXEC), e_map, bfd;

		if (fd < 0)
			return die();
		e_map = cmafs_map(fd, PROT_READ, &m) ? errno : 0;
		bfd = cmafs_buffer_fd(fd);
		printf("map=%s bufferfd=%s\n", e_map ? ename(e_map) : "ok",
		       bfd < 0 ? ename(errno) : "ok");
		return 0;
	}
	if (!strcmp(cmd, "sync") && argc == 4) {
		unsigned int dir = !strcmp(argv[3], "cpu") ? CMAFS_SYNC_CPU :
							      CMAFS_SYNC_DEVICE;

		if (cmafs_map_path(path, O_RDWR, &m) ||
		    cmafs_sync(&m, 0, 0, dir))
			return die();
		printf("kind=%s ok\n", kind_name(m.kind));
		return cmafs_unmap(&m) ? die() : 0;
	}
	if (!strcmp(cmd, "frames") && argc == 3) {
		if (cmafs_map_path(path, O_RDONLY, &m))
			return die();
		return frames(m.addr, m.length);
	}
	if (!strcmp(cmd, "dmabuf") && argc == 3) {
		struct stat st;
		int fd = open(path, O_RDWR | O_CLOEXEC), db;
		void *p;

		if (fd < 0 || fstat(fd, &st))
			return die();
		db = cmafs_dmabuf(fd, O_CLOEXEC);
		if (db < 0)
			return die();
		close(fd);
		p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, db, 0);
		if (p == MAP_FAILED)
			return die();
		return frames(p, (size_t)st.st_size);
	}
	if (!strcmp(cmd, "fds") && argc == 4) {
		int before = count_fds();

		for (size_t i = 0; i < off; i++) {
			if (cmafs_map_path(path, O_RDWR, &m))
				return die();
			if (cmafs_unmap(&m))
				return die();
		}
		printf("before=%d after=%d\n", before, count_fds());
		return 0;
	}
	fprintf(stderr, "usage: see the comment at the top of %s\n", __FILE__);
	return 2;
}
