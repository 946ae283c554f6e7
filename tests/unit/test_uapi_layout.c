// SPDX-License-Identifier: MIT
/*
 * uapi_layout: the structures and ioctl numbers of include/cmabuf.h and
 * include/cmafs.h are the same for 32- and 64-bit callers.  Every field's
 * offset and every size is pinned here to the one number it must have on
 * any ABI (u64s 8-aligned by hand, no implicit padding), so that a build
 * for a 32-bit target whose rules differ (i386 aligns u64 to 4; armhf's
 * EABI to 8) fails to compile instead of shipping a compat bug: the checks
 * are _Static_asserts, and the TAP lines only report that they held.
 */
#include <stddef.h>

#include "cmabuf.h"
#include "cmafs.h"

#define AT(t, f, off) _Static_assert(offsetof(struct t, f) == (off), \
				     #t "." #f " moved")
#define SIZE(t, n) _Static_assert(sizeof(struct t) == (n), #t " resized")

SIZE(cmabuf_version, 48);
AT(cmabuf_version, abi_version, 0);
AT(cmabuf_version, page_size, 4);
AT(cmabuf_version, alloc_flags, 8);
AT(cmabuf_version, reserved, 16);

SIZE(cmabuf_alloc, 80);
AT(cmabuf_alloc, size, 0);
AT(cmabuf_alloc, align, 8);
AT(cmabuf_alloc, cache, 16);
AT(cmabuf_alloc, flags, 20);
AT(cmabuf_alloc, fd, 24);
AT(cmabuf_alloc, reserved0, 28);
AT(cmabuf_alloc, phys_addr, 32);
AT(cmabuf_alloc, dma_addr, 40);
AT(cmabuf_alloc, size_limit, 48);
AT(cmabuf_alloc, reserved, 56);

SIZE(cmabuf_stats, 96);
AT(cmabuf_stats, buffers, 0);
AT(cmabuf_stats, buddy_bytes, 56);
AT(cmabuf_stats, reserved, 64);

SIZE(cmabuf_info, 72);
AT(cmabuf_info, phys_addr, 0);
AT(cmabuf_info, align, 24);
AT(cmabuf_info, cache, 32);
AT(cmabuf_info, flags, 36);
AT(cmabuf_info, files, 40);
AT(cmabuf_info, maps, 44);
AT(cmabuf_info, exports, 48);
AT(cmabuf_info, reserved32, 52);
AT(cmabuf_info, reserved, 56);

SIZE(cmabuf_dup, 32);
AT(cmabuf_dup, fd, 4);
AT(cmabuf_dup, reserved, 8);

/* The hand-off's messages cross from 32-bit clients to 64-bit daemons. */
SIZE(cmafs_handoff_req, 16);
AT(cmafs_handoff_req, version, 4);
AT(cmafs_handoff_req, op, 6);
AT(cmafs_handoff_req, flags, 8);
AT(cmafs_handoff_req, reserved, 12);
SIZE(cmafs_handoff_reply, 32);
AT(cmafs_handoff_reply, op, 6);
AT(cmafs_handoff_reply, error, 8);
AT(cmafs_handoff_reply, flags, 12);
AT(cmafs_handoff_reply, cache, 16);
AT(cmafs_handoff_reply, size, 24);

SIZE(cmabuf_export, 32);
AT(cmabuf_export, fd, 4);
AT(cmabuf_export, size, 8);
AT(cmabuf_export, reserved, 16);

SIZE(cmabuf_sync, 24);
AT(cmabuf_sync, length, 8);
AT(cmabuf_sync, direction, 16);
AT(cmabuf_sync, reserved, 20);

SIZE(cmabuf_resize, 72);
AT(cmabuf_resize, align, 8);
AT(cmabuf_resize, cache, 16);
AT(cmabuf_resize, flags, 20);
AT(cmabuf_resize, phys_addr, 24);
AT(cmabuf_resize, dma_addr, 32);
AT(cmabuf_resize, reserved, 40);

SIZE(cmafs_info, 72);
AT(cmafs_info, size, 16);
AT(cmafs_info, cache, 32);
AT(cmafs_info, mmap, 36);
AT(cmafs_info, reserved, 40);

SIZE(cmafs_sync, 24);
AT(cmafs_sync, length, 8);
AT(cmafs_sync, direction, 16);
AT(cmafs_sync, reserved, 20);

/* The numbers encode the sizes: a compat caller must send the same ones. */
_Static_assert(CMABUF_IOC_VERSION == 0x8030cb00u, "CMABUF_IOC_VERSION");
_Static_assert(CMABUF_IOC_ALLOC == 0xc050cb01u, "CMABUF_IOC_ALLOC");
_Static_assert(CMABUF_IOC_STATS == 0x8060cb02u, "CMABUF_IOC_STATS");
_Static_assert(CMABUF_IOC_INFO == 0x8048cb10u, "CMABUF_IOC_INFO");
_Static_assert(CMABUF_IOC_SYNC == 0x4018cb11u, "CMABUF_IOC_SYNC");
_Static_assert(CMABUF_IOC_RESIZE == 0xc048cb12u, "CMABUF_IOC_RESIZE");
_Static_assert(CMABUF_IOC_DUP == 0xc020cb13u, "CMABUF_IOC_DUP");
_Static_assert(CMABUF_IOC_EXPORT == 0xc020cb14u, "CMABUF_IOC_EXPORT");
_Static_assert(CMAFS_IOC_INFO == 0x8048cf01u, "CMAFS_IOC_INFO");
_Static_assert(CMAFS_IOC_SYNC == 0x4018cf02u, "CMAFS_IOC_SYNC");
_Static_assert(CMAFS_IOC_SET_CACHE == 0x4004cf03u, "CMAFS_IOC_SET_CACHE");
_Static_assert(CMAFS_IOC_SET_ALIGN == 0x4008cf04u, "CMAFS_IOC_SET_ALIGN");

/* -DLAYOUT_ONLY: the checks alone, for a 32-bit target without its libc
 * (clang --target=i386-linux-gnu -fsyntax-only, see tests/unit/run-layout). */
#ifndef LAYOUT_ONLY
#include "tap.h"

int main(void)
{
	ok(1, "cmabuf.h: 6 structures, every field at its one offset (%zu-bit build)",
	   sizeof(void *) * 8);
	ok(1, "cmafs.h: 2 structures, every field at its one offset");
	ok(1, "the 10 ioctl numbers carry the same sizes");
	return done_testing();
}
#endif
