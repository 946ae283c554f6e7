/* SPDX-License-Identifier: MIT */
/*
 * privs - the setuid/setgid bits a write, truncate, fallocate or
 * open(O_TRUNC) drops, as the kernel's setattr_should_drop_suidgid() does
 * for the local file systems (tmpfs), for the requests whose dropping the
 * kernel's FUSE leaves to us or gets wrong (see privs.c).
 */
#ifndef CMAFS_PRIVS_H
#define CMAFS_PRIVS_H

#include <stdbool.h>
#include <sys/types.h>

#include <fuse_lowlevel.h>

struct node;

/*
 * The bits of @mode to drop: none for a caller with CAP_FSETID; else
 * setuid, and setgid where it is group-executable (a set-group-ID program)
 * or the caller is not in the file's group (without group-exec it marks
 * mandatory locking, kept for members).  Only for regular files.
 */
mode_t privs_to_drop(mode_t mode, bool capable, bool in_group);

/*
 * Drop what @req's caller must lose from @n's mode (with fs.lock held;
 * the caller sets ctime); true when the mode changed, so the caller, once
 * it has replied and released fs.lock, drops the kernel's cached
 * attributes.
 */
bool privs_drop(fuse_req_t req, struct node *n);

#endif /* CMAFS_PRIVS_H */
