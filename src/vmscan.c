/* SPDX-License-Identifier: MIT */
/*
 * vmscan.c - reclaim: ageing resident pages into the swap cache, writing
 * the swap cache out, and the background reclaim thread.
 *
 * kernel: mm/vmscan.c (shrink_active_list, shrink_folio_list, kswapd) and
 * mm/swap.c (the LRU).
 *
 * Ageing without accessed bits.  User space cannot read the hardware
 * accessed bit, so uswap ages with the swap cache as the inactive list:
 *
 *   resident (clock) --shrink_active--> swap cache (inactive, FIFO)
 *        ^                                   |           |
 *        +------- minor fault (promote) -----+           | shrink_inactive
 *                                                        v
 *                                       compressed / written, frame freed
 *
 * shrink_active sweeps a clock over the group's regions: a page with the
 * referenced bit loses it and stays (second chance); others are moved out of
 * the program with UFFDIO_MOVE into pool frames, atomically: a write racing
 * with the move either lands before it (and moves with the page) or faults
 * and waits for the page lock.  A page touched while in the swap cache comes
 * back with a minor fault and the referenced bit.  shrink_inactive takes the
 * oldest frames, writes them (unless the slot still holds the same data) and
 * frees the frames: only this step frees memory.
 *
 * Everything is batched: one MOVE per contiguous run, one PAGEMAP_SCAN per
 * run for dirty state, one MADV_DONTNEED per run of freed frames.
 */
#include <sys/prctl.h>
#include <errno.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

struct victim {
	struct region *r;
	size_t idx;
	pte_t pte;
};

/*
 * isolate_resident - collect up to @max resident pages of @g, locked, in
 * clock order.  Pages with the referenced bit lose it and are skipped.
 * Return: number collected into @v.
 */
static unsigned int isolate_resident(struct uswap_group *g, struct victim *v, unsigned int max,
				     uint64_t *scanned)
{
	unsigned int n = 0;
	uint64_t budget = 0, seen = 0;
	struct region *r;

	pthread_mutex_lock(&g->regions_lock);
	for (r = g->regions; r; r = r->group_next)
		budget += r->nr_pages;
	budget *= 2; /* two sweeps: the first may only clear referenced bits */
	r = g->clock_region ? g->clock_region : g->regions;
	size_t idx = g->clock_region ? g->clock_idx : 0;
	while (r && n < max && seen < budget) {
		if (idx >= r->nr_pages || atomic_load(&r->dead)) {
			/* A dead region's pages count as seen: with only dead
			 * regions listed (their destroy waits for this lock to
			 * unlink them) the sweep would otherwise never end. */
			if (idx < r->nr_pages)
				seen += r->nr_pages - idx;
			r = r->group_next ? r->group_next : g->regions;
			idx = 0;
			continue;
		}
		pte_t pte = pte_read(r, idx);
		seen++;
		if (pte_present(pte) && !(pte & PTE_LOCKED) && !pte_mlocked(pte)) {
			pte_t locked;
			(*scanned)++;
			if (pte_trylock(r, idx, &locked)) {
				if (!pte_present(locked) || pte_mlocked(locked)) {
					pte_unlock(r, idx, locked);
				} else if (locked & PTE_REFERENCED) {
					pte_unlock(r, idx, locked & ~PTE_REFERENCED);
				} else {
					v[n].r = r;
					v[n].idx = idx;
					v[n].pte = locked;
					n++;
				}
			}
		}
		idx++;
	}
	g->clock_region = r;
	g->clock_idx = idx;
	pthread_mutex_unlock(&g->regions_lock);
	return n;
}

