// SPDX-License-Identifier: MIT
/*
 * cmabuf-test - runs inside the VM against /dev/cmabuf; TAP on stdout.
 *
 * Lines are unnumbered ("ok - [KERNEL] what") so that the streams of
 * several kernels can be concatenated; the harness prints the plan.
 *
 * Usage: cmabuf-test [SEED]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/dma-buf.h>
#include "cmabuf.h"

#define MiB (1024ull * 1024)

static char krel[128];
/* The kernel is 32-bit ARM (uname -m armv7l), not only this program. */
static bool kernel32;
static int failures;
static long page;
static uint64_t cma_base, cma_size;	/* from "cma: Reserved ..." */
static uint64_t seed = 1;

static void diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("# ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
}

static bool ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("%sok - [%s] ", cond ? "" : "not ", krel);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
	if (!cond)
		failures++;
	return cond;
}

static void skip(const char *why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("ok - [%s] ", krel);
	vprintf(fmt, ap);
	printf(" # SKIP %s\n", why);
	va_end(ap);
	fflush(stdout);
}

/* xorshift64*: reproducible from the seed printed at start */
static uint64_t rnd(void)
{
	seed ^= seed >> 12;
	seed ^= seed << 25;
	seed ^= seed >> 27;
	return seed * 2685821657736338717ull;
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static long meminfo_kb(const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static int devfd = -1;
static bool in_cma_probe(uint64_t phys);

/*
 * CmaFree, settled.  Freed CMA pages first go to the per-CPU free lists
 * (as movable pages), where /proc/meminfo does not count them; a CMA
 * allocation drains those lists.  So allocate a 2-page probe buffer (the
 * DMA API takes single pages from the buddy allocator, two from CMA), read
 * CmaFree, add the probe back and free it.
 */
static long cma_free_kb(void)
{
	struct cmabuf_alloc a;
	long kb;

	memset(&a, 0, sizeof(a));
	a.size = 2 * page;
	a.flags = CMABUF_ALLOC_CLOEXEC;
	if (devfd < 0 || ioctl(devfd, CMABUF_IOC_ALLOC, &a) < 0)
		return meminfo_kb("CmaFree");
	kb = meminfo_kb("CmaFree");
	if (in_cma_probe(a.phys_addr))
		kb += 2 * page / 1024;
	close(a.fd);
	return kb;
}

static bool in_cma_probe(uint64_t phys)
{
	return !cma_size || (phys >= cma_base && phys < cma_base + cma_size);
}

/* The kernel log, NUL-terminated; caller frees. */
static char *klog(void)
{
	int size = klogctl(10, NULL, 0);
	char *buf;
	int n;

	if (size < 4096)
		size = 1 << 20;
	buf = calloc(1, size + 1);
	if (!buf)
		return NULL;
	n = klogctl(3, buf, size);
	if (n < 0)
		n = 0;
	buf[n] = 0;
	return buf;
}

static size_t klog_len(void)
{
	char *s = klog();
	size_t n = s ? strlen(s) : 0;

	free(s);
	return n;
}

/* Does the log (from byte @from on) hold a line containing all of a, b? */
static bool klog_has(size_t from, const char *a, const char *b)
{
	char *s = klog(), *line, *save = NULL;
	bool found = false;

	if (!s)
		return false;
	if (from > strlen(s))
		from = 0;	/* the ring wrapped: look at everything */
	for (line = strtok_r(s + from, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		if (strstr(line, a) && (!b || strstr(line, b))) {
			diag("log: %s", line);
			found = true;
			break;
		}
	free(s);
	return found;
}

static int cb_alloc(uint64_t size, uint64_t align, uint32_t cache,
		    struct cmabuf_alloc *out);
static void empty_cma_area(void);

/*
 * CmaFree, exactly.  Pages freed one by one (as cma_release does) wait on
 * the per-CPU lists, up to a batch (63 pages in these guests), before they
 * are counted free again; any CMA allocation drains those lists first.  So
 * allocate two pages from the area, read CmaFree and count them as free.
 */
static long cma_free_exact_kb(void)
{
	struct cmabuf_alloc a;
	int fd = cb_alloc(2 * (uint64_t)page, 0, CMABUF_CACHE_UNCACHED, &a);
	long kb = cma_free_kb();

	if (fd >= 0) {
		if (in_cma_probe(a.phys_addr))
			kb += (long)(a.size / 1024);
		close(fd);
	}
	return kb;
}

/*
 * Is CmaFree back at @base (an exact baseline, less what is held)?  Allow
 * a few 50 ms retries; halfway, take back any pages the kernel lent out of
 * the area to others (page cache, anonymous memory) under memory pressure.
 * A baseline read while such a page was lent is a few pages low: once it
 * comes back, CmaFree stays above it.  Up to CMA_LENT_KB above counts as
 * back (seen: 4 and 40 kB on 6.12); every expected drop is 1 MiB or more,
 * and a leak would show below.
 */
#define CMA_LENT_KB 64
static bool cma_back_to(long base)
{
	long now = cma_free_exact_kb();

	for (int i = 1; now != base && i <= 10; i++) {
		if (i == 5)
			empty_cma_area();
		else
			usleep(50000);
		now = cma_free_exact_kb();
		diag("CmaFree %ld kB, expected %ld kB (retry %d)", now, base, i);
	}
	if (now > base && now - base <= CMA_LENT_KB) {
		diag("CmaFree %ld kB above the baseline: pages lent then, back now",
		     now - base);
		return true;
	}
	/*
	 * With the area in high memory (32-bit ARM) pages lent to user memory
	 * are not always taken back by empty_cma_area() in time: a few pages
	 * below count as lent there; the helper's own exact counts (STATS)
	 * are checked at the end either way.
	 */
	if (now < base && base - now <= CMA_LENT_KB && meminfo_kb("HighTotal") > 0) {
		diag("CmaFree %ld kB below the baseline with a highmem area: taken as lent pages",
		     base - now);
		return true;
	}
	return now == base;
}

static int cb_alloc(uint64_t size, uint64_t align, uint32_t cache,
		    struct cmabuf_alloc *out)
{
	struct cmabuf_alloc a;

	memset(&a, 0, sizeof(a));
	a.size = size;
	a.align = align;
	a.cache = cache;
	a.flags = CMABUF_ALLOC_CLOEXEC;
	if (out)	/* a failure leaves nothing a check could mistake */
		memset(out, 0, sizeof(*out));
	if (ioctl(devfd, CMABUF_IOC_ALLOC, &a) < 0)
		return -errno;
	if (out)
		*out = a;
	return a.fd;
}

static int cb_info(int fd, struct cmabuf_info *info)
{
	memset(info, 0, sizeof(*info));
	return ioctl(fd, CMABUF_IOC_INFO, info) < 0 ? -errno : 0;
}

static int cb_resize(int fd, uint64_t size, uint64_t align, uint32_t cache,
		     struct cmabuf_resize *out)
{
	struct cmabuf_resize r;

	memset(&r, 0, sizeof(r));
	r.size = size;
	r.align = align;
	r.cache = cache;
	if (out)
		memset(out, 0, sizeof(*out));
	if (ioctl(fd, CMABUF_IOC_RESIZE, &r) < 0)
		return -errno;
	if (out)
		*out = r;
	return 0;
}

static int cb_sync(int fd, uint64_t off, uint64_t len, uint32_t dir)
{
	struct cmabuf_sync s = { .offset = off, .length = len, .direction = dir };

	return ioctl(fd, CMABUF_IOC_SYNC, &s) < 0 ? -errno : 0;
}

static int cb_stats(struct cmabuf_stats *st)
{
	memset(st, 0, sizeof(*st));
	return ioctl(devfd, CMABUF_IOC_STATS, st) < 0 ? -errno : 0;
}

/* Physical address behind @p (after touching it), or 0. */
static uint64_t virt_to_phys(const volatile void *p)
{
	static int fd = -1;
	uint64_t e;
	uintptr_t v = (uintptr_t)p;

	(void)*(const volatile char *)p;
	if (fd < 0)
		fd = open("/proc/self/pagemap", O_RDONLY);
	if (pread(fd, &e, 8, (v / page) * 8) != 8)
		return 0;
	if (!(e & (1ull << 63)))
		return 0;
	return (e & ((1ull << 55) - 1)) * page + v % page;
}

/*
 * Is the mapping at @p VM_PFNMAP ("pf" in smaps' VmFlags)?  cmabuf.ko maps
 * buffers so on kernels without special PTEs (32-bit ARM without LPAE),
 * and pagemap does not walk such VMAs: it reports no frames for them.
 */
#define PFNMAP_WHY "VM_PFNMAP mapping (kernel without special PTEs): pagemap reports no frames"
static bool vma_pfnmap(const void *p)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	uintptr_t v = (uintptr_t)p, lo, hi;
	bool in = false, pf = false;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = v >= lo && v < hi;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			pf = strstr(line, " pf") != NULL;
			break;
		}
	}
	fclose(f);
	return pf;
}

static bool in_cma(uint64_t phys, uint64_t size)
{
	return phys >= cma_base && phys + size <= cma_base + cma_size;
}

static void fill(void *p, size_t n, uint32_t salt)
{
	uint32_t *w = p;

	for (size_t i = 0; i < n / 4; i++)
		w[i] = (uint32_t)i * 2654435761u ^ salt;
}

static size_t check_fill(const void *p, size_t n, uint32_t salt)
{
	const uint32_t *w = p;

	for (size_t i = 0; i < n / 4; i++)
		if (w[i] != ((uint32_t)i * 2654435761u ^ salt))
			return i * 4;
	return (size_t)-1;
}

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i])
			return false;
	return true;
}

static sigjmp_buf bus_jmp;

static void on_bus(int sig)
{
	(void)sig;
	siglongjmp(bus_jmp, 1);
}

/* Does reading *p raise SIGBUS? */
static bool faults(const volatile char *p)
{
	struct sigaction sa = { .sa_handler = on_bus }, old;
	bool got = false;

	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(bus_jmp, 1))
		got = true;
	else
		(void)*p;
	sigaction(SIGBUS, &old, NULL);
	return got;
}

static void find_cma_area(void)
{
	char *s = klog(), *p;

	if (s && (p = strstr(s, "cma: Reserved "))) {
		unsigned long mib = strtoul(p + 14, NULL, 10);
		char *at = strstr(p, " at 0x");

		cma_size = mib * MiB;
		if (at)
			cma_base = strtoull(at + 4, NULL, 16);
	}
	free(s);
	if (!cma_size)
		cma_size = (uint64_t)meminfo_kb("CmaTotal") * 1024;
}

/* ---- tests -------------------------------------------------------------- */

static void t_basics(void)
{
	struct cmabuf_version v;

	memset(&v, 0xff, sizeof(v));
	ok(ioctl(devfd, CMABUF_IOC_VERSION, &v) == 0 &&
	   v.abi_version == CMABUF_ABI_VERSION && (long)v.page_size == page &&
	   v.alloc_flags == CMABUF_ALLOC_FLAGS && !v.reserved[0],
	   "VERSION reports ABI %u, page size %u", v.abi_version, v.page_size);
	ok(cma_base && cma_size == 64 * MiB,
	   "boot log reports the CMA area: %" PRIu64 " MiB at 0x%" PRIx64,
	   cma_size / MiB, cma_base);
}

static void t_cmafree_and_contiguity(void)
{
	const size_t size = 4 * MiB;
	struct cmabuf_alloc a;
	long base = cma_free_exact_kb(), during;
	int fd = cb_alloc(size, 0, CMABUF_CACHE_UNCACHED, &a);
	bool contiguous = true;
	struct stat st;
	char *m;

	if (!ok(fd >= 0, "ALLOC 4 MiB uncached (fd %d)", fd))
		return;
	during = base - (long)(size / 1024);
	ok(cma_back_to(during), "CmaFree drops by the size: %ld -> %ld kB", base, during);
	ok(a.size == size && in_cma(a.phys_addr, size),
	   "phys 0x%" PRIx64 " lies inside the CMA area", (uint64_t)a.phys_addr);
	ok(a.dma_addr == a.phys_addr, "dma_addr equals phys_addr (no IOMMU)");
	ok(fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == (off_t)size,
	   "the descriptor is a regular file of the buffer's size");
	ok(lseek(fd, 0, SEEK_END) == (off_t)size && lseek(fd, 0, SEEK_SET) == 0,
	   "lseek SEEK_END gives the size");

	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (!ok(m != MAP_FAILED, "mmap of the buffer descriptor"))
		return;
	if (vma_pfnmap(m)) {
		skip(PFNMAP_WHY, "the mapping is physically contiguous from phys_addr (pagemap)");
		contiguous = false;
	}
	for (size_t off = 0; contiguous && off < size; off += page)
		if (virt_to_phys(m + off) != a.phys_addr + off) {
			diag("page at +0x%zx: phys 0x%" PRIx64, off,
			     virt_to_phys(m + off));
			contiguous = false;
			break;
		}
	if (contiguous || !vma_pfnmap(m))
		ok(contiguous, "the mapping is physically contiguous from phys_addr (pagemap)");
	ok(mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0) == MAP_FAILED &&
	   errno == EINVAL, "MAP_PRIVATE is refused with EINVAL");
	{
		char path[64];
		int rfd;
		char *r;

		m[page + 3] = 'R';
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		rfd = open(path, O_RDONLY);
		r = rfd >= 0 ? mmap(NULL, 2 * page, PROT_READ, MAP_SHARED, rfd, 0)
			     : MAP_FAILED;
		ok(r != MAP_FAILED && r[page + 3] == 'R' &&
		   (vma_pfnmap(r) || virt_to_phys(r + page) == a.phys_addr + page) &&
		   mmap(NULL, page, PROT_READ, MAP_PRIVATE, rfd, 0) == MAP_FAILED,
		   "a read-only descriptor maps MAP_SHARED (PROT_READ), not MAP_PRIVATE");
		if (r != MAP_FAILED)
			munmap(r, 2 * page);
		if (rfd >= 0)
			close(rfd);
	}

	close(fd);
	ok(cma_back_to(during), "after close, the mapping still holds the memory");
	munmap(m, size);
	ok(cma_back_to(base), "after close and munmap CmaFree is back");
}

static void *volatile bad_addr = (void *)8;

