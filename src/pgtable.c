/* SPDX-License-Identifier: MIT */
/*
 * pgtable.c - regions and their software page tables.
 *
 * kernel: the VMA tree (mm/mmap.c) and the PTE level of the page tables,
 * plus the folio lock (mm/filemap.c folio_lock) which uswap folds into the
 * PTE itself.
 *
 * Each region has one 64-bit software PTE per page (swap_entry.h).  The page
 * lock is the PTE_LOCKED bit; waiters sleep on a futex on the low 32 bits of
 * the PTE, so the lock costs no memory and there is no hashed wait table.
 *
 * The region table is an immutable sorted array replaced on every insert or
 * remove (copy-on-write); the fault path, which may run in a signal handler,
 * looks regions up without any lock.  Retired tables are freed when the
 * context is destroyed: regions are created rarely, so this costs little.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct region *region_alloc(uintptr_t start, size_t nr_pages, struct uswap_group *g)
{
	struct region *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	/* MAP_NORESERVE + zero-fill: untouched parts of huge regions cost nothing. */
	r->ptes = sys_mmap_anon(nr_pages * sizeof(pte_t));
	if (!r->ptes) {
		free(r);
		return NULL;
	}
	r->start = start;
	r->nr_pages = nr_pages;
	r->group = g;
	for (int i = 0; i < RA_STREAMS; i++)
	{
		atomic_store(&r->ra[i].next, SIZE_MAX); /* no stream yet */
		atomic_store(&r->ra[i].stride, 1);
	}
	return r;
}

void region_free(struct region *r)
{
	if (!r)
		return;
	sys_munmap((void *)r->ptes, r->nr_pages * sizeof(pte_t));
	free(r);
}

/* Context: lock-free; safe in a signal handler. */
/*
 * Regions may overlap: the addresses of a region's fully unmapped parts
 * (MARKER_GONE, src/mremap.c) are the kernel's again, and a new region can
 * be placed there while the old one still spans them.  The region for @addr
 * is then the one whose page there is not gone; a lookup that stopped at
 * the old one would send every fault there to EFAULT, for ever.
 */
struct region *region_lookup(struct uswap_ctx *ctx, uintptr_t addr)
{
	struct region_table *t = atomic_load_explicit(&ctx->regions, memory_order_acquire);
	struct region *gone = NULL;
	size_t lo = 0, hi;

