// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmafs.h"
#include "log.h"
#include "options.h"

enum {
	KEY_BACKEND, KEY_POOL, KEY_PHYS_BASE, KEY_CACHE, KEY_ALIGN,
	KEY_PASSTHROUGH, KEY_QUOTA, KEY_MAX_INODES, KEY_USER_INODES,
	KEY_MAX_XATTR, KEY_USER_XATTR, KEY_LOG, KEY_SOCKET, KEY_ADDRESSES,
};

static const struct fuse_opt cmafs_opts[] = {
	FUSE_OPT_KEY("backend=", KEY_BACKEND),
	FUSE_OPT_KEY("pool=", KEY_POOL),
	FUSE_OPT_KEY("phys_base=", KEY_PHYS_BASE),
	FUSE_OPT_KEY("cache=", KEY_CACHE),
	FUSE_OPT_KEY("align=", KEY_ALIGN),
	FUSE_OPT_KEY("passthrough=", KEY_PASSTHROUGH),
	FUSE_OPT_KEY("quota=", KEY_QUOTA),
	FUSE_OPT_KEY("max_inodes=", KEY_MAX_INODES),
	FUSE_OPT_KEY("user_inodes=", KEY_USER_INODES),
	FUSE_OPT_KEY("max_xattr=", KEY_MAX_XATTR),
	FUSE_OPT_KEY("user_xattr=", KEY_USER_XATTR),
	FUSE_OPT_KEY("log=", KEY_LOG),
	FUSE_OPT_KEY("socket=", KEY_SOCKET),
	FUSE_OPT_KEY("addresses=", KEY_ADDRESSES),
	FUSE_OPT_END
};

static const char *const expected[] = {
	[KEY_BACKEND] = "auto, kmod or sim",
	[KEY_POOL] = "a size such as 64M",
	[KEY_PHYS_BASE] = "an address such as 0x10000000",
	[KEY_CACHE] = "cached, uncached or writecombine",
	[KEY_ALIGN] = "a power of two >= the page size, such as 4096 or 2M",
	[KEY_PASSTHROUGH] = "auto, on or off",
	[KEY_QUOTA] = "a size such as 256M",
	[KEY_MAX_INODES] = "a count such as 65536 (0: no limit)",
	[KEY_USER_INODES] = "a count such as 16384 (0: no limit)",
	[KEY_MAX_XATTR] = "a size such as 16M (0: no limit)",
	[KEY_USER_XATTR] = "a size such as 1M (0: no limit)",
	[KEY_LOG] = "syslog, stderr or the absolute path of a file",
	[KEY_SOCKET] = "auto, none or an absolute path shorter than 108 bytes",
	[KEY_ADDRESSES] = "owner, root or all",
};

static int set_option(struct cmafs_options *o, int key, const char *val)
{
	size_t len = strlen(val);
	uint64_t page = 4096;

	switch (key) {
	case KEY_BACKEND:
		return parse_backend(val, len, &o->backend);
	case KEY_POOL:
		return parse_size(val, len, &o->pool);
	case KEY_PHYS_BASE:
		return parse_size(val, len, &o->phys_base);
	case KEY_CACHE:
		return parse_cache(val, len, &o->cache);
	case KEY_ALIGN:
		page = (uint64_t)sysconf(_SC_PAGESIZE);
		return parse_align(val, len, page, &o->align);
	case KEY_PASSTHROUGH:
		return parse_tristate(val, len, &o->passthrough);
	case KEY_QUOTA:
		return parse_size(val, len, &o->quota);
	case KEY_MAX_INODES:
		return parse_size(val, len, &o->max_inodes);
	case KEY_USER_INODES:
		return parse_size(val, len, &o->user_inodes);
	case KEY_MAX_XATTR:
		return parse_size(val, len, &o->max_xattr);
	case KEY_USER_XATTR:
		return parse_size(val, len, &o->user_xattr);
	case KEY_LOG:
		free(o->log_file);
		o->log_file = NULL;
		if (!strcmp(val, "syslog"))
			o->log = LOG_TO_SYSLOG;
		else if (!strcmp(val, "stderr"))
			o->log = LOG_TO_STDERR;
		else if (val[0] == '/' && (o->log_file = strdup(val)))
			o->log = LOG_TO_FILE;
		else
			return -1;
		return 0;
	case KEY_ADDRESSES:
		if (!strcmp(val, "owner"))
			o->addresses = ADDR_OWNER;
		else if (!strcmp(val, "root"))
			o->addresses = ADDR_ROOT;
		else if (!strcmp(val, "all"))
			o->addresses = ADDR_ALL;
		else
			return -1;
		return 0;
	case KEY_SOCKET:
		free(o->socket);
		o->socket = NULL;
		if (!strcmp(val, "auto"))
			return 0;
		if (strcmp(val, "none") && (val[0] != '/' || len >= 108))
			return -1;
		return (o->socket = strdup(val)) ? 0 : -1;
	}
	return -1;
}

