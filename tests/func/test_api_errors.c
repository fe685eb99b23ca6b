/* SPDX-License-Identifier: MIT */
/*
 * test_api_errors - every public function, given bad input, returns the
 * -errno that uswap.h documents and changes nothing: afterwards the context
 * still maps, swaps and verifies memory and passes the invariant check.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>

#include "check.h"
#include "helper_func.h"

#define LIMIT (2ULL << 20) /* the final check maps twice this: it must swap */
#define MAP_SIZE (4ULL << 20)
#define NPAGES (MAP_SIZE / 4096)

/* Create a context from @o; on success destroy it at once.  Return: the create result. */
static int try_create(const struct uswap_opts *o)
{
	struct uswap_ctx *ctx = (struct uswap_ctx *)0x1;
	int rc = uswap_ctx_create(o, &ctx);
	if (rc == 0)
		CHECK_EQ(uswap_ctx_destroy(ctx), 0);
	return rc;
}

static void test_version(void)
{
	CHECK_EQ(uswap_version(), USWAP_VERSION_NUMBER);
	CHECK_EQ(USWAP_VERSION_NUMBER,
		 USWAP_VERSION_MAJOR * 10000 + USWAP_VERSION_MINOR * 100 + USWAP_VERSION_PATCH);
}

static void test_ctx_create(void)
{
	struct uswap_opts o;
	struct uswap_ctx *ctx = NULL;

	/* NULL output pointer, with and without options. */
	CHECK_EQ(uswap_ctx_create(NULL, NULL), -EINVAL);
	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	CHECK_EQ(uswap_ctx_create(&o, NULL), -EINVAL);

	/* opts.size too small / too large. */
	memset(&o, 0, sizeof(o));
	o.size = 0;
	CHECK_EQ(try_create(&o), -EINVAL);
	o.size = offsetof(struct uswap_opts, flags) - 1;
	CHECK_EQ(try_create(&o), -EINVAL);
	o.size = sizeof(o) + 1;
	CHECK_EQ(try_create(&o), -EINVAL);
	o.size = sizeof(o) * 2;
	CHECK_EQ(try_create(&o), -EINVAL);

	/* Bad mode. */
	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.mode = (enum uswap_fault_mode)2;
	CHECK_EQ(try_create(&o), -EINVAL);
	o.mode = (enum uswap_fault_mode)-1;
	CHECK_EQ(try_create(&o), -EINVAL);

	/* Unknown flag bits. */
	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.flags = USWAP_F_ALL + 1; /* the first undefined bit */
	CHECK_EQ(try_create(&o), -EINVAL);
	o.flags = 1u << 31;
	CHECK_EQ(try_create(&o), -EINVAL);
	o.flags = USWAP_F_NO_KSWAPD | (1u << 7);
	CHECK_EQ(try_create(&o), -EINVAL);
	o.flags = USWAP_F_NO_KSWAPD | USWAP_F_KSWAPD; /* contradictory */
	CHECK_EQ(try_create(&o), -EINVAL);

	/* Too many handler threads. */
	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.nr_handlers = 65;
	CHECK_EQ(try_create(&o), -EINVAL);
	o.nr_handlers = ~0u;
	CHECK_EQ(try_create(&o), -EINVAL);

	/* A root limit below 16 pages (0 means unlimited and is valid). */
	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.limit_bytes = 1;
	CHECK_EQ(try_create(&o), -EINVAL);
	o.limit_bytes = 16 * 4096 - 1;
	CHECK_EQ(try_create(&o), -EINVAL);
	o.limit_bytes = 15 * 4096;
	CHECK_EQ(try_create(&o), -EINVAL);

	/* The boundaries just inside are accepted. */
	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.limit_bytes = 16 * 4096;
	o.nr_handlers = 2;
	o.flags = USWAP_F_NO_MOVE; /* (NO_MOVE with NO_KSWAPD is refused: WP eviction needs kswapd) */
	CHECK_EQ(uswap_ctx_create(&o, &ctx), 0);
	CHECK(ctx != NULL);
	CHECK_EQ(stat_of(ctx, NULL, "nr_limit"), 16);
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
	/* An older, shorter struct (up to flags, exclusive) is accepted. */
	memset(&o, 0, sizeof(o));
	o.size = offsetof(struct uswap_opts, flags);
	o.flags = ~0u; /* beyond o.size: must be ignored */
	CHECK_EQ(try_create(&o), 0);

	CHECK_EQ(uswap_ctx_destroy(NULL), -EINVAL);
}

