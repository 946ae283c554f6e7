// SPDX-License-Identifier: MIT
/*
 * mkbufs DIR COUNT SIZE - create COUNT files DIR/b.N, each sized with
 * ftruncate(SIZE), and keep them (closed).  Stops at the first failure.
 * Prints "OK=<successes> ERR=<errno name or 0> SECS=<elapsed>".
 */
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv)
{
	char path[PATH_MAX];
	unsigned long long size;
	const char *what = "";
	long i, count;
	int fd, err = 0;
	double t0;

	if (argc != 4)
		die("usage: mkbufs DIR COUNT SIZE");
	count = atol(argv[2]);
	size = parse_size(argv[3]);
	t0 = now_s();
	for (i = 0; i < count; i++) {
		snprintf(path, sizeof(path), "%s/b.%ld", argv[1], i);
		fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
		if (fd < 0) {
			err = errno;
			what = "create";
			break;
		}
		if (ftruncate(fd, (off_t)size)) {
			err = errno;
			what = "ftruncate";
			close(fd);
			break;
		}
		if (close(fd)) {
			err = errno;
			what = "close";
			break;
		}
	}
	printf("OK=%ld ERR=%s%s%s SECS=%.2f\n", i, err ? what : "0",
	       err ? ":" : "", err ? strerror(err) : "", now_s() - t0);
	return err ? 1 : 0;
}
