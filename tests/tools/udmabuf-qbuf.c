// SPDX-License-Identifier: MIT
/*
 * udmabuf-qbuf - the negative control of tests/vivid.bats: a dma-buf of
 * ordinary, scattered memory queued on a dma-contig capture device.
 *
 *   udmabuf-qbuf DEVICE WxH
 *
 * Makes a memfd of the frame's size (as VIDIOC_S_FMT answers for YUYV
 * WxH), faults its pages in from the last to the first (so that they are
 * not physically contiguous), turns it into a dma-buf with /dev/udmabuf
 * and queues it with V4L2_MEMORY_DMABUF.  Prints "qbuf ok" or
 * "qbuf ERRNO_NAME", and exits 0 either way (2 when a step before the
 * QBUF fails: then the control proved nothing).
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

#include <linux/udmabuf.h>
#include <linux/videodev2.h>

static void fail(const char *what)
{
	fprintf(stderr, "udmabuf-qbuf: %s: %s\n", what, strerror(errno));
	exit(2);
}

int main(int argc, char **argv)
{
	enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	struct v4l2_requestbuffers rb;
	struct udmabuf_create uc;
	struct v4l2_format fmt;
	struct v4l2_buffer b;
	long page = sysconf(_SC_PAGESIZE);
	unsigned int w, h;
	size_t size, off;
	int vfd, mfd, ufd, dfd;
	char *m;

	if (argc != 3 || sscanf(argv[2], "%ux%u", &w, &h) != 2) {
		fprintf(stderr, "usage: udmabuf-qbuf DEVICE WxH\n");
		return 2;
	}
	vfd = open(argv[1], O_RDWR | O_CLOEXEC);
	if (vfd < 0)
		fail(argv[1]);
	memset(&fmt, 0, sizeof(fmt));
	fmt.type = type;
	fmt.fmt.pix.width = w;
	fmt.fmt.pix.height = h;
	fmt.fmt.pix.pixelformat = V4L2_PIX_FMT_YUYV;
	fmt.fmt.pix.field = V4L2_FIELD_NONE;
	if (ioctl(vfd, VIDIOC_S_FMT, &fmt))
		fail("VIDIOC_S_FMT");
	size = ((size_t)fmt.fmt.pix.sizeimage + page - 1) / page * page;

	mfd = memfd_create("udmabuf-qbuf", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, (off_t)size))
		fail("memfd");
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (m == MAP_FAILED)
		fail("mmap of the memfd");
	for (off = size; off; off -= page)
		m[off - page] = 1;
	if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK))
		fail("F_SEAL_SHRINK");
	ufd = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	if (ufd < 0)
		fail("/dev/udmabuf");
	memset(&uc, 0, sizeof(uc));
	uc.memfd = (__u32)mfd;
	uc.flags = UDMABUF_FLAGS_CLOEXEC;
	uc.size = size;
	dfd = ioctl(ufd, UDMABUF_CREATE, &uc);
	if (dfd < 0)
		fail("UDMABUF_CREATE");

	memset(&rb, 0, sizeof(rb));
	rb.count = 1;
	rb.type = type;
	rb.memory = V4L2_MEMORY_DMABUF;
	if (ioctl(vfd, VIDIOC_REQBUFS, &rb))
		fail("VIDIOC_REQBUFS");
	memset(&b, 0, sizeof(b));
	b.type = type;
	b.memory = V4L2_MEMORY_DMABUF;
	b.index = 0;
	b.m.fd = dfd;
	b.length = (__u32)size;
	if (ioctl(vfd, VIDIOC_QBUF, &b))
		printf("qbuf %s\n", strerrorname_np(errno) ? strerrorname_np(errno) : "?");
	else
		printf("qbuf ok\n");
	return 0;
}
