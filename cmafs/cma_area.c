// SPDX-License-Identifier: MIT
/*
 * cma_area - free extents in a treap keyed by first page.
 *
 * Each node is one maximal free run (neighbours are always coalesced), and
 * carries the longest run in its subtree.  That gives the largest free run at
 * the root, and lets the first-fit search skip every subtree that cannot hold
 * the request, so a search costs O(log n) unless alignment padding makes many
 * long-enough runs unusable (the kernel's bitmap scan is linear anyway).
 *
 * free() cannot fail: it returns void, and the daemon calls it on paths that
 * have nowhere to report an error.  Free runs never outnumber live runs + 1
 * (between two free runs lies at least one live run), so alloc and resize
 * reserve nodes up front for the runs they create, and free only ever takes
 * nodes from that reserve.
 */
#include <errno.h>
#include <stdlib.h>

#include "cma_area.h"

struct ext {
	uint64_t start;
	uint64_t len;
	uint64_t max;		/* longest len in this subtree */
	uint32_t prio;
	struct ext *l, *r;
};

struct cma_area {
	struct ext *root;
	struct ext *spare;	/* unused nodes, linked through ->r */
	uint64_t nspare;
	uint64_t pages;
	uint64_t free_pages;
	uint64_t base;		/* page number of page 0: alignment is absolute */
	uint64_t live;		/* runs handed out */
	uint64_t nodes;		/* in the tree plus spare */
	uint32_t seed;
};

static uint64_t sub_max(const struct ext *e)
{
	return e ? e->max : 0;
}

static void pull(struct ext *e)
{
	uint64_t m = e->len;

	if (sub_max(e->l) > m)
		m = sub_max(e->l);
	if (sub_max(e->r) > m)
		m = sub_max(e->r);
	e->max = m;
}

/* Every key in @a is below every key in @b. */
static struct ext *merge(struct ext *a, struct ext *b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	if (a->prio > b->prio) {
		a->r = merge(a->r, b);
		pull(a);
		return a;
	}
	b->l = merge(a, b->l);
	pull(b);
	return b;
}

/* Keys below @key go to *@lo, the rest to *@hi. */
static void split(struct ext *t, uint64_t key, struct ext **lo, struct ext **hi)
{
	if (!t) {
		*lo = *hi = NULL;
		return;
	}
	if (t->start < key) {
		split(t->r, key, &t->r, hi);
		*lo = t;
	} else {
		split(t->l, key, lo, &t->l);
		*hi = t;
	}
	pull(t);
}

static struct ext *insert(struct ext *t, struct ext *n)
{
	if (!t)
		return n;
	if (n->prio > t->prio) {
		split(t, n->start, &n->l, &n->r);
		pull(n);
		return n;
	}
	if (n->start < t->start)
		t->l = insert(t->l, n);
	else
		t->r = insert(t->r, n);
	pull(t);
	return t;
}

/* Unlink the node starting at @key (it must exist) into *@out. */
static struct ext *unlink_ext(struct ext *t, uint64_t key, struct ext **out)
{
	if (key < t->start) {
		t->l = unlink_ext(t->l, key, out);
	} else if (key > t->start) {
		t->r = unlink_ext(t->r, key, out);
	} else {
		struct ext *rest = merge(t->l, t->r);

		*out = t;
		return rest;
	}
	pull(t);
	return t;
}

/* The free run with the highest start below @key, or NULL. */
static struct ext *below(struct ext *t, uint64_t key)
{
	struct ext *best = NULL;

	while (t) {
		if (t->start < key) {
			best = t;
			t = t->r;
		} else {
			t = t->l;
		}
	}
	return best;
}

static struct ext *find(struct ext *t, uint64_t key)
{
	while (t && t->start != key)
		t = key < t->start ? t->l : t->r;
	return t;
}

static int fits(const struct ext *e, uint64_t base, uint64_t pages,
		uint64_t align, uint64_t *pos)
{
	/*
	 * Aligned in the address space, not in the area (cma_alloc's bitmap
	 * offset).  Padding is measured inside the run: it cannot overflow.
	 */
	uint64_t pad = (align - ((base + e->start) & (align - 1))) &
		       (align - 1);

	if (pad >= e->len || e->len - pad < pages)
		return 0;
	*pos = e->start + pad;
	return 1;
}

static struct ext *first_fit(struct ext *t, uint64_t base, uint64_t pages,
			     uint64_t align, uint64_t *pos)
{
	while (t && t->max >= pages) {
		struct ext *hit = first_fit(t->l, base, pages, align, pos);

		if (hit)
			return hit;
		if (fits(t, base, pages, align, pos))
			return t;
		t = t->r;
	}
	return NULL;
}

static uint32_t next_prio(struct cma_area *a)
{
	/* xorshift32: priorities only need to look random to the treap */
	a->seed ^= a->seed << 13;
	a->seed ^= a->seed >> 17;
	a->seed ^= a->seed << 5;
	return a->seed;
}

static struct ext *get_node(struct cma_area *a)
{
	struct ext *n = a->spare;

	if (n) {
		a->spare = n->r;
		a->nspare--;
	} else {
		/* only reached when a caller frees part of a run */
		n = malloc(sizeof(*n));
		if (!n)
			return NULL;
		a->nodes++;
	}
	n->prio = next_prio(a);
	return n;
}

static void put_node(struct cma_area *a, struct ext *n)
{
	n->r = a->spare;
	a->spare = n;
	a->nspare++;
}

/*
 * Make room for the free runs that one more live run can bring about, and for
 * the two that a move can create even if the caller has freed runs piecemeal,
 * so that alloc and resize never fail half-way.
 */
