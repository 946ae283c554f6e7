/*
 * loadgen - many concurrent clients on one cmafs mount, with a watchdog
 * (tests/load.bats, tests/faults.bats).
 *
 *   loadgen [-P PROCS] [-T THREADS] [-t SECONDS] [-w STALL_SECONDS] [-m MAXSIZE]
 *           [-s SEED] [-F] [-R MOUNT_ROOT] [-k PID] DIR
 *
 * PROCS processes of THREADS threads each (default 4 x 8 = 32 clients) run
 * for SECONDS (default 10): create, ftruncate (up, down, to 0), pwrite,
 * user.* set/get (checked), user.cma.phys_addr/size/mmap reads (checked
 * against what the client knows of its own files), user.cma.align and
 * user.cma.cache changes, listxattr, readdir, .stats reads (every snapshot
 * checked: used + free = pool (kmod: <=, see stats_check), largest <= free,
 * allocs - frees = buffers,
 * orphans <= buffers), mmap and unlink of open files (orphans), in a
 * directory of their own (DIR/c<N>, exact expectations) and in a directory
 * all share (DIR/shared: ENOENT/EEXIST from races allowed).
 *
 * The main process only watches: each client publishes which operation it
 * is in and since when; one stalled for more than STALL_SECONDS (default 60)
 * fails the run (exit 3) after naming it, and everything is killed.
 *
 * -D: growth by write() is accounted after the fact (sim with passthrough,
 * cmafs(8) BUGS): on a full pool a file may hold more than its buffer, so
 * user.cma.size may be below st_size or missing (ENODATA); not checked.
 * st_size and everything else still are.
 *
 * -R names the mount's root (for .stats) when DIR is below it.
 *
 * -k PID: on a stall, print where PID's threads (the daemon) and the
 * clients' threads wait in the kernel (/proc/.../stack: root only; wchan
 * otherwise), so that a hang report says who waits for whom.
 *
 * -F (faults): the daemon may die under us: ENOTCONN/ECONNABORTED/ENODEV
 * end a client quietly, and the run lasts until every client ended or the
 * time is up.  DIR/ready is created once every client made progress.
 *
 * Exit: 0 all fine, 1 a check failed or an unexpected errno, 2 setup, 3 stall.
 * Last line on stdout: a summary.  Leaves the files (all closed) in DIR.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static int opt_procs = 4, opt_threads = 8, opt_secs = 10, opt_stall = 60, opt_faults;
static int opt_lazy_growth;	/* -D */
static pid_t opt_daemon;	/* -k */
static size_t opt_max = 256 << 10;
static uint64_t opt_seed = 1;
static const char *dir;
static int root_fd;		/* the mount root, for .stats (survives a lazy unmount) */
static size_t page;

enum { OP_IDLE, OP_CREATE, OP_TRUNC, OP_WRITE, OP_XSET, OP_XGET, OP_CMAX, OP_ALIGN,
       OP_CACHE, OP_LIST, OP_READDIR, OP_STATS, OP_MMAP, OP_UNLINK, OP_CLOSE,
       OP_SHARED, OP_RENAME, OP_FINAL, OP_N };
static const char *opname[OP_N] = { "idle", "create", "ftruncate", "pwrite", "setxattr user.*",
	"getxattr user.*", "getxattr user.cma.*", "set user.cma.align", "set user.cma.cache",
	"listxattr", "readdir", "read .stats", "mmap", "unlink", "close", "shared-dir op",
	"rename", "final close" };

struct client {
	_Atomic int op;			/* what it is doing */
	_Atomic int64_t since_ns;	/* 0 when between operations */
	_Atomic long ops, errors, stats_reads, stats_bad, enospc, ebusy;
	_Atomic int done, disconnected;
	char last_error[200];
};
static struct client *cl;	/* shared between processes */
static _Atomic int *stop;
static int nclients;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct rng { uint64_t s; };
static uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}
static uint64_t below(struct rng *r, uint64_t n) { return n ? rnd(r) % n : 0; }