static void t_rw_mmap(void)
{
	const size_t size = 1 * MiB + 3 * page;
	char *m, *b = malloc(size), *c = malloc(size);
	int fd = cb_alloc(size - 100, 0, CMABUF_CACHE_UNCACHED, NULL);
	struct cmabuf_info info;
	char x;

	if (!ok(fd >= 0 && cb_info(fd, &info) == 0 && info.size == size,
		"size rounds up to the page size")) {
		free(b);
		free(c);
		return;
	}
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ok(all_zero(m, size), "a new buffer is zero-filled");
	fill(b, size, 0x1234);
	ok(pwrite(fd, b, size, 0) == (ssize_t)size &&
	   check_fill(m, size, 0x1234) == (size_t)-1,
	   "bytes written with pwrite are seen through the mapping");
	fill(m, size, 0xabcd);
	ok(pread(fd, c, size, 0) == (ssize_t)size &&
	   check_fill(c, size, 0xabcd) == (size_t)-1,
	   "bytes stored through the mapping are read with pread");
	ok(pread(fd, c, 100, size) == 0, "a read at the end returns 0");
	ok(pread(fd, c, 100, size - 10) == 10, "a read across the end is shortened");
	ok(pwrite(fd, c, 1, size) == -1 && errno == ENOSPC,
	   "a write at the end fails with ENOSPC");
	/* read() into a mapping of the same buffer (the lock-order case) */
	ok(pread(fd, m + size / 2, size / 2, 0) == (ssize_t)(size / 2) &&
	   check_fill(m + size / 2, size / 2, 0xabcd) == (size_t)-1,
	   "pread into a mapping of the same buffer");
	ok(pread(fd, bad_addr, 16, 0) == -1 && errno == EFAULT,
	   "pread to a bad address fails with EFAULT");
	/* a mapping longer than the buffer: SIGBUS past the end */
	munmap(m, size);
	m = mmap(NULL, size + 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ok(m != MAP_FAILED && !faults(m + size - 1) && faults(m + size),
	   "a mapping past the end raises SIGBUS there");
	x = m[0];
	(void)x;
	munmap(m, size + 2 * page);
	close(fd);
	free(b);
	free(c);
}

static void t_cache_modes(void)
{
	static const char *const names[] = { "uncached", "cached", "writecombine" };

	for (uint32_t cache = 0; cache <= 2; cache++) {
		size_t size = 2 * MiB;
		struct cmabuf_alloc a;
		struct cmabuf_info info;
		int fd = cb_alloc(size, 0, cache, &a);
		char *m, *b = malloc(size);
		bool good;

		if (!ok(fd >= 0, "ALLOC %s", names[cache])) {
			free(b);
			continue;
		}
		m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		memset(m, 0x5a, size);	/* arm64: no bus error on Normal-NC */
		fill(m, size, cache);
		good = cb_sync(fd, 0, 0, CMABUF_SYNC_DEVICE) == 0 &&
		       cb_sync(fd, page, page, CMABUF_SYNC_CPU) == 0 &&
		       fsync(fd) == 0;
		ok(good, "%s: SYNC both ways and fsync", names[cache]);
		ok(pread(fd, b, size, 0) == (ssize_t)size &&
		   check_fill(b, size, cache) == (size_t)-1,
		   "%s: mapping and read agree", names[cache]);
		ok(cb_info(fd, &info) == 0 && info.cache == cache &&
		   info.phys_addr == a.phys_addr && (info.flags & CMABUF_INFO_MAPPED),
		   "%s: INFO reports the mode, address and mapping", names[cache]);
		ok(cb_sync(fd, size, 1, CMABUF_SYNC_DEVICE) == -EINVAL &&
		   cb_sync(fd, 0, 0, 3) == -EINVAL,
		   "%s: SYNC past the end or in no direction: EINVAL", names[cache]);
		munmap(m, size);
		close(fd);
		free(b);
	}
}

static void t_align(void)
{
	static const uint64_t aligns[] = { 0, 64 * 1024, 1 * MiB, 2 * MiB, 4 * MiB, 16 * MiB };
	long base = cma_free_exact_kb();
	bool all = true;

	for (unsigned int i = 0; i < sizeof(aligns) / sizeof(aligns[0]); i++) {
		for (uint64_t size = page; size <= 4 * MiB; size *= 8) {
			struct cmabuf_alloc a;
			struct cmabuf_info info;
			int fd = cb_alloc(size, aligns[i], CMABUF_CACHE_UNCACHED, &a);
			uint64_t al = aligns[i] ? aligns[i] : (uint64_t)page;

			if (fd < 0 || a.phys_addr % al || cb_info(fd, &info) ||
			    info.align != al || info.phys_addr != a.phys_addr) {
				diag("size %" PRIu64 " align %" PRIu64 ": fd %d phys 0x%" PRIx64,
				     size, al, fd, (uint64_t)a.phys_addr);
				all = false;
			}
			if (fd >= 0)
				close(fd);
		}
	}
	ok(all, "alignments from page size to 16 MiB are honoured");
	ok(cb_alloc(page, 3 * page, 0, NULL) == -EINVAL &&
	   cb_alloc(page, page / 2, 0, NULL) == -EINVAL &&
	   cb_alloc(page, 128 * MiB, 0, NULL) == -ENOSPC,
	   "bad alignments fail with EINVAL, impossible ones with ENOSPC");
	ok(cb_alloc(page, 512 * MiB, 0, NULL) == -EINVAL &&
	   cb_alloc(page, 1ull << 62, 0, NULL) == -EINVAL &&
	   cb_alloc(512 * MiB + page, 1024 * MiB, 0, NULL) == -ENOSPC,
	   "an alignment above 256 MiB and above the size's power of two: EINVAL (up to it: tried)");
	ok(cma_back_to(base), "CmaFree back after the alignment tests");
}

static void t_bad_args(void)
{
	struct cmabuf_alloc a;

	ok(cb_alloc(0, 0, 0, NULL) == -EINVAL, "size 0: EINVAL");
	ok(cb_alloc(~0ull, 0, 0, NULL) == -EINVAL, "size that overflows: EINVAL");
	ok(cb_alloc(page, 0, 3, NULL) == -EINVAL, "unknown cache mode: EINVAL");
	memset(&a, 0, sizeof(a));
	a.size = page;
	a.flags = ~CMABUF_ALLOC_FLAGS;
	ok(ioctl(devfd, CMABUF_IOC_ALLOC, &a) == -1 && errno == EINVAL,
	   "unknown flag: EINVAL");
	a.flags = 0;
	a.reserved[2] = 1;
	ok(ioctl(devfd, CMABUF_IOC_ALLOC, &a) == -1 && errno == EINVAL,
	   "reserved field set: EINVAL");
	ok(ioctl(devfd, _IO(CMABUF_IOC_MAGIC, 0x7f)) == -1 && errno == ENOTTY,
	   "unknown ioctl: ENOTTY");
}

static void t_too_big(void)
{
	size_t from = klog_len();
	uint64_t size = cma_size + 16 * MiB;
	struct cmabuf_stats s0, s1;
	long base = cma_free_exact_kb();
	int fd;

	cb_stats(&s0);
	fd = cb_alloc(size, 0, CMABUF_CACHE_UNCACHED, NULL);
	cb_stats(&s1);
	ok(fd == -ENOSPC, "an allocation larger than the area fails with ENOSPC (%d)", fd);
	ok(s1.alloc_failures == s0.alloc_failures + 1, "STATS counts the failure");
	ok(klog_has(from, "cmabuf: alloc failed", "req-size: "),
	   "the failure is logged (cmabuf: alloc failed, req-size: ...)");
	ok(cma_back_to(base), "CmaFree unchanged by the failure");
}

/*
 * Fill the CMA area with 4 MiB buffers: the first one CMA cannot place
 * makes cma_alloc log its failure; dma-direct then serves it from the page
 * allocator (outside the area).
 */
static void t_cma_exhausted(void)
{
	size_t from = klog_len();
	long base = cma_free_exact_kb();
	int fds[64], n = 0;
	bool outside = false, flags_ok = true;
	struct cmabuf_stats st;
	struct cmabuf_info info;

	while (n < 64) {
		struct cmabuf_alloc a;
		int fd = cb_alloc(4 * MiB, 0, CMABUF_CACHE_UNCACHED, &a);

		if (fd < 0)
			break;
		fds[n++] = fd;
		if (cb_info(fd, &info) ||
		    !(info.flags & CMABUF_INFO_BUDDY) != in_cma(a.phys_addr, 4 * MiB))
			flags_ok = false;
		if (!in_cma(a.phys_addr, 4 * MiB)) {
			outside = true;
			break;
		}
	}
	if (!outside && kernel32)
		skip("32-bit ARM's arch_dma_alloc() takes blocking allocations from CMA only",
		     "with the area full, a 4 MiB buffer comes from outside it (%d buffers)", n);
	else
		ok(outside, "with the area full, a 4 MiB buffer comes from outside it (%d buffers)", n);
	ok(flags_ok, "INFO flags exactly the buffers outside the area CMABUF_INFO_BUDDY");
	ok(!klog_has(from, "cma_alloc", "alloc failed") &&
	   !klog_has(from, "page allocation failure", NULL),
	   "__GFP_NOWARN: neither cma_alloc's failure line nor the page allocator's is in the log");
	ok(cb_stats(&st) == 0 && st.buffers == (uint64_t)n &&
	   st.bytes == (uint64_t)n * 4 * MiB && st.buddy_buffers == outside &&
	   st.buddy_bytes == outside * 4 * MiB,
	   "STATS: %" PRIu64 " buffers, %" PRIu64 " bytes, %" PRIu64 " of them (%"
	   PRIu64 " bytes) from the page allocator", st.buffers, st.bytes,
	   st.buddy_buffers, st.buddy_bytes);
	while (n)
		close(fds[--n]);
	ok(cma_back_to(base), "CmaFree back after freeing them");
}

/*
 * Where single pages and small buffers come from: the page allocator for one
 * page of the default area, CMA otherwise; INFO and STATS say which.
 */
static void t_placement(bool own_region)
{
	struct cmabuf_alloc a1, a2;
	struct cmabuf_info i1, i2;
	struct cmabuf_stats s0, s1;
	bool cached_out;
	int fd1, fd2;

	cb_stats(&s0);
	fd1 = cb_alloc(page, 0, CMABUF_CACHE_CACHED, &a1);
	fd2 = cb_alloc(2 * page, 0, CMABUF_CACHE_UNCACHED, &a2);
	if (!ok(fd1 >= 0 && fd2 >= 0, "ALLOC one page and two pages"))
		return;
	cb_info(fd1, &i1);
	cb_info(fd2, &i2);
	cb_stats(&s1);
	/* 32-bit ARM: cached buffers never come from a highmem area. */
	cached_out = own_region && kernel32 && !in_cma(a1.phys_addr, page) &&
		     (i1.flags & CMABUF_INFO_BUDDY);
	if (cached_out)
		skip("32-bit ARM: dma_alloc_pages() takes no highmem, the region is in highmem",
		     "one page comes from the device's own region, not flagged BUDDY");
	else if (own_region)
		ok(in_cma(a1.phys_addr, page) && !(i1.flags & CMABUF_INFO_BUDDY),
		   "one page comes from the device's own region, not flagged BUDDY");
	else
		ok(!in_cma(a1.phys_addr, page) && (i1.flags & CMABUF_INFO_BUDDY),
		   "one page comes from the page allocator (0x%" PRIx64 "), flagged BUDDY",
		   a1.phys_addr);
	ok(in_cma(a2.phys_addr, 2 * page) && !(i2.flags & CMABUF_INFO_BUDDY),
	   "two pages come from CMA (0x%" PRIx64 "), not flagged BUDDY", a2.phys_addr);
	ok(s1.buddy_buffers == s0.buddy_buffers + (!own_region || cached_out) &&
	   s1.buddy_bytes == s0.buddy_bytes +
			     (own_region && !cached_out ? 0 : (uint64_t)page),
	   "STATS buddy_buffers %" PRIu64 " -> %" PRIu64 ", buddy_bytes %" PRIu64
	   " -> %" PRIu64, s0.buddy_buffers, s1.buddy_buffers, s0.buddy_bytes,
	   s1.buddy_bytes);
	close(fd1);
	close(fd2);
	cb_stats(&s1);
	ok(s1.buddy_buffers == s0.buddy_buffers && s1.buddy_bytes == s0.buddy_bytes,
	   "STATS buddy counters back after freeing them");
}

static void t_resize(void)
{
	const size_t s1 = 2 * MiB, s2 = 6 * MiB, s3 = 1 * MiB;
	struct cmabuf_alloc a;
	struct cmabuf_resize r;
	struct cmabuf_info info;
	long base = cma_free_exact_kb();
	int fd = cb_alloc(s1, 0, CMABUF_CACHE_UNCACHED, &a), fd2;
	char *m, *big;
	bool moved_ok = true;

	if (!ok(fd >= 0, "ALLOC for resize"))
		return;
	m = mmap(NULL, s1, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	big = mmap(NULL, s2, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	fill(m, s1, 77);
	{
		char path[64];

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		fd2 = open(path, O_RDWR);
	}
	ok(fd2 >= 0, "the buffer can be opened again through /proc/self/fd");

	ok(cb_resize(fd, s2, 0, CMABUF_CACHE_UNCACHED, &r) == 0 && r.size == s2,
	   "RESIZE 2 MiB -> 6 MiB");
	ok(check_fill(m, s1, 77) == (size_t)-1, "the old mapping sees the moved data");
	for (size_t off = 0; off < s1; off += 64 * 1024)
		if (virt_to_phys(m + off) != r.phys_addr + off)
			moved_ok = false;
	if (vma_pfnmap(m))
		skip(PFNMAP_WHY, "the old mapping now maps the new region (pagemap)");
	else
		ok(moved_ok, "the old mapping now maps the new region (pagemap)");
	ok(all_zero(big + s1, s2 - s1) && check_fill(big, s1, 77) == (size_t)-1,
	   "the grown part is zero, past the old end a mapping now works");
	ok(cma_back_to(base - (long)(s2 / 1024)), "the old region was freed");
	ok(cb_info(fd2, &info) == 0 && info.size == s2 && info.phys_addr == r.phys_addr,
	   "the other descriptor of the file follows");
	{
		struct stat st;

		ok(fstat(fd2, &st) == 0 && st.st_size == (off_t)s2, "st_size follows");
	}

	/* A 32-bit kernel refuses what its size_t cannot hold with EINVAL. */
	ok(cb_resize(fd, kernel32 ? 3ull << 30 : 1ull << 40, 0, 0, NULL) == -ENOSPC &&
	   cb_info(fd, &info) == 0 && info.phys_addr == r.phys_addr &&
	   check_fill(m, s1, 77) == (size_t)-1,
	   "a failed RESIZE (ENOSPC) changes nothing");
	ok(cb_resize(fd, s2, 0, CMABUF_CACHE_CACHED, NULL) == -EBUSY,
	   "changing the cache mode while mapped: EBUSY");

	ok(cb_resize(fd, s3, 0, CMABUF_CACHE_UNCACHED, &r) == 0 &&
	   check_fill(m, s3, 77) == (size_t)-1 && faults(m + s3),
	   "RESIZE down to 1 MiB keeps the head; past the end: SIGBUS");
	munmap(m, s1);
	munmap(big, s2);
	ok(cb_resize(fd, s1, 2 * MiB, CMABUF_CACHE_CACHED, &r) == 0 &&
	   r.phys_addr % (2 * MiB) == 0 && cb_info(fd, &info) == 0 &&
	   info.cache == CMABUF_CACHE_CACHED,
	   "unmapped, RESIZE may change the cache mode and alignment");
	{
		char *c = malloc(s3);

		ok(pread(fd2, c, s3, 0) == (ssize_t)s3 &&
		   check_fill(c, s3, 77) == (size_t)-1, "contents kept across modes");
		free(c);
	}
	close(fd);
	close(fd2);
	ok(cma_back_to(base), "CmaFree back after the resize tests");
}

/* ---- CMABUF_ALLOC_FILE: the file's size is its own ------------------------ */

static int cb_alloc_file(uint64_t size, struct cmabuf_alloc *out)
{
	struct cmabuf_alloc a;

	memset(&a, 0, sizeof(a));
	a.size = size;
	a.flags = CMABUF_ALLOC_CLOEXEC | CMABUF_ALLOC_FILE;
	if (out)
		memset(out, 0, sizeof(*out));
	if (ioctl(devfd, CMABUF_IOC_ALLOC, &a) < 0)
		return -errno;
	if (out)
		*out = a;
	return a.fd;
}

static off_t fsize(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? -1 : st.st_size;
}

static uint64_t capacity(int fd)
{
	struct cmabuf_info info;

	return cb_info(fd, &info) ? ~0ull : info.size;
}

static void t_file_basics(void)
{
	const size_t cap = 1 * MiB;
	long base = cma_free_exact_kb();
	struct cmabuf_alloc a, z;
	struct cmabuf_info info;
	char *b = malloc(cap), *c = malloc(cap);
	int fd = cb_alloc_file(cap, &a), zfd;
	uint64_t phys;

	if (!ok(fd >= 0, "ALLOC with CMABUF_ALLOC_FILE (fd %d)", fd)) {
		free(b);
		free(c);
		return;
	}
	ok(fsize(fd) == 0 && lseek(fd, 0, SEEK_END) == 0 && pread(fd, b, 16, 0) == 0,
	   "a file buffer starts empty: st_size 0, SEEK_END 0, read returns 0");
	ok(cb_info(fd, &info) == 0 && info.size == cap &&
	   (info.flags & CMABUF_INFO_FILE) && info.phys_addr == a.phys_addr &&
	   in_cma(a.phys_addr, cap),
	   "INFO reports the capacity (1 MiB) and CMABUF_INFO_FILE");
	ok(cma_back_to(base - (long)(cap / 1024)),
	   "CmaFree drops by the capacity");
	zfd = cb_alloc_file(0, &z);
	ok(zfd >= 0 && z.size == 0 && z.phys_addr == 0 && z.dma_addr == 0 &&
	   capacity(zfd) == 0 && fsize(zfd) == 0 &&
	   cma_back_to(base - (long)(cap / 1024)),
	   "ALLOC size 0 with CMABUF_ALLOC_FILE: capacity 0, phys 0, no memory");
	ok(zfd >= 0 && pread(zfd, b, 16, 0) == 0 && lseek(zfd, 0, SEEK_END) == 0 &&
	   fsync(zfd) == 0 && cb_sync(zfd, 0, 0, CMABUF_SYNC_DEVICE) == 0,
	   "capacity 0: read 0, SEEK_END 0, fsync and SYNC succeed");
	if (zfd >= 0)
		close(zfd);
	ok(cb_alloc(0, 0, 0, NULL) == -EINVAL, "size 0 without the flag is still EINVAL");

	ok(ftruncate(fd, 300000) == 0 && fsize(fd) == 300000 &&
	   capacity(fd) == cap && cb_info(fd, &info) == 0 &&
	   info.phys_addr == a.phys_addr && lseek(fd, 0, SEEK_END) == 300000,
	   "ftruncate within the capacity sets st_size and SEEK_END, keeps phys");
	ok(pread(fd, b, cap, 0) == 300000 && all_zero(b, 300000),
	   "a read returns exactly st_size bytes, zeros");
	fill(b, cap, 11);
	ok(pwrite(fd, b, 1000, 400000) == 1000 && fsize(fd) == 401000 &&
	   pread(fd, c, cap, 0) == 401000 && all_zero(c, 400000) &&
	   !memcmp(c + 400000, b, 1000),
	   "a write past the end extends st_size; the gap reads zeros");
	ok(pwrite(fd, b, cap, 0) == (ssize_t)cap && fsize(fd) == (off_t)cap &&
	   capacity(fd) == cap && pwrite(fd, b, 0, cap) == 0,
	   "a write up to the capacity does not grow the buffer");

	phys = a.phys_addr;
	ok(ftruncate(fd, 3 * MiB / 2 + 100) == 0 &&
	   capacity(fd) == 3 * MiB / 2 + page && fsize(fd) == 3 * MiB / 2 + 100 &&
	   cb_info(fd, &info) == 0 && info.phys_addr != phys,
	   "ftruncate beyond the capacity grows it to exactly the size (rounded)");
	{
		char *d = malloc(2 * MiB);

		ok(pread(fd, d, 2 * MiB, 0) == 3 * MiB / 2 + 100 &&
		   check_fill(d, cap, 11) == (size_t)-1 &&
		   all_zero(d + cap, MiB / 2 + 100),
		   "... and keeps the contents; the grown part reads zeros");
		free(d);
	}
	ok(cma_back_to(base - (long)((3 * MiB / 2 + page) / 1024)),
	   "CmaFree follows (the old memory was freed)");
	ok(ftruncate(fd, 1 << 30) == -1 && errno == ENOSPC &&
	   fsize(fd) == 3 * MiB / 2 + 100 && capacity(fd) == 3 * MiB / 2 + page,
	   "ftruncate the area cannot hold: ENOSPC, nothing changed");
	ok(ftruncate(fd, 0) == 0 && fsize(fd) == 0 &&
	   capacity(fd) == 3 * MiB / 2 + page,
	   "ftruncate to 0 keeps the memory");
	close(fd);
	ok(cma_back_to(base), "CmaFree back after close");
	free(b);
	free(c);
}

/* CMABUF_ALLOC_LIMIT: the file's largest size, as s_maxbytes. */
static void t_file_limit(void)
{
	struct cmabuf_alloc a;
	struct cmabuf_stats s0, s1;
	char buf[2 * 4096];
	int fd;

	memset(&a, 0, sizeof(a));
	a.size = page;
	a.flags = CMABUF_ALLOC_LIMIT;
	a.size_limit = 1 * MiB;
	ok(ioctl(devfd, CMABUF_IOC_ALLOC, &a) == -1 && errno == EINVAL,
	   "LIMIT without FILE: EINVAL");
	a.flags = CMABUF_ALLOC_FILE;
	ok(ioctl(devfd, CMABUF_IOC_ALLOC, &a) == -1 && errno == EINVAL,
	   "size_limit without LIMIT: EINVAL");
	a.flags = CMABUF_ALLOC_FILE | CMABUF_ALLOC_LIMIT;
	a.size = 2 * MiB;
	ok(ioctl(devfd, CMABUF_IOC_ALLOC, &a) == -1 && errno == EINVAL,
	   "size beyond size_limit: EINVAL");
	a.size = page;
	a.flags |= CMABUF_ALLOC_CLOEXEC;
	fd = ioctl(devfd, CMABUF_IOC_ALLOC, &a) == 0 ? a.fd : -1;
	if (!ok(fd >= 0, "ALLOC a file buffer limited to 1 MiB"))
		return;
	memset(buf, 7, sizeof(buf));
	cb_stats(&s0);
	ok(pwrite(fd, buf, 1, 1 * MiB) == -1 && errno == EFBIG && fsize(fd) == 0,
	   "a write at the limit: EFBIG, size unchanged");
	ok(ftruncate(fd, 1 * MiB + 1) == -1 && errno == EFBIG && fsize(fd) == 0,
	   "ftruncate past the limit: EFBIG, size unchanged");
	cb_stats(&s1);
	ok(s1.alloc_failures == s0.alloc_failures && s1.resizes == s0.resizes,
	   "neither tried to allocate");
	ok(pwrite(fd, buf, sizeof(buf), 1 * MiB - 4096) == 4096 &&
	   fsize(fd) == (off_t)(1 * MiB),
	   "a write across the limit is shortened to it");
	ok(ftruncate(fd, 1 * MiB) == 0 && ftruncate(fd, 0) == 0,
	   "ftruncate up to the limit works");
	close(fd);
}

static void t_file_growth(void)
{
	const size_t chunk = 256 * 1024, total = 5 * MiB;
	long base = cma_free_exact_kb();
	struct cmabuf_stats s0, s1;
	char *b = malloc(total), *c = malloc(total), *anon;
	int fd = cb_alloc_file(1 * MiB, NULL);
	uint64_t caps[8];
	int ncaps = 0;
	bool good = true;

	if (!ok(fd >= 0, "ALLOC a 1 MiB file buffer")) {
		free(b);
		free(c);
		return;
	}
	fill(b, total, 99);
	caps[ncaps++] = capacity(fd);
	for (size_t off = 0; off < total; off += chunk) {
		if (write(fd, b + off, chunk) != (ssize_t)chunk) {
			diag("append at %zu: %s", off, strerror(errno));
			good = false;
			break;
		}
		if (capacity(fd) != caps[ncaps - 1] && ncaps < 8)
			caps[ncaps++] = capacity(fd);
	}
	diag("capacities: %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " (%d)",
	     caps[0], ncaps > 1 ? caps[1] : 0, ncaps > 2 ? caps[2] : 0,
	     ncaps > 3 ? caps[3] : 0, ncaps);
	ok(good && ncaps == 4 && caps[0] == 1 * MiB && caps[1] == 2 * MiB &&
	   caps[2] == 4 * MiB && caps[3] == 8 * MiB,
	   "appends past the capacity grow it geometrically: 1, 2, 4, 8 MiB");
	ok(fsize(fd) == (off_t)total && pread(fd, c, total, 0) == (ssize_t)total &&
	   check_fill(c, total, 99) == (size_t)-1,
	   "st_size is what was written, the contents survive the moves");
	ok(cma_back_to(base - (long)(8 * MiB / 1024)),
	   "CmaFree dropped by the capacity only (8 MiB)");
	ok(pwrite(fd, b, 3 * MiB, 6 * MiB) == 3 * MiB &&
	   capacity(fd) == 16 * MiB && fsize(fd) == 9 * MiB &&
	   pread(fd, c, 1 * MiB, 5 * MiB) == 1 * MiB && all_zero(c, 1 * MiB),
	   "a write far past the end doubles to cover it; the gap reads zeros");

	cb_stats(&s0);
	ok(pwrite(fd, b, 1, 128 * MiB) == -1 && errno == ENOSPC &&
	   fsize(fd) == 9 * MiB && capacity(fd) == 16 * MiB &&
	   cb_stats(&s1) == 0 && s1.alloc_failures == s0.alloc_failures + 1,
	   "a write the area cannot hold: ENOSPC, nothing changed (one failure counted)");
	anon = mmap(NULL, 128 * MiB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		    -1, 0);
	ok(anon != MAP_FAILED && pwrite(fd, anon, 128 * MiB, 15 * MiB) == (ssize_t)MiB &&
	   fsize(fd) == 16 * MiB && capacity(fd) == 16 * MiB,
	   "a write the area cannot hold all of writes what fits below the capacity");
	ok(anon != MAP_FAILED && pwrite(fd, anon, 128 * MiB, 16 * MiB) == -1 &&
	   errno == ENOSPC && fsize(fd) == 16 * MiB && capacity(fd) == 16 * MiB,
	   "... and the next such write, at the capacity, fails with ENOSPC");
	if (anon != MAP_FAILED)
		munmap(anon, 128 * MiB);
	ok(cma_back_to(base - (long)(16 * MiB / 1024)), "CmaFree: 16 MiB used");
	{
		char path[64];
		int afd;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		afd = open(path, O_WRONLY | O_APPEND);
		ok(afd >= 0 && ftruncate(fd, 100) == 0 && write(afd, "xyz", 3) == 3 &&
		   fsize(fd) == 103 && pread(fd, c, 16, 100) == 3 && !memcmp(c, "xyz", 3),
		   "O_APPEND writes at st_size");
		if (afd >= 0)
			close(afd);
	}
	close(fd);
	ok(cma_back_to(base), "CmaFree back after close");
	free(b);
	free(c);
}

static void t_file_mmap(void)
{
	const uint64_t pg = page;
	long base = cma_free_exact_kb();
	int fd = cb_alloc_file(4 * page, NULL);
	struct cmabuf_resize r;
	char *m, *c = malloc(4 * page);

	if (!ok(fd >= 0, "ALLOC a 4-page file buffer")) {
		free(c);
		return;
	}
	ftruncate(fd, 1000);
	m = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (!ok(m != MAP_FAILED, "mmap 4 pages of a 1000-byte file buffer")) {
		free(c);
		close(fd);
		return;
	}
	ok(!faults(m) && !faults(m + page - 1) && faults(m + page) && faults(m + 3 * page),
	   "pages past the one holding the end give SIGBUS");
	memset(m, 'a', 1000);
	m[2000] = 'q';	/* past the end, in its last page */
	ok(ftruncate(fd, 3 * page) == 0 && !faults(m + 3 * page - 1) &&
	   faults(m + 3 * page) && m[0] == 'a' && m[999] == 'a' && m[2000] == 0 &&
	   all_zero(m + 1000, 3 * page - 1000),
	   "after growing, the new pages map; bytes stored past the old end read zero");
	memset(m, 'b', 3 * page);
	ok(ftruncate(fd, 100) == 0 && faults(m + page) && !faults(m + page - 1),
	   "shrinking unmaps what lies past the new end's page (SIGBUS there)");
	ok(ftruncate(fd, 4 * page) == 0 && pread(fd, c, 4 * page, 0) == 4 * page &&
	   c[99] == 'b' && all_zero(c + 100, 4 * page - 100) &&
	   m[99] == 'b' && all_zero(m + 100, 4 * page - 100),
	   "shrink then grow: the part cut off reads zeros");
	ok(cb_resize(fd, 0, 0, CMABUF_CACHE_UNCACHED, &r) == 0 && r.size == 0 &&
	   r.phys_addr == 0 && capacity(fd) == 0 && fsize(fd) == 0 && faults(m),
	   "RESIZE to 0 frees the memory and empties the file; the mapping faults");
	ok(pread(fd, c, page, 0) == 0, "capacity 0: read returns 0");
	ok(cb_resize(fd, 2 * page, 0, CMABUF_CACHE_UNCACHED, &r) == 0 &&
	   r.size == 2 * pg && r.phys_addr && capacity(fd) == 2 * pg &&
	   fsize(fd) == 0 && faults(m),
	   "RESIZE from 0 allocates; st_size stays 0");
	ok(pwrite(fd, "hello", 5, 0) == 5 && fsize(fd) == 5 && !faults(m) &&
	   !memcmp(m, "hello", 5) && all_zero(m + 5, page - 5),
	   "write, then the mapping sees it");
	ok(ftruncate(fd, 2 * page) == 0 &&
	   cb_resize(fd, page, 0, CMABUF_CACHE_UNCACHED, NULL) == 0 &&
	   fsize(fd) == page && capacity(fd) == pg && faults(m + page),
	   "RESIZE below st_size cuts it to the capacity");
	ok(cb_resize(fd, 0, 0, CMABUF_CACHE_UNCACHED, NULL) == 0 &&
	   pwrite(fd, "x", 1, 10) == 1 && capacity(fd) == pg && fsize(fd) == 11,
	   "a write to a buffer of capacity 0 allocates it");
	munmap(m, 4 * page);
	close(fd);
	free(c);
	ok(cma_back_to(base), "CmaFree back after the mapping tests");
}

/* ---- handed-out files, counts, privileges, limits ---------------------- */

static int cb_dup(int fd, uint32_t flags)
{
	struct cmabuf_dup d;

	memset(&d, 0, sizeof(d));
	d.flags = flags | CMABUF_DUP_CLOEXEC;
	return ioctl(fd, CMABUF_IOC_DUP, &d) < 0 ? -errno : d.fd;
}

/* Open the file of @fd again through /proc/self/fd; -errno on failure. */
static int reopen(int fd, int flags)
{
	char path[64];
	int r;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	r = open(path, flags | O_CLOEXEC);
	return r < 0 ? -errno : r;
}

static bool counts(int fd, uint32_t files, uint32_t maps)
{
	struct cmabuf_info info;

	if (cb_info(fd, &info))
		return false;
	if (info.files != files || info.maps != maps)
		diag("files %u maps %u, expected %u %u", info.files, info.maps,
		     files, maps);
	return info.files == files && info.maps == maps;
}

static bool set_param(const char *name, uint64_t v)
{
	char path[128];
	FILE *f;
	int r;

	snprintf(path, sizeof(path), "/sys/module/cmabuf/parameters/%s", name);
	f = fopen(path, "w");
	if (!f)
		return false;
	r = fprintf(f, "%" PRIu64 "\n", v);
	return (fclose(f) == 0) & (r > 0);
}

static void t_dup_rdonly(void)
{
	struct cmabuf_info info;
	int fd = cb_alloc(2 * page, 0, CMABUF_CACHE_UNCACHED, NULL), ro, r;
	char *m;

	if (!ok(fd >= 0, "ALLOC a buffer to hand out"))
		return;
	ro = cb_dup(fd, CMABUF_DUP_RDONLY);
	if (!ok(ro >= 0, "DUP RDONLY gives a descriptor (%d)", ro)) {
		close(fd);
		return;
	}
	ok(pwrite(fd, "a", 1, 0) == 1 && pwrite(ro, "b", 1, 0) == -1 && errno == EBADF,
	   "DUP RDONLY: write fails with EBADF (the original writes)");
	m = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
	ok(m == MAP_FAILED && errno == EACCES,
	   "DUP RDONLY: mmap PROT_WRITE MAP_SHARED fails with EACCES");
	m = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ok(m != MAP_FAILED && m[0] == 'a', "... the original maps writable");
	if (m != MAP_FAILED)
		munmap(m, page);
	m = mmap(NULL, page, PROT_READ, MAP_SHARED, ro, 0);
	ok(m != MAP_FAILED && m[0] == 'a' &&
	   mprotect(m, page, PROT_READ | PROT_WRITE) == -1 && errno == EACCES,
	   "DUP RDONLY: a read-only mapping reads, mprotect to PROT_WRITE fails (EACCES)");
	if (m != MAP_FAILED)
		munmap(m, page);
	ok(cb_resize(ro, 4 * page, 0, 0, NULL) == -EBADF &&
	   cb_sync(ro, 0, 0, CMABUF_SYNC_CPU) == -EBADF &&
	   cb_sync(ro, 0, 0, CMABUF_SYNC_DEVICE) == 0 && cb_info(ro, &info) == 0,
	   "DUP RDONLY: RESIZE and SYNC_CPU fail with EBADF, SYNC_DEVICE and INFO work");
	ok(cb_dup(ro, 0) == -EBADF, "DUP of a read-only file without RDONLY: EBADF");
	r = cb_dup(ro, CMABUF_DUP_RDONLY);
	ok(r >= 0, "DUP of a read-only file with RDONLY works");
	if (r >= 0)
		close(r);
	r = reopen(ro, O_RDWR);
	ok(r == -EACCES, "a handed-out read-only file cannot be reopened for writing (%d)", r);
	if (r >= 0)
		close(r);
	r = reopen(ro, O_RDONLY);
	ok(r >= 0, "... but for reading");
	if (r >= 0)
		close(r);
	close(ro);
	close(fd);
}

static void t_dup_rw(void)
{
	char b[256], path[64];
	int fd = cb_alloc_file(2 * page, NULL), d, r;
	uint64_t cap;

	if (!ok(fd >= 0, "ALLOC a file buffer to hand out"))
		return;
	memset(b, 'h', sizeof(b));
	pwrite(fd, b, 200, 800);	/* st_size 1000 */
	cap = capacity(fd);
	d = cb_dup(fd, 0);
	if (!ok(d >= 0 && fsize(d) == 1000, "DUP read-write shares the file (st_size 1000)")) {
		close(fd);
		return;
	}
	ok(cb_resize(d, 4 * page, 0, 0, NULL) == -EPERM && capacity(fd) == cap,
	   "DUP: RESIZE fails with EPERM");
	ok(cb_resize(fd, 2 * page, 0, 0, NULL) == 0, "... the original resizes");
	ok(ftruncate(d, 500) == -1 && errno == EPERM &&
	   ftruncate(d, 5000) == -1 && errno == EPERM && fsize(fd) == 1000,
	   "DUP: ftruncate down or up fails with EPERM");
	ok(ftruncate(fd, 1000) == 0, "... the original truncates");
	ok(pwrite(d, b, 10, 100) == 10 && pwrite(d, b, 100, 950) == 50 &&
	   fsize(fd) == 1000,
	   "DUP: writes below st_size work, one across it is shortened to it");
	ok(pwrite(d, b, 1, 1000) == -1 && errno == ENOSPC &&
	   pwrite(d, b, 1, 3 * page) == -1 && errno == ENOSPC &&
	   fsize(fd) == 1000 && capacity(fd) == cap,
	   "DUP: a write at or past st_size fails with ENOSPC; size and capacity unchanged");
	ok(pwrite(fd, b, 1, 1000) == 1 && fsize(fd) == 1001 && ftruncate(fd, 1000) == 0,
	   "... the original extends the file");
	r = reopen(d, O_RDWR);
	ok(r >= 0 && ftruncate(r, 10) == -1 && errno == EPERM &&
	   cb_resize(r, page, 0, 0, NULL) == -EPERM,
	   "a reopen of a handed-out file is handed out too (ftruncate, RESIZE: EPERM)");
	if (r >= 0)
		close(r);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", d);
	ok(truncate(path, 10) == -1 && errno == EPERM && fsize(fd) == 1000,
	   "truncate(2) through its /proc path: EPERM");
	close(d);
	close(fd);
}

static void t_counts(void)
{
	int fd = cb_alloc(3 * page, 0, CMABUF_CACHE_UNCACHED, NULL), d, d2, r;
	char *m1, *m2;

	if (!ok(fd >= 0, "ALLOC a buffer to count"))
		return;
	ok(counts(fd, 1, 0), "INFO: a new buffer has files 1, maps 0");
	d2 = dup(fd);
	ok(counts(fd, 1, 0), "INFO: dup(2) shares the file (files 1)");
	close(d2);
	d = cb_dup(fd, 0);
	ok(d >= 0 && counts(fd, 2, 0) && counts(d, 2, 0), "INFO: DUP makes files 2");
	m1 = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	m2 = mmap(NULL, page, PROT_READ, MAP_SHARED, d, 0);
	ok(m1 != MAP_FAILED && m2 != MAP_FAILED && counts(fd, 2, 2),
	   "INFO: two mappings: maps 2");
	r = reopen(fd, O_RDWR);
	ok(r >= 0 && counts(fd, 3, 2), "INFO: a reopen through /proc/self/fd: files 3");
	close(d);
	ok(counts(fd, 3, 2), "INFO: closing a mapped DUP keeps its file (files 3)");
	munmap(m2, page);
	ok(counts(fd, 2, 1), "INFO: unmapping it closes it (files 2, maps 1)");
	munmap(m1 + page, page);
	ok(counts(fd, 2, 2), "INFO: unmapping the middle page splits a mapping (maps 2)");
	close(r);
	ok(counts(fd, 1, 2), "INFO: closing the reopen: files 1");
	munmap(m1, page);
	munmap(m1 + 2 * page, page);
	ok(counts(fd, 1, 0), "INFO: all unmapped: files 1, maps 0 (only the caller holds it)");
	close(fd);
}

static void t_noaddr(void)
{
	struct cmabuf_info i0, i1, i2;
	int fd = cb_alloc(2 * page, 0, CMABUF_CACHE_UNCACHED, NULL), n, n2, r;

	if (!ok(fd >= 0, "ALLOC a buffer for NOADDR"))
		return;
	n = cb_dup(fd, CMABUF_DUP_NOADDR);
	ok(n >= 0 && cb_info(fd, &i0) == 0 && cb_info(n, &i1) == 0 &&
	   i0.phys_addr && i0.dma_addr && !i1.phys_addr && !i1.dma_addr &&
	   i1.size == i0.size,
	   "DUP NOADDR: INFO reports addresses 0 (the original: 0x%" PRIx64 ")",
	   (uint64_t)i0.phys_addr);
	n2 = n >= 0 ? cb_dup(n, 0) : -1;
	ok(n2 >= 0 && cb_info(n2, &i2) == 0 && !i2.phys_addr && !i2.dma_addr,
	   "a DUP of a NOADDR file without the flag still has no addresses");
	r = n >= 0 ? reopen(n, O_RDWR) : -1;
	ok(r >= 0 && cb_info(r, &i2) == 0 && !i2.phys_addr,
	   "a reopen of a NOADDR file has no addresses");
	if (r >= 0)
		close(r);
	if (n2 >= 0)
		close(n2);
	if (n >= 0)
		close(n);
	close(fd);
}

static void t_fmode(void)
{
	struct cmabuf_version v;
	struct cmabuf_stats st;
	struct cmabuf_info info;
	int rd = open(CMABUF_DEVICE, O_RDONLY | O_CLOEXEC), fd, ro, r = -1;

	ok(rd >= 0 && ioctl(rd, CMABUF_IOC_VERSION, &v) == 0 &&
	   ioctl(rd, CMABUF_IOC_STATS, &st) == 0,
	   "/dev/cmabuf read-only: VERSION and STATS work");
	{
		struct cmabuf_alloc a;

		memset(&a, 0, sizeof(a));
		a.size = page;
		a.flags = CMABUF_ALLOC_CLOEXEC;
		ok(ioctl(rd, CMABUF_IOC_ALLOC, &a) == -1 && errno == EBADF,
		   "/dev/cmabuf read-only: ALLOC fails with EBADF");
		ok(ioctl(devfd, CMABUF_IOC_ALLOC, &a) == 0 && close(a.fd) == 0,
		   "... read-write: ALLOC works");
	}
	if (rd >= 0)
		close(rd);
	fd = cb_alloc(2 * page, 0, CMABUF_CACHE_CACHED, NULL);
	ro = fd >= 0 ? reopen(fd, O_RDONLY) : -1;
	if (!ok(ro >= 0, "a buffer reopened read-only"))
		goto out;
	ok(cb_resize(ro, 4 * page, 0, CMABUF_CACHE_CACHED, NULL) == -EBADF &&
	   cb_resize(fd, 4 * page, 0, CMABUF_CACHE_CACHED, NULL) == 0,
	   "RESIZE on a read-only file: EBADF (read-write: works)");
	ok(cb_sync(ro, 0, 0, CMABUF_SYNC_CPU) == -EBADF &&
	   cb_sync(fd, 0, 0, CMABUF_SYNC_CPU) == 0,
	   "SYNC_CPU on a read-only file: EBADF (read-write: works)");
	ok(cb_sync(ro, 0, 0, CMABUF_SYNC_DEVICE) == 0 && cb_info(ro, &info) == 0 &&
	   info.size == 4 * (uint64_t)page,
	   "SYNC_DEVICE and INFO on a read-only file work");
	ok(cb_dup(ro, 0) == -EBADF && (r = cb_dup(ro, CMABUF_DUP_RDONLY)) >= 0,
	   "DUP of a read-only file: EBADF unless RDONLY");
	if (r >= 0)
		close(r);
	close(ro);
out:
	if (fd >= 0)
		close(fd);
}

static void t_noexec_attrs(void)
{
	int fd = cb_alloc(2 * page, 0, CMABUF_CACHE_UNCACHED, NULL);
	struct stat st;
	char *m;

	if (!ok(fd >= 0, "ALLOC a buffer for mode checks"))
		return;
	m = mmap(NULL, page, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
	ok(m == MAP_FAILED && errno == EPERM, "mmap PROT_EXEC fails with EPERM (noexec)");
	m = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 0);
	ok(m != MAP_FAILED && mprotect(m, page, PROT_READ | PROT_EXEC) == -1 &&
	   errno == EACCES, "PROT_READ maps; mprotect to PROT_EXEC fails (EACCES)");
	if (m != MAP_FAILED)
		munmap(m, page);
	ok(fchmod(fd, 0644) == -1 && errno == EPERM &&
	   fchown(fd, 1, 1) == -1 && errno == EPERM &&
	   fstat(fd, &st) == 0 && (st.st_mode & 07777) == 0600 && st.st_uid == 0,
	   "fchmod and fchown fail with EPERM; mode 0600, owner root");
	ok(futimens(fd, NULL) == 0, "... timestamps can be set");
	ok(ftruncate(fd, page) == -1 && errno == EINVAL &&
	   fstat(fd, &st) == 0 && st.st_size == 2 * page,
	   "ftruncate of a buffer that is no file buffer: EINVAL, st_size unchanged");
	close(fd);
}

/* Bytes stored through a mapping past the end must not come back. */
static void t_tail_zero(void)
{
	int fd = cb_alloc_file(4 * page, NULL);
	char *m, *c = malloc(4 * page);
	bool zero;

	if (!ok(fd >= 0, "ALLOC a file buffer for the tail tests")) {
		free(c);
		return;
	}
	ftruncate(fd, page + 1000);
	m = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	m[page + 2000] = 'z';	/* past the end, in its last page */
	ok(m[page + 2000] == 'z' && pread(fd, c, 1, page + 2000) == 0,
	   "a store past the end in the last page is seen by the mapping only");
	ftruncate(fd, 100);
	ftruncate(fd, 3 * page);
	zero = pread(fd, c, 3 * page, 0) == 3 * page && all_zero(c + 100, 3 * page - 100);
	ok(zero && m[page + 2000] == 0,
	   "shrink below that page, regrow with ftruncate: it reads zero");
	ftruncate(fd, page + 1000);
	m[page + 2000] = 'y';
	ftruncate(fd, 100);
	ok(pwrite(fd, "w", 1, 3 * page - 1) == 1 &&
	   pread(fd, c, 3 * page, 0) == 3 * page && all_zero(c + 100, 3 * page - 101),
	   "shrink, then a write far past the end: the hole reads zero");
	munmap(m, 4 * page);
	close(fd);
	free(c);
}

/*
 * Point 12 of issue 14: what reaches a buffer's mapping from outside the
 * process.  access_remote_vm() users (/proc/PID/mem, ptrace, gdb) go
 * through the helper's .access op; get_user_pages() users (vmsplice,
 * process_vm_readv, O_DIRECT, io_uring fixed buffers) fail with EFAULT,
 * as cmabuf(4) says -- each against an anonymous buffer as the control.
 */
static void t_remote_access(void)
{
	size_t n = 4 * (size_t)page;
	int fd = cb_alloc(n, 0, CMABUF_CACHE_UNCACHED, NULL);
	char *m, *ro, *c = malloc(n), *anon = malloc(n);
	struct iovec local, remote;
	int mem, pfd[2];
	ssize_t r;
	bool rd, wr;

	if (!ok(fd >= 0 && c && anon, "ALLOC a buffer for remote access")) {
		free(c);
		free(anon);
		return;
	}
	fill(c, n, 77);
	m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ro = mmap(NULL, n, PROT_READ, MAP_SHARED, fd, 0);
	mem = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	if (!ok(m != MAP_FAILED && ro != MAP_FAILED && mem >= 0 &&
		pwrite(fd, c, n, 0) == (ssize_t)n, "map it twice, fill it, open /proc/self/mem")) {
		close(fd);
		free(c);
		free(anon);
		return;
	}
	memset(c, 0, n);
	/*
	 * 32-bit ARM (VM_PFNMAP there, see cmabuf_insert()) has no
	 * HAVE_IOREMAP_PROT, and access_remote_vm() calls .access only with it.
	 */
	rd = pread(mem, c, n, (off_t)(uintptr_t)m) == (ssize_t)n &&
	     check_fill(c, n, 77) == (size_t)-1;
	if (!rd && kernel32 && vma_pfnmap(m))
		skip("32-bit ARM: access_remote_vm() never calls .access (no HAVE_IOREMAP_PROT)",
		     "/proc/self/mem reads the buffer through its mapping (.access)");
	else
		ok(rd, "/proc/self/mem reads the buffer through its mapping (.access)");
	wr = pwrite(mem, "remote", 6, (off_t)(uintptr_t)(m + page + 7)) == 6 &&
	     pread(fd, c, 6, page + 7) == 6 && !memcmp(c, "remote", 6) &&
	     !memcmp(ro + page + 7, "remote", 6);
	if (!wr && kernel32 && vma_pfnmap(m))
		skip("32-bit ARM: access_remote_vm() never calls .access (no HAVE_IOREMAP_PROT)",
		     "/proc/self/mem writes into the buffer through a writable mapping");
	else
		ok(wr, "/proc/self/mem writes into the buffer through a writable mapping");
	errno = 0;
	ok(pwrite(mem, "x", 1, (off_t)(uintptr_t)(ro + 2 * page)) == -1 &&
	   errno == EIO && ro[2 * page] != 'x',
	   "... not through a read-only mapping (EIO)");
	fill(anon, n, 5);
	ok(pipe(pfd) == 0, "a pipe for vmsplice");
	local = (struct iovec){ .iov_base = anon, .iov_len = (size_t)page };
	ok(vmsplice(pfd[1], &local, 1, 0) == page,
	   "control: vmsplice of an anonymous buffer works (get_user_pages)");
	local.iov_base = m;
	errno = 0;
	r = vmsplice(pfd[1], &local, 1, 0);
	/* GUP's "a PTE but no page" comes out of vmsplice as EEXIST. */
	ok(r == -1 && (errno == EFAULT || errno == EEXIST),
	   "vmsplice of a buffer mapping fails (get_user_pages: cmabuf(4) KNOWN LIMITATIONS): %zd, %s",
	   r, strerror(errno));
	close(pfd[0]);
	close(pfd[1]);
	local = (struct iovec){ .iov_base = c, .iov_len = (size_t)page };
	remote = (struct iovec){ .iov_base = anon, .iov_len = (size_t)page };
	ok(process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == page &&
	   !memcmp(c, anon, page),
	   "control: process_vm_readv of an anonymous buffer works");
	remote.iov_base = m;
	errno = 0;
	ok(process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == -1 &&
	   errno == EFAULT,
	   "process_vm_readv of a buffer mapping fails with EFAULT (documented)");
	close(mem);
	munmap(m, n);
	munmap(ro, n);
	close(fd);
	free(c);
	free(anon);
}

static int cb_export(int fd, uint32_t flags, uint64_t *size)
{
	struct cmabuf_export e = { .flags = flags };

	if (ioctl(fd, CMABUF_IOC_EXPORT, &e))
		return -1;
	if (size)
		*size = e.size;
	return e.fd;
}

static uint32_t exports_of(int fd)
{
	struct cmabuf_info info;

	return cb_info(fd, &info) ? (uint32_t)-1 : info.exports;
}

/* CMABUF_IOC_EXPORT without an importer: the dma-buf's own side. */
static void t_export(uint32_t cache, const char *cname)
{
	const size_t size = 1 * MiB;
	long base = cma_free_exact_kb(), during = base - (long)(size / 1024);
	struct dma_buf_sync ds = { .flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW };
	struct cmabuf_alloc a;
	int fd = cb_alloc(size, 0, cache, &a), db, ro, ef;
	uint64_t dsize = 0;
	char *m, *d;

	if (!ok(fd >= 0, "%s: ALLOC 1 MiB to export", cname))
		return;
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	db = cb_export(fd, CMABUF_EXPORT_CLOEXEC, &dsize);
	ok(db >= 0 && dsize == size && (fcntl(db, F_GETFD) & FD_CLOEXEC) &&
	   exports_of(fd) == 1,
	   "%s: EXPORT gives a dma-buf of the buffer's size (%" PRIu64 "), CLOEXEC, INFO exports 1",
	   cname, dsize);
	if (db < 0 || m == MAP_FAILED) {
		close(fd);
		return;
	}
	d = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, db, 0);
	if (d != MAP_FAILED && vma_pfnmap(d))
		skip(PFNMAP_WHY, "%s: the dma-buf maps the buffer's frames (pagemap)", cname);
	else
		ok(d != MAP_FAILED && virt_to_phys(d) == a.phys_addr &&
		   virt_to_phys(d + size - page) == a.phys_addr + size - page,
		   "%s: the dma-buf maps the buffer's frames (pagemap)", cname);
	if (d != MAP_FAILED) {
		ok(ioctl(db, DMA_BUF_IOCTL_SYNC, &ds) == 0, "%s: DMA_BUF_IOCTL_SYNC start", cname);
		memcpy(d + 5 * page + 1, "dmabuf", 6);
		ds.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW;
		ok(ioctl(db, DMA_BUF_IOCTL_SYNC, &ds) == 0 && !memcmp(m + 5 * page + 1, "dmabuf", 6),
		   "%s: a store through the dma-buf's mapping is in the buffer", cname);
		munmap(d, size);
	}
	errno = 0;
	ok(mmap(NULL, page, PROT_READ | PROT_EXEC, MAP_SHARED, db, 0) == MAP_FAILED &&
	   errno == EPERM, "%s: the dma-buf does not map PROT_EXEC (EPERM)", cname);
	ok(cb_resize(fd, 2 * size, 0, cache, NULL) == -EBUSY &&
	   exports_of(fd) == 1,
	   "%s: RESIZE while exported fails with EBUSY (an importer keeps the address)", cname);
	ro = reopen(fd, O_RDONLY);
	errno = 0;
	ef = ro >= 0 ? cb_export(ro, 0, NULL) : -1;
	ok(ro >= 0 && ef == -1 && errno == EBADF,
	   "%s: EXPORT of a read-only descriptor fails with EBADF", cname);
	if (ro >= 0)
		close(ro);
	if (ef >= 0)
		close(ef);
	munmap(m, size);
	close(fd);
	if (!in_cma(a.phys_addr, size)) {
		/* Cached buffers with the area in highmem (32-bit ARM). */
		close(db);
		skip("the buffer is not in the CMA area (dma_alloc_pages() takes no highmem)",
		     "%s: buffer closed, the dma-buf still holds its memory", cname);
		skip("the buffer is not in the CMA area",
		     "%s: dma-buf closed, CmaFree is back", cname);
		return;
	}
	ok(cma_back_to(during), "%s: buffer closed, the dma-buf still holds its memory", cname);
	close(db);
	ok(cma_back_to(base), "%s: dma-buf closed, CmaFree is back", cname);
}

static void t_export_args(void)
{
	struct cmabuf_export e = { .flags = 1u << 5 };
	int fd = cb_alloc(2 * page, 0, CMABUF_CACHE_UNCACHED, NULL), f0, db;
	struct cmabuf_alloc a;

	if (!ok(fd >= 0, "ALLOC for EXPORT's argument checks"))
		return;
	errno = 0;
	ok(ioctl(fd, CMABUF_IOC_EXPORT, &e) == -1 && errno == EINVAL,
	   "EXPORT with an unknown flag: EINVAL");
	e = (struct cmabuf_export){ .reserved = { 1 } };
	errno = 0;
	ok(ioctl(fd, CMABUF_IOC_EXPORT, &e) == -1 && errno == EINVAL,
	   "EXPORT with reserved not zero: EINVAL");
	f0 = cb_alloc_file(0, &a);
	errno = 0;
	db = f0 >= 0 ? cb_export(f0, 0, NULL) : -1;
	ok(f0 >= 0 && db == -1 && errno == EINVAL,
	   "EXPORT of an empty file buffer: EINVAL");
	if (db >= 0)
		close(db);
	if (f0 >= 0)
		close(f0);
	/* A file buffer: growth past the capacity would move it. */
	f0 = cb_alloc_file(2 * page, &a);
	if (f0 >= 0 && ftruncate(f0, 2 * page))
		diag("ftruncate to two pages: %s", strerror(errno));
	db = f0 >= 0 ? cb_export(f0, 0, NULL) : -1;
	errno = 0;
	ok(db >= 0 && ftruncate(f0, 64 * page) == -1 && errno == EBUSY &&
	   fsize(f0) == 2 * page,
	   "exported file buffer: ftruncate past the capacity fails with EBUSY, size kept");
	ok(db >= 0 && ftruncate(f0, page) == 0 && fsize(f0) == page &&
	   ftruncate(f0, 2 * page) == 0,
	   "... within the capacity it changes the size");
	if (db >= 0)
		close(db);
	ok(f0 >= 0 && ftruncate(f0, 64 * page) == 0 && exports_of(f0) == 0,
	   "dma-buf closed: the file grows again");
	if (f0 >= 0)
		close(f0);
	close(fd);
}

/* The child of t_unprivileged: no capabilities, uid 65534. */
static int unpriv_child(void)
{
	struct cmabuf_alloc a;
	struct cmabuf_info info;
	struct cmabuf_resize r;
	int dev2, fd, fd2, d;

	failures = 0;
	if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
		return 100;
	devfd = open(CMABUF_DEVICE, O_RDWR | O_CLOEXEC);
	if (!ok(devfd >= 0, "unprivileged: open %s (%s)", CMABUF_DEVICE, strerror(errno)))
		return 1;
	fd = cb_alloc(4 * MiB, 0, CMABUF_CACHE_UNCACHED, &a);
	ok(fd >= 0 && !a.phys_addr && !a.dma_addr,
	   "unprivileged opener: ALLOC works and reports addresses 0");
	ok(fd >= 0 && cb_info(fd, &info) == 0 && !info.phys_addr && !info.dma_addr &&
	   info.size == 4 * MiB, "unprivileged opener: INFO reports addresses 0");
	ok(fd >= 0 && cb_resize(fd, 2 * MiB, 0, 0, &r) == 0 && !r.phys_addr &&
	   !r.dma_addr, "unprivileged opener: RESIZE reports addresses 0");
	fd2 = cb_alloc(8 * MiB, 0, CMABUF_CACHE_UNCACHED, NULL);
	ok(fd2 == -EDQUOT, "per-opener cap (8 MiB, 2 MiB held): ALLOC 8 MiB fails with EDQUOT (%d)", fd2);
	if (fd2 >= 0)
		close(fd2);
	fd2 = cb_alloc(4 * MiB, 0, CMABUF_CACHE_UNCACHED, NULL);
	ok(fd2 >= 0, "... 4 MiB more fits under it");
	ok(fd >= 0 && cb_resize(fd, 6 * MiB, 0, 0, NULL) == -EDQUOT,
	   "... growth by RESIZE is charged to the opener too (EDQUOT)");
	dev2 = open(CMABUF_DEVICE, O_RDWR | O_CLOEXEC);
	{
		int keep = devfd;

		devfd = dev2;
		d = cb_alloc(4 * MiB, 0, CMABUF_CACHE_UNCACHED, NULL);
		devfd = keep;
	}
	ok(d >= 0, "another open of the device has a cap of its own");
	if (d >= 0)
		close(d);
	if (fd2 >= 0)
		close(fd2);
	if (fd >= 0)
		close(fd);
	close(dev2);
	close(devfd);
	return failures;
}

static void t_unprivileged(void)
{
	size_t from = klog_len();
	struct cmabuf_alloc a;
	int st, fd, cfd;
	pid_t pid;

	if (!ok(chmod(CMABUF_DEVICE, 0666) == 0 && set_param("opener_max_bytes", 8 * MiB),
		"chmod 0666 /dev/cmabuf, opener_max_bytes=8M"))
		return;
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(unpriv_child());
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		diag("unprivileged child: status 0x%x", st);
		failures++;
	}
	ok(klog_has(from, "opener_max_bytes cap reached", "opener_max_bytes"),
	   "the per-opener cap logs a line naming it and how to raise it");
	fd = cb_alloc(12 * MiB, 0, CMABUF_CACHE_UNCACHED, &a);
	ok(fd >= 0 && a.phys_addr, "a privileged opener has no per-opener cap and sees addresses");
	cfd = fd >= 0 ? cb_dup(fd, 0) : -1;
	{
		struct cmabuf_info info;

		ok(cfd >= 0 && cb_info(cfd, &info) == 0 && info.phys_addr == a.phys_addr,
		   "... and so do DUPs of its buffers");
	}
	if (cfd >= 0)
		close(cfd);
	if (fd >= 0)
		close(fd);
	set_param("opener_max_bytes", 0);
	chmod(CMABUF_DEVICE, 0600);
}

static void t_module_cap(void)
{
	size_t from = klog_len();
	struct cmabuf_stats s0, s1;
	int fd;

	cb_stats(&s0);
	if (!ok(set_param("max_bytes", s0.bytes + 6 * MiB), "max_bytes set to 6 MiB above what is held"))
		return;
	fd = cb_alloc(8 * MiB, 0, CMABUF_CACHE_UNCACHED, NULL);
	cb_stats(&s1);
	ok(fd == -ENOSPC && s1.alloc_failures == s0.alloc_failures + 1,
	   "module-wide cap: ALLOC 8 MiB fails with ENOSPC (%d), one failure counted", fd);
	if (fd >= 0)
		close(fd);
	ok(klog_has(from, "max_bytes cap reached", "parameters/max_bytes"),
	   "the module-wide cap logs a line naming it and how to raise it");
	fd = cb_alloc(4 * MiB, 0, CMABUF_CACHE_UNCACHED, NULL);
	ok(fd >= 0, "... 4 MiB fits under it");
	if (fd >= 0)
		close(fd);
	set_param("max_bytes", 0);
	fd = cb_alloc(8 * MiB, 0, CMABUF_CACHE_UNCACHED, NULL);
	ok(fd >= 0, "max_bytes=0 (the default, half of RAM): 8 MiB works again");
	if (fd >= 0)
		close(fd);
}

static void t_no_kernel_warnings(void)
{
	ok(!klog_has(0, "WARNING:", NULL) && !klog_has(0, "BUG:", NULL) &&
	   !klog_has(0, "Call trace:", NULL) && !klog_has(0, "VFS: Busy inodes", NULL),
	   "no kernel WARNING, BUG, call trace or busy-inode line in the log");
}

static void t_random_rounds(int rounds)
{
	enum { SLOTS = 8 };
	int fds[SLOTS];
	uint32_t salt[SLOTS];
	long base = cma_free_exact_kb();
	int bad = 0, allocs = 0, resizes = 0, frees = 0, enospc = 0;
	struct cmabuf_stats st;

	for (int i = 0; i < SLOTS; i++)
		fds[i] = -1;
	for (int round = 0; round < rounds; round++) {
		int i = rnd_below(SLOTS);
		uint64_t size = (rnd_below(12 * MiB / page) + 1) * page;
		uint64_t align = page << rnd_below(10);
		uint32_t cache = rnd_below(3);
		struct cmabuf_info info;
		uint32_t v;

		if (fds[i] < 0) {
			int fd = cb_alloc(size, align, cache, NULL);

			if (fd == -ENOSPC) {
				enospc++;
				continue;
			}
			if (fd < 0) {
				bad++;
				continue;
			}
			fds[i] = fd;
			salt[i] = rnd();
			v = salt[i];
			pwrite(fd, &v, 4, 0);
			allocs++;
		} else if (rnd_below(3)) {
			int ret = cb_resize(fds[i], size, align, cache, NULL);

			if (ret == -ENOSPC) {
				enospc++;
				continue;
			}
			if (ret || cb_info(fds[i], &info) || info.size != size ||
			    info.phys_addr % align || pread(fds[i], &v, 4, 0) != 4 ||
			    v != salt[i]) {
				diag("round %d: resize slot %d: %d", round, i, ret);
				bad++;
			}
			resizes++;
		} else {
			close(fds[i]);
			fds[i] = -1;
			frees++;
		}
	}
	for (int i = 0; i < SLOTS; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	ok(!bad, "%d random rounds (%d allocs, %d resizes, %d frees, %d ENOSPC) all consistent",
	   rounds, allocs, resizes, frees, enospc);
	ok(cma_back_to(base) && cb_stats(&st) == 0 && st.buffers == 0 &&
	   st.bytes == 0, "after the random rounds CmaFree is at its baseline");
}

/* Random ioctls with random contents on the device, buffers and closed fds. */
static void t_fuzz(int count)
{
	static const unsigned long cmds[] = {
		CMABUF_IOC_VERSION, CMABUF_IOC_ALLOC, CMABUF_IOC_STATS,
		CMABUF_IOC_INFO, CMABUF_IOC_SYNC, CMABUF_IOC_RESIZE,
	};
	long base = cma_free_exact_kb();
	int buf = cb_alloc(64 * 1024, 0, 0, NULL);
	char *bad_ptrs[] = { NULL, (char *)1, (char *)0xffff000000000000ull,
			     (char *)-4096L };
	unsigned char blob[256] __attribute__((aligned(16)));
	int weird = 0, succeeded = 0, closed;
	struct cmabuf_stats st;

	closed = cb_alloc(page, 0, 0, NULL);
	close(closed);
	for (int i = 0; i < count; i++) {
		unsigned long cmd;
		int fd, ret;
		void *arg;

		switch (rnd_below(4)) {
		case 0:
			fd = devfd;
			break;
		case 1:
		case 2:
			fd = buf;
			break;
		default:
			fd = closed;
			break;
		}
		if (rnd_below(8)) {
			cmd = cmds[rnd_below(6)];
		} else {
			/* a known number with a wrong size or direction, or junk */
			cmd = rnd_below(2) ? _IOC(rnd_below(4), CMABUF_IOC_MAGIC,
						  rnd_below(0x20), rnd_below(256))
					   : (unsigned long)rnd();
		}
		for (unsigned int j = 0; j < sizeof(blob); j++)
			blob[j] = rnd();
		if (rnd_below(2)) {
			/* plausible structures: small sizes, pow2 aligns, zero reserved */
			uint64_t *q = (uint64_t *)blob;

			q[0] = rnd_below(3) ? rnd_below(16 * MiB) : rnd();
			q[1] = rnd_below(2) ? (uint64_t)page << rnd_below(12) : rnd();
			q[2] = rnd_below(2) ? rnd_below(4) | (rnd_below(4) << 32) : rnd();
			if (rnd_below(2))
				memset(blob + 24, 0, sizeof(blob) - 24);
		}
		arg = rnd_below(10) ? (void *)blob : bad_ptrs[rnd_below(4)];
		errno = 0;
		ret = ioctl(fd, cmd, arg);
		if (ret < 0) {
			if (fd == closed && errno != EBADF)
				weird++;
			continue;
		}
		succeeded++;
		if (fd == devfd && cmd == CMABUF_IOC_ALLOC && arg == blob) {
			struct cmabuf_alloc *a = (void *)blob;

			close(a->fd);
		}
	}
	close(buf);
	ok(!weird, "%d fuzzed ioctls (%d succeeded): only errors, EBADF on closed fds",
	   count, succeeded);
	ok(cma_back_to(base) && cb_stats(&st) == 0 && st.buffers == 0,
	   "after fuzzing CmaFree is at its baseline and no buffer is left");
}

struct race {
	int fd;
	volatile bool stop;
	size_t small, large;
	int errors;
};

#define RACE_SALT 0x5eed

static void *race_resizer(void *p)
{
	struct race *r = p;

	for (int i = 0; i < 300 && !r->stop; i++) {
		size_t size = i % 2 ? r->large : r->small;

		if (cb_resize(r->fd, size, 0, CMABUF_CACHE_UNCACHED, NULL) &&
		    errno != ENOSPC)
			__atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
	}
	r->stop = true;
	return NULL;
}

static void *race_mapper(void *p)
{
	struct race *r = p;

	while (!r->stop) {
		char *m = mmap(NULL, r->small, PROT_READ | PROT_WRITE, MAP_SHARED,
			       r->fd, 0);

		if (m == MAP_FAILED) {
			__atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
			break;
		}
		if (check_fill(m, r->small, RACE_SALT) != (size_t)-1)
			__atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
		fill(m, page, RACE_SALT);	/* same bytes again */
		munmap(m, r->small);
	}
	return NULL;
}

static void *race_reader(void *p)
{
	struct race *r = p;
	char *b = malloc(r->small);
	struct cmabuf_info info;

	while (!r->stop) {
		if (pread(r->fd, b, r->small, 0) != (ssize_t)r->small ||
		    check_fill(b, r->small, RACE_SALT) != (size_t)-1 ||
		    pwrite(r->fd, b, page, 0) != page ||
		    cb_info(r->fd, &info) || cb_sync(r->fd, 0, page, CMABUF_SYNC_DEVICE))
			__atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
	}
	free(b);
	return NULL;
}

static void t_concurrency(void)
{
	struct race r = { .small = 256 * 1024, .large = 1 * MiB };
	pthread_t t[4];
	long base = cma_free_exact_kb();
	char *b = malloc(r.small);

	r.fd = cb_alloc(r.small, 0, CMABUF_CACHE_UNCACHED, NULL);
	fill(b, r.small, RACE_SALT);
	pwrite(r.fd, b, r.small, 0);
	pthread_create(&t[0], NULL, race_resizer, &r);
	pthread_create(&t[1], NULL, race_mapper, &r);
	pthread_create(&t[2], NULL, race_reader, &r);
	pthread_create(&t[3], NULL, race_mapper, &r);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ok(!r.errors, "concurrent resize, mmap, read/write, info and sync on one buffer (%d errors)",
	   r.errors);
	close(r.fd);
	free(b);
	ok(cma_back_to(base), "CmaFree back after the race");
}

struct frace {
	int fd;
	volatile bool stop;
	int errors;
};

static void frace_err(struct frace *r, const char *what)
{
	if (__atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED) <= 3)
		diag("file race: %s: %s", what, strerror(errno));
}

/* Appends (growing the buffer), truncates down and up, RESIZE now and then. */
static void *frace_writer(void *p)
{
	struct frace *r = p;
	char *b = malloc(64 * 1024);

	fill(b, 64 * 1024, 5);
	for (int i = 0; i < 400; i++) {
		if (i % 50 == 49) {
			if (ftruncate(r->fd, 0))
				frace_err(r, "ftruncate 0");
			if (cb_resize(r->fd, i % 100 ? 0 : 64 * 1024, 0,
				      CMABUF_CACHE_UNCACHED, NULL))
				frace_err(r, "RESIZE");
		} else if (i % 7 == 6) {
			if (ftruncate(r->fd, (i * 4099) % (3 * MiB)))
				frace_err(r, "ftruncate");
		} else if (pwrite(r->fd, b, 64 * 1024, lseek(r->fd, 0, SEEK_END)) !=
			   64 * 1024) {
			frace_err(r, "append");
		}
	}
	r->stop = true;
	free(b);
	return NULL;
}

static void *frace_reader(void *p)
{
	struct frace *r = p;
	char *b = malloc(4 * MiB);
	struct cmabuf_info info;
	struct stat st;

	while (!r->stop) {
		if (pread(r->fd, b, 4 * MiB, 0) < 0 || fstat(r->fd, &st) ||
		    cb_info(r->fd, &info) || cb_sync(r->fd, 0, 0, CMABUF_SYNC_DEVICE))
			frace_err(r, "read/fstat/info/sync");
	}
	free(b);
	return NULL;
}

/* Maps the head, and writes from that mapping into the buffer's own file. */
static void *frace_mapper(void *p)
{
	struct frace *r = p;

	while (!r->stop) {
		char *m = mmap(NULL, 64 * 1024, PROT_READ | PROT_WRITE, MAP_SHARED,
			       r->fd, 0);
		ssize_t n;

		if (m == MAP_FAILED) {
			frace_err(r, "mmap");
			break;
		}
		/* EFAULT when the head is past the end: the file is short. */
		n = pwrite(r->fd, m, page, 32 * 1024);
		if (n < 0 && errno != EFAULT)
			frace_err(r, "pwrite from a mapping of the same file");
		munmap(m, 64 * 1024);
	}
	return NULL;
}

static void t_file_concurrency(void)
{
	struct frace r = { 0 };
	pthread_t t[4];
	long base = cma_free_exact_kb();
	struct stat st;

	r.fd = cb_alloc_file(64 * 1024, NULL);
	if (!ok(r.fd >= 0, "ALLOC a file buffer for the race"))
		return;
	pthread_create(&t[0], NULL, frace_writer, &r);
	pthread_create(&t[1], NULL, frace_reader, &r);
	pthread_create(&t[2], NULL, frace_mapper, &r);
	pthread_create(&t[3], NULL, frace_mapper, &r);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ok(!r.errors && fstat(r.fd, &st) == 0 && (uint64_t)st.st_size <= capacity(r.fd),
	   "concurrent appends, truncates, RESIZE, reads, mappings on a file buffer (%d errors)",
	   r.errors);
	close(r.fd);
	ok(cma_back_to(base), "CmaFree back after the file race");
}

/* ---- FUSE passthrough (Linux >= 6.9) ------------------------------------ */

struct fuse_in_header {
	uint32_t len, opcode;
	uint64_t unique, nodeid;
	uint32_t uid, gid, pid;
	uint16_t total_extlen, padding;
};

struct fuse_out_header {
	uint32_t len;
	int32_t error;
	uint64_t unique;
};

struct fuse_init_out {
	uint32_t major, minor, max_readahead, flags;
	uint16_t max_background, congestion_threshold;
	uint32_t max_write, time_gran;
	uint16_t max_pages, map_alignment;
	uint32_t flags2, max_stack_depth;
	uint32_t unused[6];
};

struct fuse_attr {
	uint64_t ino, size, blocks, atime, mtime, ctime;
	uint32_t atimensec, mtimensec, ctimensec, mode, nlink, uid, gid, rdev,
		 blksize, flags;
};

struct fuse_entry_out {
	uint64_t nodeid, generation, entry_valid, attr_valid;
	uint32_t entry_valid_nsec, attr_valid_nsec;
	struct fuse_attr attr;
};

struct fuse_attr_out {
	uint64_t attr_valid;
	uint32_t attr_valid_nsec, dummy;
	struct fuse_attr attr;
};

struct fuse_open_out {
	uint64_t fh;
	uint32_t open_flags;
	int32_t backing_id;
};

struct fuse_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};

