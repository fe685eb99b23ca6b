// SPDX-License-Identifier: MIT
/*
 * Partial munmap of managed memory: a hole in the middle, the head, the tail,
 * then one munmap spanning managed memory and an unmanaged mapping placed right
 * after it.  What is left keeps its content; what is gone is unmapped.
 */
#include <errno.h>
#include <sys/mman.h>
#include "run_common.h"

static int mapped(void *p, size_t len)
{
	unsigned char v[16];
	return mincore(p, len < 16 * PAGE ? len : 16 * PAGE, v) == 0 || errno != ENOMEM;
}

int main(void)
{
	size_t len = 128 * MiB;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *q;

	if (p == MAP_FAILED)
		FAIL("mmap");
	fill(p, len, 0, 4);
	if (munmap(p + 48 * MiB, 16 * MiB)) /* hole in the middle */
		FAIL("munmap middle: %s", strerror(errno));
	if (munmap(p, 8 * MiB)) /* head */
		FAIL("munmap head: %s", strerror(errno));
	if (munmap(p + 120 * MiB, 8 * MiB)) /* tail */
		FAIL("munmap tail: %s", strerror(errno));
	if (mapped(p, 8 * MiB) || mapped(p + 48 * MiB, 16 * MiB) || mapped(p + 120 * MiB, 8 * MiB))
		FAIL("unmapped ranges still mapped");
	if (check(p + 8 * MiB, 40 * MiB, 8 * MiB / PAGE, 4, "left part") ||
	    check(p + 64 * MiB, 56 * MiB, 64 * MiB / PAGE, 4, "right part"))
		FAIL("content after partial munmap");
	/* An unmanaged mapping (below the threshold) right after the region's end. */
	q = mmap(p + 120 * MiB, 64 * 1024, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (q != p + 120 * MiB)
		FAIL("mmap after the region: %s", strerror(errno));
	memset(q, 0x5a, 64 * 1024);
	/* One call over managed [112M, 120M) and unmanaged [120M, 120M+64K). */
	if (munmap(p + 112 * MiB, 8 * MiB + 64 * 1024))
		FAIL("munmap across managed and unmanaged: %s", strerror(errno));
	if (mapped(p + 112 * MiB, 8 * MiB) || mapped(q, 64 * 1024))
		FAIL("spanning munmap left something mapped");
	if (check(p + 64 * MiB, 48 * MiB, 64 * MiB / PAGE, 4, "right part after span"))
		FAIL("content");
	if (munmap(p + 8 * MiB, 40 * MiB) || munmap(p + 64 * MiB, 48 * MiB))
		FAIL("munmap rest: %s", strerror(errno));
	return 0;
}
