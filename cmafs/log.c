// SPDX-License-Identifier: MIT
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

static bool use_syslog;
static bool debug_on;

void log_init(bool foreground, bool debug)
{
	use_syslog = !foreground;
	debug_on = debug;
	if (use_syslog)
		openlog("cmafs", LOG_PID, LOG_DAEMON);
}

void log_to_syslog(void)
{
	if (!use_syslog)
		openlog("cmafs", LOG_PID, LOG_DAEMON);
	use_syslog = true;
}

bool log_debug_enabled(void)
{
	return debug_on;
}

static void emit(int prio, char *line)
{
	/*
	 * File names and option values are the user's: a newline in one must
	 * not forge a second log line (say, a fake "alloc failed").
	 */
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (use_syslog)
		syslog(prio, "%s", line);
	else
		fprintf(stderr, "cmafs: %s\n", line);	/* one write per line */
}

/*
 * Formats where the va_list is started, so it is never passed around.
 * clang-tidy 14 still reports the va_list as uninitialized here (its
 * valist checker misreads glibc's va_start): hence the NOLINTs below.
 */
#define LOG_AT(prio)						\
	do {							\
		char line[1024];				\
		va_list ap;					\
								\
		va_start(ap, fmt);				\
		vsnprintf(line, sizeof(line), fmt, ap);		\
		va_end(ap);					\
		emit(prio, line);				\
	} while (0)

void log_err(const char *fmt, ...)
{
	LOG_AT(LOG_ERR); // NOLINT(clang-analyzer-valist.Uninitialized)
}

void log_info(const char *fmt, ...)
{
	LOG_AT(LOG_INFO); // NOLINT(clang-analyzer-valist.Uninitialized)
}

void log_debug(const char *fmt, ...)
{
	if (debug_on)
		LOG_AT(LOG_DEBUG); // NOLINT(clang-analyzer-valist.Uninitialized)
}
