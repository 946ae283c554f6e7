// SPDX-License-Identifier: MIT
/*
 * fuzz_parse - libFuzzer target over cmafs/parse.c, the parsers of every
 * string a user hands the daemon: mount option values (pool=, phys_base=,
 * align=, cache=, backend=, passthrough=) and the user.cma.* xattr values.
 *
 * Input: byte 0 picks the parser, the rest is the value exactly as the
 * daemon gets it (length-delimited, not NUL-terminated, NULs allowed).  The
 * value is copied into a buffer of exactly its length, so ASan catches a
 * parser that reads one byte past it.
 *
 * Besides crashes and sanitizer reports, it checks what parse.h promises:
 *   - results are written only on success (a sentinel survives -EINVAL);
 *   - the return is 0 or -EINVAL, nothing else;
 *   - parse_size agrees with an independent reference parser here;
 *   - surrounding whitespace never changes the answer;
 *   - parse_align gives a power of two >= the page size; parse_sync's range
 *     never overflows; word parsers accept exactly their words.
 * A broken promise is __builtin_trap(), which libFuzzer reports as a crash
 * with the input saved as crash-<sha1>.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmafs.h"
#include "parse.h"

#define SENTINEL UINT64_C(0x5a5a5a5a5a5a5a5a)
#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static int ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
	       c == '\r';
}

static int low(char c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* The grammar of parse.h, written again from the documentation. */
static int ref_size(const char *s, size_t n, uint64_t *out)
{
	size_t b = 0, e = n, i;
	unsigned __int128 v = 0;
	unsigned base = 10, shift = 0;
	int any = 0;

	while (b < e && ws(s[b]))
		b++;
	while (e > b && ws(s[e - 1]))
		e--;
	i = b;
	if (e - b > 2 && s[b] == '0' && low(s[b + 1]) == 'x') {
		base = 16;
		i += 2;
	}
	for (; i < e; i++) {
		int d;

		if (s[i] >= '0' && s[i] <= '9')
			d = s[i] - '0';
		else if (base == 16 && low(s[i]) >= 'a' && low(s[i]) <= 'f')
			d = low(s[i]) - 'a' + 10;
		else
			break;
		v = v * base + (unsigned)d;
		if (v > UINT64_MAX)
			return -EINVAL;
		any = 1;
	}
	if (!any)
		return -EINVAL;
	if (i < e) {
		switch (low(s[i])) {
		case 'k': shift = 10; break;
		case 'm': shift = 20; break;
		case 'g': shift = 30; break;
		case 't': shift = 40; break;
		default: return -EINVAL;
		}
		i++;
		if (e - i == 2 && low(s[i]) == 'i' && low(s[i + 1]) == 'b')
			i += 2;
	}
	if (i != e)
		return -EINVAL;
	v <<= shift;
	if (v > UINT64_MAX)
		return -EINVAL;
	*out = (uint64_t)v;
	return 0;
}

/* @s (trimmed) is exactly @word. */
static int is_word(const char *s, size_t n, const char *word)
{
	size_t b = 0, e = n;

	while (b < e && ws(s[b]))
		b++;
	while (e > b && ws(s[e - 1]))
		e--;
	return e - b == strlen(word) && !memcmp(s + b, word, e - b);
}

