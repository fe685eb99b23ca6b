/* SPDX-License-Identifier: MIT */
/*
 * test_memory - the fault path (memory.c) against the fake MMU and fake
 * backend, one SPEC.md row per case.  Every page is verified, counters and
 * PTE states asserted, invariants checked after each case.
 */
#include <errno.h>
#include <sys/mman.h>
#include <string.h>

#include "check.h"
#include "helper_fake.h"

#define NP 256

static uint64_t ev(struct uswap_ctx *ctx, const char *name)
{
	struct uswap_stats st;
	uswap_stats_get(ctx, NULL, &st);
	return st.value[uswap_stat_index(name)];
}

static unsigned char *pg(size_t i)
{
	return fake.mem + (i << PAGE_SHIFT);
}

enum { IN_CACHE, ON_DEVICE, ON_DEVICE_WITH_DATA };

/* First page whose PTE is a swap entry in the given state; NP if none. */
static size_t find_swapped(struct uswap_ctx *ctx, struct region *r, int where)
{
	for (size_t i = 0; i < NP; i++) {
		pte_t pte = pte_read(r, i);
		if (!pte_is_swap(pte))
			continue;
		swp_tb_t t = atomic_load(swap_table_word(ctx, pte_to_swp_entry(pte)));
		bool cached = swp_tb_kind(t) == SLOT_CACHE;
		if ((where == IN_CACHE && cached) || (where == ON_DEVICE && !cached) ||
		    (where == ON_DEVICE_WITH_DATA && !cached && (t & SWP_TB_DATA)))
			return i;
	}
	return NP;
}

/* Write every page with content (seed, i), through faults. */
static void fill_all(struct uswap_ctx *ctx, struct region *r, uint64_t seed)
{
	for (size_t i = 0; i < NP; i++) {
		CHECK_EQ(fake_touch(ctx, r, i, true), 0);
		fill_page(pg(i), seed, i, FILL_HALF);
	}
}

static void verify_all(struct uswap_ctx *ctx, struct region *r, uint64_t seed)
{
	for (size_t i = 0; i < NP; i++) {
		CHECK_EQ(fake_touch(ctx, r, i, false), 0);
		if (!verify_page(pg(i), seed, i, FILL_HALF)) {
			fprintf(stderr, "page %zu corrupt\n", i);
			exit(1);
		}
	}
}

/* First touch maps zeroes and charges the group; the limit is held. */
static void test_first_touch(void)
{
	struct region *r;
	struct uswap_ctx *ctx = fake_setup(NP, 64, 1024, &r);

	for (size_t i = 0; i < NP; i++) {
		CHECK_EQ(fake_touch(ctx, r, i, false), 0);
		for (int k = 0; k < 4096; k++)
			CHECK(pg(i)[k] == 0);
		CHECK(atomic_load(&ctx->root.usage) <= 64);
	}
	/* Sequential first touches map the following pages too (zero fault-around). */
	CHECK_EQ(ev(ctx, "pgfault_zero") + ev(ctx, "pgfault_zero_around"), NP);
	CHECK(ev(ctx, "pgfault_zero") < NP / 8);
	/* every read fault, and every fault-around run, maps the zero page */
	CHECK(fake.nr_zero >= ev(ctx, "pgfault_zero") && fake.nr_zero <= 2 * ev(ctx, "pgfault_zero"));
	/* Never-written pages were all zero: evicted as markers, no slot, no write. */
	CHECK(ev(ctx, "swpout_zero") >= NP - 64);
	CHECK_EQ(ev(ctx, "pswpout"), 0);
	CHECK_EQ(fake_backend_writes(), 0);
	fake_teardown(ctx);
}

/* A sequential write fill maps real zeroed pages around each fault, never the
 * zero page (a write to it would cost the program a kernel COW fault). */
static void test_write_fault_around(void)
{
	struct region *r;
	struct uswap_ctx *ctx = fake_setup(NP, NP, 1024, &r);

	for (size_t i = 0; i < NP; i++) {
		CHECK_EQ(fake_touch(ctx, r, i, true), 0);
		for (int k = 0; k < 4096; k += 512)
			CHECK(pg(i)[k] == 0);
		fill_page(pg(i), 3, i, FILL_HALF);
	}
	CHECK_EQ(ev(ctx, "pgfault_zero") + ev(ctx, "pgfault_zero_around"), NP);
	CHECK(ev(ctx, "pgfault_zero") < NP / 8);
	CHECK_EQ(fake.nr_zero, 0);
	CHECK_EQ(fake.nr_copied_pages, NP);
	verify_all(ctx, r, 3);
	fake_teardown(ctx);
}

