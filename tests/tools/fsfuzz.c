/* SPDX-License-Identifier: MIT */
/*
 * fsfuzz - randomised syscall fuzzer of a cmafs mount's whole request
 * surface (tests/fuzz/syscalls runs it against an ASan+UBSan daemon).
 *
 *   fsfuzz -m MOUNTPOINT -u UID[:GID] [-u UID2[:GID2] ...] -t SECONDS -s SEED
 *          [-p PROCS_PER_USER] [-n MAX_OPS] [-w SLACK] [-v]
 *
 *   -m  the mount (the parent creates MOUNTPOINT/fz, mode 1777, and in it
 *       d0, mode 0777, and the FIFO p0, mode 0666, owned by the parent)
 *   -u  a user to run as (GID defaults to UID); one or more
 *   -t  seconds each child runs
 *   -s  seed: operation k of child i draws its kind and arguments from a
 *       stream seeded by (seed, i, k); what it acts on (the descriptors
 *       and mappings the child holds) depends on earlier outcomes, which
 *       depend on timing
 *   -p  children per user (default 2)
 *   -n  stop each child after MAX_OPS operations (reproduce a short run)
 *   -w  watchdog: a child still running SLACK seconds after its deadline
 *       is killed by SIGALRM (default 60)
 *   -v  print every operation and its result to stderr (slow)
 *
 * The parent (root, to switch users) forks PROCS_PER_USER children per
 * user.  Each drops its privileges (setgroups(0), setresgid, setresuid)
 * and runs random operations with random arguments on a small set of names
 * shared by every child, so that users collide on each other's files:
 * fz/f0..f7, fz/d0..d2, fz/d0/f0.., a FIFO, symbolic links, plus
 * MOUNTPOINT itself and MOUNTPOINT/.stats.  Operations: open/creat with
 * random flags and modes (a bounded table of open descriptors), read,
 * pread, readv, write, pwrite, writev at wild offsets (up to 2^62, and -1)
 * and sizes (0..1 MiB), ftruncate/truncate (0..16 MiB and wild sizes),
 * fallocate with random modes, mmap (random length, offset, protection,
 * MAP_SHARED/MAP_PRIVATE) with loads and stores under a SIGBUS/SIGSEGV
 * guard, msync, madvise, mremap, munmap, fsync/fdatasync, ioctl (the cmafs
 * ioctls with random payloads, random _IOC(dir, 0xCF, nr, size) numbers,
 * generic and random numbers) on files, directories, the FIFO and .stats,
 * get/set/list/removexattr (user.cma.* and random names, valid and garbage
 * values, 0..70000 bytes), rename/renameat2 (NOREPLACE, EXCHANGE), link,
 * unlink, symlink, mkdir, rmdir, mknod, opendir/readdir (partial listings,
 * streams kept open), getdents64, stat, chmod, chown to oneself, utimensat,
 * statfs, lseek (DATA/HOLE), copy_file_range, locks, fcntl(F_SETFL).
 *
 * Every result is ignored except that the daemon must stay alive: an
 * operation failing with ENOTCONN (confirmed by stat of .stats) ends the
 * child with the last operations it ran.  A blocking operation (a FIFO with
 * nobody at the other end) is interrupted after 100 ms by a timer; each
 * child also has an alarm(SECONDS + SLACK) watchdog: a child killed by
 * SIGALRM means a request the daemon never answered; a child that even
 * SIGALRM cannot end (its request was read by a daemon that never answers)
 * is reported by the parent 30 s later.  Each child prints one
 * summary line to stderr.
 *
 * Exit status: 0 when every child ran to completion, 1 otherwise (each
 * failed child named with the reason), 2 on usage errors.
 */
#define _GNU_SOURCE
#include <dirent.h>
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
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <grp.h>
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/fiemap.h>
#include <linux/fs.h>

#include "cmafs.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef RENAME_WHITEOUT
#define RENAME_WHITEOUT (1 << 2)
#endif
/* struct space_resv is 48 bytes; the kernel handles these in do_vfs_ioctl */
#ifndef FS_IOC_RESVSP
#define FS_IOC_RESVSP _IOC(_IOC_WRITE, 'X', 40, 48)
#endif
#ifndef FS_IOC_UNRESVSP
#define FS_IOC_UNRESVSP _IOC(_IOC_WRITE, 'X', 41, 48)
#endif
#ifndef FS_IOC_ZERO_RANGE
#define FS_IOC_ZERO_RANGE _IOC(_IOC_WRITE, 'X', 57, 48)
#endif
#ifndef O_TMPFILE
#define O_TMPFILE (020000000 | O_DIRECTORY)
#endif

#define EXIT_DAEMON_GONE 3
#define EXIT_SETUP 4
#define PARENT_SLACK 30

/* ------------------------------------------------------------ options */
struct user {
	uid_t uid;
	gid_t gid;
};
static const char *opt_mnt;
static struct user users[16];
static int nusers;
static long opt_secs = -1;
static uint64_t opt_seed;
static int have_seed;
static int opt_procs = 2;
static long opt_maxops = -1;
static int opt_verbose;
static long opt_slack = 60;

/* ------------------------------------------------------ child state */
static int me;			/* child index */
static uint64_t rng, rng_base;
static size_t page;
static char stats_path[PATH_MAX];
static unsigned char *buf;	/* I/O buffer */
#define BUF_SIZE ((1u << 20) + 65536)
static unsigned long nops, nfail, ncaught, nintr;
static unsigned long errs[256];

/* the last operations, for the report when the daemon is gone */
#define RING 12
static char ring[RING][224];
static unsigned long ring_op[RING];	/* the operation each entry is part of */
static unsigned long ring_n;
static char *cur;		/* description of the running operation */

/* ------------------------------------------------------------- PRNG */
static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}
static uint64_t rnd(void) { return splitmix(&rng); }
static uint64_t below(uint64_t n) { return n ? rnd() % n : 0; }
static int chance(unsigned pct) { return below(100) < pct; }
#define PICK(a) ((a)[below(sizeof(a) / sizeof((a)[0]))])

/* ------------------------------------------------------------ names */
static const char *const file_names[] = {
	"f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7",
	"d0/f0", "d0/f1", "d0/f2", "d0/f3", "d1/f0", "d1/f1", "d2/f0", "d0/d3/f0",
};
static const char *const dir_names[] = { "d0", "d1", "d2", "d0/d3", "d1/d4" };
static const char *const fifo_names[] = { "p0", "p1", "d0/p2" };
static const char *const link_names[] = { "l0", "l1", "l2", "l3", "d0/l0" };
/* Targets stay inside the mount, wherever the link is ("" is MNT/fz/f4). */
static const char *const link_targets[] = {
	"f0", "f1", "d0", "d0/f1", "../fz/f2", "p0", "l0", "l1", "nonexistent",
	"../.stats", "..", "", "d1/f0", "../fz/f3", "../../fz/f5",
};

/* Full path of a random name, into out (PATH_MAX). */
enum kind { K_ANY, K_FILE, K_DIR, K_FIFO, K_LINK };
static char *pick_path(char *out, enum kind k)
{
	unsigned r = (unsigned)below(100);
	const char *n;

	if (k == K_ANY || chance(15)) {
		if (r < 6) {
			snprintf(out, PATH_MAX, "%s", opt_mnt);
			return out;
		}
		if (r < 12) {
			snprintf(out, PATH_MAX, "%s/.stats", opt_mnt);
			return out;
		}
		if (r < 15) {
			snprintf(out, PATH_MAX, "%s/fz", opt_mnt);
			return out;
		}
		if (r < 18) {	/* odd spellings */
			static const char *const odd[] = {
				"f0/", "d0/", "d0/../f1", "./f2", "nonexistent/f0",
				"f1/x", "d0/f0/..", ".", "..", "../.stats", "l0/",
			};
			snprintf(out, PATH_MAX, "%s/fz/%s", opt_mnt, PICK(odd));
			return out;
		}
		if (r < 20) {	/* long names: 255 is fine, 256 ENAMETOOLONG */
			char name[300];
			size_t len = 250 + below(8);
			memset(name, 'a' + (int)below(3), len);
			name[len] = 0;
			snprintf(out, PATH_MAX, "%s/fz/%s", opt_mnt, name);
			return out;
		}
		k = (enum kind)(1 + below(4));
	}
	switch (k) {
	case K_DIR: n = PICK(dir_names); break;
	case K_FIFO: n = PICK(fifo_names); break;
	case K_LINK: n = PICK(link_names); break;
	default: n = PICK(file_names); break;
	}
	snprintf(out, PATH_MAX, "%s/fz/%s", opt_mnt, n);
	return out;
}

