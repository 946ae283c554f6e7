// SPDX-License-Identifier: MIT
/*
 * parse: tables of values users may write, and of values they must not.
 * Each table is one TAP line; a failing case is named in a diagnostic.
 * Strings carry their length, so embedded NULs are part of the value.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>

#include "cmafs.h"
#include "parse.h"
#include "tap.h"

#define V(str) str, sizeof(str) - 1
#define N(arr) (sizeof(arr) / sizeof((arr)[0]))
#define SENTINEL UINT64_C(0x5a5a5a5a5a5a5a5a)

struct val {
	const char *s;
	size_t len;
};

/* The value as a C literal, for diagnostics. */
static const char *show(const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	static char buf[256];
	size_t i, o = 0;

	buf[o++] = '"';
	for (i = 0; i < len && o < sizeof(buf) - 6; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			buf[o++] = (char)c;
		} else {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

static const struct { const char *s; size_t len; uint64_t want; } good_sizes[] = {
	{ V("0"), 0 },
	{ V("4096"), 4096 },
	{ V("00012"), 12 },
	{ V("0x1000"), 4096 },
	{ V("0X1000"), 4096 },
	{ V("0xdeadBEEF"), 0xdeadbeef },
	{ V("0x10K"), 16384 },
	{ V("4K"), 4096 },
	{ V("4k"), 4096 },
	{ V("16M"), 16 << 20 },
	{ V("16m"), 16 << 20 },
	{ V("1G"), 1 << 30 },
	{ V("1g"), 1 << 30 },
	{ V("1T"), UINT64_C(1) << 40 },
	{ V("1t"), UINT64_C(1) << 40 },
	{ V("0K"), 0 },
	{ V("4KiB"), 4096 },
	{ V("4kib"), 4096 },
	{ V("16MiB"), 16 << 20 },
	{ V("1GiB"), 1 << 30 },
	{ V("2TiB"), UINT64_C(2) << 40 },
	{ V("128M\n"), 128 << 20 },
	{ V("  4K \t\r\n"), 4096 },
	{ V("\n4096\n\n"), 4096 },
	{ V("4096\v\f"), 4096 },
	{ V("18446744073709551615"), UINT64_MAX },
	{ V("0xffffffffffffffff"), UINT64_MAX },
	{ V("0x0000000000000000000001"), 1 },
	{ V("16777215T"), UINT64_C(16777215) << 40 },
	{ V("17179869183G"), UINT64_C(17179869183) << 30 },
	{ V("17592186044415M"), UINT64_C(17592186044415) << 20 },
	{ V("18014398509481983K"), UINT64_C(18014398509481983) << 10 },
	{ "4096garbage", 4, 4096 },	/* the length, not the NUL, ends it */
};

static const struct val bad_sizes[] = {
	{ V("") }, { V(" ") }, { V("\n") }, { V("-1") }, { V("+1") },
	{ V("- 1") }, { V("4MM") }, { V("0x") }, { V("0X") }, { V("0x\n") },
	{ V("0xg") }, { V("0xK") }, { V("0x 1") }, { V("4 K") }, { V("K") },
	{ V("4B") }, { V("4KB") }, { V("4Ki") }, { V("4KiBB") }, { V("4iB") },
	{ V("4K iB") }, { V("16E") }, { V("1P") }, { V("1.5M") }, { V("1e3") },
	{ V("0b101") }, { V("4 096") }, { V("4,096") }, { V("4_096") },
	{ V("abc") }, { V("4\xa0") }, { V("\xef\xbc\x94") },
	{ V("18446744073709551616") }, { V("99999999999999999999") },
	{ V("0x10000000000000000") }, { V("16777216T") },
	{ V("17179869184G") }, { V("17592186044416M") },
	{ V("18014398509481984K") }, { V("4\0") }, { V("\0004") },
	{ V("4\0K") }, { V("4K\0") }, { V("4\n\0") }, { V("0x1\0000") },
};

static void test_size(void)
{
	size_t i;
	int bad = 0;

	for (i = 0; i < N(good_sizes); i++) {
		uint64_t v = SENTINEL;
		int err = parse_size(good_sizes[i].s, good_sizes[i].len, &v);

		if (err || v != good_sizes[i].want) {
			diag("parse_size(%s): %d, %" PRIu64 "; want %" PRIu64,
			     show(good_sizes[i].s, good_sizes[i].len), err, v,
			     good_sizes[i].want);
			bad++;
		}
	}
	ok(!bad, "parse_size accepts %zu good values", N(good_sizes));

	bad = 0;
	for (i = 0; i < N(bad_sizes); i++) {
		uint64_t v = SENTINEL;
		int err = parse_size(bad_sizes[i].s, bad_sizes[i].len, &v);

		if (err != -EINVAL || v != SENTINEL) {
			diag("parse_size(%s): %d, %" PRIu64 "; want -EINVAL, "
			     "untouched", show(bad_sizes[i].s, bad_sizes[i].len),
			     err, v);
			bad++;
		}
	}
	ok(!bad, "parse_size rejects %zu bad values, output untouched",
	   N(bad_sizes));
}

static const struct { const char *s; size_t len; uint64_t page, want; }
good_aligns[] = {
	{ V("4096"), 4096, 4096 },
	{ V("4K"), 4096, 4096 },
	{ V("8192\n"), 4096, 8192 },
	{ V("2M"), 4096, 2 << 20 },
	{ V("0x200000"), 4096, 2 << 20 },
	{ V("1GiB"), 4096, 1 << 30 },
	{ V("64K"), 65536, 65536 },
	{ V("9223372036854775808"), 4096, UINT64_C(1) << 63 },
	{ V("1"), 1, 1 },
};

static const struct { const char *s; size_t len; uint64_t page; }
bad_aligns[] = {
	{ V("0"), 4096 }, { V("1"), 4096 }, { V("2048"), 4096 },
	{ V("3"), 1 }, { V("6K"), 4096 }, { V("12K"), 4096 },
	{ V("4097"), 4096 }, { V("32K"), 65536 }, { V(""), 4096 },
	{ V("4K\0"), 4096 }, { V("-4096"), 4096 }, { V("0x"), 4096 },
	{ V("18446744073709551615"), 4096 }, { V("16777216T"), 4096 },
	{ V("9223372036854775809"), 4096 },
};

static void test_align(void)
{
	size_t i;
	int bad = 0;

	for (i = 0; i < N(good_aligns); i++) {
		uint64_t v = SENTINEL;
		int err = parse_align(good_aligns[i].s, good_aligns[i].len,
				      good_aligns[i].page, &v);

		if (err || v != good_aligns[i].want) {
			diag("parse_align(%s, %" PRIu64 "): %d, %" PRIu64,
			     show(good_aligns[i].s, good_aligns[i].len),
			     good_aligns[i].page, err, v);
			bad++;
		}
	}
	ok(!bad, "parse_align accepts %zu good values", N(good_aligns));

	bad = 0;
	for (i = 0; i < N(bad_aligns); i++) {
		uint64_t v = SENTINEL;
		int err = parse_align(bad_aligns[i].s, bad_aligns[i].len,
				      bad_aligns[i].page, &v);

		if (err != -EINVAL || v != SENTINEL) {
			diag("parse_align(%s, %" PRIu64 "): %d, %" PRIu64,
			     show(bad_aligns[i].s, bad_aligns[i].len),
			     bad_aligns[i].page, err, v);
			bad++;
		}
	}
	ok(!bad, "parse_align rejects %zu bad values (zero, not a power of "
	   "two, below the page size)", N(bad_aligns));
}

/* A table of words for an enum-valued parser. */
struct word_case {
	const char *s;
	size_t len;
	int want;		/* -1: must be rejected */
};

typedef int (*word_parser)(const char *s, size_t len, int *out);

static void check_words(const char *name, word_parser parse,
			const struct word_case *c, size_t n)
{
	size_t i, good = 0;
	int bad = 0;

	for (i = 0; i < n; i++) {
		int v = INT_MIN, err = parse(c[i].s, c[i].len, &v);
		int want_err = c[i].want < 0 ? -EINVAL : 0;
		int want_v = c[i].want < 0 ? INT_MIN : c[i].want;

		good += c[i].want >= 0;
		if (err != want_err || v != want_v) {
			diag("%s(%s): %d, %d; want %d, %d", name,
			     show(c[i].s, c[i].len), err, v, want_err, want_v);
			bad++;
		}
	}
	ok(!bad, "%s: %zu good and %zu bad values", name, good, n - good);
}

static int cache_parser(const char *s, size_t len, int *out)
{
	unsigned int v;
	int err = parse_cache(s, len, &v);

	if (!err)
		*out = (int)v;
	return err;
}

static int backend_parser(const char *s, size_t len, int *out)
{
	enum backend_kind v;
	int err = parse_backend(s, len, &v);

	if (!err)
		*out = (int)v;
	return err;
}

static int tristate_parser(const char *s, size_t len, int *out)
{
	enum tristate v;
	int err = parse_tristate(s, len, &v);

	if (!err)
		*out = (int)v;
	return err;
}

static const struct word_case caches[] = {
	{ V("cached"), CMAFS_CACHE_CACHED },
	{ V("uncached"), CMAFS_CACHE_UNCACHED },
	{ V("writecombine"), CMAFS_CACHE_WRITECOMBINE },
	{ V("cached\n"), CMAFS_CACHE_CACHED },
	{ V("  writecombine \n"), CMAFS_CACHE_WRITECOMBINE },
	{ V(""), -1 }, { V("\n"), -1 }, { V("Cached"), -1 },
	{ V("CACHED"), -1 }, { V("cache"), -1 }, { V("cachedx"), -1 },
	{ V("uncache"), -1 }, { V("wc"), -1 }, { V("write combine"), -1 },
	{ V("write-combine"), -1 }, { V("cached\0"), -1 },
	{ V("un\0cached"), -1 }, { V("cached cached"), -1 }, { V("1"), -1 },
	{ V("0"), -1 },
};

static const struct word_case backends[] = {
	{ V("auto"), BACKEND_AUTO }, { V("kmod"), BACKEND_KMOD },
	{ V("sim"), BACKEND_SIM }, { V(" sim\n"), BACKEND_SIM },
	{ V(""), -1 }, { V("Auto"), -1 }, { V("KMOD"), -1 }, { V("kmod2"), -1 },
	{ V("simulated"), -1 }, { V("si"), -1 }, { V("sim\0"), -1 },
	{ V("sim sim"), -1 }, { V("none"), -1 },
};

static const struct word_case tristates[] = {
	{ V("auto"), TRI_AUTO }, { V("on"), TRI_ON }, { V("off"), TRI_OFF },
	{ V("off\n"), TRI_OFF }, { V("\ton "), TRI_ON },
	{ V(""), -1 }, { V("yes"), -1 }, { V("no"), -1 }, { V("1"), -1 },
	{ V("0"), -1 }, { V("true"), -1 }, { V("On"), -1 }, { V("OFF"), -1 },
	{ V("of"), -1 }, { V("onoff"), -1 }, { V("o n"), -1 }, { V("on\0"), -1 },
};

static void test_cache_name(void)
{
	unsigned int i, v;
	int bad = 0;

	for (i = 0; i < 3; i++)
		bad += !cache_name(i) ||
		       parse_cache(cache_name(i), strlen(cache_name(i)), &v) ||
		       v != i;
	ok(!bad, "cache_name and parse_cache round-trip every mode");
	is_str(cache_name(CMAFS_CACHE_WRITECOMBINE), "writecombine",
	       "cache_name(CMAFS_CACHE_WRITECOMBINE)");
	ok(!cache_name(3) && !cache_name(UINT_MAX),
	   "cache_name of an unknown mode is NULL");
}

static const struct {
	const char *s;
	size_t len;
	int err;
	unsigned int dir;
	uint64_t off, length;
} syncs[] = {
	{ V("device"), 0, CMAFS_SYNC_DEVICE, 0, 0 },
	{ V("cpu"), 0, CMAFS_SYNC_CPU, 0, 0 },
	{ V("device\n"), 0, CMAFS_SYNC_DEVICE, 0, 0 },
	{ V("  cpu \n"), 0, CMAFS_SYNC_CPU, 0, 0 },
	{ V("device 0 4096"), 0, CMAFS_SYNC_DEVICE, 0, 4096 },
	{ V("cpu 4K 1M\n"), 0, CMAFS_SYNC_CPU, 4096, 1 << 20 },
	{ V("device\t0x1000  \t0x2000"), 0, CMAFS_SYNC_DEVICE, 0x1000, 0x2000 },
	{ V("device 0 0"), 0, CMAFS_SYNC_DEVICE, 0, 0 },
	{ V("cpu 18446744073709551615 0"), 0, CMAFS_SYNC_CPU, UINT64_MAX, 0 },
	{ V("cpu 1 18446744073709551614"), 0, CMAFS_SYNC_CPU, 1,
	  UINT64_MAX - 1 },
	{ V(""), -EINVAL, 0, 0, 0 },
	{ V(" \n"), -EINVAL, 0, 0, 0 },
	{ V("Device"), -EINVAL, 0, 0, 0 },
	{ V("devices"), -EINVAL, 0, 0, 0 },
	{ V("dev"), -EINVAL, 0, 0, 0 },
	{ V("both"), -EINVAL, 0, 0, 0 },
	{ V("device 0"), -EINVAL, 0, 0, 0 },
	{ V("device 0 1 2"), -EINVAL, 0, 0, 0 },
	{ V("device -1 4"), -EINVAL, 0, 0, 0 },
	{ V("device 0 4MM"), -EINVAL, 0, 0, 0 },
	{ V("device 4K,4K"), -EINVAL, 0, 0, 0 },
	{ V("device0 4"), -EINVAL, 0, 0, 0 },
	{ V("cpu 0x 1"), -EINVAL, 0, 0, 0 },
	{ V("cpu 18446744073709551615 1"), -EINVAL, 0, 0, 0 },
	{ V("cpu 1 18446744073709551615"), -EINVAL, 0, 0, 0 },
	{ V("cpu 18446744073709551616 0"), -EINVAL, 0, 0, 0 },
	{ V("cpu\0 0 1"), -EINVAL, 0, 0, 0 },
	{ V("cpu 0 1\0"), -EINVAL, 0, 0, 0 },
	{ V("cpu 0\0 1"), -EINVAL, 0, 0, 0 },
};

static void test_sync(void)
{
	size_t i, good = 0;
	int bad = 0;

	for (i = 0; i < N(syncs); i++) {
		unsigned int dir = 99;
		uint64_t off = SENTINEL, len = SENTINEL;
		int err = parse_sync(syncs[i].s, syncs[i].len, &dir, &off, &len);
		int right = syncs[i].err ?
			err == syncs[i].err && dir == 99 && off == SENTINEL &&
			len == SENTINEL :
			!err && dir == syncs[i].dir && off == syncs[i].off &&
			len == syncs[i].length;

		good += !syncs[i].err;
		if (!right) {
			diag("parse_sync(%s): %d, %u %" PRIu64 " %" PRIu64,
			     show(syncs[i].s, syncs[i].len), err, dir, off, len);
			bad++;
		}
	}
	ok(!bad, "parse_sync: %zu good and %zu bad values", good,
	   N(syncs) - good);
}

int main(void)
{
	test_size();
	test_align();
	check_words("parse_cache", cache_parser, caches, N(caches));
	test_cache_name();
	test_sync();
	check_words("parse_backend", backend_parser, backends, N(backends));
	check_words("parse_tristate", tristate_parser, tristates,
		    N(tristates));
	return done_testing();
}
