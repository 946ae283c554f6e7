// SPDX-License-Identifier: MIT
/*
 * ops_xattr - extended attributes: the user.cma.* interface to a buffer
 * (SPEC section 5) and ordinary user.* attributes stored as on tmpfs.
 * The user.cma.* operations themselves are in buffer_ops.c, shared with
 * the ioctls of include/cmafs.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "cmafs.h"
#include "fs.h"
#include "buffer_ops.h"
#include "ops.h"
#include "parse.h"
#include "deferred.h"
#include "handoff.h"
#include "passthrough.h"
#include "views.h"

#define CMA_PREFIX "user.cma."
#define CMA_PREFIX_LEN (sizeof(CMA_PREFIX) - 1)

/* The value of a user.cma.* attribute, formatted into @buf. */
static int cma_get(fuse_req_t req, struct fs *fs, struct node *n,
		   const char *attr, char *buf, size_t buflen)
{
	const struct file_data *f = &n->file;

	/* Where to ask for buffer descriptors: on every file, for clients. */
	if (!strcmp(attr, "socket")) {
		const char *path = handoff_socket();

		return path ? snprintf(buf, buflen, "%s", path) : -ENODATA;
	}
	if (!S_ISREG(n->mode))
		return -ENODATA;
	fb_refresh(fs, n);
	if (!strcmp(attr, "phys_addr") || !strcmp(attr, "dma_addr")) {
		if (!may_see_addresses(req, n))
			return -EACCES;
		if (!f->has_buf)
			return -ENODATA;
		return snprintf(buf, buflen, "0x%" PRIx64,
				attr[0] == 'p' ? f->buf.phys_addr :
						 f->buf.dma_addr);
	}
	if (!strcmp(attr, "size")) {
		if (!f->has_buf)
			return -ENODATA;
		return snprintf(buf, buflen, "%" PRIu64, f->buf.size);
	}
	if (!strcmp(attr, "cache"))
		return snprintf(buf, buflen, "%s", cache_name(f->cache));
	if (!strcmp(attr, "align"))
		return snprintf(buf, buflen, "%" PRIu64, f->align);
	if (!strcmp(attr, "mmap"))
		return snprintf(buf, buflen, "%s",
				mmap_direct() ? "direct" : "cached");
	return -ENODATA;
}

/* 1: the reply was handed to the deferred thread. */
/* What would have been accepted, for the refusal's log line. */
static const char *cma_hint(const char *attr, int err)
{
	bool known = !strcmp(attr, "cache") || !strcmp(attr, "align") ||
		     !strcmp(attr, "sync");

	if (err == -EPERM)
		return "phys_addr, dma_addr, size, mmap and socket are read-only";
	if (err == -EINVAL && !known)
		return "the user.cma.* attributes to set are cache, align and sync";
	if (err == -EINVAL && !strcmp(attr, "cache"))
		return "expected cached, uncached or writecombine";
	if (err == -EINVAL && !strcmp(attr, "align"))
		return "expected a power of two >= the page size, such as 4096 or 2M; setfattr decodes 0x..., so quote hex: -v '\"0x200000\"'";
	if (err == -EINVAL && !strcmp(attr, "sync"))
		return "expected device or cpu, optionally followed by OFFSET LENGTH within the buffer";
	if (err == -EBUSY)
		return "the buffer is open or mapped elsewhere: set the cache mode before sizing, or when nobody holds the file";
	return NULL;
}

static int cma_set(fuse_req_t req, struct fs *fs, fuse_ino_t ino,
		   const char *attr, const char *value, size_t size)
{
	uint64_t align, off, len;
	unsigned int cache, dir;

	if (!strcmp(attr, "cache"))
		return parse_cache(value, size, &cache) ? -EINVAL :
		       cma_set_cache(fs, ino, cache, 0);
	if (!strcmp(attr, "align"))
		return parse_align(value, size, fs->page_size, &align) ?
		       -EINVAL : cma_set_align(fs, ino, align);
	if (!strcmp(attr, "sync")) {
		if (parse_sync(value, size, &dir, &off, &len))
			return -EINVAL;
		deferred_sync(req, ino, off, len, dir, false);
		return 1;
	}
	if (!strcmp(attr, "phys_addr") || !strcmp(attr, "dma_addr") ||
	    !strcmp(attr, "size") || !strcmp(attr, "mmap") ||
	    !strcmp(attr, "socket"))
		return -EPERM;
	return -EINVAL;
}

