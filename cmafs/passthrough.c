// SPDX-License-Identifier: MIT
/*
 * passthrough - see passthrough.h.  Two builds:
 *
 *  - libfuse >= 3.17 (FUSE_CAP_PASSTHROUGH first shipped in 3.17.1; 3.16.x
 *    lacks it): features are asked for in pt_init() through conn->want and
 *    fuse_reply_open() sends fi->backing_id itself.
 *  - older libfuse: a shim over fuse_session_custom_io() that reads the
 *    kernel's INIT offer and patches the raw INIT, OPEN and CREATE replies
 *    (offsets measured in ../shared/FACTS.md).
 *
 * Backing ids are registered with the FUSE_DEV_IOC_BACKING_* ioctls on the
 * session fd in both builds: libfuse 3.17's fuse_passthrough_open() needs a
 * request, while our callers hold only the session.
 */
#include "passthrough.h"
#include "log.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

/* Kernel ABI (include/uapi/linux/fuse.h, 7.40), spelled out because the
 * installed <linux/fuse.h> may predate it.  struct fuse_backing_map is
 * { s32 fd; u32 flags; u64 padding; }: as words, fd then three zeros. */
#define PT_IOC_BACKING_OPEN _IOW(229, 1, int32_t[4])
#define PT_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

static struct fuse_session *pt_se;
static enum pt_mode pt_mode = PT_OFF;
/* Set while INIT is answered, read later by any worker thread. */
static atomic_bool pt_on, pt_mmap_on;

/* Can passthrough work here at all?  NULL, or why not. */
static const char *pt_unusable(void)
{
	struct utsname u;
	char *end;
	unsigned long major, minor = 0;
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {
		{ 0, 0, 0 } };

	if (uname(&u) != 0)
		return "cannot read the kernel version";
	major = strtoul(u.release, &end, 10);
	if (*end == '.')
		minor = strtoul(end + 1, NULL, 10);
	if (major < 6 || (major == 6 && minor < 9))
		return "needs Linux >= 6.9";
	/* FUSE_DEV_IOC_BACKING_OPEN checks CAP_SYS_ADMIN in the init ns. */
	if (syscall(SYS_capget, &hdr, data) != 0 ||
	    !(data[CAP_SYS_ADMIN / 32].effective & (1U << (CAP_SYS_ADMIN % 32))))
		return "needs CAP_SYS_ADMIN";
	return NULL;
}

int pt_precheck(enum pt_mode mode)
{
	const char *why;

	if (mode != PT_ON)
		return 0;
	why = pt_unusable();
	if (why == NULL)
		return 0;
	log_err("passthrough=on: %s", why);
	return -1;
}

/* Called once the kernel's offer is known: a session that demanded
 * passthrough and cannot have it stops, so the daemon unmounts and fails. */
static void pt_require(bool offered)
{
	if (pt_mode != PT_ON || atomic_load(&pt_on))
		return;
	log_err("passthrough=on: %s", offered ?
		"disabled by writeback_cache" : "the kernel did not offer it");
	fuse_session_exit(pt_se);
}

bool pt_active(void)
{
	return atomic_load(&pt_on);
}

bool pt_dio_mmap(void)
{
	return atomic_load(&pt_mmap_on);
}

int pt_backing_open(struct fuse_session *se, int fd)
{
	int32_t map[4] = { fd, 0, 0, 0 };
	int id = ioctl(fuse_session_fd(se), PT_IOC_BACKING_OPEN, map);

	if (id < 0)
		return -errno;
	return id > 0 ? id : -EIO;	/* 0 is never a valid id */
}

void pt_backing_close(struct fuse_session *se, int backing_id)
{
	uint32_t id = (uint32_t)backing_id;

	if (backing_id > 0)
		(void)ioctl(fuse_session_fd(se), PT_IOC_BACKING_CLOSE, &id);
}

/*
 * Should this open be passed through?  If so, drops what conflicts: the
 * kernel fails a FOPEN_KEEP_CACHE passthrough open with EIO.  The caller's
 * FOPEN_DIRECT_IO stays: with passthrough it sends read and write to the
 * daemon and still maps the backing file (Linux >= 6.9 checks direct_io
 * before passthrough for I/O, passthrough before direct_io for mmap).
 */
