// SPDX-License-Identifier: MIT
/*
 * For --stat when the program dies by a signal: maps and writes 128 MiB
 * (4x the test's limit), checks it, then kills itself with SIGKILL: no exit
 * handler runs.
 */
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>
#include "run_common.h"

int main(void)
{
	size_t len = 128 * MiB;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		FAIL("mmap");
	fill(p, len, 0, 33);
	if (check(p, len, 0, 33, "killed"))
		return 1;
	kill(getpid(), SIGKILL);
	return 1;
}
