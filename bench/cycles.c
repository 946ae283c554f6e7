// SPDX-License-Identifier: MIT
/*
 * cycles DIR SECONDS - create + ftruncate(1 MiB) + close + unlink, in a loop
 * for SECONDS; prints cycles per second.
 */
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv)
{
	char path[PATH_MAX];
	double t0, t, secs;
	unsigned long count = 0;
	int fd;

	if (argc != 3)
		die("usage: cycles DIR SECONDS");
	secs = atof(argv[2]);
	snprintf(path, sizeof(path), "%s/cycle.%d", argv[1], (int)getpid());
	t0 = now_s();
	do {
		fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
		if (fd < 0)
			die("create %s: %s", path, strerror(errno));
		if (ftruncate(fd, 1 << 20))
			die("ftruncate %s: %s", path, strerror(errno));
		if (close(fd))
			die("close %s: %s", path, strerror(errno));
		if (unlink(path))
			die("unlink %s: %s", path, strerror(errno));
		count++;
		t = now_s() - t0;
	} while (t < secs);
	printf("%.1f\n", count / t);
	return 0;
}
