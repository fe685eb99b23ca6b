/* SPDX-License-Identifier: MIT */
/*
 * test_mm_ops - munmap (partial), mremap, madvise, mlock and fork of managed
 * memory, with real userfaultfd: every page is verified after each
 * operation, counters and invariants are checked.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "helper_func.h"

#define LIMIT (2u << 20)
#define PG 4096UL

static void fill(unsigned char *m, size_t npages, uint64_t seed, size_t first_pgno)
{
	for (size_t p = 0; p < npages; p++)
		fill_page(m + p * PG, seed, first_pgno + p, FILL_HALF);
}

static void verify(const unsigned char *m, size_t npages, uint64_t seed, size_t first_pgno,
		   const char *what)
{
	for (size_t p = 0; p < npages; p++)
		if (!verify_page(m + p * PG, seed, first_pgno + p, FILL_HALF)) {
			fprintf(stderr, "%s: page %zu wrong\n", what, p);
			exit(1);
		}
}

static int all_zero(const unsigned char *m, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (m[i])
			return 0;
	return 1;
}

/* Unmapping the middle, then the ends: the rest stays intact, the region goes at the end. */
static void test_partial_munmap(void)
{
	struct uswap_ctx *ctx = func_ctx(LIMIT, USWAP_MODE_THREAD, 0);
	const size_t n = 2048; /* 8 MiB, 4x the limit */
	unsigned char *m = NULL;
	void *start;
	size_t len;

	CHECK_EQ(uswap_swapon(ctx, "zram:lz4:size=64M", 0, NULL), 0);
	CHECK_EQ(uswap_mmap(ctx, NULL, n * PG, (void **)&m), 0);
	fill(m, n, 1, 0);
	CHECK(stat_of(ctx, NULL, "nr_swapped") > 0);
	CHECK_EQ(uswap_munmap(ctx, m + 512 * PG, 1024 * PG), 0); /* the middle half */
	/* The hole still belongs to the region's span (reserved, not mapped). */
	CHECK_EQ(uswap_region_find(ctx, m + 600 * PG, &start, &len), 0);
	CHECK(start == m && len == n * PG);
	verify(m, 512, 1, 0, "head after munmap");
	verify(m + 1536 * PG, 512, 1, 1536, "tail after munmap");
	check_invariants(ctx);
	/* A second munmap of a hole gives its address up: a program mapping
	 * placed there survives the region. */
	CHECK_EQ(uswap_munmap(ctx, m + 512 * PG, PG), 0);
	unsigned char *foreign = mmap(m + 512 * PG, PG, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(foreign == m + 512 * PG);
	foreign[7] = 42;
	CHECK_EQ(uswap_munmap(ctx, m + 1, PG), -EINVAL);
	CHECK_EQ(uswap_munmap(ctx, m + (n - 1) * PG, 2 * PG), -EINVAL);
	CHECK_EQ(uswap_munmap(ctx, m, 512 * PG), 0);
	CHECK_EQ(uswap_munmap(ctx, m + 1536 * PG, 512 * PG), 0);
	CHECK_EQ(uswap_region_find(ctx, m + 1600 * PG, NULL, NULL), -ENOENT);
	CHECK_EQ(foreign[7], 42); /* not unmapped with the region */
	CHECK_EQ(munmap(foreign, PG), 0);
	CHECK_EQ(stat_of(ctx, NULL, "nr_swapped"), 0);
	CHECK_EQ(stat_of(ctx, NULL, "nr_usage"), 0);
	check_invariants(ctx);
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
}

/* Grow by moving, shrink in place, move to a fixed address: data follows, nothing is read. */
static void test_mremap(void)
{
	struct uswap_ctx *ctx = func_ctx(LIMIT, USWAP_MODE_THREAD, 0);
	const size_t n = 1024; /* 4 MiB */
	unsigned char *m = NULL, *m2 = NULL, *m3;
	void *fixed;

	CHECK_EQ(uswap_swapon(ctx, "zram:lz4:size=64M", 0, NULL), 0);
	CHECK_EQ(uswap_mmap(ctx, NULL, n * PG, (void **)&m), 0);
	fill(m, n, 2, 0);
	uint64_t in0 = stat_of(ctx, NULL, "pswpin");
	CHECK(stat_of(ctx, NULL, "nr_swapped") > 0);
	CHECK_EQ(uswap_mremap(ctx, m, n * PG, 2 * n * PG, 0, NULL, (void **)&m2), -ENOMEM);
	CHECK_EQ(uswap_mremap(ctx, m, n * PG, 2 * n * PG, MREMAP_MAYMOVE, NULL, (void **)&m2), 0);
	CHECK(m2 != m);
	/* Nothing was read to move the pages (background reclaim may write meanwhile). */
	CHECK_EQ(stat_of(ctx, NULL, "pswpin"), in0);
	CHECK_EQ(uswap_region_find(ctx, m, NULL, NULL), -ENOENT);
	check_invariants(ctx);
	verify(m2, n, 2, 0, "after mremap grow");
	CHECK(all_zero(m2 + n * PG, n * PG));
	/* Shrink in place. */
	CHECK_EQ(uswap_mremap(ctx, m2, 2 * n * PG, n / 2 * PG, 0, NULL, (void **)&m3), 0);
	CHECK(m3 == m2);
	verify(m2, n / 2, 2, 0, "after mremap shrink");
	/* Move to a fixed address (reserve one first, as a program would). */
	fixed = mmap(NULL, n / 2 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(fixed != MAP_FAILED);
	CHECK_EQ(uswap_mremap(ctx, m2, n / 2 * PG, n / 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, fixed,
			      (void **)&m3), 0);
	CHECK(m3 == fixed);
	verify(m3, n / 2, 2, 0, "after mremap fixed");
	CHECK_EQ(uswap_mremap(ctx, m3, PG, PG, MREMAP_FIXED, NULL, (void **)&m2), -EINVAL);
	CHECK_EQ(uswap_munmap(ctx, m3, n / 2 * PG), 0);
	CHECK_EQ(stat_of(ctx, NULL, "nr_swapped"), 0);
	check_invariants(ctx);
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
}

static void test_madvise(void)
{
	struct uswap_ctx *ctx = func_ctx(LIMIT, USWAP_MODE_THREAD, 0);
	const size_t n = 1024;
	unsigned char *m = NULL;

	CHECK_EQ(uswap_swapon(ctx, "zram:lz4:size=64M", 0, NULL), 0);
	CHECK_EQ(uswap_mmap(ctx, NULL, n * PG, (void **)&m), 0);
	fill(m, n, 3, 0);
	/* WILLNEED: the first 128 pages come in now; reading them is no major fault. */
	CHECK_EQ(uswap_madvise(ctx, m, 128 * PG, MADV_WILLNEED), 0);
	uint64_t maj = stat_of(ctx, NULL, "pgmajfault");
	verify(m, 128, 3, 0, "after WILLNEED");
	CHECK_EQ(stat_of(ctx, NULL, "pgmajfault"), maj);
	/* PAGEOUT: they go out at once, and come back intact. */
	uint64_t out = stat_of(ctx, NULL, "pswpout");
	CHECK_EQ(uswap_madvise(ctx, m, 128 * PG, MADV_PAGEOUT), 0);
	CHECK(stat_of(ctx, NULL, "pswpout") > out);
	verify(m, 128, 3, 0, "after PAGEOUT");
	CHECK_EQ(uswap_madvise(ctx, m, 128 * PG, MADV_COLD), 0);
	/* DONTNEED and FREE: the pages read back as zeroes, resident or swapped. */
	CHECK_EQ(uswap_madvise(ctx, m + 200 * PG, 100 * PG, MADV_DONTNEED), 0);
	CHECK_EQ(uswap_madvise(ctx, m + 900 * PG, 100 * PG, MADV_FREE), 0);
	CHECK(all_zero(m + 200 * PG, 100 * PG));
	CHECK(all_zero(m + 900 * PG, 100 * PG));
	verify(m + 300 * PG, 600, 3, 300, "around DONTNEED");
	CHECK_EQ(uswap_madvise(ctx, m, PG, MADV_HUGEPAGE), -EINVAL);
	CHECK_EQ(uswap_madvise(ctx, m + 1, PG, MADV_COLD), -EINVAL);
	check_invariants(ctx);
	CHECK_EQ(uswap_munmap(ctx, m, n * PG), 0);
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
}

/* mlock: pinned pages stay resident while 4x the limit streams past. */
static void test_mlock(void)
{
	struct uswap_ctx *ctx = func_ctx(LIMIT, USWAP_MODE_THREAD, 0);
	const size_t n = 2048;
	unsigned char *m = NULL;

	CHECK_EQ(uswap_swapon(ctx, "zram:lz4:size=64M", 0, NULL), 0);
	CHECK_EQ(uswap_mmap(ctx, NULL, n * PG, (void **)&m), 0);
	fill(m, n, 4, 0);
	CHECK_EQ(uswap_mlock(ctx, m, 64 * PG, true), 0);
	CHECK_EQ(uswap_mlock(ctx, m, n * PG, true), -ENOMEM); /* more than half the limit */
	for (int pass = 0; pass < 2; pass++)
		verify(m + 64 * PG, n - 64, 4, 64, "streaming");
	uint64_t faults = stat_of(ctx, NULL, "pgfault");
	verify(m, 64, 4, 0, "pinned");
	CHECK_EQ(stat_of(ctx, NULL, "pgfault"), faults); /* never left */
	CHECK_EQ(uswap_mlock(ctx, m, 64 * PG, false), 0);
	for (int pass = 0; pass < 2; pass++)
		verify(m + 64 * PG, n - 64, 4, 64, "streaming");
	faults = stat_of(ctx, NULL, "pgfault");
	verify(m, 64, 4, 0, "unpinned");
	CHECK(stat_of(ctx, NULL, "pgfault") > faults); /* evicted once unpinned */
	check_invariants(ctx);
	CHECK_EQ(uswap_munmap(ctx, m, n * PG), 0);
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
}

/* fork: the child gets a whole private copy; neither side sees the other's writes. */
static void test_fork(enum uswap_fault_mode mode)
{
	struct uswap_ctx *ctx = func_ctx(LIMIT, mode, 0);
	const size_t n = 2048;
	unsigned char *m = NULL;
	int status;
	pid_t pid;

	CHECK_EQ(uswap_swapon(ctx, "zram:lz4:size=64M", 0, NULL), 0);
	CHECK_EQ(uswap_mmap(ctx, NULL, n * PG, (void **)&m), 0);
	fill(m, n, 5, 0);
	CHECK(stat_of(ctx, NULL, "nr_swapped") > n / 2);
	CHECK_EQ(uswap_fork_prepare(ctx), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int rc = uswap_fork_child(ctx);
		if (rc) {
			fprintf(stderr, "child: uswap_fork_child %d\n", rc);
			_exit(2);
		}
		verify(m, n, 5, 0, "child copy");
		fill(m, n, 6, 0); /* the child's own writes */
		verify(m, n, 6, 0, "child writes");
		_exit(0);
	}
	uswap_fork_parent(ctx);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	verify(m, n, 5, 0, "parent after child");
	check_invariants(ctx);
	CHECK_EQ(uswap_munmap(ctx, m, n * PG), 0);
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
}

int main(int argc, char **argv)
{
	alarm(100);
	if (argc > 1) { /* run some cases only: munmap mremap madvise mlock fork forksig */
		for (int i = 1; i < argc; i++) {
			if (!strcmp(argv[i], "mlock"))
				test_mlock();
			if (!strcmp(argv[i], "madvise"))
				test_madvise();
			if (!strcmp(argv[i], "mremap"))
				test_mremap();
			if (!strcmp(argv[i], "munmap"))
				test_partial_munmap();
			if (!strcmp(argv[i], "fork"))
				test_fork(USWAP_MODE_THREAD);
			if (!strcmp(argv[i], "forksig"))
				test_fork(USWAP_MODE_SIGNAL);
		}
		return 0;
	}
	test_partial_munmap();
	test_mremap();
	test_madvise();
	test_mlock();
	test_fork(USWAP_MODE_THREAD);
	test_fork(USWAP_MODE_SIGNAL);
	return 0;
}