/* Rows 5-10, 13, 23: pages go out and come back intact; major faults counted. */
static void test_swap_roundtrip(void)
{
	struct region *r;
	struct uswap_ctx *ctx = fake_setup(NP, 64, 1024, &r);

	fill_all(ctx, r, 1);
	CHECK(ev(ctx, "pswpout") > 0);
	verify_all(ctx, r, 1);
	CHECK(ev(ctx, "pswpin") > 0);
	/* Every read is a major fault or a page read ahead by one (sequential: read-ahead kicks in). */
	CHECK_EQ(ev(ctx, "pgmajfault") + ev(ctx, "swap_ra"), ev(ctx, "pswpin"));
	CHECK(ev(ctx, "swap_ra") > 0);
	CHECK(ev(ctx, "swap_ra_hit") > 0);
	CHECK(ev(ctx, "pgmajfault") < ev(ctx, "pswpin") / 4);
	CHECK_EQ(ev(ctx, "pswpin"), fake_backend_reads());
	CHECK(ev(ctx, "nr_usage_max") <= 64);
	CHECK_EQ(ctx_check_invariants(ctx), 0);
	fake_teardown(ctx);
}

/* Row 1: a fault on a page another thread already mapped is spurious: wake only. */
static void test_spurious(void)
{
	struct region *r;
	struct uswap_ctx *ctx = fake_setup(NP, 0, 1024, &r);
	unsigned long wakes;

	CHECK_EQ(fake_touch(ctx, r, 3, true), 0);
	wakes = fake.nr_wake;
	CHECK_EQ(handle_fault(ctx, region_addr(r, 3), 0), 0);
	CHECK_EQ(ev(ctx, "spurious_fault"), 1);
	CHECK_EQ(fake.nr_wake, wakes + 1);
	CHECK_EQ(ev(ctx, "pgfault_zero"), 1);
	fake_teardown(ctx);
}

/*
 * Row 1, the other case: the kernel dropped a page uswap had mapped (a
 * madvise(DONTNEED) whose REMOVE was handled before its zap, with a fault
 * on the range in between).  The fault must not be taken as spurious, or
 * every retry faults again for ever: it maps zeroes (what the madvise asked
 * for), and a kept slot, now stale, is freed.
 */
static void test_refill_dropped(void)
{
	struct region *r;
	struct uswap_ctx *ctx = fake_setup(NP, 0, 1024, &r);

	CHECK_EQ(fake_touch(ctx, r, 5, true), 0);
	memset(fake.mem + (5 << PAGE_SHIFT), 0x5A, PAGE_SIZE);
	region_zap_range(ctx, r, 6, 2, true); /* the REMOVE event of the madvise */
	fake.present[5] = 0; /* the kernel's zap landed after our mapping */
	CHECK_EQ(handle_fault(ctx, region_addr(r, 5), 0), 0);
	CHECK_EQ(ev(ctx, "fault_refill"), 1);
	CHECK_EQ(ev(ctx, "spurious_fault"), 0);
	CHECK(fake.present[5]);
	for (size_t i = 0; i < PAGE_SIZE; i++)
		if (fake.mem[(5 << PAGE_SHIFT) + i]) {
			CHECK(!"refilled page is not zero");
			break;
		}
	/* Another fault there now is spurious. */
	CHECK_EQ(handle_fault(ctx, region_addr(r, 5), 0), 0);
	CHECK_EQ(ev(ctx, "spurious_fault"), 1);
	CHECK_EQ(ev(ctx, "fault_refill"), 1);
	CHECK_EQ(ctx_check_invariants(ctx), 0);
	fake_teardown(ctx);
}

/*
 * Reclaim while the group's only region is being destroyed (marked dead,
 * not yet unlinked: region_destroy waits for the regions lock to unlink
 * it): the clock sweep must end with nothing, not spin under that lock.
 */
static void test_reclaim_dead_region(void)
{
	struct region *r;
	struct uswap_ctx *ctx = fake_setup(NP, 0, 1024, &r);
	uint64_t freed = 1;

	fill_all(ctx, r, 3);
	atomic_store(&r->dead, true);
	CHECK_EQ(uswap_reclaim(ctx, NULL, 8, &freed), 0);
	CHECK_EQ(freed, 0);
	atomic_store(&r->dead, false);
	CHECK_EQ(uswap_reclaim(ctx, NULL, 8, &freed), 0);
	CHECK(freed > 0);
	verify_all(ctx, r, 3);
	fake_teardown(ctx);
}

/*
 * Overlapping regions: a region's fully unmapped part (MARKER_GONE) is the
 * kernel's again, and a new region may be placed there.  Lookups there find
 * the new region, elsewhere the old one; a gone page with no other region
 * still finds its own (the shim keeps such spans).
 */
