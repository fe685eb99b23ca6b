/* SPDX-License-Identifier: MIT */
/*
 * test_workingset - shadow entries and the refault distance (workingset.c),
 * table-driven: a page refaulting after no more evictions than the group's
 * resident set is activated, one refaulting later is not; shadows are
 * quantised (2^shift evictions per unit) and wrap across the 19-bit mask;
 * limited and unlimited groups; the workingset_refault / workingset_activate
 * counters of the group and of the context.
 */
#include <pthread.h>
#include <string.h>

#include "check.h"
#include "helper_fake.h"

#define MASK ((uint64_t)SHADOW_MASK)

struct row {
	uint64_t limit;	    /* pages; 0 = unlimited */
	unsigned int shift; /* quantisation: 2^shift evictions per shadow unit */
	uint64_t resident;  /* nr_resident at refault */
	uint64_t start_age; /* nonresident_age before the eviction */
	uint64_t after;	    /* evictions between eviction and refault */
	bool activate;
};

static const struct row rows[] = {
	/* limit 1000: span 4000 fits 19 bits, exact distances */
	{ 1000, 0, 500, 0, 0, true },
	{ 1000, 0, 500, 0, 100, true },
	{ 1000, 0, 500, 0, 499, true },
	{ 1000, 0, 500, 0, 500, true }, /* distance == resident set: still activated */
	{ 1000, 0, 500, 0, 501, false },
	{ 1000, 0, 500, 0, 3000, false },
	{ 1000, 0, 0, 0, 0, true },
	{ 1000, 0, 0, 0, 1, false },
	{ 1000, 0, 1000, 12345, 999, true },
	/* across the 19-bit wrap of the shadow */
	{ 1000, 0, 500, MASK - 10, 100, true },
	{ 1000, 0, 500, MASK - 10, 600, false },
	{ 1000, 0, 500, MASK, 500, true }, /* the eviction itself lands on 2^19: shadow 0 */
	{ 1000, 0, 500, MASK - 1, 500, true }, /* shadow == MASK, refault after the wrap */
	{ 1000, 0, 500, 3 * (MASK + 1) - 5, 200, true },
	{ 1000, 0, 500, (1ULL << 40) - 3, 100, true },
	{ 1000, 0, 500, (1ULL << 40) - 3, 1000, false },
	/* limit 2^20: span 2^22 needs shift 4 */
	{ 1ULL << 20, 4, 1ULL << 19, 0, 1000, true },
	{ 1ULL << 20, 4, 1000, 0, 5000, false },
	{ 1ULL << 20, 4, 1ULL << 19, MASK << 4, 2000, true },
	{ 1ULL << 20, 4, 1ULL << 19, (MASK << 4) + 3, (1ULL << 19) - 64, true },
	{ 1ULL << 20, 4, 1ULL << 19, (MASK << 4) + 3, (1ULL << 19) + 64, false },
	/* limit 2^24: shift 8 */
	{ 1ULL << 24, 8, 1ULL << 23, 0, 1ULL << 22, true },
	{ 1ULL << 24, 8, 1ULL << 20, 0, (1ULL << 20) + 1024, false },
	{ 1ULL << 24, 8, 1ULL << 20, (MASK << 8) + 100, (1ULL << 20) - 1024, true },
	{ 1ULL << 24, 8, 1ULL << 20, (MASK << 8) + 100, (1ULL << 20) + 1024, false },
	/* unlimited: shift 4 */
	{ 0, 4, 1000, 0, 0, true },
	{ 0, 4, 1000, 0, 100, true },
	{ 0, 4, 1000, 0, 2000, false },
	{ 0, 4, 1000, (MASK << 4) - 7, 500, true },
	{ 0, 4, 1000, (MASK << 4) + 15, 900, true },
	{ 0, 4, 100, (1ULL << 23) - 30, 300, false },
	{ 0, 4, 1ULL << 18, (5ULL << 23) + 1, 1ULL << 17, true },
};

static uint64_t gev(struct uswap_group *g, enum vm_event_item i)
{
	return atomic_load(&g->events.ev[i]);
}
static uint64_t cev(struct uswap_ctx *ctx, enum vm_event_item i)
{
	return atomic_load(&ctx->events.ev[i]);
}

/* Evict one page at start_age, evict @after more, refault it; check result and counters. */
static void run_row(struct uswap_ctx *ctx, struct uswap_group *g, const struct row *r, size_t n)
{
	uint64_t g_ref = gev(g, EV_workingset_refault), g_act = gev(g, EV_workingset_activate);
	uint64_t c_ref = cev(ctx, EV_workingset_refault), c_act = cev(ctx, EV_workingset_activate);
	uint32_t shadow, prev;

	atomic_store(&g->limit, r->limit);
	atomic_store(&g->nr_resident, r->resident);
	atomic_store(&g->nonresident_age, r->start_age);

	shadow = workingset_eviction(g);
	CHECK_EQ(atomic_load(&g->nonresident_age), r->start_age + 1);
	CHECK(shadow <= SHADOW_MASK);
	if (shadow != (uint32_t)(((r->start_age + 1) >> r->shift) & MASK)) {
		fprintf(stderr, "row %zu: shadow %#x\n", n, shadow);
		CHECK_EQ(shadow, ((r->start_age + 1) >> r->shift) & MASK);
	}
	prev = shadow;
	for (uint64_t i = 0; i < r->after; i++) {
		uint32_t s = workingset_eviction(g);
		CHECK(s <= SHADOW_MASK);
		/* the clock only moves forward, one unit at a time, modulo 2^19 */
		CHECK(s == prev || s == ((prev + 1) & SHADOW_MASK));
		prev = s;
	}
	CHECK_EQ(atomic_load(&g->nonresident_age), r->start_age + 1 + r->after);

	bool act = workingset_refault(ctx, g, shadow);
	if (act != r->activate) {
		fprintf(stderr, "row %zu: limit %llu resident %llu start %#llx after %llu: got %d\n", n,
			(unsigned long long)r->limit, (unsigned long long)r->resident,
			(unsigned long long)r->start_age, (unsigned long long)r->after, act);
		CHECK_EQ(act, r->activate);
	}
	/* a refault does not move the eviction clock */
	CHECK_EQ(atomic_load(&g->nonresident_age), r->start_age + 1 + r->after);
	CHECK_EQ(gev(g, EV_workingset_refault), g_ref + 1);
	CHECK_EQ(cev(ctx, EV_workingset_refault), c_ref + 1);
	CHECK_EQ(gev(g, EV_workingset_activate), g_act + r->activate);
	CHECK_EQ(cev(ctx, EV_workingset_activate), c_act + r->activate);
}

