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

/* Return: the shadow age for a page leaving memory now. */
uint64_t workingset_eviction(struct uswap_group *g)
{
	return atomic_fetch_add_explicit(&g->nonresident_age, 1, memory_order_relaxed) + 1;
}

/*
 * workingset_refault - a page whose slot held @shadow is coming back into @g.
 * Return: true if it should be activated.
 */
bool workingset_refault(struct uswap_ctx *ctx, struct uswap_group *g, uint64_t shadow)
{
	unsigned int gid;
	uint64_t age, now, distance;

	unpack_shadow(shadow, &gid, &age);
	count_event(ctx, g, workingset_refault, 1);
	if (gid != g->id)
		return false; /* evicted from another group: no common clock */
	now = atomic_load_explicit(&g->nonresident_age, memory_order_relaxed) & SHADOW_AGE_MASK;
	distance = (now - age) & SHADOW_AGE_MASK;
	if (distance > atomic_load(&g->nr_resident))
		return false;
	count_event(ctx, g, workingset_activate, 1);
	return true;
}