static void test_lookup_overlap(void)
{
	struct region *r;
	struct uswap_ctx *ctx = fake_setup(NP, 0, 1024, &r);
	uintptr_t base = r->start;
	struct region *in = region_alloc(base + 8 * PAGE_SIZE, 4, r->group);
	struct region *after = region_alloc(base + NP * PAGE_SIZE, 2, r->group);

	for (size_t i = 4; i < 16; i++)
		r->ptes[i] = make_marker_pte(MARKER_GONE);
	CHECK(in && after);
	CHECK_EQ(region_insert(ctx, in), 0);
	CHECK_EQ(region_insert(ctx, after), 0);
	CHECK(region_lookup(ctx, base) == r);
	CHECK(region_lookup(ctx, base + 5 * PAGE_SIZE) == r);      /* gone, no other region */
	CHECK(region_lookup(ctx, base + 8 * PAGE_SIZE) == in);     /* gone in r, live in 'in' */
	CHECK(region_lookup(ctx, base + 11 * PAGE_SIZE + 7) == in);
	CHECK(region_lookup(ctx, base + 12 * PAGE_SIZE) == r);
	CHECK(region_lookup(ctx, base + 16 * PAGE_SIZE) == r);     /* live in r */
	CHECK(region_lookup(ctx, base + NP * PAGE_SIZE) == after);
	CHECK(region_lookup(ctx, base + (NP + 2) * PAGE_SIZE) == NULL);
	CHECK(region_lookup(ctx, base - 1) == NULL);
	CHECK_EQ(region_remove(ctx, in), 0);
	CHECK_EQ(region_remove(ctx, after), 0);
	region_free(in);
	region_free(after);
	for (size_t i = 4; i < 16; i++)
		r->ptes[i] = 0;
	fake_teardown(ctx);
}

/*
 * The same loss with no madvise to explain it (no REMOVE event on the
 * region): the data is gone, and the page is poisoned - an access raises
 * SIGBUS - never silently zero.
 */
static void test_lost_page_poisoned(void)
{
	struct region *r;
	struct uswap_ctx *ctx = fake_setup(NP, 0, 1024, &r);
	uint64_t resident;

	CHECK_EQ(fake_touch(ctx, r, 9, true), 0);
	resident = atomic_load(&ctx->root.nr_resident);
	fake.present[9] = 0; /* lost behind uswap's back */
	CHECK_EQ(handle_fault(ctx, region_addr(r, 9), 0), -EHWPOISON);
	CHECK_EQ(ev(ctx, "fault_refill"), 0);
	CHECK_EQ(ev(ctx, "swpin_poison"), 1);
	CHECK(fake.poisoned[9]);
	CHECK(pte_is_marker(pte_read(r, 9)) && pte_marker_kind(pte_read(r, 9)) == MARKER_POISON);
	CHECK_EQ(atomic_load(&ctx->root.nr_resident), resident - 1);
	CHECK_EQ(ctx_check_invariants(ctx), 0);
	fake_teardown(ctx);
}

/* Row 5: a page in the swap cache comes back as a minor fault, with a second chance. */
static void test_swapcache_hit(void)
{
	struct region *r;
	struct uswap_ctx *ctx = fake_setup(NP, 0, 1024, &r);
	uint64_t freed;

	fill_all(ctx, r, 2);
	/* Unlimited group: explicit reclaim moves pages into the swap cache first. */
	CHECK_EQ(uswap_reclaim(ctx, NULL, 8, &freed), 0);
	CHECK(atomic_load(&ctx->root.nr_swapcache) > 0);
	size_t victim = find_swapped(ctx, r, IN_CACHE);
	CHECK(victim < NP);
	uint64_t maj = ev(ctx, "pgmajfault");
	CHECK_EQ(fake_touch(ctx, r, victim, false), 0);
	CHECK(verify_page(pg(victim), 2, victim, FILL_HALF));
	CHECK_EQ(ev(ctx, "pgmajfault"), maj); /* minor */
	CHECK_EQ(ev(ctx, "swapcache_hit"), 1);
	CHECK(pte_read(r, victim) & PTE_REFERENCED);
	verify_all(ctx, r, 2);
	fake_teardown(ctx);
}

/* Rows 14, 21: a failed read poisons exactly that page; nothing else changes. */
static void test_poison_on_read_error(void)
{
	struct region *r;
	struct uswap_ctx *ctx = fake_setup(NP, 64, 1024, &r);

	fill_all(ctx, r, 3);
	size_t victim = find_swapped(ctx, r, ON_DEVICE);
	CHECK(victim < NP);
	CHECK_EQ(ctx_test_inject_error(ctx, 0, true, 1), 0);
	CHECK_EQ(fake_touch(ctx, r, victim, false), -EHWPOISON);
	CHECK(fake.poisoned[victim]);
	CHECK(!fake.present[victim]);
	CHECK(pte_is_marker(pte_read(r, victim)) && pte_marker_kind(pte_read(r, victim)) == MARKER_POISON);
	CHECK_EQ(ev(ctx, "swpin_poison"), 1);
	/* Every other page is intact. */
	for (size_t i = 0; i < NP; i++) {
		if (i == victim)
			continue;
		CHECK_EQ(fake_touch(ctx, r, i, false), 0);
		CHECK(verify_page(pg(i), 3, i, FILL_HALF));
		CHECK(!fake.poisoned[i]);
	}
	/* A second access to the poisoned page is poisoned again, never zeroes. */
	CHECK_EQ(handle_fault(ctx, region_addr(r, victim), 0), -EHWPOISON);
	CHECK(!fake.present[victim]);
	fake_teardown(ctx);
}