#define FUSE_LOOKUP	1
#define FUSE_GETATTR	3
#define FUSE_OPEN	14
#define FUSE_RELEASE	18
#define FUSE_FLUSH	25
#define FUSE_INIT	26
#define FUSE_INIT_EXT	(1u << 30)
#define FUSE_PASSTHROUGH_FLAGS2	(1u << 5)
#define FOPEN_PASSTHROUGH	(1u << 7)
#define FUSE_DEV_IOC_BACKING_OPEN	_IOW(229, 1, struct fuse_backing_map)
#define FUSE_DEV_IOC_BACKING_CLOSE	_IOW(229, 2, uint32_t)

/* Node 2 "buf" passes through to backing_id, node 3 "file" to file_id. */
struct fuse_srv {
	int fd;
	int backing_id, file_id;
	uint64_t size, file_size;
	volatile bool stop;
};

static int fuse_reply(int fd, uint64_t unique, int error, const void *p, size_t n)
{
	struct fuse_out_header h = { .len = sizeof(h) + n, .error = error,
				     .unique = unique };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)p, n } };

	return writev(fd, iov, n ? 2 : 1) < 0 ? -errno : 0;
}

static void fuse_fill_attr(struct fuse_srv *s, uint64_t ino, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->nlink = 1;
	if (ino == 1) {
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
	} else {
		a->mode = S_IFREG | 0600;
		a->size = ino == 3 ? s->file_size : s->size;
		a->blocks = a->size / 512;
	}
}

