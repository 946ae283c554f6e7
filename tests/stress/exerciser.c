/*
 * exerciser - data-integrity exerciser for cmafs (issue 6).
 *
 *   exerciser [options] DIR
 *     -s SEED     seed (default 1); each process derives its own stream
 *     -n OPS      operations in total, split between the processes (default 10000)
 *     -p PROCS    processes, each owning its own files (default 4)
 *     -f FILES    file slots per process (default 4)
 *     -m BYTES    largest file size (default 1 MiB)
 *     -S          shared-file mode instead: one writer and PROCS-1 readers on
 *                 one file, checked against a versioned pattern
 *     -k          keep the files at the end (default; -K removes them)
 *     -v          print every operation (to stderr)
 *     -W          step around known daemon bugs, to look for others:
 *                 1. with passthrough, user.cma.sync=device on a file grown
 *                    by write() fails with ENODATA until an fstat() makes
 *                    the daemon notice the growth (fstat first)
 *                 2. sim with passthrough: growth by write() past what the pool
 *                    holds is accepted (cmafs(8) BUGS), so user.cma.size may be
 *                    below st_size (not checked)
 *     -G          no growth by write(): writes are clipped to the size (growth
 *                 only by ftruncate); for sim with passthrough on a full pool
 *     -T          tail stores: store through the mapping past the end of the
 *                 file, in its last page (allowed, and never part of the
 *                 file); later growth must read zeros there (the model keeps
 *                 zeros past the size): kmod with direct mappings only
 *
 * Private mode: every process owns FILES names in DIR (p<i>.*) and keeps an
 * in-memory model of each file it holds (named or orphaned).  Random
 * operations: pwrite (inside, across and past the end, with holes), pread,
 * ftruncate up and down (to 0 frees the buffer), mmap stores and loads
 * (mappings are kept across resizes: "mappings follow the file"), msync,
 * fsync, fdatasync, a check of what reached the buffer itself (without
 * passthrough the mapping is a page-cache view: user.cma.sync=cpu drops it
 * so that pread reads the buffer), close/reopen (trimming), rename over
 * another file (the replaced one, if open, becomes an orphan that is still
 * checked) and to a fresh name, unlink of open files (orphans), fstat and
 * user.cma.size checks.  Every result is compared with the model; the first
 * difference stops the process with a diagnostic and the last operations.
 * At the end every file is closed, reopened and compared in full.
 *
 * Shared mode: the writer fills the file with version v of a pattern
 * (pwrite or stores through a mapping + msync, in random chunks, sometimes
 * resizing the file up and back to force a move), publishing "started v"
 * and "completed v" in shared memory; readers check with pread and with
 * their own mappings that every byte belongs to a version between the
 * completed one before the read and the started one after it.
 *
 * Exit status 0 when every check passed, 1 on a mismatch, 2 on usage or
 * setup errors.  The last line on stdout is a summary.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static uint64_t opt_seed = 1;
static long opt_ops = 10000;
static int opt_procs = 4;
static int opt_files = 4;
static size_t opt_max = 1 << 20;
static int opt_shared;
static int opt_keep = 1;
static int opt_verbose;
static int opt_workaround;
static int opt_nogrow;		/* -G */	/* -W: step around known daemon bugs (see usage) */
static int opt_tail;		/* -T */
static const char *dir;
static size_t page;
static int direct_mmap;		/* user.cma.mmap == direct */

/* ---------------------------------------------------------------- rng */
static uint64_t rng_state;
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}
static uint64_t below(uint64_t n) { return n ? rnd() % n : 0; }
static int chance(int pct) { return (int)below(100) < pct; }

/* ------------------------------------------------------- diagnostics */
#define HIST 24
static char hist[HIST][160];
static long hist_n;
static int me;			/* process index */
static long opno;

static void note(const char *fmt, ...)
{
	va_list ap;
	char *h = hist[hist_n++ % HIST];
	int n = snprintf(h, 160, "#%ld ", opno);
	va_start(ap, fmt);
	vsnprintf(h + n, 160 - n, fmt, ap);
	va_end(ap);
	if (opt_verbose)
		fprintf(stderr, "p%d %s\n", me, h);
}

__attribute__((noreturn)) static void fail(const char *fmt, ...)
{
	va_list ap;
	long i;
	fprintf(stdout, "# FAIL p%d (seed %" PRIu64 ", op %ld): ", me, opt_seed, opno);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fprintf(stdout, "\n# last operations of p%d:\n", me);
	for (i = hist_n > HIST ? hist_n - HIST : 0; i < hist_n; i++)
		fprintf(stdout, "#   %s\n", hist[i % HIST]);
	fflush(stdout);
	_exit(1);
}

__attribute__((noreturn)) static void die(const char *what)
{
	fprintf(stdout, "# ERROR p%d: %s: %s\n", me, what, strerror(errno));
	fflush(stdout);
	_exit(2);
}

