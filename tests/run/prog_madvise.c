// SPDX-License-Identifier: MIT
/* madvise on managed memory: DONTNEED reads zero, FREE, PAGEOUT, WILLNEED, COLD. */
#include <errno.h>
#include <sys/mman.h>
#include "run_common.h"

int main(void)
{
	size_t len = 128 * MiB;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		FAIL("mmap");
	fill(p, len, 0, 7);
	if (madvise(p, 16 * MiB, MADV_DONTNEED)) /* mostly swapped out by now */
		FAIL("DONTNEED: %s", strerror(errno));
	if (!all_zero(p, 16 * MiB))
		FAIL("DONTNEED pages do not read zero");
	if (madvise(p + 120 * MiB, 8 * MiB, MADV_DONTNEED)) /* resident ones */
		FAIL("DONTNEED resident: %s", strerror(errno));
	if (!all_zero(p + 120 * MiB, 8 * MiB))
		FAIL("DONTNEED resident pages do not read zero");
	if (madvise(p + 112 * MiB, 8 * MiB, MADV_FREE))
		FAIL("FREE: %s", strerror(errno));
	for (size_t off = 112 * MiB; off < 120 * MiB; off += PAGE) /* old content or zero */
		if (!all_zero(p + off, PAGE) && check(p + off, PAGE, off / PAGE, 7, "FREE"))
			FAIL("FREE page neither old nor zero");
	if (madvise(p + 16 * MiB, 16 * MiB, MADV_PAGEOUT))
		FAIL("PAGEOUT: %s", strerror(errno));
	if (madvise(p + 32 * MiB, 8 * MiB, MADV_COLD))
		FAIL("COLD: %s", strerror(errno));
	if (madvise(p + 16 * MiB, 8 * MiB, MADV_WILLNEED))
		FAIL("WILLNEED: %s", strerror(errno));
	if (check(p + 16 * MiB, 96 * MiB, 16 * MiB / PAGE, 7, "after advice"))
		FAIL("content");
	if (madvise(p, len, MADV_SEQUENTIAL)) /* a hint: passed to the kernel */
		FAIL("SEQUENTIAL: %s", strerror(errno));
	return 0;
}
