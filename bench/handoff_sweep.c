// SPDX-License-Identifier: MIT
/*
 * handoff_sweep FILE SIZE - bench/mmap_sweep through libcmafs: the same
 * write sweep and read sweep, over a cmafs_map() mapping (the buffer
 * itself: the handed-out descriptor without passthrough).  The write's
 * closing cmafs_sync(CMAFS_SYNC_DEVICE) stands where mmap_sweep's msync
 * is, so both figures include what a program must do before a device may
 * read.  Prints "WRITE_GBPS READ_GBPS" (10^9 bytes per second).  An
 * optional third argument CACHE (uncached, cached, writecombine) is set as
 * user.cma.cache on the emptied file before it is sized.
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common.h"
#include "libcmafs.h"

int main(int argc, char **argv)
{
	unsigned long long size;
	volatile uint64_t sink;
	struct cmafs_map m;
	uint64_t *p, sum = 0;
	size_t i, n;
	double t0, tw, tr;
	int fd;

	if (argc != 3 && argc != 4)
		die("usage: handoff_sweep FILE SIZE [CACHE]");
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
	if (cmafs_map(fd, PROT_READ | PROT_WRITE, &m))
		die("cmafs_map %s: %s", argv[1], strerror(errno));
	close(fd);
	p = m.addr;
	t0 = now_s();
	for (i = 0; i < n; i++)
		p[i] = i;
	if (cmafs_sync(&m, 0, 0, CMAFS_SYNC_DEVICE))
		die("cmafs_sync %s: %s", argv[1], strerror(errno));
	tw = now_s() - t0;
	cmafs_unmap(&m);

	if (cmafs_map_path(argv[1], O_RDONLY, &m))
		die("cmafs_map_path %s: %s", argv[1], strerror(errno));
	p = m.addr;
	t0 = now_s();
	for (i = 0; i < n; i++)
		sum += p[i];
	tr = now_s() - t0;
	sink = sum;
	(void)sink;
	cmafs_unmap(&m);
	if (sum != (uint64_t)n * (n - 1) / 2)
		die("handoff_sweep %s: read back wrong data", argv[1]);
	printf("%.3f %.3f\n", size / tw / 1e9, size / tr / 1e9);
	return 0;
}
