// SPDX-License-Identifier: MIT
/*
 * mmap_sweep FILE SIZE - mmap write sweep, then mmap read sweep.
 *
 * Write: create/truncate FILE, ftruncate to SIZE, map it MAP_SHARED and store
 * one 64-bit word at a time over the whole mapping (first touch: the page
 * faults are part of the cost), then msync(MS_SYNC) so the data is in the
 * file (a no-op on tmpfs and with direct mappings; the write-back without).
 * Read: close, reopen, map afresh and sum every 64-bit word.
 * Prints "WRITE_GBPS READ_GBPS" (10^9 bytes per second).  An optional
 * third argument CACHE (uncached, cached, writecombine) is set as
 * user.cma.cache on the emptied file before it is sized (cmafs files only).
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv)
{
	unsigned long long size;
	volatile uint64_t sink;
	uint64_t *p, sum = 0;
	size_t i, n;
	double t0, tw, tr;
	int fd;

	if (argc != 3 && argc != 4)
		die("usage: mmap_sweep FILE SIZE [CACHE]");
	size = parse_size(argv[2]);
	n = size / sizeof(uint64_t);

	fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("open %s: %s", argv[1], strerror(errno));
	if (argc == 4 && fsetxattr(fd, "user.cma.cache", argv[3],
				   strlen(argv[3]), 0))
		die("user.cma.cache=%s on %s: %s", argv[3], argv[1],
		    strerror(errno));
	if (ftruncate(fd, (off_t)size))
		die("ftruncate %s: %s", argv[1], strerror(errno));
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap %s: %s", argv[1], strerror(errno));
	t0 = now_s();
	for (i = 0; i < n; i++)
		p[i] = i;
	if (msync(p, size, MS_SYNC))
		die("msync %s: %s", argv[1], strerror(errno));
	tw = now_s() - t0;
	munmap(p, size);
	close(fd);

	fd = open(argv[1], O_RDONLY);
	if (fd < 0)
		die("reopen %s: %s", argv[1], strerror(errno));
	p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap (read) %s: %s", argv[1], strerror(errno));
	t0 = now_s();
	for (i = 0; i < n; i++)
		sum += p[i];
	tr = now_s() - t0;
	sink = sum;
	(void)sink;
	munmap(p, size);
	close(fd);
	/* sum of 0..n-1: checks that the read saw what the write stored */
	if (sum != (uint64_t)n * (n - 1) / 2)
		die("mmap_sweep %s: read back wrong data", argv[1]);
	printf("%.3f %.3f\n", size / tw / 1e9, size / tr / 1e9);
	return 0;
}
