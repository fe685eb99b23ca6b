/* SPDX-License-Identifier: MIT */
/*
 * memory.c - the fault path: handle_fault, do_anonymous_page, do_swap_page,
 * do_wp_page.
 *
 * kernel: mm/memory.c.  Each step of do_swap_page below is tagged with its
 * row in SPEC.md ("row N").
 *
 * The page lock (PTE_LOCKED) is taken on entry and held until the PTE is
 * final, so the kernel's re-checks after dropping the PTE lock (rows 12, 16,
 * 20) reduce to the entry check: nothing can change a locked PTE.  Reclaim
 * and swapoff only try-lock PTEs, so holding the lock across direct reclaim
 * cannot deadlock.  The slot lock (swap table BUSY bit) is taken inside the
 * page lock and serialises the fault against writeback and swapoff of the
 * same slot.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static _Alignas(4096) const unsigned char zero_page[PAGE_SIZE];
static __thread _Alignas(4096) unsigned char scratch[PAGE_SIZE];

void *thread_scratch_page(void)
{
	return scratch;
}

/*
 * charge_or_oom - charge one page to @g; on failure apply the group's OOM
 * policy.  Return: 0 charged; -ENOMEM the fault must be failed (poisoned);
 * -EBUSY (FAULT_NOWAIT) retry the fault later.
 */
static int charge_or_oom(struct uswap_ctx *ctx, struct uswap_group *g, uintptr_t addr,
			 unsigned int fault_flags)
{
	int rc = mem_cgroup_charge(g, 1, CHARGE_RECLAIM |
					     (fault_flags & FAULT_NOWAIT ? CHARGE_NOWAIT : 0));

	if (!rc || rc == -EBUSY)
		return rc;
	count_event(ctx, g, oom, 1);
	uswap_log(ctx, USWAP_LOG_ERR,
		  "group %s: out of memory at %#lx (limit %llu pages, usage %llu: %llu resident, "
		  "%llu in swap cache; nothing reclaimable)",
		  g->name, (unsigned long)addr, (unsigned long long)atomic_load(&g->limit),
		  (unsigned long long)atomic_load(&g->usage), (unsigned long long)atomic_load(&g->nr_resident),
		  (unsigned long long)atomic_load(&g->nr_swapcache));
	if (g->oom == USWAP_OOM_KILL)
		kill(getpid(), SIGKILL);
	return -ENOMEM;
}

/* Count the races an MMU call reports. */
static int map_result(struct uswap_ctx *ctx, struct uswap_group *g, int rc)
{
	if (rc == -EEXIST)
		count_event(ctx, g, uffd_eexist, 1);
	else if (rc == -EAGAIN)
		count_event(ctx, g, uffd_eagain, 1);
	return rc;
}

/*
 * Map @src at @addr.  EEXIST (the kernel already has a page there although
 * our PTE says it has none) is returned, not taken as success: the page may
 * be one whose zap is still in flight (write-protect eviction), and claiming
 * it would leave a present PTE over a hole once the zap lands.  The caller
 * changes nothing; handle_fault wakes the thread, whose access then either
 * succeeds or faults again.
 */
static int map_page(struct uswap_ctx *ctx, struct uswap_group *g, uintptr_t addr, const void *src,
		    bool wp)
{
	return map_result(ctx, g, ctx->mmu->map_copy(ctx, addr, src, PAGE_SIZE, wp && ctx->wp_async, NULL));
}

/* Poison page @idx: the program gets SIGBUS on it (rows 14, 21). */
static pte_t poison_page(struct uswap_ctx *ctx, struct region *r, size_t idx)
{
	int rc = ctx->mmu->poison(ctx, region_addr(r, idx), PAGE_SIZE);
	if (rc && rc != -EEXIST)
		uswap_log(ctx, USWAP_LOG_ERR, "poison %#lx failed: %d",
			  (unsigned long)region_addr(r, idx), rc);
	count_event(ctx, r->group, swpin_poison, 1);
	return make_marker_pte(MARKER_POISON);
}

pte_t present_page_lost(struct uswap_ctx *ctx, struct region *r, pte_t pte)
{
	struct uswap_group *g = r->group;

	count_event(ctx, g, swpin_poison, 1);
	if (pte & PTE_SLOT)
		swap_put(ctx, pte_to_swp_entry(pte));
	if (pte_mlocked(pte))
		atomic_fetch_sub(&g->nr_mlocked, 1);
	atomic_fetch_sub(&r->nr_present, 1);
	atomic_fetch_sub(&g->nr_resident, 1);
	mem_cgroup_uncharge(g, 1);
	return make_marker_pte(MARKER_POISON);
}

/*
 * zero_fault_around - a first touch right after its predecessor (a
 * sequential fill) maps the next never-touched pages too, so the fill takes
 * one userfault per FAULT_AROUND pages instead of one per page.  kernel:
 * do_fault_around, which does this for file pages.  After a read, they are
 * the shared zero page (UFFDIO_ZEROPAGE): no memory until written.  After a
 * write, they are real zeroed pages (UFFDIO_COPY): the next pages will be
 * written too, and a write to the zero page costs the program a kernel
 * copy-on-write fault with a TLB shoot-down, more than the copy.  Pages are
 * charged as if written (a write makes them real without telling us), only
 * within the limit, and only taken with try-locks.
 */
#define FAULT_AROUND 16

/* FAULT_AROUND pages of zeroes to copy from (never written: reading them
 * maps the kernel's zero page).  Mapped once; a race maps it twice, harmlessly. */
