/* SPDX-License-Identifier: MIT */
/*
 * run_common.h - helpers of the programs that tests/run/run.sh runs under
 * `uswap run`.  They are ordinary dynamically linked programs that know
 * nothing of uswap: they write a pattern into every page and check it back.
 * Exit 0 pass, 1 fail (with a message).
 */
#ifndef RUN_COMMON_H
#define RUN_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 4096ul
#define MiB (1ul << 20)

#define FAIL(...)                                                                      \
	do {                                                                           \
		fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                   \
		fprintf(stderr, __VA_ARGS__);                                          \
		fprintf(stderr, "\n");                                                 \
		exit(1);                                                               \
	} while (0)

static inline uint64_t pat(uint64_t page, uint64_t word, uint64_t seed)
{
	uint64_t x = (page + 1) * 0x9e3779b97f4a7c15ull ^ (word << 32) ^ seed;
	x ^= x >> 29;
	return x | 1; /* never a zero page */
}

/* Fill pages [0, len) of @p, numbered from @first, with the pattern of @seed.
 * Words 0..63 of each page vary; the rest repeats word 0 (compressible). */
static inline void fill(void *p, size_t len, uint64_t first, uint64_t seed)
{
	for (size_t off = 0; off < len; off += PAGE) {
		uint64_t *w = (uint64_t *)((char *)p + off);
		for (size_t i = 0; i < PAGE / 8; i++)
			w[i] = pat(first + off / PAGE, i & 63, seed);
	}
}

/* Return: the number of bad pages; the first is reported. */
static inline size_t check(const void *p, size_t len, uint64_t first, uint64_t seed,
			   const char *what)
{
	size_t bad = 0;

	for (size_t off = 0; off < len; off += PAGE) {
		const uint64_t *w = (const uint64_t *)((const char *)p + off);
		for (size_t i = 0; i < PAGE / 8; i++) {
			if (w[i] != pat(first + off / PAGE, i & 63, seed)) {
				if (!bad)
					fprintf(stderr, "%s: page %zu word %zu: %#llx, expected %#llx\n",
						what, off / PAGE, i, (unsigned long long)w[i],
						(unsigned long long)pat(first + off / PAGE, i & 63, seed));
				bad++;
				break;
			}
		}
	}
	return bad;
}

static inline int all_zero(const void *p, size_t len)
{
	const uint64_t *w = p;
	for (size_t i = 0; i < len / 8; i++)
		if (w[i])
			return 0;
	return 1;
}

/* Size from argv[i] in MiB, or @def. */
static inline size_t arg_mib(int argc, char **argv, int i, size_t def)
{
	return (argc > i ? strtoul(argv[i], NULL, 10) : def) * MiB;
}

#endif