/* A path relative to the mount, for messages. */
static const char *rel(const char *p)
{
	size_t n = strlen(opt_mnt);
	if (!strncmp(p, opt_mnt, n))
		return p[n] ? p + n + 1 : "MNT";
	return p;
}

/* -------------------------------------------------------- wild values */
static int64_t wild_off(void)
{
	static const int64_t wild[] = {
		0, 1, 4095, 4096, 4097, 65536, 1 << 20, (1 << 24) - 1, 1 << 24,
		(1 << 26) + 1, INT32_MAX, (int64_t)1 << 31, (int64_t)1 << 32,
		((int64_t)1 << 40) - 1, (int64_t)1 << 40, (int64_t)1 << 62,
		INT64_MAX - 4095, INT64_MAX, -1, -4096,
	};
	switch (below(6)) {
	case 0: return 0;
	case 1: return (int64_t)below(4096);
	case 2: return (int64_t)(below(4096) * page) + (int64_t)below(3) - 1;
	case 3: return (int64_t)below(16 << 20);
	case 4: return (int64_t)(below(256) * page);
	default: return PICK(wild);
	}
}

static size_t wild_len(void)
{
	switch (below(8)) {
	case 0: return 0;
	case 1: return 1;
	case 2: return below(4096);
	case 3: return page;
	case 4: return page + below(3) * page + below(2);
	case 5: return below(65536);
	case 6: return below(1 << 20);
	default: return 1 << 20;
	}
}

static int64_t wild_size(void)
{
	static const int64_t wild[] = {
		16 << 20, (16 << 20) + 1, 32 << 20, 64 << 20, (64 << 20) + 1,
		INT32_MAX, (int64_t)1 << 31, (int64_t)1 << 40, (int64_t)1 << 62,
		INT64_MAX, -1,
	};
	switch (below(8)) {
	case 0: return 0;
	case 1: return (int64_t)below(8192);
	case 2: return (int64_t)(below(256) * page);
	case 3: case 4: return (int64_t)below(1 << 20);
	case 5: return (int64_t)below(16 << 20);
	case 6: return (int64_t)(below(16) << 20);
	default: return PICK(wild);
	}
}

static mode_t wild_mode(void)
{
	static const mode_t m[] = {
		0600, 0644, 0666, 0400, 0000, 0777, 04755, 02755, 06777, 01777,
		0640, 0200, 04666, 02666,
	};
	if (chance(10))
		return (mode_t)below(010000);
	return PICK(m);
}