static void test_swapon_swapoff(struct uswap_ctx *ctx)
{
	static const char *const bad_zram[] = {
		"zram:lz5", "zram:size=abc", "zram:size=0", "zram:lz4:bogus=1", "zram:size=-5",
		"zram:size=4097", "zram:size=1M:size=2M", "zram:lz4:zstd", "zram:lz4::size=1M",
		"zram:lz4:level=3", "zram:zstd:level=abc", "zram:size=", "zram:size=1X",
	};
	char longspec[200];
	int id = -1, ids[MAX_SWAPFILES];

	CHECK_EQ(uswap_swapon(NULL, "zram:size=1M", 0, &id), -EINVAL);
	CHECK_EQ(uswap_swapon(ctx, NULL, 0, &id), -EINVAL);
	CHECK_EQ(uswap_swapon(ctx, "", 0, &id), -EINVAL);
	memset(longspec, 0, sizeof(longspec));
	strcpy(longspec, "zram:lz4:size=1M:");
	memset(longspec + strlen(longspec), 'x', sizeof(longspec) - strlen(longspec) - 1);
	CHECK_EQ(uswap_swapon(ctx, longspec, 0, &id), -EINVAL);
	CHECK_EQ(id, -1); /* untouched on error */

	CHECK_EQ(uswap_swapon(ctx, "nosuch:x", 0, &id), -ENODEV);
	CHECK_EQ(uswap_swapon(ctx, "nosuch", 0, &id), -ENODEV);
	CHECK_EQ(uswap_swapon(ctx, "zramx:lz4", 0, &id), -ENODEV);
	CHECK_EQ(uswap_swapon(ctx, ":lz4", 0, &id), -ENODEV);
	for (size_t i = 0; i < sizeof(bad_zram) / sizeof(bad_zram[0]); i++) {
		int rc = uswap_swapon(ctx, bad_zram[i], 0, &id);
		if (rc != -EINVAL) {
			fprintf(stderr, "swapon \"%s\": %d, expected %d\n", bad_zram[i], rc, -EINVAL);
			exit(1);
		}
	}
	CHECK_EQ(id, -1);
	/* Nothing was added by the failures. */
	CHECK_EQ(stat_of(ctx, NULL, "swap_total"), 0);

	/* swapoff of ids out of range and never used. */
	CHECK_EQ(uswap_swapoff(NULL, 0), -EINVAL);
	CHECK_EQ(uswap_swapoff(ctx, -1), -EINVAL);
	CHECK_EQ(uswap_swapoff(ctx, MAX_SWAPFILES), -EINVAL);
	CHECK_EQ(uswap_swapoff(ctx, 1 << 20), -EINVAL);
	CHECK_EQ(uswap_swapoff(ctx, 0), -EINVAL);
	CHECK_EQ(uswap_swapoff(ctx, 5), -EINVAL);

	/* Fill every device slot with small devices; the 33rd is refused. */
	for (int i = 0; i < MAX_SWAPFILES; i++) {
		ids[i] = -1;
		CHECK_EQ(uswap_swapon(ctx, "zram:size=1M", i, &ids[i]), 0);
		CHECK(ids[i] >= 0 && ids[i] < MAX_SWAPFILES);
		for (int j = 0; j < i; j++)
			CHECK(ids[j] != ids[i]);
	}
	CHECK_EQ(stat_of(ctx, NULL, "swap_total"), MAX_SWAPFILES * 256ULL);
	id = -1;
	CHECK_EQ(uswap_swapon(ctx, "zram:size=1M", 0, &id), -EBUSY);
	CHECK_EQ(uswap_swapon(ctx, "zram:size=1M", 0, NULL), -EBUSY);
	CHECK_EQ(id, -1);
	CHECK_EQ(stat_of(ctx, NULL, "swap_total"), MAX_SWAPFILES * 256ULL);

	/* Remove one: its id is free again and can be reused; removing it twice fails. */
	CHECK_EQ(uswap_swapoff(ctx, ids[7]), 0);
	CHECK_EQ(uswap_swapoff(ctx, ids[7]), -EINVAL);
	CHECK_EQ(uswap_swapon(ctx, "zram:size=1M", 0, &id), 0);
	CHECK_EQ(id, ids[7]);
	CHECK_EQ(uswap_swapon(ctx, "zram:size=1M", 0, NULL), -EBUSY);

	/* Remove all; every id is then unknown. */
	for (int i = 0; i < MAX_SWAPFILES; i++)
		CHECK_EQ(uswap_swapoff(ctx, ids[i]), 0);
	for (int i = 0; i < MAX_SWAPFILES; i++)
		CHECK_EQ(uswap_swapoff(ctx, i), -EINVAL);
	CHECK_EQ(stat_of(ctx, NULL, "swap_total"), 0);
	check_invariants(ctx);
}

