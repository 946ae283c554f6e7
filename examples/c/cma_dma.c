// SPDX-License-Identifier: MIT
/*
 * cma_dma - a DMA engine copies cmafs buffers: memory -> device -> memory.
 *
 * Build it from a checkout, in its top directory, after make lib:
 *   cc -Wall -Iinclude -o cma_dma examples/c/cma_dma.c lib/libcmafs.a
 * or, installed (make install):
 *   cc -Wall -o cma_dma cma_dma.c $(pkg-config --cflags --libs libcmafs)
 *
 *   cma_dma fill FILE SEED
 *	Fill FILE's buffer with a pattern (every 8 bytes different, from SEED)
 *	through the buffer's own mapping (libcmafs's cmafs_map), then sync it
 *	for the device.  Needs no device.
 *   cma_dma [-d PCIDEV] [-n] copy SRC SRC_OFF DST DST_OFF LEN
 *	DMA LEN bytes from SRC's buffer at SRC_OFF into the device's own
 *	memory and from there into DST's buffer at DST_OFF (in pieces the
 *	device can take), then sync DST for the CPU and compare the bytes
 *	through the two mappings.  SRC may be @ADDR instead of a file: a bus
 *	address read as it is (nothing to compare then).  -n: no sync for
 *	the CPU and no comparison afterwards (the caller checks, e.g. with
 *	user.cma.sync and cmp).
 *
 * The device is a simple DMA engine described by a register block (struct
 * dma_regs): the offsets of its source, destination, count and command
 * registers in BAR0, the command bits, and where its own memory is.  The
 * one described here is QEMU's "edu" device (docs/specs/edu.rst in QEMU's
 * sources; -device edu,dma_mask=0xffffffffff: the default mask of 28 bits
 * clamps every address above 256 MiB), the one the tests run; for another
 * engine, describe its registers the same way.  BAR0 is mapped from
 * /sys/bus/pci/devices/PCIDEV/resource0 (default: the first device with
 * the register block's vendor and device IDs), which needs root, as does
 * turning on its bus mastering (bit 2 of the PCI command register, in
 * /sys/bus/pci/devices/PCIDEV/config: without it the device reads zeros).
 *
 * The bus addresses come from each file's user.cma.dma_addr attribute
 * (cmafs(8)); the addresses of a file are valid until it is resized.  Both
 * files are opened read-write: a sync needs a descriptor open for writing.
 * Exits 0 on success, 1 (with a message) on a failure or a mismatch, 2 on a
 * usage error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <cmafs.h>
#include <libcmafs.h>

/* A DMA engine's registers: a 64-bit register each, in BAR0. */
struct dma_regs {
	const char *name;
	uint16_t vendor, device;	/* PCI IDs */
	size_t src, dst, count, cmd;	/* register offsets */
	uint64_t cmd_start;	/* command bit: start; reads 1 while busy */
	uint64_t cmd_to_mem;	/* command bit: device memory -> memory */
	uint64_t local_addr;	/* the device's own memory, as it is addressed */
	size_t local_size;	/* bytes of it one transfer may use */
};

/*
 * QEMU's edu: 4 KiB of memory at 0x40000, but QEMU 7.2 checks a transfer's
 * end with "<" instead of "<=": a 4096-byte transfer stops the whole VM,
 * so at most 4095.  Each transfer ends on a timer 100 ms later.
 */
static const struct dma_regs edu = {
	.name = "edu", .vendor = 0x1234, .device = 0x11e8,
	.src = 0x80, .dst = 0x88, .count = 0x90, .cmd = 0x98,
	.cmd_start = 0x1, .cmd_to_mem = 0x2,
	.local_addr = 0x40000, .local_size = 4095,
};

struct dma_engine {
	const struct dma_regs *r;
	volatile uint8_t *bar;
	size_t bar_len;
	char dev[PATH_MAX];
};

static int err(const char *what, const char *arg)
{
	fprintf(stderr, "cma_dma: %s%s%s: %s\n", what, arg ? " " : "",
		arg ? arg : "", strerror(errno));
	return -1;
}

static int read_hex_file(const char *path, unsigned long *v)
{
	char buf[32];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	*v = strtoul(buf, NULL, 0);
	return 0;
}

/* The first PCI device with @r's IDs, into @e->dev. */
static int dma_find(struct dma_engine *e, const struct dma_regs *r)
{
	const char *base = "/sys/bus/pci/devices";
	DIR *d = opendir(base);
	struct dirent *de;
	int found = -1;

	if (!d)
		return err("opendir", base);
	while (found && (de = readdir(d))) {
		char p[PATH_MAX];
		unsigned long ven, dev;

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s/vendor", base, de->d_name);
		if (read_hex_file(p, &ven) || ven != r->vendor)
			continue;
		snprintf(p, sizeof(p), "%s/%s/device", base, de->d_name);
		if (read_hex_file(p, &dev) || dev != r->device)
			continue;
		snprintf(e->dev, sizeof(e->dev), "%s/%s", base, de->d_name);
		found = 0;
	}
	closedir(d);
	if (found)
		fprintf(stderr, "cma_dma: no PCI device %04x:%04x (%s)\n",
			r->vendor, r->device, r->name);
	return found;
}

