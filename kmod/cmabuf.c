// SPDX-License-Identifier: GPL-2.0
/*
 * cmabuf - physically contiguous DMA buffers as regular files.
 *
 * /dev/cmabuf allocates buffers through the DMA API on a device of its own
 * (from the default CMA area, or from the device tree memory-region of the
 * node the driver is bound to) and hands each one out as a descriptor of a
 * regular file on a small internal filesystem.  The interface is documented
 * in include/cmabuf.h.
 *
 * Locking: each buffer has a rw_semaphore.  Read/write, page faults, sync and
 * info take it shared; whatever replaces the memory or shrinks the file takes
 * it exclusive.  The memory (buf->r) changes only with both the inode lock
 * and buf->lock (exclusive) held, so either lock keeps it stable; i_size
 * changes under the inode lock, and under buf->lock too when it shrinks, so
 * that no read or fault under buf->lock sees bytes being cut off.  The lock
 * order is inode lock -> mmap_lock (or the VMA lock) -> buf->lock ->
 * i_mmap_rwsem: writes to a CMABUF_ALLOC_FILE buffer fault user pages in
 * under the inode lock as any file system does, faults arrive with the mmap
 * lock held, and a resize calls unmap_mapping_range() under buf->lock.
 * read/write never touch user memory with a page fault pending
 * under buf->lock: they copy with page faults disabled and fault the user
 * pages in after dropping the lock (the user buffer may be a mapping of the
 * very same cmabuf buffer).
 *
 * Sizes: a buffer's capacity is the size of its memory (buf->r.size, a page
 * multiple).  The file's i_size is the capacity, except for buffers made with
 * CMABUF_ALLOC_FILE ("file buffers"), whose i_size is a logical size from 0
 * to the capacity that reads, writes, truncate and mappings honour as in any
 * regular file; writes and truncate grow their memory when the capacity is
 * short.  The bytes of a file buffer past i_size are zero, except possibly
 * in the last page (a mapping can store there): they are zeroed before the
 * file grows over them.
 *
 * Mappings: mmap does not call dma_mmap_attrs().  For dma-direct (the only
 * case here: the device is refused when it sits behind an IOMMU),
 * dma_mmap_attrs() is remap_pfn_range() of the buffer's pages with
 * dma_pgprot(), done once at mmap time; after a resize has zapped such a
 * mapping nothing could re-establish it.  Instead the VMA is VM_MIXEDMAP
 * with a fault handler that inserts the PFNs of the buffer's *current*
 * region under buf->lock, with the page protection dma_pgprot() would give
 * (Normal non-cacheable on arm64 for uncached and writecombine buffers of a
 * non-coherent device, never Device memory; ordinary cached memory for
 * cached buffers).  A resize zaps every mapping of the file before it
 * copies, so the next access faults onto the new region and no store
 * through an old mapping is lost.  The PTEs are "special": the pages are not
 * refcounted by the mappings and cannot be pinned by get_user_pages() (see
 * cmabuf(4), KNOWN LIMITATIONS; debuggers reach them through .access); the
 * memory lives as long as the inode, which every mapping holds through its
 * file.  VM_MIXEDMAP (not VM_PFNMAP) keeps /proc/PID/pagemap able to
 * report the frames, where the kernel has special PTEs (cmabuf_insert()).
 *
 * Lifetime: the memory is freed when the inode is evicted, that is when the
 * last descriptor is closed and the last mapping is gone.  The inode may be
 * opened again (/proc/self/fd, FUSE passthrough opens its own file on it).
 * Each struct file of a buffer, and each open of /dev/cmabuf, pins the
 * internal mount (simple_pin_fs() at creation or open, simple_release_fs()
 * in .release); a buffer's file also holds a reference
 * to it of its own (f_path.mnt).  The file system type is owned by this
 * module, so the superblock holds the module until the VFS has evicted the
 * last inode and torn the superblock down: no code of ours runs after the
 * reference that keeps it loaded is gone.  While neither a buffer file nor
 * the device is open there is no mount at all, and the module can be
 * unloaded.
 *
 * Files and restrictions: every file of a buffer has a dentry of its own
 * (alloc_file_pseudo()), whose d_fsdata holds the restrictions of DUP
 * (CMABUF_F_*).  A reopen through /proc/PID/fd follows the same dentry and
 * so inherits them: a handed-out file cannot be reopened into a less
 * restricted one.
 *
 * Openers: each open of /dev/cmabuf has a struct cmabuf_opener that its
 * buffers keep a reference to.  It remembers whether the opener could see
 * physical addresses (CAP_SYS_ADMIN or CAP_SYS_RAWIO at open, as the kernel
 * asks for pagemap's frame numbers) and what its buffers hold, so that the
 * per-opener cap follows growth and resizes wherever they are made from.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/capability.h>
#include <linux/dma-buf.h>
#include <linux/dma-direct.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/iommu.h>
#include <linux/log2.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/of.h>
#include <linux/of_reserved_mem.h>
#include <linux/overflow.h>
#include <linux/platform_device.h>
#include <linux/pseudo_fs.h>
#include <linux/refcount.h>
#include <linux/rwsem.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/splice.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/user_namespace.h>
#include <linux/version.h>
#include <linux/vmstat.h>
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 17, 0)
#include <linux/pfn_t.h>
#endif

#include "cmabuf.h"

#define CMABUF_FS_MAGIC		0x434d4142	/* "CMAB" */
#define CMABUF_COPY_CHUNK	SZ_1M		/* per hold of buf->lock, or
						 * between cond_resched()s */
#define CMABUF_FAULT_AHEAD	16		/* pages mapped per fault */
#define CMABUF_MAX_ALIGN	SZ_256M		/* beyond the size's own */

static unsigned int dma_bits = 64;
module_param(dma_bits, uint, 0444);
MODULE_PARM_DESC(dma_bits, "DMA address width of the helper's device, 24..64 (default 64)");

static unsigned long long max_bytes;
module_param(max_bytes, ullong, 0644);
MODULE_PARM_DESC(max_bytes, "Bytes all buffers together may hold; 0 (default): half of RAM, or the memory-region's size if larger");

static unsigned long long opener_max_bytes;
module_param(opener_max_bytes, ullong, 0644);
MODULE_PARM_DESC(opener_max_bytes, "Bytes the buffers of one open of /dev/cmabuf without CAP_SYS_ADMIN or CAP_SYS_RAWIO may hold; 0 (default): a quarter of RAM");

/* Restrictions of a buffer file, in its dentry's d_fsdata. */
#define CMABUF_F_HANDED		BIT(0)	/* made by DUP: cannot change the size */
#define CMABUF_F_RDONLY		BIT(1)	/* CMABUF_DUP_RDONLY: never writable */
#define CMABUF_F_NOADDR		BIT(2)	/* CMABUF_DUP_NOADDR */

/* One open of /dev/cmabuf, shared by the buffers allocated through it. */
struct cmabuf_opener {
	refcount_t ref;
	atomic64_t bytes;	/* charged to it: the allocations of its buffers */
	bool priv;		/* CAP_SYS_ADMIN or CAP_SYS_RAWIO at open */
};

/* One allocation from the DMA API, and the buffer's window inside it. */
struct cmabuf_region {
	void *vaddr;		/* kernel address of the allocation */
	struct page *page;	/* cached mode: first page of the allocation */
	dma_addr_t dma;		/* of the allocation */
	phys_addr_t phys;	/* of the allocation */
	size_t alloc_size;	/* bytes allocated */
	size_t offset;		/* start of the buffer in the allocation */
	size_t size;		/* bytes of the buffer, a page multiple */
	u32 cache;		/* CMABUF_CACHE_* */
	bool buddy;		/* from the page allocator, not CMA */
};

struct cmabuf_buf {
	struct rw_semaphore lock;	/* protects r and align */
	struct cmabuf_region r;
	u64 align;
	atomic_t maps;			/* VMAs mapping the buffer */
	atomic_t files;			/* open struct files of it */
	atomic_t exports;		/* live dma-bufs (EXPORT): no moving */
	bool file;			/* CMABUF_ALLOC_FILE: i_size is logical */
	bool nowait;			/* CMABUF_ALLOC_NOWAIT */
	bool noaddr;			/* allocated by an unprivileged opener */
	u64 limit;			/* largest i_size of a file buffer; 0: none */
	struct cmabuf_opener *opener;	/* charged for its memory */
	struct inode *inode;
};

static struct {
	atomic64_t buffers, bytes, allocs, alloc_failures, frees, resizes;
	atomic64_t buddy_regions, buddy_bytes;
} cmabuf_stats;

/* Bytes charged against max_bytes: allocated, or about to be. */
static atomic64_t cmabuf_charged;

static struct device *cmabuf_device;	/* the bound device; one at most */
static bool cmabuf_cached_ok;		/* cached buffers can be allocated */
static bool cmabuf_has_region;		/* memory-region in use */
static phys_addr_t cmabuf_region_base;	/* and where it is */
static phys_addr_t cmabuf_region_size;
static struct platform_device *cmabuf_pdev;	/* ours, when no DT node */
static struct vfsmount *cmabuf_mnt;	/* while some buffer file is open */
static int cmabuf_mnt_count;		/* open buffer files: simple_pin_fs() */

static const char *const cmabuf_cache_names[] = {
	[CMABUF_CACHE_UNCACHED] = "uncached",
	[CMABUF_CACHE_CACHED] = "cached",
	[CMABUF_CACHE_WRITECOMBINE] = "writecombine",
};

static unsigned long cmabuf_attrs(u32 cache)
{
	return cache == CMABUF_CACHE_WRITECOMBINE ? DMA_ATTR_WRITE_COMBINE : 0;
}