static void test_groups(struct uswap_ctx *ctx, struct uswap_ctx *other)
{
	struct uswap_group *g = (struct uswap_group *)0x1, *groups[MAX_GROUPS + 1];
	struct uswap_group *root = uswap_root_group(ctx);
	char name[80];
	void *mem = NULL;
	int n = 0;

	CHECK(root != NULL);
	CHECK(uswap_root_group(NULL) == NULL);
	CHECK(uswap_root_group(other) != root);

	/* group_create. */
	CHECK_EQ(uswap_group_create(NULL, "x", 0, &g), -EINVAL);
	CHECK_EQ(uswap_group_create(ctx, "x", 0, NULL), -EINVAL);
	CHECK_EQ(uswap_group_create(ctx, "x", 1, &g), -EINVAL);
	CHECK_EQ(uswap_group_create(ctx, "x", 15 * 4096, &g), -EINVAL);
	CHECK_EQ(uswap_group_create(ctx, "x", 16 * 4096 - 1, &g), -EINVAL);
	memset(name, 'n', sizeof(name));
	name[64] = '\0'; /* 64 characters: too long */
	CHECK_EQ(uswap_group_create(ctx, name, 0, &g), -EINVAL);
	name[79] = '\0';
	memset(name, 'n', 79);
	CHECK_EQ(uswap_group_create(ctx, name, 0, &g), -EINVAL);
	CHECK(g == (struct uswap_group *)0x1); /* untouched on error */

	/* Up to MAX_GROUPS groups besides the root; the next is refused. */
	for (n = 0; n < MAX_GROUPS; n++) {
		memset(name, 'a' + n % 26, 63);
		name[63] = '\0'; /* 63 characters: the longest allowed */
		groups[n] = NULL;
		CHECK_EQ(uswap_group_create(ctx, n % 2 ? name : NULL, n % 3 ? 16 * 4096 : 0, &groups[n]), 0);
		CHECK(groups[n] != NULL && groups[n] != root);
	}
	CHECK_EQ(uswap_group_create(ctx, "one-too-many", 0, &g), -ENOSPC);
	CHECK_EQ(uswap_group_create(ctx, NULL, 1 << 20, &g), -ENOSPC);
	/* Freeing one makes room for exactly one. */
	CHECK_EQ(uswap_group_destroy(groups[100]), 0);
	CHECK_EQ(uswap_group_create(ctx, "again", 0, &groups[100]), 0);
	CHECK_EQ(uswap_group_create(ctx, "again2", 0, &g), -ENOSPC);
	for (n = 0; n < MAX_GROUPS; n++)
		CHECK_EQ(uswap_group_destroy(groups[n]), 0);

	/* group_destroy: NULL, root, a group with regions. */
	CHECK_EQ(uswap_group_destroy(NULL), -EINVAL);
	CHECK_EQ(uswap_group_destroy(root), -EINVAL);
	CHECK_EQ(uswap_group_destroy(uswap_root_group(other)), -EINVAL);
	CHECK_EQ(uswap_group_create(ctx, "busy", 64 * 4096, &g), 0);
	CHECK_EQ(uswap_mmap(ctx, g, 8 * 4096, &mem), 0);
	memset(mem, 0x5a, 8 * 4096);
	CHECK_EQ(uswap_group_destroy(g), -EBUSY);

	/* set_limit: NULL, below 16 pages; the limit stays as it was. */
	CHECK_EQ(uswap_group_set_limit(NULL, 1 << 20), -EINVAL);
	CHECK_EQ(uswap_group_set_limit(g, 1), -EINVAL);
	CHECK_EQ(uswap_group_set_limit(g, 15 * 4096), -EINVAL);
	CHECK_EQ(uswap_group_set_limit(g, 16 * 4096 - 1), -EINVAL);
	CHECK_EQ(uswap_group_set_limit(root, 4096), -EINVAL);
	CHECK_EQ(stat_of(ctx, g, "nr_limit"), 64);
	CHECK_EQ(stat_of(ctx, root, "nr_limit"), LIMIT / 4096);
	CHECK_EQ(uswap_group_set_limit(g, 32 * 4096), 0);
	CHECK_EQ(stat_of(ctx, g, "nr_limit"), 32);

	/* set_oom: NULL, unknown policies. */
	CHECK_EQ(uswap_group_set_oom(NULL, USWAP_OOM_ERROR), -EINVAL);
	CHECK_EQ(uswap_group_set_oom(g, (enum uswap_oom_policy)3), -EINVAL);
	CHECK_EQ(uswap_group_set_oom(g, (enum uswap_oom_policy)-1), -EINVAL);
	CHECK_EQ(uswap_group_set_oom(g, (enum uswap_oom_policy)1000), -EINVAL);
	CHECK_EQ(uswap_group_set_oom(g, USWAP_OOM_WAIT), 0);
	CHECK_EQ(uswap_group_set_oom(g, USWAP_OOM_ERROR), 0);

	/* Statistics and reclaim of a group of another context. */
	struct uswap_stats st;
	CHECK_EQ(uswap_stats_get(other, g, &st), -EINVAL);
	CHECK_EQ(uswap_reclaim(other, g, 1, NULL), -EINVAL);
	CHECK_EQ(uswap_mmap(other, g, 4096, &mem), -EINVAL);

	for (size_t i = 0; i < 8 * 4096; i++)
		CHECK_EQ(((unsigned char *)mem)[i], 0x5a);
	CHECK_EQ(uswap_munmap(ctx, mem, 8 * 4096), 0);
	CHECK_EQ(uswap_group_destroy(g), 0);
	check_invariants(ctx);
}

