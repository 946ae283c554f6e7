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

static void vlog(int prio, const char *fmt, va_list ap)
{
	if (use_syslog) {
		vsyslog(prio, fmt, ap);
		return;
	}
	/* One fprintf per line so concurrent threads never interleave. */
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(stderr, "cmafs: %s\n", line);
}

void log_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!debug_on)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
}
