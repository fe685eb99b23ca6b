/* SPDX-License-Identifier: MIT */
/* mix64.h - splitmix64's finaliser: the one 64-bit mix that tests and benchmarks use to
 * generate page content and access orders. */
#ifndef USWAP_MIX64_H
#define USWAP_MIX64_H
#include <stdint.h>

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}
#endif