static void test_mmap_munmap(struct uswap_ctx *ctx, struct uswap_ctx *other)
{
	struct uswap_group *og = NULL;
	void *mem = (void *)0x1, *m2 = NULL;
	const size_t len = 16 * 4096;

	CHECK_EQ(uswap_mmap(NULL, NULL, len, &mem), -EINVAL);
	CHECK_EQ(uswap_mmap(ctx, NULL, len, NULL), -EINVAL);
	CHECK_EQ(uswap_mmap(ctx, NULL, 0, &mem), -EINVAL);
	CHECK_EQ(uswap_mmap(ctx, NULL, 1ULL << 47, &mem), -EINVAL);
	CHECK_EQ(uswap_mmap(ctx, NULL, SIZE_MAX, &mem), -EINVAL);
	CHECK_EQ(uswap_mmap(ctx, uswap_root_group(other), len, &mem), -EINVAL);
	CHECK_EQ(uswap_group_create(other, "other", 0, &og), 0);
	CHECK_EQ(uswap_mmap(ctx, og, len, &mem), -EINVAL);
	CHECK(mem == (void *)0x1); /* untouched on error */
	CHECK_EQ(uswap_group_destroy(og), 0);

	/* A real region (length not a page multiple: rounded up). */
	CHECK_EQ(uswap_mmap(ctx, NULL, len - 100, &mem), 0);
	CHECK(mem != NULL && ((uintptr_t)mem & 4095) == 0);
	memset(mem, 0x77, len);
	CHECK_EQ(uswap_mmap(ctx, NULL, len, &m2), 0);

	CHECK_EQ(uswap_munmap(NULL, mem, len), -EINVAL);
	CHECK_EQ(uswap_munmap(ctx, NULL, len), -EINVAL);
	/* (A page-aligned part of a region is a valid partial munmap: test_mm_ops.) */
	CHECK_EQ(uswap_munmap(ctx, (char *)mem + 100, len), -EINVAL);	       /* inside, unaligned */
	CHECK_EQ(uswap_munmap(ctx, mem, len + 4096), -EINVAL);		       /* too long */
	CHECK_EQ(uswap_munmap(ctx, (char *)mem + 4096, len), -EINVAL);	       /* runs past the end */
	CHECK_EQ(uswap_munmap(ctx, mem, 0), -EINVAL);
	CHECK_EQ(uswap_munmap(ctx, mem, 2 * len), -EINVAL); /* spans both regions */
	CHECK_EQ(uswap_munmap(ctx, &og, 4096), -EINVAL);    /* not managed at all */
	CHECK_EQ(uswap_munmap(other, mem, len), -EINVAL);   /* managed by another context */
	/* Still intact after the refusals. */
	for (size_t i = 0; i < len; i++)
		CHECK_EQ(((unsigned char *)mem)[i], 0x77);
	/* The right call (the length rounds up to the same pages) works once. */
	CHECK_EQ(uswap_munmap(ctx, mem, len - 1), 0);
	CHECK_EQ(uswap_munmap(ctx, mem, len), -EINVAL);
	CHECK_EQ(uswap_munmap(ctx, m2, len), 0);
	check_invariants(ctx);
}

