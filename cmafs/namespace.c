// SPDX-License-Identifier: MIT
/*
 * namespace - inodes and names, tmpfs-like.
 *
 * Inode numbers index a table and are reused with a new generation, so a
 * lookup is an array access.  Names live in one hash table keyed by
 * (parent, name); each directory also chains its entries in creation order
 * for readdir, each entry numbered by a per-directory sequence that is its
 * readdir offset.  A node is freed when no name, no open handle and no
 * kernel reference is left; its buffer, its xattrs and its charge to its
 * creator go as soon as no name and no handle are (nothing can reach them
 * then).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

static uint64_t name_hash(fuse_ino_t parent, const char *name)
{
	uint64_t h = 1469598103934665603ULL ^ parent;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return h;
}

void ns_touch(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

struct node *ns_node(struct fs *fs, fuse_ino_t ino)
{
	if (ino >= fs->next_ino)
		return NULL;
	return fs->nodes[ino];
}

static int grow_htab(struct fs *fs)
{
	uint64_t ncap = fs->hcap ? fs->hcap * 2 : 1024;
	struct dentry **nt = calloc(ncap, sizeof(*nt));

	if (!nt)
		return -ENOMEM;
	for (uint64_t i = 0; i < fs->hcap; i++) {
		struct dentry *d = fs->htab[i], *next;

		for (; d; d = next) {
			uint64_t b = name_hash(d->parent->ino, d->name) &
				     (ncap - 1);

			next = d->hnext;
			d->hnext = nt[b];
			nt[b] = d;
		}
	}
	free(fs->htab);
	fs->htab = nt;
	fs->hcap = ncap;
	return 0;
}

struct dentry *ns_lookup(struct fs *fs, struct node *dir, const char *name)
{
	if (!fs->hcap)
		return NULL;
	uint64_t b = name_hash(dir->ino, name) & (fs->hcap - 1);

	for (struct dentry *d = fs->htab[b]; d; d = d->hnext)
		if (d->parent == dir && strcmp(d->name, name) == 0)
			return d;
	return NULL;
}

static fuse_ino_t take_ino(struct fs *fs)
{
	if (fs->free_count)
		return fs->free_inos[--fs->free_count];
	if (fs->next_ino == fs->nodes_cap) {
		fuse_ino_t ncap = fs->nodes_cap * 2;
		struct node **nn = realloc(fs->nodes, ncap * sizeof(*nn));
		fuse_ino_t *nf;

		if (!nn)
			return 0;
		fs->nodes = nn;
		nf = realloc(fs->free_inos, ncap * sizeof(*nf));
		if (!nf)
			return 0;
		fs->free_inos = nf;
		fs->nodes_cap = ncap;
	}
	return fs->next_ino++;
}

struct node *ns_new_node(struct fs *fs, mode_t mode, uid_t uid, gid_t gid)
{
	struct node *n = calloc(1, sizeof(*n));
	fuse_ino_t ino;

	if (!n)
		return NULL;
	ino = take_ino(fs);
	if (!ino) {
		free(n);
		return NULL;
	}
	n->ino = ino;
	n->generation = ++fs->generation;
	n->mode = mode;
	n->uid = uid;
	n->gid = gid;
	ns_touch(&n->mtime);
	n->atime = n->ctime = n->mtime;
	if (S_ISREG(mode)) {
		n->file.align = fs->default_align;
		n->file.cache = fs->default_cache;
	} else if (S_ISDIR(mode)) {
		/* 1 ".", 2 "..", 3-5 the views in the root; entries after */
		n->dir.next_seq = FIRST_NODE_INO + 1;
	}
	fs->nodes[ino] = n;
	return n;
}

/* Enter a name for @node in @dir; link counts are the caller's. */
static int attach(struct fs *fs, struct node *dir, const char *name,
		  struct node *node, struct dentry **out)
{
	size_t len = strlen(name);
	struct dentry *d;
	uint64_t b;

	if (fs->hcount >= fs->hcap && grow_htab(fs))
		return -ENOMEM;
	d = malloc(sizeof(*d) + len + 1);
	if (!d)
		return -ENOMEM;
	memcpy(d->name, name, len + 1);
	d->parent = dir;
	d->node = node;
	d->seq = dir->dir.next_seq++;
	d->charged = false;
	b = name_hash(dir->ino, name) & (fs->hcap - 1);
	d->hnext = fs->htab[b];
	fs->htab[b] = d;
	fs->hcount++;