/* What dma_pgprot() (not exported) gives for dma_mmap_attrs(). */
static pgprot_t cmabuf_pgprot(u32 cache, pgprot_t prot)
{
	if (cache == CMABUF_CACHE_CACHED || dev_is_dma_coherent(cmabuf_device))
		return prot;
#ifdef CONFIG_ARCH_HAS_DMA_WRITE_COMBINE
	if (cache == CMABUF_CACHE_WRITECOMBINE)
		return pgprot_writecombine(prot);
#endif
	return pgprot_dmacoherent(prot);
}

/*
 * Did dma-direct take @r from the page allocator rather than from CMA?
 * Nothing exported says which pageblocks are CMA, but the two allocators
 * leave different marks: CMA (alloc_contig_range()) hands out every page
 * with a reference of its own, while a high-order page from the buddy
 * allocator (never compound here: dma-direct asks without __GFP_COMP)
 * holds its one reference in the first page.  A single page from the
 * default area always comes from the page allocator
 * (dma_alloc_contiguous() leaves those to it); a region of our own has
 * known bounds.
 */
static bool cmabuf_from_page_allocator(const struct cmabuf_region *r)
{
	if (cmabuf_has_region)
		return r->phys < cmabuf_region_base ||
		       r->phys + r->alloc_size > cmabuf_region_base + cmabuf_region_size;
	if (r->alloc_size <= PAGE_SIZE)
		return true;
	return page_ref_count(pfn_to_page(PHYS_PFN(r->phys) + 1)) == 0;
}

/* How a region is allocated. */
#define CMABUF_QUIET	BIT(0)	/* an attempt with a fallback: not logged */
#define CMABUF_NOWAIT	BIT(1)	/* never sleep on a locked page */

/*
 * Pages that allocations passing over locked pages (CMABUF_NOWAIT) may still
 * take outside CMA: counted before the check, so that allocations at the same
 * time cannot each find the same free memory enough.
 */
static atomic_long_t cmabuf_nowait_pages;

/*
 * What the page allocator keeps back from ordinary allocations: each zone's
 * high watermark and its largest lowmem reserve, as the kernel's
 * calculate_totalreserve_pages() counts them (totalreserve_pages itself is
 * not exported).  Read without locks: an estimate, as theirs.
 */
static unsigned long cmabuf_reserve_pages(void)
{
	unsigned long pages = 0;
	int nid, i, j;

	for_each_online_node(nid) {
		pg_data_t *pgdat = NODE_DATA(nid);

		for (i = 0; i < MAX_NR_ZONES; i++) {
			struct zone *zone = &pgdat->node_zones[i];
			long reserve = 0;

			if (!populated_zone(zone))
				continue;
			for (j = i; j < MAX_NR_ZONES; j++)
				reserve = max(reserve, READ_ONCE(zone->lowmem_reserve[j]));
			pages += reserve + high_wmark_pages(zone);
		}
	}
	return pages;
}

/*
 * May an allocation of @pages pass over locked pages?  It then runs with
 * PF_MEMALLOC (see cmabuf_alloc_exact()), and whatever the page allocator
 * cannot give it above the watermarks it takes from the memory reserves:
 * the pages CMA migrates lent-out data into (alloc_contig_range() asks for
 * them with a mask of its own, without __GFP_NOMEMALLOC), the page tables
 * and page array of dma-direct's kernel mapping.  So it may only while the
 * free memory outside CMA covers, above the reserves, everything it can
 * take: its own size (every page of the range may have to be migrated, or,
 * for dma-direct's fallback, be taken from there), that of the others
 * under way, and a margin for everybody else's allocations meanwhile (the
 * larger of 1/64 of RAM and 8 MiB: a migration runs for tens of
 * milliseconds per 64 MiB, during which the rest of the system allocates as
 * usual, and kswapd is only woken below the low watermark).  Then every
 * page comes from the allocator's fast path, above the low watermark, and
 * the reserves are never touched.  On success the pages stay counted in
 * cmabuf_nowait_pages until cmabuf_nowait_end().
 */
static bool cmabuf_nowait_begin(unsigned long pages, bool quiet)
{
	unsigned long free = global_zone_page_state(NR_FREE_PAGES);
	unsigned long cma = global_zone_page_state(NR_FREE_CMA_PAGES);
	unsigned long margin = max_t(unsigned long, totalram_pages() / 64,
				     SZ_8M >> PAGE_SHIFT);
	unsigned long want, busy;

	free = free > cma ? free - cma : 0;
	busy = atomic_long_add_return(pages, &cmabuf_nowait_pages);
	want = busy + cmabuf_reserve_pages() + margin;
	if (free >= want)
		return true;
	atomic_long_sub(pages, &cmabuf_nowait_pages);
	if (!quiet)
		pr_warn_ratelimited("%s[%d]: not enough free memory outside CMA to pass over locked pages: %lu pages asked, %lu free, %lu wanted (%lu under way, %lu reserved, %lu margin)\n",
				    current->comm, task_pid_nr(current), pages,
				    free, want, busy, want - busy - margin, margin);
	return false;
}

static void cmabuf_nowait_end(unsigned long pages)
{
	atomic_long_sub(pages, &cmabuf_nowait_pages);
}

static int cmabuf_alloc_exact(struct cmabuf_region *r, size_t size, u32 cache,
			      unsigned int how)
{
	struct device *dev = cmabuf_device;
	unsigned long pages = size >> PAGE_SHIFT;
	unsigned int noreclaim = 0;
	/*
	 * __GFP_NOWARN: any user of the device can ask for what cannot be
	 * had, and the kernel's own failure reports (cma_alloc's line and, on
	 * 6.12, one line per free extent of the area; the page allocator's
	 * warning and stack dump) are not rate limited as a whole.  Our own
	 * rate-limited line says what failed.  __GFP_ACCOUNT: dma-direct's
	 * fallback to the page allocator charges those pages to the caller's
	 * memory cgroup; CMA passes on nothing but __GFP_NOWARN, so pages
	 * from the area are never charged.
	 */
	gfp_t gfp = GFP_KERNEL | __GFP_NOWARN | __GFP_ACCOUNT;

	/*
	 * CMA makes room by migrating the movable pages of a range, and in
	 * MIGRATE_SYNC mode sleeps (uninterruptibly, holding the global
	 * cma_mutex that every CMA user of the system takes) on each locked
	 * one until it is unlocked.  A FUSE server's own page cache may hold
	 * such a page, locked by a read or write that waits for the server's
	 * reply: that is, for us.  Migration does not sleep on page locks in
	 * a PF_MEMALLOC task (direct compaction sets it for the same reason,
	 * migrate.c gives the page up), so CMA gives up that range and tries
	 * the next, and fails with ENOSPC when none is left.  With no page
	 * lock waited for, alloc_contig_range() sees a fatal signal between
	 * migration passes and cma_alloc() stops at its -EINTR: the task can
	 * be killed.  PF_MEMALLOC also turns direct reclaim off and lets the
	 * allocations made for us use the memory reserves: cmabuf_nowait_begin()
	 * lets it be set only while there is memory enough above them, and
	 * __GFP_NOMEMALLOC keeps dma-direct's fallback to the page allocator,
	 * the one allocation our mask reaches, out of them in any case.  A
	 * no-map pool of our own migrates nothing and has no fallback.
	 */
	if (cmabuf_has_region && !cmabuf_cached_ok)
		how &= ~CMABUF_NOWAIT;
	if (how & CMABUF_NOWAIT) {
		if (!cmabuf_nowait_begin(pages, how & CMABUF_QUIET))
			return -ENOMEM;
		gfp |= __GFP_NOMEMALLOC;
		noreclaim = memalloc_noreclaim_save();
	}
	memset(r, 0, sizeof(*r));
	r->alloc_size = size;
	r->cache = cache;
	if (cache == CMABUF_CACHE_CACHED) {
		r->page = dma_alloc_pages(dev, size, &r->dma, DMA_BIDIRECTIONAL,
					  gfp);
		if (r->page) {
			r->vaddr = page_address(r->page);
			r->phys = page_to_phys(r->page);
		}
	} else {
		r->vaddr = dma_alloc_attrs(dev, size, &r->dma, gfp,
					   cmabuf_attrs(cache));
		if (r->vaddr)
			r->phys = dma_to_phys(dev, r->dma);
	}
	if (how & CMABUF_NOWAIT) {
		memalloc_noreclaim_restore(noreclaim);
		cmabuf_nowait_end(pages);
	}
	if (!r->vaddr)
		return fatal_signal_pending(current) ? -EINTR : -ENOSPC;
	/* The zeroes must be in memory, not only in the CPU caches. */
	if (cache == CMABUF_CACHE_CACHED)
		dma_sync_single_for_device(dev, r->dma, size,
					   DMA_BIDIRECTIONAL);
	r->buddy = cmabuf_from_page_allocator(r);
	return 0;
}

static void cmabuf_free_exact(struct cmabuf_region *r)
{
	if (r->cache == CMABUF_CACHE_CACHED)
		dma_free_pages(cmabuf_device, r->alloc_size, r->page, r->dma,
			       DMA_BIDIRECTIONAL);
	else
		dma_free_attrs(cmabuf_device, r->alloc_size, r->vaddr, r->dma,
			       cmabuf_attrs(r->cache));
}

static u64 cmabuf_ram(void)
{
	return (u64)totalram_pages() << PAGE_SHIFT;
}

/*
 * The module-wide cap.  Half of RAM by default: the page allocator's
 * fallback can take ordinary memory, and what a group of users pins here
 * is neither reclaimable nor swappable; a region of our own may be larger
 * (then it is all there is to take).
 */
static u64 cmabuf_max_bytes(void)
{
	u64 cap = READ_ONCE(max_bytes);

	return cap ? cap : max_t(u64, cmabuf_ram() / 2, cmabuf_region_size);
}

/*
 * The cap of one unprivileged opener: half of the default module-wide cap,
 * so that one opener alone cannot take all the others may have.
 */
