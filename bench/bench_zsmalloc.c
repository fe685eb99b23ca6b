/* SPDX-License-Identifier: MIT */
/*
 * bench_zsmalloc - memory overhead and throughput of the zram backend and its
 * allocator on half-compressible pages (first half random bytes, second half
 * one repeated 16-bit pattern, like tests' FILL_HALF).
 *
 * For lz4 and zstd: store N pages, read them all back (verified), discard a
 * random half, compact, verify the survivors.  Prints, after each phase,
 * compr_data_size, mem_used_total, meta_bytes and
 *
 *   allocator overhead  = (mem_used_total - compr_data_size - meta_bytes) / compr_data_size
 *   overhead incl. meta = (mem_used_total - compr_data_size) / compr_data_size
 *
 * The target is allocator overhead <= 10% after storing and after
 * free + compact.  Exit: 0, 1 data mismatch or backend error, 2 usage.
 *
 * usage: bench_zsmalloc [-n pages] [-s seed]
 */
#include "backend/backend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define PAGE 4096u
#define BATCH 256u

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Half-compressible page @pgno: 2 KiB of random bytes, then a repeated 16-bit word. */
static void gen_page(void *page, uint64_t seed, uint64_t pgno)
{
	uint64_t s = seed * 0x2545F4914F6CDD1DULL + pgno, *w = page;
	uint64_t pat = (splitmix(&s) & 0xffff) * 0x0001000100010001ULL;

	for (unsigned int i = 0; i < PAGE / 16; i++)
		w[i] = splitmix(&s);
	for (unsigned int i = PAGE / 16; i < PAGE / 8; i++)
		w[i] = pat;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void print_phase(const char *phase, const struct backend_stat *st)
{
	double c = (double)st->compr_data_size;
	double alloc = (double)st->mem_used_total - c - (double)st->meta_bytes;

	printf("  %-22s pages %8llu  compr_data_size %11llu  mem_used_total %11llu  "
	       "meta_bytes %9llu  overhead %6.2f%%  incl. meta %6.2f%%\n",
	       phase, (unsigned long long)st->nr_stored, (unsigned long long)st->compr_data_size,
	       (unsigned long long)st->mem_used_total, (unsigned long long)st->meta_bytes,
	       c > 0 ? 100.0 * alloc / c : 0.0,
	       c > 0 ? 100.0 * ((double)st->mem_used_total - c) / c : 0.0);
}

static double overhead(const struct backend_stat *st)
{
	return ((double)st->mem_used_total - (double)st->compr_data_size -
		(double)st->meta_bytes) /
	       (double)st->compr_data_size;
}

/* Read @slot and compare with the generator.  Return: 0 or -1. */
static int verify(const struct swap_backend_ops *ops, void *z, uint64_t seed, uint64_t slot,
		  void *page, void *want)
{
	uint64_t hash;
	bool valid;

	gen_page(want, seed, slot);
	if (ops->read(z, slot, page, &hash, &valid) || memcmp(page, want, PAGE) ||
	    (valid && hash != XXH3_64bits(want, PAGE))) {
		fprintf(stderr, "slot %llu: content mismatch\n", (unsigned long long)slot);
		return -1;
	}
	return 0;
}

static int run(const char *algo, uint64_t n, uint64_t seed, int *target_ok)
{
	const struct swap_backend_ops *ops = backend_lookup("zram", 4);
	char spec[96], err[256] = "";
	struct backend_stat st;
	uint64_t nr_slots, *order = NULL, r = seed ^ 0xabcdef;
	unsigned char *buf = NULL, *want = NULL;
	uint64_t *hashes = NULL;
	double t, t_write = 0, t_read = 0, t_compact;
	void *z = NULL;
	long released;
	int ret = -1;

	snprintf(spec, sizeof(spec), "%s:size=%llu", algo, (unsigned long long)(n * PAGE));
	if (ops->create(spec, &z, &nr_slots, err, sizeof(err))) {
		fprintf(stderr, "create %s: %s\n", spec, err);
		return -1;
	}
	buf = malloc((size_t)BATCH * PAGE);
	want = malloc(PAGE);
	hashes = malloc(BATCH * sizeof(*hashes));
	order = malloc(n * sizeof(*order));
	if (!buf || !want || !hashes || !order)
		goto out;

	printf("%s, %llu pages of half-compressible data\n", algo, (unsigned long long)n);
	for (uint64_t b = 0; b < n; b += BATCH) {
		uint64_t cnt = n - b < BATCH ? n - b : BATCH;

		for (uint64_t i = 0; i < cnt; i++) {
			gen_page(buf + i * PAGE, seed, b + i);
			hashes[i] = XXH3_64bits(buf + i * PAGE, PAGE);
		}
		t = now_s();
		for (uint64_t i = 0; i < cnt; i++)
			if (ops->write(z, b + i, buf + i * PAGE, hashes[i])) {
				fprintf(stderr, "write %llu failed\n", (unsigned long long)(b + i));
				goto out;
			}
		t_write += now_s() - t;
	}
	ops->stat(z, &st);
	print_phase("stored", &st);
	if (overhead(&st) > 0.10)
		*target_ok = 0;

	for (uint64_t b = 0; b < n; b += BATCH) {
		uint64_t cnt = n - b < BATCH ? n - b : BATCH, hash;
		bool valid;

		t = now_s();
		for (uint64_t i = 0; i < cnt; i++)
			if (ops->read(z, b + i, buf + i * PAGE, &hash, &valid))
				goto out;
		t_read += now_s() - t;
		for (uint64_t i = 0; i < cnt; i++) {
			gen_page(want, seed, b + i);
			if (memcmp(buf + i * PAGE, want, PAGE)) {
				fprintf(stderr, "slot %llu: content mismatch\n",
					(unsigned long long)(b + i));
				goto out;
			}
		}
	}

	/* Discard a random half (Fisher-Yates over the slot numbers). */
	for (uint64_t i = 0; i < n; i++)
		order[i] = i;
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = splitmix(&r) % (i + 1), tmp = order[i];

		order[i] = order[j];
		order[j] = tmp;
	}
	for (uint64_t i = 0; i < n / 2; i++)
		ops->discard(z, order[i]);
	ops->stat(z, &st);
	print_phase("freed 50%, uncompacted", &st);

	t = now_s();
	released = ops->compact(z);
	t_compact = now_s() - t;
	ops->stat(z, &st);
	print_phase("compacted", &st);
	if (overhead(&st) > 0.10)
		*target_ok = 0;

	for (uint64_t i = n / 2; i < n; i++)
		if (verify(ops, z, seed, order[i], buf, want))
			goto out;
	printf("  write %.0f MB/s (%.2f us/page)  read %.0f MB/s (%.2f us/page)  "
	       "compact %ld pages in %.1f ms; huge_pages %llu, pages_compacted %llu\n",
	       (double)n * PAGE / 1e6 / t_write, t_write * 1e6 / (double)n,
	       (double)n * PAGE / 1e6 / t_read, t_read * 1e6 / (double)n, released,
	       t_compact * 1e3, (unsigned long long)st.huge_pages,
	       (unsigned long long)st.pages_compacted);
	ret = 0;
out:
	ops->destroy(z);
	free(order);
	free(hashes);
	free(want);
	free(buf);
	return ret;
}

int main(int argc, char **argv)
{
	uint64_t n = 65536, seed = 1;
	int opt, target_ok = 1;

	while ((opt = getopt(argc, argv, "n:s:h")) != -1) {
		switch (opt) {
		case 'n':
			n = strtoull(optarg, NULL, 0);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: %s [-n pages (65536)] [-s seed (1)]\n", argv[0]);
			return 2;
		}
	}
	if (n < 2 || n > (1ull << 32)) {
		fprintf(stderr, "-n: 2 .. 2^32 pages\n");
		return 2;
	}
	if (run("lz4", n, seed, &target_ok) || run("zstd", n, seed, &target_ok))
		return 1;
	printf("target (allocator overhead <= 10%% stored and compacted): %s\n",
	       target_ok ? "met" : "MISSED");
	return 0;
}
