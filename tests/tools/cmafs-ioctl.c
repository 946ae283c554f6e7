/* SPDX-License-Identifier: MIT */
/*
 * cmafs-ioctl - exercise the cmafs ioctls (include/cmafs.h) from the bats
 * suites.  Prints the result and exits 0, or prints the errno name and
 * exits 1.
 *
 *   cmafs-ioctl [-r] info FILE            phys= dma= size= align= cache= mmap=
 *   cmafs-ioctl [-r] sync FILE device|cpu|N OFF LEN [RESERVED]
 *   cmafs-ioctl [-r] cache FILE MODE_NUMBER    CMAFS_IOC_SET_CACHE
 *   cmafs-ioctl [-r] align FILE BYTES     CMAFS_IOC_SET_ALIGN
 *   cmafs-ioctl mapfill FILE OFF LEN BYTE  mmap MAP_SHARED, memset, fsync,
 *                                          keep the mapping until exit and
 *                                          print the bytes read back through
 *                                          a second descriptor (as hex of the
 *                                          first and last byte)
 *
 * info opens FILE O_RDONLY; sync, cache, align and mapfill open it O_RDWR
 * (the changing ioctls need a writable descriptor), or O_RDONLY with -r.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cmafs.h"

static int die(void)
{
	const char *n = strerrorname_np(errno);
	printf("%s\n", n ? n : "E?");
	return 1;
}

int main(int argc, char **argv)
{
	int rdonly = 0;

	if (argc > 1 && !strcmp(argv[1], "-r")) {
		rdonly = 1;
		argv++;
		argc--;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: see source\n");
		return 2;
	}
	const char *cmd = argv[1];
	int fd = open(argv[2], rdonly || !strcmp(cmd, "info") ? O_RDONLY : O_RDWR);
	if (fd < 0)
		return die();

	if (!strcmp(cmd, "info")) {
		struct cmafs_info in;
		memset(&in, 0xa5, sizeof(in));
		if (ioctl(fd, CMAFS_IOC_INFO, &in) < 0)
			return die();
		printf("phys=0x%llx dma=0x%llx size=%llu align=%llu cache=%u mmap=%u\n",
		       (unsigned long long)in.phys_addr, (unsigned long long)in.dma_addr,
		       (unsigned long long)in.size, (unsigned long long)in.align,
		       in.cache, in.mmap);
	} else if (!strcmp(cmd, "sync") && argc >= 6) {
		struct cmafs_sync s = {0};
		s.direction = !strcmp(argv[3], "device") ? CMAFS_SYNC_DEVICE :
			      !strcmp(argv[3], "cpu") ? CMAFS_SYNC_CPU :
			      (unsigned)strtoul(argv[3], NULL, 0);
		s.offset = strtoull(argv[4], NULL, 0);
		s.length = strtoull(argv[5], NULL, 0);
		if (argc > 6)
			s.reserved = (unsigned)strtoul(argv[6], NULL, 0);
		if (ioctl(fd, CMAFS_IOC_SYNC, &s) < 0)
			return die();
		printf("OK\n");
	} else if (!strcmp(cmd, "cache") && argc >= 4) {
		__u32 m = (unsigned)strtoul(argv[3], NULL, 0);
		if (ioctl(fd, CMAFS_IOC_SET_CACHE, &m) < 0)
			return die();
		printf("OK\n");
	} else if (!strcmp(cmd, "align") && argc >= 4) {
		__u64 a = strtoull(argv[3], NULL, 0);
		if (ioctl(fd, CMAFS_IOC_SET_ALIGN, &a) < 0)
			return die();
		printf("OK\n");
	} else if (!strcmp(cmd, "mapfill") && argc >= 6) {
		off_t off = strtoll(argv[3], NULL, 0);
		size_t len = strtoull(argv[4], NULL, 0);
		int byte = (int)strtol(argv[5], NULL, 0);
		off_t end = lseek(fd, 0, SEEK_END);
		unsigned char *p = mmap(NULL, end, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			return die();
		memset(p + off, byte, len);
		if (fsync(fd) < 0)
			return die();
		int fd2 = open(argv[2], O_RDONLY);
		if (fd2 < 0)
			return die();
		unsigned char *b = malloc(len);
		if (pread(fd2, b, len, off) != (ssize_t)len)
			return die();
		size_t bad = 0;
		for (size_t i = 0; i < len; i++)
			bad += b[i] != (unsigned char)byte;
		printf("mismatches=%zu\n", bad);
		close(fd2);
		munmap(p, end);
	} else {
		fprintf(stderr, "bad command\n");
		return 2;
	}
	close(fd);
	return 0;
}
