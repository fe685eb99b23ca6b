/* SPDX-License-Identifier: MIT */
/* check.h - tiny assertion helpers shared by uswap tests: exit 1 on failure, 77 to skip. */
#ifndef USWAP_TEST_CHECK_H
#define USWAP_TEST_CHECK_H
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>

#define TEST_SKIP 77

void check_fail(const char *file, int line, const char *expr, long long a, long long b);

/* CHECK(cond): fail with the expression text. */
#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			check_fail(__FILE__, __LINE__, #c, 0, 0);                                  \
	} while (0)
/* CHECK_EQ(a, b): fail printing both values. */
#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);                     \
		if (check_a_ != check_b_)                                                          \
			check_fail(__FILE__, __LINE__, #a " == " #b, check_a_, check_b_);          \
	} while (0)
#define SKIP(...)                                                                                  \
	do {                                                                                       \
		fprintf(stderr, "SKIP: " __VA_ARGS__);                                             \
		fputc('\n', stderr);                                                               \
		exit(TEST_SKIP);                                                                   \
	} while (0)

/* Deterministic page content: every 8-byte word derived from (seed, page, word). */
/*
 * test_tmpdir - a fresh directory for the files a test writes, under
 * $USWAP_TEST_DIR or /var/tmp (a disk: O_DIRECT needs one), removed with its
 * contents at exit.  Skips the test (exit 77) if none can be made.
 */
const char *test_tmpdir(const char *name);
void fill_page(void *page, uint64_t seed, uint64_t pgno, int kind);
int verify_page(const void *page, uint64_t seed, uint64_t pgno, int kind);
enum { FILL_RANDOM, FILL_HALF, FILL_TEXT, FILL_ZERO, FILL_SAME };

#endif