/* Undo an eviction that cannot complete: put the page back where it was. */
static void evict_undo(struct uswap_ctx *ctx, struct victim *v, uint32_t f)
{
	int rc;

	if (!ctx->use_move) {
		/* Write-protect eviction: the program still has the page; un-protect it. */
		ctx->mmu->writeprotect(ctx, region_addr(v->r, v->idx), PAGE_SIZE, false);
		pool_release_frames(ctx, &f, 1);
		count_event(ctx, v->r->group, swpout_fail, 1);
		pte_unlock(v->r, v->idx, v->pte);
		return;
	}
	/*
	 * EAGAIN: an event (REMOVE, UNMAP...) is waiting to be read.  Outside
	 * the handler threads, wait for them to read it.  A handler thread
	 * cannot wait for itself: there, and if the copy still fails, the page
	 * is poisoned, loudly, rather than left present over a hole (every
	 * access would then fault for ever) or silently zero.
	 */
	rc = ctx->mmu->map_copy(ctx, region_addr(v->r, v->idx), frame_addr(&ctx->pool, f),
				PAGE_SIZE, false, NULL);
	for (int tries = 0; rc == -EAGAIN && !uffd_in_handler_thread() && tries < 10000; tries++) {
		usleep(200);
		rc = ctx->mmu->map_copy(ctx, region_addr(v->r, v->idx), frame_addr(&ctx->pool, f),
					PAGE_SIZE, false, NULL);
	}
	pool_release_frames(ctx, &f, 1); /* the program has its own copy again: not uncharged */
	count_event(ctx, v->r->group, swpout_fail, 1);
	if (rc && rc != -EEXIST) {
		uswap_log(ctx, USWAP_LOG_ERR, "swap is full and the page at %#lx could not be put "
			  "back (%d): its data is lost; an access raises SIGBUS",
			  (unsigned long)region_addr(v->r, v->idx), rc);
		ctx->mmu->poison(ctx, region_addr(v->r, v->idx), PAGE_SIZE);
		pte_unlock(v->r, v->idx, present_page_lost(ctx, v->r, v->pte));
		return;
	}
	pte_unlock(v->r, v->idx, v->pte & ~(PTE_SLOT | PTE_WP | (~0ULL << SWP_TYPE_SHIFT)));
	if (v->pte & PTE_SLOT)
		swap_put(ctx, pte_to_swp_entry(v->pte));
}

/*
 * evict_one - the page of @v is now in frame @f (moved out of the program):
 * give it a slot and put it in the swap cache, or drop it if it is zero.
 * @written: PAGEMAP_SCAN saw a write since it was mapped clean.
 * Return: 1 page left the program, 0 undone.  *@released gets zero frames.
 */
static int evict_one(struct uswap_ctx *ctx, struct victim *v, uint32_t f, bool written,
		     uint32_t *released, unsigned int *nr_released)
{
	/* Write-protect eviction: the page is still mapped until the zap that
	 * follows; its REMOVE event is ours (PTE_SELFRM). */
	pte_t selfrm = ctx->use_move ? 0 : PTE_SELFRM;
	struct uswap_group *g = v->r->group;
	void *page = frame_addr(&ctx->pool, f);
	bool had_slot = v->pte & PTE_SLOT;
	swp_entry_t e = pte_to_swp_entry(v->pte);
	bool clean = false;
	swp_tb_t t;

	if (page_is_zero(page)) {
		/* No slot and no I/O for a zero page: a marker remembers it. */
		if (had_slot) {
			t = swap_slot_lock(ctx, e);
			swap_slot_unlock(ctx, e, swap_free_locked(ctx, e, t));
		}
		released[(*nr_released)++] = f;
		count_event(ctx, g, swpout_zero, 1);
		pte_unlock(v->r, v->idx, make_marker_pte(MARKER_ZERO) | selfrm);
		atomic_fetch_sub(&v->r->nr_present, 1);
		atomic_fetch_sub(&g->nr_resident, 1);
		return 1;
	}
	if (had_slot) {
		struct swap_info *si = get_swap_device(ctx, e);
		t = swap_slot_lock(ctx, e);
		/* Clean if no write was seen AND the content still equals the
		 * slot's copy: the hash check closes the window between the scan
		 * and the move, in which a write would not have been seen. */
		clean = si && !written && (t & SWP_TB_DATA) && swap_matches(ctx, si, e, page);
		if (!clean && (t & SWP_TB_DATA)) {
			swap_discard(ctx, si, e); /* stale copy: rewritten at writeback */
			t &= ~SWP_TB_DATA;
		}
		if (si)
			put_swap_device(si);
	} else {
		if (folio_alloc_swap(ctx, &e)) {
			evict_undo(ctx, v, f);
			return 0;
		}
		t = 1;
	}
	swap_cache_add_locked(ctx, g, e, f, clean, false);
	swap_slot_unlock(ctx, e, swp_tb_set(t, SLOT_CACHE, f));
	pte_unlock(v->r, v->idx, swp_entry_to_pte(e) | selfrm);
	atomic_fetch_sub(&v->r->nr_present, 1);
	atomic_fetch_add(&v->r->nr_swapped, 1);
	atomic_fetch_sub(&g->nr_resident, 1);
	atomic_fetch_add(&g->nr_swapcache, 1);
	count_event(ctx, g, pgdeactivate, 1);
	return 1;
}

