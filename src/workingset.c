/* SPDX-License-Identifier: MIT */
/*
 * workingset.c - shadow entries and refault distance.
 *
 * kernel: mm/workingset.c.
 *
 * Each group keeps an eviction clock, nonresident_age, advanced by one for
 * every page that leaves memory (written back from the swap cache and
 * freed).  The slot of an evicted page keeps a shadow: the clock value at
 * its eviction.  When the page faults back, the refault distance
 *
 *	distance = nonresident_age(now) - nonresident_age(eviction)
 *
 * is the number of pages evicted after it: the amount of extra memory that
 * would have kept it resident.  If that is no more than the group's resident
 * set, the page belongs to the working set and is activated: it comes back
 * with the referenced bit, so the clock gives it a second pass before it can
 * be evicted again.  Otherwise it is treated as a new page.
 */
#include "internal.h"

/*
 * Shadow resolution: 2^shift evictions per unit, so that the 19-bit shadow
 * covers at least 4 x the group's limit (refault distances beyond the
 * resident set are all "too far" anyway).  Unlimited groups use 2^4.
 */
static unsigned int shadow_shift(struct uswap_group *g)
{
	uint64_t span = atomic_load(&g->limit) * 4;
	unsigned int shift = 0;

	if (!span)
		return 4;
	while ((span >> shift) > SHADOW_MASK)
		shift++;
	return shift;
}

/* Return: the shadow for a page of @g leaving memory now. */
uint32_t workingset_eviction(struct uswap_group *g)
{
	uint64_t age = atomic_fetch_add_explicit(&g->nonresident_age, 1, memory_order_relaxed) + 1;
	return (uint32_t)(age >> shadow_shift(g)) & SHADOW_MASK;
}

/*
 * workingset_refault - a page whose slot held @shadow is coming back into @g.
 * Return: true if it should be activated.
 */
bool workingset_refault(struct uswap_ctx *ctx, struct uswap_group *g, uint32_t shadow)
{
	unsigned int shift = shadow_shift(g);
	uint64_t now, distance;

	count_event(ctx, g, workingset_refault, 1);
	now = (atomic_load_explicit(&g->nonresident_age, memory_order_relaxed) >> shift) & SHADOW_MASK;
	distance = (uint64_t)((now - shadow) & SHADOW_MASK) << shift;
	if (distance > atomic_load(&g->nr_resident))
		return false;
	count_event(ctx, g, workingset_activate, 1);
	return true;
}