static const void *zero_run(void)
{
	static _Atomic(void *) run;
	void *p = atomic_load_explicit(&run, memory_order_acquire);

	if (!p) {
		void *mine = sys_mmap_anon(FAULT_AROUND * PAGE_SIZE);
		if (!mine)
			return NULL;
		if (atomic_compare_exchange_strong(&run, &p, mine))
			p = mine;
		else
			sys_munmap(mine, FAULT_AROUND * PAGE_SIZE);
	}
	return p;
}
static void zero_fault_around(struct uswap_ctx *ctx, struct region *r, size_t idx, bool write)
{
	struct uswap_group *g = r->group;
	pte_t old[FAULT_AROUND];
	unsigned int n = 0;

	const void *zeroes = write ? zero_run() : NULL;

	if ((write ? !zeroes : !ctx->zeropage) || idx == 0 || !pte_present(pte_read(r, idx - 1)))
		return;
	while (n < FAULT_AROUND && idx + 1 + n < r->nr_pages) {
		size_t i = idx + 1 + n;
		if (pte_read(r, i) != PTE_NONE || !pte_trylock(r, i, &old[n]))
			break;
		if (old[n] != PTE_NONE || mem_cgroup_charge(g, 1, 0)) {
			pte_unlock(r, i, old[n]);
			break;
		}
		n++;
	}
	if (!n)
		return;
	size_t mapped = 0;
	/* On EAGAIN/EEXIST part of the run may be mapped: those pages are ours,
	 * the rest are left to their own faults. */
	if (write)
		ctx->mmu->map_copy(ctx, region_addr(r, idx + 1), zeroes, (size_t)n << PAGE_SHIFT,
				   false, &mapped);
	else
		ctx->mmu->map_zero(ctx, region_addr(r, idx + 1), (size_t)n << PAGE_SHIFT, &mapped);
	unsigned int done = (unsigned int)(mapped >> PAGE_SHIFT);
	for (unsigned int k = 0; k < n; k++)
		pte_unlock(r, idx + 1 + k, k < done ? PTE_PRESENT : old[k]);
	mem_cgroup_uncharge(g, n - done);
	atomic_fetch_add(&g->nr_resident, done);
	atomic_fetch_add(&r->nr_present, done);
	count_event(ctx, g, pgfault_zero_around, done);
}

/*
 * kernel: do_anonymous_page.  First touch (or a page evicted as zero): map
 * zeroes.  The page is charged even when the zero page is mapped: a later
 * write makes it real without telling us.
 */
static int do_anonymous_page(struct uswap_ctx *ctx, struct region *r, size_t idx, pte_t orig,
			     unsigned int flags, pte_t *newp)
{
	struct uswap_group *g = r->group;
	uintptr_t addr = region_addr(r, idx);
	int rc = charge_or_oom(ctx, g, addr, flags);

	*newp = orig;
	if (rc == -EBUSY)
		return rc;
	if (rc) {
		*newp = poison_page(ctx, r, idx);
		return 0;
	}
	if (ctx->zeropage && !(flags & FAULT_WRITE)) {
		/* A read of a never-written page: the shared zero page, no memory
		 * until written (the kernel then copies it, without a fault to us). */
		rc = map_result(ctx, g, ctx->mmu->map_zero(ctx, addr, PAGE_SIZE, NULL));
	} else {
		rc = map_page(ctx, g, addr, zero_page, false);
	}
	if (rc) {
		mem_cgroup_uncharge(g, 1);
		*newp = orig;
		return rc;
	}
	count_event_nr(ctx, g, pte_is_marker(orig) ? EV_swpin_zero : EV_pgfault_zero, 1);
	atomic_fetch_add(&g->nr_resident, 1);
	atomic_fetch_add(&r->nr_present, 1);
	*newp = PTE_PRESENT;
	zero_fault_around(ctx, r, idx, flags & FAULT_WRITE);
	return 0;
}

/* A page read ahead: locked PTE and slot, device pinned, charged. */
struct ra_page {
	size_t idx;
	swp_entry_t e;
	swp_tb_t t;
	struct swap_info *si;
	pte_t pte;
};

static __thread unsigned char *ra_buf; /* (2 + RA_MAX) pages, mapped on first use */

static unsigned char *ra_buffer(void)
{
	if (!ra_buf)
		ra_buf = sys_mmap_anon((2 + RA_MAX) * PAGE_SIZE); /* mmap: signal-safe */
	return ra_buf;
}

/*
 * ra_collect - read ahead the pages after @idx: each must be a swap PTE we
 * can lock without waiting, on a device, not in the swap cache, with one
 * reference, and fit in the group without reclaim.  The run stops at the
 * first page that is not; a failed read is left for that page's own fault
 * (which poisons it).  Page k goes to @buf + k pages.
 * Return: pages collected, each left locked, pinned and charged in @ra.
 */
static unsigned int ra_collect(struct uswap_ctx *ctx, struct region *r, size_t idx, unsigned int win,
			       int32_t stride, unsigned char *buf, struct ra_page *ra,
			       struct swap_info *defer)
{
	struct uswap_group *g = r->group;
	unsigned int n = 0;

	for (unsigned int k = 1; k <= win; k++) {
		struct ra_page *p = &ra[n];
		int64_t i = (int64_t)idx + (int64_t)k * stride;
		if (i < 0 || (uint64_t)i >= r->nr_pages)
			break;
		p->idx = (size_t)i;
		if (!pte_is_swap(pte_read(r, p->idx)) || !pte_trylock(r, p->idx, &p->pte))
			break;
		if (!pte_is_swap(p->pte) || (p->pte & PTE_SELFRM))
			goto out_unlock_pte;
		p->e = pte_to_swp_entry(p->pte);
		p->si = get_swap_device(ctx, p->e);
		if (!p->si)
			goto out_unlock_pte;
		/* A synchronous device is read now; an asynchronous one (@defer:
		 * the faulting page's) later, in one batch with the faulting page. */
		if ((defer ? p->si != defer : !(p->si->ops->flags & BK_SYNCHRONOUS)) ||
		    !swap_slot_trylock(ctx, p->e, &p->t))
			goto out_put;
		if (swp_tb_kind(p->t) == SLOT_CACHE || swp_tb_count(p->t) != 1 ||
		    mem_cgroup_charge(g, 1, 0))
			goto out_unlock_slot;
		if (!defer && swap_read_folio(ctx, p->si, p->e, buf + (size_t)k * PAGE_SIZE)) {
			mem_cgroup_uncharge(g, 1);
			goto out_unlock_slot;
		}
		n++;
		continue;
out_unlock_slot:
		swap_slot_unlock(ctx, p->e, p->t);
out_put:
		put_swap_device(p->si);
out_unlock_pte:
		pte_unlock(r, p->idx, p->pte);
		break;
	}
	return n;
}

