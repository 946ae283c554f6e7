// SPDX-License-Identifier: MIT
/*
 * fuzz_options - libFuzzer target over cmafs/options.c: the daemon's
 * command line as main() hands it to options_parse(), with libfuse's own
 * fuse_opt_parse()/fuse_parse_cmdline() underneath, without mounting.
 *
 * Input: NUL-separated arguments after argv[0] = "cmafs" (at most 32).  A
 * seed such as "-o\0pool=12Q,backend=sim\0/cma" is the command line
 * cmafs -o pool=12Q,backend=sim /cma.
 *
 * Checks, beyond sanitizer reports (leaks included: every run frees what
 * options_parse() leaves to its caller, the args, o.mountpoint and
 * o.log_file, on
 * either path):
 *   - on success the options are in range (enums, cache mode, alignment a
 *     power of two >= the page size or 0) and there is a mount point unless
 *     -h/-V was given;
 *   - the return is 0 or -1.
 * (The one-line message of a refusal is checked against the real daemon by
 * tests/badinput.bats; here libfuse's logger is silenced and the run script
 * closes stdout/stderr with -close_fd_mask=3.)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmafs.h"
#include "options.h"

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)
#define MAX_ARGS 32

static void quiet(enum fuse_log_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuse_set_log_func(quiet);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_ARGS + 2], *buf;
	struct cmafs_options o;
	struct fuse_args args;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	size_t i, start = 0;
	int argc = 0, ret;

	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[argc++] = "cmafs";
	for (i = 0; i <= size && argc < MAX_ARGS + 1; i++) {
		if (buf[i] == '\0') {
			argv[argc++] = buf + start;
			start = i + 1;
		}
	}
	argv[argc] = NULL;

	ret = options_parse(argc, argv, &o, &args);
	if (!ret) {
		CHECK(o.backend == BACKEND_AUTO || o.backend == BACKEND_KMOD ||
		      o.backend == BACKEND_SIM);
		CHECK(o.passthrough == TRI_AUTO || o.passthrough == TRI_ON ||
		      o.passthrough == TRI_OFF);
		CHECK(o.cache <= CMAFS_CACHE_WRITECOMBINE);
		CHECK(!o.align || (o.align >= page && !(o.align & (o.align - 1))));
		CHECK(o.mountpoint || o.help || o.version);
		CHECK(args.argc >= 1 && args.argv && args.argv[args.argc] == NULL);
	}
	CHECK(ret == 0 || ret == -1);
	/* what the caller owns, on either path */
	fuse_opt_free_args(&args);
	free(o.mountpoint);
	free(o.log_file);
	free(o.socket);
	free(buf);
	return 0;
}
