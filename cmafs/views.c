// SPDX-License-Identifier: MIT
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buffer_ops.h"
#include "parse.h"
#include "views.h"

static const char *const names[] = {
	[STATS_INO - STATS_INO] = STATS_NAME,
	[BUFFERS_INO - STATS_INO] = BUFFERS_NAME,
	[MAP_INO - STATS_INO] = MAP_NAME,
};

fuse_ino_t view_lookup(fuse_ino_t parent, const char *name)
{
	if (parent != ROOT_INO)
		return 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		if (!strcmp(name, names[i]))
			return STATS_INO + i;
	return 0;
}

const char *view_name(fuse_ino_t ino)
{
	return view_ino(ino) ? names[ino - STATS_INO] : NULL;
}

void view_fill_stat(struct fs *fs, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_uid = fs->owner;
	st->st_gid = fs->group;
	st->st_blksize = (blksize_t)fs->page_size;
	st->st_atim = st->st_mtim = st->st_ctim = fs->stats_time;
}


/*
 * A name in a directory the reader could not list or search stays hidden,
 * as ls would keep it: every directory on the way must be searchable by
 * others, or be the reader's own and searchable by its owner.
 */
static bool path_visible(const struct node *n, uid_t reader)
{
	if (reader == 0 || !n->link)
		return reader == 0;
	for (const struct node *d = n->link->parent; d && d->ino != ROOT_INO;
	     d = d->link ? d->link->parent : NULL) {
		if (!d->link)
			return false;
		if (!(d->mode & S_IXOTH) &&
		    !(d->uid == reader && (d->mode & S_IXUSR)))
			return false;
	}
	return true;
}

/* A path as one field: blanks, control bytes and '\' as octal, like
 * /proc/self/mountinfo does. */
static void put_path(FILE *out, const char *p)
{
	for (; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= ' ' || c == '\\' || c == 0x7f)
			fprintf(out, "\\%03o", c);
		else
			fputc(c, out);
	}
}

static void put_name(struct fs *fs, FILE *out, const struct node *n,
		     uid_t reader)
{
	char path[4096];

	if (!n->link) {		/* removed while open: no name left */
		fprintf(out, "(inode:%" PRIu64 ")", (uint64_t)n->ino);
		return;
	}
	if (!path_visible(n, reader) && reader != n->uid) {
		fputc('-', out);
		return;
	}
	ns_path(fs, n, NULL, path, sizeof(path));
	put_path(out, path);
}

/* Every node with a buffer, in inode order. */
#define FOR_EACH_BUFFER(fs, n)						\
	for (fuse_ino_t i_ = 0; i_ < (fs)->next_ino; i_++)		\
		if (((n) = (fs)->nodes[i_]) && S_ISREG((n)->mode) &&	\
		    (n)->file.has_buf)

static void render_buffers(struct fs *fs, FILE *out, uid_t reader)
{
	uint64_t count = 0, bytes = 0;
	struct node *n;

	FOR_EACH_BUFFER(fs, n) {
		count++;
		bytes += n->file.buf.size;
	}
	fprintf(out, "buffers: %" PRIu64 "\nbytes: %" PRIu64 "\n", count,
		bytes);
	FOR_EACH_BUFFER(fs, n) {
		const struct file_data *f = &n->file;

		put_name(fs, out, n, reader);
		fprintf(out, " uid=%u size=%" PRIu64 " bytes=%" PRIu64
			" cache=%s mmap=%s opens=%u orphan=%s",
			(unsigned int)n->uid, f->size, f->buf.size,
			cache_name(f->cache),
			mmap_direct() ? "direct" : "cached", n->opens,
			n->nlink ? "no" : "yes");
		if (addresses_visible(fs, reader, n))
			fprintf(out, " phys=0x%" PRIx64 " dma=0x%" PRIx64 "\n",
				f->buf.phys_addr, f->buf.dma_addr);
		else
			fputs(" phys=- dma=-\n", out);
	}
}

