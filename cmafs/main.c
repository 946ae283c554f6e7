// SPDX-License-Identifier: MIT
/*
 * cmafs - a FUSE filesystem whose files are physically contiguous buffers.
 *
 * main: options -> backend -> mount -> request loop -> unmount, which frees
 * every buffer of the mount.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fs.h"
#include "deferred.h"
#include "log.h"
#include "handoff.h"
#include "mountpoint.h"
#include "options.h"
#include "passthrough.h"

#define KMOD_DEVICE "/dev/cmabuf"

/*
 * Each buffer holds a descriptor: take all the descriptors we may have,
 * and return how many buffers that allows, keeping some for ourselves.
 */
static uint64_t raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 1000;
	if (rl.rlim_max < (1u << 20)) {
		struct rlimit want = { 1u << 20, 1u << 20 };

		if (!setrlimit(RLIMIT_NOFILE, &want))
			rl = want;
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	log_debug("RLIMIT_NOFILE %" PRIu64 ": room for that many buffers, less 64",
		  (uint64_t)rl.rlim_cur);
	return rl.rlim_cur > 128 ? rl.rlim_cur - 64 : rl.rlim_cur / 2;
}

static struct backend *open_backend(const struct cmafs_options *o)
{
	struct sim_config sim = { .pool_bytes = o->pool,
				  .phys_base = o->phys_base };

	switch (o->backend) {
	case BACKEND_SIM:
		return backend_sim_new(&sim);
	case BACKEND_KMOD:
		return backend_kmod_new(KMOD_DEVICE);
	case BACKEND_AUTO:
		if (access(KMOD_DEVICE, F_OK) == 0)
			return backend_kmod_new(KMOD_DEVICE);
		log_err(KMOD_DEVICE " not found: load the kernel helper (modprobe cmabuf) or ask for a simulated pool with -o backend=sim");
		return NULL;
	}
	return NULL;
}

/* Why the request loop ended, in one line: every exit says why. */
static void log_exit(const struct fs *fs, const char *mp, int ret)
{
	uint64_t buffers = fs->ct.buffers;

	if (ret == SIGTERM || ret == SIGINT || ret == SIGHUP)
		log_info("%s: unmounting %s, freeing %" PRIu64 " buffers",
			 strsignal(ret), mp, buffers);
	else if (ret == 0)
		log_info("%s was unmounted: exiting, %" PRIu64 " buffers freed",
			 mp, buffers);
	else
		log_err("the request loop failed (%s): unmounting %s, freeing %" PRIu64 " buffers",
			strerror(ret < 0 ? -ret : ret), mp, buffers);
}

static int run(struct fs *fs, const struct cmafs_options *o)
{
	enum pt_mode pt = o->passthrough == TRI_ON ? PT_ON :
			  o->passthrough == TRI_OFF ? PT_OFF : PT_AUTO;
	int ret = 1;

	if (pt_precheck(pt))
		return 1;
	if (fuse_set_signal_handlers(fs->se))
		return 1;
	if (fuse_session_mount(fs->se, o->mountpoint))
		goto out_signals;
	if (pt_install(fs->se, pt)) {
		log_err("cannot install the passthrough hooks");
		goto out_unmount;
	}
	log_before_daemonize();
	if (fuse_daemonize(o->foreground))
		goto out_unmount;
	log_after_daemonize(!o->foreground);
	/*
	 * One request thread: on 2 cores libfuse's worker pool halved the
	 * rate of small requests, and data moves without us under
	 * passthrough.  What must wait runs in deferred.c.
	 */
	if (deferred_start(fs)) {
		log_err("cannot start the sync thread");
		goto out_unmount;
	}
	if (handoff_start(fs, o->mountpoint, o->socket)) {
		deferred_stop();
		goto out_unmount;
	}
	ret = fuse_session_loop(fs->se);
	log_exit(fs, o->mountpoint, ret);
	handoff_stop();
	/* libfuse reports the signal that ended the loop: that is success. */
	if (ret == SIGTERM || ret == SIGINT || ret == SIGHUP)
		ret = 0;
	deferred_stop();
	if (pt == PT_ON && !pt_active())
		ret = 1;
out_unmount:
	fuse_session_unmount(fs->se);
out_signals:
	fuse_remove_signal_handlers(fs->se);
	return ret ? 1 : 0;
}

