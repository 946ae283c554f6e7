// SPDX-License-Identifier: MIT
/*
 * cma_area: the placement rules by example, then long random runs checked step
 * by step against a bitmap doing the kernel's naive first-fit search.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "cma_area.h"
#include "tap.h"

#define HUGE_ALIGN (UINT64_C(1) << 63)

static double t_area;	/* seconds spent inside cma_area in random runs */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* splitmix64: seeded, so a failing run can be replayed */
static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t *s, uint64_t n)
{
	return rnd(s) % n;
}

/* Allocate and report where, or the negative error. */
static long long place(struct cma_area *a, uint64_t pages, uint64_t align)
{
	uint64_t first = UINT64_MAX;
	int err = cma_area_alloc(a, pages, align, &first);

	return err ? err : (long long)first;
}

static long long move(struct cma_area *a, uint64_t first, uint64_t old_pages,
		      uint64_t new_pages, uint64_t align)
{
	uint64_t nf = UINT64_MAX;
	int err = cma_area_resize(a, first, old_pages, new_pages, align, &nf);

	return err ? err : (long long)nf;
}

static int counters(const struct cma_area *a, uint64_t free_pages,
		    uint64_t largest)
{
	return cma_area_free_pages(a) == free_pages &&
	       cma_area_largest_free(a) == largest;
}

static void test_basics(void)
{
	struct cma_area *a = cma_area_new(100);

	ok(cma_area_new(0) == NULL, "an area of 0 pages is refused");
	ok(a && cma_area_pages(a) == 100 && counters(a, 100, 100),
	   "a new area is one free run");
	cma_area_destroy(a);
	cma_area_destroy(NULL);
}

static void test_alignment(void)
{
	struct cma_area *a = cma_area_new(64);
	long long got[6];

	got[0] = place(a, 1, 1);	/* 0 */
	got[1] = place(a, 3, 4);	/* 4: 1..3 is free but not aligned */
	got[2] = place(a, 1, 1);	/* 1: the gap left behind */
	got[3] = place(a, 2, 8);	/* 8 */
	got[4] = place(a, 2, 2);	/* 2 */
	got[5] = place(a, 16, 16);	/* 16 */
	ok(got[0] == 0 && got[1] == 4 && got[2] == 1 && got[3] == 8 &&
	   got[4] == 2 && got[5] == 16,
	   "lowest aligned free position (%lld %lld %lld %lld %lld %lld)",
	   got[0], got[1], got[2], got[3], got[4], got[5]);
	ok(counters(a, 64 - 25, 32), "free and largest after aligned allocs");
	is_int(place(a, 1, 32), 32, "align 32 skips the gaps below");
	is_int(place(a, 1, HUGE_ALIGN), -ENOSPC,
	       "align 2^63: only page 0, which is taken");
	cma_area_destroy(a);

	a = cma_area_new(10);
	is_int(place(a, 10, HUGE_ALIGN), 0, "align above the area fits at 0");
	cma_area_destroy(a);

	/* Alignment is of addresses: an area starting at page 3. */
	a = cma_area_new(64);
	cma_area_set_base(a, 3);
	got[0] = place(a, 1, 4);	/* page 4 = area page 1 */
	got[1] = place(a, 2, 8);	/* page 8 = area page 5 */
	got[2] = place(a, 1, 1);	/* area page 0 */
	ok(got[0] == 1 && got[1] == 5 && got[2] == 0,
	   "with base 3, aligned positions are absolute (%lld %lld %lld)",
	   got[0], got[1], got[2]);
	is_int(place(a, 1, HUGE_ALIGN), -ENOSPC,
	       "align 2^63 with a base: no position qualifies");
	cma_area_destroy(a);
}

static void test_exhaustion(void)
{
	struct cma_area *a = cma_area_new(64);

	is_int(place(a, 65, 1), -EFBIG, "more than the area: EFBIG");
	is_int(place(a, UINT64_MAX, 1), -EFBIG, "2^64-1 pages: EFBIG");
	is_int(place(a, 64, 1), 0, "the whole area");
	ok(counters(a, 0, 0), "full: no free pages, largest 0");
	is_int(place(a, 1, 1), -ENOSPC, "full: ENOSPC");
	is_int(place(a, 65, 1), -EFBIG, "full, too big: still EFBIG");
	cma_area_free(a, 0, 64);
	is_int(place(a, 64, 64), 0, "freed: the whole area again");
	cma_area_destroy(a);
}