/* SIGBUS inside a range that must be mapped is a failure, not a crash. */
static sigjmp_buf bus_jmp;
static volatile sig_atomic_t bus_armed;
static void on_bus(int sig)
{
	(void)sig;
	if (bus_armed)
		siglongjmp(bus_jmp, 1);
	_exit(3);
}

/* memcpy that returns -1 instead of dying of SIGBUS/SIGSEGV. */
static int guarded_copy(void *dst, const void *src, size_t n)
{
	if (sigsetjmp(bus_jmp, 1)) {
		bus_armed = 0;
		return -1;
	}
	bus_armed = 1;
	/* keep the copy between the two stores (see loadgen.c) */
	atomic_signal_fence(memory_order_seq_cst);
	memcpy(dst, src, n);
	atomic_signal_fence(memory_order_seq_cst);
	bus_armed = 0;
	return 0;
}

/* -------------------------------------------------------------- model */
struct obj {
	char path[PATH_MAX];
	int named;		/* 1: reachable by path; 0: orphan */
	unsigned char *data;	/* model contents, opt_max bytes */
	size_t size;
	int fd;
	unsigned char *map;
	size_t maplen;
	unsigned id;
};

#define MAX_ORPHANS 3
static struct obj **slot;	/* opt_files */
static struct obj *orphan[MAX_ORPHANS];
static unsigned next_id;
static unsigned char *scratch;	/* opt_max bytes */

static struct {
	long write, read, trunc_up, trunc_down, trunc_zero, mstore, mload,
	    msync, fsync, bufcheck, close, rename, unlink, stat, create,
	    orphan_ops, enospc, fullcheck, tailstore;
} cnt;

static void fill_random(unsigned char *p, size_t n)
{
	size_t i;
	uint64_t v = rnd();
	int mode = (int)below(4);
	for (i = 0; i < n; i++) {
		if (mode == 0) {	/* random bytes */
			if ((i & 7) == 0)
				v = rnd();
			p[i] = (unsigned char)(v >> ((i & 7) * 8));
		} else if (mode == 1) {	/* a constant, sometimes 0 */
			p[i] = (unsigned char)v;
		} else {		/* a ramp: catches shifted copies */
			p[i] = (unsigned char)(v + i + (i >> 8));
		}
	}
}

static void compare(const struct obj *o, const char *how, size_t off,
		    const unsigned char *got, size_t n)
{
	size_t i;
	if (memcmp(got, o->data + off, n) == 0)
		return;
	for (i = 0; i < n && got[i] == o->data[off + i]; i++)
		;
	{
		size_t j = i, bad = 0, last = i;
		for (; j < n; j++)
			if (got[j] != o->data[off + j]) {
				bad++;
				last = j;
			}
		fail("%s of %s (obj %u, size %zu): byte %zu is 0x%02x, expected 0x%02x; "
		     "%zu bad bytes in [%zu, %zu] of the %zu compared from %zu",
		     how, o->path, o->id, o->size, off + i, got[i], o->data[off + i],
		     bad, off + i, off + last, n, off);
	}
}

static struct obj *new_obj(int s)
{
	struct obj *o = calloc(1, sizeof(*o));
	if (!o)
		die("calloc");
	o->data = calloc(1, opt_max);
	if (!o->data)
		die("calloc");
	o->fd = -1;
	o->id = next_id++;
	snprintf(o->path, sizeof(o->path), "%s/p%d.s%d.%u", dir, me, s, o->id);
	o->named = 1;
	return o;
}

static void drop_map(struct obj *o)
{
	if (o->map) {
		if (munmap(o->map, o->maplen))
			die("munmap");
		o->map = NULL;
		o->maplen = 0;
	}
}

static void free_obj(struct obj *o)
{
	drop_map(o);
	if (o->fd >= 0)
		close(o->fd);
	free(o->data);
	free(o);
}

static void ensure_open(struct obj *o)
{
	if (o->fd >= 0)
		return;
	if (!o->named)
		fail("internal: orphan %u without descriptor", o->id);
	o->fd = open(o->path, O_RDWR);
	if (o->fd < 0)
		fail("open %s: %s", o->path, strerror(errno));
}

/* A slot's object, created (O_EXCL) when the slot is empty. */
static struct obj *get_slot(int s)
{
	struct obj *o = slot[s];
	struct stat st;
	char v[64];
	if (o)
		return o;
	o = slot[s] = new_obj(s);
	o->fd = open(o->path, O_RDWR | O_CREAT | O_EXCL, 0644);
	if (o->fd < 0)
		fail("create %s: %s", o->path, strerror(errno));
	cnt.create++;
	note("create %s", o->path);
	if (fstat(o->fd, &st))
		fail("fstat new %s: %s", o->path, strerror(errno));
	if (st.st_size != 0 || st.st_blocks != 0)
		fail("new file %s: size %lld blocks %lld", o->path,
		     (long long)st.st_size, (long long)st.st_blocks);
	if (fgetxattr(o->fd, "user.cma.phys_addr", v, sizeof(v)) >= 0 || errno != ENODATA)
		fail("new file %s: user.cma.phys_addr: %s, expected ENODATA", o->path,
		     strerror(errno));
	return o;
}