/* Row 14: a checksum mismatch (corrupted store) poisons too. */
static void test_poison_on_corruption(void)
{
	struct region *r;
	struct uswap_ctx *ctx = fake_setup(NP, 64, 1024, &r);

	fill_all(ctx, r, 4);
	size_t victim = find_swapped(ctx, r, ON_DEVICE_WITH_DATA);
	swp_entry_t e = victim < NP ? pte_to_swp_entry(pte_read(r, victim)) : (swp_entry_t){ 0 };
	CHECK(victim < NP);
	fake_backend_corrupt(swp_offset(e));
	CHECK_EQ(fake_touch(ctx, r, victim, false), -EHWPOISON);
	CHECK(fake.poisoned[victim]);
	CHECK_EQ(ev(ctx, "swpin_poison"), 1);
	fake_teardown(ctx);
}

/* Rows 22, 23, issue point 6: a page read back clean keeps its slot and is
 * evicted again without a write; once written, it is written again. */
static void test_clean_eviction(void)
{
	struct region *r;
	struct uswap_ctx *ctx = fake_setup(NP, 0, 1024, &r);
	uint64_t freed;

	fill_all(ctx, r, 5);
	CHECK_EQ(uswap_reclaim(ctx, NULL, NP, &freed), 0);
	CHECK(fake_backend_writes() > 0);
	/* Read page 0 back: the slot is kept, page mapped write-protected. */
	while (!pte_is_swap(pte_read(r, 0)))
		CHECK_EQ(uswap_reclaim(ctx, NULL, NP, &freed), 0);
	/* Make sure it is out of the swap cache (written back) first. */
	CHECK_EQ(uswap_reclaim(ctx, NULL, NP, &freed), 0);
	CHECK_EQ(fake_touch(ctx, r, 0, false), 0);
	CHECK(verify_page(pg(0), 5, 0, FILL_HALF));
	pte_t pte = pte_read(r, 0);
	CHECK(pte_present(pte) && (pte & PTE_SLOT) && (pte & PTE_WP));
	CHECK(fake.wp[0]);
	/* Evict again: no new write for page 0. */
	unsigned long w0 = fake_backend_writes();
	uint64_t clean0 = ev(ctx, "swpout_clean");
	for (int k = 0; k < 8 && pte_present(pte_read(r, 0)); k++)
		CHECK_EQ(uswap_reclaim(ctx, NULL, NP, &freed), 0);
	CHECK_EQ(uswap_reclaim(ctx, NULL, NP, &freed), 0);
	CHECK(ev(ctx, "swpout_clean") > clean0);
	CHECK_EQ(fake_backend_writes(), w0);
	/* Now read it back and write it: the slot is dropped, the next eviction writes. */
	CHECK_EQ(fake_touch(ctx, r, 0, false), 0);
	CHECK_EQ(fake_touch(ctx, r, 0, true), 0);
	fill_page(pg(0), 55, 0, FILL_HALF);
	for (int k = 0; k < 8 && pte_present(pte_read(r, 0)); k++)
		CHECK_EQ(uswap_reclaim(ctx, NULL, NP, &freed), 0);
	CHECK_EQ(uswap_reclaim(ctx, NULL, NP, &freed), 0);
	CHECK(fake_backend_writes() > w0);
	CHECK_EQ(fake_touch(ctx, r, 0, false), 0);
	CHECK(verify_page(pg(0), 55, 0, FILL_HALF));
	fake_teardown(ctx);
}

/* The hash check closes the race: a write between the scan and the move that
 * the scan could not see still makes the page dirty. */
static void test_clean_race_hash(void)
{
	struct region *r;
	struct uswap_ctx *ctx = fake_setup(NP, 0, 1024, &r);
	uint64_t freed;

	fill_all(ctx, r, 6);
	while (!pte_is_swap(pte_read(r, 7)))
		CHECK_EQ(uswap_reclaim(ctx, NULL, NP, &freed), 0);
	CHECK_EQ(uswap_reclaim(ctx, NULL, NP, &freed), 0);
	CHECK_EQ(fake_touch(ctx, r, 7, false), 0);
	CHECK(pte_read(r, 7) & PTE_SLOT);
	/* Modify without the fake MMU noticing (written bit stays clear). */
	fill_page(pg(7), 77, 7, FILL_HALF);
	for (int k = 0; k < 8 && pte_present(pte_read(r, 7)); k++)
		CHECK_EQ(uswap_reclaim(ctx, NULL, NP, &freed), 0);
	CHECK_EQ(uswap_reclaim(ctx, NULL, NP, &freed), 0);
	CHECK_EQ(fake_touch(ctx, r, 7, false), 0);
	CHECK(verify_page(pg(7), 77, 7, FILL_HALF));
	fake_teardown(ctx);
}