/* SIGBUS from a mapping (a dead daemon, cached mappings) ends the
 * operation, not the process. */
static __thread sigjmp_buf bus_jmp;
static __thread volatile sig_atomic_t bus_armed;
static void on_bus(int sig)
{
	if (bus_armed)
		siglongjmp(bus_jmp, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

static int guarded_flip(unsigned char *p)
{
	if (sigsetjmp(bus_jmp, 1)) {
		bus_armed = 0;
		return -1;
	}
	bus_armed = 1;
	/* Without the fences the compiler may hoist the load above the
	 * store to bus_armed (gcc 12 on arm64 did): a SIGBUS there killed
	 * the client instead of ending the operation. */
	atomic_signal_fence(memory_order_seq_cst);
	*p ^= 1;
	atomic_signal_fence(memory_order_seq_cst);
	bus_armed = 0;
	return 0;
}

#define NF 4
struct ctx {
	int id;
	struct client *c;
	struct rng r;
	char own[64], shared[64];
	int fd[NF];
	size_t size[NF];		/* what this client knows of its file NF */
	int exists[NF];
	char tag[NF][32];		/* user.tag value, "" = none */
	int orphan_fd[2];
	char hist[16][96];	/* the last operations on its own files */
	unsigned nhist;
};

static void note(struct ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct ctx *x, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->hist[x->nhist++ % 16], sizeof(x->hist[0]), fmt, ap);
	va_end(ap);
}

static int disconnected_errno(int e)
{
	return e == ENOTCONN || e == ECONNABORTED || e == ENODEV || e == EIO;
}

/* Report an unexpected result; returns 1 when the client should end. */
static int bad(struct ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct ctx *x, const char *fmt, ...)
{
	va_list ap;
	int e = errno;
	if (opt_faults && disconnected_errno(e)) {
		atomic_store(&x->c->disconnected, 1);
		return 1;
	}
	atomic_fetch_add(&x->c->errors, 1);
	va_start(ap, fmt);
	vsnprintf(x->c->last_error, sizeof(x->c->last_error), fmt, ap);
	va_end(ap);
	flockfile(stdout);
	printf("# client %d: %s\n", x->id, x->c->last_error);
	if (atomic_load(&x->c->errors) == 1) {
		unsigned i;
		printf("# client %d: its last operations on its own files:\n", x->id);
		for (i = x->nhist > 16 ? x->nhist - 16 : 0; i < x->nhist; i++)
			printf("#   %s\n", x->hist[i % 16]);
	}
	funlockfile(stdout);
	fflush(stdout);
	return atomic_load(&x->c->errors) > 20;
}

static void path_of(struct ctx *x, int k, char *p)
{
	snprintf(p, PATH_MAX, "%s/f%d", x->own, k);
}

static int stats_check(struct ctx *x)
{
	char buf[4096], *l, *sp;
	ssize_t n, t = 0;
	long long pool = -1, used = -1, freeb = -1, largest = -1, buffers = -1, allocs = -1,
		  frees = -1, orphans = -1, buddy = 0;
	bool kmod = false, pool_ok;
	int fd = openat(root_fd, ".stats", O_RDONLY);
	if (fd < 0)
		return bad(x, "open .stats: %s", strerror(errno));
	while ((n = read(fd, buf + t, sizeof(buf) - 1 - (size_t)t)) > 0)
		t += n;
	if (n < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return bad(x, "read .stats: %s", strerror(errno));
	}
	close(fd);
	buf[t] = 0;
	atomic_fetch_add(&x->c->stats_reads, 1);
	for (l = strtok_r(buf, "\n", &sp); l; l = strtok_r(NULL, "\n", &sp)) {
		long long v;
		char k[64];
		if (!strcmp(l, "backend: kmod"))
			kmod = true;
		if (sscanf(l, "%63[^:]: %lld", k, &v) != 2)
			continue;
		if (!strcmp(k, "pool_bytes")) pool = v;
		else if (!strcmp(k, "used_bytes")) used = v;
		else if (!strcmp(k, "free_bytes")) freeb = v;
		else if (!strcmp(k, "largest_free_bytes")) largest = v;
		else if (!strcmp(k, "buffers")) buffers = v;
		else if (!strcmp(k, "allocs")) allocs = v;
		else if (!strcmp(k, "frees")) frees = v;
		else if (!strcmp(k, "orphan_buffers")) orphans = v;
		else if (!strcmp(k, "helper_buddy_bytes")) buddy = v;
	}
	/*
	 * kmod: the CMA area is shared and free is CmaFree, so this mount's
	 * buffers in CMA are at most what is not free (4 MiB of slack for the
	 * per-CPU counters), as assert_stats_consistent in the bats helpers.
	 */
	pool_ok = kmod ? used + freeb <= pool + buddy + (4LL << 20) : used + freeb == pool;
	if (pool < 0 || used < 0 || freeb < 0 || largest < 0 || buffers < 0 || allocs < 0 ||
	    frees < 0 || orphans < 0 || !pool_ok || largest > freeb ||
	    allocs - frees != buffers || orphans > buffers) {
		atomic_fetch_add(&x->c->stats_bad, 1);
		errno = 0;
		return bad(x, ".stats snapshot inconsistent: pool %lld used %lld free %lld largest %lld "
			   "buffers %lld allocs %lld frees %lld orphans %lld", pool, used, freeb,
			   largest, buffers, allocs, frees, orphans);
	}
	return 0;
}

static int ensure_fd(struct ctx *x, int k)
{
	char p[PATH_MAX];
	if (x->fd[k] >= 0)
		return 0;
	path_of(x, k, p);
	x->fd[k] = open(p, O_RDWR | O_CREAT, 0644);
	note(x, "f%d: open%s", k, x->exists[k] ? "" : " (create)");
	if (x->fd[k] < 0)
		return bad(x, "open %s: %s", p, strerror(errno)) ? -1 : 1;
	if (!x->exists[k]) {
		x->exists[k] = 1;
		x->size[k] = 0;
		x->tag[k][0] = 0;
	}
	return 0;
}

#define BEGIN(o) do { atomic_store(&x->c->op, (o)); atomic_store(&x->c->since_ns, now_ns()); } while (0)

static int one_op(struct ctx *x)
{
	int k = (int)below(&x->r, NF), r = (int)below(&x->r, 100), e;
	char p[PATH_MAX], v[256];
	ssize_t n;

	if (r < 8) {			/* .stats */
		BEGIN(OP_STATS);
		return stats_check(x);
	}
	if (r < 14) {			/* readdir */
		DIR *d;
		BEGIN(OP_READDIR);
		d = opendir(below(&x->r, 2) ? x->shared : x->own);
		if (!d)
			return bad(x, "opendir: %s", strerror(errno));
		errno = 0;
		while (readdir(d))
			;
		e = errno;
		closedir(d);
		if (e) {
			errno = e;
			return bad(x, "readdir: %s", strerror(e));
		}
		return 0;
	}
	if (r < 30) {			/* shared directory: races allowed */
		char q[PATH_MAX];
		int fd, a = (int)below(&x->r, 64), b = (int)below(&x->r, 64);
		BEGIN(OP_SHARED);
		snprintf(p, sizeof(p), "%s/s%d", x->shared, a);
		snprintf(q, sizeof(q), "%s/s%d", x->shared, b);
		switch (below(&x->r, 5)) {
		case 0:
			fd = open(p, O_RDWR | O_CREAT, 0644);
			if (fd < 0)
				return bad(x, "create %s: %s", p, strerror(errno));
			if (ftruncate(fd, (off_t)below(&x->r, opt_max / 4) + 1) && errno != ENOSPC) {
				e = errno;
				close(fd);
				errno = e;
				return bad(x, "ftruncate %s: %s", p, strerror(e));
			}
			if (below(&x->r, 2) && fgetxattr(fd, "user.cma.phys_addr", v, sizeof(v)) < 0 &&
			    errno != ENODATA) {	/* ENODATA: someone truncated it to 0 */
				e = errno;
				close(fd);
				errno = e;
				return bad(x, "phys_addr %s: %s", p, strerror(e));
			}
			close(fd);
			return 0;
		case 1:
			BEGIN(OP_RENAME);
			if (rename(p, q) && errno != ENOENT)
				return bad(x, "rename %s %s: %s", p, q, strerror(errno));
			return 0;
		case 2:
			if (truncate(p, (off_t)below(&x->r, opt_max / 4)) && errno != ENOENT &&
			    errno != ENOSPC)
				return bad(x, "truncate %s: %s", p, strerror(errno));
			return 0;
		case 3:
			if (setxattr(p, "user.shared", q, strlen(q), 0) && errno != ENOENT)
				return bad(x, "setxattr %s: %s", p, strerror(errno));
			return 0;
		default:
			BEGIN(OP_UNLINK);
			if (unlink(p) && errno != ENOENT)
				return bad(x, "unlink %s: %s", p, strerror(errno));
			return 0;
		}
	}
	/* own directory: exact expectations */
	path_of(x, k, p);
	if (r < 36) {
		BEGIN(OP_CREATE);
		return ensure_fd(x, k) < 0;
	}
	if (r < 50) {
		size_t ns;
		int rr;
		BEGIN(OP_TRUNC);
		if ((rr = ensure_fd(x, k)))
			return rr < 0;
		ns = below(&x->r, 8) == 0 ? 0 : below(&x->r, opt_max) + 1;
		note(x, "f%d: ftruncate %zu -> %zu", k, x->size[k], ns);
		if (ftruncate(x->fd[k], (off_t)ns)) {
			note(x, "f%d: ftruncate: %s", k, strerror(errno));
			if (errno == ENOSPC || errno == EFBIG) {
				atomic_fetch_add(&x->c->enospc, 1);
				return 0;
			}
			return bad(x, "ftruncate %s to %zu: %s", p, ns, strerror(errno));
		}
		x->size[k] = ns;
		return 0;
	}
	if (r < 58) {
		size_t off, len;
		char buf[4096];
		int rr;
		BEGIN(OP_WRITE);
		if ((rr = ensure_fd(x, k)))
			return rr < 0;
		off = below(&x->r, x->size[k] + 1);
		len = below(&x->r, sizeof(buf)) + 1;
		memset(buf, 'a' + x->id % 26, len);
		n = pwrite(x->fd[k], buf, len, (off_t)off);
		note(x, "f%d: pwrite off %zu len %zu (size %zu) -> %zd", k, off, len, x->size[k], n);
		if (n < 0) {
			if (errno == ENOSPC || errno == EFBIG) {
				atomic_fetch_add(&x->c->enospc, 1);
				return 0;
			}
			return bad(x, "pwrite %s: %s", p, strerror(errno));
		}
		if (off + (size_t)n > x->size[k])
			x->size[k] = off + (size_t)n;
		return 0;
	}
	if (!x->exists[k]) {
		BEGIN(OP_CREATE);
		return ensure_fd(x, k) < 0;
	}
	if (r < 66) {			/* user.tag: set, then read back */
		BEGIN(OP_XSET);
		note(x, "f%d: user.tag set/get", k);
		snprintf(v, sizeof(v), "c%d-%" PRIu64, x->id, below(&x->r, 1000000));
		if (setxattr(p, "user.tag", v, strlen(v), 0))
			return bad(x, "setxattr user.tag %s: %s", p, strerror(errno));
		memcpy(x->tag[k], v, sizeof(x->tag[k]));
		BEGIN(OP_XGET);
		n = getxattr(p, "user.tag", v, sizeof(v) - 1);
		if (n < 0)
			return bad(x, "getxattr user.tag %s: %s", p, strerror(errno));
		v[n] = 0;
		if (strcmp(v, x->tag[k])) {
			errno = 0;
			return bad(x, "user.tag of %s is '%s', set '%s'", p, v, x->tag[k]);
		}
		return 0;
	}
	if (r < 76) {			/* user.cma.* agree with what we know */
		struct stat st;
		BEGIN(OP_CMAX);
		note(x, "f%d: stat + user.cma.* (size %zu)", k, x->size[k]);
		if (stat(p, &st))
			return bad(x, "stat %s: %s", p, strerror(errno));
		if ((size_t)st.st_size != x->size[k]) {
			errno = 0;
			return bad(x, "%s: st_size %lld, expected %zu", p, (long long)st.st_size,
				   x->size[k]);
		}
		if (opt_lazy_growth && x->size[k])
			return 0;
		n = getxattr(p, "user.cma.size", v, sizeof(v) - 1);
		if (x->size[k] == 0 ? (n >= 0 || errno != ENODATA) : n < 0)
			return bad(x, "user.cma.size of %s (size %zu): %s", p, x->size[k],
				   n < 0 ? strerror(errno) : "a value");
		if (n > 0) {
			v[n] = 0;
			if (strtoull(v, NULL, 10) < x->size[k] || strtoull(v, NULL, 10) % page) {
				errno = 0;
				return bad(x, "user.cma.size of %s is %s with size %zu", p, v, x->size[k]);
			}
		}
		n = getxattr(p, "user.cma.phys_addr", v, sizeof(v) - 1);
		if (x->size[k] == 0 ? (n >= 0 || errno != ENODATA) : n < 0)
			return bad(x, "user.cma.phys_addr of %s (size %zu): %s", p, x->size[k],
				   n < 0 ? strerror(errno) : "a value");
		n = getxattr(p, "user.cma.mmap", v, sizeof(v) - 1);
		if (n < 0)
			return bad(x, "user.cma.mmap of %s: %s", p, strerror(errno));
		return 0;
	}
	if (r < 80) {
		BEGIN(OP_ALIGN);
		snprintf(v, sizeof(v), "%zu", page << below(&x->r, 4));
		note(x, "f%d: user.cma.align=%s", k, v);
		if (setxattr(p, "user.cma.align", v, strlen(v), 0))
			return bad(x, "set user.cma.align=%s %s: %s", v, p, strerror(errno));
		return 0;
	}
	if (r < 83) {
		static const char *modes[] = { "cached", "uncached", "writecombine" };
		const char *m = modes[below(&x->r, 3)];
		BEGIN(OP_CACHE);
		note(x, "f%d: user.cma.cache=%s%s", k, m, x->fd[k] >= 0 ? " (open)" : "");
		if (setxattr(p, "user.cma.cache", m, strlen(m), 0)) {
			if (errno == EBUSY) {	/* we may hold it open */
				atomic_fetch_add(&x->c->ebusy, 1);
				return 0;
			}
			if (errno == ENOSPC) {	/* kmod reallocates */
				atomic_fetch_add(&x->c->enospc, 1);
				return 0;
			}
			return bad(x, "set user.cma.cache=%s %s: %s", m, p, strerror(errno));
		}
		return 0;
	}
	if (r < 87) {
		char names[4096];
		BEGIN(OP_LIST);
		if (listxattr(p, names, sizeof(names)) < 0)
			return bad(x, "listxattr %s: %s", p, strerror(errno));
		return 0;
	}
	if (r < 92) {			/* map, touch, unmap */
		size_t sz = x->size[k];
		unsigned char *m;
		int rr;
		BEGIN(OP_MMAP);
		if (!sz)
			return 0;
		if ((rr = ensure_fd(x, k)))
			return rr < 0;
		note(x, "f%d: mmap %zu, flip a byte%s", k, sz, "");
		m = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, x->fd[k], 0);
		if (m == MAP_FAILED)
			return bad(x, "mmap %s (%zu): %s", p, sz, strerror(errno));
		if (guarded_flip(m + below(&x->r, sz))) {
			munmap(m, sz);
			errno = opt_faults ? ENOTCONN : EFAULT;	/* the daemon went away */
			return bad(x, "SIGBUS touching the mapping of %s (%zu bytes)", p, sz);
		}
		if (below(&x->r, 2) && msync(m, sz, MS_SYNC)) {
			e = errno;
			munmap(m, sz);
			errno = e;
			return bad(x, "msync %s: %s", p, strerror(e));
		}
		munmap(m, sz);
		return 0;
	}
	if (r < 96) {
		BEGIN(OP_CLOSE);
		note(x, "f%d: close", k);
		if (x->fd[k] >= 0) {
			close(x->fd[k]);
			x->fd[k] = -1;
		}
		return 0;
	}
	/* unlink; an open descriptor keeps the buffer as an orphan for a while */
	BEGIN(OP_UNLINK);
	note(x, "f%d: unlink%s", k, x->fd[k] >= 0 ? " (open: orphan)" : "");
	if (unlink(p))
		return bad(x, "unlink %s: %s", p, strerror(errno));
	x->exists[k] = 0;
	x->size[k] = 0;
	if (x->fd[k] >= 0) {
		if (x->orphan_fd[1] >= 0)
			close(x->orphan_fd[1]);
		x->orphan_fd[1] = x->orphan_fd[0];
		x->orphan_fd[0] = x->fd[k];
		x->fd[k] = -1;
	}
	return 0;
}

