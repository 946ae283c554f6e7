// SPDX-License-Identifier: MIT
/*
 * privs - see privs.h.
 *
 * Who drops the bits.  libfuse 3.14 claims FUSE_CAP_HANDLE_KILLPRIV by
 * default; the daemon turns it off (ops.c), so the kernel's FUSE drops
 * setuid, and setgid where group-exec, itself: it sends a SETATTR of the
 * mode before a truncate, fallocate, chown or page-cache/passthrough write
 * by a caller without CAP_FSETID.  What it leaves to the file system:
 *   - writes through FOPEN_DIRECT_IO (all writes the daemon serves); it
 *     never calls file_remove_privs() for them;
 *   - open(O_TRUNC) with FUSE_ATOMIC_O_TRUNC: its SETATTR is not sent
 *     (the OPEN did the truncation), and the mode change with it is lost;
 *   - a setgid bit without group-exec, for a writer outside the group,
 *     which tmpfs drops (Linux >= 6.2) and FUSE's own rule keeps.
 * So the daemon applies the kernel's rule on those requests itself.  The
 * kernel tells us the caller lacks CAP_FSETID only with
 * FUSE_HANDLE_KILLPRIV_V2, which we do not ask for: it would stop the
 * kernel dropping the bits on the writes passthrough sends to the buffer
 * without us (kmod), and nothing would drop them there.  So the caller's
 * capability is read from /proc (its effective set, and only if it is in
 * the initial user namespace, as capable() means), and only for files that
 * carry a bit to drop: no cost on any other request.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "privs.h"

#define CAP_FSETID_BIT 4	/* <linux/capability.h> CAP_FSETID */

mode_t privs_to_drop(mode_t mode, bool capable, bool in_group)
{
	mode_t kill = 0;

	if (!S_ISREG(mode) || capable)
		return 0;
	kill |= mode & S_ISUID;
	if ((mode & S_ISGID) && ((mode & S_IXGRP) || !in_group))
		kill |= S_ISGID;
	return kill;
}

/* The daemon's own user namespace is the initial one (identity uid_map). */
static bool self_in_init_userns(void)
{
	static int known = -1;
	unsigned long a, b, c;
	FILE *f;

	if (known >= 0)
		return known;
	known = 0;
	f = fopen("/proc/self/uid_map", "re");
	if (f) {
		known = fscanf(f, "%lu %lu %lu", &a, &b, &c) == 3 &&
			a == 0 && b == 0 && c == 4294967295UL &&
			fscanf(f, "%lu", &a) != 1;
		fclose(f);
	}
	return known;
}

/*
 * Whether @pid has CAP_FSETID in the initial user namespace; -1 when
 * /proc does not say (no pid: the caller is in a pid namespace we do not
 * see; or it is gone).
 */
static int pid_capable_fsetid(pid_t pid)
{
	char path[64], line[256];
	struct stat ours, theirs;
	uint64_t eff = 0;
	bool found = false;
	FILE *f;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
	if (stat(path, &theirs) || stat("/proc/self/ns/user", &ours))
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %" SCNx64, &eff) == 1) {
			found = true;
			break;
		}
	fclose(f);
	if (!found)
		return -1;
	/* capabilities held in another user namespace are not capable() */
	if (theirs.st_ino != ours.st_ino || theirs.st_dev != ours.st_dev ||
	    !self_in_init_userns())
		return 0;
	return (eff >> CAP_FSETID_BIT) & 1;
}

static bool caller_in_group(fuse_req_t req, gid_t gid)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	gid_t groups[64];
	int count;

	if (ctx->gid == gid)
		return true;
	count = fuse_req_getgroups(req, 64, groups);
	for (int i = 0; i < count && i < 64; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

bool privs_drop(fuse_req_t req, struct node *n)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	bool capable, in_group = true;
	mode_t kill;
	int cap;

	if (!S_ISREG(n->mode) || !(n->mode & (S_ISUID | S_ISGID)))
		return false;
	cap = pid_capable_fsetid(ctx->pid);
	/* Unknown: root stands for CAP_FSETID, as before there was /proc. */
	capable = cap < 0 ? ctx->uid == 0 : cap == 1;
	if (capable)
		return false;
	if ((n->mode & S_ISGID) && !(n->mode & S_IXGRP))
		in_group = caller_in_group(req, n->gid);
	kill = privs_to_drop(n->mode, capable, in_group);
	if (!kill)
		return false;
	n->mode &= ~kill;
	return true;
}