/* Row 7: OOM with nothing reclaimable (no swap space) fails the fault with poison, not a hang. */
static void test_oom(void)
{
	struct region *r;
	struct uswap_ctx *ctx = fake_setup(NP, 32, 16, &r); /* 16 slots only */
	int poisoned = 0;

	for (size_t i = 0; i < NP; i++) {
		int rc = fake_touch(ctx, r, i, true);
		if (fake.present[i]) {
			CHECK_EQ(rc, 0);
			fill_page(pg(i), 8, i, FILL_HALF);
		} else {
			CHECK_EQ(rc, -EHWPOISON); /* out of memory: SIGBUS for this access */
			CHECK(fake.poisoned[i]);
			poisoned++;
		}
	}
	CHECK(poisoned > 0);
	CHECK(ev(ctx, "oom") > 0);
	CHECK(ev(ctx, "nr_usage_max") <= 32);
	/* The pages that were stored are intact. */
	for (size_t i = 0; i < NP; i++) {
		pte_t pte = pte_read(r, i);
		if (pte_is_marker(pte) && pte_marker_kind(pte) == MARKER_POISON)
			continue;
		if (pte_present(pte) || pte_is_swap(pte)) {
			if (fake_touch(ctx, r, i, false) == 0 && fake.present[i])
				CHECK(verify_page(pg(i), 8, i, FILL_HALF));
		}
	}
	fake_teardown(ctx);
}

/* EAGAIN from the MMU (mapping changing) leaves everything as it was. */
static void test_eagain(void)
{
	struct region *r;
	struct uswap_ctx *ctx = fake_setup(NP, 64, 1024, &r);

	fill_all(ctx, r, 9);
	size_t victim = NP;
	for (size_t i = 0; i < NP && victim == NP; i++)
		if (pte_is_swap(pte_read(r, i)))
			victim = i;
	pte_t before = pte_read(r, victim);
	fake.copy_eagain = 1;
	CHECK_EQ(handle_fault(ctx, region_addr(r, victim), 0), -EAGAIN);
	CHECK_EQ(pte_read(r, victim), before);
	CHECK_EQ(ev(ctx, "uffd_eagain"), 1);
	CHECK_EQ(ctx_check_invariants(ctx), 0);
	CHECK_EQ(fake_touch(ctx, r, victim, false), 0);
	CHECK(verify_page(pg(victim), 9, victim, FILL_HALF));
	fake_teardown(ctx);
}

/* A move that stops early (page gone from the kernel) leaves that page alone. */
static void test_move_short(void)
{
	struct region *r;
	struct uswap_ctx *ctx = fake_setup(NP, 0, 1024, &r);
	uint64_t freed;

	fill_all(ctx, r, 10);
	fake.fail_move_at = 5;
	CHECK_EQ(uswap_reclaim(ctx, NULL, 16, &freed), 0);
	CHECK(pte_present(pte_read(r, 5)));
	fake.fail_move_at = -1;
	CHECK_EQ(ctx_check_invariants(ctx), 0);
	verify_all(ctx, r, 10);
	fake_teardown(ctx);
}

/* REMOVE (MADV_DONTNEED by the program): pages and slots are dropped, next access is zero. */
static void test_remove(void)
{
	struct region *r;
	struct uswap_ctx *ctx = fake_setup(NP, 64, 1024, &r);

	fill_all(ctx, r, 11);
	uint64_t stored = fake_backend_nr_stored();
	CHECK(stored > 0);
	for (size_t i = 0; i < NP; i++)
		fake.present[i] = 0; /* the kernel dropped them */
	region_zap_range(ctx, r, 0, NP, true);
	CHECK_EQ(fake_backend_nr_stored(), 0);
	CHECK_EQ(atomic_load(&ctx->root.usage), 0);
	CHECK_EQ(ctx_check_invariants(ctx), 0);
	CHECK_EQ(fake_touch(ctx, r, 10, false), 0);
	for (int k = 0; k < 4096; k++)
		CHECK(pg(10)[k] == 0);
	fake_teardown(ctx);
}

/*
 * Write-protect eviction: between publishing the swap PTE (marked PTE_SELFRM)
 * and its zap, the kernel still has the page.  A fault seen then must not
 * swap in (the copy would find the page, and the zap would then remove it
 * under a present PTE: found as a kswapd/handler deadlock).  It only wakes;
 * once the REMOVE event of the zap clears the mark, the fault swaps in.
 */