/* Bytes [0, n) readable through o's mapping. */
static size_t map_usable(const struct obj *o)
{
	return o->map ? (o->size < o->maplen ? o->size : o->maplen) : 0;
}

static void ensure_map(struct obj *o)
{
	if (o->map && o->maplen >= o->size)
		return;
	drop_map(o);
	ensure_open(o);
	o->map = mmap(NULL, o->size, PROT_READ | PROT_WRITE, MAP_SHARED, o->fd, 0);
	if (o->map == MAP_FAILED) {
		o->map = NULL;
		fail("mmap %s (%zu bytes): %s", o->path, o->size, strerror(errno));
	}
	o->maplen = o->size;
}

static size_t pick_size(void)
{
	switch (below(6)) {
	case 0:
		return below(page) + 1;		/* under a page */
	case 1:
		return (below(8) + 1) * page;	/* whole pages */
	case 2:
		return (below(8) + 1) * page + below(page);
	case 3:
		return below(opt_max / 4) + 1;
	default:
		return below(opt_max) + 1;
	}
}

static size_t pick_len(size_t lim)
{
	size_t n;
	switch (below(4)) {
	case 0:
		n = below(64) + 1;
		break;
	case 1:
		n = below(page * 2) + 1;
		break;
	case 2:
		n = below(64 << 10) + 1;
		break;
	default:
		n = below(256 << 10) + 1;
		break;
	}
	return n > lim ? lim : n;
}

/* An offset where something interesting happens in a file of size sz. */
static size_t pick_off(size_t sz)
{
	switch (below(5)) {
	case 0:
		return 0;
	case 1:		/* near the end */
		return sz > 100 ? sz - below(100) : below(sz + 1);
	case 2:		/* near a page boundary */
		{
			size_t p = below(sz / page + 1) * page;
			return p >= 50 ? p - 50 + below(100) : below(100);
		}
	default:
		return below(sz + 1);
	}
}

/* ---------------------------------------------------------- operations */
static void op_truncate(struct obj *o);
static void op_write(struct obj *o)
{
	size_t off, len, end;
	ssize_t n;
	ensure_open(o);
	if (chance(15))	/* past the end: a hole and growth */
		off = o->size + below(3 * page);
	else
		off = pick_off(o->size);
	if (off >= opt_max)
		off = below(opt_max);
	len = pick_len(opt_max - off);
	if (opt_nogrow) {
		if (o->size == 0) {
			op_truncate(o);
			return;
		}
		if (off >= o->size)
			off = below(o->size);
		if (len > o->size - off)
			len = o->size - off;
	}
	end = off + len;
	fill_random(scratch, len);
	note("pwrite %s off %zu len %zu (size %zu)", o->path, off, len, o->size);
	n = pwrite(o->fd, scratch, len, (off_t)off);
	if (n < 0) {
		if (errno == ENOSPC && end > o->size) {
			cnt.enospc++;
			return;
		}
		fail("pwrite %s off %zu len %zu: %s", o->path, off, len, strerror(errno));
	}
	if ((size_t)n != len && !(end > o->size && (size_t)n < len && n > 0))
		fail("pwrite %s off %zu len %zu returned %zd", o->path, off, len, n);
	/* a hole (off > size) reads as zero: the model is zero beyond size */
	memcpy(o->data + off, scratch, (size_t)n);
	if (off + (size_t)n > o->size)
		o->size = off + (size_t)n;
	cnt.write++;
}

static void op_read(struct obj *o)
{
	size_t off, len, want;
	ssize_t n;
	ensure_open(o);
	off = chance(10) ? o->size + below(page) : pick_off(o->size);
	len = pick_len(opt_max);
	want = off >= o->size ? 0 : (o->size - off < len ? o->size - off : len);
	note("pread %s off %zu len %zu (size %zu)", o->path, off, len, o->size);
	n = pread(o->fd, scratch, len, (off_t)off);
	if (n < 0)
		fail("pread %s off %zu len %zu: %s", o->path, off, len, strerror(errno));
	if ((size_t)n != want)
		fail("pread %s off %zu len %zu returned %zd, expected %zu (size %zu)",
		     o->path, off, len, n, want, o->size);
	compare(o, "pread", off, scratch, want);
	cnt.read++;
}