/* The next request on /dev/fuse, or NULL once the connection is gone. */
static struct fuse_in_header *fuse_next(int fd, char *buf, size_t len)
{
	for (;;) {
		ssize_t n = read(fd, buf, len);

		if (n >= (ssize_t)sizeof(struct fuse_in_header))
			return (struct fuse_in_header *)buf;
		if (n >= 0 || (errno != EINTR && errno != EAGAIN))
			return NULL;
	}
}

static void *fuse_serve(void *p)
{
	struct fuse_srv *s = p;
	static char buf[(1 << 17) + 4096];

	while (!s->stop) {
		struct fuse_in_header *in = fuse_next(s->fd, buf, sizeof(buf));

		if (!in)
			break;
		switch (in->opcode) {
		case FUSE_LOOKUP: {
			struct fuse_entry_out e = { .nodeid = 2 };

			if (in->nodeid == 1 && !strcmp(buf + sizeof(*in), "file"))
				e.nodeid = 3;
			else if (in->nodeid != 1 || strcmp(buf + sizeof(*in), "buf")) {
				fuse_reply(s->fd, in->unique, -ENOENT, NULL, 0);
				break;
			}
			fuse_fill_attr(s, e.nodeid, &e.attr);
			fuse_reply(s->fd, in->unique, 0, &e, sizeof(e));
			break;
		}
		case FUSE_GETATTR: {
			struct fuse_attr_out a = { 0 };

			fuse_fill_attr(s, in->nodeid, &a.attr);
			fuse_reply(s->fd, in->unique, 0, &a, sizeof(a));
			break;
		}
		case FUSE_OPEN: {
			struct fuse_open_out o = { .open_flags = FOPEN_PASSTHROUGH,
						   .backing_id = s->backing_id };

			if (in->nodeid == 3)
				o.backing_id = s->file_id;

			fuse_reply(s->fd, in->unique, 0, &o, sizeof(o));
			break;
		}
		case FUSE_FLUSH:
		case FUSE_RELEASE:
			fuse_reply(s->fd, in->unique, 0, NULL, 0);
			break;
		case 2:		/* FORGET: no reply */
		case 42:	/* BATCH_FORGET */
			break;
		default:
			fuse_reply(s->fd, in->unique, -ENOSYS, NULL, 0);
			break;
		}
	}
	return NULL;
}

