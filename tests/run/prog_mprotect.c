// SPDX-License-Identifier: MIT
/*
 * mprotect of managed memory passes through to the kernel: a read-only part
 * still swaps and reads back, a write to it faults (SIGSEGV), and made
 * writable again it takes writes.
 */
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include "run_common.h"

static sigjmp_buf env;

static void on_segv(int sig)
{
	siglongjmp(env, 1);
}

int main(void)
{
	size_t len = 128 * MiB;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	volatile int faulted = 0;

	if (p == MAP_FAILED)
		FAIL("mmap");
	fill(p, len, 0, 8);
	if (mprotect(p, 8 * MiB, PROT_READ))
		FAIL("mprotect");
	if (check(p, len, 0, 8, "read-only part and the rest")) /* swaps everything again */
		FAIL("content");
	signal(SIGSEGV, on_segv);
	if (sigsetjmp(env, 1) == 0)
		p[PAGE * 3] = 1;
	else
		faulted = 1;
	signal(SIGSEGV, SIG_DFL);
	if (!faulted)
		FAIL("write to read-only managed memory did not fault");
	if (mprotect(p, 8 * MiB, PROT_READ | PROT_WRITE))
		FAIL("mprotect back");
	fill(p, 8 * MiB, 0, 9);
	if (check(p, 8 * MiB, 0, 9, "rewritten") || check(p + 8 * MiB, 120 * MiB, 8 * MiB / PAGE, 8, "rest"))
		FAIL("content");
	return 0;
}