static void *client_main(void *arg)
{
	struct ctx *x = arg;
	int64_t end = now_ns() + (int64_t)opt_secs * 1000000000;
	int k;
	while (!atomic_load(stop) && now_ns() < end) {
		int quit = one_op(x);
		atomic_store(&x->c->since_ns, 0);
		atomic_fetch_add(&x->c->ops, 1);
		if (quit)
			break;
	}
	BEGIN(OP_FINAL);
	for (k = 0; k < NF; k++)
		if (x->fd[k] >= 0)
			close(x->fd[k]);
	for (k = 0; k < 2; k++)
		if (x->orphan_fd[k] >= 0)
			close(x->orphan_fd[k]);
	atomic_store(&x->c->since_ns, 0);
	atomic_store(&x->c->op, OP_IDLE);
	atomic_store(&x->c->done, 1);
	return NULL;
}

static void run_process(int pi)
{
	pthread_t *th = calloc((size_t)opt_threads, sizeof(*th));
	struct ctx *xs = calloc((size_t)opt_threads, sizeof(*xs));
	int t, k;
	for (t = 0; t < opt_threads; t++) {
		struct ctx *x = &xs[t];
		x->id = pi * opt_threads + t;
		x->c = &cl[x->id];
		x->r.s = opt_seed * 7919 + (uint64_t)x->id;
		snprintf(x->own, sizeof(x->own), "c%d", x->id);
		snprintf(x->shared, sizeof(x->shared), "shared");
		for (k = 0; k < NF; k++)
			x->fd[k] = -1;
		x->orphan_fd[0] = x->orphan_fd[1] = -1;
		if (mkdir(x->own, 0755) && errno != EEXIST) {
			printf("# client %d: mkdir %s: %s\n", x->id, x->own, strerror(errno));
			atomic_fetch_add(&x->c->errors, 1);
			atomic_store(&x->c->done, 1);
			continue;
		}
		if (pthread_create(&th[t], NULL, client_main, x)) {
			printf("# pthread_create failed\n");
			_exit(2);
		}
	}
	for (t = 0; t < opt_threads; t++)
		if (th[t])
			pthread_join(th[t], NULL);
	fflush(stdout);
	_exit(0);
}