static struct xattr **find_user(struct node *n, const char *name)
{
	struct xattr **pp = &n->xattrs;

	while (*pp && strcmp((*pp)->name, name))
		pp = &(*pp)->next;
	return pp;
}

/*
 * The value's bytes are charged to the user who set it (who may not own
 * the file), and a replaced value's to whoever set that one.
 */
static int user_set(struct fs *fs, uid_t uid, struct node *n,
		    const char *name, const char *value, size_t size,
		    int flags, struct quota_miss *miss)
{
	struct xattr **pp = find_user(n, name), *x;
	size_t old = *pp ? strlen(name) + (*pp)->size : 0;
	size_t add = strlen(name) + size;
	uint64_t more = add;
	int err;

	if (*pp && (flags & XATTR_CREATE))
		return -EEXIST;
	if (!*pp && (flags & XATTR_REPLACE))
		return -ENODATA;
	if (n->xattr_bytes - old + add > XATTR_MAX_TOTAL)
		return -ENOSPC;
	/* A replacement by the same user needs room for the difference. */
	if (*pp && (*pp)->uid == uid)
		more = add > old ? add - old : 0;
	err = quota_check(&fs->quota, uid, USE_XATTR, more, miss);
	if (err)
		return err;
	x = malloc(sizeof(*x) + size);
	if (!x)
		return -ENOMEM;
	x->name = strdup(name);
	if (!x->name) {
		free(x);
		return -ENOMEM;
	}
	x->size = size;
	x->uid = uid;
	memcpy(x->value, value, size);
	if (*pp) {
		quota_add(&fs->quota, (*pp)->uid, USE_XATTR, -(int64_t)old);
		x->next = (*pp)->next;
		free((*pp)->name);
		free(*pp);
	} else {
		x->next = NULL;
	}
	*pp = x;
	quota_add(&fs->quota, uid, USE_XATTR, (int64_t)add);
	n->xattr_bytes = n->xattr_bytes - old + add;
	return 0;
}

static void cmafs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			   const char *value, size_t size, int flags)
{
	struct fs *fs = req_fs(req);
	struct quota_miss miss = { 0 };
	struct node *n;
	char op[300];
	int err;

	snprintf(op, sizeof(op), "setxattr %s", name);
	if (view_ino(ino)) {
		reply_refusal(req, ino, NULL, "setxattr", EPERM);
		return;
	}
	if (!strncmp(name, CMA_PREFIX, CMA_PREFIX_LEN)) {
		err = cma_set(req, fs, ino, name + CMA_PREFIX_LEN, value, size);
		if (err != 1)
			reply_refusal_hint(req, ino, NULL, op, -err,
					   cma_hint(name + CMA_PREFIX_LEN, err));
		return;
	}
	if (strncmp(name, "user.", 5)) {
		reply_refusal(req, ino, NULL, op, EOPNOTSUPP);
		return;
	}
	if (!name[5]) {		/* "user." alone names nothing, as on tmpfs */
		reply_refusal(req, ino, NULL, op, EINVAL);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	n = ns_node(fs, ino);
	err = n ? user_set(fs, fuse_req_ctx(req)->uid, n, name, value, size,
			   flags, &miss) : -ENOENT;
	if (!err)
		ns_touch(&n->ctime);
	pthread_mutex_unlock(&fs->lock);
	if (miss.option)
		reply_over_limit(req, ino, NULL, op, -err, &miss);
	else
		reply_refusal(req, ino, NULL, op, -err);
}

static void reply_value(fuse_req_t req, const char *value, int len,
			size_t size)
{
	if (len < 0)
		fuse_reply_err(req, -len);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)len);
	else if ((size_t)len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, value, (size_t)len);
}