static void op_truncate(struct obj *o)
{
	size_t ns, old = o->size;
	int r = (int)below(10);
	ensure_open(o);
	if (r == 0)
		ns = 0;
	else if (r < 4 && old > 0)
		ns = below(old);		/* down */
	else if (r < 7)
		ns = old + below(old < opt_max / 2 ? old + page : page * 4) + 1; /* up */
	else
		ns = pick_size();
	if (ns > opt_max)
		ns = opt_max;
	note("ftruncate %s %zu -> %zu", o->path, old, ns);
	if (ftruncate(o->fd, (off_t)ns)) {
		if (errno == ENOSPC && ns > old) {
			cnt.enospc++;
			return;
		}
		fail("ftruncate %s %zu -> %zu: %s", o->path, old, ns, strerror(errno));
	}
	if (ns < old)
		memset(o->data + ns, 0, old - ns);
	o->size = ns;
	if (ns == 0)
		cnt.trunc_zero++;
	else if (ns < old)
		cnt.trunc_down++;
	else
		cnt.trunc_up++;
}

/*
 * Bytes stored through a mapping past the end of the file, in its last
 * page, are not the file's: a file that grows over them reads zeros there,
 * as POSIX has it for ftruncate and the kernel helper gives.  (tmpfs, and
 * so sim's memfds, and FUSE's page cache keep them: Linux 6.18.)
 */
static void op_tailstore(struct obj *o)
{
	size_t end = (o->size + page - 1) / page * page, len;

	if (o->size == 0 || o->size == end)
		return;
	if (!o->map || o->maplen < o->size)
		ensure_map(o);
	len = end - o->size;
	fill_random(scratch, len);
	note("tailstore %s off %zu len %zu (size %zu)", o->path, o->size, len, o->size);
	if (guarded_copy(o->map + o->size, scratch, len))
		fail("SIGBUS storing past the end of %s [%zu, %zu) in its last page", o->path,
		     o->size, end);
	cnt.tailstore++;
}

static void op_mstore(struct obj *o)
{
	size_t off, len, u;
	if (o->size == 0)
		{ op_write(o); return; }
	if (!o->map || chance(10))
		ensure_map(o);
	u = map_usable(o);
	if (u == 0) {
		ensure_map(o);
		u = map_usable(o);
	}
	off = pick_off(u - 1);
	if (off >= u)
		off = u - 1;
	len = pick_len(u - off);
	fill_random(scratch, len);
	note("mstore %s off %zu len %zu (size %zu maplen %zu)", o->path, off, len, o->size,
	     o->maplen);
	if (guarded_copy(o->map + off, scratch, len))
		fail("SIGBUS storing to %s [%zu, %zu) (size %zu, mapping %zu)", o->path, off,
		     off + len, o->size, o->maplen);
	memcpy(o->data + off, scratch, len);
	cnt.mstore++;
	if (opt_tail && chance(25))
		op_tailstore(o);
}

static void op_mload(struct obj *o)
{
	size_t off, len, u;
	if (o->size == 0)
		{ op_read(o); return; }
	if (!o->map || chance(10))
		ensure_map(o);
	u = map_usable(o);
	if (u == 0) {
		ensure_map(o);
		u = map_usable(o);
	}
	off = chance(30) ? 0 : below(u);
	len = chance(30) ? u - off : pick_len(u - off);
	note("mload %s off %zu len %zu (size %zu maplen %zu)", o->path, off, len, o->size,
	     o->maplen);
	if (guarded_copy(scratch, o->map + off, len))
		fail("SIGBUS loading from %s [%zu, %zu) (size %zu, mapping %zu)", o->path, off,
		     off + len, o->size, o->maplen);
	compare(o, "mapping load", off, scratch, len);
	cnt.mload++;
}

/* What is in the buffer itself, not in a page-cache view of it. */
static void check_buffer(struct obj *o, const char *after)
{
	ssize_t n;
	ensure_open(o);
	if (!direct_mmap && o->size > 0) {
		if (fsetxattr(o->fd, "user.cma.sync", "cpu", 3, 0))
			fail("user.cma.sync=cpu on %s (size %zu): %s", o->path, o->size,
			     strerror(errno));
	}
	n = pread(o->fd, scratch, opt_max, 0);
	if (n < 0)
		fail("pread %s after %s: %s", o->path, after, strerror(errno));
	if ((size_t)n != o->size)
		fail("pread of all %s after %s returned %zd, size is %zu", o->path, after, n,
		     o->size);
	compare(o, after, 0, scratch, o->size);
	cnt.bufcheck++;
}

static void op_sync(struct obj *o)
{
	int k = (int)below(4);
	if (k == 0 && o->map) {
		note("msync %s maplen %zu (size %zu)", o->path, o->maplen, o->size);
		if (msync(o->map, o->maplen, MS_SYNC))
			fail("msync %s: %s", o->path, strerror(errno));
		cnt.msync++;
	} else if (k == 1 && o->size > 0 && o->fd >= 0) {
		note("user.cma.sync=device %s", o->path);
		if (opt_workaround) {	/* bug 1: growth by write() not seen by sync */
			struct stat st;
			fstat(o->fd, &st);
		}
		if (fsetxattr(o->fd, "user.cma.sync", "device", 6, 0))
			fail("user.cma.sync=device %s: %s", o->path, strerror(errno));
		cnt.fsync++;
	} else {
		ensure_open(o);
		note("%s %s", k == 2 ? "fdatasync" : "fsync", o->path);
		if ((k == 2 ? fdatasync(o->fd) : fsync(o->fd)))
			fail("fsync %s: %s", o->path, strerror(errno));
		cnt.fsync++;
	}
	if (chance(50))
		check_buffer(o, "sync + buffer check");
}

