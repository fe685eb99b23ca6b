/* SPDX-License-Identifier: MIT */
/*
 * vmstat.c - counters.  kernel: mm/vmstat.c.  The list is vmstat_items.h.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

static const char *const stat_names[] = {
#define EVENT(n) #n,
#define GAUGE(n)
#include "vmstat_items.h"
#undef EVENT
#undef GAUGE
#define EVENT(n)
#define GAUGE(n) #n,
#include "vmstat_items.h"
#undef EVENT
#undef GAUGE
};
#define NR_STATS (sizeof(stat_names) / sizeof(stat_names[0]))

const char *uswap_stat_name(unsigned int i)
{
	return i < NR_STATS ? stat_names[i] : NULL;
}

int uswap_stat_index(const char *name)
{
	if (!name)
		return -EINVAL;
	for (unsigned int i = 0; i < NR_STATS; i++)
		if (!strcmp(stat_names[i], name))
			return (int)i;
	return -ENOENT;
}

static void group_gauges(struct uswap_group *g, uint64_t *v)
{
	uint64_t swapped = 0;

	pthread_mutex_lock(&g->regions_lock);
	for (struct region *r = g->regions; r; r = r->group_next)
		swapped += atomic_load(&r->nr_swapped);
	pthread_mutex_unlock(&g->regions_lock);
	v[GAUGE_nr_resident] += atomic_load(&g->nr_resident);
	v[GAUGE_nr_swapcache] += atomic_load(&g->nr_swapcache);
	v[GAUGE_nr_swapped] += swapped;
	v[GAUGE_nr_usage] += atomic_load(&g->usage);
	v[GAUGE_nr_limit] += atomic_load(&g->limit);
	v[GAUGE_nr_usage_max] += atomic_load(&g->usage_max);
}

/* Fill @st with the counters of @g (NULL: the whole context). */
void vmstat_fill(struct uswap_ctx *ctx, struct uswap_group *g, struct uswap_stats *st)
{
	uint64_t gauge[NR_VM_GAUGES] = { 0 };
	struct vm_events *ev = g ? &g->events : &ctx->events;
	uint64_t meta = 0;

	memset(st, 0, sizeof(*st));
	st->nr = NR_STATS;
	for (unsigned int i = 0; i < NR_VM_EVENTS; i++)
		st->value[i] = atomic_load_explicit(&ev->ev[i], memory_order_relaxed);

	pthread_mutex_lock(&ctx->groups_lock);
	if (g) {
		group_gauges(g, gauge);
	} else {
		for (unsigned int id = 0; id <= MAX_GROUPS; id++)
			if (ctx->groups[id])
				group_gauges(ctx->groups[id], gauge);
	}
	pthread_mutex_unlock(&ctx->groups_lock);

	/* Device-wide figures (zram mm_stat) and metadata are per context. */
	pthread_mutex_lock(&ctx->swap_lock);
	for (unsigned int t = 0; t < MAX_SWAPFILES; t++) {
		struct swap_info *si = atomic_load(&ctx->swap_info[t]);
		struct backend_stat bs;
		if (!si)
			continue;
		gauge[GAUGE_swap_total] += si->nr_slots;
		memset(&bs, 0, sizeof(bs));
		if (si->ops->stat && si->ops->stat(si->priv, &bs) == 0) {
			gauge[GAUGE_orig_data_size] += bs.orig_data_size;
			gauge[GAUGE_compr_data_size] += bs.compr_data_size;
			gauge[GAUGE_mem_used_total] += bs.mem_used_total;
			gauge[GAUGE_mem_limit] += bs.mem_limit;
			gauge[GAUGE_mem_used_max] += bs.mem_used_max;
			gauge[GAUGE_same_pages] += bs.same_pages;
			gauge[GAUGE_pages_compacted] += bs.pages_compacted;
			gauge[GAUGE_huge_pages] += bs.huge_pages;
			gauge[GAUGE_huge_pages_since] += bs.huge_pages_since;
			gauge[GAUGE_dev_bytes_written] += bs.bytes_written;
			gauge[GAUGE_dev_bytes_read] += bs.bytes_read;
			meta += bs.meta_bytes;
		}
	}
	meta += swap_meta_bytes(ctx);
	pthread_mutex_unlock(&ctx->swap_lock);

	struct region_table *rt = atomic_load(&ctx->regions);
	for (size_t i = 0; rt && i < rt->nr; i++)
		if (!atomic_load(&rt->r[i]->dead))
			meta += rt->r[i]->nr_pages * sizeof(pte_t) + sizeof(struct region);
	meta += pool_meta_bytes(&ctx->pool);
	gauge[GAUGE_meta_bytes] = meta;
	pthread_mutex_lock(&ctx->pool.lock);
	gauge[GAUGE_pool_warm] = ctx->pool.nr_warm;
	gauge[GAUGE_pool_warm_max] = ctx->pool.warm_peak;
	pthread_mutex_unlock(&ctx->pool.lock);

	for (unsigned int i = 0; i < NR_VM_GAUGES; i++)
		st->value[NR_VM_EVENTS + i] = gauge[i];
}