/* Undo ra_collect: nothing was mapped. */
static void ra_abort(struct uswap_ctx *ctx, struct region *r, struct ra_page *ra, unsigned int n)
{
	for (unsigned int k = 0; k < n; k++) {
		mem_cgroup_uncharge(r->group, 1);
		swap_slot_unlock(ctx, ra[k].e, ra[k].t);
		put_swap_device(ra[k].si);
		pte_unlock(r, ra[k].idx, ra[k].pte);
	}
}

/* The first @mapped of @n read-ahead pages are in the program now; the rest are undone. */
static void ra_finish(struct uswap_ctx *ctx, struct region *r, struct ra_page *ra, unsigned int n,
		      unsigned int mapped, bool keep)
{
	struct uswap_group *g = r->group;

	for (unsigned int k = 0; k < mapped; k++) {
		struct ra_page *p = &ra[k];
		bool keep_this = keep && (p->t & SWP_TB_DATA);
		swp_tb_t t = swp_tb_set(p->t, keep_this ? SLOT_MAPPED : SLOT_EMPTY, 0);
		if (!keep_this)
			t = swap_free_locked(ctx, p->e, t);
		swap_slot_unlock(ctx, p->e, t);
		put_swap_device(p->si);
		atomic_fetch_add(&g->nr_resident, 1);
		atomic_fetch_add(&r->nr_present, 1);
		atomic_fetch_sub(&r->nr_swapped, 1);
		pte_unlock(r, p->idx, make_present_pte(keep_this, p->e) | (keep ? PTE_WP : 0));
	}
	ra_abort(ctx, r, ra + mapped, n - mapped);
	count_event(ctx, g, swap_ra, mapped);
	count_event(ctx, g, pswpin, mapped);
}


/* Give back warm frames [first, first+n): the first @moved are empty (moved
 * into the program), the rest still hold a page. */
static void warm_return(struct uswap_ctx *ctx, uint32_t first, uint32_t n, uint32_t moved)
{
	uint32_t idx[RA_MAX + 1];

	for (uint32_t k = 0; k < n; k++)
		idx[k] = first + k;
	if (moved)
		pool_free_frames(&ctx->pool, idx, moved);
	if (n > moved)
		pool_release_frames(ctx, idx + moved, n - moved);
}

/*
 * cluster_collect - read-ahead by slot for an asynchronous device (kernel:
 * swap_cluster_readahead): the slots after @e on its device were written
 * together (reclaim writes a batch into consecutive slots), so they are
 * likely to be wanted together.  Each allocated, written slot not in the
 * swap cache is locked and given a frame, charged to @g.  The window adapts
 * to how many of the last read-ahead pages were hit (kernel:
 * swapin_nr_pages): it doubles with hits and halves without, down to none.
 * Only in a context with one group: a frame must be charged to the group of
 * the page it holds, and nothing maps a slot back to its page.
 * Return: slots taken, in @ce/@cf/@ct.
 */
static unsigned int cluster_collect(struct uswap_ctx *ctx, struct uswap_group *g,
				    struct swap_info *si, swp_entry_t e, swp_entry_t *ce, uint32_t *cf,
				    swp_tb_t *ct)
{
	uint32_t hits = atomic_exchange_explicit(&si->ra_hits, 0, memory_order_relaxed);
	uint32_t prev = atomic_load_explicit(&si->ra_win, memory_order_relaxed);
	uint64_t last = atomic_exchange_explicit(&si->ra_prev_off, swp_offset(e), memory_order_relaxed);
	uint32_t win = 1;
	unsigned int n = 0;

	if (hits) {
		while (win < hits + 2)
			win <<= 1;
	} else if (swp_offset(e) == last + 1 || swp_offset(e) + 1 == last) {
		win = 2; /* no hits to judge by yet: start on neighbouring faults */
	}
	if (win < prev / 2)
		win = prev / 2; /* shrink gently */
	win = min_t(win, (uint32_t)RA_MAX);
	atomic_store_explicit(&si->ra_win, win, memory_order_relaxed);
	if (win < 2 || atomic_load(&ctx->nr_groups) > 1 || (atomic_load(&si->flags) & SWP_DRAINING))
		return 0;
	/* Within the faulting slot's cluster only: that slot, locked and in use,
	 * keeps the cluster's table alive while we look at its neighbours. */
	uint64_t end = (swp_offset(e) / SWAPFILE_CLUSTER + 1) * SWAPFILE_CLUSTER;
	for (uint64_t k = 1; k < win && swp_offset(e) + k < si->nr_slots && swp_offset(e) + k < end;
	     k++) {
		swp_entry_t x = swp_entry(swp_type(e), swp_offset(e) + k);
		if (!swap_slot_trylock_used(ctx, x, &ct[n]))
			break;
		/* Swapped out only: not in the swap cache, and not the kept copy
		 * of a resident page (SLOT_MAPPED). */
		if (!(ct[n] & SWP_TB_DATA) || swp_tb_kind(ct[n]) == SLOT_CACHE ||
		    swp_tb_kind(ct[n]) == SLOT_MAPPED || mem_cgroup_charge(g, 1, 0)) {
			swap_slot_unlock(ctx, x, ct[n]);
			break;
		}
		/* A warm frame: the device writes into it, and an empty frame
		 * would fault into the pool's userfaultfd (SIGBUS). */
		if (!pool_alloc_warm_run(&ctx->pool, 1, &cf[n])) {
			mem_cgroup_uncharge(g, 1);
			swap_slot_unlock(ctx, x, ct[n]);
			break;
		}
		ce[n++] = x;
	}
	return n;
}