/* Memory decoding and bus mastering on, BAR0 mapped. */
static int dma_open(struct dma_engine *e, const struct dma_regs *r,
		    const char *dev)
{
	char p[PATH_MAX + 16];
	uint16_t command;
	struct stat st;
	void *bar;
	int fd;

	e->r = r;
	if (dev)
		snprintf(e->dev, sizeof(e->dev), "%s%s", strchr(dev, '/') ? "" :
			 "/sys/bus/pci/devices/", dev);
	else if (dma_find(e, r))
		return -1;
	/* PCI command register: bit 1 memory space, bit 2 bus master. */
	snprintf(p, sizeof(p), "%s/config", e->dev);
	fd = open(p, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return err("open", p);
	if (pread(fd, &command, 2, 4) != 2) {
		close(fd);
		return err("read the command register of", p);
	}
	if ((command & 0x6) != 0x6) {
		command |= 0x6;
		if (pwrite(fd, &command, 2, 4) != 2) {
			close(fd);
			return err("write the command register of", p);
		}
	}
	close(fd);
	snprintf(p, sizeof(p), "%s/resource0", e->dev);
	fd = open(p, O_RDWR | O_SYNC | O_CLOEXEC);
	if (fd < 0)
		return err("open", p);
	if (fstat(fd, &st) || st.st_size <= 0) {
		close(fd);
		return err("stat", p);
	}
	bar = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
		   MAP_SHARED, fd, 0);
	close(fd);
	if (bar == MAP_FAILED)
		return err("mmap", p);
	e->bar = bar;
	e->bar_len = (size_t)st.st_size;
	return 0;
}

static void dma_close(struct dma_engine *e)
{
	if (e->bar)
		munmap((void *)e->bar, e->bar_len);
	e->bar = NULL;
}

static uint64_t reg_read(const struct dma_engine *e, size_t off)
{
	return *(const volatile uint64_t *)(e->bar + off);
}

static void reg_write(const struct dma_engine *e, size_t off, uint64_t v)
{
	*(volatile uint64_t *)(e->bar + off) = v;
}

/*
 * One transfer of @len bytes between bus address @mem and the device's
 * memory at @local (an offset in it); @to_mem: device -> memory.  Polls the
 * command register until the start bit drops (at most a minute).
 */
static int dma_transfer(struct dma_engine *e, uint64_t mem, size_t local,
			size_t len, int to_mem)
{
	const struct dma_regs *r = e->r;
	const struct timespec ms = { 0, 1000000 };
	uint64_t cmd = r->cmd_start | (to_mem ? r->cmd_to_mem : 0);
	int i;

	if (len == 0 || local > r->local_size || len > r->local_size - local) {
		errno = EINVAL;
		return err("transfer outside the device's memory", NULL);
	}
	reg_write(e, to_mem ? r->src : r->dst, r->local_addr + local);
	reg_write(e, to_mem ? r->dst : r->src, mem);
	reg_write(e, r->count, len);
	__sync_synchronize();	/* the addresses before the start bit */
	reg_write(e, r->cmd, cmd);
	for (i = 0; i < 60000; i++) {
		if (!(reg_read(e, r->cmd) & r->cmd_start)) {
			__sync_synchronize();
			return 0;
		}
		nanosleep(&ms, NULL);
	}
	errno = ETIMEDOUT;
	return err("the device did not finish its transfer", NULL);
}

/* A file's bus address, from user.cma.dma_addr ("0x..."). */
static int dma_addr_of(const char *path, uint64_t *addr)
{
	char v[40];
	ssize_t n = getxattr(path, "user.cma.dma_addr", v, sizeof(v) - 1);
	char *end;

	if (n <= 0)
		return err("getxattr user.cma.dma_addr", path);
	v[n] = '\0';
	errno = 0;
	*addr = strtoull(v, &end, 16);
	if (errno || end == v || (*end && *end != '\n')) {
		errno = EINVAL;
		return err("user.cma.dma_addr of", path);
	}
	return 0;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return (errno || end == s || *end || s[0] == '-') ? -1 : 0;
}

static uint64_t pattern(uint64_t seed, uint64_t i)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + i + 1;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	return x ^ (x >> 29);
}

