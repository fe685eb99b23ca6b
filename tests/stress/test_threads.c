/* SPDX-License-Identifier: MIT */
/*
 * test_threads - 8 threads fault on the same pages (a shared read-only set)
 * and on their own pages (read/write) while background and direct reclaim
 * run under a tight limit.  Every read is verified; every page is verified
 * at the end; the seed is printed so that a failure can be replayed
 * (USWAP_SEED=n).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "../func/helper_func.h"

#define NTHREADS 8
#define LIMIT (8ULL << 20)
#define SHARED_PAGES 2048  /* 8 MiB read by all threads */
#define PRIVATE_PAGES 1024 /* 4 MiB per thread, read and written by its owner */
/* ThreadSanitizer slows every access ~10x: fewer operations keep the run within its timeout. */
#if defined(__SANITIZE_THREAD__)
#define OPS 10000
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define OPS 10000
#endif
#endif
#ifndef OPS
#define OPS 40000
#endif

static unsigned char *shared, *priv;
static uint64_t seed;
static _Atomic int failed;

static uint64_t xs(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *worker(void *arg)
{
	long t = (long)arg;
	uint64_t s = seed * 31 + (uint64_t)t + 1;
	uint32_t version[PRIVATE_PAGES] = { 0 };
	unsigned char *mine = priv + (size_t)t * PRIVATE_PAGES * 4096;

	for (uint64_t p = 0; p < PRIVATE_PAGES; p++)
		fill_page(mine + p * 4096, seed + ((uint64_t)t << 32), p, FILL_HALF);
	for (int i = 0; i < OPS && !failed; i++) {
		uint64_t r = xs(&s);
		if (r % 3 == 0) {
			/* Same pages as everyone: a small hot window, so threads collide. */
			uint64_t p = (r >> 8) % (i % 2 ? 64 : SHARED_PAGES);
			if (!verify_page(shared + p * 4096, seed, p, FILL_TEXT)) {
				fprintf(stderr, "thread %ld: shared page %llu corrupt (seed %llu)\n", t,
					(unsigned long long)p, (unsigned long long)seed);
				failed = 1;
			}
		} else {
			uint64_t p = (r >> 8) % PRIVATE_PAGES;
			uint64_t ps = seed + ((uint64_t)t << 32) + ((uint64_t)version[p] << 40);
			if (r & 0x10) {
				if (!verify_page(mine + p * 4096, ps, p, FILL_HALF)) {
					fprintf(stderr, "thread %ld: page %llu v%u corrupt (seed %llu)\n", t,
						(unsigned long long)p, version[p], (unsigned long long)seed);
					failed = 1;
				}
			} else {
				version[p]++;
				ps = seed + ((uint64_t)t << 32) + ((uint64_t)version[p] << 40);
				fill_page(mine + p * 4096, ps, p, FILL_HALF);
			}
		}
	}
	for (uint64_t p = 0; p < PRIVATE_PAGES && !failed; p++) {
		uint64_t ps = seed + ((uint64_t)t << 32) + ((uint64_t)version[p] << 40);
		if (!verify_page(mine + p * 4096, ps, p, FILL_HALF)) {
			fprintf(stderr, "thread %ld: final page %llu corrupt (seed %llu)\n", t,
				(unsigned long long)p, (unsigned long long)seed);
			failed = 1;
		}
	}
	return NULL;
}

static void run(unsigned int nr_handlers, unsigned int flags)
{
	struct uswap_opts o = { .size = sizeof(o), .limit_bytes = LIMIT, .nr_handlers = nr_handlers,
				.flags = flags };
	struct uswap_ctx *ctx = func_ctx_opts(&o);
	pthread_t th[NTHREADS];

	CHECK_EQ(uswap_swapon(ctx, "zram:lz4:size=512M", 0, NULL), 0);
	CHECK_EQ(uswap_mmap(ctx, NULL, SHARED_PAGES * 4096, (void **)&shared), 0);
	CHECK_EQ(uswap_mmap(ctx, NULL, (size_t)NTHREADS * PRIVATE_PAGES * 4096, (void **)&priv), 0);
	for (uint64_t p = 0; p < SHARED_PAGES; p++)
		fill_page(shared + p * 4096, seed, p, FILL_TEXT);
	for (long t = 0; t < NTHREADS; t++)
		CHECK_EQ(pthread_create(&th[t], NULL, worker, (void *)t), 0);
	for (long t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	if (failed) {
		print_stats(ctx);
		exit(1);
	}
	for (uint64_t p = 0; p < SHARED_PAGES; p++)
		CHECK(verify_page(shared + p * 4096, seed, p, FILL_TEXT));
	CHECK(stat_of(ctx, NULL, "nr_usage_max") <= LIMIT / 4096);
	CHECK(stat_of(ctx, NULL, "pswpin") > 0);
	CHECK(stat_of(ctx, NULL, "pgsteal_kswapd") > 0);
	CHECK_EQ(stat_of(ctx, NULL, "swpin_poison"), 0);
	CHECK_EQ(stat_of(ctx, NULL, "oom"), 0);
	if (getenv("VERBOSE"))
		print_stats(ctx);
	check_invariants(ctx);
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
	fprintf(stderr, "run: %u handler(s), flags %#x: ok\n", nr_handlers, flags);
	failed = 0;
}

int main(void)
{
	const char *e = getenv("USWAP_SEED");
	seed = e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL);
	fprintf(stderr, "seed %llu\n", (unsigned long long)seed);
	run(1, 0);
	run(4, 0);
	run(1, USWAP_F_NO_MOVE); /* write-protect eviction: faults deferred while kswapd zaps */
	return 0;
}