static bool pt_use(struct fuse_file_info *fi, int backing_id)
{
	if (backing_id <= 0 || !pt_active())
		return false;
	fi->keep_cache = 0;
	return true;
}

#if defined(FUSE_CAP_PASSTHROUGH)	/* libfuse >= 3.17 */

const char *pt_api(void)
{
	return "libfuse";
}

int pt_install(struct fuse_session *se, enum pt_mode mode)
{
	pt_se = se;
	pt_mode = mode;
	return 0;
}

void pt_init(struct fuse_conn_info *conn)
{
	bool ask = pt_mode == PT_ON || (pt_mode == PT_AUTO && !pt_unusable());
	bool offered = conn->capable & FUSE_CAP_PASSTHROUGH;

	if (conn->capable & FUSE_CAP_DIRECT_IO_ALLOW_MMAP) {
		conn->want |= FUSE_CAP_DIRECT_IO_ALLOW_MMAP;
		atomic_store(&pt_mmap_on, true);
	}
	if (ask && offered && !(conn->want & FUSE_CAP_WRITEBACK_CACHE)) {
		conn->want |= FUSE_CAP_PASSTHROUGH;
		conn->max_backing_stack_depth = 0;	/* memfds: depth 0 */
		atomic_store(&pt_on, true);
	}
	pt_require(offered);
}

int pt_reply_open(fuse_req_t req, struct fuse_file_info *fi, int backing_id)
{
	fi->backing_id = pt_use(fi, backing_id) ? backing_id : 0;
	return fuse_reply_open(req, fi);
}

int pt_reply_create(fuse_req_t req, const struct fuse_entry_param *e,
		    struct fuse_file_info *fi, int backing_id)
{
	fi->backing_id = pt_use(fi, backing_id) ? backing_id : 0;
	return fuse_reply_create(req, e, fi);
}

#else	/* libfuse 3.14/3.15: raw protocol shim */

const char *pt_api(void)
{
	return "shim";
}

/* Word indexes into a message; fuse_in_header is 40 bytes (10 words),
 * fuse_out_header 16 (4 words). */
#define IN_OPCODE 1
#define IN_INIT_FLAGS (10 + 3)
#define IN_INIT_FLAGS2 (10 + 4)
#define OUT_ERROR 1
#define OUT_INIT_FLAGS (4 + 3)
#define OUT_INIT_FLAGS2 (4 + 8)
#define OUT_INIT_STACK (4 + 9)		/* max_stack_depth */
#define OP_INIT 26
#define INIT_EXT (1U << 30)
#define WRITEBACK_CACHE (1U << 16)
#define F2_DIO_MMAP (1U << 4)		/* FUSE_DIRECT_IO_ALLOW_MMAP >> 32 */
#define F2_PASSTHROUGH (1U << 5)	/* FUSE_PASSTHROUGH >> 32 */
#define FOPEN_PT 0x80U
#define OPEN_LEN (16 + 16)		/* header + fuse_open_out */
#define CREATE_LEN (16 + 128 + 16)	/* + fuse_entry_out before it */

/* A reply small enough to be one we patch, copied out of libfuse's iovec. */
union pt_msg {
	unsigned char b[16 + 256];
	uint32_t w[(16 + 256) / 4];
	uint64_t q[(16 + 256) / 8];	/* q[1]: unique */
};

static bool pt_ask;			/* fixed before the loop starts */
static _Atomic uint64_t init_unique;	/* of the kernel's INIT request */
static _Atomic uint32_t init_offer;	/* its flags2, if INIT_EXT */

/*
 * Backing id for the next OPEN/CREATE reply written by this thread, and
 * the reply size that identifies it.  Set just around the libfuse call
 * that writes it, so no other reply can be patched by mistake.
 */
static _Thread_local int next_id;
static _Thread_local size_t next_len;