	d->next = NULL;
	d->prev = dir->dir.tail;
	if (dir->dir.tail)
		dir->dir.tail->next = d;
	else
		dir->dir.head = d;
	dir->dir.tail = d;
	dir->dir.entries++;
	node->link = d;
	ns_touch(&dir->mtime);
	dir->ctime = dir->mtime;
	node->ctime = dir->mtime;
	if (out)
		*out = d;
	return 0;
}

int ns_link(struct fs *fs, struct node *dir, const char *name,
	    struct node *node, const uid_t *charge)
{
	struct dentry *d;
	int err = attach(fs, dir, name, node, &d);

	if (err)
		return err;
	if (charge) {
		d->charged = true;
		d->uid = *charge;
		quota_add(&fs->quota, *charge, USE_INODES, 1);
	}
	if (S_ISDIR(node->mode)) {
		node->nlink = 2;		/* its name and its "." */
		dir->nlink++;			/* its ".." */
	} else {
		if (node->nlink++ == 0 && S_ISREG(node->mode))
			fs->ct.files++;
	}
	return 0;
}

/* Take a dentry out of the hash and its directory, keep the node. */
static void detach(struct fs *fs, struct dentry *d)
{
	uint64_t b = name_hash(d->parent->ino, d->name) & (fs->hcap - 1);
	struct dentry **pp = &fs->htab[b];
	struct node *dir = d->parent;

	while (*pp != d)
		pp = &(*pp)->hnext;
	*pp = d->hnext;
	fs->hcount--;
	dir->dir.detaches++;
	if (d->node->link == d)
		d->node->link = NULL;

	if (d->prev)
		d->prev->next = d->next;
	else
		dir->dir.head = d->next;
	if (d->next)
		d->next->prev = d->prev;
	else
		dir->dir.tail = d->prev;
	dir->dir.entries--;
	ns_touch(&dir->mtime);
	dir->ctime = dir->mtime;
}

void ns_unlink(struct fs *fs, struct dentry *d)
{
	struct node *n = d->node;

	detach(fs, d);
	if (S_ISDIR(n->mode)) {
		d->parent->nlink--;
		n->nlink = 0;
	} else {
		n->nlink--;
	}
	n->ctime = d->parent->mtime;
	if (d->charged)
		quota_add(&fs->quota, d->uid, USE_INODES, -1);
	free(d);
	if (n->nlink == 0 && S_ISREG(n->mode)) {
		fs->ct.files--;
		if (n->file.has_buf)
			fs->ct.orphan_buffers++;
	}
	ns_maybe_free(fs, n);
}

int ns_rename(struct fs *fs, struct dentry *d, struct node *newdir,
	      const char *newname)
{
	struct node *n = d->node;
	struct node *olddir = d->parent;
	struct dentry *nd;
	int err = attach(fs, newdir, newname, n, &nd);

	if (err)
		return err;
	nd->charged = d->charged;
	nd->uid = d->uid;
	detach(fs, d);
	free(d);
	if (S_ISDIR(n->mode)) {
		olddir->nlink--;
		newdir->nlink++;
	}
	return 0;
}

void ns_exchange(struct dentry *a, struct dentry *b)
{
	struct node *na = a->node, *nb = b->node;

	a->node = nb;
	b->node = na;
	na->link = b;
	nb->link = a;
	if (a->parent != b->parent) {
		if (S_ISDIR(na->mode)) {
			a->parent->nlink--;
			b->parent->nlink++;
		}
		if (S_ISDIR(nb->mode)) {
			b->parent->nlink--;
			a->parent->nlink++;
		}
	}
	ns_touch(&a->parent->mtime);
	a->parent->ctime = a->parent->mtime;
	b->parent->mtime = b->parent->ctime = a->parent->mtime;
	na->ctime = nb->ctime = a->parent->mtime;
}

static void free_xattrs(struct fs *fs, struct node *n)
{
	struct xattr *x = n->xattrs, *next;

	for (; x; x = next) {
		next = x->next;
		quota_add(&fs->quota, x->uid, USE_XATTR,
			  -(int64_t)(strlen(x->name) + x->size));
		free(x->name);
		free(x);
	}
	n->xattrs = NULL;
	n->xattr_bytes = 0;
}

struct dentry *ns_dir_seek(struct node *dir, uint64_t off)
{
	struct dentry *d = dir->dir.head;

	while (d && d->seq <= off)
		d = d->next;
	return d;
}

