// SPDX-License-Identifier: MIT
#include <inttypes.h>
#include <stdlib.h>

#include "quota.h"

/* A handful of users share a board: a small array beats a hash table. */
static struct uid_bytes *find(const struct quota *q, uid_t uid)
{
	for (size_t i = 0; i < q->count; i++)
		if (q->users[i].uid == uid)
			return &q->users[i];
	return NULL;
}

bool quota_exceeded(const struct quota *q, uid_t uid, uint64_t more)
{
	const struct uid_bytes *u;

	if (!q->limit || uid == 0)
		return false;
	u = find(q, uid);
	return (u ? u->bytes : 0) + more > q->limit;
}

void quota_add(struct quota *q, uid_t uid, int64_t delta)
{
	struct uid_bytes *u = find(q, uid);

	if (!u) {
		if (delta <= 0)
			return;
		if (q->count == q->cap) {
			size_t ncap = q->cap ? q->cap * 2 : 8;
			struct uid_bytes *n = realloc(q->users,
						      ncap * sizeof(*n));

			if (!n)
				return;	/* usage shown low; limits stay safe */
			q->users = n;
			q->cap = ncap;
		}
		u = &q->users[q->count++];
		u->uid = uid;
		u->bytes = 0;
	}
	if (delta < 0 && (uint64_t)-delta > u->bytes)
		u->bytes = 0;
	else
		u->bytes += (uint64_t)delta;
}

void quota_render(const struct quota *q, FILE *out)
{
	fprintf(out, "quota_bytes: %" PRIu64 "\nquota_failures: %" PRIu64 "\n",
		q->limit, q->refused);
	for (size_t i = 0; i < q->count; i++)
		if (q->users[i].bytes)
			fprintf(out, "uid_%u_bytes: %" PRIu64 "\n",
				(unsigned int)q->users[i].uid,
				q->users[i].bytes);
}

void quota_destroy(struct quota *q)
{
	free(q->users);
	q->users = NULL;
	q->count = q->cap = 0;
}