/*
 * evict_run_wp - eviction without UFFDIO_MOVE: write-protect the run (a
 * write now traps and waits), copy the pages into frames, publish their
 * swap PTEs marked PTE_SELFRM, unlock, and only then drop the program's
 * pages with MADV_DONTNEED.  The zap blocks until a handler thread reads
 * its REMOVE event, so no page lock may be held across it, and it must not
 * run in a handler thread (see try_to_free_pages).
 */
static int evict_run_wp(struct uswap_ctx *ctx, struct victim *v, unsigned int n,
			uint32_t *released, unsigned int *nr_released)
{
	uintptr_t start = region_addr(v[0].r, v[0].idx);
	uint8_t out[RECLAIM_BATCH] = { 0 };
	int total = 0;

	if (ctx->mmu->writeprotect(ctx, start, (size_t)n << PAGE_SHIFT, true)) {
		for (unsigned int i = 0; i < n; i++)
			pte_unlock(v[i].r, v[i].idx, v[i].pte);
		return 0;
	}
	for (unsigned int i = 0; i < n; i++) {
		uint32_t f;
		if (!pool_alloc_run(ctx, 1, &f)) {
			ctx->mmu->writeprotect(ctx, region_addr(v[i].r, v[i].idx),
					       (size_t)(n - i) << PAGE_SHIFT, false);
			for (unsigned int k = i; k < n; k++)
				pte_unlock(v[k].r, v[k].idx, v[k].pte);
			break;
		}
		memcpy(frame_addr(&ctx->pool, f), (void *)region_addr(v[i].r, v[i].idx), PAGE_SIZE);
		out[i] = (uint8_t)evict_one(ctx, &v[i], f, true, released, nr_released);
		total += out[i];
	}
	/* No page lock held from here on. */
	for (unsigned int i = 0; i < n;) {
		unsigned int run = 0;
		while (i + run < n && out[i + run])
			run++;
		if (run)
			ctx->mmu->zap(ctx, region_addr(v[i].r, v[i].idx), (size_t)run << PAGE_SHIFT);
		i += run ? run : 1;
	}
	return total;
}

/*
 * make_exclusive - UFFDIO_MOVE refused the page (-EBUSY): it is not
 * exclusively ours, being shared copy-on-write with a forked child (or it
 * was, and nobody has written it since).  A write that changes nothing makes
 * it exclusive again (the kernel copies it only if the child still maps it),
 * and the next pass of the clock moves it.  The page lock is not held: the
 * page may have been dropped meanwhile, and then the write faults and a
 * handler thread resolves it, so this is never done in a handler thread.
 */
static void make_exclusive(struct region *r, size_t idx)
{
	__atomic_fetch_add((volatile int *)region_addr(r, idx), 0, __ATOMIC_RELAXED);
}