static u64 cmabuf_opener_max_bytes(void)
{
	u64 cap = READ_ONCE(opener_max_bytes);

	return cap ? cap : cmabuf_ram() / 4;
}

static void cmabuf_uncharge(struct cmabuf_opener *o, u64 bytes)
{
	atomic64_sub(bytes, &cmabuf_charged);
	atomic64_sub(bytes, &o->bytes);
}

/*
 * Count @bytes against the caps before allocating them, so that racing
 * allocations cannot overshoot: ENOSPC past the module-wide cap, EDQUOT past
 * the opener's.  Each says once (rate limited) which cap and how to raise it.
 */
static int cmabuf_charge(struct cmabuf_opener *o, u64 bytes, bool quiet)
{
	u64 cap = cmabuf_max_bytes();
	u64 now = atomic64_add_return(bytes, &cmabuf_charged);

	if (now > cap) {
		atomic64_sub(bytes, &cmabuf_charged);
		if (!quiet)
			pr_warn_ratelimited("max_bytes cap reached: %llu of %llu bytes in use, %llu more asked; raise /sys/module/cmabuf/parameters/max_bytes\n",
					    now - bytes, cap, bytes);
		return -ENOSPC;
	}
	now = atomic64_add_return(bytes, &o->bytes);
	if (!o->priv && now > (cap = cmabuf_opener_max_bytes())) {
		cmabuf_uncharge(o, bytes);
		if (!quiet)
			pr_warn_ratelimited("opener_max_bytes cap reached by %s[%d]: %llu of %llu bytes in use, %llu more asked; raise /sys/module/cmabuf/parameters/opener_max_bytes (openers with CAP_SYS_ADMIN or CAP_SYS_RAWIO have no such cap)\n",
					    current->comm, task_pid_nr(current),
					    now - bytes, cap, bytes);
		return -EDQUOT;
	}
	return 0;
}

/*
 * A region of @size bytes (a page multiple) whose physical address is a
 * multiple of @align, charged to @o; size 0 is a region without memory.  A
 * CMABUF_QUIET failure (an attempt with a fallback) is neither logged nor
 * counted.  Fails with ENOSPC (no room), EDQUOT (the opener's cap), ENOMEM
 * (CMABUF_NOWAIT, memory too low to pass over locked pages safely) or
 * EINTR (a fatal signal: the task is dying, nothing is logged).
 */
static int cmabuf_region_alloc(struct cmabuf_region *r, u64 size, u64 align,
			       u32 cache, unsigned int how,
			       struct cmabuf_opener *o)
{
	bool quiet = how & CMABUF_QUIET;
	u64 ram = cmabuf_ram();
	size_t bigger;
	int ret;

	if (!size) {
		memset(r, 0, sizeof(*r));
		r->cache = cache;
		return 0;
	}
	if (size > ram || size > (SIZE_MAX & PAGE_MASK)) {
		ret = -ENOSPC;
		goto fail;
	}
	ret = cmabuf_charge(o, size, quiet);
	if (ret)
		goto fail_cap;
	ret = cmabuf_alloc_exact(r, size, cache, how);
	if (ret) {
		cmabuf_uncharge(o, size);
		goto fail;
	}
	if (IS_ALIGNED(r->phys, align))
		goto done;

	/*
	 * Rare: CMA aligns to min(size, CMA_ALIGNMENT); over-allocate.  What
	 * the alignment costs is charged too.
	 */
	cmabuf_free_exact(r);
	if (fatal_signal_pending(current)) {
		cmabuf_uncharge(o, size);
		ret = -EINTR;
		goto fail;
	}
	if (check_add_overflow((size_t)size, (size_t)(align - PAGE_SIZE),
			       &bigger) || bigger > ram) {
		cmabuf_uncharge(o, size);
		ret = -ENOSPC;
		goto fail;
	}
	ret = cmabuf_charge(o, bigger - size, quiet);
	if (ret) {
		cmabuf_uncharge(o, size);
		goto fail_cap;
	}
	ret = cmabuf_alloc_exact(r, bigger, cache, how);
	if (ret) {
		cmabuf_uncharge(o, bigger);
		goto fail;
	}
	r->offset = ALIGN(r->phys, align) - r->phys;
done:
	r->size = size;
	atomic64_inc(&cmabuf_stats.allocs);
	atomic64_add(r->alloc_size, &cmabuf_stats.bytes);
	if (r->buddy) {
		atomic64_inc(&cmabuf_stats.buddy_regions);
		atomic64_add(r->alloc_size, &cmabuf_stats.buddy_bytes);
	}
	return 0;
fail:
	/* ENOMEM has logged its own line; a dying task has no one to tell. */
	if (quiet || ret == -EINTR)
		return ret;
	if (ret == -ENOMEM)
		goto fail_cap;
	pr_err_ratelimited("alloc failed, req-size: %llu pages, align: %llu, cache: %s, ret: %d\n",
			   size >> PAGE_SHIFT, align, cmabuf_cache_names[cache],
			   ret);
fail_cap:
	/* A cap (or the memory check) has logged its own line. */
	if (!quiet)
		atomic64_inc(&cmabuf_stats.alloc_failures);
	return ret;
}

static void cmabuf_region_free(struct cmabuf_region *r,
			       struct cmabuf_opener *o)
{
	if (!r->alloc_size)
		return;
	cmabuf_free_exact(r);
	cmabuf_uncharge(o, r->alloc_size);
	atomic64_inc(&cmabuf_stats.frees);
	atomic64_sub(r->alloc_size, &cmabuf_stats.bytes);
	if (r->buddy) {
		atomic64_dec(&cmabuf_stats.buddy_regions);
		atomic64_sub(r->alloc_size, &cmabuf_stats.buddy_bytes);
	}
}

static void *cmabuf_vaddr(struct cmabuf_buf *buf)
{
	return buf->r.vaddr + buf->r.offset;
}

/*
 * Checks and rounds the arguments of ALLOC and RESIZE; size 0 is valid for
 * file buffers (@file).
 */
static int cmabuf_check_args(u64 size, u64 align, u32 cache, bool file,
			     size_t *psize, u64 *palign)
{
	if (cache > CMABUF_CACHE_WRITECOMBINE)
		return -EINVAL;
	if ((!size && !file) || size > (SIZE_MAX & PAGE_MASK))
		return -EINVAL;
	if (!align)
		align = PAGE_SIZE;
	if (!is_power_of_2(align) || align < PAGE_SIZE ||
	    align > (SIZE_MAX & PAGE_MASK))
		return -EINVAL;
	/*
	 * An alignment CMA does not give by itself is over-allocated: a page
	 * aligned to 1 GiB would cost 1 GiB.  Up to CMABUF_MAX_ALIGN, or up
	 * to the size rounded up to a power of two (align / 2 < size, align
	 * being one), whichever is larger.
	 */
	if (align > CMABUF_MAX_ALIGN && align / 2 >= size)
		return -EINVAL;
	if (cache == CMABUF_CACHE_CACHED && !cmabuf_cached_ok)
		return -EOPNOTSUPP;
	*psize = PAGE_ALIGN(size);
	*palign = align;
	return 0;
}

static struct cmabuf_buf *cmabuf_buf_of(struct file *file)
{
	return file_inode(file)->i_private;
}

/* CMABUF_F_* of the file's dentry. */
static unsigned long cmabuf_fflags(const struct dentry *dentry)
{
	return (unsigned long)dentry->d_fsdata;
}

static unsigned long cmabuf_file_flags(const struct file *file)
{
	return cmabuf_fflags(file->f_path.dentry);
}

/* Can this file tell where the buffer is? */
static bool cmabuf_file_addrs(const struct file *file)
{
	const struct cmabuf_buf *buf = file_inode(file)->i_private;

	return !buf->noaddr && !(cmabuf_file_flags(file) & CMABUF_F_NOADDR);
}

/*
 * memcpy() and memset() in chunks with a rescheduling point between them:
 * buffers can be GiB large, and uncached memory is slow to touch.  Fine
 * under buf->lock, a sleeping lock.  An @intr copy stops at a fatal signal
 * (-EINTR): it fills new memory that the caller can then drop.  Zeroing
 * goes to the end: what it clears is part of the file's contents.
 */
