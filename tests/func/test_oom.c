/* SPDX-License-Identifier: MIT */
/*
 * test_oom - a group that cannot reclaim (no swap device) applies its OOM
 * policy at once, in both delivery modes, and never hangs:
 *   ERROR: SIGBUS for exactly the pages over the limit, the others intact;
 *   KILL:  the process dies of SIGKILL (checked in a child).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "helper_func.h"

#define LIMIT (4ULL << 20)
#define NPAGES 2048 /* 8 MiB: twice the limit */

static sigjmp_buf jb;
static volatile sig_atomic_t got;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	if (uswap_sigbus_dispatch(sig, si, uc))
		return; /* a uswap fault, resolved (signal mode) */
	got++;
	siglongjmp(jb, 1);
}

static void run_error(enum uswap_fault_mode mode)
{
	struct uswap_ctx *ctx = func_ctx(LIMIT, mode, 0);
	struct sigaction sa = { 0 }, old;
	unsigned char *m;
	volatile int bus = 0;

	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	CHECK_EQ(sigaction(SIGBUS, &sa, &old), 0);
	got = 0;
	CHECK_EQ(uswap_mmap(ctx, NULL, NPAGES * 4096ULL, (void **)&m), 0);
	for (volatile int p = 0; p < NPAGES; p++) {
		if (!sigsetjmp(jb, 1))
			fill_page(m + p * 4096ULL, 7, (uint64_t)p, FILL_HALF);
		else
			bus++;
	}
	CHECK_EQ(bus, got);
	/* Every page beyond what fits got SIGBUS; the pages that fit are intact. */
	CHECK(bus >= NPAGES - (int)(LIMIT / 4096));
	CHECK_EQ(stat_of(ctx, NULL, "oom"), (uint64_t)bus);
	CHECK(stat_of(ctx, NULL, "nr_usage_max") <= LIMIT / 4096);
	volatile int ok = 0;
	for (volatile int p = 0; p < NPAGES; p++) {
		if (!sigsetjmp(jb, 1)) {
			if (verify_page(m + p * 4096ULL, 7, (uint64_t)p, FILL_HALF))
				ok++;
			else
				CHECK(0 && "page neither intact nor poisoned");
		}
	}
	CHECK_EQ(ok, NPAGES - bus);
	check_invariants(ctx);
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
	sigaction(SIGBUS, &old, NULL);
}

static void run_kill(void)
{
	pid_t pid = fork();
	int status;

	CHECK(pid >= 0);
	if (pid == 0) {
		struct uswap_ctx *ctx = func_ctx(LIMIT, USWAP_MODE_THREAD, 0);
		unsigned char *m;
		uswap_group_set_oom(uswap_root_group(ctx), USWAP_OOM_KILL);
		uswap_mmap(ctx, NULL, NPAGES * 4096ULL, (void **)&m);
		for (int p = 0; p < NPAGES; p++)
			m[p * 4096ULL] = 1;
		_exit(0); /* not reached: killed */
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == TEST_SKIP)
		return;
	CHECK(WIFSIGNALED(status));
	CHECK_EQ(WTERMSIG(status), SIGKILL);
}

int main(void)
{
	run_error(USWAP_MODE_THREAD);
	run_error(USWAP_MODE_SIGNAL);
	run_kill();
	return 0;
}