/*
 * A CMABUF_ALLOC_FILE buffer as backing file: passthrough reads stop at its
 * st_size, passthrough writes past it extend it (growing the buffer).
 */
static void t_fuse_file_backing(struct fuse_srv *s, const char *mnt)
{
	const size_t len = 300000;
	struct fuse_backing_map map = { 0 };
	char path[128], *b = malloc(2 * MiB), *r = malloc(2 * MiB);
	int bfd = cb_alloc_file(1 * MiB, NULL), ffd, id;
	bool good;

	fill(b, 2 * MiB, 777);
	pwrite(bfd, b, len, 0);
	map.fd = bfd;
	id = ioctl(s->fd, FUSE_DEV_IOC_BACKING_OPEN, &map);
	if (!ok(bfd >= 0 && id >= 1, "BACKING_OPEN accepts a file buffer (%s)",
		id < 0 ? strerror(errno) : "backing id >= 1"))
		goto out;
	s->file_id = id;
	s->file_size = len;
	snprintf(path, sizeof(path), "%s/file", mnt);
	ffd = open(path, O_RDWR);
	ok(ffd >= 0 && pread(ffd, r, 2 * MiB, 0) == (ssize_t)len &&
	   check_fill(r, len, 777) == (size_t)-1,
	   "read through the passthrough file returns exactly st_size bytes");
	good = ffd >= 0 && pwrite(ffd, b + len, 1 * MiB, len) == (ssize_t)MiB;
	ok(good && fsize(bfd) == (off_t)(len + MiB) && capacity(bfd) == 2 * MiB,
	   "a passthrough write past the end extends the buffer file (capacity %" PRIu64 ")",
	   capacity(bfd));
	ok(ffd >= 0 && pread(ffd, r, 2 * MiB, 0) == (ssize_t)(len + MiB) &&
	   check_fill(r, len + MiB, 777) == (size_t)-1,
	   "... and reads through it return the grown file");
	if (ffd >= 0)
		close(ffd);
	ioctl(s->fd, FUSE_DEV_IOC_BACKING_CLOSE, &s->file_id);
out:
	if (bfd >= 0)
		close(bfd);
	free(b);
	free(r);
}

