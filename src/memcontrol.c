/* SPDX-License-Identifier: MIT */
/*
 * memcontrol.c - memory groups: limits, charge and uncharge, OOM policy.
 *
 * kernel: mm/memcontrol.c (try_charge, mem_cgroup_swapin_charge_folio) and
 * the zone watermarks of mm/page_alloc.c.
 *
 * A group charges every page it holds in memory: pages resident in the
 * program and pages in the swap cache (as the kernel charges swap-cache
 * folios).  Under the limit sit three free-page watermarks, as for a zone:
 * below "low" the background reclaim thread is woken and reclaims until
 * "high"; only below "min" does a faulting thread reclaim for itself (direct
 * reclaim, which is also the throttle of SPEC row 19).  The kernel's memory
 * cgroups have no such background reclaim: every charge over the limit
 * reclaims directly, which is where its tail latency comes from.
 */
#include <errno.h>
#include <string.h>
#include <sched.h>
#include <unistd.h>

/* Passes without progress before a charge fails (kernel: MAX_RECLAIM_RETRIES). */
#define MAX_RECLAIM_RETRIES 16

#include "internal.h"

void group_set_watermarks(struct uswap_group *g)
{
	uint64_t l = atomic_load(&g->limit), min = 0, low = 0, high = 0;

	if (l) {
		/* 1/256 of the limit (0.4%) between marks, 8 to 1024 pages; kswapd
		 * then works in batches of 32 pages. */
		min = min_t(max_t(l / 256, (uint64_t)8), (uint64_t)1024);
		low = min * 2;
		high = min * 3;
		if (high > l / 2) {
			min = l / 8;
			low = l / 6;
			high = l / 4;
		}
	}
	atomic_store(&g->wmark_min, min);
	atomic_store(&g->wmark_low, low);
	atomic_store(&g->wmark_high, high);
}

void group_init(struct uswap_ctx *ctx, struct uswap_group *g, unsigned int id, const char *name,
		uint64_t limit_pages)
{
	memset(g, 0, sizeof(*g));
	g->ctx = ctx;
	g->id = id;
	snprintf(g->name, sizeof(g->name), "%s", name ? name : "");
	atomic_store(&g->limit, limit_pages);
	group_set_watermarks(g);
	g->oom = USWAP_OOM_ERROR;
	g->inactive_head = g->inactive_tail = FRAME_NIL;
	pthread_mutex_init(&g->lru_lock, NULL);
	pthread_mutex_init(&g->regions_lock, NULL);
}

struct uswap_group *group_by_id(struct uswap_ctx *ctx, unsigned int id)
{
	return id <= MAX_GROUPS ? ctx->groups[id] : NULL;
}

/*
 * Could memory still come free without us?  Another thread reclaiming, the
 * swap cache holding frames it may write out, or (write-protect eviction)
 * kswapd able to age pages onto a device with room.
 */
static bool reclaim_in_progress(struct uswap_group *g)
{
	struct uswap_ctx *ctx = g->ctx;

	if (atomic_load(&g->nr_reclaimers) > 0 || atomic_load(&g->nr_swapcache) > 0)
		return true;
	/* A handler thread skipped pages only kswapd can make movable (vmscan.c). */
	if (atomic_load(&g->cow_pending) && ctx->kswapd_running)
		return true;
	return !ctx->use_move && ctx->kswapd_running && swap_space_available(ctx);
}

static void update_max(struct uswap_group *g, uint64_t u)
{
	uint64_t m = atomic_load_explicit(&g->usage_max, memory_order_relaxed);
	while (u > m && !atomic_compare_exchange_weak(&g->usage_max, &m, u))
		;
}

/*
 * mem_cgroup_charge - charge @nr pages to @g.
 * kernel: try_charge_memcg.
 * Context: may reclaim (only try-locks pages and slots), may sleep briefly
 * for the OOM_WAIT policy.  Never unbounded.
 * Return: 0; -ENOMEM over the limit and nothing could be reclaimed; -EBUSY
 * (CHARGE_NOWAIT) memory may come free but only by waiting: retry later.
 */
int mem_cgroup_charge(struct uswap_group *g, uint64_t nr, unsigned int flags)
{
	struct uswap_ctx *ctx = g->ctx;
	uint64_t limit = atomic_load(&g->limit);
	uint64_t u = atomic_fetch_add(&g->usage, nr) + nr;
	uint64_t waited_ms = 0;

	if (!limit) {
		update_max(g, u);
		return 0;
	}
	if (u + g->wmark_low > limit)
		wakeup_kswapd(ctx);
	if (u + g->wmark_min <= limit) {
		update_max(g, u);
		return 0;
	}
	/*
	 * Below the min watermark: this thread reclaims for itself (row 19).
	 * Our charge is already in usage, so the charge holds as soon as usage
	 * is within the limit; other threads charging at the same time may eat
	 * what we free, so only give up when reclaim itself makes no progress.
	 */
	if (flags & CHARGE_RECLAIM) {
		unsigned int no_progress = 0;
		count_event(ctx, g, allocstall, 1);
		while (no_progress < MAX_RECLAIM_RETRIES) {
			uint64_t cur = atomic_load(&g->usage);
			if (cur + g->wmark_min <= limit)
				break;
			uint64_t want = max_t(cur + g->wmark_min - limit, (uint64_t)RECLAIM_BATCH);
			uint32_t seq = atomic_load(&g->reclaim_seq);
			if (try_to_free_pages(g, want, RECLAIM_DIRECT) || atomic_load(&g->usage) < cur) {
				no_progress = 0; /* we, or another reclaimer, freed memory */
			} else if (!reclaim_in_progress(g)) {
				break; /* nobody can free anything: fail now, not after a wait */
			} else if (atomic_load(&g->usage) > limit) {
				/*
				 * Other reclaimers may hold every candidate right now, or
				 * (write-protect eviction) only kswapd may age pages: wait
				 * for the next reclaim progress, bounded, before concluding
				 * that nothing can go.
				 */
				wakeup_kswapd(ctx);
				if (flags & CHARGE_NOWAIT) {
					atomic_fetch_sub(&g->usage, nr);
					return -EBUSY;
				}
				no_progress++;
				atomic_fetch_add(&g->reclaim_waiters, 1);
				sys_futex_wait_timeout(&g->reclaim_seq, seq, 10 * 1000000ULL);
				atomic_fetch_sub(&g->reclaim_waiters, 1);
			} else {
				break;
			}
		}
		while (atomic_load(&g->usage) > limit && g->oom == USWAP_OOM_WAIT &&
		       waited_ms < 10000) {
			wakeup_kswapd(ctx);
			usleep(1000);
			waited_ms++;
		}
	}
	u = atomic_load(&g->usage);
	if (u <= limit) {
		update_max(g, u);
		return 0;
	}
	atomic_fetch_sub(&g->usage, nr);
	return -ENOMEM;
}

void mem_cgroup_uncharge(struct uswap_group *g, uint64_t nr)
{
	atomic_fetch_sub(&g->usage, nr);
}