static int by_address(const void *a, const void *b)
{
	const struct node *x = *(struct node *const *)a;
	const struct node *y = *(struct node *const *)b;

	return (x->file.buf.phys_addr > y->file.buf.phys_addr) -
	       (x->file.buf.phys_addr < y->file.buf.phys_addr);
}

/* One run: "START-END KIND PAGES [PATH]", addresses as the reader may. */
static void put_run(FILE *out, bool show, uint64_t start, uint64_t end,
		    const char *kind, uint64_t page)
{
	if (show)
		fprintf(out, "0x%" PRIx64 "-0x%" PRIx64, start, end);
	else
		fputc('-', out);
	fprintf(out, " %s %" PRIu64, kind, (end - start) / page);
}

static void render_map(struct fs *fs, FILE *out, uid_t reader)
{
	struct pool_stats st;
	struct node **v, *n;
	size_t count = 0, i = 0;
	uint64_t at, ps = fs->page_size;
	/* Free runs say where others' buffers are not: root's to see. */
	bool all = reader == 0 || fs->addresses == ADDR_ALL;

	fs->be->ops->stats(fs->be, &st);
	fprintf(out, "pool_bytes: %" PRIu64 "\nused_bytes: %" PRIu64
		"\nfree_bytes: %" PRIu64 "\nlargest_free_bytes: %" PRIu64
		"\n", st.pool_bytes, st.used_bytes, st.free_bytes,
		st.largest_free_bytes);
	FOR_EACH_BUFFER(fs, n)
		count++;
	v = malloc((count ? count : 1) * sizeof(*v));
	if (!v)
		return;
	FOR_EACH_BUFFER(fs, n)
		v[i++] = n;
	qsort(v, count, sizeof(*v), by_address);
	/*
	 * sim: the pool is ours alone, so what lies between buffers is free.
	 * kmod: the CMA area is shared and its extent not ours to know; what
	 * lies between our buffers is someone else's or free ("other").
	 */
	at = st.base;
	for (i = 0; i < count; i++) {
		const struct file_data *f = &v[i]->file;
		bool mine = addresses_visible(fs, reader, v[i]);

		if (f->buf.phys_addr > at && (st.base || i)) {
			put_run(out, all, at, f->buf.phys_addr,
				st.base ? "free" : "other", ps);
			fputc('\n', out);
		}
		put_run(out, all || mine, f->buf.phys_addr,
			f->buf.phys_addr + f->buf.size, "used", ps);
		fputc(' ', out);
		put_name(fs, out, v[i], reader);
		fputc('\n', out);
		at = f->buf.phys_addr + f->buf.size;
	}
	if (st.base && at < st.base + st.pool_bytes) {
		put_run(out, all, at, st.base + st.pool_bytes, "free", ps);
		fputc('\n', out);
	}
	free(v);
}

/*
 * Under passthrough the helper (kmod) grows and moves buffers on writes the
 * daemon never sees: learn where they are now, as getxattr does.  A buffer
 * moved by a write that runs while we render can still show where it was.
 */
static void refresh_all(struct fs *fs)
{
	for (fuse_ino_t i = 0; i < fs->next_ino; i++) {
		struct node *n = fs->nodes[i];

		if (n && S_ISREG(n->mode) && n->file.has_file)
			fb_refresh(fs, n);
	}
}

char *view_render(struct fs *fs, fuse_ino_t ino, uid_t reader, size_t *len)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out;

	/* What hand-offs no longer hold is free, not an orphan. */
	held_check(fs);
	if (ino == STATS_INO)
		return stats_render(fs, len);
	refresh_all(fs);
	out = open_memstream(&text, &size);
	if (!out)
		return NULL;
	if (ino == BUFFERS_INO)
		render_buffers(fs, out, reader);
	else
		render_map(fs, out, reader);
	if (fclose(out)) {
		free(text);
		return NULL;
	}
	*len = size;
	return text;
}