static void test_selfrm_pending(void)
{
	struct region *r;
	struct uswap_ctx *ctx = fake_setup(NP, 64, 1024, &r);

	fill_all(ctx, r, 12);
	size_t victim = find_swapped(ctx, r, ON_DEVICE);
	CHECK(victim < NP);
	pte_t before = pte_read(r, victim);
	atomic_fetch_or(&r->ptes[victim], PTE_SELFRM);
	unsigned long reads = fake_backend_reads(), wakes = fake.nr_wake;
	CHECK_EQ(handle_fault(ctx, region_addr(r, victim), 0), 0);
	CHECK_EQ(pte_read(r, victim), before | PTE_SELFRM);
	CHECK_EQ(fake_backend_reads(), reads);
	CHECK_EQ(fake.nr_wake, wakes + 1);
	/* The REMOVE event of our own zap: the mark goes, the page stays. */
	region_zap_range(ctx, r, victim, 1, true);
	CHECK_EQ(pte_read(r, victim), before);
	CHECK_EQ(fake_touch(ctx, r, victim, false), 0);
	CHECK(verify_page(pg(victim), 12, victim, FILL_HALF));
	fake_teardown(ctx);
}

/*
 * EEXIST: the kernel still has a page where our PTE says swapped (the REMOVE
 * event of a write-protect zap is handled before the zap itself lands).  The
 * fault must not claim that page: nothing changes, the thread is woken.
 */
static void test_eexist_not_claimed(void)
{
	struct region *r;
	struct uswap_ctx *ctx = fake_setup(NP, 64, 1024, &r);

	fill_all(ctx, r, 13);
	size_t victim = find_swapped(ctx, r, ON_DEVICE);
	CHECK(victim < NP);
	pte_t before = pte_read(r, victim);
	fake.present[victim] = 1; /* the kernel's page, about to be zapped */
	CHECK_EQ(handle_fault(ctx, region_addr(r, victim), 0), 0);
	CHECK_EQ(pte_read(r, victim), before);
	CHECK_EQ(ev(ctx, "uffd_eexist"), 1);
	CHECK_EQ(ctx_check_invariants(ctx), 0); /* the charge was given back: usage == resident + cache */
	fake.present[victim] = 0; /* the zap lands; the next fault swaps in */
	CHECK_EQ(fake_touch(ctx, r, victim, false), 0);
	CHECK(verify_page(pg(victim), 13, victim, FILL_HALF));
	fake_teardown(ctx);
}

/*
 * Frames freed after writeback stay warm; a sequential stream decompresses
 * into a contiguous warm run and moves it into the program (no copy), which
 * leaves the frames empty for the next eviction.  Beyond warm_max, warm frames
 * are released in batches.
 */
static void test_warm_frames(void)
{
	struct region *r;
	struct uswap_ctx *ctx = fake_setup(NP, 64, 1024, &r);

	ctx->pool.warm_max = 48;
	fill_all(ctx, r, 21);
	CHECK(ctx->pool.nr_warm > 0 && ctx->pool.nr_warm <= 48);
	CHECK(fake.nr_release > 0); /* trimmed beyond warm_max */
	/* Write faults: the slot is freed, so the page need not be mapped
	 * write-protected (a move cannot), and warm frames are used. */
	for (size_t i = 0; i < NP; i++) {
		CHECK_EQ(fake_touch(ctx, r, i, true), 0);
		CHECK(verify_page(pg(i), 21, i, FILL_HALF));
	}
	CHECK(ev(ctx, "swpin_move") > 0);
	CHECK_EQ(ev(ctx, "swpin_move"), fake.nr_moved_in_pages);
	/* A move maps at least MOVE_IN_MIN pages: a fault and its read-ahead. */
	CHECK(ev(ctx, "swpin_move") <= ev(ctx, "pswpin"));
	CHECK_EQ(ev(ctx, "pool_warm"), ctx->pool.nr_warm);
	CHECK_EQ(ctx_check_invariants(ctx), 0);
	/* Draining leaves only empty frames; the data is untouched. */
	uint32_t before = ctx->pool.nr_free;
	uint32_t warm = ctx->pool.nr_warm;
	pool_drain_warm(ctx);
	CHECK_EQ(ctx->pool.nr_warm, 0);
	CHECK_EQ(ctx->pool.nr_free, before + warm);
	CHECK_EQ(ctx_check_invariants(ctx), 0);
	verify_all(ctx, r, 21);
	/* Random faults copy single pages and leave warm frames for the next stream. */
	for (size_t k = 0; k < NP; k++) {
		size_t i = (k * 97) % NP;
		CHECK_EQ(fake_touch(ctx, r, i, false), 0);
		CHECK(verify_page(pg(i), 21, i, FILL_HALF));
	}
	CHECK_EQ(ev(ctx, "swpin_move"), fake.nr_moved_in_pages);
	fake_teardown(ctx);
}

