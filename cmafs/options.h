/* SPDX-License-Identifier: MIT */
/* options - the command line and -o mount options of SPEC section 2. */
#ifndef CMAFS_OPTIONS_H
#define CMAFS_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include <fuse_lowlevel.h>

#include "log.h"
#include "parse.h"

struct cmafs_options {
	enum backend_kind backend;
	uint64_t pool;
	uint64_t phys_base;
	unsigned int cache;
	uint64_t align;			/* 0: the page size */
	uint64_t quota;			/* per user, 0: none */
	uint64_t max_inodes, user_inodes;	/* 0: none */
	uint64_t max_xattr, user_xattr;		/* bytes, 0: none */
	enum tristate passthrough;
	enum log_target log;
	char *log_file;			/* log=FILE */
	char *mountpoint;
	char *socket;			/* socket=: NULL for auto */
	enum addr_policy addresses;
	bool allow_other;		/* passed on to FUSE, noted for us */
	bool foreground, debug, single_thread, help, version;
};

/*
 * Splits our -o options off @argc/@argv into @o and leaves FUSE's own in
 * @args.  The caller frees @args, o->mountpoint and o->log_file, on either
 * path.  Accepts mount(8)'s "cmafs SOURCE MOUNTPOINT -o ..." form too.
 * Returns 0, or -1 after one log line naming the bad option.
 */
int options_parse(int argc, char *argv[], struct cmafs_options *o,
		  struct fuse_args *args);
void options_usage(const char *prog);

#endif /* CMAFS_OPTIONS_H */