/*
 * swapin_readahead - read the faulting slot @e of an asynchronous device into
 * @page with its read-ahead, all in one submission: the *@nr_ra pages of a
 * stream collected in @ra (read into @page + 1.. pages; a failed one ends
 * the run: it and those after it are undone), or, with @cluster, slots after
 * @e into the swap cache.  Return: 0, or -EIO if the faulting page could not
 * be read (everything read ahead is then undone too).
 */
static int swapin_readahead(struct uswap_ctx *ctx, struct region *r, struct swap_info *si,
			    swp_entry_t e, void *page, struct ra_page *ra, unsigned int *nr_ra,
			    bool cluster)
{
	struct uswap_group *g = r->group;
	swp_entry_t es[1 + RA_MAX], ce[RA_MAX];
	void *pages[1 + RA_MAX];
	uint32_t cf[RA_MAX];
	swp_tb_t ct[RA_MAX];
	int rcs[1 + RA_MAX];
	unsigned int n = 0, nc = 0;

	es[0] = e;
	pages[0] = page;
	if (cluster) {
		nc = cluster_collect(ctx, g, si, e, ce, cf, ct);
		for (unsigned int k = 0; k < nc; k++) {
			es[1 + k] = ce[k];
			pages[1 + k] = frame_addr(&ctx->pool, cf[k]);
		}
		n = nc;
	} else {
		for (unsigned int k = 0; k < *nr_ra; k++) {
			es[1 + k] = ra[k].e;
			pages[1 + k] = (char *)page + (size_t)(k + 1) * PAGE_SIZE;
		}
		n = *nr_ra;
	}
	swap_read_batch(ctx, si, 1 + n, es, pages, rcs);
	if (!cluster) {
		unsigned int ok = 0;
		while (ok < *nr_ra && !rcs[0] && !rcs[1 + ok])
			ok++;
		ra_abort(ctx, r, ra + ok, *nr_ra - ok);
		*nr_ra = ok;
		return rcs[0];
	}
	for (unsigned int k = 0; k < nc; k++) {
		if (rcs[1 + k]) { /* left for that page's own fault, which poisons it */
			pool_release_frames(ctx, &cf[k], 1); /* still holds a page: warm again */
			mem_cgroup_uncharge(g, 1);
			swap_slot_unlock(ctx, ce[k], ct[k]);
			continue;
		}
		swap_cache_add_locked(ctx, g, ce[k], cf[k], true, true);
		swap_slot_unlock(ctx, ce[k], swp_tb_set(ct[k], SLOT_CACHE, cf[k]));
		atomic_fetch_add(&g->nr_swapcache, 1);
		count_event(ctx, g, swap_ra_cluster, 1);
	}
	return rcs[0];
}

/*
 * A read-ahead run mapped with one call fails whole with ENOENT when it
 * crosses the end of the kernel's mapping (an mprotect split the region):
 * the caller then maps the faulting page alone.  Retrying the run would
 * fault the same way for ever.
 */
static bool run_crosses_vma(int rc, size_t mapped, unsigned int nr_ra)
{
	return (rc == -ENOENT || rc == -EINVAL) && !mapped && nr_ra;
}

/*
 * do_swap_page - bring in the page whose PTE holds swap entry @orig.
 * kernel: do_swap_page.
 * Context: page @idx locked.  *@newp receives the PTE to publish on unlock.
 * Return: 0 (resolved, or poisoned: *newp says which), -EAGAIN (mapping
 * changing: the caller wakes the thread so it faults again), other -errno
 * from the MMU (nothing changed).
 */
