/* SPDX-License-Identifier: MIT */
/*
 * test_signal_mode - USWAP_MODE_SIGNAL: faults are resolved by the faulting
 * thread in uswap's SIGBUS handler.  A region 4x the limit is written and
 * read back sequentially and randomly, every page verified, with real
 * swapping under the limit.
 *
 * Then the documented limitation of signal mode: a system call that writes
 * into a managed page that is not resident (here read(2) from a pipe) fails
 * with EFAULT instead of waiting, because the kernel cannot deliver a signal
 * for its own access; once the program touches the page itself, the same
 * read(2) succeeds.  Thread mode has no such limitation: there the kernel's
 * access waits for a handler thread like any other fault, so the same
 * read(2) into a swapped-out page succeeds with the right data.  That is
 * checked with a second, thread-mode context.  Only one context is in signal
 * mode at a time.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "helper_func.h"

#define LIMIT (8ULL << 20)
#define SIZE (32ULL << 20)
#define NPAGES (SIZE / 4096)
#define SEED 31

/* A fault that is never resolved (or resolved over and over) hangs: fail instead. */
static void on_alarm(int sig)
{
	static const char msg[] = "test_signal_mode: timeout (a fault livelocked or hung)\n";
	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static pte_t pte_of(struct uswap_ctx *ctx, void *addr)
{
	struct region *r = region_lookup(ctx, (uintptr_t)addr);
	CHECK(r != NULL);
	return pte_read(r, ((uintptr_t)addr - r->start) >> PAGE_SHIFT);
}

/* Reclaim until the page at @addr is no longer present in the program (bounded). */
static void force_out(struct uswap_ctx *ctx, void *addr, uint64_t npages)
{
	for (int i = 0; i < 50; i++) {
		CHECK_EQ(uswap_reclaim(ctx, NULL, npages, NULL), 0);
		if (pte_is_swap(pte_of(ctx, addr)))
			return;
	}
	fprintf(stderr, "page at %p not forced out: pte %#llx\n", addr,
		(unsigned long long)pte_of(ctx, addr));
	print_stats(ctx);
	exit(1);
}

static void pipe_put(int fd, const void *buf, size_t len)
{
	CHECK_EQ(write(fd, buf, len), (ssize_t)len);
}

static void verify_all(struct uswap_ctx *ctx, unsigned char *mem, const char *when)
{
	for (uint64_t p = 0; p < NPAGES; p++)
		if (!verify_page(mem + p * 4096, SEED, p, FILL_HALF)) {
			fprintf(stderr, "page %llu wrong %s\n", (unsigned long long)p, when);
			print_stats(ctx);
			exit(1);
		}
}

static void test_thread_readinto(void);

/* Signal mode: the round trip, then read(2) into a swapped-out page. */
static void test_signal(void)
{
	struct sigaction before, during, after;
	struct uswap_ctx *ctx;
	unsigned char *mem = NULL, *page, buf[4096], fresh[4096];
	uint64_t s = 88172645463325252ULL, victim = NPAGES / 3;
	int pfd[2];

	CHECK_EQ(sigaction(SIGBUS, NULL, &before), 0);
	ctx = func_ctx(LIMIT, USWAP_MODE_SIGNAL, 0);
	CHECK_EQ(sigaction(SIGBUS, NULL, &during), 0);
	CHECK(during.sa_flags & SA_SIGINFO);
	CHECK(during.sa_sigaction != before.sa_sigaction);

	CHECK_EQ(uswap_swapon(ctx, "zram:lz4:size=256M", 0, NULL), 0);
	CHECK_EQ(uswap_mmap(ctx, NULL, SIZE, (void **)&mem), 0);

	for (uint64_t p = 0; p < NPAGES; p++)
		fill_page(mem + p * 4096, SEED, p, FILL_HALF);
	verify_all(ctx, mem, "after sequential read");
	for (uint64_t i = 0; i < 2 * NPAGES; i++) {
		uint64_t p = rnd(&s) % NPAGES;
		if (!verify_page(mem + p * 4096, SEED, p, FILL_HALF)) {
			fprintf(stderr, "page %llu wrong after random read\n", (unsigned long long)p);
			print_stats(ctx);
			exit(1);
		}
	}
	verify_all(ctx, mem, "at the end");
	CHECK(stat_of(ctx, NULL, "pgmajfault") > 0);
	CHECK(stat_of(ctx, NULL, "pswpin") > 0);
	CHECK(stat_of(ctx, NULL, "pswpout") >= NPAGES - LIMIT / 4096);
	CHECK(stat_of(ctx, NULL, "nr_usage_max") <= LIMIT / 4096);
	CHECK_EQ(stat_of(ctx, NULL, "swpin_poison"), 0);
	CHECK_EQ(stat_of(ctx, NULL, "oom"), 0);
	/* Signal mode reclaims in the faulting thread (no background thread),
	 * and single-page swap-ins move warm frames in. */
	CHECK_EQ(stat_of(ctx, NULL, "pgsteal_kswapd"), 0);
	CHECK(stat_of(ctx, NULL, "pgsteal_direct") >= NPAGES - LIMIT / 4096);
	CHECK(stat_of(ctx, NULL, "swpin_move") > stat_of(ctx, NULL, "pgmajfault") / 2);
	check_invariants(ctx);

	/* The limitation: read(2) into a page that is not resident fails with EFAULT
	 * (the kernel's own access gets no SIGBUS for uswap to handle).  Thread
	 * mode handles it: see test_thread_readinto(). */
	page = mem + victim * 4096;
	force_out(ctx, page, NPAGES);
	CHECK(!pte_present(pte_of(ctx, page)));
	CHECK_EQ(pipe(pfd), 0);
	fill_page(fresh, SEED + 1000, victim, FILL_RANDOM);
	pipe_put(pfd[1], fresh, sizeof(fresh));
	errno = 0;
	CHECK_EQ(read(pfd[0], page, 4096), -1);
	CHECK_EQ(errno, EFAULT);
	/* Nothing was lost: not the page (still swapped), not the pipe's data. */
	CHECK(!pte_present(pte_of(ctx, page)));
	CHECK(verify_page(page, SEED, victim, FILL_HALF)); /* user-space touch: swaps it in */
	CHECK(pte_present(pte_of(ctx, page)));
	/* Now resident: the same read(2) succeeds and the page holds the pipe's data. */
	CHECK_EQ(read(pfd[0], page, 4096), 4096);
	CHECK(memcmp(page, fresh, 4096) == 0);

	/* The rewritten page survives being swapped out and in again. */
	force_out(ctx, page, NPAGES);
	CHECK(memcmp(page, fresh, 4096) == 0);
	/* A read(2) that starts in a resident page and runs into a swapped-out
	 * one: a short read, or EFAULT (Linux's pipe_read fails the whole pipe
	 * buffer when it is copied only in part, and keeps it in the pipe);
	 * either way nothing of the pipe's data is lost and no page changes
	 * beyond the resident one. */
	force_out(ctx, page + 4096, NPAGES);
	(void)*(volatile unsigned char *)page; /* the first page resident */
	if (pte_present(pte_of(ctx, page)) && !pte_present(pte_of(ctx, page + 4096))) {
		fill_page(buf, SEED + 2000, victim, FILL_RANDOM);
		pipe_put(pfd[1], buf, sizeof(buf));
		pipe_put(pfd[1], buf, sizeof(buf));
		ssize_t n = read(pfd[0], page + 2048, 4096);
		CHECK(n == 2048 || (n == -1 && errno == EFAULT));
		if (getenv("VERBOSE"))
			fprintf(stderr, "read(2) across resident + swapped page: %zd\n", n);
		if (n == 2048)
			CHECK(memcmp(page + 2048, buf, 2048) == 0);
		/* Drain the rest of the pipe into plain memory. */
		unsigned char sink[8192];
		ssize_t left = 8192 - (n > 0 ? n : 0);
		CHECK_EQ(read(pfd[0], sink, (size_t)left), left);
		/* Put the test's expected content back for the final verification. */
		memcpy(page, fresh, 4096);
	}
	CHECK(verify_page(page + 4096, SEED, victim + 1, FILL_HALF));
	close(pfd[0]);
	close(pfd[1]);

	/* Every other page is still right. */
	for (uint64_t p = 0; p < NPAGES; p++) {
		if (p == victim)
			continue;
		if (!verify_page(mem + p * 4096, SEED, p, FILL_HALF)) {
			fprintf(stderr, "page %llu wrong after the read(2) checks\n", (unsigned long long)p);
			exit(1);
		}
	}
	CHECK(memcmp(page, fresh, 4096) == 0);
	CHECK_EQ(stat_of(ctx, NULL, "swpin_poison"), 0);
	check_invariants(ctx);
	if (getenv("VERBOSE"))
		print_stats(ctx);

	/* The thread-mode check runs while this signal-mode context exists. */
	test_thread_readinto();

	CHECK_EQ(uswap_munmap(ctx, mem, SIZE), 0);
	check_invariants(ctx);
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
	/* uswap's SIGBUS handler is gone: the previous disposition is back. */
	CHECK_EQ(sigaction(SIGBUS, NULL, &after), 0);
	CHECK(after.sa_sigaction == before.sa_sigaction);
	CHECK_EQ(after.sa_flags & SA_SIGINFO, before.sa_flags & SA_SIGINFO);
}

/*
 * Thread mode: the same read(2) into a swapped-out page waits for the
 * handler thread and succeeds; so does a write(2) from such a page.
 */
static void test_thread_readinto(void)
{
	const uint64_t size = 8ULL << 20, npages = size / 4096, victim = 777;
	struct uswap_ctx *ctx = func_ctx(1ULL << 20, USWAP_MODE_THREAD, 0);
	unsigned char *mem = NULL, *page, fresh[4096], out[4096];
	int pfd[2];

	CHECK_EQ(uswap_swapon(ctx, "zram:lz4:size=64M", 0, NULL), 0);
	CHECK_EQ(uswap_mmap(ctx, NULL, size, (void **)&mem), 0);
	for (uint64_t p = 0; p < npages; p++)
		fill_page(mem + p * 4096, SEED + 5, p, FILL_HALF);
	page = mem + victim * 4096;
	CHECK_EQ(pipe(pfd), 0);

	/* write(2) from a swapped-out page: the kernel reads it through a fault. */
	force_out(ctx, page, npages);
	CHECK(!pte_present(pte_of(ctx, page)));
	CHECK_EQ(write(pfd[1], page, 4096), 4096);
	CHECK_EQ(read(pfd[0], out, 4096), 4096);
	CHECK(verify_page(out, SEED + 5, victim, FILL_HALF));

	/* read(2) into a swapped-out page. */
	force_out(ctx, page, npages);
	CHECK(!pte_present(pte_of(ctx, page)));
	fill_page(fresh, SEED + 1000, victim, FILL_RANDOM);
	pipe_put(pfd[1], fresh, sizeof(fresh));
	CHECK_EQ(read(pfd[0], page, 4096), 4096);
	CHECK(memcmp(page, fresh, 4096) == 0);
	/* And the data survives another trip through swap. */
	force_out(ctx, page, npages);
	CHECK(memcmp(page, fresh, 4096) == 0);

	/* read(2) across two swapped-out pages, unaligned. */
	force_out(ctx, page + 4096, npages);
	force_out(ctx, page + 8192, npages);
	CHECK(!pte_present(pte_of(ctx, page + 8192)));
	pipe_put(pfd[1], fresh, sizeof(fresh));
	CHECK_EQ(read(pfd[0], page + 4096 + 100, 4096), 4096);
	CHECK(memcmp(page + 4096 + 100, fresh, 4096) == 0);
	close(pfd[0]);
	close(pfd[1]);

	for (uint64_t p = 0; p < npages; p++) {
		if (p >= victim && p <= victim + 2)
			continue;
		if (!verify_page(mem + p * 4096, SEED + 5, p, FILL_HALF)) {
			fprintf(stderr, "thread mode: page %llu wrong\n", (unsigned long long)p);
			exit(1);
		}
	}
	CHECK_EQ(stat_of(ctx, NULL, "swpin_poison"), 0);
	CHECK(stat_of(ctx, NULL, "pswpin") > 0);
	check_invariants(ctx);
	CHECK_EQ(uswap_munmap(ctx, mem, size), 0);
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
}

/* USWAP_F_KSWAPD: signal mode with the background reclaim thread. */
static void test_signal_kswapd(void)
{
	struct uswap_ctx *ctx = func_ctx(LIMIT, USWAP_MODE_SIGNAL, USWAP_F_KSWAPD);
	unsigned char *mem = NULL;

	CHECK_EQ(uswap_swapon(ctx, "zram:lz4:size=256M", 0, NULL), 0);
	CHECK_EQ(uswap_mmap(ctx, NULL, SIZE, (void **)&mem), 0);
	for (uint64_t p = 0; p < NPAGES; p++)
		fill_page(mem + p * 4096, SEED + 1, p, FILL_HALF);
	for (uint64_t p = 0; p < NPAGES; p++)
		CHECK(verify_page(mem + p * 4096, SEED + 1, p, FILL_HALF));
	CHECK(stat_of(ctx, NULL, "pgsteal_kswapd") > 0);
	CHECK(stat_of(ctx, NULL, "pswpin") > 0);
	check_invariants(ctx);
	CHECK_EQ(uswap_munmap(ctx, mem, SIZE), 0);
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
}

int main(void)
{
	signal(SIGALRM, on_alarm);
	alarm(100);
	test_signal();
	test_signal_kswapd();
	return 0;
}
