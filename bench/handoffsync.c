// SPDX-License-Identifier: MIT
/*
 * handoffsync FILE N - what a sync for the device costs, N samples each,
 * as "MEDIAN_US P99_US" per line, over the whole of FILE's buffer:
 *   1. the helper's own CMABUF_IOC_SYNC on the handed-out descriptor
 *   2. cmafs_sync(CMAFS_SYNC_DEVICE) on a libcmafs mapping of it
 *   3. fsync of FILE through the mount (a FUSE round trip)
 * Only a cmabuf.ko buffer has a sync of its own: on any other mapping it
 * prints "n/a" and exits 0.  Interleaved sample by sample.
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cmabuf.h"
#include "common.h"
#include "libcmafs.h"

int main(int argc, char **argv)
{
	struct cmabuf_sync s = { .direction = CMABUF_SYNC_DEVICE };
	struct cmafs_map m;
	double *lat[3];
	size_t n, i;
	int fd;

	if (argc != 3)
		die("usage: handoffsync FILE N");
	n = (size_t)parse_size(argv[2]);
	fd = open(argv[1], O_RDWR);
	if (n == 0 || fd < 0 || cmafs_map(fd, PROT_READ | PROT_WRITE, &m))
		die("handoffsync %s: %s", argv[1], strerror(errno));
	if (m.kind != CMAFS_MAP_CMABUF) {
		printf("n/a\n");
		return 0;
	}
	for (int k = 0; k < 3; k++)
		if (!(lat[k] = calloc(n, sizeof(double))))
			die("out of memory");
	for (i = 0; i < n; i++) {
		double t0;

		((volatile char *)m.addr)[i % m.length] = (char)i;
		t0 = now_s();
		if (ioctl(m.fd, CMABUF_IOC_SYNC, &s))
			die("CMABUF_IOC_SYNC: %s", strerror(errno));
		lat[0][i] = now_s() - t0;
		t0 = now_s();
		if (cmafs_sync(&m, 0, 0, CMAFS_SYNC_DEVICE))
			die("cmafs_sync: %s", strerror(errno));
		lat[1][i] = now_s() - t0;
		t0 = now_s();
		if (fsync(fd))
			die("fsync: %s", strerror(errno));
		lat[2][i] = now_s() - t0;
	}
	for (int k = 0; k < 3; k++)
		report(lat[k], n);
	cmafs_unmap(&m);
	close(fd);
	return 0;
}
