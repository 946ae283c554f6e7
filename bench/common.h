/* SPDX-License-Identifier: MIT */
/* bench/common.h - tiny helpers shared by the benchmark tools. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline unsigned long long parse_size(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		goto bad;
	switch (*end) {
	case 'K': case 'k': v <<= 10; end++; break;
	case 'M': case 'm': v <<= 20; end++; break;
	case 'G': case 'g': v <<= 30; end++; break;
	default: break;
	}
	if (*end)
		goto bad;
	return v;
bad:
	fprintf(stderr, "bad size: %s\n", s);
	exit(2);
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* "MEDIAN P99" in microseconds of @n latencies in seconds (sorts @v). */
static inline void report(double *v, size_t n)
{
	size_t p99 = (n * 99 + 99) / 100;

	qsort(v, n, sizeof(*v), cmp_double);
	printf("%.1f %.1f\n", v[n / 2] * 1e6, v[(p99 ? p99 : 1) - 1] * 1e6);
}

#define die(...) do { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); \
		      exit(1); } while (0)

#endif
