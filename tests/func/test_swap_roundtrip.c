/* SPDX-License-Identifier: MIT */
/*
 * test_swap_roundtrip - a region 4x its group's limit is written, read back
 * sequentially and randomly, with reads, writes and mixed access, for every
 * content kind; every page is verified each time, and the counters must
 * show real swapping within the limit.
 */
#include <string.h>

#include "check.h"
#include "helper_func.h"

#define LIMIT (8ULL << 20)
#define SIZE (4 * LIMIT)
#define NPAGES (SIZE / 4096)

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void run(int kind, unsigned int flags)
{
	struct uswap_ctx *ctx = func_ctx(LIMIT, USWAP_MODE_THREAD, flags);
	unsigned char *mem = NULL;
	uint64_t seed = 1000 + (uint64_t)kind, gen = 0, s = 88172645463325252ULL;
	static uint64_t version[NPAGES];

	CHECK_EQ(uswap_swapon(ctx, "zram:lz4:size=256M", 0, NULL), 0);
	CHECK_EQ(uswap_mmap(ctx, NULL, SIZE, (void **)&mem), 0);

	/* Write sequentially. */
	for (uint64_t p = 0; p < NPAGES; p++) {
		version[p] = gen;
		fill_page(mem + p * 4096, seed + version[p], p, kind);
	}
	/* Read sequentially. */
	for (uint64_t p = 0; p < NPAGES; p++)
		if (!verify_page(mem + p * 4096, seed + version[p], p, kind)) {
			fprintf(stderr, "kind %d: page %llu wrong after sequential read\n", kind,
				(unsigned long long)p);
			print_stats(ctx);
			exit(1);
		}
	/* Random mixed access: 50% rewrite with a new version, 50% verify. */
	for (uint64_t i = 0; i < 2 * NPAGES; i++) {
		uint64_t p = rnd(&s) % NPAGES;
		if (rnd(&s) & 1) {
			version[p] = ++gen;
			fill_page(mem + p * 4096, seed + version[p], p, kind);
		} else if (!verify_page(mem + p * 4096, seed + version[p], p, kind)) {
			fprintf(stderr, "kind %d: page %llu wrong after random access\n", kind,
				(unsigned long long)p);
			exit(1);
		}
	}
	/* Final full verification. */
	for (uint64_t p = 0; p < NPAGES; p++)
		CHECK(verify_page(mem + p * 4096, seed + version[p], p, kind));

	uint64_t limit_pages = LIMIT / 4096;
	/* The handler counts a fault after the mapping woke the program: wait
	 * for faults in flight before comparing counters (the checker does). */
	check_invariants(ctx);
	CHECK(stat_of(ctx, NULL, "nr_usage_max") <= limit_pages);
	if (kind == FILL_ZERO) {
		CHECK(stat_of(ctx, NULL, "swpout_zero") > 0);
		CHECK(stat_of(ctx, NULL, "swpin_zero") > 0);
	} else {
		CHECK(stat_of(ctx, NULL, "pswpout") >= NPAGES - limit_pages);
		CHECK(stat_of(ctx, NULL, "pswpin") > 0);
		CHECK_EQ(stat_of(ctx, NULL, "pgmajfault") + stat_of(ctx, NULL, "swap_ra"),
			 stat_of(ctx, NULL, "pswpin"));
		CHECK(stat_of(ctx, NULL, "swap_ra_hit") <= stat_of(ctx, NULL, "swap_ra"));
		/* The sequential read moves read-ahead runs in from warm frames,
		 * except where the slot is kept (the page must be mapped
		 * write-protected, which only a copy can do). */
		if (!(flags & (USWAP_F_NO_MOVE | USWAP_F_KEEP_CLEAN)))
			CHECK(stat_of(ctx, NULL, "swpin_move") > NPAGES / 4);
		if (flags & USWAP_F_NO_MOVE)
			CHECK_EQ(stat_of(ctx, NULL, "swpin_move"), 0);
	}
	/* Every page first-touched once: by its own fault or around a sequential one. */
	CHECK_EQ(stat_of(ctx, NULL, "pgfault_zero") + stat_of(ctx, NULL, "pgfault_zero_around"), NPAGES);
	if (!(flags & USWAP_F_NO_MOVE)) /* zero pages only where MOVE can take them */
		CHECK(stat_of(ctx, NULL, "pgfault_zero_around") > NPAGES / 2);
	if (flags & USWAP_F_NO_KSWAPD)
		CHECK_EQ(stat_of(ctx, NULL, "pgsteal_kswapd"), 0);
	/* The sequential read pass re-evicts pages it read: clean ones only with
	 * KEEP_CLEAN (and dirty tracking, which write-protect eviction lacks). */
	if ((flags & USWAP_F_KEEP_CLEAN) && !(flags & USWAP_F_NO_MOVE))
		CHECK(stat_of(ctx, NULL, "swpout_clean") > 0);
	else
		CHECK_EQ(stat_of(ctx, NULL, "swpout_clean"), 0);
	CHECK_EQ(stat_of(ctx, NULL, "swpin_poison"), 0);
	check_invariants(ctx);
	if (getenv("VERBOSE"))
		print_stats(ctx);
	CHECK_EQ(uswap_munmap(ctx, mem, SIZE), 0);
	check_invariants(ctx);
	CHECK_EQ(stat_of(ctx, NULL, "nr_swapped"), 0);
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
}

int main(void)
{
	run(FILL_HALF, 0);
	run(FILL_RANDOM, 0);
	run(FILL_TEXT, 0);
	run(FILL_ZERO, 0);
	run(FILL_SAME, 0);
	/* Eviction by write-protect + copy + MADV_DONTNEED (kernels without UFFDIO_MOVE). */
	run(FILL_HALF, USWAP_F_NO_MOVE);
	run(FILL_ZERO, USWAP_F_NO_MOVE);
	/* No background reclaim: every page is reclaimed on the fault path. */
	run(FILL_HALF, USWAP_F_NO_KSWAPD);
	/* Clean pages keep their compressed copy: re-evicted without compression. */
	run(FILL_HALF, USWAP_F_KEEP_CLEAN);
	run(FILL_TEXT, USWAP_F_KEEP_CLEAN | USWAP_F_NO_MOVE);
	return 0;
}
