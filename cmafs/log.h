/* SPDX-License-Identifier: MIT */
/*
 * log - one line per event, "cmafs: ..." like the kernel's own messages.
 *
 * Where: -o log=syslog|stderr|FILE; by default stderr in the foreground
 * and syslog once daemonised, or stderr after all when no syslog daemon
 * listens on /dev/log (minimal images).  -d adds request tracing.
 * Every call site is rate-limited as the kernel's printk_ratelimit() is:
 * a burst of 10 lines per 5 s, then one "N lines suppressed" line when
 * the site speaks again, so no request loop can flood the log.
 */
#ifndef CMAFS_LOG_H
#define CMAFS_LOG_H

#include <stdbool.h>

enum log_target { LOG_TO_AUTO, LOG_TO_SYSLOG, LOG_TO_STDERR, LOG_TO_FILE };

void log_init(bool foreground, bool debug);
/* Before daemonising: where lines go; FILE is opened now.  0 or -1. */
int log_set_target(enum log_target target, const char *file);
/* Around fuse_daemonize(): keep what the target needs of stderr. */
void log_before_daemonize(void);
void log_after_daemonize(bool daemonized);
bool log_debug_enabled(void);

void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* CMAFS_LOG_H */
