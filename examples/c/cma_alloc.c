// SPDX-License-Identifier: MIT
/*
 * cma_alloc - a physically contiguous DMA buffer from C, through cmafs.
 *
 * Build it from a checkout, in its top directory, after make lib:
 *   cc -Wall -Iinclude -o cma_alloc examples/c/cma_alloc.c lib/libcmafs.a
 * or, installed (make install), with the installed header and library:
 *   cc -Wall -o cma_alloc cma_alloc.c $(pkg-config --cflags --libs libcmafs)
 *
 *   ./cma_alloc [-k] [FILE [SIZE]]   default /cma/cma_alloc-PID, 1000000 bytes
 *
 * SIZE is bytes, decimal or 0x hexadecimal, optionally followed by K, M, G
 * or T (or KiB, MiB, ...: powers of 1024), as the daemon's sizes: 100M is
 * 104857600.  Anything else is refused with exit status 2.
 *
 * Allocates with ftruncate (cache mode chosen first), maps the buffer itself
 * with libcmafs (<libcmafs.h>: the file under FUSE passthrough, else the
 * buffer's own descriptor, so stores are in the buffer at once on every
 * kernel), fills it, syncs it for the device, reads the physical address
 * with the ioctl of <cmafs.h> and checks every step: the bytes read back, the
 * address equal to the user.cma.phys_addr attribute, the size rounded up to
 * the page size, and the CPU seeing what another writer (standing in for the
 * device) stored.
 * Exits 0 when all is well, 1 (with a message) on the first mismatch.
 * The file is removed at the end unless -k is given.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmafs.h>
#include <libcmafs.h>

static const char *path;
static int keep;

static int fail(const char *what)
{
	fprintf(stderr, "cma_alloc: %s: %s\n", path, what);
	if (!keep)
		unlink(path);
	return 1;
}

static int fail_errno(const char *what)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s: %s", what, strerror(errno));
	return fail(msg);
}

/*
 * SIZE as the daemon reads sizes: decimal or 0x hex digits, then nothing or
 * one of K M G T (any case), optionally followed by "iB".  No strtoull()
 * alone: it takes "-1", " 1" and "100M" (as 100) without a word.
 */
static int parse_size(const char *s, size_t *out)
{
	static const char units[] = "kmgt";
	unsigned int base = 10, shift = 0;
	unsigned long long v = 0;
	const char *p = s, *unit;
	int d, n = 0;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && p[2]) {
		base = 16;
		p += 2;
	}
	for (;; p++, n++) {
		char c = *p | 0x20;	/* lower case for letters */

		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			break;
		if (v > (~0ULL - (unsigned long long)d) / base)
			return -1;
		v = v * base + (unsigned long long)d;
	}
	if (!n)
		return -1;
	if (*p) {
		unit = strchr(units, *p | 0x20);
		if (!unit)
			return -1;
		shift = 10 * (unsigned int)(unit - units + 1);
		p++;
		if ((p[0] | 0x20) == 'i' && (p[1] | 0x20) == 'b')
			p += 2;
	}
	if (*p || v > (~0ULL >> shift) || (v << shift) > SIZE_MAX)
		return -1;
	*out = (size_t)(v << shift);
	return 0;
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 31 + (i >> 12) + 7);
}

