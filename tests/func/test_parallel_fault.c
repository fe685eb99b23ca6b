/* SPDX-License-Identifier: MIT */
/*
 * test_parallel_fault - SPEC rows 1, 6, 15: 8 threads fault on the same
 * swapped-out page at once; the page is read from the device exactly once
 * (pswpin + 1), every thread sees the right content, and the others are
 * resolved as spurious faults or by the kernel's retry.  In thread mode
 * (4 handler threads, so several handlers see the same page) and in signal
 * mode (each faulting thread resolves its own fault).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>

#include "check.h"
#include "helper_func.h"

#define NTHREADS 8
#define NPAGES 4096 /* 16 MiB */
#define LIMIT (8ULL << 20)
#define ROUNDS 20

static unsigned char *mem;
static pthread_barrier_t barrier;
static _Atomic uint64_t target;
static _Atomic int bad;

static void *reader(void *arg)
{
	(void)arg;
	for (int round = 0; round < ROUNDS; round++) {
		pthread_barrier_wait(&barrier);
		uint64_t p = target;
		if (!verify_page(mem + p * 4096, 3, p, FILL_TEXT))
			bad = 1;
		pthread_barrier_wait(&barrier);
	}
	return NULL;
}

/* Push page @p out of memory and out of the swap cache. */
static void evict(struct uswap_ctx *ctx, uint64_t p)
{
	struct region *r = region_lookup(ctx, (uintptr_t)mem);
	for (int i = 0; i < 1000; i++) {
		pte_t pte = pte_read(r, p);
		if (pte_is_swap(pte) &&
		    swp_tb_kind(atomic_load(swap_table_word(ctx, pte_to_swp_entry(pte)))) != SLOT_CACHE)
			return;
		uswap_reclaim(ctx, NULL, 256, NULL);
	}
	CHECK(0 && "could not evict the target page");
}

static void run(enum uswap_fault_mode mode, unsigned int handlers)
{
	struct uswap_opts o = { .size = sizeof(o), .mode = mode, .nr_handlers = handlers,
				.limit_bytes = LIMIT, .flags = USWAP_F_NO_KSWAPD };
	struct uswap_ctx *ctx = func_ctx_opts(&o);
	pthread_t th[NTHREADS];

	CHECK_EQ(uswap_swapon(ctx, "zram:lz4:size=64M", 0, NULL), 0);
	CHECK_EQ(uswap_mmap(ctx, NULL, NPAGES * 4096ULL, (void **)&mem), 0);
	for (uint64_t p = 0; p < NPAGES; p++)
		fill_page(mem + p * 4096, 3, p, FILL_TEXT);
	pthread_barrier_init(&barrier, NULL, NTHREADS + 1);
	for (int t = 0; t < NTHREADS; t++)
		CHECK_EQ(pthread_create(&th[t], NULL, reader, NULL), 0);
	for (int round = 0; round < ROUNDS; round++) {
		uint64_t p = (uint64_t)round * 197 % NPAGES;
		evict(ctx, p);
		/* Headroom, so that the fault itself does not reclaim. */
		uswap_reclaim(ctx, NULL, 128, NULL);
		uint64_t in0 = stat_of(ctx, NULL, "pswpin"), ra0 = stat_of(ctx, NULL, "swap_ra");
		target = p;
		pthread_barrier_wait(&barrier); /* go */
		pthread_barrier_wait(&barrier); /* all read it */
		/* The handler counts the swap-in after mapping the page, so the
		 * readers can be here first: wait for it to finish its fault. */
		while (atomic_load(&ctx->faults_in_flight))
			sched_yield();
		CHECK(!bad);
		/* Read once (the rounds walk a stride of 197 pages: the trend
		 * detector reads ahead along it, which pswpin also counts). */
		CHECK_EQ((stat_of(ctx, NULL, "pswpin") - in0) - (stat_of(ctx, NULL, "swap_ra") - ra0), 1);
	}
	for (int t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	pthread_barrier_destroy(&barrier);
	check_invariants(ctx);
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
}

int main(void)
{
	run(USWAP_MODE_THREAD, 4);
	run(USWAP_MODE_SIGNAL, 1);
	return 0;
}
