// SPDX-License-Identifier: MIT
/* Direct anonymous mmap, 4x the limit; written and read back twice. */
#include <sys/mman.h>
#include "run_common.h"

int main(int argc, char **argv)
{
	size_t len = arg_mib(argc, argv, 1, 128);
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		FAIL("mmap");
	fill(p, len, 0, 2);
	if (check(p, len, 0, 2, "pass 1"))
		FAIL("content");
	fill(p, len / 2, 0, 3); /* rewrite half: dirty pages swap out again */
	if (check(p, len / 2, 0, 3, "pass 2a") || check(p + len / 2, len / 2, len / 2 / PAGE, 2, "pass 2b"))
		FAIL("content");
	if (munmap(p, len))
		FAIL("munmap");
	return 0;
}