static int do_fill(const char *path, uint64_t seed)
{
	struct cmafs_map m;
	uint8_t *p;
	size_t i;

	if (cmafs_map_path(path, O_RDWR, &m))
		return err("cmafs_map", path);
	p = m.addr;
	for (i = 0; i < m.length; i += 8) {
		uint64_t v = pattern(seed, i / 8);
		size_t n = m.length - i < 8 ? m.length - i : 8;

		memcpy(p + i, &v, n);
	}
	if (cmafs_sync(&m, 0, 0, CMAFS_SYNC_DEVICE)) {
		err("cmafs_sync device", path);
		cmafs_unmap(&m);
		return -1;
	}
	printf("%s: %zu bytes filled (seed %" PRIu64 ") through a mapping of kind %s\n",
	       path, m.length, seed, m.kind == CMAFS_MAP_PASSTHROUGH ? "passthrough" :
	       m.kind == CMAFS_MAP_CMABUF ? "cmabuf" : "memfd");
	return cmafs_unmap(&m);
}

static int do_copy(struct dma_engine *e, const char *src, uint64_t soff,
		   const char *dst, uint64_t doff, uint64_t len, int check)
{
	struct cmafs_map sm = { .fd = -1 }, dm = { .fd = -1 };
	uint64_t saddr, daddr, done;
	int rc = -1;

	if (src[0] == '@') {
		if (parse_u64(src + 1, &saddr)) {
			fprintf(stderr, "cma_dma: bad address %s\n", src);
			return -1;
		}
	} else if (dma_addr_of(src, &saddr) ||
		   cmafs_map_path(src, O_RDWR, &sm)) {
		return err("map", src);
	}
	if (dma_addr_of(dst, &daddr) || cmafs_map_path(dst, O_RDWR, &dm)) {
		err("map", dst);
		goto out;
	}
	if ((sm.addr && (soff > sm.length || len > sm.length - soff)) ||
	    doff > dm.length || len > dm.length - doff || len == 0) {
		fprintf(stderr, "cma_dma: range outside a buffer\n");
		goto out;
	}
	/* CPU stores out to memory, no dirty line left over the device's. */
	if ((sm.addr && cmafs_sync(&sm, soff, len, CMAFS_SYNC_DEVICE)) ||
	    cmafs_sync(&dm, doff, len, CMAFS_SYNC_DEVICE)) {
		err("cmafs_sync device", NULL);
		goto out;
	}
	for (done = 0; done < len; done += e->r->local_size) {
		size_t n = len - done < e->r->local_size ?
			   (size_t)(len - done) : e->r->local_size;

		if (dma_transfer(e, saddr + soff + done, 0, n, 0) ||
		    dma_transfer(e, daddr + doff + done, 0, n, 1))
			goto out;
	}
	printf("%" PRIu64 " bytes: 0x%" PRIx64 " -> %s -> 0x%" PRIx64,
	       len, saddr + soff, e->r->name, daddr + doff);
	if (check) {
		if (cmafs_sync(&dm, doff, len, CMAFS_SYNC_CPU)) {
			err("cmafs_sync cpu", dst);
			goto out;
		}
		if (sm.addr) {
			const uint8_t *a = (const uint8_t *)sm.addr + soff;
			const uint8_t *b = (const uint8_t *)dm.addr + doff;

			for (done = 0; done < len && a[done] == b[done]; done++)
				;
			if (done < len) {
				printf(": mismatch at byte %" PRIu64 "\n", done);
				goto out;
			}
			printf(": match");
		}
	}
	printf("\n");
	rc = 0;
out:
	cmafs_unmap(&sm);
	cmafs_unmap(&dm);
	return rc;
}

static int usage(void)
{
	fprintf(stderr, "usage: cma_dma fill FILE SEED\n"
		"       cma_dma [-d PCIDEV] [-n] copy SRC|@ADDR SRC_OFF DST DST_OFF LEN\n");
	return 2;
}

int main(int argc, char *argv[])
{
	struct dma_engine e = { 0 };
	const char *dev = NULL;
	uint64_t a, b, c;
	int opt, check = 1, rc;

	while ((opt = getopt(argc, argv, "+d:n")) != -1) {
		if (opt == 'd')
			dev = optarg;
		else if (opt == 'n')
			check = 0;
		else
			return usage();
	}
	argv += optind;
	argc -= optind;
	if (argc == 3 && !strcmp(argv[0], "fill")) {
		if (parse_u64(argv[2], &a))
			return usage();
		return do_fill(argv[1], a) ? 1 : 0;
	}
	if (argc != 6 || strcmp(argv[0], "copy") || parse_u64(argv[2], &a) ||
	    parse_u64(argv[4], &b) || parse_u64(argv[5], &c))
		return usage();
	if (dma_open(&e, &edu, dev))
		return 1;
	rc = do_copy(&e, argv[1], a, argv[3], b, c, check);
	dma_close(&e);
	return rc ? 1 : 0;
}
