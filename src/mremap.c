/* SPDX-License-Identifier: MIT */
/*
 * mremap.c - munmap and mremap of managed memory.
 *
 * kernel: mm/mmap.c (do_vmi_munmap), mm/mremap.c (move_page_tables).
 *
 * A region's geometry never changes once it is in the region table: faults
 * and reclaim index its software page table without a lock on the region.
 * So a partial munmap does not shrink or split the region.  It drops the
 * pages, unregisters the range, and leaves a *hole*: a PROT_NONE,
 * MAP_NORESERVE reservation of the same addresses (no memory), whose PTEs
 * are MARKER_HOLE.  The reservation keeps the kernel from placing another
 * mapping there that a lookup would wrongly find inside this region.  When
 * every page of a region is a hole, the region goes, and its addresses with
 * it.  A program that maps over a hole itself (MAP_FIXED) first unmaps it
 * through uswap again (the preload shim does): the hole becomes MARKER_GONE,
 * and its addresses are no longer ours to unmap.
 *
 * mremap moves pages, never their data: resident pages move with
 * UFFDIO_MOVE into a new region, swap entries and markers move as PTE
 * values (the slot, the swap cache frame and the charge stay as they are).
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

static bool pte_is_hole(pte_t pte)
{
	return pte_is_marker(pte) &&
	       (pte_marker_kind(pte) == MARKER_HOLE || pte_marker_kind(pte) == MARKER_GONE);
}

/* The region holding all of [addr, addr+len), page aligned; NULL if none. */
static struct region *range_region(struct uswap_ctx *ctx, uintptr_t addr, size_t len,
				   size_t *firstp, size_t *nrp)
{
	struct region *r;

	if ((addr & (PAGE_SIZE - 1)) || !len)
		return NULL;
	r = region_lookup(ctx, addr);
	if (!r)
		return NULL;
	*firstp = (addr - r->start) >> PAGE_SHIFT;
	*nrp = (len + PAGE_SIZE - 1) >> PAGE_SHIFT;
	if (*firstp + *nrp > r->nr_pages)
		return NULL;
	return r;
}

/*
 * Turn [first, first+nr) of @r into holes.  Live pages are dropped and their
 * addresses reserved (MARKER_HOLE); a hole unmapped again is really unmapped
 * (the program unmaps it, or maps over it next) and is no longer ours
 * (MARKER_GONE).  Return: pages that became holes now.
 */