static int cmabuf_memcpy(void *dst, const void *src, size_t len, bool intr)
{
	while (len) {
		size_t n = min_t(size_t, len, CMABUF_COPY_CHUNK);

		memcpy(dst, src, n);
		dst += n;
		src += n;
		len -= n;
		if (intr && len && fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
	return 0;
}

static void cmabuf_memzero(void *dst, size_t len)
{
	while (len) {
		size_t n = min_t(size_t, len, CMABUF_COPY_CHUNK);

		memset(dst, 0, n);
		dst += n;
		len -= n;
		cond_resched();
	}
}

/* ---- the buffer file ---------------------------------------------------- */

/* Where reads stop: i_size, at most the capacity.  Under buf->lock. */
static u64 cmabuf_read_end(struct cmabuf_buf *buf)
{
	if (!buf->file)
		return buf->r.size;
	return min_t(u64, i_size_read(buf->inode), buf->r.size);
}

/*
 * Copy between the buffer and @iter from iocb->ki_pos on, up to the end of
 * the file (read) or of the memory (write), in chunks under buf->lock.
 */
static ssize_t cmabuf_copy(struct cmabuf_buf *buf, struct kiocb *iocb,
			   struct iov_iter *iter, bool write)
{
	loff_t pos = iocb->ki_pos;
	ssize_t done = 0;
	int err = 0;

	if (pos < 0)
		return -EINVAL;
	while (iov_iter_count(iter)) {
		size_t n, copied, left;
		u64 end;

		down_read(&buf->lock);
		end = write ? buf->r.size : cmabuf_read_end(buf);
		if (pos >= end) {
			up_read(&buf->lock);
			if (write && !done)
				err = -ENOSPC;
			break;
		}
		n = min_t(u64, iov_iter_count(iter), end - pos);
		n = min_t(size_t, n, CMABUF_COPY_CHUNK);
		pagefault_disable();
		if (write)
			copied = copy_from_iter(cmabuf_vaddr(buf) + pos, n, iter);
		else
			copied = copy_to_iter(cmabuf_vaddr(buf) + pos, n, iter);
		pagefault_enable();
		up_read(&buf->lock);

		pos += copied;
		done += copied;
		left = n - copied;
		if (left && (!user_backed_iter(iter) ||
			     (write ? fault_in_iov_iter_readable(iter, left) :
				      fault_in_iov_iter_writeable(iter, left)) == left)) {
			err = -EFAULT;
			break;
		}
		if (fatal_signal_pending(current)) {
			err = -EINTR;
			break;
		}
		cond_resched();
	}
	iocb->ki_pos = pos;
	return done ? done : err;
}

static ssize_t cmabuf_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	return cmabuf_copy(cmabuf_buf_of(iocb->ki_filp), iocb, to, false);
}

/*
 * Put @nr (of the same cache mode, or unmapped) in place of the buffer's
 * memory, keeping the first min(old, new) bytes, and free the old memory.
 * Called with the inode lock held.  Fails (freeing @nr) with -EBUSY for a
 * change of cache mode while the buffer is mapped, and with -EINTR when a
 * fatal signal comes first or during the copy: the old memory stays, and
 * the zapped mappings fault it in again.
 */
static int cmabuf_replace(struct cmabuf_buf *buf, struct cmabuf_region *nr,
			  u64 align)
{
	struct inode *inode = buf->inode;
	struct cmabuf_region old;
	size_t keep;
	int ret;

	down_write(&buf->lock);
	if (nr->cache != buf->r.cache && atomic_read(&buf->maps))
		ret = -EBUSY;
	else if (atomic_read(&buf->exports))
		ret = -EBUSY;	/* an importer keeps the old address */
	else if (fatal_signal_pending(current))
		ret = -EINTR;
	else
		ret = 0;
	if (ret) {
		up_write(&buf->lock);
		cmabuf_region_free(nr, buf->opener);
		return ret;
	}
	/*
	 * Zap the mappings before copying: from here on every access through
	 * them faults and waits for buf->lock, then maps the new region.
	 */
	unmap_mapping_range(inode->i_mapping, 0, 0, 1);
	keep = min(nr->size, buf->r.size);
	/*
	 * A file buffer's bytes past the page holding its end are zero: the
	 * new memory already is.
	 */
	if (buf->file)
		keep = min_t(u64, keep, round_up((u64)i_size_read(inode), PAGE_SIZE));
	if (keep) {
		/* What the device wrote since the last SYNC_CPU counts too. */
		if (buf->r.cache == CMABUF_CACHE_CACHED)
			dma_sync_single_for_cpu(cmabuf_device,
						buf->r.dma + buf->r.offset,
						keep, DMA_BIDIRECTIONAL);
		/*
		 * Once cached memory has been synced for the CPU, its stores
		 * not yet cleaned live in the copy only: no stopping then.
		 */
		ret = cmabuf_memcpy(nr->vaddr + nr->offset, cmabuf_vaddr(buf),
				    keep, buf->r.cache != CMABUF_CACHE_CACHED);
		if (ret) {
			up_write(&buf->lock);
			cmabuf_region_free(nr, buf->opener);
			return ret;
		}
		if (nr->cache == CMABUF_CACHE_CACHED)
			dma_sync_single_for_device(cmabuf_device,
						   nr->dma + nr->offset, keep,
						   DMA_BIDIRECTIONAL);
	}
	old = buf->r;
	buf->r = *nr;
	buf->align = align;
	if (!buf->file)
		i_size_write(inode, nr->size);
	else if (i_size_read(inode) > nr->size)
		i_size_write(inode, nr->size);
	up_write(&buf->lock);

	cmabuf_region_free(&old, buf->opener);
	atomic64_inc(&cmabuf_stats.resizes);
	return 0;
}

/*
 * How allocations for @buf are made: passing over locked pages unless the
 * buffer was allocated without CMABUF_ALLOC_NOWAIT through a privileged
 * open (see cmabuf(4): root's own choice to wait, as before).
 */
static unsigned int cmabuf_how(const struct cmabuf_buf *buf)
{
	return buf->nowait || !buf->opener->priv ? CMABUF_NOWAIT : 0;
}

/* Give a file buffer @size bytes of memory.  With the inode lock held. */
static int cmabuf_grow(struct cmabuf_buf *buf, u64 size, bool quiet)
{
	struct cmabuf_region nr;
	int ret;

	ret = cmabuf_region_alloc(&nr, size, buf->align, buf->r.cache,
				  cmabuf_how(buf) | (quiet ? CMABUF_QUIET : 0),
				  buf->opener);
	if (ret)
		return ret;
	return cmabuf_replace(buf, &nr, buf->align);
}

/*
 * Room for a write up to @end: twice the capacity when that can be had (so
 * that appending S bytes copies O(S) in all), else exactly enough.
 */
static int cmabuf_grow_for_write(struct cmabuf_buf *buf, u64 end)
{
	u64 need = round_up(end, PAGE_SIZE), cap = buf->r.size;

	if (cap && 2 * cap > need && !cmabuf_grow(buf, 2 * cap, true))
		return 0;
	/* No second allocation for a dying task. */
	if (fatal_signal_pending(current))
		return -EINTR;
	return cmabuf_grow(buf, need, false);
}

/*
 * Zero what lies past the end of a file buffer in its last page (a mapping
 * may have stored there) before the file grows over it.  With the inode
 * lock held.
 */
static void cmabuf_zero_eof_page(struct cmabuf_buf *buf)
{
	u64 size = i_size_read(buf->inode);
	u64 end = min_t(u64, round_up(size, PAGE_SIZE), buf->r.size);

	if (end > size)
		memset(cmabuf_vaddr(buf) + size, 0, end - size);
}

static ssize_t cmabuf_file_write(struct kiocb *iocb, struct iov_iter *from)
{
	struct file *file = iocb->ki_filp;
	struct inode *inode = file_inode(file);
	struct cmabuf_buf *buf = inode->i_private;
	ssize_t ret;
	int err;
	u64 end;

	inode_lock(inode);
	/* O_APPEND, RLIMIT_FSIZE, s_maxbytes (so pos + count cannot wrap) */
	ret = generic_write_checks(iocb, from);
	if (ret <= 0)
		goto out;
	/* The file's largest size, as generic_write_checks() does s_maxbytes. */
	if (buf->limit && iocb->ki_pos + ret > buf->limit) {
		if (iocb->ki_pos >= buf->limit) {
			ret = -EFBIG;
			goto out;
		}
		ret = buf->limit - iocb->ki_pos;
		iov_iter_truncate(from, ret);
	}
	/* A handed-out file changes the contents, never the size. */
	if (cmabuf_file_flags(file) & CMABUF_F_HANDED) {
		loff_t size = i_size_read(inode);

		if (iocb->ki_pos >= size) {
			ret = -ENOSPC;
			goto out;
		}
		if (iocb->ki_pos + ret > size) {
			ret = size - iocb->ki_pos;
			iov_iter_truncate(from, ret);
		}
	}
	end = iocb->ki_pos + ret;
	err = end > buf->r.size ? cmabuf_grow_for_write(buf, end) : 0;
	if (err) {
		/*
		 * No room for all of it: write what fits.  A dying task
		 * writes nothing; nor does one refused for low memory
		 * (ENOMEM: try again later) whose write starts past the end.
		 */
		if (err == -EINTR || iocb->ki_pos >= buf->r.size) {
			ret = err == -EINTR || err == -ENOMEM ? err : -ENOSPC;
			goto out;
		}
		iov_iter_truncate(from, buf->r.size - iocb->ki_pos);
		end = buf->r.size;
	}
	ret = file_update_time(file);
	if (ret)
		goto out;
	if (end > i_size_read(inode))
		cmabuf_zero_eof_page(buf);
	ret = cmabuf_copy(buf, iocb, from, true);
	if (iocb->ki_pos > i_size_read(inode))
		i_size_write(inode, iocb->ki_pos);
out:
	inode_unlock(inode);
	return ret;
}

static ssize_t cmabuf_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct cmabuf_buf *buf = cmabuf_buf_of(iocb->ki_filp);

	if (buf->file)
		return cmabuf_file_write(iocb, from);
	if (iocb->ki_flags & IOCB_APPEND)
		iocb->ki_pos = i_size_read(file_inode(iocb->ki_filp));
	return cmabuf_copy(buf, iocb, from, true);
}

/*
 * truncate of a file buffer: within the capacity only i_size changes (what
 * a shrink cuts off is zeroed up to the end of the old last page, where a
 * mapping may have stored past the old end, so that a later grow reads
 * zeros); beyond it the memory grows to exactly the new size first.  With
 * the inode lock held.
 */
static int cmabuf_file_set_size(struct cmabuf_buf *buf, loff_t size)
{
	struct inode *inode = buf->inode;
	loff_t old = i_size_read(inode);
	int ret;

	if (size > buf->r.size) {
		ret = cmabuf_grow(buf, round_up((u64)size, PAGE_SIZE), false);
		if (ret)
			return ret;
	}
	if (size > old) {
		cmabuf_zero_eof_page(buf);
		i_size_write(inode, size);
	} else if (size < old) {
		u64 tail = min_t(u64, round_up((u64)old, PAGE_SIZE), buf->r.size);

		/* As truncate_pagecache(): no access past the new end. */
		down_write(&buf->lock);
		i_size_write(inode, size);
		unmap_mapping_range(inode->i_mapping,
				    round_up((u64)size, PAGE_SIZE), 0, 1);
		cmabuf_memzero(cmabuf_vaddr(buf) + size, tail - size);
		up_write(&buf->lock);
	}
	return 0;
}

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
#define CMABUF_IDMAP	struct mnt_idmap
#else
#define CMABUF_IDMAP	struct user_namespace
#endif

