/* SPDX-License-Identifier: MIT */
/*
 * passthrough - FUSE passthrough (Linux >= 6.9): the kernel serves read,
 * write and mmap of an open file straight from a backing file (our buffer's
 * descriptor), so mmap maps the buffer itself.
 *
 * libfuse >= 3.17 has an API for it; libfuse 3.14-3.16 do not, so there this
 * module is a shim over fuse_session_custom_io() that patches the raw INIT,
 * OPEN and CREATE replies (see ../shared/FACTS.md).  The rest of the daemon
 * only calls the functions below and never looks at the protocol.
 *
 * The same INIT patching also asks for FUSE_DIRECT_IO_ALLOW_MMAP (Linux >=
 * 6.6), which lets a FOPEN_DIRECT_IO file be mapped MAP_SHARED through the
 * page cache; libfuse 3.14 cannot ask for it either.
 */
#ifndef CMAFS_PASSTHROUGH_H
#define CMAFS_PASSTHROUGH_H

#include <stdbool.h>
#include <stdint.h>

#include <fuse_lowlevel.h>

enum pt_mode { PT_AUTO, PT_ON, PT_OFF };

/*
 * Before fuse_session_mount(): can passthrough work here at all (kernel
 * version, CAP_SYS_ADMIN)?  With PT_ON and a "no", returns -1 after logging
 * one line saying why; the caller refuses to mount.
 */
int pt_precheck(enum pt_mode mode);

/* Right after fuse_session_mount(): install the hooks. 0 or -errno. */
int pt_install(struct fuse_session *se, enum pt_mode mode);

/*
 * From the filesystem's init callback, after its own conn->want bits: ask
 * for the features (libfuse >= 3.17 does it through conn->want; the shim
 * has already seen the request).
 */
void pt_init(struct fuse_conn_info *conn);

/* After INIT was answered: did the kernel accept each feature? */
bool pt_active(void);
bool pt_dio_mmap(void);

/* Which build this is: "libfuse" (libfuse's own passthrough API, libfuse
 * >= 3.17) or "shim" (the raw-protocol shim, older libfuse). */
const char *pt_api(void);

/* Register @fd as a backing file: id >= 1, or -errno. */
int pt_backing_open(struct fuse_session *se, int fd);
void pt_backing_close(struct fuse_session *se, int backing_id);

/*
 * fuse_reply_open/fuse_reply_create that also turn on passthrough to
 * @backing_id for this open (0 = an ordinary open).
 */
int pt_reply_open(fuse_req_t req, struct fuse_file_info *fi, int backing_id);
int pt_reply_create(fuse_req_t req, const struct fuse_entry_param *e,
		    struct fuse_file_info *fi, int backing_id);

#endif /* CMAFS_PASSTHROUGH_H */