static struct uswap_ctx *new_ctx(void)
{
	struct uswap_opts o = { .size = sizeof(o) };
	struct uswap_ctx *ctx = NULL;
	CHECK_EQ(ctx_create_with_mmu(&o, &fake_mmu_ops, &ctx), 0);
	return ctx;
}

/* Every row on a group of its own (group_init) and on the context's root group. */
static void test_rows(void)
{
	struct uswap_ctx *ctx = new_ctx();
	struct uswap_group *g = calloc(1, sizeof(*g));
	uint64_t nact = 0;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		group_init(ctx, g, 1, "ws", rows[i].limit);
		run_row(ctx, g, &rows[i], i);
		CHECK_EQ(gev(g, EV_workingset_refault), 1);
		CHECK_EQ(gev(g, EV_workingset_activate), rows[i].activate);
		nact += rows[i].activate;
	}
	CHECK_EQ(cev(ctx, EV_workingset_refault), sizeof(rows) / sizeof(rows[0]));
	CHECK_EQ(cev(ctx, EV_workingset_activate), nact);
	CHECK_EQ(gev(&ctx->root, EV_workingset_refault), 0); /* other groups untouched */

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		run_row(ctx, &ctx->root, &rows[i], i);
	CHECK_EQ(gev(&ctx->root, EV_workingset_refault), sizeof(rows) / sizeof(rows[0]));
	CHECK_EQ(gev(&ctx->root, EV_workingset_activate), nact);
	CHECK_EQ(cev(ctx, EV_workingset_refault), 2 * (sizeof(rows) / sizeof(rows[0])));
	free(g);
	atomic_store(&ctx->root.limit, 0);
	atomic_store(&ctx->root.nr_resident, 0);
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
}

/* One shadow, refaulted repeatedly as evictions go on: activated exactly while the
 * distance is within the resident set, for each quantisation. */
static void test_threshold_sweep(void)
{
	static const struct {
		uint64_t limit;
		unsigned int shift;
	} cfg[] = { { 4096, 0 }, { 0, 4 }, { 1ULL << 20, 4 } };
	struct uswap_ctx *ctx = new_ctx();
	struct uswap_group g;

	for (size_t c = 0; c < sizeof(cfg) / sizeof(cfg[0]); c++) {
		const uint64_t resident = 3000, q = 1ULL << cfg[c].shift;
		/* start just below a wrap of the quantised clock */
		const uint64_t start = ((MASK + 1) << cfg[c].shift) - 37 * q - 5;
		group_init(ctx, &g, 2, "sweep", cfg[c].limit);
		atomic_store(&g.nr_resident, resident);
		atomic_store(&g.nonresident_age, start);
		uint32_t shadow = workingset_eviction(&g);
		for (uint64_t d = 0; d <= resident + 4 * q; d++) {
			bool act = workingset_refault(ctx, &g, shadow);
			/* the quantised distance is off by less than one unit */
			if (d + q <= resident)
				CHECK(act);
			if (d >= resident + q)
				CHECK(!act);
			(void)workingset_eviction(&g);
		}
		CHECK_EQ(gev(&g, EV_workingset_refault), resident + 4 * q + 1);
		CHECK(gev(&g, EV_workingset_activate) >= resident - q);
		CHECK(gev(&g, EV_workingset_activate) <= resident + q);
	}
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
}

/* Concurrent evictions never lose a tick of the clock. */
#define EV_THREADS 4
#define EV_PER_THREAD 50000

static void *evict_thread(void *p)
{
	struct uswap_group *g = p;
	for (int i = 0; i < EV_PER_THREAD; i++)
		CHECK(workingset_eviction(g) <= SHADOW_MASK);
	return NULL;
}

static void test_concurrent_evictions(void)
{
	struct uswap_ctx *ctx = new_ctx();
	struct uswap_group g;
	pthread_t th[EV_THREADS];

	group_init(ctx, &g, 3, "conc", 1000);
	atomic_store(&g.nonresident_age, MASK - 1000); /* wrap during the run */
	for (int i = 0; i < EV_THREADS; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, evict_thread, &g), 0);
	for (int i = 0; i < EV_THREADS; i++)
		CHECK_EQ(pthread_join(th[i], NULL), 0);
	CHECK_EQ(atomic_load(&g.nonresident_age), MASK - 1000 + EV_THREADS * EV_PER_THREAD);
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
}

int main(void)
{
	test_rows();
	test_threshold_sweep();
	test_concurrent_evictions();
	printf("test_workingset: ok\n");
	return 0;
}