static void op_stat(struct obj *o)
{
	struct stat st;
	char v[64];
	ssize_t n;
	ensure_open(o);
	note("fstat %s (size %zu)", o->path, o->size);
	if (fstat(o->fd, &st))
		fail("fstat %s: %s", o->path, strerror(errno));
	if ((size_t)st.st_size != o->size)
		fail("fstat %s: st_size %lld, expected %zu", o->path, (long long)st.st_size,
		     o->size);
	n = fgetxattr(o->fd, "user.cma.size", v, sizeof(v) - 1);
	if (o->size == 0) {
		if (n >= 0 || errno != ENODATA)
			fail("%s has size 0 but user.cma.size gives %s", o->path,
			     n >= 0 ? "a value" : strerror(errno));
		if (st.st_blocks != 0)
			fail("%s has size 0 but st_blocks %lld", o->path,
			     (long long)st.st_blocks);
	} else {
		unsigned long long cap;
		if (n < 0)
			fail("user.cma.size of %s (size %zu): %s", o->path, o->size,
			     strerror(errno));
		v[n] = 0;
		cap = strtoull(v, NULL, 10);
		if ((cap < o->size && !opt_workaround) || cap % page)
			fail("user.cma.size of %s is %llu with st_size %zu", o->path, cap,
			     o->size);
	}
	cnt.stat++;
}

static void op_close(struct obj *o)
{
	note("close %s%s", o->path, o->map && chance(30) ? " (keeping mapping)" : "");
	if (o->map && chance(70))
		drop_map(o);
	if (o->fd >= 0 && o->named) {
		if (close(o->fd))
			fail("close %s: %s", o->path, strerror(errno));
		o->fd = -1;
	}
	cnt.close++;
}

static void add_orphan(struct obj *o)
{
	int i;
	o->named = 0;
	if (o->fd < 0 && !o->map) {
		free_obj(o);
		return;
	}
	if (o->fd < 0) {	/* only a mapping keeps it: a last look, then drop */
		size_t u = map_usable(o);
		if (guarded_copy(scratch, o->map, u))
			fail("SIGBUS reading orphaned mapping of %s", o->path);
		compare(o, "orphan mapping", 0, scratch, u);
		free_obj(o);
		return;
	}
	for (i = 0; i < MAX_ORPHANS && orphan[i]; i++)
		;
	if (i == MAX_ORPHANS) {	/* check and close the oldest */
		check_buffer(orphan[0], "orphan final read");
		free_obj(orphan[0]);
		memmove(orphan, orphan + 1, sizeof(orphan[0]) * (MAX_ORPHANS - 1));
		i = MAX_ORPHANS - 1;
	}
	orphan[i] = o;
}

static void op_rename(int s)
{
	struct obj *o = get_slot(s);
	int t = (int)below(opt_files);
	if (t == s || chance(30)) {	/* to a fresh name */
		char np[PATH_MAX];
		snprintf(np, sizeof(np), "%s/p%d.s%d.%u.r", dir, me, s, next_id++);
		note("rename %s -> %s", o->path, np);
		if (rename(o->path, np))
			fail("rename %s -> %s: %s", o->path, np, strerror(errno));
		memcpy(o->path, np, sizeof(np));
	} else {			/* over another file */
		struct obj *v = get_slot(t);
		note("rename %s -> %s (replacing obj %u, size %zu%s)", o->path, v->path, v->id,
		     v->size, v->fd >= 0 ? ", open" : "");
		if (rename(o->path, v->path))
			fail("rename %s -> %s: %s", o->path, v->path, strerror(errno));
		memcpy(o->path, v->path, sizeof(o->path));
		slot[t] = o;
		slot[s] = NULL;
		add_orphan(v);
	}
	cnt.rename++;
}

static void op_unlink(int s)
{
	struct obj *o = get_slot(s);
	note("unlink %s (size %zu%s)", o->path, o->size, o->fd >= 0 ? ", open" : "");
	if (unlink(o->path))
		fail("unlink %s: %s", o->path, strerror(errno));
	slot[s] = NULL;
	add_orphan(o);
	cnt.unlink++;
}

