/* SPDX-License-Identifier: MIT */
/*
 * handoff - the buffer descriptor hand-off: a Unix-domain socket that
 * gives processes the buffer's own descriptor, whose mapping is the buffer
 * on every kernel (protocol: include/cmafs.h; cmafs(8)).
 */
#ifndef CMAFS_HANDOFF_H
#define CMAFS_HANDOFF_H

struct fs;

/*
 * Where the socket goes: @opt is NULL or "auto" (a directory of the daemon
 * user's own: /run/cmafs for root, /tmp/cmafs-UID for others), "none", or
 * an absolute path.  Starts the thread that serves it.  0, or -1 after a
 * log line (only when an explicit path cannot be used: "auto" logs why
 * and goes on without the socket).
 */
int handoff_start(struct fs *fs, const char *mountpoint, const char *opt);
/* Stops the thread, closes every connection, removes the socket. */
void handoff_stop(void);
/* The socket's path, or NULL when there is none. */
const char *handoff_socket(void);

#endif /* CMAFS_HANDOFF_H */