/* Move the run v[0..n) (contiguous pages of one region) out. Return: pages out, -ENOSPC pool full. */
static int evict_run(struct uswap_ctx *ctx, struct victim *v, unsigned int n, uint32_t *released,
		     unsigned int *nr_released)
{
	uint64_t written[RECLAIM_BATCH / 64 + 1] = { 0 };
	bool any_slot = false, retried = false;
	unsigned int done = 0, out = 0;

	if (!ctx->use_move)
		return evict_run_wp(ctx, v, n, released, nr_released);

	for (unsigned int i = 0; i < n; i++)
		any_slot |= !!(v[i].pte & PTE_SLOT);
	if (any_slot && ctx->mmu->scan_written(ctx, region_addr(v[0].r, v[0].idx), n, written))
		memset(written, 0xff, sizeof(written));

	while (done < n) {
		uint32_t first, got = pool_alloc_run(ctx, n - done, &first);
		if (!got) {
			for (unsigned int i = done; i < n; i++)
				pte_unlock(v[i].r, v[i].idx, v[i].pte);
			return out ? (int)out : -ENOSPC;
		}
		long moved = ctx->mmu->move_out(ctx, frame_addr(&ctx->pool, first),
						region_addr(v[done].r, v[done].idx),
						(size_t)got << PAGE_SHIFT);
		uint32_t nmoved = moved > 0 ? (uint32_t)(moved >> PAGE_SHIFT) : 0;
		for (uint32_t k = 0; k < nmoved; k++) {
			unsigned int i = done + k;
			out += evict_one(ctx, &v[i], first + k, written[i / 64] >> (i % 64) & 1,
					 released, nr_released);
		}
		/* Frames the move did not fill are still empty: just free them. */
		if (nmoved < got) {
			uint32_t unused[RECLAIM_BATCH];
			for (uint32_t k = nmoved; k < got; k++)
				unused[k - nmoved] = first + k;
			pool_free_frames(&ctx->pool, unused, got - nmoved);
		}
		done += nmoved;
		if (nmoved < got && done < n) {
			/* The page at v[done] could not be moved: the kernel has no
			 * page there (the program dropped it; its REMOVE event is on
			 * the way) or it is busy.  Leave it as it is, or, if it was
			 * only not exclusive, make it so and try once more. */
			struct victim *b = &v[done];
			pte_unlock(b->r, b->idx, b->pte);
			if (moved == -EBUSY && uffd_in_handler_thread()) {
				/* kswapd may write it (make_exclusive); a handler thread
				 * must not touch managed memory. */
				atomic_store(&b->r->group->cow_pending, true);
				wakeup_kswapd(ctx);
			} else if (moved == -EBUSY && !retried) {
				make_exclusive(b->r, b->idx);
				retried = true;
				if (pte_trylock(b->r, b->idx, &b->pte)) {
					if (pte_present(b->pte) && !pte_mlocked(b->pte))
						continue;
					pte_unlock(b->r, b->idx, b->pte);
				}
			}
			retried = false;
			count_event(ctx, b->r->group, move_fail, 1);
			done++;
		} else {
			retried = false;
		}
	}
	return (int)out;
}

/*
 * evict_victims - move the locked pages @v[0..n) out of the program into the
 * swap cache, one UFFDIO_MOVE per contiguous run; zero pages are dropped and
 * their frames freed (counted in *@freed_zero).  Return: pages that left the program.
 */
static unsigned int evict_victims(struct uswap_ctx *ctx, struct victim *v, unsigned int n,
				  unsigned int *freed_zero)
{
	uint32_t released[RECLAIM_BATCH];
	unsigned int nr_released = 0, out = 0;
	struct timespec ts;

	/* Not across a fork (fork.c).  A fork holds it for microseconds; should
	 * the forking thread itself need memory meanwhile, give up, not deadlock. */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 2;
	if (pthread_rwlock_timedrdlock(&ctx->evict_lock, &ts)) {
		for (unsigned int k = 0; k < n; k++)
			pte_unlock(v[k].r, v[k].idx, v[k].pte);
		*freed_zero = 0;
		return 0;
	}
	for (unsigned int i = 0; i < n;) {
		unsigned int run = 1;
		while (i + run < n && v[i + run].r == v[i].r && v[i + run].idx == v[i].idx + run)
			run++;
		int rc = evict_run(ctx, &v[i], run, released, &nr_released);
		if (rc < 0) {
			for (unsigned int k = i + run; k < n; k++)
				pte_unlock(v[k].r, v[k].idx, v[k].pte);
			break;
		}
		out += (unsigned int)rc;
		i += run;
	}
	pthread_rwlock_unlock(&ctx->evict_lock);
	if (nr_released) {
		/* all victims of one call belong to one group */
		pool_release_frames(ctx, released, nr_released);
		mem_cgroup_uncharge(v[0].r->group, nr_released);
	}
	*freed_zero = nr_released;
	return out;
}

