/* SPDX-License-Identifier: MIT */
/*
 * test_move_misreport - UFFDIO_MOVE can move pages out of the program and
 * report that it moved none (Linux 6.18: a batch that moves pages and then
 * meets a busy page is retried from its start, finds its destination full,
 * and the call fails with EEXIST).  Believing the count lost those pages:
 * the frames holding them were freed, and the program's next access found
 * neither page nor slot (SIGBUS).  Here the real userfaultfd MMU's
 * move_out reports -EEXIST after every third run it moved (a test hook,
 * uffd_test_move_lie).  Every page must read back right, the recovered pages be
 * counted (move_recovered), and nothing be poisoned.
 */
#include <errno.h>

#include "check.h"
#include "helper_func.h"

#define NPAGES 8192 /* 32 MiB */
#define LIMIT (8ULL << 20)


int main(void)
{
	struct uswap_opts o = { .size = sizeof(o), .limit_bytes = LIMIT };
	struct uswap_ctx *ctx = func_ctx_opts(&o);
	unsigned char *mem;

	atomic_store(&uffd_test_move_lie, 3);
	if (!ctx->use_move) {
		uswap_ctx_destroy(ctx);
		SKIP("no UFFDIO_MOVE");
	}
	CHECK_EQ(uswap_swapon(ctx, "zram:lz4:size=128M", 0, NULL), 0);
	CHECK_EQ(uswap_mmap(ctx, NULL, NPAGES * 4096ULL, (void **)&mem), 0);
	for (int round = 0; round < 3; round++) {
		for (uint64_t p = 0; p < NPAGES; p++)
			fill_page(mem + p * 4096, 11 + (uint64_t)round, p, FILL_HALF);
		for (uint64_t p = 0; p < NPAGES; p++)
			CHECK(verify_page(mem + p * 4096, 11 + (uint64_t)round, p, FILL_HALF));
	}
	/* At least one page per lie (a lie covers a whole moved run). */
	CHECK(stat_of(ctx, NULL, "move_recovered") > 10);
	CHECK_EQ(stat_of(ctx, NULL, "swpin_poison"), 0);
	CHECK_EQ(stat_of(ctx, NULL, "oom"), 0);
	CHECK(stat_of(ctx, NULL, "pswpin") > NPAGES);
	check_invariants(ctx);
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
	return 0;
}