static int reserve(struct cma_area *a)
{
	while (a->nodes < a->live + 2 || a->nspare < 2) {
		struct ext *n = malloc(sizeof(*n));

		if (!n)
			return -ENOMEM;
		a->nodes++;
		put_node(a, n);
	}
	return 0;
}

static void add_free(struct cma_area *a, struct ext *n, uint64_t start,
		     uint64_t len)
{
	n->start = start;
	n->len = len;
	n->max = len;
	n->l = n->r = NULL;
	a->root = insert(a->root, n);
}

/* Carve [@pos, @pos + @pages) out of the free run @e. */
static void take(struct cma_area *a, const struct ext *e, uint64_t pos,
		 uint64_t pages)
{
	uint64_t start = e->start, end = e->start + e->len;
	struct ext *n;

	a->root = unlink_ext(a->root, start, &n);
	if (pos > start) {
		add_free(a, n, start, pos - start);
		n = NULL;
	}
	if (pos + pages < end) {
		if (!n)
			n = get_node(a);	/* from reserve() */
		add_free(a, n, pos + pages, end - pos - pages);
		n = NULL;
	}
	if (n)
		put_node(a, n);
	a->free_pages -= pages;
}

/* Is [@first, @first + @pages) inside the area and wholly allocated? */
static int held(const struct cma_area *a, uint64_t first, uint64_t pages)
{
	const struct ext *p;

	if (!pages || first >= a->pages || pages > a->pages - first)
		return 0;
	p = below(a->root, first + pages);
	return !p || p->start + p->len <= first;
}

static void release(struct cma_area *a, uint64_t first, uint64_t pages)
{
	struct ext *prev = below(a->root, first);
	struct ext *next = find(a->root, first + pages);
	struct ext *n = NULL;
	uint64_t start = first, len = pages;

	if (prev && prev->start + prev->len == first) {
		start = prev->start;
		len += prev->len;
		a->root = unlink_ext(a->root, prev->start, &n);
	}
	if (next) {
		len += next->len;
		if (n)
			put_node(a, n);
		a->root = unlink_ext(a->root, first + pages, &n);
	}
	if (!n) {
		n = get_node(a);
		if (!n)
			return;	/* the pages stay allocated: leaked, not corrupt */
	}
	add_free(a, n, start, len);
	a->free_pages += pages;
}

static int is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

struct cma_area *cma_area_new(uint64_t pages)
{
	struct cma_area *a;
	struct ext *n;

	if (!pages)
		return NULL;
	a = calloc(1, sizeof(*a));
	n = malloc(sizeof(*n));
	if (!a || !n) {
		free(a);
		free(n);
		return NULL;
	}
	a->pages = pages;
	a->seed = 0x9e3779b9u;
	a->nodes = 1;
	n->prio = next_prio(a);
	add_free(a, n, 0, pages);
	a->free_pages = pages;
	return a;
}

static void free_tree(struct ext *t)
{
	while (t) {
		struct ext *r = t->r;

		free_tree(t->l);
		free(t);
		t = r;
	}
}

void cma_area_destroy(struct cma_area *a)
{
	struct ext *n;

	if (!a)
		return;
	free_tree(a->root);
	while ((n = a->spare)) {
		a->spare = n->r;
		free(n);
	}
	free(a);
}

static int check_request(const struct cma_area *a, uint64_t pages,
			 uint64_t align)
{
	if (!pages || !is_pow2(align))
		return -EINVAL;
	if (pages > a->pages)
		return -EFBIG;
	return 0;
}

int cma_area_alloc(struct cma_area *a, uint64_t pages, uint64_t align,
		   uint64_t *first)
{
	const struct ext *e;
	uint64_t pos = 0;
	int err = check_request(a, pages, align);

	if (err)
		return err;
	e = first_fit(a->root, a->base, pages, align, &pos);
	if (!e)
		return -ENOSPC;
	err = reserve(a);
	if (err)
		return err;
	take(a, e, pos, pages);
	a->live++;
	*first = pos;
	return 0;
}

int cma_area_resize(struct cma_area *a, uint64_t first, uint64_t old_pages,
		    uint64_t new_pages, uint64_t align, uint64_t *new_first)
{
	const struct ext *e;
	uint64_t pos = 0;
	int err = check_request(a, new_pages, align);

	if (err)
		return err;
	if (!held(a, first, old_pages))
		return -EINVAL;
	err = reserve(a);
	if (err)
		return err;

	if (new_pages <= old_pages) {
		if (new_pages < old_pages)
			release(a, first + new_pages, old_pages - new_pages);
		*new_first = first;
		return 0;
	}

	e = find(a->root, first + old_pages);
	if (e && e->len >= new_pages - old_pages) {
		take(a, e, e->start, new_pages - old_pages);
		*new_first = first;
		return 0;
	}

	e = first_fit(a->root, a->base, new_pages, align, &pos);
	if (!e)
		return -ENOSPC;
	take(a, e, pos, new_pages);
	release(a, first, old_pages);
	*new_first = pos;
	return 0;
}

void cma_area_free(struct cma_area *a, uint64_t first, uint64_t pages)
{
	/* A bad free would corrupt the map for every later buffer: ignore it. */
	if (!held(a, first, pages))
		return;
	release(a, first, pages);
	if (a->live)
		a->live--;
}

void cma_area_set_base(struct cma_area *a, uint64_t base)
{
	a->base = base;
}

uint64_t cma_area_pages(const struct cma_area *a)
{
	return a->pages;
}

uint64_t cma_area_free_pages(const struct cma_area *a)
{
	return a->free_pages;
}

uint64_t cma_area_largest_free(const struct cma_area *a)
{
	return sub_max(a->root);
}