static size_t make_holes(struct uswap_ctx *ctx, struct region *r, size_t first, size_t nr)
{
	size_t made = 0;

	for (size_t i = first; i < first + nr;) {
		bool hole = pte_is_hole(pte_read(r, i));
		size_t n = 1;
		while (i + n < first + nr && pte_is_hole(pte_read(r, i + n)) == hole)
			n++;
		uintptr_t start = region_addr(r, i);
		size_t len = n << PAGE_SHIFT;
		if (!hole) {
			ctx->mmu->unreg(ctx, start, len);
			region_zap_range(ctx, r, i, n, false);
			if (ctx->mmu == &uffd_mmu_ops)
				sys_mmap((void *)start, len, PROT_NONE,
					 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
		} else if (ctx->mmu == &uffd_mmu_ops) {
			sys_munmap((void *)start, len);
		}
		for (size_t k = i; k < i + n; k++) {
			pte_t pte = pte_lock(r, k);
			if (!pte_is_hole(pte))
				made++;
			pte_unlock(r, k, make_marker_pte(hole ? MARKER_GONE : MARKER_HOLE));
		}
		i += n;
	}
	return made;
}

/* Unmap the addresses of @r that are still ours: everything but MARKER_GONE runs. */
void region_unmap_all(struct uswap_ctx *ctx, struct region *r)
{
	if (ctx->mmu != &uffd_mmu_ops)
		return;
	if (!atomic_load(&r->nr_holes)) {
		sys_munmap((void *)r->start, r->nr_pages << PAGE_SHIFT);
		return;
	}
	for (size_t i = 0; i < r->nr_pages;) {
		bool gone = pte_read(r, i) == make_marker_pte(MARKER_GONE);
		size_t n = 1;
		while (i + n < r->nr_pages &&
		       (pte_read(r, i + n) == make_marker_pte(MARKER_GONE)) == gone)
			n++;
		if (!gone)
			sys_munmap((void *)region_addr(r, i), n << PAGE_SHIFT);
		i += n;
	}
}

int uswap_munmap(struct uswap_ctx *ctx, void *addr, size_t len)
{
	struct region *r;
	size_t first, nr;

	if (!ctx || !addr)
		return -EINVAL;
	r = range_region(ctx, (uintptr_t)addr, len, &first, &nr);
	if (!r)
		return -EINVAL;
	if (first == 0 && nr == r->nr_pages) {
		region_destroy(ctx, r);
		return 0;
	}
	atomic_fetch_add(&r->nr_holes, make_holes(ctx, r, first, nr));
	if (atomic_load(&r->nr_holes) == r->nr_pages)
		region_destroy(ctx, r);
	return 0;
}

/*
 * move_pages - move pages [first, first+nr) of @from to [0, nr) of @to (a new
 * region of the same group).  Resident pages move with UFFDIO_MOVE (a copy
 * if the kernel refuses, e.g. a page shared with a forked child); a kept
 * slot is given up, because a move drops the write-protection that tells a
 * clean page from a written one.  Context: @to is not yet known to the program.
 */
static int move_pages(struct uswap_ctx *ctx, struct region *from, size_t first, size_t nr,
		      struct region *to)
{
	pte_t old[RECLAIM_BATCH];

	for (size_t i = 0; i < nr;) {
		size_t n = 0;
		bool present = false;
		/* Lock a run of pages of the same kind (resident or not). */
		while (i + n < nr && n < RECLAIM_BATCH) {
			pte_t pte = pte_lock(from, first + i + n);
			if (!n)
				present = pte_present(pte);
			if (pte_present(pte) != present || pte_is_hole(pte)) {
				pte_unlock(from, first + i + n, pte);
				break;
			}
			old[n++] = pte;
		}
		if (!n)
			return -EFAULT; /* a hole appeared (a racing munmap) */
		if (present) {
			size_t moved = 0;
			int rc = ctx->mmu->move_in ?
					 ctx->mmu->move_in(ctx, region_addr(to, i),
							   (void *)region_addr(from, first + i),
							   n << PAGE_SHIFT, &moved) :
					 -EOPNOTSUPP;
			if (rc)
				ctx->mmu->map_copy(ctx, region_addr(to, i) + moved,
						   (const void *)(region_addr(from, first + i) + moved),
						   (n << PAGE_SHIFT) - moved, false, NULL);
		}
		for (size_t k = 0; k < n; k++) {
			pte_t pte = old[k] & ~(PTE_LOCKED | PTE_WAITERS);
			if (pte_present(pte) && (pte & PTE_SLOT)) {
				swp_entry_t e = pte_to_swp_entry(pte);
				swp_tb_t t = swap_slot_lock(ctx, e);
				swap_slot_unlock(ctx, e, swap_free_locked(ctx, e, t));
				pte = PTE_PRESENT | (pte & PTE_REFERENCED);
			}
			pte &= ~(PTE_WP | PTE_SELFRM);
			if (pte_present(pte)) {
				atomic_fetch_sub(&from->nr_present, 1);
				atomic_fetch_add(&to->nr_present, 1);
			} else if (pte_is_swap(pte)) {
				atomic_fetch_sub(&from->nr_swapped, 1);
				atomic_fetch_add(&to->nr_swapped, 1);
			}
			pte_lock(to, i + k);
			pte_unlock(to, i + k, pte);
			pte_unlock(from, first + i + k, PTE_NONE);
		}
		i += n;
	}
	return 0;
}

int uswap_mremap(struct uswap_ctx *ctx, void *old_addr, size_t old_len, size_t new_len, int flags,
		 void *new_addr, void **resultp)
{
	struct region *r, *to;
	size_t first, nr, new_nr;
	int rc;

	if (!ctx || !resultp || !new_len || (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED)) ||
	    ((flags & MREMAP_FIXED) && !(flags & MREMAP_MAYMOVE)) ||
	    ((flags & MREMAP_FIXED) && ((uintptr_t)new_addr & (PAGE_SIZE - 1))))
		return -EINVAL;
	r = range_region(ctx, (uintptr_t)old_addr, old_len, &first, &nr);
	if (!r)
		return -EINVAL;
	new_nr = (new_len + PAGE_SIZE - 1) >> PAGE_SHIFT;
	if (!(flags & MREMAP_FIXED)) {
		if (new_nr <= nr) {
			/* Shrink (or same size) in place: the tail becomes holes. */
			if (new_nr < nr) {
				rc = uswap_munmap(ctx, (char *)old_addr + (new_nr << PAGE_SHIFT),
						  (nr - new_nr) << PAGE_SHIFT);
				if (rc)
					return rc;
			}
			*resultp = old_addr;
			return 0;
		}
		/* Growing in place would need the region to change size. */
		if (!(flags & MREMAP_MAYMOVE))
			return -ENOMEM;
	} else if (region_lookup(ctx, (uintptr_t)new_addr) ||
		   region_lookup(ctx, (uintptr_t)new_addr + (new_nr << PAGE_SHIFT) - 1)) {
		return -EINVAL; /* onto managed memory: not supported */
	}
	/* mremap works on one mapping: a hole (an earlier munmap) fails it. */
	for (size_t i = first; i < first + nr; i++)
		if (pte_is_hole(pte_read(r, i)))
			return -EFAULT;
	rc = region_create(ctx, r->group, (flags & MREMAP_FIXED) ? new_addr : NULL, new_nr, &to);
	if (rc)
		return rc;
	rc = move_pages(ctx, r, first, new_nr < nr ? new_nr : nr, to);
	if (rc)
		return rc; /* what moved stays at the new address, and is lost to the caller */
	if (new_nr < nr)
		region_zap_range(ctx, r, first + new_nr, nr - new_nr, false);
	rc = uswap_munmap(ctx, old_addr, nr << PAGE_SHIFT);
	*resultp = (void *)to->start;
	return rc;
}
