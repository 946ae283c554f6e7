// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "log.h"
#include "mountpoint.h"

/* mountinfo writes blanks, tabs, newlines and backslashes as \ooo. */
static void unescape(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 |
					(s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

/* Is @path the mount point of a cmafs mount (/proc/self/mountinfo)? */
static bool cmafs_mounted_on(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char mp[PATH_MAX], type[64];
		char *sep = strstr(line, " - ");

		/* id parent major:minor root mountpoint ... - type source */
		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1 ||
		    sscanf(sep + 3, "%63s", type) != 1)
			continue;
		unescape(mp);
		found = !strcmp(mp, path) && !strcmp(type, "fuse.cmafs");
	}
	fclose(f);
	return found;
}

int mountpoint_dev(const char *path, dev_t *dev)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	int found = -1;

	if (!f)
		return -1;
	/* The last match: a mount on top of ours hides it. */
	while (fgets(line, sizeof(line), f)) {
		char mp[PATH_MAX], type[64];
		char *sep = strstr(line, " - ");
		unsigned int major, minor;

		if (!sep || sscanf(line, "%*s %*s %u:%u %*s %4095s", &major,
				   &minor, mp) != 3 ||
		    sscanf(sep + 3, "%63s", type) != 1)
			continue;
		unescape(mp);
		if (strcmp(mp, path))
			continue;
		found = strcmp(type, "fuse.cmafs") ? -1 : 0;
		if (!found)
			*dev = makedev(major, minor);
	}
	fclose(f);
	return found;
}

static bool empty_dir(const char *path)
{
	DIR *d = opendir(path);
	const struct dirent *e;
	bool empty = true;

	if (!d)
		return true;
	while (empty && (e = readdir(d)))
		empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
	closedir(d);
	return empty;
}

static int stale(const char *path)
{
	log_err("%s: a dead FUSE mount is still there (Transport endpoint is not connected): clear it with 'fusermount3 -uz %s', then mount again",
		path, path);
	return -1;
}

int mountpoint_check(const char *path)
{
	char real[PATH_MAX];
	struct statfs sf;
	struct stat st;

	if (stat(path, &st) != 0) {
		if (errno == ENOTCONN)
			return stale(path);
		log_err("%s: %s (the mount point must be an existing directory: mkdir -p %s)",
			path, strerror(errno), path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_err("%s is not a directory: mount cmafs on a directory",
			path);
		return -1;
	}
	if (realpath(path, real) && cmafs_mounted_on(real)) {
		/* stat may be answered from the attribute cache: ask the daemon */
		if (statfs(path, &sf) != 0 && errno == ENOTCONN)
			return stale(path);
		log_err("%s: cmafs is already mounted there: unmount it first (fusermount3 -u %s)",
			path, path);
		return -1;
	}
	if (!empty_dir(path))
		log_info("%s is not empty: its files are hidden while cmafs is mounted",
			 path);
	return 0;
}