/* ----------------------------------------------------- result keeping */
static void logop(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logop(const char *fmt, ...)
{
	va_list ap;
	ring_op[ring_n % RING] = nops;
	cur = ring[ring_n++ % RING];
	va_start(ap, fmt);
	vsnprintf(cur, sizeof(ring[0]), fmt, ap);
	va_end(ap);
}

static void report_gone(const char *how)
{
	unsigned long i, first = ring_n > RING ? ring_n - RING : 0;
	fprintf(stderr, "fsfuzz: child %d (uid %u): daemon gone (%s) after %lu operations; its last operations:\n",
		me, (unsigned)getuid(), how, nops);
	for (i = first; i < ring_n; i++)
		fprintf(stderr, "fsfuzz:   child %d op %lu: %s\n", me, ring_op[i % RING],
			ring[i % RING]);
	exit(EXIT_DAEMON_GONE);
}

/* Is the daemon still there?  ENOTCONN / ECONNABORTED on .stats: no. */
static void check_alive(void)
{
	struct stat st;
	if (stat(stats_path, &st) < 0 && (errno == ENOTCONN || errno == ECONNABORTED))
		report_gone(errno == ENOTCONN ? "ENOTCONN" : "ECONNABORTED");
}

/* Record a result: r < 0 is a failure with errno. */
static long res(long r)
{
	int e = errno;
	if (opt_verbose) {
		if (r < 0)
			fprintf(stderr, "fsfuzz: %d: %s = -1 %s\n", me, cur, strerrorname_np(e) ?: "?");
		else
			fprintf(stderr, "fsfuzz: %d: %s = %ld\n", me, cur, r);
	}
	if (r < 0) {
		nfail++;
		errs[e & 255]++;
		if (e == ENOTCONN || e == ECONNABORTED)
			check_alive();
	}
	errno = e;
	return r;
}

/* ------------------------------------------------------ signal guards */
static sigjmp_buf guard_jmp;
static volatile sig_atomic_t guard_armed;
static volatile unsigned char sink;

static void on_fault(int sig)
{
	if (guard_armed) {
		guard_armed = 0;
		siglongjmp(guard_jmp, 1);
	}
	signal(sig, SIG_DFL);	/* a fault outside a guard: the fuzzer's bug */
	raise(sig);
}

static void on_tick(int sig)
{
	(void)sig;
	nintr++;
}

/* One load or store at p; -1 if it faulted. */
static int touch(volatile unsigned char *p, int store, unsigned char v)
{
	if (sigsetjmp(guard_jmp, 1)) {
		ncaught++;
		return -1;
	}
	guard_armed = 1;
	atomic_signal_fence(memory_order_seq_cst);
	if (store)
		*p = v;
	else
		sink = *p;
	atomic_signal_fence(memory_order_seq_cst);
	guard_armed = 0;
	return 0;
}

/* The per-operation timer: interrupts an operation that blocks (a FIFO
 * with nobody at the other end), or, sometimes, a request in flight. */
static timer_t tick;
static void arm_tick(long ns)
{
	struct itimerspec it = { .it_value = { ns / 1000000000L, ns % 1000000000L } };
	timer_settime(tick, 0, &it, NULL);
}

/* --------------------------------------------------------- fd tables */
#define NFD 16
struct ofd {
	int fd;
	int flags;
	int fifo;
	char name[64];
};
static struct ofd fds[NFD];
static int nfds;

#define NDIR 4
static DIR *dirs[NDIR];
static char dir_name[NDIR][64];

#define NMAP 4
struct map {
	unsigned char *addr;
	size_t len;
	int prot;
	char name[64];
};
static struct map maps[NMAP];

static void close_slot(int i)
{
	logop("close(fd %d = %s)", fds[i].fd, fds[i].name);
	res(close(fds[i].fd));
	fds[i] = fds[--nfds];
}

/* A random open descriptor (-1 if none). */
static int pick_fd(void)
{
	return nfds ? (int)below((uint64_t)nfds) : -1;
}

static int random_open_flags(const char *path, int *mode_out)
{
	static const int acc[] = { O_RDONLY, O_WRONLY, O_RDWR, O_RDWR };
	int f = PICK(acc);
	if (chance(1))
		f = 3;	/* O_ACCMODE: "ioctl only" */
	if (chance(40)) {
		f |= O_CREAT;
		if (chance(30))
			f |= O_EXCL;
	}
	if (chance(20)) f |= O_TRUNC;
	if (chance(15)) f |= O_APPEND;
	if (chance(8)) f |= O_DIRECTORY;
	const char *base = strrchr(path, '/');
	if (chance(20) || (base && base[1] == 'p')) {	/* a FIFO's name */
		if (!chance(3))
			f |= O_NONBLOCK;
	}
	if (chance(5)) f |= O_NOFOLLOW;
	if (chance(3)) f |= chance(50) ? O_SYNC : O_DSYNC;
	if (chance(3)) f |= O_DIRECT;
	if (chance(2)) f |= O_NOATIME;
	if (chance(2)) f = O_PATH | (f & (O_DIRECTORY | O_NOFOLLOW));
	if (chance(2)) f = O_TMPFILE | (chance(50) ? O_RDWR : O_WRONLY) | (chance(30) ? O_EXCL : 0);
	*mode_out = (int)wild_mode();
	return f | O_CLOEXEC;
}

static void flags_str(int f, char *s, size_t n)
{
	static const char *const accs[] = { "RDONLY", "WRONLY", "RDWR", "ACC3" };
	snprintf(s, n, "%s%s%s%s%s%s%s%s%s%s%s%s%s", (f & O_PATH) == O_PATH ? "PATH" : accs[f & 3],
		 f & O_CREAT ? "|CREAT" : "", f & O_EXCL ? "|EXCL" : "",
		 f & O_TRUNC ? "|TRUNC" : "", f & O_APPEND ? "|APPEND" : "",
		 (f & O_TMPFILE) == O_TMPFILE ? "|TMPFILE" : f & O_DIRECTORY ? "|DIRECTORY" : "",
		 f & O_NONBLOCK ? "|NONBLOCK" : "", f & O_NOFOLLOW ? "|NOFOLLOW" : "",
		 (f & O_SYNC) == O_SYNC ? "|SYNC" : f & O_DSYNC ? "|DSYNC" : "",
		 f & O_DIRECT ? "|DIRECT" : "", f & O_NOATIME ? "|NOATIME" : "", "", "");
}

/* Open a random name with random flags into the table. */
static void op_open(void)
{
	char p[PATH_MAX], fl[128];
	int mode, f, fd;
	struct stat st;

	if (nfds == NFD)
		close_slot((int)below(NFD));
	if (chance(3)) {	/* sometimes the directories for ioctl & co. */
		snprintf(p, sizeof(p), "%s%s", opt_mnt, chance(50) ? "" : "/fz");
		f = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
		mode = 0;
	} else {
		pick_path(p, chance(70) ? K_FILE : K_ANY);
		f = random_open_flags(p, &mode);
		if ((f & O_TMPFILE) == O_TMPFILE)
			snprintf(p, sizeof(p), "%s/fz%s", opt_mnt, chance(50) ? "" : "/d0");
	}
	flags_str(f, fl, sizeof(fl));
	if (chance(5) && !(f & (O_PATH | O_DIRECTORY))) {
		logop("creat(%s, 0%o)", rel(p), (unsigned)mode);
		fd = (int)res(creat(p, (mode_t)mode));
		f = O_WRONLY | O_CREAT | O_TRUNC;
	} else {
		logop("open(%s, %s, 0%o)", rel(p), fl, (unsigned)mode);
		fd = (int)res(open(p, f, mode));
	}
	if (fd < 0)
		return;
	fds[nfds].fd = fd;
	fds[nfds].flags = f;
	fds[nfds].fifo = fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
	snprintf(fds[nfds].name, sizeof(fds[0].name), "%s", rel(p));
	nfds++;
}

/* A FIFO descriptor that blocks: usually make it non-blocking first. */
static void tame_fifo(int i)
{
	if (fds[i].fifo && !(fds[i].flags & O_NONBLOCK) && !chance(5)) {
		fcntl(fds[i].fd, F_SETFL, O_NONBLOCK);
		fds[i].flags |= O_NONBLOCK;
	}
}

/* ------------------------------------------------------------- I/O ops */
static void op_read(void)
{
	int i = pick_fd();
	size_t len = wild_len();
	int64_t off = wild_off();
	if (i < 0)
		return op_open();
	tame_fifo(i);
	switch (below(5)) {
	case 0:
		logop("read(fd %d = %s, %zu)", fds[i].fd, fds[i].name, len);
		res(read(fds[i].fd, buf, len));
		break;
	case 1: {
		struct iovec iov[3] = { { buf, len / 3 }, { buf + len / 3, 1 }, { buf + 65536, len / 2 } };
		logop("preadv2(fd %d = %s, %zu, off %" PRId64 ")", fds[i].fd, fds[i].name, len, off);
		res(preadv2(fds[i].fd, iov, 3, off, chance(80) ? 0 : (int)below(32)));
		break;
	}
	default:
		logop("pread(fd %d = %s, %zu, off %" PRId64 ")", fds[i].fd, fds[i].name, len, off);
		res(pread(fds[i].fd, buf, len, off));
	}
}

static void op_write(void)
{
	int i = pick_fd();
	size_t len = wild_len();
	int64_t off = wild_off();
	if (i < 0)
		return op_open();
	tame_fifo(i);
	if (chance(30))
		memset(buf, (int)below(256), len < 4096 ? len : 4096);
	switch (below(5)) {
	case 0:
		logop("write(fd %d = %s, %zu)", fds[i].fd, fds[i].name, len);
		res(write(fds[i].fd, buf, len));
		break;
	case 1: {
		struct iovec iov[2] = { { buf, len / 2 }, { buf + 4096, len - len / 2 } };
		int fl = chance(70) ? 0 : (int)below(64);
		logop("pwritev2(fd %d = %s, %zu, off %" PRId64 ", flags 0x%x)", fds[i].fd,
		      fds[i].name, len, off, (unsigned)fl);
		res(pwritev2(fds[i].fd, iov, 2, off, fl));
		break;
	}
	default:
		logop("pwrite(fd %d = %s, %zu, off %" PRId64 ")", fds[i].fd, fds[i].name, len, off);
		res(pwrite(fds[i].fd, buf, len, off));
	}
}

static void op_truncate(void)
{
	int64_t sz = wild_size();
	int i = pick_fd();
	if (i >= 0 && chance(60)) {
		logop("ftruncate(fd %d = %s, %" PRId64 ")", fds[i].fd, fds[i].name, sz);
		res(ftruncate(fds[i].fd, sz));
	} else {
		char p[PATH_MAX];
		pick_path(p, K_FILE);
		logop("truncate(%s, %" PRId64 ")", rel(p), sz);
		res(truncate(p, sz));
	}
}

static void op_fallocate(void)
{
	static const int modes[] = {
		0, 0, 0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		FALLOC_FL_ZERO_RANGE, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
		FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE, FALLOC_FL_UNSHARE_RANGE,
		FALLOC_FL_PUNCH_HOLE,
	};
	int i = pick_fd();
	int mode = chance(10) ? (int)below(128) : PICK(modes);
	int64_t off = chance(50) ? 0 : wild_off(), len = wild_size();
	if (i < 0)
		return op_open();
	logop("fallocate(fd %d = %s, mode 0x%x, off %" PRId64 ", len %" PRId64 ")", fds[i].fd,
	      fds[i].name, (unsigned)mode, off, len);
	res(fallocate(fds[i].fd, mode, off, len));
}

static void op_sync(void)
{
	int i = pick_fd();
	if (i < 0)
		return op_open();
	switch (below(4)) {
	case 0:
		logop("fdatasync(fd %d = %s)", fds[i].fd, fds[i].name);
		res(fdatasync(fds[i].fd));
		break;
	case 1: {
		int64_t off = wild_off(), len = wild_size();
		unsigned fl = (unsigned)below(8);
		logop("sync_file_range(fd %d = %s, %" PRId64 ", %" PRId64 ", 0x%x)", fds[i].fd,
		      fds[i].name, off, len, fl);
		res(sync_file_range(fds[i].fd, off, len, fl));
		break;
	}
	default:
		logop("fsync(fd %d = %s)", fds[i].fd, fds[i].name);
		res(fsync(fds[i].fd));
	}
}

static void op_lseek(void)
{
	static const int wh[] = { SEEK_SET, SEEK_CUR, SEEK_END, SEEK_DATA, SEEK_HOLE, 7 };
	int i = pick_fd();
	int w = PICK(wh);
	int64_t off = wild_off();
	if (i < 0)
		return op_open();
	logop("lseek(fd %d = %s, %" PRId64 ", %d)", fds[i].fd, fds[i].name, off, w);
	res(lseek(fds[i].fd, off, w));
}

static void op_copy_range(void)
{
	int a = pick_fd(), b = pick_fd();
	loff_t oa = wild_off(), ob = wild_off();
	size_t len = wild_len();
	if (a < 0)
		return op_open();
	if (chance(20)) {
		logop("sendfile(fd %d = %s <- fd %d = %s, %zu)", fds[b].fd, fds[b].name, fds[a].fd,
		      fds[a].name, len);
		tame_fifo(a);
		tame_fifo(b);
		res(sendfile(fds[b].fd, fds[a].fd, chance(50) ? NULL : &oa, len));
		return;
	}
	logop("copy_file_range(fd %d = %s @%" PRId64 " -> fd %d = %s @%" PRId64 ", %zu)", fds[a].fd,
	      fds[a].name, (int64_t)oa, fds[b].fd, fds[b].name, (int64_t)ob, len);
	res(copy_file_range(fds[a].fd, chance(80) ? &oa : NULL, fds[b].fd, chance(80) ? &ob : NULL,
			    len, chance(95) ? 0 : 1));
}

static void op_lock(void)
{
	int i = pick_fd();
	if (i < 0)
		return op_open();
	if (chance(40)) {
		static const int how[] = { LOCK_SH, LOCK_EX, LOCK_UN };
		int h = PICK(how) | LOCK_NB;
		logop("flock(fd %d = %s, %d)", fds[i].fd, fds[i].name, h);
		res(flock(fds[i].fd, h));
		return;
	}
	static const int cmds[] = { F_SETLK, F_GETLK, F_OFD_SETLK, F_OFD_GETLK };
	static const short types[] = { F_RDLCK, F_WRLCK, F_UNLCK };
	struct flock fl = {
		.l_type = PICK(types), .l_whence = (short)below(3),
		.l_start = chance(50) ? 0 : wild_off(), .l_len = chance(50) ? 0 : (off_t)wild_len(),
	};
	int c = PICK(cmds);
	logop("fcntl(fd %d = %s, lock cmd %d type %d start %" PRId64 " len %" PRId64 ")", fds[i].fd,
	      fds[i].name, c, fl.l_type, (int64_t)fl.l_start, (int64_t)fl.l_len);
	res(fcntl(fds[i].fd, c, &fl));
}

static void op_setfl(void)
{
	int i = pick_fd();
	int f = (chance(50) ? O_APPEND : 0) | (chance(50) ? O_NONBLOCK : 0) |
		(chance(10) ? O_DIRECT : 0) | (chance(5) ? O_NOATIME : 0);
	if (i < 0)
		return op_open();
	if (fds[i].fifo)
		f |= O_NONBLOCK;
	logop("fcntl(fd %d = %s, F_SETFL, 0x%x)", fds[i].fd, fds[i].name, (unsigned)f);
	if (res(fcntl(fds[i].fd, F_SETFL, f)) == 0)
		fds[i].flags = (fds[i].flags & ~(O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME)) | f;
}

/* ------------------------------------------------------------- mappings */
static void map_touch(struct map *m, int n)
{
	while (n-- > 0) {
		size_t off = chance(30) ? below(page) : below(m->len);
		int store = (m->prot & PROT_WRITE) ? chance(60) : chance(5);
		logop("%s mapping of %s [%zu] (len %zu, prot %d)", store ? "store to" : "load from",
		      m->name, off, m->len, m->prot);
		res(touch(m->addr + off, store, (unsigned char)rnd()));
	}
}

static void unmap_slot(struct map *m)
{
	logop("munmap(mapping of %s, %zu)", m->name, m->len);
	res(munmap(m->addr, m->len));
	m->addr = NULL;
}

static void op_mmap(void)
{
	int i = pick_fd();
	size_t len;
	int64_t off;
	int prot, flags;
	void *a;
	struct map *m;

	if (i < 0)
		return op_open();
	switch (below(7)) {
	case 0: len = 0; break;
	case 1: len = 1 + below(page); break;
	case 2: len = page * (1 + below(16)); break;
	case 3: len = below(1 << 20) + 1; break;
	case 4: len = below(16 << 20) + 1; break;
	case 5: len = 64 << 20; break;
	default: len = page * (1 + below(512)); break;
	}
	switch (below(6)) {
	case 0: off = wild_off(); break;
	case 1: off = (int64_t)(below(4096) * page); break;
	default: off = chance(70) ? 0 : (int64_t)(below(64) * page); break;
	}
	prot = (int)below(4);		/* NONE, READ, WRITE, READ|WRITE */
	if (chance(2))
		prot |= PROT_EXEC;
	flags = chance(60) ? MAP_SHARED : MAP_PRIVATE;
	if (chance(3))
		flags = MAP_SHARED_VALIDATE | (int)(below(4) << 16);
	if (chance(5))
		flags |= MAP_POPULATE;
	if (chance(2))
		flags |= MAP_NORESERVE;
	logop("mmap(fd %d = %s, len %zu, off %" PRId64 ", prot %d, flags 0x%x)", fds[i].fd,
	      fds[i].name, len, off, prot, (unsigned)flags);
	a = mmap(NULL, len, prot, flags, fds[i].fd, off);
	if (res(a == MAP_FAILED ? -1 : 0) < 0)
		return;
	m = &maps[below(NMAP)];
	if (m->addr)
		unmap_slot(m);
	m->addr = a;
	m->len = len;
	m->prot = prot;
	snprintf(m->name, sizeof(m->name), "%s", fds[i].name);
	map_touch(m, 1 + (int)below(4));
	if (chance(50))
		unmap_slot(m);
}

static void op_map_other(void)
{
	struct map *m = &maps[below(NMAP)];
	if (!m->addr)
		return op_mmap();
	switch (below(8)) {
	case 0: case 1: case 2:
		map_touch(m, 1 + (int)below(8));
		break;
	case 3: case 4: {
		static const int fl[] = { MS_SYNC, MS_ASYNC, MS_INVALIDATE, MS_SYNC | MS_INVALIDATE, 0, 7 };
		size_t off = chance(70) ? 0 : below(m->len) & ~(page - 1);
		size_t len = chance(50) ? m->len - off : below(m->len - off + 1);
		int f = PICK(fl);
		logop("msync(mapping of %s +%zu, %zu, %d)", m->name, off, len, f);
		res(msync(m->addr + off, len, f));
		break;
	}
	case 5: {
		static const int adv[] = { MADV_DONTNEED, MADV_REMOVE, MADV_WILLNEED, MADV_SEQUENTIAL,
					   MADV_COLD, MADV_PAGEOUT, MADV_POPULATE_READ,
					   MADV_POPULATE_WRITE };
		size_t len = chance(50) ? m->len : below(m->len) + 1;
		int a = PICK(adv);
		logop("madvise(mapping of %s, %zu, %d)", m->name, len, a);
		res(madvise(m->addr, len, a));
		break;
	}
	case 6: {
		size_t nl = chance(50) && m->len <= (128u << 20) ? m->len * 2 : below(m->len) + 1;
		void *a;
		logop("mremap(mapping of %s, %zu -> %zu)", m->name, m->len, nl);
		a = mremap(m->addr, m->len, nl, MREMAP_MAYMOVE);
		if (res(a == MAP_FAILED ? -1 : 0) == 0) {
			m->addr = a;
			m->len = nl;
			map_touch(m, 2);
		}
		break;
	}
	default:
		unmap_slot(m);
	}
}

/* ---------------------------------------------------------------- ioctl */
static unsigned long random_ioctl_cmd(void)
{
	static const unsigned long cmafs[] = {
		CMAFS_IOC_INFO, CMAFS_IOC_SYNC, CMAFS_IOC_SET_CACHE, CMAFS_IOC_SET_ALIGN,
	};
	static const unsigned long generic[] = {
		FIONREAD, FS_IOC_GETFLAGS, FS_IOC_SETFLAGS, FS_IOC_GETVERSION, FS_IOC_FSGETXATTR,
		FS_IOC_FSSETXATTR, FIGETBSZ, FIBMAP, FIONBIO, FIOQSIZE, FS_IOC_FIEMAP,
		FS_IOC_GETFSLABEL, FS_IOC_RESVSP, FS_IOC_UNRESVSP, FS_IOC_ZERO_RANGE,
		_IOR('f', 1, long), _IO(0xCF, 0), _IOWR(0xCF, 1, struct cmafs_info),
	};
	static const unsigned sizes[] = { 0, 1, 4, 8, 16, 24, 32, 64, 72, 80, 128, 4096, 8192, 16383 };
	switch (below(10)) {
	case 0: case 1: case 2:
		return PICK(cmafs);
	case 3: case 4: case 5:
		return _IOC(below(4), CMAFS_IOC_MAGIC, below(chance(80) ? 8 : 256),
			    chance(80) ? PICK(sizes) : below(16384));
	case 6: case 7:
		return PICK(generic);
	default:
		return (unsigned long)(uint32_t)rnd();
	}
}

static void fill_ioctl_payload(unsigned long cmd)
{
	size_t n = _IOC_SIZE(cmd);
	if (n > 16384)
		n = 16384;
	if (chance(50))
		memset(buf, chance(50) ? 0 : 0xff, n + 64);
	else
		for (size_t j = 0; j < n + 64; j += 8) {
			uint64_t r = rnd();
			memcpy(buf + j, &r, 8);
		}
	if (cmd == CMAFS_IOC_SYNC && chance(70)) {
		struct cmafs_sync s = {
			.offset = chance(50) ? 0 : (uint64_t)wild_off(),
			.length = chance(30) ? 0 : (uint64_t)wild_size(),
			.direction = chance(80) ? 1 + (uint32_t)below(2) : (uint32_t)rnd(),
			.reserved = chance(80) ? 0 : (uint32_t)rnd(),
		};
		memcpy(buf, &s, sizeof(s));
	} else if (cmd == CMAFS_IOC_SET_CACHE && chance(70)) {
		uint32_t c = (uint32_t)below(4);
		memcpy(buf, &c, sizeof(c));
	} else if (cmd == CMAFS_IOC_SET_ALIGN && chance(70)) {
		uint64_t al = chance(70) ? (uint64_t)1 << below(64) : rnd();
		memcpy(buf, &al, sizeof(al));
	}
}

static void op_ioctl(void)
{
	int i = pick_fd(), fd, tmp = -1;
	char p[PATH_MAX];
	const char *name;
	unsigned long cmd = random_ioctl_cmd();
	void *arg = buf;

	if (i < 0 || chance(25)) {	/* a fresh descriptor: directories, FIFO, .stats */
		switch (below(6)) {
		case 0: snprintf(p, sizeof(p), "%s", opt_mnt); break;
		case 1: snprintf(p, sizeof(p), "%s/.stats", opt_mnt); break;
		case 2: pick_path(p, K_DIR); break;
		case 3: pick_path(p, K_FIFO); break;
		default: pick_path(p, K_FILE); break;
		}
		tmp = open(p, (chance(50) ? O_RDONLY : O_RDWR) | O_NONBLOCK | O_CLOEXEC);
		if (tmp < 0 && errno == EISDIR)
			tmp = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (tmp < 0) {
			logop("open(%s) for ioctl", rel(p));
			res(-1);
			return;
		}
		fd = tmp;
		name = rel(p);
	} else {
		fd = fds[i].fd;
		name = fds[i].name;
	}
	fill_ioctl_payload(cmd);
	if (chance(3))
		arg = NULL;
	else if (chance(3))
		arg = (void *)(uintptr_t)16;
	logop("ioctl(fd %d = %s, 0x%lx, %s)", fd, name, cmd,
	      arg == buf ? "buffer" : arg ? "bad pointer" : "NULL");
	res(ioctl(fd, cmd, arg));
	if (tmp >= 0)
		close(tmp);
}

/* --------------------------------------------------------------- xattrs */
static const char *pick_xattr_name(char *out, size_t n)
{
	static const char *const cma[] = {
		"user.cma.phys_addr", "user.cma.dma_addr", "user.cma.size", "user.cma.cache",
		"user.cma.align", "user.cma.mmap", "user.cma.sync",
	};
	static const char *const odd[] = {
		"user.cma.", "user.cma.nothing", "user.", "user.cma", "trusted.x", "security.x",
		"system.posix_acl_access", "system.posix_acl_default", "os2.x", "", "user.cma.sync\n",
		"user.CMA.size",
	};
	unsigned r = (unsigned)below(100);
	if (r < 50)
		return PICK(cma);
	if (r < 80) {
		snprintf(out, n, "user.x%u", (unsigned)below(8));
		return out;
	}
	if (r < 88) {
		size_t len = 200 + below(60);
		memcpy(out, "user.", 5);
		memset(out + 5, 'n', len);
		out[5 + len] = 0;
		return out;
	}
	if (r < 95)
		return PICK(odd);
	/* random bytes (no NUL) */
	size_t len = 1 + below(40);
	for (size_t j = 0; j < len && j < n - 1; j++)
		out[j] = (char)(1 + below(255));
	out[len < n - 1 ? len : n - 1] = 0;
	return out;
}

/* A value into buf; returns its length. */
static size_t pick_xattr_value(void)
{
	static const char *const valid[] = {
		"cached", "uncached", "writecombine", "cached\n", "2M", "0x200000", "4096", "4K",
		"64K", "1G", "device", "cpu", "device 0 4096", "cpu 4096 0", "device 0 0",
		"cpu 0 1", "device\n", "device 4096 4096\n", "direct", "0x10000000", "0", "1",
		"device 18446744073709551615 1", "cpu 1 18446744073709551615", "device -1 5",
		"device 0 4096 extra", "cpu  0  4096", "3", "0x1000", "1T", "16E", "9999999999999999999999",
		"uncached ", " cached", "CACHED", "device 0", "sync", "", "\n", "2048", "12288",
	};
	size_t len;
	switch (below(10)) {
	case 0: case 1: case 2: case 3: case 4: {
		const char *v = PICK(valid);
		len = strlen(v);
		memcpy(buf, v, len);
		if (chance(10))
			buf[len++] = 0;	/* with the NUL */
		return len;
	}
	case 5: case 6:
		len = below(64);
		break;
	case 7:
		len = below(4096);
		break;
	default:
		len = below(70001);
		break;
	}
	if (chance(50))
		for (size_t j = 0; j < len; j++)
			buf[j] = (unsigned char)(' ' + below(95));
	else
		for (size_t j = 0; j < len; j++)
			buf[j] = (unsigned char)rnd();
	return len;
}

/* The target of an xattr operation: a descriptor or a path. */
struct target {
	int fd;			/* >= 0: f*xattr */
	int nofollow;		/* l*xattr */
	char path[PATH_MAX];
	char desc[96];
};
static void pick_target(struct target *t)
{
	int i = pick_fd();
	t->nofollow = 0;
	t->fd = -1;
	if (i >= 0 && chance(35)) {
		t->fd = fds[i].fd;
		snprintf(t->desc, sizeof(t->desc), "fd %d = %s", fds[i].fd, fds[i].name);
		return;
	}
	pick_path(t->path, chance(75) ? K_FILE : K_ANY);
	t->nofollow = chance(10);
	snprintf(t->desc, sizeof(t->desc), "%s%s", t->nofollow ? "l:" : "", rel(t->path));
}

static void op_getxattr(void)
{
	struct target t;
	char nb[320];
	const char *name;
	size_t sz;
	pick_target(&t);
	name = pick_xattr_name(nb, sizeof(nb));
	switch (below(4)) {
	case 0: sz = 0; break;
	case 1: sz = below(16); break;
	case 2: sz = 70000; break;
	default: sz = 256; break;
	}
	logop("getxattr(%s, \"%.40s\", %zu)", t.desc, name, sz);
	if (t.fd >= 0)
		res(fgetxattr(t.fd, name, buf, sz));
	else if (t.nofollow)
		res(lgetxattr(t.path, name, buf, sz));
	else
		res(getxattr(t.path, name, buf, sz));
}

static void op_setxattr(void)
{
	struct target t;
	char nb[320];
	const char *name;
	size_t len;
	int fl = chance(80) ? 0 : (int)below(4);	/* XATTR_CREATE 1, XATTR_REPLACE 2 */
	pick_target(&t);
	name = pick_xattr_name(nb, sizeof(nb));
	len = pick_xattr_value();
	logop("setxattr(%s, \"%.40s\", \"%.*s\"%s, %zu, %d)", t.desc, name,
	      (int)(len < 24 ? len : 24), (const char *)buf, len > 24 ? "..." : "", len, fl);
	if (t.fd >= 0)
		res(fsetxattr(t.fd, name, buf, len, fl));
	else if (t.nofollow)
		res(lsetxattr(t.path, name, buf, len, fl));
	else
		res(setxattr(t.path, name, buf, len, fl));
}

static void op_listxattr(void)
{
	struct target t;
	size_t sz = chance(30) ? 0 : chance(30) ? below(32) : 70000;
	pick_target(&t);
	logop("listxattr(%s, %zu)", t.desc, sz);
	if (t.fd >= 0)
		res(flistxattr(t.fd, (char *)buf, sz));
	else if (t.nofollow)
		res(llistxattr(t.path, (char *)buf, sz));
	else
		res(listxattr(t.path, (char *)buf, sz));
}

static void op_removexattr(void)
{
	struct target t;
	char nb[320];
	const char *name;
	pick_target(&t);
	name = pick_xattr_name(nb, sizeof(nb));
	logop("removexattr(%s, \"%.40s\")", t.desc, name);
	if (t.fd >= 0)
		res(fremovexattr(t.fd, name));
	else if (t.nofollow)
		res(lremovexattr(t.path, name));
	else
		res(removexattr(t.path, name));
}

/* ----------------------------------------------------------- namespace */
static enum kind random_kind(void) { return (enum kind)below(5); }

static void op_rename(void)
{
	char a[PATH_MAX], b[PATH_MAX];
	static const unsigned fl[] = {
		0, 0, 0, RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_NOREPLACE | RENAME_EXCHANGE,
		RENAME_WHITEOUT, 8,
	};
	unsigned f = PICK(fl);
	pick_path(a, chance(60) ? K_FILE : random_kind());
	pick_path(b, chance(60) ? K_FILE : random_kind());
	logop("renameat2(%s, %s, %u)", rel(a), rel(b), f);
	if (f == 0 && chance(50))
		res(rename(a, b));
	else
		res(renameat2(AT_FDCWD, a, AT_FDCWD, b, f));
}

static void op_link(void)
{
	char a[PATH_MAX], b[PATH_MAX];
	pick_path(a, chance(80) ? K_FILE : random_kind());
	pick_path(b, K_FILE);
	logop("link(%s, %s)", rel(a), rel(b));
	res(link(a, b));
}

static void op_unlink(void)
{
	char p[PATH_MAX];
	pick_path(p, chance(70) ? K_FILE : random_kind());
	logop("unlink(%s)", rel(p));
	res(unlink(p));
}

static void op_symlink(void)
{
	char p[PATH_MAX];
	static char longt[4200];
	char abst[PATH_MAX];
	const char *t = PICK(link_targets);
	pick_path(p, chance(70) ? K_LINK : random_kind());
	if (!*t) {
		snprintf(abst, sizeof(abst), "%s/fz/f4", opt_mnt);
		t = abst;
	}
	if (chance(3)) {
		size_t n = chance(50) ? 4095 : 4096;
		memset(longt, 'x', n);
		longt[n] = 0;
		t = longt;
	}
	logop("symlink(%.40s, %s)", t, rel(p));
	res(symlink(t, p));
}

static void op_readlink(void)
{
	char p[PATH_MAX];
	size_t sz = chance(20) ? below(8) : 8192;
	pick_path(p, chance(70) ? K_LINK : random_kind());
	logop("readlink(%s, %zu)", rel(p), sz);
	res(readlink(p, (char *)buf, sz));
}

static void op_mkdir(void)
{
	char p[PATH_MAX];
	mode_t m = chance(60) ? 0777 : wild_mode();
	pick_path(p, chance(75) ? K_DIR : random_kind());
	logop("mkdir(%s, 0%o)", rel(p), (unsigned)m);
	res(mkdir(p, m));
}

static void op_rmdir(void)
{
	char p[PATH_MAX];
	pick_path(p, chance(75) ? K_DIR : random_kind());
	logop("rmdir(%s)", rel(p));
	res(rmdir(p));
}

static void op_mknod(void)
{
	char p[PATH_MAX];
	static const mode_t types[] = { S_IFIFO, S_IFIFO, S_IFIFO, S_IFREG, S_IFSOCK, S_IFCHR, 0 };
	mode_t m = PICK(types) | (wild_mode() & 07777);
	pick_path(p, chance(75) ? K_FIFO : random_kind());
	logop("mknod(%s, 0%o)", rel(p), (unsigned)m);
	res(mknod(p, m, S_ISCHR(m) ? makedev(1, 3) : 0));
}

/* ----------------------------------------------------------- directories */
static void op_dir(void)
{
	int s = (int)below(NDIR);
	if (!dirs[s] || chance(20)) {
		char p[PATH_MAX];
		if (dirs[s]) {
			logop("closedir(%s)", dir_name[s]);
			res(closedir(dirs[s]));
			dirs[s] = NULL;
		}
		switch (below(4)) {
		case 0: snprintf(p, sizeof(p), "%s", opt_mnt); break;
		case 1: snprintf(p, sizeof(p), "%s/fz", opt_mnt); break;
		default: pick_path(p, chance(80) ? K_DIR : K_ANY); break;
		}
		logop("opendir(%s)", rel(p));
		dirs[s] = opendir(p);
		res(dirs[s] ? 0 : -1);
		snprintf(dir_name[s], sizeof(dir_name[0]), "%s", rel(p));
		if (!dirs[s])
			return;
	}
	switch (below(6)) {
	case 0:
		logop("rewinddir(%s)", dir_name[s]);
		rewinddir(dirs[s]);
		res(0);
		break;
	case 1:
		logop("closedir(%s)", dir_name[s]);
		res(closedir(dirs[s]));
		dirs[s] = NULL;
		break;
	default: {
		/* a few entries, or all of them */
		int n = chance(40) ? INT_MAX : 1 + (int)below(4);
		struct dirent *d;
		logop("readdir(%s, %s)", dir_name[s], n == INT_MAX ? "all" : "some");
		errno = 0;
		while (n-- > 0 && (d = readdir(dirs[s])) != NULL) {
			if (chance(10)) {	/* stat what it lists */
				struct stat st;
				fstatat(dirfd(dirs[s]), d->d_name, &st, AT_SYMLINK_NOFOLLOW);
			}
		}
		res(errno ? -1 : 0);
	}
	}
}

static void op_getdents(void)
{
	int i = pick_fd();
	size_t sz = chance(20) ? below(64) : chance(50) ? 32768 : 1 + below(4096);
	if (i < 0)
		return op_open();
	logop("getdents64(fd %d = %s, %zu)", fds[i].fd, fds[i].name, sz);
	res(syscall(SYS_getdents64, fds[i].fd, buf, sz));
}

/* ------------------------------------------------------------ attributes */
static void op_stat(void)
{
	struct stat st;
	struct statx stx;
	char p[PATH_MAX];
	int i = pick_fd();
	switch (below(5)) {
	case 0:
		if (i >= 0) {
			logop("fstat(fd %d = %s)", fds[i].fd, fds[i].name);
			res(fstat(fds[i].fd, &st));
			break;
		}
		/* fall through */
	case 1:
		pick_path(p, K_ANY);
		logop("lstat(%s)", rel(p));
		res(lstat(p, &st));
		break;
	case 2:
		pick_path(p, K_ANY);
		logop("statx(%s)", rel(p));
		res(statx(AT_FDCWD, p, chance(50) ? AT_STATX_FORCE_SYNC : 0, STATX_ALL, &stx));
		break;
	case 3:
		pick_path(p, K_ANY);
		logop("access(%s)", rel(p));
		res(access(p, (int)below(8)));
		break;
	default:
		pick_path(p, K_ANY);
		logop("stat(%s)", rel(p));
		res(stat(p, &st));
	}
}

static void op_chmod(void)
{
	mode_t m = wild_mode();
	int i = pick_fd();
	if (i >= 0 && chance(40)) {
		logop("fchmod(fd %d = %s, 0%o)", fds[i].fd, fds[i].name, (unsigned)m);
		res(fchmod(fds[i].fd, m));
	} else {
		char p[PATH_MAX];
		pick_path(p, chance(60) ? K_FILE : K_ANY);
		logop("chmod(%s, 0%o)", rel(p), (unsigned)m);
		res(chmod(p, m));
	}
}

static void op_chown(void)
{
	uid_t u = chance(60) ? getuid() : chance(50) ? (uid_t)-1 : users[below((uint64_t)nusers)].uid;
	gid_t g = chance(60) ? getgid() : (gid_t)-1;
	int i = pick_fd();
	if (i >= 0 && chance(40)) {
		logop("fchown(fd %d = %s, %d, %d)", fds[i].fd, fds[i].name, (int)u, (int)g);
		res(fchown(fds[i].fd, u, g));
	} else {
		char p[PATH_MAX];
		int nofollow = chance(20);
		pick_path(p, K_ANY);
		logop("%schown(%s, %d, %d)", nofollow ? "l" : "", rel(p), (int)u, (int)g);
		res(nofollow ? lchown(p, u, g) : chown(p, u, g));
	}
}

static void op_utimens(void)
{
	struct timespec ts[2];
	char p[PATH_MAX];
	int i = pick_fd(), j, null = chance(15);
	for (j = 0; j < 2; j++) {
		switch (below(6)) {
		case 0: ts[j].tv_sec = 0; ts[j].tv_nsec = UTIME_NOW; break;
		case 1: ts[j].tv_sec = 0; ts[j].tv_nsec = UTIME_OMIT; break;
		case 2: ts[j].tv_sec = -(time_t)below(1u << 31); ts[j].tv_nsec = 0; break;
		case 3: ts[j].tv_sec = (time_t)rnd() >> 1; ts[j].tv_nsec = (long)below(1000000000); break;
		case 4: ts[j].tv_sec = 1; ts[j].tv_nsec = 1000000000L + (long)below(10); break;
		default: ts[j].tv_sec = time(NULL); ts[j].tv_nsec = (long)below(1000000000); break;
		}
	}
	if (i >= 0 && chance(40)) {
		logop("futimens(fd %d = %s)", fds[i].fd, fds[i].name);
		res(futimens(fds[i].fd, null ? NULL : ts));
	} else {
		int fl = chance(20) ? AT_SYMLINK_NOFOLLOW : 0;
		pick_path(p, K_ANY);
		logop("utimensat(%s, %s, %d)", rel(p), null ? "NULL" : "times", fl);
		res(utimensat(AT_FDCWD, p, null ? NULL : ts, fl));
	}
}

static void op_statfs(void)
{
	struct statfs sf;
	int i = pick_fd();
	if (i >= 0 && chance(50)) {
		logop("fstatfs(fd %d = %s)", fds[i].fd, fds[i].name);
		res(fstatfs(fds[i].fd, &sf));
	} else {
		char p[PATH_MAX];
		pick_path(p, K_ANY);
		logop("statfs(%s)", rel(p));
		res(statfs(p, &sf));
	}
}

static void op_read_stats(void)
{
	int fd;
	logop("open+read(.stats)");
	fd = (int)res(open(stats_path, O_RDONLY | O_CLOEXEC));
	if (fd < 0)
		return;
	logop("read(.stats, off %d)", 0);
	res(pread(fd, buf, chance(80) ? 4096 : below(64), chance(80) ? 0 : wild_off()));
	close(fd);
}

/* ------------------------------------------------------------ the loop */
struct opdef {
	void (*fn)(void);
	unsigned weight;
};
static void op_close(void)
{
	int i = pick_fd();
	if (i < 0)
		return op_open();
	close_slot(i);
}

static const struct opdef ops[] = {
	{ op_open, 14 },      { op_close, 7 },       { op_read, 7 },         { op_write, 9 },
	{ op_truncate, 7 },   { op_fallocate, 3 },   { op_mmap, 5 },         { op_map_other, 5 },
	{ op_sync, 2 },       { op_ioctl, 7 },       { op_getxattr, 4 },     { op_setxattr, 5 },
	{ op_listxattr, 2 },  { op_removexattr, 2 }, { op_rename, 4 },       { op_link, 2 },
	{ op_unlink, 4 },     { op_symlink, 2 },     { op_readlink, 1 },     { op_mkdir, 2 },
	{ op_rmdir, 2 },      { op_mknod, 2 },       { op_dir, 3 },          { op_getdents, 1 },
	{ op_stat, 4 },       { op_chmod, 2 },       { op_chown, 1 },        { op_utimens, 1 },
	{ op_statfs, 1 },     { op_lseek, 1 },       { op_copy_range, 1 },   { op_lock, 1 },
	{ op_setfl, 1 },      { op_read_stats, 1 },
};

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_errs(const void *a, const void *b)
{
	unsigned long x = errs[*(const int *)a], y = errs[*(const int *)b];
	return x < y ? 1 : x > y ? -1 : 0;
}

static void summary(double secs)
{
	int idx[256], j, k;
	char line[1024];
	size_t n = 0;
	for (j = 0; j < 256; j++)
		idx[j] = j;
	qsort(idx, 256, sizeof(idx[0]), cmp_errs);
	n += (size_t)snprintf(line + n, sizeof(line) - n,
			      "fsfuzz: child %d (uid %u): %lu ops in %.1f s, %lu failed (", me,
			      (unsigned)getuid(), nops, secs, nfail);
	for (k = 0; k < 8 && errs[idx[k]]; k++) {
		const char *nm = strerrorname_np(idx[k]);
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s %lu", k ? ", " : "",
				      nm ? nm : "?", errs[idx[k]]);
		if (n >= sizeof(line))
			break;
	}
	fprintf(stderr, "%s%s), %lu faults caught in mappings, %lu timer interrupts\n", line,
		k == 8 && errs[idx[8]] ? ", ..." : "", ncaught, nintr);
}

