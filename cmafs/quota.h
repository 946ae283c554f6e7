/* SPDX-License-Identifier: MIT */
/*
 * quota - what each user holds in a mount and the limits on it.
 *
 * Every resource a request can make the daemon keep is counted against
 * the user it was made for: buffer bytes (charged to the file's owner),
 * inodes (nodes and extra hard links, charged to their creator), metadata
 * bytes (user.* xattrs and symlink targets, charged to their writer) and
 * open /.stats snapshots.  A non-root user is held to a per-user limit
 * and, all users together, to the total less a reserve of 1/16 that only
 * root may use, so that an exhausted mount can still be cleaned up by
 * root.  Root is held to the total alone.  Called under fs.lock.
 */
#ifndef CMAFS_QUOTA_H
#define CMAFS_QUOTA_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

enum use_kind {
	USE_BYTES,		/* buffer bytes: -o quota= (per user) */
	USE_INODES,		/* -o user_inodes= and max_inodes= */
	USE_XATTR,		/* -o user_xattr= and max_xattr= */
	USE_STATS,		/* open /.stats snapshots */
	USE_KINDS
};

struct quota {
	uint64_t user[USE_KINDS];	/* per non-root user, 0: none */
	uint64_t total[USE_KINDS];	/* whole mount, 0: none */
	uint64_t used[USE_KINDS];	/* whole mount */
	struct uid_use {
		uid_t uid;
		uint64_t use[USE_KINDS];
	} *users;
	size_t count, cap;
	uint64_t refused;		/* buffer bytes refused (EDQUOT) */
	uint64_t limit_refused;		/* inodes, xattrs, snapshots */
};

/* Why a quota_check() said no, for the caller's log line. */
struct quota_miss {
	const char *option;		/* the mount option that set the limit */
	uint64_t limit;
	uid_t uid;
};

/*
 * May @uid take @more units of @kind?  0, -EDQUOT (its own limit) or
 * -ENOSPC (the mount's); @miss (may be NULL) says which limit.  Counts
 * the refusal.
 */
int quota_check(struct quota *q, uid_t uid, enum use_kind kind,
		uint64_t more, struct quota_miss *miss);
/* Account @delta units of @kind (may be negative) to @uid. */
void quota_add(struct quota *q, uid_t uid, enum use_kind kind, int64_t delta);
uint64_t quota_of(const struct quota *q, uid_t uid, enum use_kind kind);
/* The limits and every user's use, as "key: value" lines for /.stats. */
void quota_render(const struct quota *q, FILE *out);
void quota_destroy(struct quota *q);

#endif /* CMAFS_QUOTA_H */