	if (!t)
		return NULL;
	hi = t->nr;
	while (lo < hi) { /* lo: the first region starting above addr */
		size_t mid = (lo + hi) / 2;
		if (t->r[mid]->start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i-- > 0 && t->max_end[i] > addr;) {
		struct region *r = t->r[i];
		if (addr >= r->start + (r->nr_pages << PAGE_SHIFT) || atomic_load(&r->dead))
			continue;
		if (pte_read(r, (addr - r->start) >> PAGE_SHIFT) != make_marker_pte(MARKER_GONE))
			return r;
		if (!gone)
			gone = r;
	}
	return gone;
}

static int region_table_replace(struct uswap_ctx *ctx, struct region *add, struct region *del)
{
	struct region_table *old = atomic_load(&ctx->regions), *t;
	size_t nr = old ? old->nr : 0, n = 0;
	struct region_table **retired;

	t = malloc(sizeof(*t) + (nr + 1) * (sizeof(t->r[0]) + sizeof(t->max_end[0])));
	retired = realloc(ctx->old_tables, (ctx->nr_old_tables + 1) * sizeof(*retired));
	if (!t || !retired) {
		free(t);
		if (retired)
			ctx->old_tables = retired;
		return -ENOMEM;
	}
	ctx->old_tables = retired;
	for (size_t i = 0; i < nr; i++) {
		struct region *r = old->r[i];
		if (add && add->start < r->start) {
			t->r[n++] = add;
			add = NULL;
		}
		if (r != del)
			t->r[n++] = r;
	}
	if (add)
		t->r[n++] = add;
	t->nr = n;
	t->max_end = (uintptr_t *)&t->r[nr + 1];
	for (size_t i = 0; i < n; i++) {
		uintptr_t end = t->r[i]->start + (t->r[i]->nr_pages << PAGE_SHIFT);
		t->max_end[i] = i && t->max_end[i - 1] > end ? t->max_end[i - 1] : end;
	}
	atomic_store_explicit(&ctx->regions, t, memory_order_release);
	if (old)
		ctx->old_tables[ctx->nr_old_tables++] = old;
	return 0;
}

/* Context: takes ctx->regions_lock. */
int region_insert(struct uswap_ctx *ctx, struct region *r)
{
	pthread_mutex_lock(&ctx->regions_lock);
	int rc = region_table_replace(ctx, r, NULL);
	pthread_mutex_unlock(&ctx->regions_lock);
	return rc;
}

int region_remove(struct uswap_ctx *ctx, struct region *r)
{
	pthread_mutex_lock(&ctx->regions_lock);
	int rc = region_table_replace(ctx, NULL, r);
	pthread_mutex_unlock(&ctx->regions_lock);
	return rc;
}

/*
 * pte_lock - take the page lock of page @idx and return its PTE (without the
 * lock and waiter bits).
 * Context: may sleep on the PTE futex.  Never held across a wait for another
 * page lock, except by reclaim, which only try-locks.
 */
pte_t pte_lock(struct region *r, size_t idx)
{
	_Atomic pte_t *p = &r->ptes[idx];
	pte_t v = atomic_load_explicit(p, memory_order_relaxed);

	for (;;) {
		if (!(v & PTE_LOCKED)) {
			if (atomic_compare_exchange_weak_explicit(p, &v, v | PTE_LOCKED,
								  memory_order_acquire,
								  memory_order_relaxed))
				return v & ~(PTE_LOCKED | PTE_WAITERS);
			continue;
		}
		if (!(v & PTE_WAITERS)) {
			if (!atomic_compare_exchange_weak_explicit(p, &v, v | PTE_WAITERS,
								   memory_order_relaxed,
								   memory_order_relaxed))
				continue;
			v |= PTE_WAITERS;
		}
		sys_futex_wait(futex_word((void *)p), (uint32_t)v);
		v = atomic_load_explicit(p, memory_order_relaxed);
	}
}

bool pte_trylock(struct region *r, size_t idx, pte_t *ptep)
{
	_Atomic pte_t *p = &r->ptes[idx];
	pte_t v = atomic_load_explicit(p, memory_order_relaxed);

	while (!(v & PTE_LOCKED)) {
		if (atomic_compare_exchange_weak_explicit(p, &v, v | PTE_LOCKED, memory_order_acquire,
							  memory_order_relaxed)) {
			*ptep = v & ~(PTE_LOCKED | PTE_WAITERS);
			return true;
		}
	}
	return false;
}

/* pte_unlock - publish @newval (which must not carry lock bits) and wake waiters. */
void pte_unlock(struct region *r, size_t idx, pte_t newval)
{
	_Atomic pte_t *p = &r->ptes[idx];
	pte_t old = atomic_exchange_explicit(p, newval & ~(PTE_LOCKED | PTE_WAITERS),
					     memory_order_release);
	if (old & PTE_WAITERS)
		sys_futex_wake(futex_word((void *)p), 0x7fffffff);
}

/* Drop the swap side of a PTE: the slot reference and a swap-cache frame. */
static void zap_swap_entry(struct uswap_ctx *ctx, struct region *r, swp_entry_t e)
{
	struct uswap_group *g = r->group;
	swp_tb_t t = swap_slot_lock(ctx, e);

	if (swp_tb_kind(t) == SLOT_CACHE && swp_tb_count(t) == 1) {
		uint32_t f = (uint32_t)swp_tb_payload(t);
		swap_cache_del_locked(ctx, g, f);
		t = swp_tb_set(t, SLOT_EMPTY, 0);
		pool_release_frames(ctx, &f, 1);
		mem_cgroup_uncharge(g, 1);
		atomic_fetch_sub(&g->nr_swapcache, 1);
	}
	t = swap_free_locked(ctx, e, t);
	swap_slot_unlock(ctx, e, t);
}

/*
 * region_zap_range - forget pages [first, first+nr) of @r: the program
 * dropped them (MADV_DONTNEED / REMOVE / munmap).  Their next access reads
 * zeroes, as for the kernel.
 * @from_event: called for a REMOVE event; pages marked PTE_SELFRM were
 * dropped by uswap's own write-protect eviction and are kept.
 * Context: takes each page lock in turn.
 */
void region_zap_range(struct uswap_ctx *ctx, struct region *r, size_t first, size_t nr,
		      bool from_event)
{
	struct uswap_group *g = r->group;
	uint64_t dropped = 0;

	if (from_event)
		atomic_fetch_add(&r->nr_zap_events, 1);
	for (size_t i = first; i < first + nr && i < r->nr_pages; i++) {
		pte_t pte = pte_read(r, i);
		if (pte == PTE_NONE || pte == make_marker_pte(MARKER_HOLE) ||
		    pte == make_marker_pte(MARKER_GONE))
			continue; /* racy peek: a none PTE only changes on a fault, which
				   * the kernel has not delivered for a dropped page; holes
				   * only change by munmap */
		pte = pte_lock(r, i);
		if (from_event && (pte & PTE_SELFRM)) {
			pte_unlock(r, i, pte & ~PTE_SELFRM);
			continue;
		}
		switch (pte_type(pte)) {
		case PTE_PRESENT:
			if (pte & PTE_SLOT)
				zap_swap_entry(ctx, r, pte_to_swp_entry(pte));
			if (pte_mlocked(pte))
				atomic_fetch_sub(&g->nr_mlocked, 1);
			atomic_fetch_sub(&r->nr_present, 1);
			atomic_fetch_sub(&g->nr_resident, 1);
			mem_cgroup_uncharge(g, 1);
			dropped++;
			break;
		case PTE_SWAP:
			zap_swap_entry(ctx, r, pte_to_swp_entry(pte));
			atomic_fetch_sub(&r->nr_swapped, 1);
			dropped++;
			break;
		default:
			break;
		}
		pte_unlock(r, i, PTE_NONE);
	}
	count_event(ctx, g, remove_pages, dropped);
}

/* Return: 0 if every PTE of @r is consistent with the region's counters; -EUCLEAN otherwise. */
int region_check_invariants(struct region *r)
{
	uint64_t present = 0, swapped = 0;

	for (size_t i = 0; i < r->nr_pages; i++) {
		pte_t pte = pte_read(r, i);
		if (pte & PTE_LOCKED)
			return INVARIANT_FAIL(); /* checkers run when the context is idle */
		if (pte_present(pte))
			present++;
		else if (pte_is_swap(pte))
			swapped++;
		if (pte_is_marker(pte) && (pte_marker_kind(pte) < MARKER_ZERO ||
					   pte_marker_kind(pte) > MARKER_GONE))
			return INVARIANT_FAIL();
		if (pte_present(pte) && !(pte & PTE_SLOT) && (pte & ~(PTE_TYPE_MASK | PTE_FLAGS_MASK)) &&
		    (pte & ~(PTE_TYPE_MASK | PTE_FLAGS_MASK)) != PTE_MLOCKED)
			return INVARIANT_FAIL();
	}
	if (present != atomic_load(&r->nr_present) || swapped != atomic_load(&r->nr_swapped))
		return INVARIANT_FAIL();
	return 0;
}
