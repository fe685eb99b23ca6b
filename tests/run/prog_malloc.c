// SPDX-License-Identifier: MIT
/* One big malloc'd buffer, 4x the limit (under jemalloc it is an mmap'd extent). */
#include "run_common.h"

int main(int argc, char **argv)
{
	size_t len = arg_mib(argc, argv, 1, 128);
	char *p = malloc(len);

	if (!p)
		FAIL("malloc");
	fill(p, len, 0, 1);
	if (check(p, len, 0, 1, "first pass") || check(p, len, 0, 1, "second pass"))
		FAIL("content");
	free(p);
	return 0;
}
