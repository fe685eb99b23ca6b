// SPDX-License-Identifier: MIT
/* mlock of part of managed memory: it stays resident while the rest swaps. */
#include <errno.h>
#include <sys/mman.h>
#include "run_common.h"

static size_t resident(void *p, size_t len)
{
	static unsigned char v[128 * MiB / PAGE];
	size_t n = 0;

	if (mincore(p, len, v))
		FAIL("mincore: %s", strerror(errno));
	for (size_t i = 0; i < len / PAGE; i++)
		n += v[i] & 1;
	return n;
}

int main(void)
{
	size_t len = 128 * MiB, lock = 8 * MiB;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		FAIL("mmap");
	fill(p, len, 0, 10);
	if (mlock(p, lock)) /* swapped out by now: swapped back in and pinned */
		FAIL("mlock: %s", strerror(errno));
	if (resident(p, lock) != lock / PAGE)
		FAIL("locked range not resident after mlock (%zu pages)", resident(p, lock));
	fill(p + lock, len - lock, lock / PAGE, 11); /* the rest cycles through the limit */
	if (check(p + lock, len - lock, lock / PAGE, 11, "rest"))
		FAIL("content");
	if (resident(p, lock) != lock / PAGE)
		FAIL("locked range was evicted (%zu of %zu pages resident)", resident(p, lock),
		     lock / PAGE);
	if (check(p, lock, 0, 10, "locked"))
		FAIL("locked content");
	if (munlock(p, lock))
		FAIL("munlock: %s", strerror(errno));
	return 0;
}
