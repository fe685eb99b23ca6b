/* SPDX-License-Identifier: MIT */
/*
 * test_swapoff - swapoff of a device while threads fault and reclaim runs.
 * Pages come back into memory while there is room, then move to the other
 * device; nothing is lost.  swapoff of the last device with no room fails
 * with -ENOMEM and loses nothing; after the limit is raised it succeeds.
 * Run for every kind of device: zram, a file (io_uring), zram in front of a
 * file (tier), in both directions between them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "../func/helper_func.h"

#define LIMIT (8ULL << 20)
#define NPAGES 8192 /* 32 MiB */
#define NTHREADS 3

static unsigned char *mem;
static _Atomic int stop, failed;
static uint64_t seed;

/* Each thread owns the pages p with p % NTHREADS == t and rewrites them; versions are private. */
static uint32_t version[NPAGES];

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
	uint64_t s = seed + (uint64_t)t * 7919 + 1;
	while (!stop && !failed) {
		uint64_t p = xs(&s) % NPAGES;
		p -= p % NTHREADS;
		p += (uint64_t)t;
		if (p >= NPAGES)
			continue;
		if (xs(&s) & 1) {
			version[p]++;
			fill_page(mem + p * 4096, seed + version[p], p, FILL_HALF);
		} else if (!verify_page(mem + p * 4096, seed + version[p], p, FILL_HALF)) {
			fprintf(stderr, "page %llu corrupt during swapoff (seed %llu)\n",
				(unsigned long long)p, (unsigned long long)seed);
			failed = 1;
		}
	}
	return NULL;
}

static void verify_all(void)
{
	for (uint64_t p = 0; p < NPAGES; p++)
		if (!verify_page(mem + p * 4096, seed + version[p], p, FILL_HALF)) {
			fprintf(stderr, "page %llu corrupt (seed %llu)\n", (unsigned long long)p,
				(unsigned long long)seed);
			exit(1);
		}
}

static void run(const char *hi_spec, const char *lo_spec)
{
	struct uswap_ctx *ctx;
	pthread_t th[NTHREADS];
	int hi, lo;

	fprintf(stderr, "swapoff %s, with %s below it\n", hi_spec, lo_spec);
	stop = 0;
	memset(version, 0, sizeof(version));
	ctx = func_ctx(LIMIT, USWAP_MODE_THREAD, 0);
	CHECK_EQ(uswap_swapon(ctx, hi_spec, 10, &hi), 0);
	CHECK_EQ(uswap_swapon(ctx, lo_spec, 0, &lo), 0);
	CHECK_EQ(uswap_mmap(ctx, NULL, NPAGES * 4096ULL, (void **)&mem), 0);
	for (uint64_t p = 0; p < NPAGES; p++)
		fill_page(mem + p * 4096, seed, p, FILL_HALF);
	/* Priority: the high-priority device took everything. */
	CHECK_EQ(stat_of(ctx, NULL, "nr_swapped") > 0, 1);
	uint64_t swapped_before = stat_of(ctx, NULL, "nr_swapped");

	for (long t = 0; t < NTHREADS; t++)
		CHECK_EQ(pthread_create(&th[t], NULL, worker, (void *)t), 0);
	struct timespec ts = { 0, 200 * 1000000L };
	nanosleep(&ts, NULL);
	/* swapoff under load: memory is full, so most pages must move to 'lo'. */
	CHECK_EQ(uswap_swapoff(ctx, hi), 0);
	nanosleep(&ts, NULL);
	stop = 1;
	for (long t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	CHECK(!failed);
	CHECK(stat_of(ctx, NULL, "swapoff_pages") > 0);
	verify_all();
	check_invariants(ctx);
	CHECK(swapped_before > 0);

	/* The last device, no room in memory: refused, nothing lost. */
	CHECK_EQ(uswap_swapoff(ctx, lo), -ENOMEM);
	verify_all();
	check_invariants(ctx);

	/* Room for everything: swapoff brings every page in. */
	CHECK_EQ(uswap_group_set_limit(uswap_root_group(ctx), 64ULL << 20), 0);
	CHECK_EQ(uswap_swapoff(ctx, lo), 0);
	CHECK_EQ(stat_of(ctx, NULL, "nr_swapped"), 0);
	CHECK_EQ(stat_of(ctx, NULL, "swap_total"), 0);
	verify_all();
	check_invariants(ctx);
	CHECK_EQ(uswap_munmap(ctx, mem, NPAGES * 4096ULL), 0);
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
}

int main(void)
{
	const char *e = getenv("USWAP_SEED");
	char file[96], fspec[160], tspec[200];

	seed = e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL);
	fprintf(stderr, "seed %llu\n", (unsigned long long)seed);
	/* A disk-backed directory: the file device does O_DIRECT I/O. */
	snprintf(file, sizeof(file), "%s/swapoff.swap", test_tmpdir("swapoff"));
	snprintf(fspec, sizeof(fspec), "file:%s:size=256M", file);
	snprintf(tspec, sizeof(tspec), "tier:lz4:mem_limit=4M:file=%s:size=256M", file);
	run("zram:lz4:size=256M", "zram:zstd:size=256M");
	unlink(file);
	run(fspec, "zram:lz4:size=256M");
	unlink(file);
	run("zram:lz4:size=256M", fspec);
	unlink(file);
	run(tspec, "zram:zstd:size=256M");
	unlink(file);
	return 0;
}
