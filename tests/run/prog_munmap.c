// SPDX-License-Identifier: MIT
/*
 * Partial munmap of managed memory: a hole in the middle, the head, the tail,
 * and one munmap spanning an unmanaged mapping placed right before the region
 * and the region's head.  What is left keeps its content; what is gone is no
 * longer accessible (uswap keeps the addresses of a partly unmapped region
 * reserved PROT_NONE until all of it is unmapped: docs/run.md).
 */
#include <errno.h>
#include <sys/mman.h>
#include "run_common.h"

/* Is any page of [p, p+len) readable, from /proc/self/maps? */
static int accessible(const char *p, size_t len)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	int yes = 0;

	while (f && fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		char perms[8];
		if (sscanf(line, "%lx-%lx %7s", &s, &e, perms) == 3 && s < (unsigned long)p + len &&
		    e > (unsigned long)p && perms[0] == 'r')
			yes = 1;
	}
	if (f)
		fclose(f);
	return yes;
}

int main(void)
{
	size_t len = 128 * MiB, small = 64 * 1024;
	/* The region, with one unmanaged mapping (below the threshold) right
	 * before it: map the region a little larger, unmap its first pages
	 * (a uswap hole) and map over them with MAP_FIXED (the shim gives the
	 * hole up; the new mapping is the kernel's).  No other mapping can sit
	 * there, as one could next to a region mapped by itself. */
	char *p = mmap(NULL, len + small, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *q;

	if (p == MAP_FAILED)
		FAIL("mmap");
	if (munmap(p, small))
		FAIL("munmap head: %s", strerror(errno));
	q = mmap(p, small, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (q != p)
		FAIL("mmap before the region: %s", strerror(errno));
	p += small;
	memset(q, 0x5a, small);
	fill(p, len, 0, 4);
	if (munmap(p + 48 * MiB, 16 * MiB)) /* hole in the middle */
		FAIL("munmap middle: %s", strerror(errno));
	if (munmap(p + 120 * MiB, 8 * MiB)) /* tail */
		FAIL("munmap tail: %s", strerror(errno));
	/* One call over unmanaged [q, p) and the managed head [p, p+8M). */
	if (munmap(q, small + 8 * MiB))
		FAIL("munmap across unmanaged and managed: %s", strerror(errno));
	if (accessible(q, small) || accessible(p, 8 * MiB) || accessible(p + 48 * MiB, 16 * MiB) ||
	    accessible(p + 120 * MiB, 8 * MiB))
		FAIL("unmapped ranges still accessible");
	if (!accessible(p + 8 * MiB, 40 * MiB) || !accessible(p + 64 * MiB, 56 * MiB))
		FAIL("the rest is not accessible");
	if (check(p + 8 * MiB, 40 * MiB, 8 * MiB / PAGE, 4, "left part") ||
	    check(p + 64 * MiB, 56 * MiB, 64 * MiB / PAGE, 4, "right part"))
		FAIL("content after partial munmap");
	fill(p + 64 * MiB, 56 * MiB, 64 * MiB / PAGE, 5); /* still managed: swaps */
	if (check(p + 64 * MiB, 56 * MiB, 64 * MiB / PAGE, 5, "right part rewritten"))
		FAIL("content");
	/* The rest, holes included, in one call: the region goes. */
	if (munmap(p, len))
		FAIL("munmap rest: %s", strerror(errno));
	if (accessible(p, len))
		FAIL("region still accessible");
	return 0;
}
