/* SPDX-License-Identifier: MIT */
/*
 * madvise.c - madvise(2) and mlock(2) for managed memory.
 *
 * kernel: mm/madvise.c, mm/mlock.c.
 *
 * DONTNEED and FREE drop the pages through the kernel (its REMOVE event
 * tells a handler thread, which frees their slots).  FREE is never given to
 * the kernel as FREE: on a userfaultfd range the kernel could later drop a
 * page without telling uswap, which would then take the refault for a page
 * it believes resident.  WILLNEED swaps the range in now (read-ahead
 * included), COLD takes away the pages' second chance, PAGEOUT moves them
 * out at once and frees as much memory.  mlock swaps the range in and pins
 * it: pinned pages are charged like any other but never evicted.
 */
#include <errno.h>
#include <sys/mman.h>

#include "internal.h"

static struct region *advice_range(struct uswap_ctx *ctx, void *addr, size_t len, size_t *firstp,
				   size_t *nrp)
{
	struct region *r;

	if (!ctx || ((uintptr_t)addr & (PAGE_SIZE - 1)) || !len)
		return NULL;
	r = region_lookup(ctx, (uintptr_t)addr);
	if (!r)
		return NULL;
	*firstp = ((uintptr_t)addr - r->start) >> PAGE_SHIFT;
	*nrp = (len + PAGE_SIZE - 1) >> PAGE_SHIFT;
	return *firstp + *nrp <= r->nr_pages ? r : NULL;
}

/* Fault in every page of the range that is not resident.  Return: 0 or the first error. */
static int populate(struct uswap_ctx *ctx, struct region *r, size_t first, size_t nr, bool swapped_only)
{
	for (size_t i = first; i < first + nr; i++) {
		pte_t pte = pte_read(r, i);
		if (pte_present(pte) || (swapped_only && !pte_is_swap(pte)))
			continue;
		if (pte_is_marker(pte) && pte_marker_kind(pte) >= MARKER_HOLE)
			return -ENOMEM; /* unmapped part: as the kernel says */
		/* FAULT_SIGNAL: resolved here, nobody to wake.  FAULT_NOWAIT: a
		 * prefetch stops where memory runs out, it never takes the OOM path. */
		int rc = handle_fault(ctx, region_addr(r, i), FAULT_SIGNAL | FAULT_NOWAIT);
		if (rc == -EBUSY)
			return 0;
		if (rc && rc != -EEXIST && rc != -EAGAIN)
			return rc;
	}
	return 0;
}

int uswap_madvise(struct uswap_ctx *ctx, void *addr, size_t len, int advice)
{
	size_t first, nr;
	struct region *r = advice_range(ctx, addr, len, &first, &nr);
	unsigned int zero;

	if (!r)
		return -EINVAL;
	switch (advice) {
	case MADV_DONTNEED:
	case MADV_FREE:
		if (ctx->mmu != &uffd_mmu_ops) {
			region_zap_range(ctx, r, first, nr, false);
			return 0;
		}
		return sys_madvise_dontneed(addr, nr << PAGE_SHIFT);
	case MADV_WILLNEED:
		return populate(ctx, r, first, nr, true);
	case MADV_COLD:
		for (size_t i = first; i < first + nr; i++) {
			pte_t pte;
			if ((pte_read(r, i) & PTE_REFERENCED) && pte_trylock(r, i, &pte))
				pte_unlock(r, i, pte & ~PTE_REFERENCED);
		}
		return 0;
	case MADV_PAGEOUT:
		/* Unmap the range into the swap cache, then write those pages. */
		reclaim_range(ctx, r, first, nr, &zero);
		pageout_range(ctx, r, first, nr);
		return 0;
	default:
		return -EINVAL;
	}
}

int uswap_mlock(struct uswap_ctx *ctx, void *addr, size_t len, bool lock)
{
	size_t first, nr;
	struct region *r = advice_range(ctx, addr, len, &first, &nr);

	if (!r)
		return -EINVAL;
	/* Pinned pages cannot make room: leave the group at least half its limit. */
	uint64_t limit = atomic_load(&r->group->limit);
	if (lock && limit && atomic_load(&r->group->nr_mlocked) + nr > limit / 2)
		return -ENOMEM;
	for (size_t i = first; i < first + nr; i++) {
		pte_t pte;
		unsigned int tries = 0;
		if (!lock) {
			pte = pte_lock(r, i);
			if (pte_mlocked(pte))
				atomic_fetch_sub(&r->group->nr_mlocked, 1);
			pte_unlock(r, i, pte_mlocked(pte) ? pte & ~PTE_MLOCKED : pte);
			continue;
		}
		/* Fault the page in (it may be evicted again before we lock it:
		 * then fault again), give up a kept slot, and pin it. */
		for (;;) {
			pte = pte_read(r, i);
			if (pte_is_marker(pte) && pte_marker_kind(pte) >= MARKER_HOLE)
				return -ENOMEM;
			if (pte_is_marker(pte) && pte_marker_kind(pte) == MARKER_POISON)
				return -EFAULT; /* the data is lost: nothing to pin */
			if (!pte_present(pte)) {
				/* NOWAIT: never the OOM path (it would poison the page). */
				int rc = handle_fault(ctx, region_addr(r, i),
						      FAULT_SIGNAL | FAULT_NOWAIT | FAULT_WRITE);
				if (rc == -EBUSY) {
					if (++tries > 16)
						return -ENOMEM;
					try_to_free_pages(r->group, RECLAIM_BATCH, RECLAIM_USER);
					continue;
				}
				if (rc && rc != -EEXIST && rc != -EAGAIN)
					return rc;
				continue;
			}
			pte = pte_lock(r, i);
			if (!pte_present(pte)) {
				pte_unlock(r, i, pte);
				continue;
			}
			if (pte & PTE_SLOT) {
				swp_entry_t e = pte_to_swp_entry(pte);
				swp_tb_t t = swap_slot_lock(ctx, e);
				swap_slot_unlock(ctx, e, swap_free_locked(ctx, e, t));
				pte = PTE_PRESENT | (pte & (PTE_REFERENCED | PTE_WP));
			}
			if (!pte_mlocked(pte))
				atomic_fetch_add(&r->group->nr_mlocked, 1);
			pte_unlock(r, i, pte | PTE_MLOCKED);
			break;
		}
	}
	return 0;
}