static void cmafs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			   size_t size)
{
	struct fs *fs = req_fs(req);
	struct xattr *x;
	struct node *n;
	char *copy;
	int len;

	if (view_ino(ino)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	n = ns_node(fs, ino);
	if (!n) {
		pthread_mutex_unlock(&fs->lock);
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (!strncmp(name, CMA_PREFIX, CMA_PREFIX_LEN)) {
		char small[128];	/* an address, a number, a socket path */

		len = cma_get(req, fs, n, name + CMA_PREFIX_LEN, small,
			      sizeof(small));
		if (len >= (int)sizeof(small))
			len = -ERANGE;
		pthread_mutex_unlock(&fs->lock);
		if (len == -EACCES)
			reply_refusal(req, ino, NULL, "getxattr (not the owner)",
				      EACCES);
		else
			reply_value(req, small, len, size);
		return;
	}
	x = *find_user(n, name);
	if (!x) {
		pthread_mutex_unlock(&fs->lock);
		fuse_reply_err(req, ENODATA);
		return;
	}
	len = (int)x->size;
	copy = malloc(x->size + 1);
	if (copy)
		memcpy(copy, x->value, x->size);
	pthread_mutex_unlock(&fs->lock);
	reply_value(req, copy, copy ? len : -ENOMEM, size);
	free(copy);
}

static void cmafs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	static const char *const cma_names[] = {
		"phys_addr", "dma_addr", "size", "cache", "align", "mmap",
	};
	struct fs *fs = req_fs(req);
	char *list = NULL;
	size_t len = 0;
	FILE *out;
	struct node *n;

	out = open_memstream(&list, &len);
	if (!out) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	n = view_ino(ino) ? NULL : ns_node(fs, ino);
	if (n && S_ISREG(n->mode)) {
		for (size_t i = 0; i < sizeof(cma_names) / sizeof(*cma_names);
		     i++) {
			/* Addresses and size exist only with a buffer. */
			if (i < 3 && !n->file.has_buf)
				continue;
			fprintf(out, CMA_PREFIX "%s%c", cma_names[i], '\0');
		}
	}
	if (n && n->ino == ROOT_INO && handoff_socket())
		fprintf(out, CMAFS_SOCKET_XATTR "%c", '\0');
	for (struct xattr *x = n ? n->xattrs : NULL; x; x = x->next)
		fprintf(out, "%s%c", x->name, '\0');
	pthread_mutex_unlock(&fs->lock);
	if (fclose(out)) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (!n && !view_ino(ino))
		fuse_reply_err(req, ENOENT);
	else
		reply_value(req, list, (int)len, size);
	free(list);
}

static void cmafs_removexattr(fuse_req_t req, fuse_ino_t ino,
			      const char *name)
{
	struct fs *fs = req_fs(req);
	struct node *n;
	int err = 0;

	if (view_ino(ino) || !strncmp(name, CMA_PREFIX, CMA_PREFIX_LEN)) {
		reply_refusal(req, ino, NULL, "removexattr", EPERM);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	n = ns_node(fs, ino);
	if (!n) {
		err = ENOENT;
	} else {
		struct xattr **pp = find_user(n, name), *x = *pp;

		if (!x) {
			err = ENODATA;
		} else {
			*pp = x->next;
			n->xattr_bytes -= strlen(x->name) + x->size;
			quota_add(&fs->quota, x->uid, USE_XATTR,
				  -(int64_t)(strlen(x->name) + x->size));
			free(x->name);
			free(x);
			ns_touch(&n->ctime);
		}
	}
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, err);
}

void ops_xattr_init(struct fuse_lowlevel_ops *ops)
{
	ops->setxattr = cmafs_setxattr;
	ops->getxattr = cmafs_getxattr;
	ops->listxattr = cmafs_listxattr;
	ops->removexattr = cmafs_removexattr;
}
