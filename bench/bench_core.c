/* SPDX-License-Identifier: MIT */
/*
 * bench_core - measurements behind the core's design choices:
 *   1. eviction with UFFDIO_MOVE against write-protect + copy + MADV_DONTNEED:
 *      time per page to reclaim a filled region (unmap + compress + free),
 *      and time per page to fault it back;
 *   2. uswap's metadata per managed 4 KiB page, at S = 2 x L and S = 4 x L.
 * Medians of --runs runs (default 5).  Usage: bench_core [--pages N] [--runs R]
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "uswap.h"
#include "internal.h" /* metadata breakdown */

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

/* Half-compressible: random first half, repeated pattern second half. */
static void fill(unsigned char *pg, uint64_t p)
{
	uint64_t *w = (uint64_t *)pg;
	for (int i = 0; i < 512; i++)
		w[i] = i < 256 ? mix(p * 512 + (uint64_t)i + 1) : (p & 0xffff) * 0x0001000100010001ULL;
}

static uint64_t stat(struct uswap_ctx *ctx, const char *name)
{
	struct uswap_stats st;
	int i = uswap_stat_index(name);
	uswap_stats_get(ctx, NULL, &st);
	return i >= 0 ? st.value[i] : 0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return v[n / 2];
}

static struct uswap_ctx *mkctx(uint64_t limit, unsigned int flags)
{
	struct uswap_opts o = { .size = sizeof(o), .limit_bytes = limit, .flags = flags };
	struct uswap_ctx *ctx;
	int rc = uswap_ctx_create(&o, &ctx);
	if (rc) {
		fprintf(stderr, "uswap_ctx_create: %s\n", strerror(-rc));
		exit(rc == -EPERM ? 77 : 1);
	}
	if (uswap_swapon(ctx, "zram:lz4:size=8G", 0, NULL))
		exit(1);
	return ctx;
}

/* One run: fill, reclaim everything, fault it all back.  Returns us/page for both. */
static void evict_run(size_t npages, unsigned int flags, double *evict_us, double *refault_us)
{
	struct uswap_ctx *ctx = mkctx(0, flags | USWAP_F_NO_KSWAPD * 0);
	unsigned char *m;
	uint64_t got = 0, total = 0;

	uswap_mmap(ctx, NULL, npages * 4096, (void **)&m);
	for (size_t p = 0; p < npages; p++)
		fill(m + p * 4096, p);
	double t0 = now_us();
	while (total < npages) {
		uswap_reclaim(ctx, NULL, npages - total, &got);
		if (!got)
			break;
		total += got;
	}
	double t1 = now_us();
	for (size_t p = 0; p < npages; p++)
		if (m[p * 4096 + 4095] != (unsigned char)((p & 0xffff) >> 8)) {
			fprintf(stderr, "page %zu corrupt\n", p);
			exit(1);
		}
	double t2 = now_us();
	*evict_us = (t1 - t0) / (double)total;
	*refault_us = (t2 - t1) / (double)npages;
	uswap_ctx_destroy(ctx);
}

static void meta_run(size_t npages, unsigned int factor)
{
	uint64_t limit = npages * 4096 / factor;
	struct uswap_ctx *ctx = mkctx(limit, 0);
	unsigned char *m;
	uint64_t pte = 0, slot_tables = 0, zram_tables = 0, zram_other = 0, pool, swap_tables;

	uswap_mmap(ctx, NULL, npages * 4096, (void **)&m);
	for (size_t p = 0; p < npages; p++)
		fill(m + p * 4096, p);
	pte = npages * sizeof(pte_t);
	swap_tables = swap_meta_bytes(ctx);
	pool = pool_meta_bytes(&ctx->pool);
	for (unsigned int t = 0; t < MAX_SWAPFILES; t++) {
		struct swap_info *si = atomic_load(&ctx->swap_info[t]);
		struct backend_stat bs = { 0 };
		if (si && si->ops->stat(si->priv, &bs) == 0) {
			zram_tables += bs.slot_table_bytes;
			zram_other += bs.meta_bytes - bs.slot_table_bytes;
		}
	}
	slot_tables = pte + swap_tables + zram_tables + pool;
	double n = (double)npages;
	printf("  S = %u x L: %zu pages, limit %llu, swapped %llu (%.0f%%), resident %llu, swap cache %llu\n",
	       factor, npages, (unsigned long long)(limit / 4096), (unsigned long long)stat(ctx, "nr_swapped"),
	       100.0 * (double)stat(ctx, "nr_swapped") / n, (unsigned long long)stat(ctx, "nr_resident"),
	       (unsigned long long)stat(ctx, "nr_swapcache"));
	printf("    page tables %.2f + swap tables %.2f + zram slot table %.2f + pool frames %.2f"
	       " = %.2f bytes per managed page\n",
	       (double)pte / n, (double)swap_tables / n, (double)zram_tables / n, (double)pool / n,
	       (double)slot_tables / n);
	printf("    + allocator descriptors and contexts %.2f = %.2f bytes per managed page (meta_bytes %llu)\n",
	       (double)zram_other / n, (double)(slot_tables + zram_other) / n,
	       (unsigned long long)stat(ctx, "meta_bytes"));
	uswap_ctx_destroy(ctx);
}

int main(int argc, char **argv)
{
	size_t npages = 65536;
	int runs = 5;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--pages") && i + 1 < argc)
			npages = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--pages N] [--runs R]\n", argv[0]);
			return 2;
		}
	}
	if (runs < 1 || runs > 99 || npages < 1024)
		return 2;
	printf("eviction: %zu pages of half-compressible data, lz4, median of %d runs\n", npages, runs);
	static const struct {
		const char *name;
		unsigned int flags;
	} modes[] = { { "UFFDIO_MOVE into the pool", 0 },
		      { "write-protect + copy + MADV_DONTNEED", USWAP_F_NO_MOVE } };
	for (int m = 0; m < 2; m++) {
		double ev[99], rf[99];
		for (int r = 0; r < runs; r++)
			evict_run(npages, modes[m].flags, &ev[r], &rf[r]);
		printf("  %-40s reclaim %6.2f us/page   fault back %6.2f us/page\n", modes[m].name,
		       median(ev, runs), median(rf, runs));
	}
	printf("metadata per managed page (page tables + swap tables + zram slot tables + pool):\n");
	meta_run(npages, 2);
	meta_run(npages, 4);
	return 0;
}