static void child(int idx, const struct user *u)
{
	struct sigaction sa;
	struct sigevent sev;
	struct rlimit rl = { 0, 0 };
	double start, end;
	int j;
	unsigned total = 0;

	me = idx;
	rng_base = opt_seed ^ (0x632be59bd9b4e019ULL * (uint64_t)(idx + 1));
	rng = splitmix(&rng_base);
	page = (size_t)sysconf(_SC_PAGESIZE);
	snprintf(stats_path, sizeof(stats_path), "%s/.stats", opt_mnt);
	setrlimit(RLIMIT_CORE, &rl);

	if (geteuid() == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(u->gid, u->gid, u->gid) < 0 ||
		    setresuid(u->uid, u->uid, u->uid) < 0) {
			fprintf(stderr, "fsfuzz: child %d: cannot switch to uid %u gid %u: %s\n", idx,
				(unsigned)u->uid, (unsigned)u->gid, strerror(errno));
			exit(EXIT_SETUP);
		}
	} else if (getuid() != u->uid) {
		fprintf(stderr, "fsfuzz: child %d: not root, cannot run as uid %u\n", idx, (unsigned)u->uid);
		exit(EXIT_SETUP);
	}
	/* cleared by the credential change, so set after it */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		exit(EXIT_SETUP);
	umask(0);
	if (chdir("/") < 0)
		exit(EXIT_SETUP);

	/* the watchdog: default action of SIGALRM kills, even in a FUSE request */
	alarm((unsigned)(opt_secs + opt_slack));

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fault;
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	sa.sa_handler = on_tick;	/* no SA_RESTART: blocking calls return EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGIO, &sa, NULL);	/* FIOASYNC among the random ioctls */
	sigaction(SIGURG, &sa, NULL);
	sigaction(SIGXFSZ, &sa, NULL);
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGUSR1;
	if (timer_create(CLOCK_MONOTONIC, &sev, &tick) < 0) {
		fprintf(stderr, "fsfuzz: child %d: timer_create: %s\n", idx, strerror(errno));
		exit(EXIT_SETUP);
	}

	buf = malloc(BUF_SIZE);
	if (!buf)
		exit(EXIT_SETUP);
	for (size_t k = 0; k < BUF_SIZE; k += 8) {
		uint64_t r = rnd();
		memcpy(buf + k, &r, 8);
	}
	for (j = 0; j < (int)(sizeof(ops) / sizeof(ops[0])); j++)
		total += ops[j].weight;

	start = now();
	end = start + (double)opt_secs;
	while (opt_maxops < 0 || (long)nops < opt_maxops) {
		unsigned w;
		if ((nops & 15) == 0 && now() >= end)
			break;
		if ((nops & 255) == 0)
			check_alive();
		/* Operation k of child i draws from a stream of its own: the kind
		 * and the arguments of each operation depend on (seed, i, k) and
		 * on the state (open descriptors, mappings), not on how many
		 * numbers the operations before it happened to draw. */
		{
			uint64_t st = rng_base + nops * 0xd1b54a32d192ed03ULL;
			rng = splitmix(&st);
		}
		/* interrupt whatever blocks; sometimes a request in flight */
		arm_tick(chance(2) ? (long)(1 + below(2000)) * 1000 : 100000000L);
		w = (unsigned)below(total);
		for (j = 0; w >= ops[j].weight; j++)
			w -= ops[j].weight;
		ops[j].fn();
		nops++;
	}
	arm_tick(0);

	/* let go of everything; the daemon must still answer */
	for (j = 0; j < NMAP; j++)
		if (maps[j].addr)
			unmap_slot(&maps[j]);
	while (nfds)
		close_slot(nfds - 1);
	for (j = 0; j < NDIR; j++)
		if (dirs[j]) {
			logop("closedir(%s)", dir_name[j]);
			res(closedir(dirs[j]));
		}
	check_alive();
	summary(now() - start);
	exit(0);
}

