// SPDX-License-Identifier: MIT
/*
 * v4l2_capture - capture video frames straight into cmafs buffers.
 *
 * Build it from a checkout, in its top directory, after make lib:
 *   cc -Wall -Iinclude -o v4l2_capture examples/c/v4l2_capture.c lib/libcmafs.a
 * or, installed:
 *   cc -Wall -o v4l2_capture v4l2_capture.c $(pkg-config --cflags --libs libcmafs)
 *
 *   v4l2_capture [-d DEVICE] [-n FRAMES] [-b BUFFERS] [-s WxH] [-m MEMORY]
 *                [-w] [-o FILE] [DIR]
 *
 *   DEVICE   the capture device (default: the first /dev/videoN that
 *            captures single-planar video)
 *   FRAMES   frames to dequeue (default 30); BUFFERS queued (default 4)
 *   WxH      frame size asked for, YUYV (default 640x480); the driver may
 *            adjust it and the program uses what it answers
 *   MEMORY   dmabuf (default): the buffers are files DIR/frame0, frame1, ...
 *            of a cmafs mount (default DIR /cma), sized with ftruncate,
 *            exported as dma-bufs with cmafs_dmabuf() (libcmafs) and
 *            queued as V4L2_MEMORY_DMABUF: the device writes into the
 *            contiguous buffers themselves (a dma-contig driver refuses a
 *            dma-buf that is not contiguous);
 *            mmap: the driver's own buffers (V4L2_MEMORY_MMAP), to compare
 *   -w       after capturing, print "waiting" and keep the buffers queued
 *            and exported until standard input closes (for tests: remove
 *            the files or kill the process meanwhile)
 *   -o FILE  write the last frame to FILE (mmap mode; in dmabuf mode the
 *            frame already is in its cmafs file: "last" says which)
 *
 * Prints one line per buffer ("buffer K FILE bytes N"), then
 * "last K", and "frames N seconds S fps F".  The files stay (rm them to
 * free the memory; the device may still hold a dma-buf until streaming
 * stops).  Exit status 1 with a message on the first failure.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/videodev2.h>

#include <libcmafs.h>

#define MAX_BUFS 32

static int xioctl(int fd, unsigned long req, void *arg)
{
	int r;

	do
		r = ioctl(fd, req, arg);
	while (r < 0 && errno == EINTR);
	return r;
}

static void die(const char *what)
{
	fprintf(stderr, "v4l2_capture: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int is_capture(int fd)
{
	struct v4l2_capability cap;

	memset(&cap, 0, sizeof(cap));
	if (xioctl(fd, VIDIOC_QUERYCAP, &cap))
		return 0;
	return ((cap.capabilities & V4L2_CAP_DEVICE_CAPS) ? cap.device_caps
							   : cap.capabilities) &
	       V4L2_CAP_VIDEO_CAPTURE;
}

/* The first /dev/videoN that captures single-planar video, opened. */
static int open_capture(const char *dev)
{
	char path[64];
	int fd;

	if (dev) {
		fd = open(dev, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			die(dev);
		return fd;
	}
	for (int i = 0; i < 64; i++) {
		snprintf(path, sizeof(path), "/dev/video%d", i);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (is_capture(fd))
			return fd;
		close(fd);
	}
	errno = ENODEV;
	die("no video capture device");
	return -1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *dev = NULL, *dir = "/cma", *out = NULL, *mem = "dmabuf";
	unsigned int frames = 30, nbufs = 4, w = 640, h = 480;
	int dmabufs[MAX_BUFS], files[MAX_BUFS];
	void *maps[MAX_BUFS];
	struct v4l2_requestbuffers rb;
	struct v4l2_format fmt;
	struct v4l2_buffer b;
	enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	int opt, fd, wait = 0, dmabuf, last = -1;
	unsigned int i, got = 0;
	double t0, secs;

	while ((opt = getopt(argc, argv, "d:n:b:s:m:wo:")) != -1) {
		switch (opt) {
		case 'd': dev = optarg; break;
		case 'n': frames = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'b': nbufs = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 's':
			if (sscanf(optarg, "%ux%u", &w, &h) != 2)
				goto usage;
			break;
		case 'm': mem = optarg; break;
		case 'w': wait = 1; break;
		case 'o': out = optarg; break;
		default: goto usage;
		}
	}
	if (optind < argc)
		dir = argv[optind++];
	dmabuf = !strcmp(mem, "dmabuf");
	if (optind != argc || (!dmabuf && strcmp(mem, "mmap")) || !frames ||
	    !nbufs || nbufs > MAX_BUFS)
		goto usage;

	fd = open_capture(dev);
	memset(&fmt, 0, sizeof(fmt));
	fmt.type = type;
	fmt.fmt.pix.width = w;
	fmt.fmt.pix.height = h;
	fmt.fmt.pix.pixelformat = V4L2_PIX_FMT_YUYV;
	fmt.fmt.pix.field = V4L2_FIELD_NONE;
	if (xioctl(fd, VIDIOC_S_FMT, &fmt))
		die("VIDIOC_S_FMT");
	printf("format %ux%u bytesperline %u sizeimage %u\n", fmt.fmt.pix.width,
	       fmt.fmt.pix.height, fmt.fmt.pix.bytesperline,
	       fmt.fmt.pix.sizeimage);

	memset(&rb, 0, sizeof(rb));
	rb.count = nbufs;
	rb.type = type;
	rb.memory = dmabuf ? V4L2_MEMORY_DMABUF : V4L2_MEMORY_MMAP;
	if (xioctl(fd, VIDIOC_REQBUFS, &rb))
		die("VIDIOC_REQBUFS");
	if (rb.count < nbufs)
		nbufs = rb.count;	/* the driver may give fewer */

	for (i = 0; i < nbufs; i++) {
		char path[4096];

		memset(&b, 0, sizeof(b));
		b.type = type;
		b.index = i;
		if (dmabuf) {
			/* A file of the frame's size is a buffer of that size. */
			snprintf(path, sizeof(path), "%s/frame%u", dir, i);
			files[i] = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (files[i] < 0)
				die(path);
			if (ftruncate(files[i], fmt.fmt.pix.sizeimage))
				die("ftruncate (allocating the buffer)");
			dmabufs[i] = cmafs_dmabuf(files[i], O_CLOEXEC);
			if (dmabufs[i] < 0)
				die("cmafs_dmabuf");
			b.memory = V4L2_MEMORY_DMABUF;
			b.m.fd = dmabufs[i];
			b.length = fmt.fmt.pix.sizeimage;
			printf("buffer %u %s bytes %u\n", i, path,
			       fmt.fmt.pix.sizeimage);
		} else {
			b.memory = V4L2_MEMORY_MMAP;
			if (xioctl(fd, VIDIOC_QUERYBUF, &b))
				die("VIDIOC_QUERYBUF");
			maps[i] = mmap(NULL, b.length, PROT_READ, MAP_SHARED, fd,
				       b.m.offset);
			if (maps[i] == MAP_FAILED)
				die("mmap of a driver buffer");
			printf("buffer %u mmap bytes %u\n", i, b.length);
		}
		if (xioctl(fd, VIDIOC_QBUF, &b))
			die("VIDIOC_QBUF");
	}
	if (xioctl(fd, VIDIOC_STREAMON, &type))
		die("VIDIOC_STREAMON");
	t0 = now();
	while (got < frames) {
		memset(&b, 0, sizeof(b));
		b.type = type;
		b.memory = rb.memory;
		if (xioctl(fd, VIDIOC_DQBUF, &b))
			die("VIDIOC_DQBUF");
		got++;
		last = (int)b.index;
		if (got == frames)
			break;	/* keep the last frame as it is */
		if (xioctl(fd, VIDIOC_QBUF, &b))
			die("VIDIOC_QBUF");
	}
	secs = now() - t0;
	printf("last %d\n", last);
	printf("frames %u seconds %.3f fps %.1f\n", got, secs, got / secs);
	if (out && !dmabuf && last >= 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (o < 0 || write(o, maps[last], fmt.fmt.pix.sizeimage) !=
				     (ssize_t)fmt.fmt.pix.sizeimage || close(o))
			die(out);
	}
	fflush(stdout);
	if (wait) {
		char c;

		printf("waiting\n");
		fflush(stdout);
		while (read(0, &c, 1) > 0)
			;
	}
	if (xioctl(fd, VIDIOC_STREAMOFF, &type))
		die("VIDIOC_STREAMOFF");
	for (i = 0; i < nbufs; i++) {
		if (dmabuf) {
			close(dmabufs[i]);
			close(files[i]);
		} else {
			munmap(maps[i], fmt.fmt.pix.sizeimage);
		}
	}
	memset(&rb, 0, sizeof(rb));
	rb.type = type;
	rb.memory = dmabuf ? V4L2_MEMORY_DMABUF : V4L2_MEMORY_MMAP;
	xioctl(fd, VIDIOC_REQBUFS, &rb);	/* drops the driver's references */
	close(fd);
	return 0;

usage:
	fprintf(stderr, "usage: v4l2_capture [-d DEVICE] [-n FRAMES] [-b BUFFERS] "
			"[-s WxH] [-m dmabuf|mmap] [-w] [-o FILE] [DIR]\n");
	return 2;
}
