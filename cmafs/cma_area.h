/* SPDX-License-Identifier: MIT */
/*
 * cma_area - a simulated CMA area: page-granular placement of contiguous runs.
 *
 * Placement follows the kernel's cma_alloc(): the lowest aligned position
 * whose run of pages is entirely free ("first fit over aligned positions").
 * Free pages and the largest free run are answered in O(1) so that .stats and
 * statfs never walk the area.  Not thread-safe: the caller holds its lock.
 *
 * Units are pages throughout; alignment is in pages and must be a power of
 * two.  Errors are negative errno values and never change the area:
 *   -EINVAL  zero pages, alignment not a power of two, or a run outside the area
 *   -EFBIG   more pages than the whole area
 *   -ENOSPC  the area could hold it but no aligned free run is large enough now
 */
#ifndef CMAFS_CMA_AREA_H
#define CMAFS_CMA_AREA_H

#include <stdint.h>

struct cma_area;

/* An area of @pages pages; NULL on out-of-memory or @pages == 0. */
struct cma_area *cma_area_new(uint64_t pages);
void cma_area_destroy(struct cma_area *a);

/* Place @pages at a multiple of @align; the first page is stored in @first. */
int cma_area_alloc(struct cma_area *a, uint64_t pages, uint64_t align,
		   uint64_t *first);

/*
 * Change the run [@first, @first + @old_pages) to @new_pages.  Shrinking and
 * growing into free pages that follow keep @first; otherwise the run moves to
 * the first fit of @new_pages at @align, placed as if the old run were
 * still held (the kernel must copy from it), and the old run is released.
 * The new first page is stored in @new_first.
 */
int cma_area_resize(struct cma_area *a, uint64_t first, uint64_t old_pages,
		    uint64_t new_pages, uint64_t align, uint64_t *new_first);

/* Release a run that cma_area_alloc() or cma_area_resize() handed out. */
void cma_area_free(struct cma_area *a, uint64_t first, uint64_t pages);

/*
 * The page number of the area's first page in the address space (default
 * 0): alignment is of addresses, as in the kernel, not of area offsets.
 */
void cma_area_set_base(struct cma_area *a, uint64_t base);

uint64_t cma_area_pages(const struct cma_area *a);
uint64_t cma_area_free_pages(const struct cma_area *a);
uint64_t cma_area_largest_free(const struct cma_area *a);

#endif /* CMAFS_CMA_AREA_H */
