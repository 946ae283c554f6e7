// SPDX-License-Identifier: MIT
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define RATE_INTERVAL 5		/* seconds, as the kernel's default */
#define RATE_BURST 10
#define RATE_SITES 64

static enum log_target target = LOG_TO_STDERR, wanted = LOG_TO_AUTO;
static bool debug_on;
static int out_fd = STDERR_FILENO;	/* LOG_TO_STDERR, LOG_TO_FILE */
static int saved_stderr = -1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* One rate limit per call site, known by its format string. */
static struct site {
	const char *fmt;
	time_t begin;
	unsigned int printed, missed;
} sites[RATE_SITES];

void log_init(bool foreground, bool debug)
{
	(void)foreground;
	debug_on = debug;
}

bool log_debug_enabled(void)
{
	return debug_on;
}

int log_set_target(enum log_target t, const char *file)
{
	wanted = t;
	if (t == LOG_TO_FILE) {
		int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
			      0640);

		if (fd < 0) {
			log_err("log=%s: cannot open it: %s (expected syslog, stderr or a file that can be written)",
				file, strerror(errno));
			return -1;
		}
		out_fd = fd;
		target = LOG_TO_FILE;
	}
	return 0;
}

void log_before_daemonize(void)
{
	/* fuse_daemonize() points stderr at /dev/null: keep our own. */
	saved_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
}

/* Is a syslog daemon listening?  syslog(3) drops lines silently if not. */
static bool syslog_reachable(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX, .sun_path = "/dev/log" };
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (s < 0)
		return false;
	ok = connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(s);
	return ok;
}

void log_after_daemonize(bool daemonized)
{
	if (wanted == LOG_TO_FILE)
		goto out;
	if (wanted == LOG_TO_SYSLOG || (wanted == LOG_TO_AUTO && daemonized)) {
		if (syslog_reachable()) {
			openlog("cmafs", LOG_PID, LOG_DAEMON);
			target = LOG_TO_SYSLOG;
			goto out;
		}
	}
	target = LOG_TO_STDERR;
	if (daemonized && saved_stderr >= 0) {
		out_fd = saved_stderr;
		saved_stderr = -1;
	}
	if (wanted == LOG_TO_SYSLOG || (wanted == LOG_TO_AUTO && daemonized)) {
		struct stat st;

		/*
		 * A pipe is someone waiting for our output to end, such as
		 * $(mount /cma 2>&1): a daemon that keeps it open hangs them.
		 * A terminal, a file or journald's socket is kept.
		 */
		if (daemonized && !fstat(out_fd, &st) && S_ISFIFO(st.st_mode)) {
			log_err("syslog is not reachable (nothing listens on /dev/log) and standard error is a pipe: no more lines; use -o log=FILE");
			close(out_fd);
			out_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		} else {
			log_err("syslog is not reachable (nothing listens on /dev/log): logging to standard error");
		}
	}
out:
	if (saved_stderr >= 0)
		close(saved_stderr);
	saved_stderr = -1;
}

static void write_line(int prio, const char *line)
{
	if (target == LOG_TO_SYSLOG) {
		syslog(prio, "%s", line);
	} else {
		char buf[1100];
		int n = snprintf(buf, sizeof(buf), "cmafs: %s\n", line);

		/* one write per line, so lines of threads never mix */
		if (n > 0)
			(void)!write(out_fd, buf, (size_t)n < sizeof(buf) ?
				     (size_t)n : sizeof(buf) - 1);
	}
}

/* 0: suppress; else print, after the count of what was suppressed. */
static bool rate_ok(const char *fmt, unsigned int *missed)
{
	struct site *s = &sites[((uintptr_t)fmt >> 4) % RATE_SITES];
	time_t now = time(NULL);

	*missed = 0;
	if (s->fmt != fmt || now - s->begin >= RATE_INTERVAL) {
		if (s->fmt == fmt)
			*missed = s->missed;
		*s = (struct site){ .fmt = fmt, .begin = now };
	}
	if (s->printed >= RATE_BURST) {
		s->missed++;
		return false;
	}
	s->printed++;
	return true;
}

static void emit(int prio, const char *fmt, char *line, bool limit)
{
	unsigned int missed = 0;

	/*
	 * File names and option values are the user's: a newline in one must
	 * not forge a second log line (say, a fake "alloc failed").
	 */
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	pthread_mutex_lock(&lock);
	if (!limit || rate_ok(fmt, &missed)) {
		if (missed) {
			char note[64];

			snprintf(note, sizeof(note), "%u lines suppressed",
				 missed);
			write_line(LOG_WARNING, note);
		}
		write_line(prio, line);
	}
	pthread_mutex_unlock(&lock);
}

/*
 * Formats where the va_list is started, so it is never passed around.
 * clang-tidy 14 still reports the va_list as uninitialized here (its
 * valist checker misreads glibc's va_start): hence the NOLINTs below.
 */
#define LOG_AT(prio, limit)					\
	do {							\
		char line[1024];				\
		va_list ap;					\
								\
		va_start(ap, fmt);				\
		vsnprintf(line, sizeof(line), fmt, ap);		\
		va_end(ap);					\
		emit(prio, fmt, line, limit);			\
	} while (0)

void log_err(const char *fmt, ...)
{
	LOG_AT(LOG_ERR, true); // NOLINT(clang-analyzer-valist.Uninitialized)
}

void log_info(const char *fmt, ...)
{
	LOG_AT(LOG_INFO, true); // NOLINT(clang-analyzer-valist.Uninitialized)
}

void log_debug(const char *fmt, ...)
{
	if (debug_on)
		LOG_AT(LOG_DEBUG, false); // NOLINT(clang-analyzer-valist.Uninitialized)
}
