// SPDX-License-Identifier: MIT
/*
 * parse - strict parsers: anything not spelled out in parse.h is -EINVAL.
 *
 * No <ctype.h>: its answers depend on the locale, and these strings are part
 * of an interface.  No strtoull(): it wants a NUL, skips whitespace and signs
 * of its own, and takes "-1" for 2^64-1.
 */
#include <errno.h>
#include <string.h>

#include "cmafs.h"
#include "parse.h"

struct span {
	const char *p;
	size_t n;
};

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
	       c == '\r';
}

static struct span trim(const char *s, size_t len)
{
	struct span t = { s, len };

	while (t.n && is_space(t.p[0])) {
		t.p++;
		t.n--;
	}
	while (t.n && is_space(t.p[t.n - 1]))
		t.n--;
	return t;
}

static int equals(struct span t, const char *word)
{
	return t.n == strlen(word) && !memcmp(t.p, word, t.n);
}

static int lower(char c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int digit(char c, unsigned int base)
{
	int v;

	if (c >= '0' && c <= '9')
		v = c - '0';
	else if (lower(c) >= 'a' && lower(c) <= 'f')
		v = lower(c) - 'a' + 10;
	else
		return -1;
	return (unsigned int)v < base ? v : -1;
}

/* A size with no surrounding whitespace. */
static int size_token(struct span t, uint64_t *out)
{
	static const char units[] = "kmgt";
	unsigned int base = 10, shift = 0;
	uint64_t v = 0;
	size_t i = 0;
	int d;

	if (t.n > 2 && t.p[0] == '0' && lower(t.p[1]) == 'x') {
		base = 16;
		i = 2;
	}
	if (i == t.n || digit(t.p[i], base) < 0)
		return -EINVAL;
	for (; i < t.n && (d = digit(t.p[i], base)) >= 0; i++) {
		if (v > (UINT64_MAX - (uint64_t)d) / base)
			return -EINVAL;
		v = v * base + (uint64_t)d;
	}

	if (i < t.n) {
		const char *unit = t.p[i] ? strchr(units, lower(t.p[i])) : NULL;

		if (!unit)
			return -EINVAL;
		shift = 10 * (unsigned int)(unit - units + 1);
		i++;
		/* "KB" might mean 1000s to someone: only "KiB" is unambiguous */
		if (t.n - i == 2 && lower(t.p[i]) == 'i' && lower(t.p[i + 1]) == 'b')
			i += 2;
	}
	if (i != t.n || v > UINT64_MAX >> shift)
		return -EINVAL;
	*out = v << shift;
	return 0;
}

int parse_size(const char *s, size_t len, uint64_t *out)
{
	return size_token(trim(s, len), out);
}

int parse_align(const char *s, size_t len, uint64_t page_size, uint64_t *out)
{
	uint64_t v;

	if (parse_size(s, len, &v) || !v || (v & (v - 1)) || v < page_size)
		return -EINVAL;
	*out = v;
	return 0;
}

static const char *const cache_names[] = {
	[CMAFS_CACHE_UNCACHED] = "uncached",
	[CMAFS_CACHE_CACHED] = "cached",
	[CMAFS_CACHE_WRITECOMBINE] = "writecombine",
};

#define N_CACHE (sizeof(cache_names) / sizeof(cache_names[0]))

int parse_cache(const char *s, size_t len, unsigned int *out)
{
	struct span t = trim(s, len);
	unsigned int i;

	for (i = 0; i < N_CACHE; i++) {
		if (equals(t, cache_names[i])) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

/* NULL for a mode that does not exist. */
const char *cache_name(unsigned int cache)
{
	return cache < N_CACHE ? cache_names[cache] : NULL;
}

/* The next whitespace-separated word of *@t, consumed; empty at the end. */
static struct span word(struct span *t)
{
	struct span w = { t->p, 0 };

	while (w.n < t->n && !is_space(w.p[w.n]))
		w.n++;
	t->p += w.n;
	t->n -= w.n;
	*t = trim(t->p, t->n);
	return w;
}

int parse_sync(const char *s, size_t len, unsigned int *direction,
	       uint64_t *off, uint64_t *length)
{
	struct span t = trim(s, len), w = word(&t);
	uint64_t o = 0, l = 0;
	unsigned int dir;

	if (equals(w, "device"))
		dir = CMAFS_SYNC_DEVICE;
	else if (equals(w, "cpu"))
		dir = CMAFS_SYNC_CPU;
	else
		return -EINVAL;

	if (t.n) {
		if (size_token(word(&t), &o) || size_token(word(&t), &l) ||
		    t.n || l > UINT64_MAX - o)
			return -EINVAL;
	}
	*direction = dir;
	*off = o;
	*length = l;
	return 0;
}

int parse_backend(const char *s, size_t len, enum backend_kind *out)
{
	struct span t = trim(s, len);

	if (equals(t, "auto"))
		*out = BACKEND_AUTO;
	else if (equals(t, "kmod"))
		*out = BACKEND_KMOD;
	else if (equals(t, "sim"))
		*out = BACKEND_SIM;
	else
		return -EINVAL;
	return 0;
}

int parse_tristate(const char *s, size_t len, enum tristate *out)
{
	struct span t = trim(s, len);

	if (equals(t, "auto"))
		*out = TRI_AUTO;
	else if (equals(t, "on"))
		*out = TRI_ON;
	else if (equals(t, "off"))
		*out = TRI_OFF;
	else
		return -EINVAL;
	return 0;
}