static void op_orphan(void)
{
	int i, n = 0;
	struct obj *o;
	for (i = 0; i < MAX_ORPHANS && orphan[i]; i++)
		n++;
	if (!n)
		return;
	i = (int)below(n);
	o = orphan[i];
	cnt.orphan_ops++;
	switch (below(5)) {
	case 0:
		op_write(o);
		break;
	case 1:
		op_mstore(o);
		break;
	case 2:
		op_mload(o);
		break;
	case 3:
		check_buffer(o, "orphan read");
		break;
	default:
		check_buffer(o, "orphan final read");
		note("close orphan %s (obj %u)", o->path, o->id);
		free_obj(o);
		memmove(orphan + i, orphan + i + 1, sizeof(orphan[0]) * (MAX_ORPHANS - 1 - i));
		orphan[MAX_ORPHANS - 1] = NULL;
	}
}

static void full_check(struct obj *o, const char *why)
{
	int fd;
	ssize_t n;
	struct stat st;
	fd = open(o->path, O_RDONLY);
	if (fd < 0)
		fail("open %s for %s: %s", o->path, why, strerror(errno));
	if (fstat(fd, &st))
		fail("fstat %s: %s", o->path, strerror(errno));
	if ((size_t)st.st_size != o->size)
		fail("%s: %s has st_size %lld, expected %zu", why, o->path,
		     (long long)st.st_size, o->size);
	n = pread(fd, scratch, opt_max, 0);
	if (n < 0 || (size_t)n != o->size)
		fail("%s: read of %s returned %zd (%s), expected %zu", why, o->path, n,
		     n < 0 ? strerror(errno) : "short", o->size);
	compare(o, why, 0, scratch, o->size);
	close(fd);
	cnt.fullcheck++;
}

static void run_private(long ops)
{
	int s, i;
	slot = calloc((size_t)opt_files, sizeof(*slot));
	scratch = malloc(opt_max);
	if (!slot || !scratch)
		die("malloc");
	for (opno = 0; opno < ops; opno++) {
		int r = (int)below(1000);
		struct obj *o;
		s = (int)below(opt_files);
		if (r < 20) {
			op_rename(s);
			continue;
		}
		if (r < 30) {
			op_unlink(s);
			continue;
		}
		if (r < 60) {
			op_orphan();
			continue;
		}
		o = get_slot(s);
		if (r < 230)
			op_write(o);
		else if (r < 400)
			op_read(o);
		else if (r < 500)
			op_truncate(o);
		else if (r < 640)
			op_mstore(o);
		else if (r < 760)
			op_mload(o);
		else if (r < 850)
			op_sync(o);
		else if (r < 910)
			op_stat(o);
		else if (r < 960)
			op_close(o);
		else if (r < 980)
			check_buffer(o, "buffer check");
		else {
			note("full check %s", o->path);
			full_check(o, "full check");
		}
	}
	/* the end: close everything, then compare every file in full */
	for (i = 0; i < MAX_ORPHANS && orphan[i]; i++) {
		check_buffer(orphan[i], "orphan final read");
		free_obj(orphan[i]);
		orphan[i] = NULL;
	}
	for (s = 0; s < opt_files; s++) {
		struct obj *o = slot[s];
		if (!o)
			continue;
		if (o->map && msync(o->map, o->maplen, MS_SYNC))
			fail("msync %s: %s", o->path, strerror(errno));
		drop_map(o);
		if (o->fd >= 0 && close(o->fd))
			fail("close %s: %s", o->path, strerror(errno));
		o->fd = -1;
	}
	for (s = 0; s < opt_files; s++) {
		if (!slot[s])
			continue;
		opno = ops;
		full_check(slot[s], "final check after close");
		if (!opt_keep && unlink(slot[s]->path))
			fail("unlink %s: %s", slot[s]->path, strerror(errno));
		free_obj(slot[s]);
	}
	printf("# p%d: %ld ops: write %ld read %ld trunc up/down/0 %ld/%ld/%ld "
	       "mstore %ld mload %ld msync %ld fsync %ld bufcheck %ld close %ld "
	       "rename %ld unlink %ld stat %ld create %ld orphan-ops %ld full %ld enospc %ld tailstore %ld\n",
	       me, ops, cnt.write, cnt.read, cnt.trunc_up, cnt.trunc_down, cnt.trunc_zero,
	       cnt.mstore, cnt.mload, cnt.msync, cnt.fsync, cnt.bufcheck, cnt.close,
	       cnt.rename, cnt.unlink, cnt.stat, cnt.create, cnt.orphan_ops, cnt.fullcheck,
	       cnt.enospc, cnt.tailstore);
	fflush(stdout);
}

/* ------------------------------------------------------- shared mode */
struct shm {
	_Atomic uint64_t started, completed;
	_Atomic int stop;
	_Atomic long reads, checked_bytes, resizes;
};
static struct shm *sh;

static unsigned char pat(uint64_t v, size_t i)
{
	uint64_t z = (v * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)(i >> 3) * 0xbf58476d1ce4e5b9ULL);
	z ^= z >> 29;
	z *= 0x94d049bb133111ebULL;
	z ^= z >> 32;
	return (unsigned char)(z >> ((i & 7) * 8));
}