static void t_fuse_passthrough(void)
{
	const char *mnt = "/tmp/cmabuf-fuse";
	struct fuse_srv s = { .size = 1 * MiB };
	struct fuse_backing_map map = { 0 };
	struct fuse_init_out io = { 0 };
	static char buf[1 << 17];
	struct fuse_in_header *in = (void *)buf;
	struct cmabuf_alloc a;
	unsigned int maj = 0, min = 0;
	pthread_t th;
	char opts[128], *c, *m;
	int bfd, id, ffd;
	ssize_t n;
	struct utsname u;

	uname(&u);
	sscanf(u.release, "%u.%u", &maj, &min);
	if (maj < 6 || (maj == 6 && min < 9)) {
		skip("needs Linux >= 6.9", "FUSE_DEV_IOC_BACKING_OPEN accepts a buffer descriptor");
		return;
	}
	bfd = cb_alloc(s.size, 0, CMABUF_CACHE_UNCACHED, &a);
	c = malloc(s.size);
	fill(c, s.size, 4242);
	pwrite(bfd, c, s.size, 0);

	mkdir(mnt, 0755);
	s.fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0", s.fd);
	if (s.fd < 0 || mount("cmabuf-test", mnt, "fuse", MS_NOSUID | MS_NODEV, opts)) {
		ok(false, "a raw FUSE mount (%s)", strerror(errno));
		close(bfd);
		free(c);
		return;
	}
	ok(true, "a raw FUSE mount");
	n = read(s.fd, buf, sizeof(buf));
	if (!ok(n >= (ssize_t)sizeof(*in) && in->opcode == FUSE_INIT, "FUSE INIT received"))
		goto out;
	io.major = 7;
	io.minor = 31;
	io.max_readahead = 1 << 17;
	io.flags = FUSE_INIT_EXT;
	io.flags2 = FUSE_PASSTHROUGH_FLAGS2;
	io.max_stack_depth = 1;
	io.max_write = 1 << 17;
	io.max_background = 16;
	io.congestion_threshold = 12;
	io.time_gran = 1;
	fuse_reply(s.fd, in->unique, 0, &io, sizeof(io));

	map.fd = devfd;
	ok(ioctl(s.fd, FUSE_DEV_IOC_BACKING_OPEN, &map) < 0,
	   "BACKING_OPEN refuses /dev/cmabuf itself (%s)", strerror(errno));
	map.fd = bfd;
	id = ioctl(s.fd, FUSE_DEV_IOC_BACKING_OPEN, &map);
	if (!ok(id >= 1, "FUSE_DEV_IOC_BACKING_OPEN accepts a buffer descriptor (%s)",
		id < 0 ? strerror(errno) : "backing id >= 1"))
		goto out;
	s.backing_id = id;
	pthread_create(&th, NULL, fuse_serve, &s);
	{
		char path[128], *r = malloc(s.size);
		bool same = true, pf;

		snprintf(path, sizeof(path), "%s/buf", mnt);
		ffd = open(path, O_RDWR);
		ok(ffd >= 0 && pread(ffd, r, s.size, 0) == (ssize_t)s.size &&
		   check_fill(r, s.size, 4242) == (size_t)-1,
		   "read through the passthrough file returns the buffer's bytes");
		m = ffd >= 0 ? mmap(NULL, s.size, PROT_READ | PROT_WRITE, MAP_SHARED, ffd, 0)
			     : MAP_FAILED;
		pf = m != MAP_FAILED && vma_pfnmap(m);
		if (m != MAP_FAILED) {
			/* Without pagemap: the store is seen through the buffer. */
			for (size_t off = 0; !pf && off < s.size; off += page)
				if (virt_to_phys(m + off) != a.phys_addr + off)
					same = false;
			m[5] = 'Z';
			munmap(m, s.size);
		} else {
			same = false;
		}
		ok(same && pread(bfd, r, 8, 0) == 8 && r[5] == 'Z',
		   "mmap of the passthrough file maps the buffer itself%s",
		   pf ? " (its store is in the buffer; " PFNMAP_WHY ")" : "");
		if (ffd >= 0)
			close(ffd);
		free(r);
	}
	t_fuse_file_backing(&s, mnt);
	ioctl(s.fd, FUSE_DEV_IOC_BACKING_CLOSE, &s.backing_id);
	s.stop = true;
out:
	umount2(mnt, MNT_DETACH);
	close(s.fd);	/* ends the server's read() */
	if (s.backing_id)
		pthread_join(th, NULL);
	close(bfd);
	free(c);
}