/* sim: a pool larger than the machine's memory cannot be backed. */
static void check_pool_size(uint64_t pool)
{
	FILE *f = fopen("/proc/meminfo", "re");
	unsigned long long kb = 0;
	char line[128];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			break;
	fclose(f);
	if (kb && pool > (uint64_t)kb * 1024)
		log_info("pool=%" PRIu64 " is more than this machine's memory (MemTotal %llu kB): the simulated buffers are memory, and filling the pool will fail or wake the OOM killer",
			 pool, kb);
}

static int start(struct fs *fs, struct cmafs_options *o,
		 struct fuse_args *args, const char *prog)
{
	struct fuse_lowlevel_ops ops = { 0 };
	int ret;

	if (o->help) {
		options_usage(prog);
		return 0;
	}
	if (o->version) {
		printf("cmafs %s, libfuse %s\n", CMAFS_VERSION,
		       fuse_pkgversion());
		return 0;
	}
	log_init(true, o->debug);
	if (o->log != LOG_TO_AUTO && log_set_target(o->log, o->log_file))
		return 1;
	/* libfuse's own options are checked here, before anything else. */
	ops_build(&ops);
	fs->se = fuse_session_new(args, &ops, sizeof(ops), fs);
	if (!fs->se)
		return 1;
	if (mountpoint_check(o->mountpoint)) {
		fuse_session_destroy(fs->se);
		return 1;
	}
	fs->max_buffer_fds = raise_nofile();
	pthread_mutex_init(&fs->lock, NULL);
	fs->be = open_backend(o);
	if (!fs->be) {
		fuse_session_destroy(fs->se);
		return 1;
	}
	if (o->backend == BACKEND_SIM)
		check_pool_size(o->pool);
	fs->page_size = fs->be->page_size;
	fs->default_cache = o->cache;
	fs->default_align = o->align ? o->align : fs->page_size;
	fs->quota.user[USE_BYTES] = o->quota;
	fs->quota.user[USE_INODES] = o->user_inodes;
	fs->quota.total[USE_INODES] = o->max_inodes;
	fs->quota.user[USE_XATTR] = o->user_xattr;
	fs->quota.total[USE_XATTR] = o->max_xattr;
	fs->quota.user[USE_STATS] = STATS_OPEN_USER;
	fs->quota.total[USE_STATS] = STATS_OPEN_MAX;
	/* Each buffer (and, under passthrough, each opened empty file)
	 * holds a descriptor: fewer than inodes and they run out first. */
	if (o->max_inodes == 0 || fs->max_buffer_fds < o->max_inodes)
		log_info("RLIMIT_NOFILE leaves room for %" PRIu64 " buffer descriptors, fewer than max_inodes=%" PRIu64 " (0: no limit): users may run out of descriptors (ENOSPC) before inodes; raise the limit (LimitNOFILE=) or lower max_inodes=",
			 fs->max_buffer_fds, o->max_inodes);
	fs->allow_other = o->allow_other;
	fs->addresses = o->addresses;
	fs->owner = getuid();
	fs->group = getgid();
	if (ns_init(fs, 01777)) {
		log_err("out of memory");
		ret = 1;
	} else {
		ret = run(fs, o);
	}
	fuse_session_destroy(fs->se);
	ns_destroy(fs);
	quota_destroy(&fs->quota);
	fs->be->ops->destroy(fs->be);
	return ret;
}

int main(int argc, char *argv[])
{
	struct cmafs_options o;
	struct fuse_args args;
	struct fs fs;
	int ret = 1;

	log_init(true, false);
	memset(&fs, 0, sizeof(fs));
	if (!options_parse(argc, argv, &o, &args))
		ret = start(&fs, &o, &args, argv[0]);
	fuse_opt_free_args(&args);
	free(o.mountpoint);
	free(o.log_file);
	free(o.socket);
	return ret;
}
