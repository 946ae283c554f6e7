// SPDX-License-Identifier: MIT
/*
 * quota: per-user limits, the mount's total with root's 1/16 reserve, and
 * accounting that never wraps.
 */
#include <errno.h>
#include <stdint.h>

#include "quota.h"
#include "tap.h"

int main(void)
{
	struct quota q = { 0 };
	struct quota_miss m = { 0 };

	q.user[USE_INODES] = 10;
	q.total[USE_INODES] = 32;	/* users together: 30, root: 32 */

	/* a user up to its own limit, then EDQUOT naming it */
	is_int(quota_check(&q, 1000, USE_INODES, 10, &m), 0, "10 of 10 fit");
	quota_add(&q, 1000, USE_INODES, 10);
	is_int(quota_check(&q, 1000, USE_INODES, 1, &m), -EDQUOT,
	       "the 11th is EDQUOT");
	ok(m.option && !strcmp(m.option, "user_inodes") && m.limit == 10 &&
	   m.uid == 1000, "the miss names user_inodes=10 and uid 1000");
	is_int((int)q.limit_refused, 1, "the refusal is counted");

	/* users together stop at the total less 1/16 */
	quota_add(&q, 1001, USE_INODES, 10);
	quota_add(&q, 1002, USE_INODES, 9);
	is_int(quota_check(&q, 1002, USE_INODES, 1, &m), 0,
	       "users together reach 30");
	quota_add(&q, 1002, USE_INODES, 1);
	is_int(quota_check(&q, 1003, USE_INODES, 1, &m), -ENOSPC,
	       "a fourth user at 30 of 32 gets ENOSPC");
	ok(m.option && !strcmp(m.option, "max_inodes") && m.limit == 30,
	   "the miss names max_inodes and the users' share 30");

	/* root: no per-user limit, the whole total */
	is_int(quota_check(&q, 0, USE_INODES, 2, &m), 0, "root takes the reserve");
	quota_add(&q, 0, USE_INODES, 2);
	is_int(quota_check(&q, 0, USE_INODES, 1, &m), -ENOSPC,
	       "root stops at the total");

	/* giving back makes room; underflow stops at 0 */
	quota_add(&q, 1000, USE_INODES, -5);
	is_int(quota_check(&q, 1003, USE_INODES, 3, &m), 0,
	       "5 given back: 27 of 32, a user fits 3");
	is_int(quota_check(&q, 1003, USE_INODES, 4, &m), -ENOSPC,
	       "but not 4 (root's 2 are still used)");
	quota_add(&q, 1000, USE_INODES, -100);
	is_int((int)quota_of(&q, 1000, USE_INODES), 0, "a user's use stops at 0");
	ok(q.used[USE_INODES] == 22, "the total drops by what it held (%llu)",
	   (unsigned long long)q.used[USE_INODES]);
	quota_add(&q, 4242, USE_INODES, -1);
	ok(q.used[USE_INODES] == 22, "giving back what a user never had: no change");

	/* no limit: anything; a wrapping request is refused, not admitted */
	is_int(quota_check(&q, 1000, USE_XATTR, UINT64_MAX, &m), 0,
	       "no limit set: no refusal");
	q.user[USE_BYTES] = 1 << 20;
	quota_add(&q, 1000, USE_BYTES, 4096);
	is_int(quota_check(&q, 1000, USE_BYTES, UINT64_MAX - 100, &m), -EDQUOT,
	       "a request that would wrap the sum is EDQUOT");
	is_int(quota_check(&q, 0, USE_BYTES, UINT64_MAX, &m), 0,
	       "root is exempt from quota=");
	is_int((int)q.refused, 1, "buffer-byte refusals counted apart");
	quota_destroy(&q);
	return done_testing();
}