/*
 * shrink_active - move up to @max resident pages of @g into the swap cache.
 * kernel: shrink_active_list (deactivation).
 * Return: pages that left the program.
 */
static unsigned int shrink_active(struct uswap_group *g, unsigned int max, enum reclaim_who who,
				  unsigned int *freed_zero)
{
	struct uswap_ctx *ctx = g->ctx;
	struct victim v[RECLAIM_BATCH];
	uint64_t scanned = 0;
	unsigned int n = isolate_resident(g, v, min_t(max, (unsigned int)RECLAIM_BATCH), &scanned);

	count_event_nr(ctx, g, who == RECLAIM_KSWAPD ? EV_pgscan_kswapd : EV_pgscan_direct, scanned);
	*freed_zero = 0;
	return n ? evict_victims(ctx, v, n, freed_zero) : 0;
}

/*
 * reclaim_range - move the resident pages of [first, first+nr) of @r into
 * the swap cache now, whatever their age (MADV_PAGEOUT).  Pinned pages and
 * pages another thread holds are left.  kernel: reclaim_pages.
 * Return: pages that left the program; *@freed_zero: zero pages among them.
 */
unsigned int reclaim_range(struct uswap_ctx *ctx, struct region *r, size_t first, size_t nr,
			   unsigned int *freed_zero)
{
	struct victim v[RECLAIM_BATCH];
	unsigned int out = 0;

	*freed_zero = 0;
	for (size_t i = first; i < first + nr && i < r->nr_pages;) {
		unsigned int n = 0, zero = 0;
		for (; i < first + nr && i < r->nr_pages && n < RECLAIM_BATCH; i++) {
			pte_t pte = pte_read(r, i), locked;
			if (!pte_present(pte) || pte_mlocked(pte) || !pte_trylock(r, i, &locked))
				continue;
			if (!pte_present(locked) || pte_mlocked(locked)) {
				pte_unlock(r, i, locked);
				continue;
			}
			v[n].r = r;
			v[n].idx = i;
			v[n].pte = locked & ~PTE_REFERENCED;
			n++;
		}
		if (n)
			out += evict_victims(ctx, v, n, &zero);
		*freed_zero += zero;
	}
	return out;
}

/*
 * shrink_inactive - write the oldest swap-cache frames of @g and free them.
 * kernel: shrink_inactive_list / shrink_folio_list / pageout.
 * Return: frames freed.
 */
struct wb_frame {
	uint32_t f;
	swp_entry_t e;
	swp_tb_t t;
	int rc;
};

/*
 * writeback_frames - write the isolated swap-cache frames @b[0..n) (slots
 * locked) that the device does not hold yet, one submission per device
 * (page_io.c batches), then free every frame written or clean.  A frame that
 * cannot be written goes back to the inactive list (*@stuck).
 * Return: frames freed.
 */
