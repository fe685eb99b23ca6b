/* SPDX-License-Identifier: MIT */
/*
 * test_file_swap - swapping to a file (and to tier: compressed RAM in front of
 * a file) through the public API: a region 4x its group's limit is written
 * and verified page by page, in thread and signal mode; the counters must
 * show pages going out and coming back, the file must have taken them (its
 * I/O counters), and a swapoff of the file while it holds pages - onto a
 * zram device of lower priority - must lose nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "check.h"
#include "helper_func.h"

#define LIMIT (8ULL << 20)
#define SIZE (4 * LIMIT)
#define NPAGES (SIZE / 4096)

static char dir[256];

/* The backend stat of device @id (the core's swap_info). */
static void dev_stat(struct uswap_ctx *ctx, int id, struct backend_stat *st)
{
	struct swap_info *si = atomic_load(&ctx->swap_info[id]);

	CHECK(si != NULL);
	CHECK_EQ(si->ops->stat(si->priv, st), 0);
}

static int kind_of(uint64_t p)
{
	return p % 4 == 0 ? FILL_SAME : p % 4 == 1 ? FILL_RANDOM : FILL_HALF;
}

static void run(const char *backend, enum uswap_fault_mode mode)
{
	struct uswap_ctx *ctx = func_ctx(LIMIT, mode, 0);
	struct backend_stat st;
	unsigned char *mem = NULL;
	char spec[400], path[300];
	int id, zid;
	uint64_t out, in;

	snprintf(path, sizeof(path), "%s/swap", dir);
	if (!strcmp(backend, "file"))
		snprintf(spec, sizeof(spec), "file:%s:size=128M", path);
	else
		snprintf(spec, sizeof(spec), "tier:lz4:mem_limit=2M:file=%s:size=128M", path);
	CHECK_EQ(uswap_swapon(ctx, spec, 10, &id), 0);
	/* A second instance on the same file is refused. */
	CHECK_EQ(uswap_swapon(ctx, spec, 5, NULL), -EBUSY);
	CHECK_EQ(uswap_mmap(ctx, NULL, SIZE, (void **)&mem), 0);

	for (uint64_t p = 0; p < NPAGES; p++)
		fill_page(mem + p * 4096, 1, p, kind_of(p));
	for (uint64_t p = 0; p < NPAGES; p++)
		if (!verify_page(mem + p * 4096, 1, p, kind_of(p))) {
			fprintf(stderr, "%s: page %llu wrong\n", spec, (unsigned long long)p);
			print_stats(ctx);
			exit(1);
		}
	out = stat_of(ctx, NULL, "pswpout");
	in = stat_of(ctx, NULL, "pswpin");
	CHECK(out >= (NPAGES - LIMIT / 4096) * 3 / 4 - 64); /* same-filled ones count too */
	CHECK(in > 0);
	CHECK_EQ(stat_of(ctx, NULL, "swpin_poison"), 0);
	CHECK(stat_of(ctx, NULL, "nr_usage_max") <= LIMIT / 4096);
	dev_stat(ctx, id, &st);
	CHECK(st.nr_stored > 0);
	CHECK(st.writes > 0 && st.bytes_written == st.writes * 4096);
	/* The same through the public counters (one device here). */
	CHECK_EQ(stat_of(ctx, NULL, "dev_bytes_written"), st.bytes_written);
	CHECK_EQ(stat_of(ctx, NULL, "dev_bytes_read"), st.bytes_read);
	if (getenv("VERBOSE")) {
		fprintf(stderr, "%s: device writes %llu reads %llu stored %llu\n", spec,
			(unsigned long long)st.writes, (unsigned long long)st.reads,
			(unsigned long long)st.nr_stored);
		print_stats(ctx);
	}
	check_invariants(ctx);

	/* swapoff while the file holds pages: they go to zram (lower priority). */
	CHECK_EQ(uswap_swapon(ctx, "zram:lz4:size=256M", 0, &zid), 0);
	CHECK_EQ(uswap_swapoff(ctx, id), 0);
	CHECK(stat_of(ctx, NULL, "swapoff_pages") > 0);
	check_invariants(ctx);
	for (uint64_t p = 0; p < NPAGES; p++)
		CHECK(verify_page(mem + p * 4096, 1, p, kind_of(p)));
	/* The file is free again: a new swapon takes it. */
	CHECK_EQ(uswap_swapon(ctx, spec, 10, &id), 0);
	for (uint64_t p = 0; p < NPAGES; p += 2)
		fill_page(mem + p * 4096, 2, p, kind_of(p));
	for (uint64_t p = 0; p < NPAGES; p++)
		CHECK(verify_page(mem + p * 4096, p % 2 ? 1 : 2, p, kind_of(p)));
	CHECK_EQ(stat_of(ctx, NULL, "swpin_poison"), 0);
	check_invariants(ctx);
	CHECK_EQ(uswap_munmap(ctx, mem, SIZE), 0);
	CHECK_EQ(stat_of(ctx, NULL, "nr_swapped"), 0);
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
	unlink(path);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "%s", test_tmpdir("fswap"));
	run("file", USWAP_MODE_THREAD);
	run("file", USWAP_MODE_SIGNAL);
	run("tier", USWAP_MODE_THREAD);
	run("tier", USWAP_MODE_SIGNAL);
	return 0;
}
