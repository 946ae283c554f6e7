/* SPDX-License-Identifier: MIT */
/*
 * tap.h - just enough of the Test Anything Protocol for the unit tests.
 *
 *	ok(cond, "what %d", n);  is_int(got, want, "what");  diag("...");
 *	return done_testing();    (prints the plan unless plan() was called)
 *
 * One test binary is one translation unit, so the state can live here.
 */
#ifndef CMAFS_TAP_H
#define CMAFS_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define TAP_PRINTF(f, a) __attribute__((format(printf, f, a)))

static int tap_planned = -1, tap_run, tap_failed;

static inline void plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
}

static inline TAP_PRINTF(1, 2) void diag(const char *fmt, ...)
{
	va_list ap;

	/* one line per call: a newline in @fmt would end the "# " prefix */
	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static inline TAP_PRINTF(2, 0) int tap_vok(int cond, const char *fmt,
					   va_list ap)
{
	tap_run++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_run);
	vprintf(fmt, ap);
	putchar('\n');
	fflush(stdout);
	return cond;
}

static inline TAP_PRINTF(2, 3) int ok(int cond, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = tap_vok(cond, fmt, ap);
	va_end(ap);
	return r;
}

static inline TAP_PRINTF(3, 4) int is_int(long long got, long long want,
					  const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = tap_vok(got == want, fmt, ap);
	va_end(ap);
	if (!r) {
		diag("     got: %lld", got);
		diag("expected: %lld", want);
	}
	return r;
}

static inline TAP_PRINTF(3, 4) int is_u64(uint64_t got, uint64_t want,
					  const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = tap_vok(got == want, fmt, ap);
	va_end(ap);
	if (!r) {
		diag("     got: %" PRIu64 " (0x%" PRIx64 ")", got, got);
		diag("expected: %" PRIu64 " (0x%" PRIx64 ")", want, want);
	}
	return r;
}

static inline TAP_PRINTF(3, 4) int is_str(const char *got, const char *want,
					  const char *fmt, ...)
{
	va_list ap;
	int same = got && want ? !strcmp(got, want) : got == want;
	int r;

	va_start(ap, fmt);
	r = tap_vok(same, fmt, ap);
	va_end(ap);
	if (!r) {
		diag("     got: %s", got ? got : "(null)");
		diag("expected: %s", want ? want : "(null)");
	}
	return r;
}

/* The exit status: nonzero if anything failed or the plan was not met. */
static inline int done_testing(void)
{
	if (tap_planned < 0) {
		tap_planned = tap_run;
		printf("1..%d\n", tap_run);
	}
	if (tap_failed)
		diag("failed %d of %d tests", tap_failed, tap_run);
	if (tap_run != tap_planned)
		diag("planned %d tests but ran %d", tap_planned, tap_run);
	fflush(stdout);
	return tap_failed || tap_run != tap_planned;
}

#endif /* CMAFS_TAP_H */