static void one(unsigned sel, const char *v, size_t n)
{
	uint64_t a = SENTINEL, b = SENTINEL, c = SENTINEL, r = SENTINEL;
	unsigned int u = 0xdead, dir = 0xdead;
	enum backend_kind bk = (enum backend_kind)77;
	enum tristate tri = (enum tristate)77;
	int err, rerr;

	switch (sel % 6) {
	case 0:
		err = parse_size(v, n, &a);
		CHECK(err == 0 || err == -EINVAL);
		rerr = ref_size(v, n, &r);
		CHECK(err == rerr);
		CHECK(err ? a == SENTINEL : a == r);
		break;
	case 1: {
		uint64_t page = UINT64_C(1) << (12 + (sel / 6) % 10);

		err = parse_align(v, n, page, &a);
		CHECK(err == 0 || err == -EINVAL);
		rerr = ref_size(v, n, &r);
		if (err) {
			CHECK(a == SENTINEL);
			CHECK(rerr || !r || (r & (r - 1)) || r < page);
		} else {
			CHECK(!rerr && a == r);
			CHECK(a >= page && !(a & (a - 1)));
		}
		break;
	}
	case 2:
		err = parse_cache(v, n, &u);
		CHECK(err == 0 || err == -EINVAL);
		if (err) {
			CHECK(u == 0xdead);
			CHECK(!is_word(v, n, "cached") &&
			      !is_word(v, n, "uncached") &&
			      !is_word(v, n, "writecombine"));
		} else {
			CHECK(u <= CMAFS_CACHE_WRITECOMBINE);
			CHECK(cache_name(u) && is_word(v, n, cache_name(u)));
		}
		break;
	case 3:
		err = parse_sync(v, n, &dir, &b, &c);
		CHECK(err == 0 || err == -EINVAL);
		if (err) {
			CHECK(dir == 0xdead && b == SENTINEL && c == SENTINEL);
		} else {
			CHECK(dir == CMAFS_SYNC_DEVICE || dir == CMAFS_SYNC_CPU);
			CHECK(c <= UINT64_MAX - b);
			/* no range means (0, 0) */
			if (is_word(v, n, "device") || is_word(v, n, "cpu"))
				CHECK(b == 0 && c == 0);
		}
		break;
	case 4:
		err = parse_backend(v, n, &bk);
		CHECK(err == 0 || err == -EINVAL);
		if (err)
			CHECK(bk == (enum backend_kind)77);
		else
			CHECK((bk == BACKEND_AUTO && is_word(v, n, "auto")) ||
			      (bk == BACKEND_KMOD && is_word(v, n, "kmod")) ||
			      (bk == BACKEND_SIM && is_word(v, n, "sim")));
		break;
	case 5:
		err = parse_tristate(v, n, &tri);
		CHECK(err == 0 || err == -EINVAL);
		if (err)
			CHECK(tri == (enum tristate)77);
		else
			CHECK((tri == TRI_AUTO && is_word(v, n, "auto")) ||
			      (tri == TRI_ON && is_word(v, n, "on")) ||
			      (tri == TRI_OFF && is_word(v, n, "off")));
		break;
	}
}

/* The answer for @v must not change when whitespace surrounds it. */
static void padded(unsigned sel, const char *v, size_t n)
{
	uint64_t a1 = SENTINEL, a2 = SENTINEL, o1 = 0, o2 = 0, l1 = 0, l2 = 0;
	unsigned int d1 = 0, d2 = 0;
	char *p = malloc(n + 3);
	int e1, e2;

	if (!p)
		return;
	p[0] = ' ';
	p[1] = '\t';
	memcpy(p + 2, v, n);
	p[n + 2] = '\n';
	switch (sel % 6) {
	case 0:
		e1 = parse_size(v, n, &a1);
		e2 = parse_size(p, n + 3, &a2);
		CHECK(e1 == e2 && a1 == a2);
		break;
	case 3:
		e1 = parse_sync(v, n, &d1, &o1, &l1);
		e2 = parse_sync(p, n + 3, &d2, &o2, &l2);
		CHECK(e1 == e2 && d1 == d2 && o1 == o2 && l1 == l2);
		break;
	default:
		break;
	}
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *v;
	size_t n;

	if (size < 1)
		return 0;
	n = size - 1;
	/* exactly n bytes on the heap: a read past the value is an ASan report */
	v = malloc(n ? n : 1);
	if (!v)
		return 0;
	memcpy(v, data + 1, n);
	one(data[0], v, n);
	padded(data[0], v, n);
	free(v);
	return 0;
}