int do_swap_page(struct uswap_ctx *ctx, struct region *r, size_t idx, pte_t orig,
		 unsigned int flags, pte_t *newp)
{
	struct uswap_group *g = r->group;
	uintptr_t addr = region_addr(r, idx);
	swp_entry_t e = pte_to_swp_entry(orig); /* row 2 */
	struct swap_info *si;
	const void *src;
	uint32_t frame = FRAME_NIL;
	bool activate = false, keep_slot, keep_ok, major = false, frame_moved = false, async, wb = false;
	struct ra_page ra[RA_MAX];
	unsigned int win = 0, nr_ra = 0;
	uint32_t warm = 0, nr_warm = 0; /* warm frames holding this fault's pages */
	size_t mapped = 0;
	int stream = -1;
	int32_t stride = 1;
	swp_tb_t t;
	int rc;

	*newp = orig;
	/* row 4: pin the device against swapoff for the whole fault. */
	si = get_swap_device(ctx, e);
	if (unlikely(!si)) {
		/* Under the page lock the entry cannot be stale: the device vanished
		 * under a live PTE, so the data is lost.  Never map zeroes. */
		uswap_log(ctx, USWAP_LOG_ERR, "fault at %#lx: swap device %u is gone",
			  (unsigned long)addr, swp_type(e));
		*newp = poison_page(ctx, r, idx);
		atomic_fetch_sub(&r->nr_swapped, 1);
		return 0;
	}
	/* rows 6, 15: claim the slot; a racing writeback or swapoff holds it
	 * only for the duration of one page, and we sleep on the slot word. */
	t = swap_slot_lock_flags(ctx, e, SLOT_LOCK_WB_OK);
	async = !(si->ops->flags & BK_SYNCHRONOUS);

	/*
	 * rows 22, 23: keep the slot (and its data) when the page is mapped
	 * read-only-clean: a read fault, the only reference, swap not over half
	 * full, dirty tracking available, and a store whose copy does not cost
	 * RAM (zram frees it, as the kernel does for SWP_SYNCHRONOUS_IO: a kept
	 * compressed copy of a resident page is memory spent twice).  Otherwise
	 * the slot is freed now (exclusive write fault: the copy is about to be
	 * stale).
	 */
	keep_ok = !(flags & FAULT_WRITE) && swp_tb_count(t) == 1 && ctx->wp_async &&
		  !swap_is_half_full(ctx, e) &&
		  (!(si->ops->flags & BK_RAM) || (ctx->opts.flags & USWAP_F_KEEP_CLEAN));
	keep_slot = (t & SWP_TB_DATA) && keep_ok;

	if (swp_tb_kind(t) == SLOT_CACHE) {
		/* row 5: swap-cache hit: minor fault, no I/O. */
		frame = (uint32_t)swp_tb_payload(t);
		wb = atomic_load(&ctx->pool.frames[frame].wb);
		if (wb && !keep_ok) {
			/* Under writeback, and the slot would be freed (a write
			 * fault, swap over half full): wait for the write, then
			 * fault again. */
			swap_slot_unlock(ctx, e, t);
			swap_slot_unlock(ctx, e, swap_slot_lock(ctx, e));
			put_swap_device(si);
			return -EAGAIN;
		}
		/* Under writeback the frame is the writer's (off the list): the
		 * page is mapped from it as a copy, write-protected, and the
		 * slot keeps the copy being written. */
		if (!wb) {
			swap_cache_del_locked(ctx, g, frame);
		} else {
			keep_slot = true; /* the data being written will be the slot's */
			count_event(ctx, g, swpin_writeback, 1);
		}
		if (ctx->pool.frames[frame].readahead) {
			count_event(ctx, g, swap_ra_hit, 1);
			atomic_fetch_add_explicit(&si->ra_hits, 1, memory_order_relaxed);
		}
		src = frame_addr(&ctx->pool, frame);
		activate = true; /* second chance: it was touched while inactive */
		count_event(ctx, g, swapcache_hit, 1);
	} else {
		/* rows 6-10: synchronous device, count 1: read into our own buffer,
		 * bypassing the swap cache. */
		rc = charge_or_oom(ctx, g, addr, flags); /* row 7 */
		if (rc == -EBUSY) {
			swap_slot_unlock(ctx, e, t);
			put_swap_device(si);
			return rc;
		}
		if (rc) {
			t = swap_free_locked(ctx, e, swp_tb_set(t, SLOT_EMPTY, 0));
			swap_slot_unlock(ctx, e, t);
			put_swap_device(si);
			atomic_fetch_sub(&r->nr_swapped, 1);
			*newp = poison_page(ctx, r, idx);
			return 0;
		}
		if (swp_tb_kind(t) == SLOT_SHADOW) /* row 8 */
			activate = workingset_refault(ctx, g, swp_tb_payload(t));
		/* row 11: a sequential stream reads ahead into contiguous warm
		 * frames, moved into the program with the faulting page in one
		 * UFFDIO_MOVE, or else into one buffer mapped with one UFFDIO_COPY. */
		win = swap_ra_window(ctx, r, idx, &stream, &stride);
		src = scratch;
		if (win + 1 >= ctx->move_in_min && stride == 1 && !keep_slot && ctx->mmu->move_in &&
		    ctx->use_move && !async) {
			nr_warm = pool_alloc_warm_run(&ctx->pool, 1 + win, &warm);
			if (nr_warm >= ctx->move_in_min) {
				src = frame_addr(&ctx->pool, warm);
				win = nr_warm - 1;
			} else {
				warm_return(ctx, warm, nr_warm, 0);
				nr_warm = 0;
			}
		}
		if (!nr_warm && win && (src = ra_buffer()) == NULL) {
			src = scratch;
			win = 0;
		}
		if (!async) {
			rc = swap_read_folio(ctx, si, e, (void *)src); /* row 10 */
		} else {
			/* rows 10-12 for an asynchronous device: one submission for
			 * the faulting page and its read-ahead, by address (a stream:
			 * mapped with it) or else by slot (into the swap cache). */
			if (win)
				nr_ra = ra_collect(ctx, r, idx, win, stride, (unsigned char *)src, ra, si);
			rc = swapin_readahead(ctx, r, si, e, (void *)src, ra, &nr_ra, !win);
		}
		if (rc) {
			/* rows 14, 21: the data is lost; SIGBUS for this page only. */
			warm_return(ctx, warm, nr_warm, 0);
			mem_cgroup_uncharge(g, 1);
			t = swap_free_locked(ctx, e, swp_tb_set(t, SLOT_EMPTY, 0));
			swap_slot_unlock(ctx, e, t);
			put_swap_device(si);
			atomic_fetch_sub(&r->nr_swapped, 1);
			*newp = poison_page(ctx, r, idx);
			return 0;
		}
		major = true;
	}

	if (win && !async)
		nr_ra = ra_collect(ctx, r, idx, win, stride, (unsigned char *)src, ra, NULL);
	if (nr_ra && stride == -1) {
		/*
		 * A backward stream: its pages are contiguous below the fault.
		 * Lay the buffer out in address order (the faulting page last)
		 * and map the run with one copy; a short copy maps the lowest
		 * pages, so ra[] is put in address order too.
		 */
		unsigned char *b = (unsigned char *)src;
		size_t mapped_b = 0;
		memcpy(b + (size_t)(nr_ra + 1) * PAGE_SIZE, b, PAGE_SIZE);
		for (unsigned int j = 0; j < nr_ra / 2; j++) {
			unsigned char *x = b + (size_t)(1 + j) * PAGE_SIZE;
			unsigned char *y = b + (size_t)(nr_ra - j) * PAGE_SIZE;
			memcpy(b, x, PAGE_SIZE); /* slot 0 is free now: the swap buffer */
			memcpy(x, y, PAGE_SIZE);
			memcpy(y, b, PAGE_SIZE);
			struct ra_page tmp = ra[j];
			ra[j] = ra[nr_ra - 1 - j];
			ra[nr_ra - 1 - j] = tmp;
		}
		rc = map_result(ctx, g, ctx->mmu->map_copy(ctx, region_addr(r, idx - nr_ra),
							   b + PAGE_SIZE, (size_t)(nr_ra + 1) << PAGE_SHIFT,
							   keep_slot && ctx->wp_async, &mapped_b));
		if (run_crosses_vma(rc, mapped_b, nr_ra)) {
			/* The faulting page alone; the read-ahead is undone. */
			rc = map_page(ctx, g, addr, b + (size_t)(nr_ra + 1) * PAGE_SIZE, keep_slot);
			ra_finish(ctx, r, ra, nr_ra, 0, keep_slot);
			nr_ra = 0;
		} else {
			unsigned int done = (unsigned int)(mapped_b >> PAGE_SHIFT);
			ra_finish(ctx, r, ra, nr_ra, done < nr_ra ? done : nr_ra, keep_slot);
			if (done <= nr_ra && !rc)
				rc = -EAGAIN; /* cannot happen: a short copy reports an error */
			nr_ra = done < nr_ra ? done : nr_ra;
		}
	} else if (nr_ra && stride != 1) {
		/* A strided stream: its pages are apart, one copy each. */
		unsigned int done = 0;
		rc = map_page(ctx, g, addr, src, keep_slot);
		while (!rc && done < nr_ra &&
		       !ctx->mmu->map_copy(ctx, region_addr(r, ra[done].idx),
					   (const char *)src + (size_t)(done + 1) * PAGE_SIZE, PAGE_SIZE,
					   keep_slot && ctx->wp_async, NULL))
			done++;
		ra_finish(ctx, r, ra, nr_ra, done, keep_slot);
		nr_ra = done;
	} else if (nr_ra || nr_warm) {
		/* Move only runs worth it: every move is a TLB shoot-down, which
		 * costs more than copying a few pages.  A copy leaves frames warm. */
		bool move = nr_warm && 1 + nr_ra >= ctx->move_in_min;
		size_t len = (size_t)(1 + nr_ra) << PAGE_SHIFT;
		if (move)
			rc = map_result(ctx, g, ctx->mmu->move_in(ctx, addr, (void *)src, len, &mapped));
		else
			rc = map_result(ctx, g, ctx->mmu->map_copy(ctx, addr, src, len,
								   keep_slot && ctx->wp_async, &mapped));
		if (run_crosses_vma(rc, mapped, nr_ra)) {
			move = false;
			rc = map_result(ctx, g, ctx->mmu->map_copy(ctx, addr, src, PAGE_SIZE,
								   keep_slot && ctx->wp_async, &mapped));
			mapped = rc ? 0 : PAGE_SIZE;
		}
		/* Pages mapped before an error are done; the rest are undone. */
		unsigned int done = (unsigned int)(mapped >> PAGE_SHIFT);
		if (nr_warm) {
			/* Moved frames are empty now; the others still hold a page. */
			warm_return(ctx, warm, nr_warm, move ? done : 0);
			if (move)
				count_event(ctx, g, swpin_move, done);
		}
		ra_finish(ctx, r, ra, nr_ra, done ? done - 1 : 0, keep_slot);
		if (done)
			rc = 0;
		else
			nr_ra = 0;
	} else if (frame != FRAME_NIL && !wb && ctx->move_in_min == 1 && !keep_slot && ctx->mmu->move_in) {
		/* The swap-cache page itself goes back into the program. */
		rc = map_result(ctx, g, ctx->mmu->move_in(ctx, addr, (void *)src, PAGE_SIZE, NULL));
		if (!rc) {
			count_event(ctx, g, swpin_move, 1);
			pool_free_frames(&ctx->pool, &frame, 1);
			frame_moved = true;
		}
	} else {
		rc = map_page(ctx, g, addr, src, keep_slot); /* row 25 */
	}
	if (stream >= 0)
		swap_ra_record(r, stream, idx, rc ? 0 : nr_ra);
	if (rc) {
		/* Back out: nothing changed but the charge / the frame's list. */
		if (frame != FRAME_NIL && !wb)
			swap_cache_add_locked(ctx, g, e, frame, ctx->pool.frames[frame].clean,
					      ctx->pool.frames[frame].readahead);
		else
			mem_cgroup_uncharge(g, 1);
		swap_slot_unlock(ctx, e, t);
		put_swap_device(si);
		return rc;
	}
	if (frame != FRAME_NIL) {
		/* The frame's page now lives in the program: cache -> resident. */
		if (!frame_moved && !wb) /* under writeback: the writer frees it */
			pool_release_frames(ctx, &frame, 1);
		atomic_fetch_sub(&g->nr_swapcache, 1);
		count_event(ctx, g, pgactivate, 1);
	}
	if (major) { /* row 13 */
		count_event(ctx, g, pgmajfault, 1);
		count_event(ctx, g, pswpin, 1);
	}
	/* A kept slot says so: read-ahead by slot must not cache a resident page. */
	t = swp_tb_set(t, keep_slot ? SLOT_MAPPED : SLOT_EMPTY, wb ? frame + 1 : 0);
	if (!keep_slot)
		t = swap_free_locked(ctx, e, t); /* row 23 */
	swap_slot_unlock(ctx, e, t);
	put_swap_device(si); /* row 27 */

	/* rows 9, 24: on the group's LRU (the clock), counted resident. */
	atomic_fetch_add(&g->nr_resident, 1);
	atomic_fetch_add(&r->nr_present, 1);
	atomic_fetch_sub(&r->nr_swapped, 1);
	*newp = make_present_pte(keep_slot, e) | (keep_slot ? PTE_WP : 0) |
		(activate ? PTE_REFERENCED : 0);
	return 0;
}