static void test_stats(struct uswap_ctx *ctx)
{
	struct uswap_stats st;

	CHECK_EQ(uswap_stats_get(NULL, NULL, &st), -EINVAL);
	CHECK_EQ(uswap_stats_get(ctx, NULL, NULL), -EINVAL);
	CHECK_EQ(uswap_stats_get(ctx, uswap_root_group(ctx), NULL), -EINVAL);
	CHECK_EQ(uswap_stat_index("nosuch"), -ENOENT);
	CHECK_EQ(uswap_stat_index(""), -ENOENT);
	CHECK_EQ(uswap_stat_index("pgfault "), -ENOENT);
	CHECK_EQ(uswap_stat_index(NULL), -EINVAL);
	CHECK_EQ(uswap_stats_get(ctx, NULL, &st), 0);
	CHECK(st.nr > 0 && st.nr <= USWAP_NR_STATS);
	/* Every valid index has a name that maps back to it; the rest have none. */
	for (unsigned int i = 0; i < st.nr; i++) {
		const char *n = uswap_stat_name(i);
		CHECK(n != NULL);
		CHECK_EQ(uswap_stat_index(n), i);
	}
	CHECK(uswap_stat_name(st.nr) == NULL);
	CHECK(uswap_stat_name(USWAP_NR_STATS) == NULL);
	CHECK(uswap_stat_name(USWAP_NR_STATS + 1) == NULL);
	CHECK(uswap_stat_name(~0u) == NULL);
	CHECK(uswap_stat_name((unsigned int)-1 / 2 + 1) == NULL);

	/* reclaim. */
	uint64_t got = 12345;
	CHECK_EQ(uswap_reclaim(NULL, NULL, 1, &got), -EINVAL);
	CHECK_EQ(uswap_reclaim(ctx, NULL, 0, &got), -EINVAL);
	CHECK_EQ(uswap_reclaim(ctx, uswap_root_group(ctx), 0, NULL), -EINVAL);
	CHECK_EQ(got, 12345);
	CHECK_EQ(uswap_reclaim(ctx, NULL, 1, NULL), 0);

	/* sigbus_dispatch: anything that is not a uswap fault is not taken. */
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_signo = SIGBUS;
	si.si_addr = &si;
	CHECK_EQ(uswap_sigbus_dispatch(SIGBUS, NULL, NULL), 0);
	CHECK_EQ(uswap_sigbus_dispatch(SIGSEGV, &si, NULL), 0);
	CHECK_EQ(uswap_sigbus_dispatch(SIGBUS, &si, NULL), 0); /* no signal-mode context */
}

/* The context still works: map, write, swap, verify. */
static void test_still_works(struct uswap_ctx *ctx)
{
	unsigned char *mem = NULL;
	int id = -1;

	CHECK_EQ(uswap_swapon(ctx, "zram:lz4:size=64M", 0, &id), 0);
	CHECK(id >= 0);
	CHECK_EQ(uswap_mmap(ctx, NULL, MAP_SIZE, (void **)&mem), 0);
	for (uint64_t p = 0; p < NPAGES; p++)
		fill_page(mem + p * 4096, 42, p, FILL_HALF);
	for (uint64_t p = 0; p < NPAGES; p++)
		if (!verify_page(mem + p * 4096, 42, p, FILL_HALF)) {
			fprintf(stderr, "page %llu wrong\n", (unsigned long long)p);
			print_stats(ctx);
			exit(1);
		}
	CHECK(stat_of(ctx, NULL, "pswpout") > 0);
	CHECK(stat_of(ctx, NULL, "pswpin") > 0);
	CHECK(stat_of(ctx, NULL, "nr_usage_max") <= LIMIT / 4096);
	CHECK_EQ(stat_of(ctx, NULL, "swpin_poison"), 0);
	check_invariants(ctx);
	CHECK_EQ(uswap_munmap(ctx, mem, MAP_SIZE), 0);
	CHECK_EQ(uswap_swapoff(ctx, id), 0);
	check_invariants(ctx);
}

int main(void)
{
	struct uswap_ctx *ctx, *other;

	test_version();
	ctx = func_ctx(LIMIT, USWAP_MODE_THREAD, 0); /* skips if userfaultfd is unavailable */
	test_ctx_create();
	other = func_ctx(0, USWAP_MODE_THREAD, 0);
	test_swapon_swapoff(ctx);
	test_groups(ctx, other);
	test_mmap_munmap(ctx, other);
	test_stats(ctx);
	test_still_works(ctx);
	CHECK_EQ(uswap_ctx_destroy(other), 0);
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
	return 0;
}
