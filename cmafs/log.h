/* SPDX-License-Identifier: MIT */
/*
 * log - one line per event, "cmafs: ..." like the kernel's own messages.
 * Foreground: stderr.  Daemonised: syslog.  -d adds request tracing.
 */
#ifndef CMAFS_LOG_H
#define CMAFS_LOG_H

#include <stdbool.h>

void log_init(bool foreground, bool debug);
void log_to_syslog(void);
bool log_debug_enabled(void);

void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* CMAFS_LOG_H */
