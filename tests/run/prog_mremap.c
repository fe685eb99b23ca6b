// SPDX-License-Identifier: MIT
/* mremap of managed memory: grow (may move), shrink, move to a fixed address. */
#include <errno.h>
#include <sys/mman.h>
#include "run_common.h"

int main(void)
{
	size_t len = 64 * MiB;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *q, *r, *target;

	if (p == MAP_FAILED)
		FAIL("mmap");
	fill(p, len, 0, 5);
	q = mremap(p, len, 2 * len, MREMAP_MAYMOVE); /* grow to 128M */
	if (q == MAP_FAILED)
		FAIL("mremap grow: %s", strerror(errno));
	if (check(q, len, 0, 5, "after grow"))
		FAIL("content after grow");
	if (!all_zero(q + len, 64 * PAGE))
		FAIL("grown part is not zero");
	fill(q + len, len, len / PAGE, 5);
	if (check(q, 2 * len, 0, 5, "grown, filled"))
		FAIL("content");
	r = mremap(q, 2 * len, len + len / 2, 0); /* shrink to 96M in place */
	if (r != q)
		FAIL("mremap shrink: %s", strerror(errno));
	if (check(r, len + len / 2, 0, 5, "after shrink"))
		FAIL("content after shrink");
	/* Move to a free address: reserve one, then move onto it. */
	target = mmap(NULL, len + len / 2, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (target == MAP_FAILED)
		FAIL("reserve");
	q = mremap(r, len + len / 2, len + len / 2, MREMAP_MAYMOVE | MREMAP_FIXED, target);
	if (q != target)
		FAIL("mremap move: %s", strerror(errno));
	if (check(q, len + len / 2, 0, 5, "after move"))
		FAIL("content after move");
	fill(q, len, 0, 6); /* still managed and writable */
	if (check(q, len, 0, 6, "rewritten"))
		FAIL("content");
	if (munmap(q, len + len / 2))
		FAIL("munmap: %s", strerror(errno));
	return 0;
}