/* ---------------------------------------------------------------- parent */
static volatile sig_atomic_t parent_timeout, parent_stop;
static void on_parent_alarm(int sig) { (void)sig; parent_timeout = 1; }
static void on_parent_term(int sig) { (void)sig; parent_stop = 1; }

static void usage(void)
{
	fprintf(stderr, "usage: fsfuzz -m MOUNTPOINT -u UID[:GID] [-u UID2[:GID2] ...] -t SECONDS -s SEED\n"
			"              [-p PROCS_PER_USER] [-n MAX_OPS] [-w WATCHDOG_SLACK] [-v]\n");
	exit(2);
}

static int parse_user(const char *s, struct user *u)
{
	char *e;
	unsigned long x = strtoul(s, &e, 10);
	if (e == s)
		return -1;
	u->uid = (uid_t)x;
	u->gid = (gid_t)x;
	if (*e == ':') {
		const char *g = e + 1;
		x = strtoul(g, &e, 10);
		if (e == g)
			return -1;
		u->gid = (gid_t)x;
	}
	return *e ? -1 : 0;
}

/* MNT/fz (1777), MNT/fz/d0 (0777, non-sticky: users rename and remove each
 * other's files in it) and the FIFO MNT/fz/p0 (0666). */
static int setup_tree(void)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/fz", opt_mnt);
	if (mkdir(p, 01777) < 0 && errno != EEXIST)
		goto fail;
	if (chmod(p, 01777) < 0)
		goto fail;
	snprintf(p, sizeof(p), "%s/fz/d0", opt_mnt);
	if (mkdir(p, 0777) < 0 && errno != EEXIST)
		goto fail;
	chmod(p, 0777);
	snprintf(p, sizeof(p), "%s/fz/p0", opt_mnt);
	if (mkfifo(p, 0666) < 0 && errno != EEXIST)
		goto fail;
	chmod(p, 0666);
	return 0;