/*
 * do_wp_page - a write hit a write-protected page (synchronous write-protect
 * mode only; with WP_ASYNC the kernel resolves these itself).  The page is
 * about to differ from its slot: drop the slot and un-protect.
 */
static int do_wp_page(struct uswap_ctx *ctx, struct region *r, size_t idx, pte_t orig,
		      pte_t *newp)
{
	*newp = orig;
	if (orig & PTE_SLOT) {
		swp_entry_t e = pte_to_swp_entry(orig);
		swp_tb_t t = swap_slot_lock(ctx, e);
		swap_slot_unlock(ctx, e, swap_free_locked(ctx, e, t));
		*newp = PTE_PRESENT | (orig & PTE_REFERENCED);
	}
	return ctx->mmu->writeprotect(ctx, region_addr(r, idx), PAGE_SIZE, false);
}

/* Does the kernel have a page at @addr (/proc/self/pagemap)?  True if unknown. */
static bool kernel_has_page(uintptr_t addr)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	int has = sys_pagemap_has(fd, addr, false);

	if (fd >= 0)
		close(fd);
	return has != 0;
}

/* How many live regions cover @addr (more than one: an overlap being resolved). */
static size_t regions_at(struct uswap_ctx *ctx, uintptr_t addr)
{
	struct region_table *t = atomic_load_explicit(&ctx->regions, memory_order_acquire);
	size_t n = 0;

	for (size_t i = 0; t && i < t->nr; i++) {
		struct region *x = t->r[i];
		if (!atomic_load(&x->dead) && addr >= x->start &&
		    addr < x->start + (x->nr_pages << PAGE_SHIFT))
			n++;
	}
	return n;
}