static void test_fragmentation(void)
{
	struct cma_area *a = cma_area_new(16);
	int i, bad = 0;

	for (i = 0; i < 16; i++)
		bad += place(a, 1, 1) != i;
	for (i = 0; i < 16; i += 2)
		cma_area_free(a, (uint64_t)i, 1);
	ok(!bad && counters(a, 8, 1), "every other page free: 8 free, largest 1");
	is_int(place(a, 2, 1), -ENOSPC, "2 pages: ENOSPC although 8 are free");
	cma_area_free(a, 5, 1);
	cma_area_free(a, 9, 1);
	ok(counters(a, 10, 3), "freeing 5 and 9 makes 4..6 and 8..10 (largest 3)");
	is_int(place(a, 3, 1), 4, "3 pages go to the first such run");
	is_int(place(a, 2, 2), 8, "2 pages at align 2 go to 8");
	is_int(place(a, 2, 1), -ENOSPC, "then nothing of 2 pages is left");
	cma_area_destroy(a);
}

static void test_coalescing(void)
{
	struct cma_area *a = cma_area_new(30);
	long long x = place(a, 10, 1), y = place(a, 10, 1), z = place(a, 10, 1);

	ok(x == 0 && y == 10 && z == 20, "three runs back to back");
	cma_area_free(a, 0, 10);
	cma_area_free(a, 20, 10);
	ok(counters(a, 20, 10), "two separate holes of 10");
	cma_area_free(a, 10, 10);
	ok(counters(a, 30, 30), "freeing the middle joins all three");
	is_int(place(a, 30, 1), 0, "and the whole area fits again");
	cma_area_free(a, 0, 30);

	x = place(a, 5, 1);
	y = place(a, 5, 1);
	cma_area_free(a, (uint64_t)y, 5);	/* joins the free tail */
	cma_area_free(a, (uint64_t)x, 5);	/* joins the head to it */
	ok(counters(a, 30, 30), "freeing in address order joins too");

	/* not how the daemon frees, but it must not corrupt the map */
	x = place(a, 30, 1);
	cma_area_free(a, 2, 2);
	cma_area_free(a, 6, 2);
	cma_area_free(a, 10, 2);
	ok(x == 0 && counters(a, 6, 2), "a run can be freed piecewise");
	is_int(place(a, 1, 8), -ENOSPC, "and the pieces are placed as usual");
	is_int(place(a, 2, 2), 2, "(first piece)");
	cma_area_free(a, 0, 2);
	cma_area_free(a, 2, 2);
	cma_area_free(a, 4, 2);
	cma_area_free(a, 8, 2);
	cma_area_free(a, 12, 18);
	ok(counters(a, 30, 30), "all pieces back: one run");
	cma_area_destroy(a);
}

static void test_rejection(void)
{
	struct cma_area *a = cma_area_new(64);
	static const uint64_t bad_align[] = { 0, 3, 6, 12, 96, UINT64_MAX,
					      HUGE_ALIGN + 1 };
	size_t i;
	int bad = 0;

	is_int(place(a, 0, 1), -EINVAL, "0 pages: EINVAL");
	for (i = 0; i < sizeof(bad_align) / sizeof(bad_align[0]); i++)
		bad += place(a, 1, bad_align[i]) != -EINVAL;
	ok(!bad, "alignments that are not powers of two: EINVAL");
	ok(counters(a, 64, 64), "rejected requests change nothing");

	is_int(place(a, 8, 1), 0, "a run at 0..7");
	is_int(move(a, 0, 8, 0, 1), -EINVAL, "resize to 0: EINVAL");
	is_int(move(a, 0, 8, 9, 5), -EINVAL, "resize, bad align: EINVAL");
	is_int(move(a, 0, 8, 65, 1), -EFBIG, "resize past the area: EFBIG");
	is_int(move(a, 8, 4, 5, 1), -EINVAL, "resize of free pages: EINVAL");
	is_int(move(a, 4, 8, 9, 1), -EINVAL, "resize of a half-free run: EINVAL");
	is_int(move(a, 0, 0, 1, 1), -EINVAL, "resize of 0 old pages: EINVAL");
	is_int(move(a, 60, 8, 9, 1), -EINVAL, "resize of a run past the end: EINVAL");
	is_int(move(a, 1, UINT64_MAX, 9, 1), -EINVAL,
	       "resize of a run whose end overflows: EINVAL");
	cma_area_free(a, 4, 8);
	cma_area_free(a, 8, 2);
	cma_area_free(a, 60, 8);
	cma_area_free(a, UINT64_MAX, 2);
	cma_area_free(a, 0, 0);
	ok(counters(a, 56, 56), "bad frees are ignored");
	cma_area_free(a, 0, 8);
	ok(counters(a, 64, 64), "and the good one still works");
	cma_area_destroy(a);
}