fail:
	fprintf(stderr, "fsfuzz: %s: %s\n", p, strerror(errno));
	return -1;
}

int main(int argc, char **argv)
{
	int c, i, nchild, failed = 0, left;
	pid_t *pids;
	struct sigaction sa;

	while ((c = getopt(argc, argv, "m:u:t:s:p:n:w:v")) != -1) {
		char *e;
		switch (c) {
		case 'm': opt_mnt = optarg; break;
		case 'u':
			if (nusers == (int)(sizeof(users) / sizeof(users[0])) ||
			    parse_user(optarg, &users[nusers]) < 0)
				usage();
			nusers++;
			break;
		case 't':
			opt_secs = strtol(optarg, &e, 10);
			if (*e || opt_secs < 0)
				usage();
			break;
		case 's':
			opt_seed = strtoull(optarg, &e, 0);
			if (*e)
				usage();
			have_seed = 1;
			break;
		case 'p':
			opt_procs = (int)strtol(optarg, &e, 10);
			if (*e || opt_procs < 1 || opt_procs > 64)
				usage();
			break;
		case 'n':
			opt_maxops = strtol(optarg, &e, 10);
			if (*e || opt_maxops < 0)
				usage();
			break;
		case 'w':
			opt_slack = strtol(optarg, &e, 10);
			if (*e || opt_slack < 1 || opt_slack > 86400)
				usage();
			break;
		case 'v': opt_verbose = 1; break;
		default: usage();
		}
	}
	if (!opt_mnt || !nusers || opt_secs < 0 || !have_seed || optind != argc)
		usage();
	if (setup_tree() < 0)
		return 2;

	nchild = nusers * opt_procs;
	pids = calloc((size_t)nchild, sizeof(*pids));
	if (!pids)
		return 2;
	fprintf(stderr, "fsfuzz: seed %" PRIu64 ", %d users x %d children, %ld s, on %s\n", opt_seed,
		nusers, opt_procs, opt_secs, opt_mnt);
	fflush(stderr);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_parent_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_parent_alarm;
	sigaction(SIGALRM, &sa, NULL);

	for (i = 0; i < nchild; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("fsfuzz: fork");
			pids[i] = 0;
			failed++;
			continue;
		}
		if (pids[i] == 0) {
			sa.sa_handler = SIG_DFL;
			sigaction(SIGTERM, &sa, NULL);
			sigaction(SIGINT, &sa, NULL);
			sigaction(SIGALRM, &sa, NULL);
			child(i, &users[i / opt_procs]);
		}
	}

	/* The children's watchdogs fire at SECONDS + SLACK; a child killed
	 * while the daemon holds its request stays in the kernel until the
	 * daemon answers or dies: give up on it PARENT_SLACK s later. */
	alarm((unsigned)(opt_secs + opt_slack + PARENT_SLACK));
	left = 0;
	for (i = 0; i < nchild; i++)
		left += pids[i] > 0;
	while (left > 0) {
		int st;
		pid_t p = waitpid(-1, &st, 0);
		if (p < 0) {
			if (errno == EINTR && parent_stop) {
				for (i = 0; i < nchild; i++)
					if (pids[i] > 0)
						kill(pids[i], SIGKILL);
				fprintf(stderr, "fsfuzz: interrupted\n");
				return 1;
			}
			if (errno == EINTR && parent_timeout) {
				for (i = 0; i < nchild; i++)
					if (pids[i] > 0) {
						fprintf(stderr, "fsfuzz: child %d (uid %u, pid %d): still there %ld s after its deadline, stuck in the kernel (daemon hung?)\n",
							i, (unsigned)users[i / opt_procs].uid, (int)pids[i],
							opt_slack + PARENT_SLACK);
						kill(pids[i], SIGKILL);
						failed++;
					}
				fprintf(stderr, "fsfuzz: FAILED: %d of %d children did not complete (seed %" PRIu64 ")\n",
					failed, nchild, opt_seed);
				return 1;
			}
			if (errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < nchild && pids[i] != p; i++)
			;
		if (i == nchild)
			continue;
		pids[i] = 0;
		left--;
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			continue;
		failed++;
		if (WIFEXITED(st))
			fprintf(stderr, "fsfuzz: child %d (uid %u, pid %d) failed: %s\n", i,
				(unsigned)users[i / opt_procs].uid, (int)p,
				WEXITSTATUS(st) == EXIT_DAEMON_GONE ? "the daemon is gone (ENOTCONN)"
				: WEXITSTATUS(st) == EXIT_SETUP ? "setup failed" : "exit status != 0");
		else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
			fprintf(stderr, "fsfuzz: child %d (uid %u, pid %d) failed: killed by its watchdog (SIGALRM) %ld s after its deadline: a request the daemon never answered\n",
				i, (unsigned)users[i / opt_procs].uid, (int)p, opt_slack);
		else if (WIFSIGNALED(st))
			fprintf(stderr, "fsfuzz: child %d (uid %u, pid %d) failed: killed by signal %s%s\n", i,
				(unsigned)users[i / opt_procs].uid, (int)p, sigabbrev_np(WTERMSIG(st)) ?: "?",
				WTERMSIG(st) == SIGSEGV || WTERMSIG(st) == SIGBUS || WTERMSIG(st) == SIGABRT
				? " (a fault outside the mapping guard: a bug of fsfuzz)"
				: " (not sent by fsfuzz: something else killed it, e.g. a kill -u of the same user)");
	}
	if (failed) {
		fprintf(stderr, "fsfuzz: FAILED: %d of %d children did not complete (seed %" PRIu64 ")\n",
			failed, nchild, opt_seed);
		return 1;
	}
	fprintf(stderr, "fsfuzz: all %d children completed (seed %" PRIu64 ")\n", nchild, opt_seed);
	return 0;
}