int main(int argc, char *argv[])
{
	char defpath[64], attr[64];
	size_t size = 1000000, page = (size_t)sysconf(_SC_PAGESIZE), rounded;
	static const char *const kinds[] = {
		[CMAFS_MAP_PASSTHROUGH] = "the file (passthrough)",
		[CMAFS_MAP_CMABUF] = "the cmabuf descriptor",
		[CMAFS_MAP_MEMFD] = "the sim memfd",
	};
	struct cmafs_info info;
	struct cmafs_map m;
	__u32 cache = CMAFS_CACHE_CACHED;
	unsigned char *map, *back;
	uint64_t xphys;
	struct stat st;
	ssize_t n;
	int fd, fd2, opt;

	while ((opt = getopt(argc, argv, "k")) != -1) {
		if (opt != 'k') {
			fprintf(stderr, "usage: %s [-k] [FILE [SIZE]]\n", argv[0]);
			return 2;
		}
		keep = 1;
	}
	snprintf(defpath, sizeof(defpath), "/cma/cma_alloc-%d", (int)getpid());
	path = optind < argc ? argv[optind] : defpath;
	if (optind + 1 < argc && parse_size(argv[optind + 1], &size)) {
		fprintf(stderr, "cma_alloc: bad SIZE \"%s\" (expected bytes, or a number with K, M, G or T, such as 100M)\n",
			argv[optind + 1]);
		return 2;
	}
	if (size == 0) {
		fprintf(stderr, "cma_alloc: SIZE must be > 0\n");
		return 2;
	}
	rounded = (size + page - 1) / page * page;

	/* 1. A new file has no buffer; choose the cache mode before sizing. */
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "cma_alloc: %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (ioctl(fd, CMAFS_IOC_SET_CACHE, &cache))
		return fail_errno("CMAFS_IOC_SET_CACHE");

	/* 2. ftruncate allocates one contiguous, zero-filled buffer. */
	if (ftruncate(fd, (off_t)size))
		return fail_errno("ftruncate (ENOSPC: no contiguous range that large; EFBIG: larger than the pool)");

	/*
	 * 3. Map the buffer itself and fill it.  A plain mmap of fd would be
	 * a page-cache copy on a mount without passthrough.
	 */
	if (cmafs_map(fd, PROT_READ | PROT_WRITE, &m))
		return fail_errno("cmafs_map");
	map = m.addr;
	if (m.length != size)
		return fail("cmafs_map: the mapping is not the file's size");
	for (size_t i = 0; i < size; i++)
		if (map[i] != 0)
			return fail("a new buffer is not zero-filled");
	for (size_t i = 0; i < size; i++)
		map[i] = pattern(i);

	/* 4. The stores are in the buffer; a cached one's caches cleaned. */
	if (cmafs_sync(&m, 0, 0, CMAFS_SYNC_DEVICE))
		return fail_errno("cmafs_sync device");

	/* 5. Where is it? This is what a DMA engine is programmed with. */
	if (ioctl(fd, CMAFS_IOC_INFO, &info))
		return fail_errno("CMAFS_IOC_INFO");
	printf("%s: phys_addr 0x%" PRIx64 " dma_addr 0x%" PRIx64
	       " size %" PRIu64 " align %" PRIu64 " cache %u mapped: %s\n",
	       path, (uint64_t)info.phys_addr, (uint64_t)info.dma_addr,
	       (uint64_t)info.size, (uint64_t)info.align, info.cache,
	       m.kind < sizeof(kinds) / sizeof(*kinds) && kinds[m.kind] ?
	       kinds[m.kind] : "?");

	/* Checks: the ioctl and the xattr agree, the sizes are right. */
	n = getxattr(path, "user.cma.phys_addr", attr, sizeof(attr) - 1);
	if (n < 0)
		return fail_errno("getxattr user.cma.phys_addr");
	attr[n] = '\0';
	xphys = strtoull(attr, NULL, 16);
	if (xphys != info.phys_addr)
		return fail("CMAFS_IOC_INFO phys_addr differs from user.cma.phys_addr");
	if (info.size != rounded)
		return fail("buffer size is not SIZE rounded up to the page size");
	if (info.phys_addr % page || info.phys_addr == 0)
		return fail("phys_addr is zero or not page-aligned");
	if (info.cache != CMAFS_CACHE_CACHED)
		return fail("cache mode is not the one set before sizing");
	if (fstat(fd, &st) || (size_t)st.st_size != size)
		return fail("st_size is not SIZE");

	/* The bytes are in the buffer: read them back through another open. */
	back = malloc(size);
	fd2 = open(path, O_RDWR | O_CLOEXEC);
	if (!back || fd2 < 0)
		return fail_errno("open for reading back");
	if (pread(fd2, back, size, 0) != (ssize_t)size)
		return fail_errno("pread");
	if (memcmp(back, map, size))
		return fail("bytes read back differ from what was stored");

	/*
	 * 6. Another writer (here write(); normally the device) changes the
	 * buffer; after a sync for the CPU the mapping shows it.
	 */
	memset(back, 0x5a, page);
	if (pwrite(fd2, back, page, 0) != (ssize_t)page)
		return fail_errno("pwrite");
	if (cmafs_sync(&m, 0, 0, CMAFS_SYNC_CPU))	/* 0, 0: all of it */
		return fail_errno("cmafs_sync cpu");
	for (size_t i = 0; i < page && i < size; i++)
		if (map[i] != 0x5a)
			return fail("mapping does not show the other writer's data after CMAFS_SYNC_CPU");
	if (size > page && map[page] != pattern(page))
		return fail("sync for the CPU changed bytes nobody wrote");

	if (cmafs_unmap(&m))
		return fail_errno("cmafs_unmap");
	close(fd2);
	close(fd);
	free(back);
	if (!keep && unlink(path))
		return fail_errno("unlink");
	printf("%s: ok\n", path);
	return 0;
}
