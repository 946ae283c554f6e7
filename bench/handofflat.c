// SPDX-License-Identifier: MIT
/*
 * handofflat FILE N - latency of getting at a buffer, N samples each, in
 * microseconds, as "MEDIAN P99" per line:
 *   1. open + mmap + munmap + close of FILE through the mount (what a
 *      program without libcmafs does)
 *   2. cmafs_buffer_fd on an open descriptor + close (the hand-off alone:
 *      connect, one request, one reply)
 *   3. open + cmafs_map + cmafs_unmap + close (the whole library path)
 * FILE must exist with a buffer.  The kinds are interleaved sample by
 * sample so that noise hits all three alike.
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "libcmafs.h"

int main(int argc, char **argv)
{
	double *lat[3];
	struct cmafs_map m;
	struct stat st;
	size_t n, i;
	int fd;

	if (argc != 3)
		die("usage: handofflat FILE N");
	n = (size_t)parse_size(argv[2]);
	if (n == 0 || stat(argv[1], &st) || st.st_size == 0)
		die("handofflat: %s: no buffer, or N is 0", argv[1]);
	for (int k = 0; k < 3; k++)
		if (!(lat[k] = calloc(n, sizeof(double))))
			die("out of memory");
	fd = open(argv[1], O_RDWR);
	if (fd < 0)
		die("open %s: %s", argv[1], strerror(errno));
	for (i = 0; i < n; i++) {
		double t0 = now_s();
		void *p;
		int f, bfd;

		f = open(argv[1], O_RDWR);
		p = f < 0 ? MAP_FAILED : mmap(NULL, (size_t)st.st_size,
					      PROT_READ | PROT_WRITE,
					      MAP_SHARED, f, 0);
		if (p == MAP_FAILED)
			die("open+mmap %s: %s", argv[1], strerror(errno));
		munmap(p, (size_t)st.st_size);
		close(f);
		lat[0][i] = now_s() - t0;

		t0 = now_s();
		bfd = cmafs_buffer_fd(fd);
		if (bfd < 0)
			die("cmafs_buffer_fd %s: %s", argv[1], strerror(errno));
		close(bfd);
		lat[1][i] = now_s() - t0;

		t0 = now_s();
		f = open(argv[1], O_RDWR);
		if (f < 0 || cmafs_map(f, PROT_READ | PROT_WRITE, &m))
			die("cmafs_map %s: %s", argv[1], strerror(errno));
		cmafs_unmap(&m);
		close(f);
		lat[2][i] = now_s() - t0;
	}
	close(fd);
	for (int k = 0; k < 3; k++)
		report(lat[k], n);
	return 0;
}