static int cmabuf_setattr(CMABUF_IDMAP *idmap, struct dentry *dentry,
			  struct iattr *attr)
{
	struct inode *inode = d_inode(dentry);
	struct cmabuf_buf *buf = inode->i_private;
	int ret;

	/*
	 * The owner and mode stay those of the allocation: the device's
	 * permissions decide who may have buffers, not the buffers.
	 */
	if (attr->ia_valid & (ATTR_MODE | ATTR_UID | ATTR_GID))
		return -EPERM;
	if (attr->ia_valid & ATTR_SIZE) {
		/* A handed-out file (and a reopen of one) has its dentry. */
		if (cmabuf_fflags(dentry) & CMABUF_F_HANDED)
			return -EPERM;
		/* Other buffers' size is their capacity: RESIZE changes it. */
		if (!buf->file)
			return -EINVAL;
	}
	if (!buf->file)
		return simple_setattr(idmap, dentry, attr);
	ret = setattr_prepare(idmap, dentry, attr);
	if (ret)
		return ret;
	if (attr->ia_valid & ATTR_SIZE) {
		if (buf->limit && attr->ia_size > buf->limit)
			return -EFBIG;
		ret = cmabuf_file_set_size(buf, attr->ia_size);
		if (ret)
			return ret;
	}
	setattr_copy(idmap, inode, attr);
	mark_inode_dirty(inode);
	return 0;
}

static const struct inode_operations cmabuf_buf_iops = {
	.setattr = cmabuf_setattr,
};

/* Called with buf->lock held. */
static int cmabuf_sync_locked(struct cmabuf_buf *buf, u64 off, u64 len,
			      u32 direction)
{
	struct cmabuf_region *r = &buf->r;

	if (off > r->size || len > r->size - off)
		return -EINVAL;
	if (!len)
		return 0;
	if (r->cache != CMABUF_CACHE_CACHED) {
		/* Coherent memory: only the CPU's write buffers to drain. */
		if (direction == CMABUF_SYNC_DEVICE)
			wmb();
		else
			rmb();
		return 0;
	}
	if (direction == CMABUF_SYNC_DEVICE)
		dma_sync_single_for_device(cmabuf_device,
					   r->dma + r->offset + off, len,
					   DMA_BIDIRECTIONAL);
	else
		dma_sync_single_for_cpu(cmabuf_device,
					r->dma + r->offset + off, len,
					DMA_BIDIRECTIONAL);
	return 0;
}

static int cmabuf_fsync(struct file *file, loff_t start, loff_t end,
			int datasync)
{
	struct cmabuf_buf *buf = cmabuf_buf_of(file);
	int ret;

	down_read(&buf->lock);
	ret = cmabuf_sync_locked(buf, 0, buf->r.size, CMABUF_SYNC_DEVICE);
	up_read(&buf->lock);
	return ret;
}

static void cmabuf_vm_open(struct vm_area_struct *vma)
{
	struct cmabuf_buf *buf = vma->vm_private_data;

	atomic_inc(&buf->maps);
}

static void cmabuf_vm_close(struct vm_area_struct *vma)
{
	struct cmabuf_buf *buf = vma->vm_private_data;

	atomic_dec(&buf->maps);
}

/*
 * Without special PTEs (32-bit ARM without LPAE), vmf_insert_mixed() maps a
 * PFN that has a struct page as a normal page: the mapping takes a
 * reference and a map count on it, get_user_pages() pins it, and a page
 * of a high-order allocation from the page allocator, whose reference is
 * in its first page only, goes back to the page allocator when it is
 * unmapped.  There the VMA is VM_PFNMAP instead: vm_normal_page() sees no
 * page behind its PTEs, as with special PTEs, and GUP refuses it.  The
 * cost: /proc/PID/pagemap does not walk VM_PFNMAP VMAs.
 */
#ifdef CONFIG_ARCH_HAS_PTE_SPECIAL
#define CMABUF_VM_MAP	VM_MIXEDMAP
#else
#define CMABUF_VM_MAP	VM_PFNMAP
#endif

static vm_fault_t cmabuf_insert(struct vm_area_struct *vma, unsigned long addr,
				unsigned long pfn)
{
#ifndef CONFIG_ARCH_HAS_PTE_SPECIAL
	return vmf_insert_pfn(vma, addr, pfn);
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(6, 17, 0)
	return vmf_insert_mixed(vma, addr, pfn);
#else
	return vmf_insert_mixed(vma, addr, pfn_to_pfn_t(pfn));
#endif
}

static vm_fault_t cmabuf_vm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct cmabuf_buf *buf = vma->vm_private_data;
	unsigned long addr = vmf->address & PAGE_MASK;
	unsigned long npages, pfn;
	pgoff_t pgoff = vmf->pgoff;
	vm_fault_t ret;
	int i;

	down_read(&buf->lock);
	npages = DIV_ROUND_UP(cmabuf_read_end(buf), PAGE_SIZE);
	if (pgoff >= npages) {
		up_read(&buf->lock);
		return VM_FAULT_SIGBUS;
	}
	pfn = PHYS_PFN(buf->r.phys + buf->r.offset) + pgoff;
	ret = cmabuf_insert(vma, addr, pfn);
	/* Map a few pages ahead: a sequential pass takes fewer faults. */
	for (i = 1; ret == VM_FAULT_NOPAGE && i < CMABUF_FAULT_AHEAD; i++) {
		if (addr + i * PAGE_SIZE >= vma->vm_end || pgoff + i >= npages)
			break;
		if (cmabuf_insert(vma, addr + i * PAGE_SIZE, pfn + i) !=
		    VM_FAULT_NOPAGE)
			break;
	}
	up_read(&buf->lock);
	return ret;
}

/*
 * The mappings' PTEs are special (no struct page behind them as far as
 * get_user_pages() is concerned, see the top of this file).  The kernel's
 * accesses to another process's memory through access_remote_vm() --
 * ptrace(PEEKDATA/POKEDATA), so gdb, and /proc/PID/mem -- come here once
 * GUP has failed (process_vm_readv() has no such fallback).  Copy through the kernel's own mapping of the
 * buffer, within the pages the fault handler would map, and only where
 * the mapping itself is writable for a write.
 */
static int cmabuf_vm_access(struct vm_area_struct *vma, unsigned long addr,
			    void *data, int len, int write)
{
	struct cmabuf_buf *buf = vma->vm_private_data;
	u64 off, end;

	if (write && !(vma->vm_flags & VM_WRITE))
		return -EACCES;
	if (len <= 0)
		return 0;
	off = ((u64)vma->vm_pgoff << PAGE_SHIFT) + (addr - vma->vm_start);
	down_read(&buf->lock);
	end = min_t(u64, PAGE_ALIGN(cmabuf_read_end(buf)), buf->r.size);
	if (off >= end) {
		up_read(&buf->lock);
		return -EFAULT;
	}
	len = min_t(u64, len, end - off);
	if (write)
		memcpy(cmabuf_vaddr(buf) + off, data, len);
	else
		memcpy(data, cmabuf_vaddr(buf) + off, len);
	up_read(&buf->lock);
	return len;
}

static const struct vm_operations_struct cmabuf_vm_ops = {
	.open = cmabuf_vm_open,
	.close = cmabuf_vm_close,
	.fault = cmabuf_vm_fault,
	.access = cmabuf_vm_access,
};

static int cmabuf_mmap_buf(struct cmabuf_buf *buf, struct vm_area_struct *vma)
{
	/*
	 * Private (copy-on-write) mappings of DMA memory make no sense.  Test
	 * VM_MAYSHARE: a MAP_SHARED mapping of a read-only descriptor has no
	 * VM_SHARED.
	 */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;

	down_read(&buf->lock);
	vma->vm_page_prot = cmabuf_pgprot(buf->r.cache, vma->vm_page_prot);
	atomic_inc(&buf->maps);
	up_read(&buf->lock);

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_set(vma, CMABUF_VM_MAP | VM_DONTEXPAND | VM_DONTDUMP);
#else
	vma->vm_flags |= CMABUF_VM_MAP | VM_DONTEXPAND | VM_DONTDUMP;
#endif
	vma->vm_ops = &cmabuf_vm_ops;
	vma->vm_private_data = buf;
	return 0;
}

static int cmabuf_mmap(struct file *file, struct vm_area_struct *vma)
{
	return cmabuf_mmap_buf(cmabuf_buf_of(file), vma);
}

static void cmabuf_fill_info(struct cmabuf_buf *buf, struct cmabuf_info *info,
			     bool addrs)
{
	memset(info, 0, sizeof(*info));
	if (addrs) {
		info->phys_addr = buf->r.phys + buf->r.offset;
		info->dma_addr = buf->r.dma + buf->r.offset;
	}
	info->size = buf->r.size;
	info->align = buf->align;
	info->cache = buf->r.cache;
	if (atomic_read(&buf->maps))
		info->flags |= CMABUF_INFO_MAPPED;
	if (buf->file)
		info->flags |= CMABUF_INFO_FILE;
	if (buf->r.buddy)
		info->flags |= CMABUF_INFO_BUDDY;
	info->files = atomic_read(&buf->files);
	info->maps = atomic_read(&buf->maps);
	info->exports = atomic_read(&buf->exports);
}

static long cmabuf_ioc_resize(struct file *file,
			      struct cmabuf_resize __user *uarg)
{
	struct cmabuf_buf *buf = cmabuf_buf_of(file);
	struct inode *inode = buf->inode;
	struct cmabuf_resize req;
	struct cmabuf_region nr;
	size_t size;
	u64 align;
	int ret;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (req.flags || memchr_inv(req.reserved, 0, sizeof(req.reserved)))
		return -EINVAL;
	ret = cmabuf_check_args(req.size, req.align, req.cache, buf->file,
				&size, &align);
	if (ret)
		return ret;