/* @buf is libfuse's malloc'ed request buffer, so word access is aligned. */
static ssize_t pt_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);
	const uint32_t *w = buf;

	(void)userdata;
	/* fuse_init_in is 16 bytes, 64 with INIT_EXT (then flags2 follows) */
	if (n >= 40 + 16 && w[IN_OPCODE] == OP_INIT) {
		bool ext = n >= 40 + 20 && (w[IN_INIT_FLAGS] & INIT_EXT);

		atomic_store(&init_offer, ext ? w[IN_INIT_FLAGS2] : 0);
		atomic_store(&init_unique, ((const uint64_t *)buf)[1]);
	}
	return n;
}

/* Patches the INIT reply in @m; returns whether passthrough was offered. */
static bool patch_init(union pt_msg *m, size_t len)
{
	uint32_t offer = atomic_load(&init_offer);
	uint32_t want = F2_DIO_MMAP;

	/* flags2 is read only with INIT_EXT, which libfuse echoes if offered */
	if (len < 16 + 40 || !(m->w[OUT_INIT_FLAGS] & INIT_EXT))
		return offer & F2_PASSTHROUGH;
	if (pt_ask && !(m->w[OUT_INIT_FLAGS] & WRITEBACK_CACHE))
		want |= F2_PASSTHROUGH;
	want &= offer;
	m->w[OUT_INIT_FLAGS2] |= want;
	if (want & F2_PASSTHROUGH)
		m->w[OUT_INIT_STACK] = 1;	/* 0 would disable it */
	atomic_store(&pt_mmap_on, (want & F2_DIO_MMAP) != 0);
	atomic_store(&pt_on, (want & F2_PASSTHROUGH) != 0);
	return offer & F2_PASSTHROUGH;
}

static ssize_t pt_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	union pt_msg m;
	size_t len = 0;
	bool init;

	(void)userdata;
	for (int i = 0; i < count; i++)
		len += iov[i].iov_len;
	if (len > sizeof(m) || len < 16)	/* e.g. READ data */
		return writev(fd, iov, count);
	len = 0;
	for (int i = 0; i < count; i++)
		for (size_t j = 0; j < iov[i].iov_len; j++)
			m.b[len++] = ((const unsigned char *)iov[i].iov_base)[j];
	init = m.q[1] != 0 && m.q[1] == atomic_load(&init_unique);
	if (m.w[OUT_ERROR] != 0 || (!init && (next_id <= 0 || len != next_len)))
		return writev(fd, iov, count);
	if (init) {
		atomic_store(&init_unique, 0);
		pt_require(patch_init(&m, len));
	} else {
		/* fuse_open_out ends both replies: open_flags, backing_id */
		m.w[(len - 8) / 4] |= FOPEN_PT;
		m.w[(len - 4) / 4] = (uint32_t)next_id;
		next_id = 0;
	}
	return write(fd, m.b, len);
}

int pt_install(struct fuse_session *se, enum pt_mode mode)
{
	/* No splice hooks: libfuse then reads every request with read(). */
	static const struct fuse_custom_io io = {
		.read = pt_read, .writev = pt_writev };

	pt_se = se;
	pt_mode = mode;
	pt_ask = mode == PT_ON || (mode == PT_AUTO && !pt_unusable());
	return fuse_session_custom_io(se, &io, fuse_session_fd(se));
}

void pt_init(struct fuse_conn_info *conn)
{
	(void)conn;		/* the shim works on the raw INIT reply */
}

static int pt_reply(fuse_req_t req, const struct fuse_entry_param *e,
		    struct fuse_file_info *fi, int backing_id)
{
	int res;

	if (pt_use(fi, backing_id)) {
		next_id = backing_id;
		next_len = e ? CREATE_LEN : OPEN_LEN;
	}
	res = e ? fuse_reply_create(req, e, fi) : fuse_reply_open(req, fi);
	next_id = 0;
	return res;
}

int pt_reply_open(fuse_req_t req, struct fuse_file_info *fi, int backing_id)
{
	return pt_reply(req, NULL, fi, backing_id);
}

int pt_reply_create(fuse_req_t req, const struct fuse_entry_param *e,
		    struct fuse_file_info *fi, int backing_id)
{
	return pt_reply(req, e, fi, backing_id);
}

#endif