void ns_maybe_free(struct fs *fs, struct node *n)
{
	if (n->nlink || n->opens)
		return;
	if (S_ISREG(n->mode) && held_keep(fs, n))
		return;
	if (S_ISREG(n->mode))
		fb_release(fs, n);
	free_xattrs(fs, n);
	if (n->charged) {
		quota_add(&fs->quota, n->charged_uid, USE_INODES, -1);
		if (S_ISLNK(n->mode) && n->symlink)
			quota_add(&fs->quota, n->charged_uid, USE_XATTR,
				  -(int64_t)strlen(n->symlink));
		n->charged = false;
	}
	if (n->nlookup || n->ino == ROOT_INO)
		return;
	fs->nodes[n->ino] = NULL;
	fs->free_inos[fs->free_count++] = n->ino;
	if (S_ISLNK(n->mode))
		free(n->symlink);
	free(n);
}

void ns_path(struct fs *fs, const struct node *n, const char *name,
	     char *buf, size_t len)
{
	const char *part[64];
	size_t depth = 0, used = 0;

	if (name)
		part[depth++] = name;
	while (n && n->ino != ROOT_INO && depth < 64) {
		if (!n->link) {
			/* Unlinked, or a hard link whose latest name went. */
			snprintf(buf, len, "(inode %" PRIu64 ")%s%s",
				 (uint64_t)n->ino, name ? "/" : "",
				 name ? name : "");
			(void)fs;
			return;
		}
		part[depth++] = n->link->name;
		n = n->link->parent;
	}
	if (!depth)
		snprintf(buf, len, "/");
	while (depth && used < len) {
		int w = snprintf(buf + used, len - used, "/%s", part[--depth]);

		used += w > 0 ? (size_t)w : 0;
	}
}

void ns_fill_stat(struct fs *fs, const struct node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_mode = n->mode;
	st->st_nlink = n->nlink;
	st->st_uid = n->uid;
	st->st_gid = n->gid;
	st->st_rdev = n->rdev;
	st->st_blksize = (blksize_t)fs->page_size;
	if (S_ISREG(n->mode)) {
		st->st_size = (off_t)n->file.size;
		if (n->file.has_buf)
			st->st_blocks = (blkcnt_t)(n->file.buf.size / 512);
	} else if (S_ISLNK(n->mode)) {
		st->st_size = (off_t)strlen(n->symlink);
	} else if (S_ISDIR(n->mode)) {
		st->st_size = (off_t)(n->dir.entries + 2);
	}
	st->st_atim = n->atime;
	st->st_mtim = n->mtime;
	st->st_ctim = n->ctime;
}

void ns_track(struct fs *fs, struct opened *o, void (*fn)(struct opened *))
{
	o->free = fn;
	o->next = fs->open_list.next;
	o->prev = &fs->open_list;
	o->next->prev = o;
	fs->open_list.next = o;
}

void ns_untrack(struct opened *o)
{
	o->prev->next = o->next;
	o->next->prev = o->prev;
}

int ns_init(struct fs *fs, mode_t root_mode)
{
	struct node *root;

	fs->open_list.next = fs->open_list.prev = &fs->open_list;
	fs->nodes_cap = 1024;
	fs->nodes = calloc(fs->nodes_cap, sizeof(*fs->nodes));
	fs->free_inos = calloc(fs->nodes_cap, sizeof(*fs->free_inos));
	if (!fs->nodes || !fs->free_inos || grow_htab(fs))
		return -ENOMEM;
	/* ino 0 is invalid for FUSE, 1 is the root, 2-4 are the views */
	fs->next_ino = ROOT_INO;
	root = ns_new_node(fs, S_IFDIR | root_mode, fs->owner, fs->group);
	if (!root)
		return -ENOMEM;
	root->nlink = 2;
	fs->next_ino = FIRST_NODE_INO;
	ns_touch(&fs->stats_time);
	return 0;
}

void ns_destroy(struct fs *fs)
{
	while (fs->open_list.next && fs->open_list.next != &fs->open_list) {
		struct opened *o = fs->open_list.next;

		ns_untrack(o);
		o->free(o);
	}
	for (fuse_ino_t i = 0; i < fs->next_ino; i++) {
		struct node *n = fs->nodes[i];

		if (!n)
			continue;
		if (S_ISREG(n->mode))
			fb_release(fs, n);
		free_xattrs(fs, n);
		if (S_ISLNK(n->mode))
			free(n->symlink);
		free(n);
	}
	for (uint64_t i = 0; i < fs->hcap; i++) {
		struct dentry *d = fs->htab[i], *next;

		for (; d; d = next) {
			next = d->hnext;
			free(d);
		}
	}
	free(fs->htab);
	free(fs->held);
	free(fs->nodes);
	free(fs->free_inos);
}