static void test_resize(void)
{
	struct cma_area *a = cma_area_new(32);
	long long x = place(a, 4, 1), y = place(a, 4, 1);

	is_int(move(a, (uint64_t)y, 4, 10, 1), 4, "grow into free pages: in place");
	is_int(move(a, (uint64_t)y, 10, 2, 1), 4, "shrink: in place");
	ok(counters(a, 26, 26), "shrinking gave the tail back");
	is_int(move(a, (uint64_t)x, 4, 6, 1), 6,
	       "blocked: moves to the first fit beside the old run");
	ok(counters(a, 24, 20), "the old run is released after the move");
	/* 0..3 free, 4..5 y, 6..11 x, 12..31 free */
	is_int(move(a, 4, 2, 5, 1), 12,
	       "0..5 would do, but the old run is held while moving");
	/* 0..5 free, 6..11 x, 12..16 y, 17..31 free */
	is_int(move(a, 6, 6, 6, 1), 6, "same size: nothing moves");
	is_int(move(a, 6, 6, 7, 8), 24, "a move honours the alignment");
	is_int(move(a, 12, 5, 7, 8), 12,
	       "growing in place keeps an unaligned start");
	ok(counters(a, 32 - 14, 12), "free and largest after the moves");
	cma_area_destroy(a);

	a = cma_area_new(16);
	x = place(a, 4, 1);
	y = place(a, 8, 1);
	ok(x == 0 && y == 4, "a run of 4 and one of 8 behind it");
	is_int(move(a, (uint64_t)x, 4, 5, 1), -ENOSPC, "no room anywhere: ENOSPC");
	ok(counters(a, 4, 4), "failed resize changed nothing");
	is_int(move(a, (uint64_t)x, 4, 8, 1), -ENOSPC,
	       "the run could fit where it is, if it were not held: ENOSPC");
	is_int(move(a, (uint64_t)x, 4, 17, 1), -EFBIG, "more than the area: EFBIG");
	ok(counters(a, 4, 4) && place(a, 4, 4) == 12,
	   "after failed resizes the area is as it was");
	cma_area_destroy(a);
}

/* The reference: a byte per page and the kernel's naive search. */
struct model {
	uint8_t *used;
	uint64_t n;
	uint64_t free_pages;
};

static int model_fit(const struct model *m, uint64_t pages, uint64_t align,
		     uint64_t *pos)
{
	uint64_t p, i;

	for (p = 0; p < m->n && m->n - p >= pages; ) {
		for (i = pages; i > 0 && !m->used[p + i - 1]; i--)
			;
		if (!i) {
			*pos = p;
			return 0;
		}
		/* skip past the used page, to the next aligned position */
		p += i;
		if (p & (align - 1)) {
			if ((p | (align - 1)) >= m->n)
				break;
			p = (p | (align - 1)) + 1;
		}
	}
	return -ENOSPC;
}

static void model_set(struct model *m, uint64_t first, uint64_t pages,
		      uint8_t v)
{
	uint64_t i;

	for (i = first; i < first + pages; i++)
		m->used[i] = v;
	if (v)
		m->free_pages -= pages;
	else
		m->free_pages += pages;
}

static uint64_t model_largest(const struct model *m)
{
	uint64_t best = 0, run = 0, i;

	for (i = 0; i < m->n; i++) {
		run = m->used[i] ? 0 : run + 1;
		if (run > best)
			best = run;
	}
	return best;
}

static int model_check(uint64_t pages, uint64_t align)
{
	if (!pages || !align || (align & (align - 1)))
		return -EINVAL;
	return 0;
}

static int model_alloc(struct model *m, uint64_t pages, uint64_t align,
		       uint64_t *first)
{
	int err = model_check(pages, align);

	if (err)
		return err;
	if (pages > m->n)
		return -EFBIG;
	err = model_fit(m, pages, align, first);
	if (!err)
		model_set(m, *first, pages, 1);
	return err;
}