/* Prints "# " lines: each thread of @pid, its wchan and kernel stack. */
static void dump_kernel_stacks(pid_t pid, const char *who)
{
	char path[320], line[256];
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return;
	while ((e = readdir(d))) {
		static const char *const files[] = { "wchan", "stack" };
		size_t k;

		if (e->d_name[0] == '.')
			continue;
		printf("# %s %d thread %s:\n", who, (int)pid, e->d_name);
		for (k = 0; k < sizeof(files) / sizeof(files[0]); k++) {
			FILE *f;

			snprintf(path, sizeof(path), "/proc/%d/task/%s/%s", (int)pid, e->d_name, files[k]);
			f = fopen(path, "r");
			if (!f)
				continue;
			while (fgets(line, sizeof(line), f))
				printf("#   %s: %s%s", files[k], line,
				       line[strlen(line) - 1] == '\n' ? "" : "\n");
			fclose(f);
		}
	}
	closedir(d);
}

int main(int argc, char **argv)
{
	int c, i, rc = 0, st, stalled = 0, ready = 0;
	pid_t *pids;
	long ops = 0, errs = 0, sreads = 0, sbad = 0, enospc = 0, ebusy = 0;
	int disc = 0;
	int64_t t0;
	const char *root = NULL;

	while ((c = getopt(argc, argv, "P:T:t:w:m:s:FR:Dk:")) != -1) {
		switch (c) {
		case 'P': opt_procs = atoi(optarg); break;
		case 'T': opt_threads = atoi(optarg); break;
		case 't': opt_secs = atoi(optarg); break;
		case 'w': opt_stall = atoi(optarg); break;
		case 'm': {
			char *e;
			opt_max = strtoull(optarg, &e, 0);
			if (*e == 'K' || *e == 'k')
				opt_max <<= 10;
			else if (*e == 'M' || *e == 'm')
				opt_max <<= 20;
			if (opt_max < 2)
				opt_max = 2;
			break;
		}
		case 's': opt_seed = strtoull(optarg, NULL, 0); break;
		case 'F': opt_faults = 1; break;
		case 'R': root = optarg; break;
		case 'D': opt_lazy_growth = 1; break;
		case 'k': opt_daemon = (pid_t)atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-P PROCS] [-T THREADS] [-t SECONDS] [-w STALL] "
				"[-m MAXSIZE] [-s SEED] [-F] [-R MOUNT_ROOT] [-k PID] DIR\n", argv[0]);
			return 2;
		}
	}
	if (optind + 1 != argc || opt_procs < 1 || opt_threads < 1)
		return 2;
	dir = argv[optind];
	page = (size_t)sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);
	root_fd = open(root ? root : dir, O_PATH | O_DIRECTORY);
	if (root_fd < 0) {
		perror(root ? root : dir);
		return 2;
	}
	if (chdir(dir)) {
		perror(dir);
		return 2;
	}
	nclients = opt_procs * opt_threads;
	cl = mmap(NULL, sizeof(*cl) * (size_t)nclients + 64, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (cl == MAP_FAILED)
		return 2;
	stop = (_Atomic int *)(cl + nclients);
	if (mkdir("shared", 0755) && errno != EEXIST) {
		perror("mkdir shared");
		return 2;
	}
	printf("# loadgen: %d clients (%d processes x %d threads), %d s, files up to %zu bytes, stall limit %d s%s\n",
	       nclients, opt_procs, opt_threads, opt_secs, opt_max, opt_stall, opt_faults ? ", faults" : "");
	{
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_bus;
		sa.sa_flags = SA_NODEFER;
		sigaction(SIGBUS, &sa, NULL);
	}
	pids = calloc((size_t)opt_procs, sizeof(*pids));
	for (i = 0; i < opt_procs; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("fork");
			free(pids);
			return 2;
		}
		if (pids[i] == 0)
			run_process(i);
	}
	/* the watchdog; .stats is read by the clients (this process never
	 * enters the file system, so it cannot hang itself) */
	t0 = now_ns();
	for (;;) {
		int alive = 0;
		int64_t t = now_ns();
		for (i = 0; i < opt_procs; i++) {	/* a process that ended: its clients too */
			int j;
			if (!pids[i] || waitpid(pids[i], &st, WNOHANG) != pids[i])
				continue;
			pids[i] = 0;
			if (!WIFEXITED(st) || WEXITSTATUS(st)) {
				printf("# process %d ended with %s %d\n", i,
				       WIFEXITED(st) ? "status" : "signal",
				       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
				rc = 1;
			}
			for (j = i * opt_threads; j < (i + 1) * opt_threads; j++) {
				atomic_store(&cl[j].since_ns, 0);
				atomic_store(&cl[j].done, 1);
			}
		}
		for (i = 0; i < nclients; i++) {
			int64_t s = atomic_load(&cl[i].since_ns);
			if (!atomic_load(&cl[i].done))
				alive++;
			if (s && t - s > (int64_t)opt_stall * 1000000000) {
				printf("# STALL: client %d in %s for %lld s\n", i,
				       opname[atomic_load(&cl[i].op)],
				       (long long)((t - s) / 1000000000));
				stalled = 1;
			}
		}
		if (!ready) {
			for (i = 0; i < nclients && atomic_load(&cl[i].ops) > 0; i++)
				;
			if (i == nclients) {
				int fd = open("ready", O_CREAT | O_WRONLY, 0644);
				if (fd >= 0)
					close(fd);
				ready = 1;
			}
		}
		if (stalled || !alive)
			break;
		if (t - t0 > (int64_t)(opt_secs + opt_stall + 60) * 1000000000) {
			printf("# STALL: clients still running %d s after the end\n",
			       opt_stall + 60);
			stalled = 1;
			break;
		}
		usleep(200000);
	}
	if (stalled) {
		if (opt_daemon)
			dump_kernel_stacks(opt_daemon, "daemon");
		for (i = 0; i < opt_procs; i++)
			if (pids[i])
				dump_kernel_stacks(pids[i], "client process");
		fflush(stdout);
		atomic_store(stop, 1);
		for (i = 0; i < opt_procs; i++)
			if (pids[i])
				kill(pids[i], SIGKILL);
	}
	for (i = 0; i < opt_procs; i++) {
		if (!pids[i] || waitpid(pids[i], &st, 0) < 0)
			continue;
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			if (!stalled)
				printf("# process %d ended with %s %d\n", i,
				       WIFEXITED(st) ? "status" : "signal",
				       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			rc = 1;
		}
	}
	free(pids);
	for (i = 0; i < nclients; i++) {
		ops += atomic_load(&cl[i].ops);
		errs += atomic_load(&cl[i].errors);
		sreads += atomic_load(&cl[i].stats_reads);
		sbad += atomic_load(&cl[i].stats_bad);
		enospc += atomic_load(&cl[i].enospc);
		ebusy += atomic_load(&cl[i].ebusy);
		disc += atomic_load(&cl[i].disconnected);
		if (!atomic_load(&cl[i].ops))
			printf("# client %d made no progress\n", i), errs++;
	}
	if (errs)
		rc = 1;
	if (stalled)
		rc = 3;
	printf("%s: %d clients, %ld operations, %ld .stats snapshots (%ld inconsistent), "
	       "%ld errors, %ld ENOSPC, %ld EBUSY, %d disconnected\n",
	       rc == 0 ? "PASS" : rc == 3 ? "STALL" : "FAIL", nclients, ops, sreads, sbad, errs,
	       enospc, ebusy, disc);
	return rc;
}
