/* SPDX-License-Identifier: MIT */
/*
 * quota - bytes of buffer held per user (the file's owner), and the
 * optional per-user limit of -o quota=SIZE.  Root is not limited, as
 * CAP_SYS_RESOURCE is not on disk filesystems.  Called under fs.lock.
 */
#ifndef CMAFS_QUOTA_H
#define CMAFS_QUOTA_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct quota {
	uint64_t limit;			/* 0: none */
	struct uid_bytes {
		uid_t uid;
		uint64_t bytes;
	} *users;
	size_t count, cap;
	uint64_t refused;
};

/* Would @uid holding @more bytes more go over the limit? */
bool quota_exceeded(const struct quota *q, uid_t uid, uint64_t more);
/* Account @delta bytes (may be negative) to @uid. */
void quota_add(struct quota *q, uid_t uid, int64_t delta);
/* "quota_bytes", "quota_failures" and one "uid_N_bytes" line per user. */
void quota_render(const struct quota *q, FILE *out);
void quota_destroy(struct quota *q);

#endif /* CMAFS_QUOTA_H */