static void shared_writer(const char *path, size_t size, long ops)
{
	int fd = open(path, O_RDWR);
	unsigned char *map;
	uint64_t v;
	if (fd < 0)
		die("open shared file");
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		die("mmap shared file");
	for (opno = 0, v = 1; opno < ops; v++) {
		size_t off = 0;
		int via_map = chance(50);
		atomic_store(&sh->started, v);
		while (off < size) {
			size_t len = pick_len(size - off), i;
			for (i = 0; i < len; i++)
				scratch[i] = pat(v, off + i);
			if (via_map) {
				note("writer v%" PRIu64 " mstore [%zu, %zu)", v, off, off + len);
				if (guarded_copy(map + off, scratch, len))
					fail("SIGBUS in writer's mapping at %zu", off);
			} else {
				note("writer v%" PRIu64 " pwrite [%zu, %zu)", v, off, off + len);
				if (pwrite(fd, scratch, len, (off_t)off) != (ssize_t)len)
					fail("writer pwrite [%zu, %zu): %s", off, off + len,
					     strerror(errno));
			}
			off += len;
			opno++;
		}
		if (via_map && msync(map, size, MS_SYNC))
			fail("writer msync: %s", strerror(errno));
		if (chance(15)) {	/* force a resize (a move, maybe) under the readers */
			size_t big = size + (below(16) + 1) * page;
			note("writer resize %zu -> %zu -> %zu", size, big, size);
			if (ftruncate(fd, (off_t)big) == 0) {
				if (ftruncate(fd, (off_t)size))
					fail("writer shrink back to %zu: %s", size, strerror(errno));
				atomic_fetch_add(&sh->resizes, 1);
			} else if (errno != ENOSPC) {
				fail("writer grow to %zu: %s", big, strerror(errno));
			}
		}
		atomic_store(&sh->completed, v);
		if (chance(20) && fsync(fd))
			fail("writer fsync: %s", strerror(errno));
	}
	atomic_store(&sh->stop, 1);
	munmap(map, size);
	close(fd);
	printf("# writer: %" PRIu64 " versions, %ld chunk writes, %ld resizes\n", v - 1, opno,
	       atomic_load(&sh->resizes));
}

static void shared_reader(const char *path, size_t size)
{
	int fd = open(path, O_RDONLY);
	unsigned char *map;
	long reads = 0, bytes = 0;
	if (fd < 0)
		die("open shared file");
	map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		die("mmap shared file (reader)");
	while (!atomic_load(&sh->stop)) {
		uint64_t lo = atomic_load(&sh->completed), hi;
		size_t off = below(size), len = pick_len(size - off), i;
		int via_map = chance(50);
		opno = reads;
		if (!direct_mmap && chance(3)) {
			/* drop the page-cache view under the writer's feet (pending
			 * stores are written back first, cmafs(8)) */
			note("reader user.cma.sync=cpu");
			if (fsetxattr(fd, "user.cma.sync", "cpu", 3, 0))
				fail("reader user.cma.sync=cpu: %s", strerror(errno));
		}
		if (via_map) {
			if (guarded_copy(scratch, map + off, len))
				fail("SIGBUS in reader's mapping at [%zu, %zu)", off, off + len);
		} else {
			ssize_t n = pread(fd, scratch, len, (off_t)off);
			if (n != (ssize_t)len)
				fail("reader pread [%zu, %zu) returned %zd (%s)", off, off + len, n,
				     n < 0 ? strerror(errno) : "short");
		}
		hi = atomic_load(&sh->started);
		for (i = 0; i < len; i++) {
			uint64_t v;
			for (v = lo; v <= hi; v++)
				if (scratch[i] == pat(v, off + i))
					break;
			if (v > hi && !(lo == 0 && scratch[i] == 0))
				fail("reader (%s) byte %zu is 0x%02x: no version in [%" PRIu64
				     ", %" PRIu64 "] has it (v%" PRIu64 ": 0x%02x)",
				     via_map ? "mapping" : "pread", off + i, scratch[i], lo, hi,
				     hi, pat(hi, off + i));
		}
		reads++;
		bytes += (long)len;
	}
	atomic_fetch_add(&sh->reads, reads);
	atomic_fetch_add(&sh->checked_bytes, bytes);
	munmap(map, size);
	close(fd);
}