static unsigned int writeback_frames(struct uswap_group *g, struct wb_frame *b, unsigned int n,
				     bool *stuck)
{
	struct uswap_ctx *ctx = g->ctx;
	uint32_t released[RECLAIM_BATCH];
	unsigned int freed = 0;

	for (unsigned int i = 0; i < n; i++) {
		swp_entry_t e[RECLAIM_BATCH];
		const void *pages[RECLAIM_BATCH];
		unsigned int idx[RECLAIM_BATCH], k = 0;
		int rc[RECLAIM_BATCH];
		if ((b[i].t & SWP_TB_DATA) || b[i].rc)
			continue;
		for (unsigned int j = i; j < n; j++) {
			if ((b[j].t & SWP_TB_DATA) || b[j].rc || swp_type(b[j].e) != swp_type(b[i].e))
				continue;
			idx[k] = j;
			e[k] = b[j].e;
			pages[k] = frame_addr(&ctx->pool, b[j].f);
			k++;
		}
		struct swap_info *si = get_swap_device(ctx, b[i].e);
		/* An asynchronous device is written with the slots unlocked: a
		 * fault meanwhile maps the page from its frame without waiting
		 * (do_swap_page), and the frame and slot stay ours until the
		 * write completes (other lockers wait: swapfile.c). */
		bool async = si && !(si->ops->flags & BK_SYNCHRONOUS);
		if (async) {
			for (unsigned int m = 0; m < k; m++) {
				atomic_store(&ctx->pool.frames[b[idx[m]].f].wb, 1);
				swap_slot_unlock(ctx, e[m], b[idx[m]].t);
			}
		}
		if (si)
			swap_write_batch(ctx, si, k, e, pages, rc);
		if (async) {
			for (unsigned int m = 0; m < k; m++) {
				b[idx[m]].t = swap_slot_lock_flags(ctx, e[m], SLOT_LOCK_RAW);
				atomic_store(&ctx->pool.frames[b[idx[m]].f].wb, 0);
			}
		}
		if (si)
			put_swap_device(si);
		for (unsigned int m = 0; m < k; m++) {
			int r = si ? rc[m] : -EIO;
			b[idx[m]].rc = r ? r : 1; /* 1: written */
		}
	}
	for (unsigned int i = 0; i < n; i++) {
		swp_tb_t t = b[i].t;
		if (swp_tb_kind(t) == SLOT_MAPPED) {
			/* A fault took the page while it was being written: the
			 * program has it (charged, counted resident).  The slot
			 * keeps the copy if the write succeeded. */
			t = swp_tb_set(t, SLOT_MAPPED, 0);
			if (b[i].rc == 1) {
				t |= SWP_TB_DATA;
				count_event(ctx, g, pswpout, 1);
			} else {
				count_event(ctx, g, swpout_fail, 1);
			}
			swap_slot_unlock(ctx, b[i].e, t);
			pool_release_frames(ctx, &b[i].f, 1);
			continue;
		}
		if (t & SWP_TB_DATA) {
			count_event(ctx, g, swpout_clean, 1); /* clean: no write */
		} else if (b[i].rc == 1) {
			t |= SWP_TB_DATA;
			count_event(ctx, g, pswpout, 1);
		} else {
			/* Device full or failing: keep the page in memory. */
			swap_cache_add_locked(ctx, g, b[i].e, b[i].f, false, false);
			swap_slot_unlock(ctx, b[i].e, t);
			count_event(ctx, g, swpout_fail, 1);
			*stuck = true;
			continue;
		}
		t = swp_tb_set(t, SLOT_SHADOW, workingset_eviction(g));
		swap_slot_unlock(ctx, b[i].e, t);
		released[freed++] = b[i].f;
	}
	if (freed) {
		pool_release_frames(ctx, released, freed);
		atomic_fetch_sub(&g->nr_swapcache, freed);
		mem_cgroup_uncharge(g, freed);
	}
	return freed;
}

static unsigned int shrink_inactive(struct uswap_group *g, unsigned int max, bool *stuck)
{
	struct wb_frame b[RECLAIM_BATCH];
	unsigned int n = 0;

	unsigned int freed = 0;

	max = min_t(max, (unsigned int)RECLAIM_BATCH);
	/* Take the oldest frames, each with its slot locked.  A synchronous
	 * device (zram) is written page by page: a batch would only keep more
	 * slots locked, and faults on them waiting, for as long as it takes to
	 * compress them all.  An asynchronous one gets one submission. */
	for (unsigned int k = 0; k < max; k++) {
		if (!swap_cache_isolate_oldest(g->ctx, g, &b[n].f, &b[n].e, &b[n].t))
			break;
		b[n].rc = 0;
		/* The locked slot pins its device. */
		struct swap_info *si = atomic_load(&g->ctx->swap_info[swp_type(b[n].e)]);
		if (si && (si->ops->flags & BK_SYNCHRONOUS))
			freed += writeback_frames(g, &b[n], 1, stuck);
		else
			n++;
	}
	return freed + (n ? writeback_frames(g, b, n, stuck) : 0);
}

/*
 * pageout_range - write out the swap-cache pages of [first, first+nr) of @r
 * now and free their frames (MADV_PAGEOUT, after reclaim_range moved them
 * into the swap cache).  Return: frames freed.
 */