static int model_resize(struct model *m, uint64_t first, uint64_t old_pages,
			uint64_t new_pages, uint64_t align, uint64_t *nf)
{
	uint64_t i;
	int err = model_check(new_pages, align);

	if (err)
		return err;
	if (new_pages > m->n)
		return -EFBIG;
	*nf = first;
	if (new_pages <= old_pages) {
		model_set(m, first + new_pages, old_pages - new_pages, 0);
		return 0;
	}
	for (i = first + old_pages; i < first + new_pages && i < m->n; i++)
		if (m->used[i])
			break;
	if (i == first + new_pages) {
		model_set(m, first + old_pages, new_pages - old_pages, 1);
		return 0;
	}
	err = model_fit(m, new_pages, align, nf);
	if (err)
		return err;
	model_set(m, *nf, new_pages, 1);
	model_set(m, first, old_pages, 0);
	return 0;
}

struct run {
	uint64_t first, pages;
};

struct stats {
	unsigned long allocs, enospc, efbig, einval, moves, in_place, shrinks,
		      frees;
};

static uint64_t pick_pages(uint64_t *s, uint64_t n)
{
	uint64_t r = below(s, 100);

	if (r < 60)
		return 1 + below(s, 8);
	if (r < 90)
		return 1 + below(s, 64);
	if (r < 98)
		return 1 + below(s, n / 2);
	return r == 98 ? n + 1 + below(s, 3) : 0;
}

static uint64_t pick_align(uint64_t *s)
{
	static const uint64_t aligns[] = { 1, 1, 1, 1, 2, 4, 8, 16, 64, 256,
					   UINT64_C(1) << 40, HUGE_ALIGN, 3 };

	return aligns[below(s, sizeof(aligns) / sizeof(aligns[0]))];
}

/* One step, applied to both; returns 0 when they agree. */
static int step(struct cma_area *a, struct model *m, struct run *runs,
		size_t *nruns, size_t target, uint64_t *s, struct stats *st)
{
	uint64_t op = below(s, 100), pages = pick_pages(s, m->n);
	uint64_t align = pick_align(s), got = UINT64_MAX, want = UINT64_MAX;
	double t;
	int e1, e2;

	if (*nruns && (op < 30 || (*nruns >= target && op < 60))) {
		size_t i = below(s, *nruns);

		t = now();
		cma_area_free(a, runs[i].first, runs[i].pages);
		t_area += now() - t;
		model_set(m, runs[i].first, runs[i].pages, 0);
		runs[i] = runs[--*nruns];
		st->frees++;
		return 0;
	}
	if (*nruns && op < 75) {
		struct run *r = &runs[below(s, *nruns)];

		t = now();
		e1 = cma_area_resize(a, r->first, r->pages, pages, align, &got);
		t_area += now() - t;
		e2 = model_resize(m, r->first, r->pages, pages, align, &want);
		if (e1 != e2 || (!e1 && got != want)) {
			diag("resize %" PRIu64 "+%" PRIu64 " to %" PRIu64
			     " align %" PRIu64 ": got %d/%" PRIu64
			     ", model %d/%" PRIu64, r->first, r->pages, pages,
			     align, e1, got, e2, want);
			return -1;
		}
		if (!e1) {
			if (pages < r->pages)
				st->shrinks++;
			else if (got == r->first)
				st->in_place++;
			else
				st->moves++;
			r->first = got;
			r->pages = pages;
		}
	} else {
		t = now();
		e1 = cma_area_alloc(a, pages, align, &got);
		t_area += now() - t;
		e2 = model_alloc(m, pages, align, &want);
		if (e1 != e2 || (!e1 && got != want)) {
			diag("alloc %" PRIu64 " align %" PRIu64 ": got %d/%"
			     PRIu64 ", model %d/%" PRIu64, pages, align, e1,
			     got, e2, want);
			return -1;
		}
		if (!e1) {
			runs[*nruns].first = got;
			runs[(*nruns)++].pages = pages;
			st->allocs++;
		}
	}
	st->enospc += e1 == -ENOSPC;
	st->efbig += e1 == -EFBIG;
	st->einval += e1 == -EINVAL;
	return 0;
}

