// SPDX-License-Identifier: MIT
/*
 * alloclat DIR SAMPLES SIZE - latency of ftruncate(fd, SIZE) on fresh
 * (empty) files; only the ftruncate call is timed.  Each file is closed and
 * unlinked after its sample.  Prints "MEDIAN_US P99_US".
 */
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include "common.h"

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	char path[PATH_MAX];
	unsigned long long size;
	double *lat, t0;
	int i, n, fd;

	if (argc != 4)
		die("usage: alloclat DIR SAMPLES SIZE");
	n = atoi(argv[2]);
	size = parse_size(argv[3]);
	if (n < 1)
		die("alloclat: SAMPLES must be >= 1");
	lat = calloc(n, sizeof(*lat));
	if (!lat)
		die("out of memory");
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/lat.%d.%d", argv[1],
			 (int)getpid(), i);
		fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
		if (fd < 0)
			die("create %s: %s", path, strerror(errno));
		t0 = now_s();
		if (ftruncate(fd, (off_t)size))
			die("ftruncate %s: %s", path, strerror(errno));
		lat[i] = (now_s() - t0) * 1e6;
		close(fd);
		unlink(path);
	}
	qsort(lat, n, sizeof(*lat), cmp);
	/* nearest-rank percentiles */
	printf("%.1f %.1f\n", lat[(n - 1) / 2],
	       lat[(int)((n * 99 + 99) / 100) - 1]);
	return 0;
}