static int run_shared(void)
{
	char path[PATH_MAX];
	size_t size = opt_max;
	int fd, i, rc = 0, st;
	pid_t *pids;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap shm");
	snprintf(path, sizeof(path), "%s/shared.%" PRIu64, dir, opt_seed);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)size))
		die("create shared file");
	close(fd);
	scratch = malloc(opt_max + page);
	pids = calloc((size_t)opt_procs, sizeof(*pids));
	fflush(stdout);
	for (i = 0; i < opt_procs; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork");
		if (pids[i] == 0) {
			me = i;
			rng_state = opt_seed * 1000003ULL + (uint64_t)i;
			if (i == 0)
				shared_writer(path, size, opt_ops);
			else
				shared_reader(path, size);
			fflush(stdout);
			_exit(0);
		}
	}
	for (i = 0; i < opt_procs; i++) {
		if (waitpid(pids[i], &st, 0) < 0)
			die("waitpid");
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			rc = 1;
			atomic_store(&sh->stop, 1);
			printf("# process %d ended with %s %d\n", i,
			       WIFEXITED(st) ? "status" : "signal",
			       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		}
	}
	printf("# readers: %ld reads, %ld bytes checked\n", atomic_load(&sh->reads),
	       atomic_load(&sh->checked_bytes));
	if (!opt_keep)
		unlink(path);
	free(pids);
	printf("%s: shared file, seed %" PRIu64 ", %ld writer chunk ops, %d processes\n",
	       rc ? "FAIL" : "PASS", opt_seed, opt_ops, opt_procs);
	return rc;
}

/* ---------------------------------------------------------------- main */
static size_t parse_size(const char *s)
{
	char *e;
	unsigned long long v = strtoull(s, &e, 0);
	switch (*e) {
	case 'k': case 'K': v <<= 10; break;
	case 'm': case 'M': v <<= 20; break;
	case 'g': case 'G': v <<= 30; break;
	}
	return (size_t)v;
}

int main(int argc, char **argv)
{
	int c, i, rc = 0, st;
	pid_t *pids;
	char v[32] = "";
	struct sigaction sa;

	while ((c = getopt(argc, argv, "s:n:p:f:m:SkKvWGT")) != -1) {
		switch (c) {
		case 's': opt_seed = strtoull(optarg, NULL, 0); break;
		case 'n': opt_ops = strtol(optarg, NULL, 0); break;
		case 'p': opt_procs = atoi(optarg); break;
		case 'f': opt_files = atoi(optarg); break;
		case 'm': opt_max = parse_size(optarg); break;
		case 'S': opt_shared = 1; break;
		case 'k': opt_keep = 1; break;
		case 'K': opt_keep = 0; break;
		case 'v': opt_verbose = 1; break;
		case 'W': opt_workaround = 1; break;
		case 'G': opt_nogrow = 1; break;
		case 'T': opt_tail = 1; break;
		default: goto usage;
		}
	}
	if (optind + 1 != argc || opt_procs < 1 || opt_files < 1 || opt_ops < 0 ||
	    (opt_shared && opt_procs < 2))
		goto usage;
	dir = argv[optind];
	page = (size_t)sysconf(_SC_PAGESIZE);
	if (opt_max < 2 * page)
		opt_max = 2 * page;
	setvbuf(stdout, NULL, _IOLBF, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_bus;
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);

	/* which kind of mapping this mount gives (SPEC section 4) */
	{
		char probe[PATH_MAX];
		int fd;
		ssize_t n;
		snprintf(probe, sizeof(probe), "%s/.probe.%d", dir, (int)getpid());
		fd = open(probe, O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			die("create probe file");
		n = fgetxattr(fd, "user.cma.mmap", v, sizeof(v) - 1);
		if (n < 0)
			die("user.cma.mmap");
		v[n] = 0;
		close(fd);
		unlink(probe);
		direct_mmap = strncmp(v, "direct", 6) == 0;
	}
	printf("# exerciser: seed %" PRIu64 ", %ld ops, %d processes, %d files each, max %zu, mmap %s%s\n",
	       opt_seed, opt_ops, opt_procs, opt_files, opt_max, direct_mmap ? "direct" : "cached",
	       opt_shared ? ", shared-file mode" : "");

	if (opt_shared)
		return run_shared();

	pids = calloc((size_t)opt_procs, sizeof(*pids));
	fflush(stdout);
	for (i = 0; i < opt_procs; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork");
		if (pids[i] == 0) {
			me = i;
			rng_state = opt_seed * 1000003ULL + (uint64_t)i;
			run_private(opt_ops / opt_procs + (i < opt_ops % opt_procs));
			_exit(0);
		}
	}
	for (i = 0; i < opt_procs; i++) {
		if (waitpid(pids[i], &st, 0) < 0)
			die("waitpid");
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			rc = 1;
			printf("# process %d ended with %s %d\n", i,
			       WIFEXITED(st) ? "status" : "signal",
			       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		}
	}
	free(pids);
	printf("%s: seed %" PRIu64 ", %ld ops, %d processes\n", rc ? "FAIL" : "PASS", opt_seed,
	       opt_ops, opt_procs);
	return rc;
usage:
	fprintf(stderr, "usage: %s [-s SEED] [-n OPS] [-p PROCS] [-f FILES] [-m MAXSIZE] [-S] [-K] [-v] [-W] [-G] [-T] DIR\n",
		argv[0]);
	return 2;
}