static void random_run(struct cma_area *a, struct model *m, struct run *runs,
		       uint64_t seed, unsigned long steps)
{
	struct stats st = { 0 };
	size_t nruns = 0, target = 8;
	unsigned long i;
	uint64_t s = seed, n = m->n;
	double t0 = now();
	int bad = 0;

	t_area = 0;
	for (i = 0; i < steps && !bad; i++) {
		/* the fill level drifts, so both empty and full areas occur */
		if (i % 5000 == 0)
			target = 1 + below(&s, n / 8);
		bad = step(a, m, runs, &nruns, target, &s, &st);
		if (!bad && (cma_area_free_pages(a) != m->free_pages ||
			     cma_area_largest_free(a) != model_largest(m))) {
			diag("counters: free %" PRIu64 "/%" PRIu64
			     " largest %" PRIu64 "/%" PRIu64,
			     cma_area_free_pages(a), m->free_pages,
			     cma_area_largest_free(a), model_largest(m));
			bad = 1;
		}
	}
	t0 = now() - t0;
	while (!bad && nruns) {
		nruns--;
		cma_area_free(a, runs[nruns].first, runs[nruns].pages);
	}
	ok(!bad && counters(a, n, n) && st.moves && st.in_place &&
	   st.shrinks && st.enospc && st.efbig && st.einval,
	   "seed %" PRIu64 ", %" PRIu64 " pages: %lu steps agree with the "
	   "bitmap model", seed, n, i);
	diag("%lu allocs, %lu frees, %lu moves, %lu resized in place, "
	     "%lu shrunk, %lu ENOSPC, %lu EFBIG, %lu EINVAL", st.allocs,
	     st.frees, st.moves, st.in_place, st.shrinks, st.enospc,
	     st.efbig, st.einval);
	diag("%.2f s with checks, %.3f s of it in cma_area (%.0f ns a step)",
	     t0, t_area, t_area / (double)i * 1e9);
}

static void test_random(uint64_t seed, uint64_t n, unsigned long steps)
{
	struct cma_area *a = cma_area_new(n);
	struct model m = { calloc(n, 1), n, n };
	struct run *runs = calloc(n, sizeof(*runs));

	if (a && m.used && runs)
		random_run(a, &m, runs, seed, steps);
	else
		ok(0, "seed %" PRIu64 ": out of memory", seed);
	free(runs);
	free(m.used);
	cma_area_destroy(a);
}

static void shuffle(uint64_t *v, size_t n, uint64_t *s)
{
	size_t i;

	for (i = n; i > 1; i--) {
		size_t j = below(s, i);
		uint64_t t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

static void test_scale(void)
{
	const uint64_t n = 262144;
	const size_t count = 100000, cycles = 100000;
	struct cma_area *a = cma_area_new(n);
	uint64_t *first = calloc(count, sizeof(*first)), s = 42, f;
	size_t i;
	int bad = 0;
	double t;

	if (!a || !first) {
		ok(0, "scale: out of memory");
		free(first);
		cma_area_destroy(a);
		return;
	}
	t = now();
	for (i = 0; i < count; i++)
		bad += cma_area_alloc(a, 1, 1, &first[i]) || first[i] != i;
	ok(!bad && counters(a, n - count, n - count),
	   "100000 single pages placed in order");
	diag("%.0f allocs/s", (double)count / (now() - t));

	/* half of them go: 50000 holes for every later search to pass */
	shuffle(first, count, &s);
	for (i = 0; i < count / 2; i++)
		cma_area_free(a, first[i], 1);
	t = now();
	for (i = 0; i < cycles && !bad; i++) {
		uint64_t pages = 1 + below(&s, 300);

		bad = cma_area_alloc(a, pages, 1, &f) ||
		      cma_area_resize(a, f, pages, pages * 2, 1, &f) ||
		      (cma_area_free(a, f, pages * 2), 0);
	}
	ok(!bad && cma_area_free_pages(a) == n - count / 2,
	   "alloc, grow, free of up to 600 pages among 50000 holes");
	diag("%.0f alloc+resize+free cycles/s", (double)cycles / (now() - t));

	t = now();
	for (i = count / 2; i < count; i++)
		cma_area_free(a, first[i], 1);
	ok(counters(a, n, n), "freed in random order: one free run again");
	diag("%.0f frees/s", (double)count / 2 / (now() - t));
	free(first);
	cma_area_destroy(a);
}

int main(int argc, char **argv)
{
	unsigned long steps = argc > 1 ? strtoul(argv[1], NULL, 0) : 200000;

	test_basics();
	test_alignment();
	test_exhaustion();
	test_fragmentation();
	test_coalescing();
	test_rejection();
	test_resize();
	test_random(1, 1000, steps);
	test_random(2, 1024, steps);
	test_random(3, 2048, steps);
	test_random(4, 333, steps);
	test_random(5, 16384, steps / 10);	/* a deeper tree, fewer steps */
	test_scale();
	return done_testing();
}