unsigned int pageout_range(struct uswap_ctx *ctx, struct region *r, size_t first, size_t nr)
{
	struct uswap_group *g = r->group;
	struct wb_frame b[RECLAIM_BATCH];
	unsigned int n = 0, freed = 0;
	bool stuck = false;

	for (size_t i = first; i < first + nr && i < r->nr_pages; i++) {
		pte_t pte = pte_read(r, i);
		if (!pte_is_swap(pte))
			continue;
		swp_entry_t e = pte_to_swp_entry(pte);
		if (!swap_cache_isolate_slot(ctx, g, e, &b[n].f, &b[n].t))
			continue;
		b[n].e = e;
		b[n].rc = 0;
		if (++n == RECLAIM_BATCH) {
			freed += writeback_frames(g, b, n, &stuck);
			n = 0;
		}
	}
	if (n)
		freed += writeback_frames(g, b, n, &stuck);
	count_event_nr(ctx, g, EV_pgsteal_direct, freed);
	return freed;
}

/* Size of the inactive list (swap cache) reclaim keeps for second chances. */
static uint64_t inactive_target(struct uswap_group *g, uint64_t nr_to_free)
{
	uint64_t l = atomic_load(&g->limit);
	uint64_t t = l ? l / 32 : nr_to_free;
	return max_t(t, (uint64_t)RECLAIM_BATCH * 2);
}

/*
 * try_to_free_pages - free @nr_to_free pages of @g's memory.
 * Context: may be called with one page lock held (direct reclaim from a
 * fault): everything here only try-locks pages.
 * Return: pages freed.
 */
/* Tell charges waiting in mem_cgroup_charge that memory came free. */
static void reclaim_progress(struct uswap_group *g)
{
	atomic_fetch_add(&g->reclaim_seq, 1);
	if (atomic_load(&g->reclaim_waiters))
		sys_futex_wake(&g->reclaim_seq, 0x7fffffff);
}

uint64_t try_to_free_pages(struct uswap_group *g, uint64_t nr_to_free, enum reclaim_who who)
{
	uint64_t freed = 0;
	unsigned int idle = 0;
	bool stuck = false;
	/* Write-protect eviction zaps pages and waits for a handler thread to
	 * read the REMOVE event: a fault-path reclaimer (possibly that handler
	 * thread) must leave ageing to kswapd and only write back. */
	bool may_age = g->ctx->use_move || who != RECLAIM_DIRECT;

	/* Ageing without a slot to give is wasted work (every page would be
	 * moved out and back); zero pages are rare enough to ignore here. */
	if (!swap_space_available(g->ctx))
		may_age = false;
	atomic_fetch_add(&g->nr_reclaimers, 1);

	while (freed < nr_to_free && idle < 3) {
		unsigned int zero = 0, moved = 0, wrote;
		/* The program may have moved to kswapd's CPU (the handler then
		 * follows it): leave, per batch, not at the next wake-up. */
		if (who == RECLAIM_KSWAPD)
			colocate_place_self(g->ctx, &g->ctx->colo.kswapd_placed);
		if (atomic_load(&g->nr_swapcache) < inactive_target(g, nr_to_free) && !stuck && may_age)
			moved = shrink_active(g, RECLAIM_BATCH, who, &zero);
		wrote = shrink_inactive(g, (unsigned int)min_t(nr_to_free - freed, (uint64_t)RECLAIM_BATCH),
					&stuck);
		/* Nothing to write here (other reclaimers hold the inactive list):
		 * age more pages rather than give up. */
		if (!wrote && !moved && !stuck && may_age)
			moved = shrink_active(g, RECLAIM_BATCH, who, &zero);
		freed += zero + wrote;
		if (zero + wrote)
			reclaim_progress(g); /* a waiting charge can go now, not at our end */
		idle = (zero + wrote + moved) ? 0 : idle + 1;
		if (stuck && !wrote && !zero)
			break;
	}
	count_event_nr(g->ctx, g, who == RECLAIM_KSWAPD ? EV_pgsteal_kswapd : EV_pgsteal_direct, freed);
	atomic_fetch_sub(&g->nr_reclaimers, 1);
	return freed;
}

