/* SPDX-License-Identifier: MIT */
/*
 * test_poison_sigbus - a backend read error poisons exactly the page being
 * read: every access to it (read or write, first or later) raises SIGBUS
 * with si_addr inside that page and never sees zeroes or stale data, while
 * every other page of the region stays intact and raises nothing.
 *
 * Two victims: the first is poisoned by a read fault, the second by a write
 * fault.  Each is first forced out of memory and out of the swap cache, so
 * that its access really reads the backend (where the error is injected).
 *
 * Run in thread mode and in signal mode.  The test's SIGBUS handler chains to
 * uswap_sigbus_dispatch() first, as uswap.h asks of programs with their own
 * handler in signal mode (in thread mode the call just returns 0): only the
 * SIGBUS that uswap does not resolve reaches the test.
 */
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "helper_func.h"

#define LIMIT (4ULL << 20)
#define SIZE (16ULL << 20)
#define NPAGES (SIZE / 4096)
#define SEED 7

/* A fault that is never resolved (or resolved over and over) hangs: fail instead. */
static void on_alarm(int sig)
{
	static const char msg[] = "test_poison_sigbus: timeout (a fault livelocked or hung)\n";
	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1);
}

static sigjmp_buf jb;
static volatile sig_atomic_t nr_sigbus;
static void *volatile last_addr;
static volatile int last_code;
static const char *mode_name = "";

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	if (uswap_sigbus_dispatch(sig, si, uc))
		return; /* a fault that uswap resolved (signal mode) */
	nr_sigbus++;
	last_addr = si->si_addr;
	last_code = si->si_code;
	siglongjmp(jb, 1);
}

/* Access page @p (read or write one word).  Return: true if it raised SIGBUS. */
static bool access_raises_sigbus(unsigned char *p, bool write)
{
	if (sigsetjmp(jb, 1))
		return true;
	if (write)
		*(volatile uint64_t *)(p + 8) = 0xdeadbeefULL;
	else
		(void)*(volatile uint64_t *)(p + 8);
	return false;
}

/* Check that page @pg of @mem raises SIGBUS for @write, at an address inside the page. */
static void expect_sigbus(unsigned char *mem, uint64_t pg, bool write)
{
	unsigned char *page = mem + pg * 4096;
	long before = nr_sigbus;

	last_addr = NULL;
	if (!access_raises_sigbus(page, write)) {
		fprintf(stderr, "%s mode: page %llu: %s did not raise SIGBUS\n", mode_name,
			(unsigned long long)pg, write ? "write" : "read");
		exit(1);
	}
	CHECK_EQ(nr_sigbus, before + 1);
	if ((unsigned char *)last_addr < page || (unsigned char *)last_addr >= page + 4096) {
		fprintf(stderr, "%s mode: page %llu at %p: SIGBUS si_addr %p (code %d) is outside it\n",
			mode_name, (unsigned long long)pg, (void *)page, last_addr, last_code);
		exit(1);
	}
}

/*
 * Wait until no fault is being handled.  UFFDIO_POISON wakes the faulting
 * thread before the handler thread has counted swpin_poison, so a counter
 * read right after the SIGBUS may not include it yet.
 */
static uint64_t poison_count(struct uswap_ctx *ctx)
{
	while (atomic_load(&ctx->faults_in_flight))
		sched_yield();
	return stat_of(ctx, NULL, "swpin_poison");
}

static pte_t pte_of(struct uswap_ctx *ctx, void *addr)
{
	struct region *r = region_lookup(ctx, (uintptr_t)addr);
	CHECK(r != NULL);
	return pte_read(r, ((uintptr_t)addr - r->start) >> PAGE_SHIFT);
}

/* The page is out of the program and out of the swap cache: its data is only on the device. */
static bool only_on_device(struct uswap_ctx *ctx, void *addr)
{
	pte_t pte = pte_of(ctx, addr);
	_Atomic swp_tb_t *w;

	if (!pte_is_swap(pte))
		return false;
	w = swap_table_word(ctx, pte_to_swp_entry(pte));
	CHECK(w != NULL);
	return swp_tb_kind(atomic_load(w)) != SLOT_CACHE && (atomic_load(w) & SWP_TB_DATA);
}