/* The trend detector: backward scans and strided walks read ahead; random faults do not. */
static void test_readahead_trend(void)
{
	struct region *r;
	struct uswap_ctx *ctx = fake_setup(NP, 64, 1024, &r);
	uint64_t ra0, maj0, stride0;

	fill_all(ctx, r, 31);
	/* Backward: after the vote (8 faults) every fault reads ahead downwards. */
	maj0 = ev(ctx, "pgmajfault");
	ra0 = ev(ctx, "swap_ra");
	for (size_t i = NP; i-- > 0;) {
		CHECK_EQ(fake_touch(ctx, r, i, false), 0);
		CHECK(verify_page(pg(i), 31, i, FILL_HALF));
	}
	CHECK(ev(ctx, "swap_ra_stride") >= 1);
	CHECK(ev(ctx, "swap_ra") - ra0 > NP / 4);
	CHECK(ev(ctx, "pgmajfault") - maj0 < NP / 3);
	CHECK(ev(ctx, "swap_ra_hit") > 0);
	/* Every third page, twice over (the second pass finds them evicted again). */
	stride0 = ev(ctx, "swap_ra_stride");
	ra0 = ev(ctx, "swap_ra");
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < NP; i += 3) {
			CHECK_EQ(fake_touch(ctx, r, i, false), 0);
			CHECK(verify_page(pg(i), 31, i, FILL_HALF));
		}
	CHECK(ev(ctx, "swap_ra_stride") > stride0);
	CHECK(ev(ctx, "swap_ra") > ra0);
	/* Random faults: no majority, no strided read-ahead. */
	stride0 = ev(ctx, "swap_ra_stride");
	uint64_t s = 12345;
	for (int k = 0; k < 2 * NP; k++) {
		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		size_t i = (size_t)(s >> 33) % NP;
		CHECK_EQ(fake_touch(ctx, r, i, false), 0);
		CHECK(verify_page(pg(i), 31, i, FILL_HALF));
	}
	CHECK(ev(ctx, "swap_ra_stride") - stride0 <= 2);
	CHECK_EQ(ev(ctx, "pswpin"), fake_backend_reads());
	fake_teardown(ctx);
}

/*
 * An asynchronous device: writeback goes in batches; a sequential stream
 * reads the faulting page and its read-ahead in one batch and maps them; a
 * fault outside any stream reads ahead by slot into the swap cache, and the
 * window grows with the hits and shrinks without them.
 */
static void test_async_device(void)
{
	struct region *r;
	struct uswap_ctx *ctx;

	fake_device_ops = &fake_async_backend_ops;
	ctx = fake_setup(NP, 64, 1024, &r);
	fake_device_ops = &fake_backend_ops;
	unsigned long wb0 = fake_backend_batches(false), rb0 = fake_backend_batches(true);
	fill_all(ctx, r, 41);
	CHECK(fake_backend_batches(false) > wb0);
	CHECK(fake_backend_batches(false) - wb0 < ev(ctx, "pswpout") / 4); /* many pages per batch */
	/* Sequential: stream read-ahead, batched, mapped directly. */
	verify_all(ctx, r, 41);
	CHECK(ev(ctx, "swap_ra") > NP / 4);
	CHECK(fake_backend_batches(true) > rb0);
	CHECK(ev(ctx, "pgmajfault") < NP / 3);
	CHECK_EQ(ctx_check_invariants(ctx), 0);
	fake_teardown(ctx);

	/* Cluster mode: pages evicted in an order that is not their address
	 * order (MADV_PAGEOUT one by one), then faulted in that order: their
	 * slots are neighbours, their addresses are not.  Each fault reads the
	 * next slots into the swap cache, and the next faults hit it. */
	fake_device_ops = &fake_async_backend_ops;
	ctx = fake_setup(NP, NP, 1024, &r);
	fake_device_ops = &fake_backend_ops;
	fill_all(ctx, r, 42);
	CHECK_EQ(ev(ctx, "pswpout"), 0);
	for (size_t k = 0; k < NP / 2; k++) {
		size_t i = (k * 97) % NP;
		CHECK_EQ(uswap_madvise(ctx, pg(i), PAGE_SIZE, MADV_PAGEOUT), 0);
	}
	CHECK(ev(ctx, "pswpout") >= NP / 2 - 2);
	uint64_t hits0 = ev(ctx, "swap_ra_hit"), cl0 = ev(ctx, "swap_ra_cluster");
	uint64_t maj0 = ev(ctx, "pgmajfault");
	for (size_t k = 0; k < NP / 2; k++) {
		size_t i = (k * 97) % NP;
		CHECK_EQ(fake_touch(ctx, r, i, false), 0);
		CHECK(verify_page(pg(i), 42, i, FILL_HALF));
	}
	CHECK_EQ(ev(ctx, "swap_ra_stride"), 0); /* no address trend: by slot only */
	CHECK(ev(ctx, "pgmajfault") - maj0 < NP / 8);
	CHECK(ev(ctx, "swap_ra_cluster") > cl0);
	CHECK(ev(ctx, "swap_ra_hit") > hits0);
	CHECK_EQ(ev(ctx, "swpin_poison"), 0);
	CHECK_EQ(ctx_check_invariants(ctx), 0);
	fake_teardown(ctx);
}

