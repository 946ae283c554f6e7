// SPDX-License-Identifier: MIT
/*
 * stats - the /.stats file and statfs, both views of the same pool.
 * Rendered under fs.lock, so every open sees one consistent snapshot.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/statvfs.h>

#include "fs.h"
#include "passthrough.h"

char *stats_render(struct fs *fs, size_t *len)
{
	struct pool_stats st;
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);

	if (!out)
		return NULL;
	fs->be->ops->stats(fs->be, &st);
	fprintf(out,
		"backend: %s\n"
		"mmap: %s\n"
		"passthrough_api: %s\n"
		"pool_bytes: %" PRIu64 "\n"
		"used_bytes: %" PRIu64 "\n"
		"free_bytes: %" PRIu64 "\n"
		"largest_free_bytes: %" PRIu64 "\n"
		"buffers: %" PRIu64 "\n"
		"orphan_buffers: %" PRIu64 "\n"
		"allocs: %" PRIu64 "\n"
		"alloc_failures: %" PRIu64 "\n"
		"frees: %" PRIu64 "\n"
		"resizes: %" PRIu64 "\n"
		"files: %" PRIu64 "\n"
		"page_size: %" PRIu64 "\n"
		"buffer_fds: %" PRIu64 "\n"
		"max_buffer_fds: %" PRIu64 "\n",
		fs->be->ops->name, pt_active() ? "direct" : "cached",
		pt_api(),
		st.pool_bytes, st.used_bytes, st.free_bytes,
		st.largest_free_bytes, fs->ct.buffers, fs->ct.orphan_buffers,
		fs->ct.allocs, fs->ct.alloc_failures, fs->ct.frees,
		fs->ct.resizes, fs->ct.files, fs->page_size, fs->buffer_fds,
		fs->max_buffer_fds);
	quota_render(&fs->quota, out);
	if (fs->be->ops->stats_extra)
		fs->be->ops->stats_extra(fs->be, out);
	if (fclose(out)) {
		free(text);
		return NULL;
	}
	*len = size;
	return text;
}

void stats_statfs(struct fs *fs, struct statvfs *sv)
{
	struct pool_stats st;

	fs->be->ops->stats(fs->be, &st);
	sv->f_bsize = fs->page_size;
	sv->f_frsize = fs->page_size;
	sv->f_blocks = st.pool_bytes / fs->page_size;
	sv->f_bfree = st.free_bytes / fs->page_size;
	sv->f_bavail = sv->f_bfree;
	/* max_inodes=0 lifts the limit: then report a large, stable figure. */
	sv->f_files = fs->quota.total[USE_INODES] ?
		      fs->quota.total[USE_INODES] : 1u << 30;
	sv->f_ffree = sv->f_files > fs->quota.used[USE_INODES] ?
		      sv->f_files - fs->quota.used[USE_INODES] : 0;
	sv->f_favail = sv->f_ffree;
	sv->f_namemax = 255;
}