static void log_lost_page(struct uswap_ctx *ctx, struct region *r, size_t idx, uintptr_t addr,
			  unsigned int flags, pte_t pte)
{
	uswap_log(ctx, USWAP_LOG_ERR, "fault at %#lx (flags %#x): the kernel lost a page uswap had "
		  "mapped (pte %#llx, region %#lx + %zu pages, %zu regions there): its data is gone; "
		  "an access raises SIGBUS", (unsigned long)addr, flags, (unsigned long long)pte,
		  (unsigned long)r->start, idx, regions_at(ctx, addr));
}

/*
 * handle_fault - resolve a fault at @addr.
 * kernel: handle_mm_fault -> handle_pte_fault.
 * Context: any handler thread, or the faulting thread (SIGBUS mode).
 * Return: 0 resolved (the faulting thread is woken), -EAGAIN the mapping is
 * changing (the thread is woken and faults again), -EHWPOISON the page is
 * poisoned (its data is lost, or the group is out of memory): the access
 * raises SIGBUS, -EBUSY (FAULT_NOWAIT) memory is short and only waiting
 * would help: nothing changed, the thread still sleeps, retry later;
 * -EFAULT not a managed address.
 */
int handle_fault(struct uswap_ctx *ctx, uintptr_t addr, unsigned int flags)
{
	uint64_t t0 = now_ns();
	struct region *r = region_lookup(ctx, addr);
	struct uswap_group *g;
	size_t idx;
	pte_t pte, newpte;
	int rc = 0;

	if (!r)
		return -EFAULT;
	atomic_fetch_add(&ctx->faults_in_flight, 1);
	g = r->group;
	idx = (addr - r->start) >> PAGE_SHIFT;
	addr = region_addr(r, idx);
	pte = pte_lock(r, idx); /* row 15 (waits for eviction in progress: row 3) */
	newpte = pte;
	count_event(ctx, g, pgfault, 1);

	if (unlikely(pte & PTE_SELFRM)) {
		/*
		 * Write-protect eviction in flight: the kernel may still have the
		 * page (the zap has not run), so a swap-in now would find it
		 * mapped (EEXIST) and the zap would then remove the page under a
		 * present PTE.  Wake the thread: its access succeeds if the page is
		 * still there, or faults again until the REMOVE event of the zap
		 * has been handled and the mark is gone.
		 */
		count_event(ctx, g, spurious_fault, 1);
		pte_unlock(r, idx, pte);
		if (!(flags & FAULT_SIGNAL))
			ctx->mmu->wake(ctx, addr, PAGE_SIZE);
		goto out;
	}
	switch (pte_type(pte)) {
	case PTE_PRESENT:
		if (flags & FAULT_WP) {
			rc = do_wp_page(ctx, r, idx, pte, &newpte); /* row 26 */
			break;
		}
		/*
		 * row 1: another thread resolved it first: only wake.  Unless the
		 * kernel dropped the page after we mapped it: a madvise(DONTNEED)
		 * whose REMOVE event was handled before its zap, with a fault on
		 * the range in between (another thread's, or fault-around).  Then
		 * every retry would fault again, for ever.  Tell the two apart by
		 * mapping something: EEXIST says the page is there.  Zeroes, if
		 * the kernel has dropped pages of this region on the program's
		 * request (what the madvise asked for); otherwise nothing explains
		 * the loss, and the page is poisoned (SIGBUS on access), never
		 * silently zero.
		 */
		if (atomic_load(&r->nr_zap_events)) {
			rc = ctx->zeropage ? ctx->mmu->map_zero(ctx, addr, PAGE_SIZE, NULL)
					   : ctx->mmu->map_copy(ctx, addr, zero_page, PAGE_SIZE, false, NULL);
		} else {
			/* Say it before the poison when the page is surely gone: the
			 * access the poison wakes kills the program, and this thread
			 * with it, at once.  Otherwise only if the poison took (the
			 * page went between the look and the poison). */
			bool gone = !kernel_has_page(addr);
			if (gone)
				log_lost_page(ctx, r, idx, addr, flags, pte);
			rc = ctx->mmu->poison(ctx, addr, PAGE_SIZE);
			if (rc == 0) {
				if (!gone)
					log_lost_page(ctx, r, idx, addr, flags, pte);
				newpte = present_page_lost(ctx, r, pte);
				break;
			}
		}
		if (rc == 0) {
			count_event(ctx, g, fault_refill, 1);
			uswap_log(ctx, USWAP_LOG_WARN, "fault at %#lx: the kernel dropped a page uswap "
				  "had mapped (pte %#llx, flags %#x), a madvise racing with a fault: "
				  "zeroes mapped", (unsigned long)addr, (unsigned long long)pte, flags);
			if (pte & PTE_SLOT) /* the slot's copy is not this page's content now */
				swap_put(ctx, pte_to_swp_entry(pte));
			newpte = pte & ~(PTE_SLOT | PTE_WP | (~0ULL << SWP_TYPE_SHIFT));
			break;
		}
		if (rc == -EEXIST)
			count_event(ctx, g, spurious_fault, 1);
		break;
	case PTE_NONE:
		rc = do_anonymous_page(ctx, r, idx, pte, flags, &newpte);
		break;
	case PTE_MARKER:
		if (pte_marker_kind(pte) >= MARKER_HOLE) {
			rc = -EFAULT; /* unmapped (partial munmap): not ours */
		} else if (pte_marker_kind(pte) == MARKER_ZERO) { /* row 3 */
			rc = do_anonymous_page(ctx, r, idx, pte, flags, &newpte);
		} else {
			/* Poisoned: re-install the kernel marker (it may have been
			 * zapped) so the access raises SIGBUS. */
			rc = ctx->mmu->poison(ctx, addr, PAGE_SIZE);
			if (rc == -EEXIST)
				ctx->mmu->wake(ctx, addr, PAGE_SIZE);
			rc = rc == -EEXIST ? 0 : rc;
		}
		break;
	case PTE_SWAP:
		rc = do_swap_page(ctx, r, idx, pte, flags, &newpte);
		break;
	}
	pte_unlock(r, idx, newpte);
	if (!rc && pte_is_marker(newpte) && pte_marker_kind(newpte) == MARKER_POISON)
		rc = -EHWPOISON; /* the access must raise SIGBUS */
	/*
	 * -EBUSY: deferred, the thread stays asleep until the retry maps the
	 * page.  Any other error: wake the thread, so that it retries (or
	 * finds the poison marker, or that its mapping is gone).  A wake-up
	 * that finds nobody waiting costs one ioctl; a missed one is a hang.
	 */
	if (rc && rc != -EBUSY) {
		if (!(flags & FAULT_SIGNAL))
			ctx->mmu->wake(ctx, addr, PAGE_SIZE);
		rc = rc == -EEXIST ? 0 : rc;
	}
out:
	count_event(ctx, g, fault_ns, now_ns() - t0);
	atomic_fetch_sub(&ctx->faults_in_flight, 1);
	return rc;
}