/* Reclaim until @addr's data is only on the device (bounded). */
static void force_out(struct uswap_ctx *ctx, void *addr)
{
	for (int i = 0; i < 50; i++) {
		CHECK_EQ(uswap_reclaim(ctx, NULL, NPAGES, NULL), 0);
		if (stat_of(ctx, NULL, "nr_resident") < 64 && only_on_device(ctx, addr))
			return;
	}
	fprintf(stderr, "page at %p not forced out: pte %#llx, nr_resident %llu\n", addr,
		(unsigned long long)pte_of(ctx, addr),
		(unsigned long long)stat_of(ctx, NULL, "nr_resident"));
	print_stats(ctx);
	exit(1);
}

static void run(enum uswap_fault_mode mode)
{
	struct uswap_ctx *ctx = func_ctx(LIMIT, mode, 0);
	const uint64_t victim_r = 1234, victim_w = 3001;
	struct sigaction sa, old;
	unsigned char *mem = NULL;
	int id = -1;

	mode_name = mode == USWAP_MODE_SIGNAL ? "signal" : "thread";
	CHECK_EQ(uswap_swapon(ctx, "zram:lz4:size=64M", 0, &id), 0);
	CHECK_EQ(id, 0);
	CHECK_EQ(uswap_mmap(ctx, NULL, SIZE, (void **)&mem), 0);
	for (uint64_t p = 0; p < NPAGES; p++)
		fill_page(mem + p * 4096, SEED, p, FILL_HALF);

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	CHECK_EQ(sigaction(SIGBUS, &sa, &old), 0);

	/* 1. Read fault on a page whose backend read fails. */
	force_out(ctx, mem + victim_r * 4096);
	CHECK_EQ(poison_count(ctx), 0);
	CHECK_EQ(ctx_test_inject_error(ctx, 0, true, 1), 0);
	expect_sigbus(mem, victim_r, false);
	CHECK_EQ(poison_count(ctx), 1);
	{
		pte_t pte = pte_of(ctx, mem + victim_r * 4096);
		CHECK(pte_is_marker(pte) && pte_marker_kind(pte) == MARKER_POISON);
	}
	/* Again: still poisoned (never zeroes), for reads and for writes. */
	expect_sigbus(mem, victim_r, false);
	expect_sigbus(mem, victim_r, true);
	expect_sigbus(mem, victim_r, false);
	CHECK_EQ(poison_count(ctx), 1); /* poisoned once, not per access */
	check_invariants(ctx);

	/* 2. Write fault on another page whose backend read fails. */
	force_out(ctx, mem + victim_w * 4096);
	CHECK_EQ(ctx_test_inject_error(ctx, 0, true, 1), 0);
	expect_sigbus(mem, victim_w, true);
	CHECK_EQ(poison_count(ctx), 2);
	expect_sigbus(mem, victim_w, true);
	expect_sigbus(mem, victim_w, false);
	CHECK_EQ(poison_count(ctx), 2);
	check_invariants(ctx);

	/* 3. Every other page is intact and raises nothing, through more swapping. */
	long sigbus_before = nr_sigbus;
	for (int pass = 0; pass < 2; pass++) {
		for (uint64_t p = 0; p < NPAGES; p++) {
			if (p == victim_r || p == victim_w)
				continue;
			if (sigsetjmp(jb, 1)) {
				fprintf(stderr, "%s mode, pass %d: unexpected SIGBUS on page %llu (si_addr %p)\n",
					mode_name, pass,
					(unsigned long long)p, last_addr);
				print_stats(ctx);
				exit(1);
			}
			if (!verify_page(mem + p * 4096, SEED, p, FILL_HALF)) {
				fprintf(stderr, "%s mode, pass %d: page %llu wrong\n", mode_name, pass,
					(unsigned long long)p);
				print_stats(ctx);
				exit(1);
			}
		}
	}
	CHECK_EQ(nr_sigbus, sigbus_before);
	CHECK_EQ(poison_count(ctx), 2);
	CHECK(stat_of(ctx, NULL, "pswpin") > 0);
	CHECK(stat_of(ctx, NULL, "nr_usage_max") <= LIMIT / 4096);
	/* The victims stay poisoned after all that. */
	expect_sigbus(mem, victim_r, false);
	expect_sigbus(mem, victim_w, false);
	check_invariants(ctx);

	CHECK_EQ(sigaction(SIGBUS, &old, NULL), 0);
	CHECK_EQ(uswap_munmap(ctx, mem, SIZE), 0);
	check_invariants(ctx);
	CHECK_EQ(stat_of(ctx, NULL, "nr_swapped"), 0);
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
}

int main(void)
{
	signal(SIGALRM, on_alarm);
	alarm(100);
	run(USWAP_MODE_THREAD);
	run(USWAP_MODE_SIGNAL);
	return 0;
}
