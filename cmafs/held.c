// SPDX-License-Identifier: MIT
/*
 * held - buffers that outlive their file.
 *
 * A handed-out buffer descriptor (handoff.c) holds the buffer as an open
 * file does: when the file is removed and closed through the mount, the
 * memory stays taken, charged to its owner and counted as an orphan in
 * .stats, until the last handed-out descriptor is closed and unmapped.
 * The backend tells whether any is left (backend.h: held); nothing tells
 * us when, so the hand-off thread asks every second, and .stats and
 * allocation failures ask before they count.
 */
#include <stdlib.h>

#include "fs.h"

/* Under fs.lock, at the point where @n would be freed: keep it? */
bool held_keep(struct fs *fs, struct node *n)
{
	struct file_data *f = &n->file;
	const struct backend_ops *ops = fs->be->ops;

	if (f->held)
		return true;
	if (!f->handed || !f->has_file || !ops->held ||
	    ops->held(fs->be, &f->buf) <= 0)
		return false;
	if (fs->nheld == fs->held_cap) {
		size_t cap = fs->held_cap ? 2 * fs->held_cap : 16;
		fuse_ino_t *p = realloc(fs->held, cap * sizeof(*p));

		/* No room to remember it: free it now, as before hand-offs. */
		if (!p)
			return false;
		fs->held = p;
		fs->held_cap = cap;
	}
	fs->held[fs->nheld++] = n->ino;
	f->held = true;
	return true;
}

/* Under fs.lock: free the buffers no one holds any more. */
void held_check(struct fs *fs)
{
	size_t i = 0;

	while (i < fs->nheld) {
		struct node *n = ns_node(fs, fs->held[i]);
		struct file_data *f = n ? &n->file : NULL;

		if (f && f->has_file && fs->be->ops->held(fs->be, &f->buf) > 0) {
			i++;
			continue;
		}
		fs->held[i] = fs->held[--fs->nheld];
		if (!f)
			continue;
		f->held = false;
		f->handed = false;
		f->handed_rw = false;
		ns_maybe_free(fs, n);
	}
}