/*
 * swapoff_unuse_page - make page @idx (locked, using a device being removed)
 * independent of its slot: map it in, or move its data to another device
 * when the group is at its limit.  Unlocks the page.
 * kernel: unuse_pte.
 * Return: 0; -ENOMEM (no room in memory nor on another device); -EIO
 * (unreadable: the page is poisoned).
 */
int swapoff_unuse_page(struct uswap_ctx *ctx, struct region *r, size_t idx, pte_t orig)
{
	struct uswap_group *g = r->group;
	swp_entry_t e = pte_to_swp_entry(orig);
	pte_t newpte = orig;
	int rc = 0;

	if (pte_present(orig)) {
		/* A clean resident page: just forget the slot. */
		swp_tb_t t = swap_slot_lock(ctx, e);
		swap_slot_unlock(ctx, e, swap_free_locked(ctx, e, t));
		newpte = PTE_PRESENT | (orig & PTE_REFERENCED);
		goto out;
	}
	if (mem_cgroup_charge(g, 1, CHARGE_RECLAIM) == 0) {
		mem_cgroup_uncharge(g, 1); /* do_swap_page charges for itself */
		for (int tries = 0; tries < 100; tries++) {
			rc = do_swap_page(ctx, r, idx, orig, FAULT_WRITE, &newpte);
			if (rc != -EAGAIN)
				break;
		}
		if (!rc && pte_is_marker(newpte))
			rc = -EIO;
		goto out;
	}
	/* No room in memory: move the data to another device. */
	{
		struct swap_info *si = get_swap_device(ctx, e);
		swp_entry_t ne;
		swp_tb_t t, nt;
		if (!si) {
			rc = -EIO;
			goto out;
		}
		t = swap_slot_lock(ctx, e);
		if (swp_tb_kind(t) == SLOT_CACHE) {
			/* The page is in memory already: a new slot will be written at writeback. */
			rc = folio_alloc_swap(ctx, &ne);
			if (!rc) {
				uint32_t f = (uint32_t)swp_tb_payload(t);
				struct uswap_group *fg = group_by_id(ctx, ctx->pool.frames[f].group_id);
				/* Under the list lock: reclaim reads the entry of listed frames. */
				pthread_mutex_lock(&fg->lru_lock);
				ctx->pool.frames[f].entry = ne;
				ctx->pool.frames[f].clean = false;
				pthread_mutex_unlock(&fg->lru_lock);
				swap_slot_unlock(ctx, ne, swp_tb_set(1, SLOT_CACHE, f));
				t = swap_free_locked(ctx, e, swp_tb_set(t, SLOT_EMPTY, 0));
				newpte = swp_entry_to_pte(ne);
			}
			swap_slot_unlock(ctx, e, t);
		} else {
			rc = swap_read_folio(ctx, si, e, scratch);
			if (rc) {
				t = swap_free_locked(ctx, e, swp_tb_set(t, SLOT_EMPTY, 0));
				swap_slot_unlock(ctx, e, t);
				atomic_fetch_sub(&r->nr_swapped, 1);
				newpte = poison_page(ctx, r, idx);
				put_swap_device(si);
				goto out;
			}
			rc = folio_alloc_swap(ctx, &ne);
			if (!rc) {
				struct swap_info *nsi = get_swap_device(ctx, ne);
				rc = swap_write_folio(ctx, nsi, ne, scratch);
				nt = rc ? swap_free_locked(ctx, ne, 1) : (1 | SWP_TB_DATA);
				swap_slot_unlock(ctx, ne, nt);
				put_swap_device(nsi);
				if (!rc) {
					newpte = swp_entry_to_pte(ne);
					t = swap_free_locked(ctx, e, swp_tb_set(t, SLOT_EMPTY, 0));
				}
			}
			swap_slot_unlock(ctx, e, t);
		}
		put_swap_device(si);
		if (rc)
			rc = -ENOMEM;
	}
out:
	if (!rc)
		count_event(ctx, g, swapoff_pages, 1);
	pte_unlock(r, idx, newpte);
	return rc;
}