	/* Allocate outside the locks: CMA may migrate pages for a while. */
	ret = cmabuf_region_alloc(&nr, size, align, req.cache, cmabuf_how(buf),
				  buf->opener);
	if (ret)
		return ret;
	inode_lock(inode);
	ret = cmabuf_replace(buf, &nr, align);
	inode_unlock(inode);
	if (ret)
		return ret;

	req.size = nr.size;
	if (cmabuf_file_addrs(file)) {
		req.phys_addr = nr.phys + nr.offset;
		req.dma_addr = nr.dma + nr.offset;
	} else {
		req.phys_addr = 0;
		req.dma_addr = 0;
	}
	if (copy_to_user(uarg, &req, sizeof(req)))
		return -EFAULT;
	return 0;
}

static long cmabuf_ioc_dup(struct file *file, struct cmabuf_dup __user *uarg);
static long cmabuf_ioc_export(struct file *file,
			      struct cmabuf_export __user *uarg);
static int cmabuf_buf_open(struct inode *inode, struct file *file);
static int cmabuf_buf_release(struct inode *inode, struct file *file);

static long cmabuf_buf_ioctl(struct file *file, unsigned int cmd,
			     unsigned long arg)
{
	struct cmabuf_buf *buf = cmabuf_buf_of(file);
	void __user *uarg = (void __user *)arg;
	struct cmabuf_info info;
	struct cmabuf_sync sync;
	int ret;

	switch (cmd) {
	case CMABUF_IOC_INFO:
		down_read(&buf->lock);
		cmabuf_fill_info(buf, &info, cmabuf_file_addrs(file));
		up_read(&buf->lock);
		if (copy_to_user(uarg, &info, sizeof(info)))
			return -EFAULT;
		return 0;
	case CMABUF_IOC_SYNC:
		if (copy_from_user(&sync, uarg, sizeof(sync)))
			return -EFAULT;
		if (sync.reserved || (sync.direction != CMABUF_SYNC_DEVICE &&
				      sync.direction != CMABUF_SYNC_CPU))
			return -EINVAL;
		/*
		 * Invalidating discards what the CPU stored and did not clean
		 * yet: for writers only.  Cleaning loses nothing.
		 */
		if (sync.direction == CMABUF_SYNC_CPU &&
		    !(file->f_mode & FMODE_WRITE))
			return -EBADF;
		down_read(&buf->lock);
		if (!sync.length && sync.offset <= buf->r.size)
			sync.length = buf->r.size - sync.offset;
		ret = cmabuf_sync_locked(buf, sync.offset, sync.length,
					 sync.direction);
		up_read(&buf->lock);
		return ret;
	case CMABUF_IOC_RESIZE:
		if (!(file->f_mode & FMODE_WRITE))
			return -EBADF;
		if (cmabuf_file_flags(file) & CMABUF_F_HANDED)
			return -EPERM;
		return cmabuf_ioc_resize(file, uarg);
	case CMABUF_IOC_DUP:
		return cmabuf_ioc_dup(file, uarg);
	case CMABUF_IOC_EXPORT:
		return cmabuf_ioc_export(file, uarg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations cmabuf_buf_fops = {
	.owner = THIS_MODULE,
	.open = cmabuf_buf_open,
	.release = cmabuf_buf_release,
	.llseek = generic_file_llseek,
	.read_iter = cmabuf_read_iter,
	.write_iter = cmabuf_write_iter,
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
	.splice_read = copy_splice_read,
#else
	.splice_read = generic_file_splice_read,
#endif
	.splice_write = iter_file_splice_write,
	.mmap = cmabuf_mmap,
	.fsync = cmabuf_fsync,
	.unlocked_ioctl = cmabuf_buf_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

/* ---- the internal filesystem -------------------------------------------- */

static void cmabuf_opener_put(struct cmabuf_opener *o)
{
	if (refcount_dec_and_test(&o->ref))
		kfree(o);
}

static void cmabuf_evict_inode(struct inode *inode)
{
	struct cmabuf_buf *buf = inode->i_private;

	truncate_inode_pages_final(&inode->i_data);
	clear_inode(inode);
	if (!buf)
		return;
	cmabuf_region_free(&buf->r, buf->opener);
	cmabuf_opener_put(buf->opener);
	atomic64_dec(&cmabuf_stats.buffers);
	kfree(buf);
}

static const struct super_operations cmabuf_sops = {
	.statfs = simple_statfs,
	.evict_inode = cmabuf_evict_inode,
};

static int cmabuf_init_fs_context(struct fs_context *fc)
{
	struct pseudo_fs_context *ctx = init_pseudo(fc, CMABUF_FS_MAGIC);

	if (!ctx)
		return -ENOMEM;
	ctx->ops = &cmabuf_sops;
	/* DMA buffers are data: no code, no device nodes. */
	fc->s_iflags |= SB_I_NOEXEC | SB_I_NODEV;
	return 0;
}

/*
 * Owned by the module: a mount of it, hence every open buffer file, keeps
 * the module loaded until the superblock is gone (see Lifetime above).
 */
static struct file_system_type cmabuf_fs_type = {
	.owner = THIS_MODULE,
	.name = "cmabuf",
	.init_fs_context = cmabuf_init_fs_context,
	.kill_sb = kill_anon_super,
};

static int cmabuf_pin(void)
{
	return simple_pin_fs(&cmabuf_fs_type, &cmabuf_mnt, &cmabuf_mnt_count);
}

static void cmabuf_unpin(void)
{
	simple_release_fs(&cmabuf_mnt, &cmabuf_mnt_count);
}

/*
 * Reopens (/proc/PID/fd, FUSE passthrough's own open) count as files of the
 * buffer and pin the mount as the files we make do.
 */
static int cmabuf_buf_open(struct inode *inode, struct file *file)
{
	struct cmabuf_buf *buf = inode->i_private;
	int ret;

	if ((cmabuf_file_flags(file) & CMABUF_F_RDONLY) &&
	    (file->f_mode & FMODE_WRITE))
		return -EACCES;
	ret = cmabuf_pin();
	if (ret)
		return ret;
	atomic_inc(&buf->files);
	return 0;
}

static int cmabuf_buf_release(struct inode *inode, struct file *file)
{
	struct cmabuf_buf *buf = inode->i_private;

	atomic_dec(&buf->files);
	/* Never the last reference: the file holds f_path.mnt until after. */
	cmabuf_unpin();
	return 0;
}

/*
 * A new file of @inode (a reference the file takes over) on @mnt, with the
 * restrictions @fflags.  The caller has pinned the mount for the file.
 */
static struct file *cmabuf_new_file(struct cmabuf_buf *buf, struct inode *inode,
				    struct vfsmount *mnt, unsigned long fflags)
{
	struct file *file;

	file = alloc_file_pseudo(inode, mnt, "cmabuf",
				 fflags & CMABUF_F_RDONLY ? O_RDONLY : O_RDWR,
				 &cmabuf_buf_fops);
	if (IS_ERR(file))
		return file;
	/* Nobody else sees this dentry yet. */
	file->f_path.dentry->d_fsdata = (void *)fflags;
	/* alloc_file_pseudo() does not take the fops' module reference. */
	__module_get(THIS_MODULE);
	/* As do_dentry_open(): vfs_write() refuses a read-only file. */
	file->f_mode |= FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE;
	atomic_inc(&buf->files);
	return file;
}

/* A new file for @buf; on success the file owns @buf. */
static struct file *cmabuf_file_create(struct cmabuf_buf *buf)
{
	struct inode *inode;
	struct file *file;
	int ret;

	ret = cmabuf_pin();
	if (ret)
		return ERR_PTR(ret);
	inode = new_inode(cmabuf_mnt->mnt_sb);
	if (!inode) {
		cmabuf_unpin();
		return ERR_PTR(-ENOMEM);
	}
	inode->i_ino = get_next_ino();
	inode->i_mode = S_IFREG | 0600;
	inode->i_uid = current_fsuid();
	inode->i_gid = current_fsgid();
	inode->i_op = &cmabuf_buf_iops;
	inode->i_fop = &cmabuf_buf_fops;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
	simple_inode_init_ts(inode);
#else
	inode->i_atime = current_time(inode);
	inode->i_mtime = inode->i_atime;
	inode->i_ctime = inode->i_atime;
#endif
	i_size_write(inode, buf->file ? 0 : buf->r.size);

	file = cmabuf_new_file(buf, inode, cmabuf_mnt, 0);
	if (IS_ERR(file)) {
		iput(inode);
		cmabuf_unpin();
		return file;
	}
	buf->inode = inode;
	inode->i_private = buf;
	atomic64_inc(&cmabuf_stats.buffers);
	return file;
}

/*
 * CMABUF_IOC_DUP: a file of its own, so that its restrictions (in its
 * dentry) are not those of the file it was made from.
 */
static long cmabuf_ioc_dup(struct file *file, struct cmabuf_dup __user *uarg)
{
	struct inode *inode = file_inode(file);
	struct cmabuf_buf *buf = inode->i_private;
	unsigned long fflags = cmabuf_file_flags(file) | CMABUF_F_HANDED;
	struct cmabuf_dup req;
	struct file *nf;
	int fd, ret;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if ((req.flags & ~CMABUF_DUP_FLAGS) ||
	    memchr_inv(req.reserved, 0, sizeof(req.reserved)))
		return -EINVAL;
	/* No more rights than the file it is made from. */
	if (!(file->f_mode & FMODE_WRITE) && !(req.flags & CMABUF_DUP_RDONLY))
		return -EBADF;
	if (req.flags & CMABUF_DUP_RDONLY)
		fflags |= CMABUF_F_RDONLY;
	if (req.flags & CMABUF_DUP_NOADDR)
		fflags |= CMABUF_F_NOADDR;

	fd = get_unused_fd_flags(req.flags & CMABUF_DUP_CLOEXEC ? O_CLOEXEC : 0);
	if (fd < 0)
		return fd;
	/* Our own file pins the mount: this only counts one more file. */
	ret = cmabuf_pin();
	if (ret)
		goto err_fd;
	ihold(inode);
	nf = cmabuf_new_file(buf, inode, file->f_path.mnt, fflags);
	if (IS_ERR(nf)) {
		iput(inode);
		cmabuf_unpin();
		ret = PTR_ERR(nf);
		goto err_fd;
	}
	req.fd = fd;
	if (copy_to_user(uarg, &req, sizeof(req))) {
		put_unused_fd(fd);
		fput(nf);
		return -EFAULT;
	}
	fd_install(fd, nf);
	return 0;

err_fd:
	put_unused_fd(fd);
	return ret;
}

/* ---- dma-buf export ----------------------------------------------------- */

/*
 * The dma-buf's private data is the buffer file EXPORT was called on, with
 * a reference of the dma-buf's own: it keeps the inode, and so the memory,
 * the internal mount and the module, as any open file does, and counts in
 * INFO's files (cmafs sees a removed file's buffer as still held).  The
 * buffer cannot move while exported (cmabuf_replace()), so its region is
 * read here under buf->lock only to pair with a resize that got in first.
 */
static struct cmabuf_buf *cmabuf_dmabuf_buf(struct dma_buf *dmabuf)
{
	return cmabuf_buf_of(dmabuf->priv);
}

static struct sg_table *cmabuf_map_dma_buf(struct dma_buf_attachment *at,
					   enum dma_data_direction dir)
{
	struct cmabuf_buf *buf = cmabuf_dmabuf_buf(at->dmabuf);
	unsigned long attrs = 0;
	struct sg_table *sgt;
	int ret;

	sgt = kzalloc(sizeof(*sgt), GFP_KERNEL);
	if (!sgt)
		return ERR_PTR(-ENOMEM);
	ret = sg_alloc_table(sgt, 1, GFP_KERNEL);
	if (ret)
		goto err_free;
	down_read(&buf->lock);
	/* phys_to_page() is not there on every architecture (x86 before 7.x). */
	sg_set_page(sgt->sgl, pfn_to_page(PHYS_PFN(buf->r.phys + buf->r.offset)),
		    buf->r.size, 0);
	/*
	 * The CPU reaches uncached and writecombine buffers only through
	 * non-cacheable mappings: nothing to clean or invalidate (as the
	 * kernel's CMA heap skips it for its uncached buffers).
	 */
	if (buf->r.cache != CMABUF_CACHE_CACHED)
		attrs |= DMA_ATTR_SKIP_CPU_SYNC;
	ret = dma_map_sgtable(at->dev, sgt, dir, attrs);
	up_read(&buf->lock);
	if (ret)
		goto err_table;
	return sgt;

err_table:
	sg_free_table(sgt);
err_free:
	kfree(sgt);
	return ERR_PTR(ret);
}

static void cmabuf_unmap_dma_buf(struct dma_buf_attachment *at,
				 struct sg_table *sgt,
				 enum dma_data_direction dir)
{
	struct cmabuf_buf *buf = cmabuf_dmabuf_buf(at->dmabuf);
	unsigned long attrs = 0;

	if (buf->r.cache != CMABUF_CACHE_CACHED)
		attrs |= DMA_ATTR_SKIP_CPU_SYNC;
	dma_unmap_sgtable(at->dev, sgt, dir, attrs);
	sg_free_table(sgt);
	kfree(sgt);
}

/* DMA_BUF_IOCTL_SYNC and in-kernel CPU access: as CMABUF_IOC_SYNC. */
static int cmabuf_dmabuf_sync(struct dma_buf *dmabuf, u32 direction)
{
	struct cmabuf_buf *buf = cmabuf_dmabuf_buf(dmabuf);
	int ret;

	down_read(&buf->lock);
	ret = cmabuf_sync_locked(buf, 0, buf->r.size, direction);
	up_read(&buf->lock);
	return ret;
}

static int cmabuf_dmabuf_begin_cpu(struct dma_buf *dmabuf,
				   enum dma_data_direction dir)
{
	return cmabuf_dmabuf_sync(dmabuf, CMABUF_SYNC_CPU);
}

static int cmabuf_dmabuf_end_cpu(struct dma_buf *dmabuf,
				 enum dma_data_direction dir)
{
	return cmabuf_dmabuf_sync(dmabuf, CMABUF_SYNC_DEVICE);
}

static int cmabuf_dmabuf_mmap(struct dma_buf *dmabuf,
			      struct vm_area_struct *vma)
{
	/* As on the buffer's own files, which are on a noexec mount. */
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_clear(vma, VM_MAYEXEC);
#else
	vma->vm_flags &= ~VM_MAYEXEC;
#endif
	return cmabuf_mmap_buf(cmabuf_dmabuf_buf(dmabuf), vma);
}

/* For importers that fill the buffer with the CPU (vb2's vaddr, vivid). */
static int cmabuf_dmabuf_vmap(struct dma_buf *dmabuf, struct iosys_map *map)
{
	iosys_map_set_vaddr(map, cmabuf_vaddr(cmabuf_dmabuf_buf(dmabuf)));
	return 0;
}

static void cmabuf_dmabuf_release(struct dma_buf *dmabuf)
{
	struct file *file = dmabuf->priv;

	atomic_dec(&cmabuf_buf_of(file)->exports);
	fput(file);
}

static const struct dma_buf_ops cmabuf_dmabuf_ops = {
	.map_dma_buf = cmabuf_map_dma_buf,
	.unmap_dma_buf = cmabuf_unmap_dma_buf,
	.begin_cpu_access = cmabuf_dmabuf_begin_cpu,
	.end_cpu_access = cmabuf_dmabuf_end_cpu,
	.mmap = cmabuf_dmabuf_mmap,
	.vmap = cmabuf_dmabuf_vmap,
	.release = cmabuf_dmabuf_release,
};

static long cmabuf_ioc_export(struct file *file,
			      struct cmabuf_export __user *uarg)
{
	DEFINE_DMA_BUF_EXPORT_INFO(exp);
	struct cmabuf_buf *buf = cmabuf_buf_of(file);
	struct cmabuf_export req;
	struct dma_buf *dmabuf;
	int fd, ret;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if ((req.flags & ~CMABUF_EXPORT_CLOEXEC) || req.fd ||
	    memchr_inv(req.reserved, 0, sizeof(req.reserved)))
		return -EINVAL;
	/* Whoever imports it may have a device write to it. */
	if (!(file->f_mode & FMODE_WRITE))
		return -EBADF;

	down_read(&buf->lock);
	if (!buf->r.size)
		ret = -EINVAL;
	else if (!pfn_valid(PHYS_PFN(buf->r.phys)))
		ret = -EOPNOTSUPP;
	else
		ret = 0;
	if (!ret) {
		/* Before a resize waiting for the lock can move it. */
		atomic_inc(&buf->exports);
		exp.size = buf->r.size;
	}
	up_read(&buf->lock);
	if (ret)
		return ret;

	fd = get_unused_fd_flags(req.flags & CMABUF_EXPORT_CLOEXEC ?
				 O_CLOEXEC : 0);
	if (fd < 0) {
		atomic_dec(&buf->exports);
		return fd;
	}
	exp.ops = &cmabuf_dmabuf_ops;
	exp.flags = O_RDWR;
	exp.priv = get_file(file);
	dmabuf = dma_buf_export(&exp);
	if (IS_ERR(dmabuf)) {
		put_unused_fd(fd);
		atomic_dec(&buf->exports);
		fput(file);
		return PTR_ERR(dmabuf);
	}
	req.fd = fd;
	req.size = exp.size;
	if (copy_to_user(uarg, &req, sizeof(req))) {
		put_unused_fd(fd);
		dma_buf_put(dmabuf);	/* release: exports and the file */
		return -EFAULT;
	}
	fd_install(fd, dmabuf->file);
	return 0;
}

/* ---- /dev/cmabuf -------------------------------------------------------- */

static long cmabuf_ioc_alloc(struct file *dev, struct cmabuf_alloc __user *uarg)
{
	struct cmabuf_opener *o = dev->private_data;
	struct cmabuf_alloc req;
	struct cmabuf_buf *buf;
	struct file *file;
	size_t size;
	u64 align;
	int fd, ret;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if ((req.flags & ~CMABUF_ALLOC_FLAGS) || req.reserved0 ||
	    memchr_inv(req.reserved, 0, sizeof(req.reserved)))
		return -EINVAL;
	if (req.flags & CMABUF_ALLOC_LIMIT ?
	    !(req.flags & CMABUF_ALLOC_FILE) || !req.size_limit ||
	    req.size > req.size_limit : req.size_limit != 0)
		return -EINVAL;
	ret = cmabuf_check_args(req.size, req.align, req.cache,
				req.flags & CMABUF_ALLOC_FILE, &size, &align);
	if (ret)
		return ret;

	buf = kzalloc(sizeof(*buf), GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	init_rwsem(&buf->lock);
	atomic_set(&buf->maps, 0);
	atomic_set(&buf->files, 0);
	buf->align = align;
	buf->file = req.flags & CMABUF_ALLOC_FILE;
	buf->limit = req.size_limit;
	buf->nowait = req.flags & CMABUF_ALLOC_NOWAIT;
	buf->noaddr = !o->priv;
	buf->opener = o;
	refcount_inc(&o->ref);
	ret = cmabuf_region_alloc(&buf->r, size, align, req.cache,
				  cmabuf_how(buf), o);
	if (ret)
		goto err_buf;

	fd = get_unused_fd_flags(req.flags & CMABUF_ALLOC_CLOEXEC ?
				 O_CLOEXEC : 0);
	if (fd < 0) {
		ret = fd;
		goto err_region;
	}
	file = cmabuf_file_create(buf);
	if (IS_ERR(file)) {
		ret = PTR_ERR(file);
		put_unused_fd(fd);
		goto err_region;
	}

	req.size = size;
	req.fd = fd;
	if (o->priv) {
		req.phys_addr = buf->r.phys + buf->r.offset;
		req.dma_addr = buf->r.dma + buf->r.offset;
	} else {
		req.phys_addr = 0;
		req.dma_addr = 0;
	}
	if (copy_to_user(uarg, &req, sizeof(req))) {
		put_unused_fd(fd);
		fput(file);	/* frees buf */
		return -EFAULT;
	}
	fd_install(fd, file);
	return 0;

err_region:
	cmabuf_region_free(&buf->r, o);
err_buf:
	cmabuf_opener_put(o);
	kfree(buf);
	return ret;
}

static long cmabuf_dev_ioctl(struct file *file, unsigned int cmd,
			     unsigned long arg)
{
	void __user *uarg = (void __user *)arg;
	struct cmabuf_version ver;
	struct cmabuf_stats st;

	switch (cmd) {
	case CMABUF_IOC_VERSION:
		memset(&ver, 0, sizeof(ver));
		ver.abi_version = CMABUF_ABI_VERSION;
		ver.page_size = PAGE_SIZE;
		ver.alloc_flags = CMABUF_ALLOC_FLAGS;
		return copy_to_user(uarg, &ver, sizeof(ver)) ? -EFAULT : 0;
	case CMABUF_IOC_ALLOC:
		/* The device's write permission is the right to allocate. */
		if (!(file->f_mode & FMODE_WRITE))
			return -EBADF;
		return cmabuf_ioc_alloc(file, uarg);
	case CMABUF_IOC_STATS:
		memset(&st, 0, sizeof(st));
		st.buffers = atomic64_read(&cmabuf_stats.buffers);
		st.bytes = atomic64_read(&cmabuf_stats.bytes);
		st.allocs = atomic64_read(&cmabuf_stats.allocs);
		st.alloc_failures = atomic64_read(&cmabuf_stats.alloc_failures);
		st.frees = atomic64_read(&cmabuf_stats.frees);
		st.resizes = atomic64_read(&cmabuf_stats.resizes);
		st.buddy_buffers = atomic64_read(&cmabuf_stats.buddy_regions);
		st.buddy_bytes = atomic64_read(&cmabuf_stats.buddy_bytes);
		return copy_to_user(uarg, &st, sizeof(st)) ? -EFAULT : 0;
	default:
		return -ENOTTY;
	}
}

/*
 * The privilege is the opener's, taken at open as for any file whose
 * descriptor may be passed on: a daemon that opened the device as root
 * keeps seeing addresses after dropping privileges, a descriptor handed to
 * an unprivileged process gives it no more than its opener had.
 */
static int cmabuf_dev_open(struct inode *inode, struct file *file)
{
	struct cmabuf_opener *o = kzalloc(sizeof(*o), GFP_KERNEL);
	int ret;

	if (!o)
		return -ENOMEM;
	/*
	 * The internal mount lives while the device is open too: else a
	 * daemon whose last buffer goes would unmount it, and its next ALLOC
	 * mount it again (kern_unmount() waits for an RCU grace period:
	 * measured as a third more per 4 MiB ALLOC + close on 6.12).
	 */
	ret = cmabuf_pin();
	if (ret) {
		kfree(o);
		return ret;
	}
	refcount_set(&o->ref, 1);
	atomic64_set(&o->bytes, 0);
	o->priv = file_ns_capable(file, &init_user_ns, CAP_SYS_ADMIN) ||
		  file_ns_capable(file, &init_user_ns, CAP_SYS_RAWIO);
	file->private_data = o;
	return 0;
}

static int cmabuf_dev_release(struct inode *inode, struct file *file)
{
	cmabuf_opener_put(file->private_data);
	cmabuf_unpin();
	return 0;
}

static const struct file_operations cmabuf_dev_fops = {
	.owner = THIS_MODULE,
	.open = cmabuf_dev_open,
	.release = cmabuf_dev_release,
	.unlocked_ioctl = cmabuf_dev_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice cmabuf_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "cmabuf",
	.fops = &cmabuf_dev_fops,
	.mode = 0600,
};

/* ---- the device --------------------------------------------------------- */

/* Where the memory-region lies, to tell its buffers from fallback ones. */
static void cmabuf_region_bounds(struct device_node *np)
{
	struct device_node *rnp = of_parse_phandle(np, "memory-region", 0);
	struct reserved_mem *rmem = rnp ? of_reserved_mem_lookup(rnp) : NULL;

	of_node_put(rnp);
	cmabuf_region_base = rmem ? rmem->base : 0;
	cmabuf_region_size = rmem ? rmem->size : 0;
}

static void cmabuf_teardown(void *data)
{
	struct device *dev = data;

	misc_deregister(&cmabuf_misc);
	if (cmabuf_has_region)
		of_reserved_mem_device_release(dev);
	cmabuf_has_region = false;
	cmabuf_device = NULL;
}

static int cmabuf_probe(struct platform_device *pdev)
{
	struct device *dev = &pdev->dev;
	int ret;

	if (cmabuf_device) {
		dev_err(dev, "%s is already served by %s\n", CMABUF_DEVICE,
			dev_name(cmabuf_device));
		return -EBUSY;
	}
	if (dma_bits < 24 || dma_bits > 64) {
		dev_err(dev, "dma_bits=%u is not in 24..64\n", dma_bits);
		return -EINVAL;
	}
	if (device_iommu_mapped(dev)) {
		dev_err(dev, "behind an IOMMU: its buffers would have no physical address\n");
		return -EINVAL;
	}
	if (!dev->dma_mask)
		dev->dma_mask = &dev->coherent_dma_mask;
	ret = dma_set_mask_and_coherent(dev, DMA_BIT_MASK(dma_bits));
	if (ret) {
		dev_err(dev, "cannot use a %u-bit DMA mask: %d\n", dma_bits, ret);
		return ret;
	}

	cmabuf_cached_ok = true;
	cmabuf_has_region = false;
	if (dev->of_node && of_find_property(dev->of_node, "memory-region", NULL)) {
		ret = of_reserved_mem_device_init(dev);
		if (ret) {
			dev_err(dev, "cannot use its memory-region: %d\n", ret);
			return ret;
		}
		cmabuf_has_region = true;
		cmabuf_region_bounds(dev->of_node);
#ifdef CONFIG_DMA_CMA
		/* A reusable pool is a CMA area; others are coherent pools. */
		cmabuf_cached_ok = dev->cma_area != NULL;
#else
		cmabuf_cached_ok = false;
#endif
	}

	cmabuf_device = dev;
	cmabuf_misc.parent = dev;
	ret = misc_register(&cmabuf_misc);
	if (ret) {
		if (cmabuf_has_region)
			of_reserved_mem_device_release(dev);
		cmabuf_has_region = false;
		cmabuf_device = NULL;
		return ret;
	}
	ret = devm_add_action_or_reset(dev, cmabuf_teardown, dev);
	if (ret)
		return ret;

	dev_info(dev, "%s: %s, %u-bit DMA, %scoherent\n", CMABUF_DEVICE,
		 cmabuf_has_region ? "memory-region" : "default CMA area",
		 dma_bits, dev_is_dma_coherent(dev) ? "" : "non-");
	return 0;
}

static const struct of_device_id cmabuf_of_match[] = {
	{ .compatible = CMABUF_DT_COMPATIBLE },
	{ }
};
#ifndef CMABUF_NO_MODALIAS	/* see Kbuild */
MODULE_DEVICE_TABLE(of, cmabuf_of_match);
#endif

static struct platform_driver cmabuf_driver = {
	.probe = cmabuf_probe,
	.driver = {
		.name = "cmabuf",
		.of_match_table = cmabuf_of_match,
		/* Buffers hold the device: no unbinding under them. */
		.suppress_bind_attrs = true,
	},
};

static int __init cmabuf_init(void)
{
	struct platform_device_info info = {
		.name = "cmabuf",
		.id = PLATFORM_DEVID_NONE,
		.dma_mask = DMA_BIT_MASK(64),
	};
	int ret;

	ret = platform_driver_register(&cmabuf_driver);
	if (ret)
		return ret;

	/* No device tree node took it: a device of our own. */
	if (!cmabuf_device) {
		cmabuf_pdev = platform_device_register_full(&info);
		if (IS_ERR(cmabuf_pdev)) {
			ret = PTR_ERR(cmabuf_pdev);
			cmabuf_pdev = NULL;
			goto err_drv;
		}
		if (!cmabuf_device) {
			ret = -ENODEV;
			goto err_pdev;
		}
	}
	return 0;

err_pdev:
	platform_device_unregister(cmabuf_pdev);
	cmabuf_pdev = NULL;
err_drv:
	platform_driver_unregister(&cmabuf_driver);
	return ret;
}

/* No buffer file is open (each holds the module): no mount is left. */
static void __exit cmabuf_exit(void)
{
	if (cmabuf_pdev)
		platform_device_unregister(cmabuf_pdev);
	platform_driver_unregister(&cmabuf_driver);
}

module_init(cmabuf_init);
module_exit(cmabuf_exit);

MODULE_DESCRIPTION("Physically contiguous DMA buffers as regular files");
MODULE_AUTHOR("cmafs developers");
MODULE_LICENSE("GPL");
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
MODULE_IMPORT_NS("DMA_BUF");
#else
MODULE_IMPORT_NS(DMA_BUF);
#endif