/*
 * A page whose write to an asynchronous device is in flight is mapped from
 * its swap-cache frame without waiting and without a read, write-protected,
 * the slot keeping the copy being written.  (The fault runs inside the
 * device's write here: had it waited for the write, the test would hang.)
 */
static struct uswap_ctx *wb_ctx;
static struct region *wb_r;
static int wb_mapped = -1;
static unsigned long wb_reads;

static void wb_hook(const uint64_t *slots, unsigned int n)
{
	if (wb_mapped >= 0)
		return;
	for (size_t i = 0; i < NP; i++) {
		pte_t pte = pte_read(wb_r, i);
		if (!pte_is_swap(pte))
			continue;
		for (unsigned int k = 0; k < n; k++) {
			if (swp_offset(pte_to_swp_entry(pte)) != slots[k])
				continue;
			unsigned long reads = fake_backend_reads();
			CHECK_EQ(fake_touch(wb_ctx, wb_r, i, false), 0);
			CHECK(fake.present[i]);
			CHECK(verify_page(pg(i), 51, i, FILL_HALF));
			wb_reads = fake_backend_reads() - reads;
			wb_mapped = (int)i;
			return;
		}
	}
}

static void test_writeback_fault(void)
{
	struct region *r;
	struct uswap_ctx *ctx;

	fake_device_ops = &fake_async_backend_ops;
	ctx = fake_setup(NP, 64, 1024, &r);
	fake_device_ops = &fake_backend_ops;
	wb_ctx = ctx;
	wb_r = r;
	fake_write_hook = wb_hook;
	fill_all(ctx, r, 51);
	fake_write_hook = NULL;
	CHECK(wb_mapped >= 0);
	CHECK_EQ(wb_reads, 0); /* no I/O */
	CHECK(ev(ctx, "swpin_writeback") >= 1);
	/* The write completed: the page is resident, its slot keeps the copy. */
	pte_t pte = pte_read(r, (size_t)wb_mapped);
	if (getenv("VERBOSE"))
		fprintf(stderr, "page %d %s after the fill\n", wb_mapped,
			pte_present(pte) ? "resident" : "evicted again");
	if (pte_present(pte)) {
		CHECK(pte & PTE_SLOT);
		CHECK(fake.wp[wb_mapped]);
		swp_tb_t t = atomic_load(swap_table_word(ctx, pte_to_swp_entry(pte)));
		CHECK_EQ(swp_tb_kind(t), SLOT_MAPPED);
		CHECK(t & SWP_TB_DATA);
		CHECK_EQ(swp_tb_payload(t), 0);
	}
	CHECK_EQ(ctx_check_invariants(ctx), 0);
	verify_all(ctx, r, 51);
	/* A write to it, then everything out and back: the new content is kept. */
	CHECK_EQ(fake_touch(ctx, r, (size_t)wb_mapped, true), 0);
	fill_page(pg((size_t)wb_mapped), 52, (size_t)wb_mapped, FILL_HALF);
	for (size_t i = 0; i < NP; i++)
		if (i != (size_t)wb_mapped) {
			CHECK_EQ(fake_touch(ctx, r, i, false), 0);
			CHECK(verify_page(pg(i), 51, i, FILL_HALF));
		}
	CHECK_EQ(fake_touch(ctx, r, (size_t)wb_mapped, false), 0);
	CHECK(verify_page(pg((size_t)wb_mapped), 52, (size_t)wb_mapped, FILL_HALF));
	fake_teardown(ctx);
}

int main(void)
{
	test_first_touch();
	test_write_fault_around();
	test_swap_roundtrip();
	test_spurious();
	test_refill_dropped();
	test_lost_page_poisoned();
	test_reclaim_dead_region();
	test_lookup_overlap();
	test_swapcache_hit();
	test_poison_on_read_error();
	test_poison_on_corruption();
	test_clean_eviction();
	test_clean_race_hash();
	test_oom();
	test_eagain();
	test_move_short();
	test_remove();
	test_selfrm_pending();
	test_eexist_not_claimed();
	test_warm_frames();
	test_readahead_trend();
	test_async_device();
	test_writeback_fault();
	return 0;
}