static int process(void *data, const char *arg, int key,
		   struct fuse_args *outargs)
{
	struct cmafs_options *o = data;
	const char *val;

	(void)outargs;
	if (key == FUSE_OPT_KEY_NONOPT) {
		/* mount(8) passes "SOURCE MOUNTPOINT": the last one wins. */
		free(o->mountpoint);
		o->mountpoint = strdup(arg);
		return 0;
	}
	if (key == FUSE_OPT_KEY_OPT && !strcmp(arg, "allow_other"))
		o->allow_other = true;
	if (key < 0)
		return 1;
	val = strchr(arg, '=') + 1;
	if (set_option(o, key, val)) {
		int n = (int)(val - arg - 1);

		log_err("bad value for %.*s=: \"%s\" (expected %s)", n, arg,
			val, expected[key]);
		return -1;
	}
	return 0;
}

int options_parse(int argc, char *argv[], struct cmafs_options *o,
		  struct fuse_args *args)
{
	struct fuse_cmdline_opts c;

	memset(o, 0, sizeof(*o));
	o->backend = BACKEND_AUTO;
	o->pool = 128ULL << 20;
	o->phys_base = 0x10000000;
	o->cache = CMAFS_CACHE_UNCACHED;
	o->passthrough = TRI_AUTO;
	o->max_inodes = 65536;
	o->user_inodes = 16384;
	o->max_xattr = 16 << 20;
	o->user_xattr = 1 << 20;

	*args = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	for (int i = 0; i < argc; i++)
		if (fuse_opt_add_arg(args, argv[i]))
			return -1;
	if (fuse_opt_parse(args, o, cmafs_opts, process))
		return -1;
	if (o->mountpoint && fuse_opt_add_arg(args, o->mountpoint))
		return -1;
	memset(&c, 0, sizeof(c));
	if (fuse_parse_cmdline(args, &c))
		return -1;
	free(o->mountpoint);
	o->mountpoint = c.mountpoint;
	o->foreground = c.foreground;
	o->debug = c.debug;
	o->single_thread = c.singlethread;
	o->help = c.show_help;
	o->version = c.show_version;
	if (!o->help && !o->version && !o->mountpoint) {
		log_err("no mountpoint given (try: cmafs -o backend=sim /cma)");
		return -1;
	}
	/*
	 * The kernel checks permissions against our modes, which is what a
	 * shared /cma needs; "fuse.cmafs" names us in mount(8) and df.
	 */
	if (fuse_opt_add_arg(args, "-odefault_permissions,fsname=cmafs,subtype=cmafs"))
		return -1;
	return 0;
}

void options_usage(const char *prog)
{
	printf("usage: %s [-f] [-d] [-o OPTIONS] MOUNTPOINT\n\n"
	       "cmafs options:\n"
	       "    -o backend=auto|kmod|sim   where buffers come from (auto)\n"
	       "    -o pool=SIZE               sim: size of the area (128M)\n"
	       "    -o phys_base=ADDR          sim: first address (0x10000000)\n"
	       "    -o cache=MODE              cached|uncached|writecombine (uncached)\n"
	       "    -o align=BYTES             default alignment (page size)\n"
	       "    -o passthrough=auto|on|off zero-copy I/O and mmap (auto)\n"
	       "    -o quota=SIZE              buffer bytes per user, root exempt (none)\n"
	       "    -o max_inodes=N            files, directories and links in all (65536)\n"
	       "    -o user_inodes=N           ... per user, root exempt (16384)\n"
	       "    -o max_xattr=SIZE          xattr and symlink bytes in all (16M)\n"
	       "    -o user_xattr=SIZE         ... per user, root exempt (1M)\n"
	       "        (users stop 1/16 short of the max_ limits: root's reserve)\n"
	       "    -o log=syslog|stderr|FILE  where log lines go (stderr with -f,\n"
	       "                               else syslog, else stderr)\n"
	       "    -o addresses=owner|root|all who sees physical addresses (owner:\n"
	       "                               root and the file's owner)\n"
	       "    -o socket=auto|none|PATH   the buffer descriptor hand-off's\n"
	       "                               socket (auto: /run/cmafs/NAME.sock,\n"
	       "                               /tmp/cmafs-UID/NAME.sock if not root)\n\n"
	       "general options:\n"
	       "    -f                         stay in the foreground\n"
	       "    -d, -o debug               foreground, and trace every request\n"
	       "    -o allow_other             every user may use the mount (their\n"
	       "                               permissions are always checked)\n"
	       "    -o allow_root              the mounting user and root only\n"
	       "    -o auto_unmount            unmount when the daemon dies\n"
	       "    -h, --help                 this text\n"
	       "    -V, --version              versions of cmafs and libfuse\n",
	       prog);
}