/* ---- CMABUF_ALLOC_NOWAIT: a page locked by a FUSE read in the area ------- */

#define FUSE_READ	15

#define HELD_MAX	32

/*
 * Serves one regular file, node 2, through the page cache (no passthrough).
 * READs are held, their page-cache pages locked, until release_reads().
 */
struct held_srv {
	int fd;
	pthread_mutex_t lock;
	int held;			/* READs held */
	uint64_t unique[HELD_MAX];
	uint32_t size[HELD_MAX];
	bool released;
};

/* The READs held so far; *released (if asked) says whether they were answered. */
static int reads_held(struct held_srv *s, bool *released)
{
	int n;

	pthread_mutex_lock(&s->lock);
	n = s->held;
	if (released)
		*released = s->released;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static bool reads_released(struct held_srv *s)
{
	bool r;

	reads_held(s, &r);
	return r;
}

static void release_reads(struct held_srv *s)
{
	pthread_mutex_lock(&s->lock);
	if (!s->released)
		for (int i = 0; i < s->held; i++) {
			static const char z[1 << 17];

			fuse_reply(s->fd, s->unique[i], 0, z, s->size[i]);
		}
	s->released = true;
	pthread_mutex_unlock(&s->lock);
}

static void *held_serve(void *p)
{
	struct held_srv *s = p;
	static char buf[(1 << 17) + 4096];
	struct fuse_srv attrs = { .size = 64 * MiB };

	for (;;) {
		struct fuse_in_header *in = fuse_next(s->fd, buf, sizeof(buf));

		if (!in)
			break;
		switch (in->opcode) {
		case FUSE_LOOKUP: {
			struct fuse_entry_out e = { .nodeid = 2 };

			if (in->nodeid != 1 || strcmp(buf + sizeof(*in), "file")) {
				fuse_reply(s->fd, in->unique, -ENOENT, NULL, 0);
				break;
			}
			fuse_fill_attr(&attrs, 2, &e.attr);
			fuse_reply(s->fd, in->unique, 0, &e, sizeof(e));
			break;
		}
		case FUSE_GETATTR: {
			struct fuse_attr_out a = { 0 };

			fuse_fill_attr(&attrs, in->nodeid, &a.attr);
			fuse_reply(s->fd, in->unique, 0, &a, sizeof(a));
			break;
		}
		case FUSE_OPEN: {
			struct fuse_open_out o = { 0 };

			fuse_reply(s->fd, in->unique, 0, &o, sizeof(o));
			break;
		}
		case FUSE_READ: {
			/* fuse_read_in: fh, offset, then size */
			static char z[1 << 17];
			uint32_t size;
			bool hold;

			memcpy(&size, buf + sizeof(*in) + 16, sizeof(size));
			if (size > sizeof(z))
				size = sizeof(z);
			pthread_mutex_lock(&s->lock);
			hold = !s->released && s->held < HELD_MAX;
			if (hold) {
				s->unique[s->held] = in->unique;
				s->size[s->held++] = size;
			}
			pthread_mutex_unlock(&s->lock);
			if (!hold)
				fuse_reply(s->fd, in->unique, 0, z, size);
			break;
		}
		case FUSE_FLUSH:
		case FUSE_RELEASE:
			fuse_reply(s->fd, in->unique, 0, NULL, 0);
			break;
		case 2:
		case 42:
			break;
		default:
			fuse_reply(s->fd, in->unique, -ENOSYS, NULL, 0);
			break;
		}
	}
	return NULL;
}

static void *fault_first_page(void *p)
{
	volatile char *m = p;

	return (void *)(uintptr_t)m[0];
}

/* The largest buffer the area can hold, and where it is. */
static uint64_t whole_size, whole_phys;

/* Locked pages (KPF_LOCKED) where that buffer goes, from /proc/kpageflags. */
static long locked_in_area(void)
{
	uint64_t first = whole_phys / page, n = whole_size / page, *f;
	long count = 0;
	int fd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);

	f = malloc(n * sizeof(*f));
	if (fd < 0 || !f || pread(fd, f, n * sizeof(*f), (off_t)(first * sizeof(*f))) !=
			       (ssize_t)(n * sizeof(*f)))
		count = -1;
	for (uint64_t i = 0; count >= 0 && i < n; i++)
		count += f[i] & 1;
	if (fd >= 0)
		close(fd);
	free(f);
	return count;
}

/*
 * The largest buffer the area can hold (whole_size, whole_phys), held by
 * the descriptor returned.  The kernel keeps a little of the area (the DMA
 * atomic pools); CMA aligns large buffers to 1 MiB: it has one place.
 */
static int largest_buffer(void)
{
	int fd = -1;

	for (whole_size = cma_size; fd < 0 && whole_size >= cma_size / 2; whole_size -= MiB) {
		struct cmabuf_alloc a;

		fd = cb_alloc(whole_size, 0, CMABUF_CACHE_UNCACHED, &a);
		whole_phys = a.phys_addr;
	}
	whole_size += MiB;
	return fd;
}

/*
 * Others' movable pages go to CMA while the page allocator is short of
 * memory; allocating every free piece of the area migrates them out and
 * leaves CmaFree as it was found.  The largest buffer leaves up to 1 MiB
 * beside it (its alignment): smaller buffers cover that, down to two pages
 * (one page comes from the page allocator).
 */
static void empty_cma_area(void)
{
	int fd[256], n = 0;

	fd[n] = largest_buffer();
	if (fd[n] >= 0)
		n++;
	for (uint64_t sz = MiB / 2; sz >= 2 * (uint64_t)getpagesize() && n < 256; ) {
		struct cmabuf_alloc a;

		fd[n] = cb_alloc(sz, 0, CMABUF_CACHE_UNCACHED, &a);
		if (fd[n] >= 0 && in_cma(a.phys_addr, sz)) {
			n++;
			continue;
		}
		if (fd[n] >= 0)
			close(fd[n]);
		sz /= 2;
	}
	while (n > 0)
		close(fd[--n]);
}

struct whole_area {
	int fd;
	uint32_t flags;
	uint64_t size;		/* 0: whole_size */
	uint64_t phys;
	_Atomic bool done;
};

static void *alloc_whole_area(void *p)
{
	struct whole_area *w = p;
	struct cmabuf_alloc a;

	memset(&a, 0, sizeof(a));
	a.size = w->size ? w->size : whole_size;
	a.flags = CMABUF_ALLOC_CLOEXEC | w->flags;
	w->fd = ioctl(devfd, CMABUF_IOC_ALLOC, &a) < 0 ? -errno : a.fd;
	w->phys = w->fd >= 0 ? a.phys_addr : 0;
	atomic_store(&w->done, true);
	return NULL;
}