void wakeup_kswapd(struct uswap_ctx *ctx)
{
	if (!ctx->kswapd_running)
		return;
	pthread_mutex_lock(&ctx->kswapd_lock);
	if (!ctx->kswapd_wake) {
		ctx->kswapd_wake = true;
		pthread_cond_signal(&ctx->kswapd_wait);
	}
	pthread_mutex_unlock(&ctx->kswapd_lock);
}

/* Return: true if some group is below its low watermark (more work to do). */
static bool kswapd_balance(struct uswap_ctx *ctx)
{
	bool more = false;

	for (unsigned int id = 0; id <= MAX_GROUPS; id++)
		if (ctx->groups[id])
			atomic_store(&ctx->groups[id]->cow_pending, false);

	for (unsigned int id = 0; id <= MAX_GROUPS; id++) {
		struct uswap_group *g = ctx->groups[id];
		uint64_t l, u;
		if (!g || !(l = atomic_load(&g->limit)))
			continue;
		u = atomic_load(&g->usage);
		if (u + g->wmark_low > l) {
			uint64_t want = u + g->wmark_high - l;
			if (try_to_free_pages(g, want, RECLAIM_KSWAPD) >= want)
				more |= atomic_load(&g->usage) + g->wmark_low > l;
		}
	}
	return more;
}

/*
 * compact_devices - defragment stores whose allocator holds more than 1/8
 * over their compressed payload (frees that left holes).
 * kernel: zram's compact attribute, run here by kswapd.
 */
static void compact_devices(struct uswap_ctx *ctx)
{
	static __thread uint64_t last_ns;
	uint64_t now = now_ns();

	/* At most once a second: compaction walks every size class. */
	if (now - last_ns < 1000000000ULL)
		return;
	last_ns = now;
	pthread_mutex_lock(&ctx->swap_lock);
	for (unsigned int t = 0; t < MAX_SWAPFILES; t++) {
		struct swap_info *si = atomic_load(&ctx->swap_info[t]);
		struct backend_stat st = { 0 };
		if (!si || !si->ops->compact || !si->ops->stat || si->ops->stat(si->priv, &st))
			continue;
		uint64_t payload = st.compr_data_size + st.meta_bytes;
		if (st.mem_used_total > payload + payload / 8 + (1u << 20))
			si->ops->compact(si->priv);
	}
	pthread_mutex_unlock(&ctx->swap_lock);
}

static void *kswapd_main(void *arg)
{
	struct uswap_ctx *ctx = arg;

	prctl(PR_SET_NAME, "uswap-kswapd");
	pthread_mutex_lock(&ctx->kswapd_lock);
	while (!atomic_load(&ctx->kswapd_exit)) {
		if (!ctx->kswapd_wake) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 100 * 1000000L; /* also look every 100 ms */
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&ctx->kswapd_wait, &ctx->kswapd_lock, &ts);
		}
		ctx->kswapd_wake = false;
		pthread_mutex_unlock(&ctx->kswapd_lock);
		colocate_place_self(ctx, &ctx->colo.kswapd_placed);
		pthread_mutex_lock(&ctx->kswapd_run_lock);
		while (kswapd_balance(ctx) && !atomic_load(&ctx->kswapd_exit))
			;
		pthread_mutex_unlock(&ctx->kswapd_run_lock);
		compact_devices(ctx);
		pthread_mutex_lock(&ctx->kswapd_lock);
	}
	pthread_mutex_unlock(&ctx->kswapd_lock);
	return NULL;
}

int kswapd_start(struct uswap_ctx *ctx)
{
	int rc = pthread_create(&ctx->kswapd, NULL, kswapd_main, ctx);
	if (rc)
		return -rc;
	ctx->kswapd_running = true;
	return 0;
}

void kswapd_stop(struct uswap_ctx *ctx)
{
	if (!ctx->kswapd_running)
		return;
	pthread_mutex_lock(&ctx->kswapd_lock);
	atomic_store(&ctx->kswapd_exit, true);
	ctx->kswapd_wake = true;
	pthread_cond_signal(&ctx->kswapd_wait);
	pthread_mutex_unlock(&ctx->kswapd_lock);
	pthread_join(ctx->kswapd, NULL);
	ctx->kswapd_running = false;
}
