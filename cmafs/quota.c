// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "quota.h"

static const char *const user_option[USE_KINDS] = {
	[USE_BYTES] = "quota", [USE_INODES] = "user_inodes",
	[USE_XATTR] = "user_xattr", [USE_STATS] = "open .stats per user",
};
static const char *const total_option[USE_KINDS] = {
	[USE_BYTES] = "pool", [USE_INODES] = "max_inodes",
	[USE_XATTR] = "max_xattr", [USE_STATS] = "open .stats",
};

/* A handful of users share a board: a small array beats a hash table. */
static struct uid_use *find(const struct quota *q, uid_t uid)
{
	for (size_t i = 0; i < q->count; i++)
		if (q->users[i].uid == uid)
			return &q->users[i];
	return NULL;
}

uint64_t quota_of(const struct quota *q, uid_t uid, enum use_kind kind)
{
	const struct uid_use *u = find(q, uid);

	return u ? u->use[kind] : 0;
}

static int refuse(struct quota *q, enum use_kind kind, int err,
		  const char *option, uint64_t limit, uid_t uid,
		  struct quota_miss *miss)
{
	if (kind == USE_BYTES)
		q->refused++;
	else
		q->limit_refused++;
	if (miss)
		*miss = (struct quota_miss){ option, limit, uid };
	return err;
}

int quota_check(struct quota *q, uid_t uid, enum use_kind kind,
		uint64_t more, struct quota_miss *miss)
{
	uint64_t total = q->total[kind], cap = total;

	if (uid != 0) {
		uint64_t mine = quota_of(q, uid, kind);

		if (q->user[kind] && (mine + more > q->user[kind] ||
				      mine + more < mine))
			return refuse(q, kind, -EDQUOT, user_option[kind],
				      q->user[kind], uid, miss);
		cap = total - total / 16;	/* root's reserve */
	}
	if (total && (q->used[kind] + more > cap ||
		      q->used[kind] + more < more))
		return refuse(q, kind, -ENOSPC, total_option[kind], cap, uid,
			      miss);
	return 0;
}

void quota_add(struct quota *q, uid_t uid, enum use_kind kind, int64_t delta)
{
	struct uid_use *u = find(q, uid);
	uint64_t down = delta < 0 ? (uint64_t)-delta : 0;

	if (!u) {
		if (delta <= 0)
			return;
		if (q->count == q->cap) {
			size_t ncap = q->cap ? q->cap * 2 : 8;
			struct uid_use *n = realloc(q->users,
						    ncap * sizeof(*n));

			if (!n) {
				/* usage shown low; the total stays right */
				q->used[kind] += (uint64_t)delta;
				return;
			}
			q->users = n;
			q->cap = ncap;
		}
		u = &q->users[q->count++];
		*u = (struct uid_use){ .uid = uid };
	}
	/* Never give back more than was taken: neither count wraps. */
	if (down > u->use[kind])
		down = u->use[kind];
	if (delta < 0) {
		u->use[kind] -= down;
		q->used[kind] = down > q->used[kind] ? 0 : q->used[kind] - down;
	} else {
		u->use[kind] += (uint64_t)delta;
		q->used[kind] += (uint64_t)delta;
	}
}

void quota_render(const struct quota *q, FILE *out)
{
	fprintf(out,
		"quota_bytes: %" PRIu64 "\n"
		"quota_failures: %" PRIu64 "\n"
		"inodes: %" PRIu64 "\n"
		"max_inodes: %" PRIu64 "\n"
		"user_inodes: %" PRIu64 "\n"
		"xattr_bytes: %" PRIu64 "\n"
		"max_xattr_bytes: %" PRIu64 "\n"
		"user_xattr_bytes: %" PRIu64 "\n"
		"limit_failures: %" PRIu64 "\n",
		q->user[USE_BYTES], q->refused,
		q->used[USE_INODES], q->total[USE_INODES], q->user[USE_INODES],
		q->used[USE_XATTR], q->total[USE_XATTR], q->user[USE_XATTR],
		q->limit_refused);
	for (size_t i = 0; i < q->count; i++) {
		const struct uid_use *u = &q->users[i];
		unsigned int uid = (unsigned int)u->uid;

		if (u->use[USE_BYTES])
			fprintf(out, "uid_%u_bytes: %" PRIu64 "\n", uid,
				u->use[USE_BYTES]);
		if (u->use[USE_INODES])
			fprintf(out, "uid_%u_inodes: %" PRIu64 "\n", uid,
				u->use[USE_INODES]);
		if (u->use[USE_XATTR])
			fprintf(out, "uid_%u_xattr_bytes: %" PRIu64 "\n", uid,
				u->use[USE_XATTR]);
	}
}

void quota_destroy(struct quota *q)
{
	free(q->users);
	q->users = NULL;
	q->count = q->cap = 0;
}