/* Waits up to @secs for @w to be done. */
static bool done_within(struct whole_area *w, int secs)
{
	for (int i = 0; i < secs * 10 && !atomic_load(&w->done); i++)
		usleep(100000);
	return atomic_load(&w->done);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Free memory outside CMA, kB. */
static long other_free_kb(void)
{
	return meminfo_kb("MemFree") - meminfo_kb("CmaFree");
}

/* The zones' min watermarks together, kB (below them: the reserves). */
static long zone_min_kb(void)
{
	char line[256];
	long sum = 0, v;
	FILE *f = fopen("/proc/zoneinfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " min %ld", &v) == 1)
			sum += v;
	fclose(f);
	return sum * (page / 1024);
}

/*
 * A process that makes ALLOCs without flags (their buffers closed at once)
 * when asked, through the device opened before, by root or (@unpriv) as
 * nobody.  Forked before the test holds any buffer (the helper would
 * inherit it) or any FUSE read (forking copies the address space, which
 * faults held by the server could make wait).
 */
struct helper {
	pid_t pid;
	int cmd, res;
};

static bool helper_start(struct helper *h, bool unpriv)
{
	int c[2], r[2], ready = -1;

	h->pid = -1;
	if (pipe2(c, O_CLOEXEC))
		return false;
	if (pipe2(r, O_CLOEXEC)) {
		close(c[0]);
		close(c[1]);
		return false;
	}
	if (unpriv)
		chmod(CMABUF_DEVICE, 0666);
	fflush(stdout);
	h->pid = fork();
	if (h->pid == 0) {
		int fd = devfd, ret = 0;
		uint64_t size;

		close(c[1]);
		close(r[0]);
		if (unpriv) {
			if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
				_exit(1);
			fd = open(CMABUF_DEVICE, O_RDWR | O_CLOEXEC);
			ret = fd < 0 ? errno : 0;
		}
		while (write(r[1], &ret, sizeof(ret)) == sizeof(ret) &&
		       read(c[0], &size, sizeof(size)) == sizeof(size)) {
			struct cmabuf_alloc a;

			memset(&a, 0, sizeof(a));
			a.size = size;
			a.flags = CMABUF_ALLOC_CLOEXEC;
			ret = fd < 0 ? EBADF : ioctl(fd, CMABUF_IOC_ALLOC, &a) < 0 ? errno : 0;
			if (!ret)
				close(a.fd);
		}
		_exit(0);
	}
	close(c[0]);
	close(r[1]);
	h->cmd = c[1];
	h->res = r[0];
	if (h->pid > 0 && read(h->res, &ready, sizeof(ready)) != sizeof(ready))
		ready = -1;
	if (unpriv)
		chmod(CMABUF_DEVICE, 0600);
	return h->pid > 0 && ready == 0;
}

/*
 * ALLOC @size through @h: 0 or the errno, -ETIMEDOUT when no answer came
 * within @wait_ms (it may still come); *ms: how long it took.
 */
static int helper_alloc(struct helper *h, uint64_t size, int wait_ms, long *ms)
{
	long t0 = now_ms();
	struct pollfd pfd = { .fd = h->res, .events = POLLIN };
	int ret = -1;

	if (h->pid <= 0 || write(h->cmd, &size, sizeof(size)) != sizeof(size))
		return -1;
	if (poll(&pfd, 1, wait_ms) == 0)
		ret = -ETIMEDOUT;
	else if (read(h->res, &ret, sizeof(ret)) != sizeof(ret))
		ret = -1;
	*ms = now_ms() - t0;
	return ret;
}

static void helper_stop(struct helper *h)
{
	if (h->pid <= 0)
		return;
	close(h->cmd);
	close(h->res);
	kill(h->pid, SIGKILL);
	waitpid(h->pid, NULL, 0);
	h->pid = -1;
}

/*
 * Memory too low outside CMA for an allocation that passes over locked
 * pages to stay off the reserves: it fails at once with ENOMEM and a log
 * line, and takes nothing; root without the flag (the waiting way, with
 * reclaim) still gets the memory, which shows room was not the reason.
 */
static void nowait_low_memory(struct helper *unpriv)
{
	size_t from = klog_len();
	long before = other_free_kb(), after, ms, t0, wmin = zone_min_kb();
	struct whole_area w = { .fd = -1, .flags = CMABUF_ALLOC_NOWAIT };
	int e;

	diag("free outside CMA %ld kB (min watermarks %ld kB), CmaFree %ld kB, area %" PRIu64 " MiB",
	     before, wmin, meminfo_kb("CmaFree"), whole_size / MiB);
	if (before * 1024 >= (long)whole_size) {
		skip("the page allocator could not be filled", "low memory: ENOMEM instead of the reserves");
		return;
	}
	t0 = now_ms();
	alloc_whole_area(&w);
	ms = now_ms() - t0;
	after = other_free_kb();
	ok(w.fd == -ENOMEM && ms < 1000,
	   "low memory: the whole area with CMABUF_ALLOC_NOWAIT fails with ENOMEM in %ld ms (%s)",
	   ms, w.fd >= 0 ? "succeeded" : strerror(-w.fd));
	if (w.fd >= 0)
		close(w.fd);
	ok(klog_has(from, "not enough free memory outside CMA", "reserved"),
	   "... with a log line saying what was free and wanted");
	ok(after >= wmin && after > before - 4096,
	   "... and the reserves are untouched: %ld kB free outside CMA before, %ld kB after, min watermarks %ld kB",
	   before, after, wmin);
	e = helper_alloc(unpriv, whole_size, 30000, &ms);
	ok(e == ENOMEM && ms < 1000,
	   "... an unprivileged opener without the flag too: ENOMEM in %ld ms (%s)", ms,
	   e < 0 ? "no answer" : e ? strerror(e) : "succeeded");
	w = (struct whole_area){ .fd = -1 };
	alloc_whole_area(&w);
	ok(w.fd >= 0, "... while root without the flag (waiting, with reclaim) gets it: the area had room (%s)",
	   w.fd >= 0 ? "ok" : strerror(-w.fd));
	if (w.fd >= 0)
		close(w.fd);
	diag("free outside CMA %ld kB after that", other_free_kb());
}

/*
 * A FUSE read keeps its page-cache pages locked until the server replies;
 * when such a page lies in the CMA area, an allocation over it passes it by
 * and fails at once (ENOSPC), whoever makes it, unless made without
 * CMABUF_ALLOC_NOWAIT through a privileged open: that one waits for the
 * page (CMA migrates it), uninterruptibly, holding up every other CMA user.
 * The page cache goes to CMA when CMA holds most of the free memory: the
 * rest is filled with buffers from the page allocator first (CMA full,
 * dma-direct falls back to it; max_bytes raised for that), then CMA is
 * emptied.  That is also the low-memory case (nowait_low_memory()); the
 * filling buffers go before the locked-page checks.
 */
static void nowait_locked_page(void)
{
	const char *mnt = "/tmp/cmabuf-held";
	struct held_srv s = { .fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };
	struct fuse_init_out io = { 0 };
	static char buf[1 << 17];
	struct fuse_in_header *in = (void *)buf;
	struct whole_area w = { .fd = -1 };
	struct cmabuf_version v = { 0 };
	struct helper unpriv = { .pid = -1 }, rooth = { .pid = -1 };
	int hog = -1, nfill = 0, ffd = -1, fill_fd[1024];
	pthread_t srv, faulter[HELD_MAX], allocator;
	bool srv_up = false;
	int faulting = 0;
	char opts[128], path[160];
	void *m = MAP_FAILED;
	long before, during;

	if (!ok(ioctl(devfd, CMABUF_IOC_VERSION, &v) == 0 &&
		(v.alloc_flags & CMABUF_ALLOC_NOWAIT), "VERSION knows CMABUF_ALLOC_NOWAIT"))
		return;
	/* Before any buffer of this test: they would inherit it. */
	ok(helper_start(&unpriv, true) && helper_start(&rooth, false),
	   "helper processes: an unprivileged opener, and root");
	hog = largest_buffer();
	if (hog < 0) {
		skip("not even half of the area can be allocated in one piece",
		     "CMABUF_ALLOC_NOWAIT and locked pages");
		helper_stop(&rooth);
		helper_stop(&unpriv);
		return;
	}
	set_param("max_bytes", (uint64_t)meminfo_kb("MemTotal") * 1024);
	diag("largest buffer: %" PRIu64 " MiB at 0x%" PRIx64, whole_size / MiB, whole_phys);
	/* Leave the page allocator less free memory than CMA will have. */
	for (uint64_t sz = 4 * MiB; sz >= 64 * 1024 && nfill < 1024; ) {
		long other = meminfo_kb("MemFree") - meminfo_kb("CmaFree");
		int fd;

		if (other * 1024 < (long)(cma_size / 2))
			break;
		fd = cb_alloc(sz, 0, CMABUF_CACHE_UNCACHED, NULL);
		if (fd < 0)
			sz /= 4;
		else
			fill_fd[nfill++] = fd;
	}
	close(hog);
	diag("page allocator filled with %d buffers: MemFree %ld kB, CmaFree %ld kB", nfill,
	     meminfo_kb("MemFree"), cma_free_kb());
	nowait_low_memory(&unpriv);

	mkdir(mnt, 0755);
	s.fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0", s.fd);
	if (!ok(s.fd >= 0 && !mount("cmabuf-held", mnt, "fuse", MS_NOSUID | MS_NODEV, opts) &&
		read(s.fd, buf, sizeof(buf)) >= (ssize_t)sizeof(*in) && in->opcode == FUSE_INIT,
		"a raw FUSE mount without passthrough (%s)", strerror(errno)))
		goto out;
	io.major = 7;
	io.minor = 31;
	io.max_readahead = 1 << 17;
	io.max_write = 1 << 17;
	io.max_background = 16;
	io.congestion_threshold = 12;
	io.time_gran = 1;
	fuse_reply(s.fd, in->unique, 0, &io, sizeof(io));
	srv_up = !pthread_create(&srv, NULL, held_serve, &s);

	before = locked_in_area();
	snprintf(path, sizeof(path), "%s/file", mnt);
	ffd = open(path, O_RDONLY);
	if (ffd >= 0)
		m = mmap(NULL, 64 * MiB, PROT_READ, MAP_SHARED, ffd, 0);
	if (!ok(m != MAP_FAILED, "mmap of the FUSE file (%s)", strerror(errno)))
		goto out;
	/* Many pages, more than the per-CPU free lists hold. */
	for (int i = 0; i < HELD_MAX; i++)
		if (!pthread_create(&faulter[faulting], NULL, fault_first_page,
				    (char *)m + (size_t)i * 2 * MiB))
			faulting++;
	for (int i = 0; i < 100 && reads_held(&s, NULL) < faulting; i++)
		usleep(100000);
	during = locked_in_area();
	if (!ok(reads_held(&s, NULL) > 0, "%d READs of %d page faults are held by the server",
		reads_held(&s, NULL), faulting))
		goto out;
	diag("locked pages under the largest buffer: %ld before the READ, %ld while it is held",
	     before, during);
	if (during <= before) {
		skip("no page of the held read landed under the largest buffer",
		     "CMABUF_ALLOC_NOWAIT passes over a locked page");
		goto out;
	}

	/* Memory is plentiful again: what is left in the way is the lock. */
	while (nfill)
		close(fill_fd[--nfill]);
	diag("page allocator buffers freed: free outside CMA %ld kB, %ld locked pages under the largest buffer",
	     other_free_kb(), locked_in_area());

	/*
	 * NOWAIT: fails without waiting (the watchdog would release the
	 * read), and a small allocation at the same time is not held up.
	 * Two pages: CMA serves them (one would come from the page
	 * allocator) in what the largest buffer leaves of the area.
	 */
	{
		struct whole_area small = { .fd = -1, .flags = CMABUF_ALLOC_NOWAIT, .size = 2 * page };
		pthread_t st;
		long t0 = now_ms(), ms;
		int e;

		w.flags = CMABUF_ALLOC_NOWAIT;
		pthread_create(&allocator, NULL, alloc_whole_area, &w);
		pthread_create(&st, NULL, alloc_whole_area, &small);
		if (!done_within(&w, 30) || !done_within(&small, 1))
			release_reads(&s);
		pthread_join(allocator, NULL);
		pthread_join(st, NULL);
		ms = now_ms() - t0;
		ok(!reads_released(&s) && w.fd == -ENOSPC && ms < 10000,
		   "with CMABUF_ALLOC_NOWAIT, the whole area over pages locked by FUSE reads: ENOSPC without waiting for them (%s, %ld ms)",
		   reads_released(&s) ? "waited for the reads" : w.fd >= 0 ? "succeeded" : strerror(-w.fd), ms);
		ok(!reads_released(&s) && small.fd >= 0,
		   "... and a 2-page allocation at the same time succeeds without waiting (%s)",
		   small.fd < 0 ? strerror(-small.fd) :
		   in_cma(small.phys, 2 * page) ? "from the area" : "from the page allocator");
		if (w.fd >= 0)
			close(w.fd);
		if (small.fd >= 0)
			close(small.fd);
		e = helper_alloc(&unpriv, whole_size, 30000, &ms);
		if (e == -ETIMEDOUT)
			release_reads(&s);
		ok(e == ENOSPC && ms < 10000 && !reads_released(&s),
		   "an unprivileged opener without the flag passes over them too: ENOSPC in %ld ms (%s)",
		   ms, e < 0 ? "no answer" : e ? strerror(e) : "succeeded");
	}

	/*
	 * Root without the flag: CMA waits for the page, uninterruptibly and
	 * holding cma_mutex, so that another allocation from the area waits
	 * too and SIGKILL does not end it; it completes once the page is
	 * unlocked.  The control for the checks above.  (An allocation that
	 * finds no free range in the area's bitmap takes no mutex: dma-direct
	 * then goes to the page allocator.)
	 */
	w = (struct whole_area){ .fd = -1 };
	if (!reads_released(&s)) {
		struct whole_area small = { .fd = -1, .flags = CMABUF_ALLOC_NOWAIT, .size = 2 * page };
		pid_t pid = rooth.pid;
		int status = 0;
		pthread_t st;
		long ms;

		ok(helper_alloc(&rooth, whole_size, 3000, &ms) == -ETIMEDOUT,
		   "root without the flag: the same allocation waits for the locked pages");
		pthread_create(&st, NULL, alloc_whole_area, &small);
		if (done_within(&small, 2) && small.fd >= 0 && !in_cma(small.phys, 2 * page))
			skip("no room left in the area beside it: the page allocator served it",
			     "... and holds up a 2-page allocation from the area meanwhile");
		else
			ok(!small.done,
			   "... and holds up a 2-page allocation from the area meanwhile (%s)",
			   small.done ? (small.fd >= 0 ? "it succeeded" : strerror(-small.fd)) :
			   "waiting");
		if (pid > 0)
			kill(pid, SIGKILL);
		usleep(1000000);
		ok(pid > 0 && waitpid(pid, &status, WNOHANG) == 0,
		   "... SIGKILL does not end it within a second (it sleeps uninterruptibly)");
		release_reads(&s);
		ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFSIGNALED(status),
		   "... it ends once the server replies");
		rooth.pid = -1;
		close(rooth.cmd);
		close(rooth.res);
		pthread_join(st, NULL);
		ok(small.fd >= 0, "... and so does the 2-page allocation (%s)",
		   small.fd >= 0 ? "ok" : strerror(-small.fd));
		if (small.fd >= 0)
			close(small.fd);
		/*
		 * Migration gives up on a page whose fault is still
		 * finishing (a reference held, five tries in a row): the
		 * area is free again a moment later.
		 */
		w = (struct whole_area){ .fd = -1, .flags = CMABUF_ALLOC_NOWAIT };
		alloc_whole_area(&w);
		for (int i = 1; w.fd == -ENOSPC && i <= 5; i++) {
			diag("whole-area ALLOC after the reply: ENOSPC, again in 200 ms (%d)", i);
			usleep(200000);
			alloc_whole_area(&w);
		}
		ok(w.fd >= 0, "with the pages unlocked and memory plentiful, the whole area with CMABUF_ALLOC_NOWAIT succeeds (%s)",
		   w.fd >= 0 ? "ok" : strerror(-w.fd));
		if (w.fd >= 0)
			close(w.fd);
	}
out:
	release_reads(&s);
	while (faulting)
		pthread_join(faulter[--faulting], NULL);
	if (m != MAP_FAILED)
		munmap(m, 64 * MiB);
	if (ffd >= 0)
		close(ffd);
	umount2(mnt, MNT_DETACH);
	if (s.fd >= 0)
		close(s.fd);	/* ends the server's read() */
	if (srv_up)
		pthread_join(srv, NULL);
	while (nfill)
		close(fill_fd[--nfill]);
	set_param("max_bytes", 0);
	helper_stop(&rooth);
	helper_stop(&unpriv);
}

/*
 * In a child: the pages it touches while CMA holds most of the free memory
 * (its stacks, its heap) may be CMA's, and go back when it exits.
 */
static void t_nowait_locked_page(void)
{
	int st = 0;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		nowait_locked_page();
		fflush(stdout);
		_exit(failures ? 1 : 0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		ok(false, "the locked-page test runs in a child (%s)", strerror(errno));
	else if (!WIFEXITED(st))
		ok(false, "the locked-page test's child ended by signal %d", WTERMSIG(st));
	else if (WEXITSTATUS(st))
		failures++;
	empty_cma_area();
}

/* Loaded with dma_bits=32: every buffer must end below 4 GiB. */
static int dma32_check(void)
{
	int bad = 0;

	devfd = open(CMABUF_DEVICE, O_RDWR | O_CLOEXEC);
	if (devfd < 0)
		return 1;
	for (uint32_t cache = 0; cache <= 2; cache++) {
		struct cmabuf_alloc a;
		int fd = cb_alloc(4 * MiB, 0, cache, &a);

		if (fd < 0 || a.dma_addr + a.size > (1ull << 32))
			bad++;
		if (fd >= 0)
			close(fd);
	}
	close(devfd);
	return bad != 0;
}

/*
 * Booted with a device tree node bound to a reusable shared-dma-pool:
 * buffers must come from that pool, not from the default area.
 */
static int dt_mode(void)
{
	char *s = klog(), *p;
	long base;

	strncat(krel, " dt", sizeof(krel) - strlen(krel) - 1);
	devfd = open(CMABUF_DEVICE, O_RDWR | O_CLOEXEC);
	if (!ok(devfd >= 0, "open %s (%s)", CMABUF_DEVICE, strerror(errno))) {
		free(s);
		return 1;
	}
	p = s ? strstr(s, "created CMA memory pool at 0x") : NULL;
	if (p) {
		char *sz = strstr(p, ", size ");

		cma_base = strtoull(p + 27, NULL, 16);
		cma_size = sz ? strtoull(sz + 7, NULL, 10) * MiB : 0;
	}
	free(s);
	if (!ok(cma_base && cma_size == 32 * MiB,
		"boot log reports the device tree pool: %" PRIu64 " MiB at 0x%" PRIx64,
		cma_size / MiB, cma_base))
		return 1;
	base = cma_free_exact_kb();
	t_cmafree_and_contiguity();
	t_placement(true);
	t_cache_modes();
	t_too_big();
	t_resize();
	t_file_basics();
	t_file_growth();
	t_export(CMABUF_CACHE_UNCACHED, "region, uncached");
	ok(cma_back_to(base), "at the end CmaFree is at its baseline (%ld kB)", base);
	close(devfd);
	return failures ? 1 : 0;
}

static void *idle_thread(void *p)
{
	char stack[256 * 1024];

	memset(stack, 1, sizeof(stack));
	__asm__ volatile("" : : "r"(stack) : "memory");
	return p;
}

/*
 * Free CMA pages are lent to movable allocations, user memory first: pages
 * this program touches for the first time during a test may be CMA pages,
 * and CmaFree would then miss them.  So touch everything it will use before
 * the first baseline and never give it back: a heap that is not trimmed,
 * a deep stack, and thread stacks kept in glibc's cache.
 */
static void prefault(void)
{
	char stack[512 * 1024];
	pthread_t t[4];
	void *heap;

	mallopt(M_MMAP_THRESHOLD, 256 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, -1);
	mallopt(M_TOP_PAD, 16 * 1024 * 1024);
	heap = malloc(24 * MiB);
	memset(heap, 1, 24 * MiB);
	free(heap);
	memset(stack, 1, sizeof(stack));
	__asm__ volatile("" : : "r"(stack) : "memory");
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, idle_thread, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
}

/*
 * For cmabuf.sh: a buffer held by a mapping only (of a file made by DUP,
 * every descriptor closed) must keep the module loaded.  Says "ready" and
 * waits to be killed.
 */
static int hold_mode(void)
{
	struct cmabuf_alloc a;
	int fd, d;
	char *m;

	devfd = open(CMABUF_DEVICE, O_RDWR | O_CLOEXEC);
	fd = devfd >= 0 ? cb_alloc(2 * page, 0, CMABUF_CACHE_UNCACHED, &a) : -1;
	d = fd >= 0 ? cb_dup(fd, 0) : -1;
	m = d >= 0 ? mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED, d, 0) : MAP_FAILED;
	if (m == MAP_FAILED)
		return 1;
	close(d);
	close(fd);
	close(devfd);
	m[0] = 1;
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	struct utsname u;
	struct cmabuf_stats st;
	long base;

	setvbuf(stdout, NULL, _IOLBF, 0);
	page = sysconf(_SC_PAGESIZE);
	prefault();
	uname(&u);
	snprintf(krel, sizeof(krel), "%s", u.release);
	kernel32 = !strncmp(u.machine, "armv7", 5);
	diag("%d-bit program, %s kernel", (int)(sizeof(long) * 8), u.machine);
	if (argc > 1 && !strcmp(argv[1], "--dma32"))
		return dma32_check();
	if (argc > 1 && !strcmp(argv[1], "--dt"))
		return dt_mode();
	if (argc > 1 && !strcmp(argv[1], "--hold"))
		return hold_mode();
	if (argc > 1)
		seed = strtoull(argv[1], NULL, 0);
	if (!seed)
		seed = 1;
	diag("cmabuf-test on %s, seed %" PRIu64, krel, seed);

	devfd = open(CMABUF_DEVICE, O_RDWR | O_CLOEXEC);
	if (!ok(devfd >= 0, "open %s (%s)", CMABUF_DEVICE, strerror(errno)))
		return 1;
	find_cma_area();
	base = cma_free_exact_kb();
	diag("CMA area 0x%" PRIx64 " + %" PRIu64 " MiB, CmaFree %ld kB", cma_base,
	     cma_size / MiB, base);

	t_basics();
	t_cmafree_and_contiguity();
	t_rw_mmap();
	t_cache_modes();
	t_align();
	t_bad_args();
	t_too_big();
	t_placement(false);
	t_cma_exhausted();
	t_resize();
	t_file_basics();
	t_file_limit();
	t_file_growth();
	t_file_mmap();
	t_random_rounds(1000);
	t_fuzz(10000);
	t_concurrency();
	t_file_concurrency();
	t_fuse_passthrough();
	t_dup_rdonly();
	t_dup_rw();
	t_counts();
	t_noaddr();
	t_fmode();
	t_noexec_attrs();
	t_tail_zero();
	t_remote_access();
	t_export(CMABUF_CACHE_UNCACHED, "uncached");
	t_export(CMABUF_CACHE_CACHED, "cached");
	t_export_args();
	t_unprivileged();
	t_module_cap();

	ok(cma_back_to(base) && cb_stats(&st) == 0 && st.buffers == 0 &&
	   st.bytes == 0, "at the end CmaFree is at its baseline (%ld kB)", base);

	/*
	 * Last, as it lends the area to page cache on purpose: a few lent
	 * pages may stay in gaps no buffer of two pages or more can cover,
	 * so its own check is the helper's count; rmmod follows.
	 */
	t_nowait_locked_page();
	ok(cb_stats(&st) == 0 && st.buffers == 0 && st.bytes == 0,
	   "after the locked-page test no buffer is left");
	diag("CmaFree %ld kB after it (%ld kB still lent out)", cma_free_exact_kb(),
	     base - cma_free_exact_kb());
	t_no_kernel_warnings();
	close(devfd);
	return failures ? 1 : 0;
}
