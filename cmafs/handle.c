// SPDX-License-Identifier: MIT
/* handle - what an open descriptor of the mount points at (see ops.h). */
#include <stdlib.h>

#include "ops.h"

void handle_free(struct opened *o)
{
	struct handle *h = (struct handle *)o;

	free(h->stats);
	free(h);
}

struct handle *handle_new(struct fs *fs, enum handle_kind kind)
{
	struct handle *h = calloc(1, sizeof(*h));

	if (h) {
		h->kind = kind;
		ns_track(fs, &h->link, handle_free);
	}
	return h;
}

struct handle *handle_get(const struct fuse_file_info *fi,
			  enum handle_kind kind)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	return h && h->kind == kind ? h : NULL;
}
