// SPDX-License-Identifier: MIT
/*
 * bench/getlat - how long another user's getxattr waits: FILE NAME SECONDS.
 * Calls getxattr(FILE, NAME) back to back for SECONDS and prints
 * "n=N median_us=M p99_us=P max_us=X".  The daemon serves requests on one
 * thread, so under an attack these figures are what the attack's longest
 * requests cost everybody else (bench/hostage).
 */
#include <sys/xattr.h>

#include "common.h"

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	size_t n = 0, cap = 1 << 16;
	double *lat, end;
	char val[256];

	if (argc != 4)
		die("usage: getlat FILE NAME SECONDS");
	lat = malloc(cap * sizeof(*lat));
	if (!lat)
		die("out of memory");
	end = now_s() + atof(argv[3]);
	while (now_s() < end) {
		double t0 = now_s();

		if (getxattr(argv[1], argv[2], val, sizeof(val)) < 0)
			die("getxattr %s %s: %s", argv[1], argv[2],
			    strerror(errno));
		if (n == cap) {
			double *more = realloc(lat, 2 * cap * sizeof(*lat));

			if (!more)
				break;
			lat = more;
			cap *= 2;
		}
		lat[n++] = (now_s() - t0) * 1e6;
	}
	if (!n)
		die("no sample");
	qsort(lat, n, sizeof(*lat), cmp);
	printf("n=%zu median_us=%.0f p99_us=%.0f max_us=%.0f\n", n,
	       lat[n / 2], lat[n * 99 / 100], lat[n - 1]);
	free(lat);
	return 0;
}
