/* SPDX-License-Identifier: MIT */
/*
 * swap_entry.h - encodings of the software PTE, the swap entry, the per-slot
 * swap table word and the shadow entry.
 *
 * kernel: include/linux/swapops.h (swp_entry_t, pte markers),
 *         mm/swap_table.h (the 2026 per-cluster swap table).
 *
 * Software PTE (one 64-bit word per managed page, the only per-page metadata):
 *
 *   63                                   13 12     8 7 6 5 4 3 2 1 0
 *  [            payload (51 bits)          | type   |R|S|W|A|w|L| T ]
 *
 *   T  (2)  PTE_NONE / PTE_PRESENT / PTE_SWAP / PTE_MARKER
 *   L       locked: the page lock (kernel: folio lock + PTE lock in one)
 *   w       waiters: someone sleeps on the futex of the low 32 bits
 *   A       referenced: second chance for the clock (set on swap-cache hit
 *           and on refault activation; cleared by the clock scan)
 *   W       the page was mapped write-protected (WP_ASYNC): a write clears
 *           the kernel's uffd-wp bit, PAGEMAP_SCAN reports it as written
 *   S       present page that still owns its swap slot with valid data
 *           (payload = swap entry): evicting it clean needs no write
 *   R       a MADV_DONTNEED issued by uswap itself is in flight on this
 *           page (write-protect eviction): its REMOVE event is ours
 *   type/payload: swap entry (device 5 bits, slot offset 51 bits) for
 *           PTE_SWAP and present+S; marker kind for PTE_MARKER.
 *
 * The lock and waiter bits live in the low 32 bits so that the low half of
 * the PTE is the futex word for the page (little-endian x86-64, aarch64).
 */
#ifndef USWAP_SWAP_ENTRY_H
#define USWAP_SWAP_ENTRY_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>

typedef uint64_t pte_t;

#define PTE_TYPE_MASK 0x3ULL
#define PTE_NONE 0x0ULL
#define PTE_PRESENT 0x1ULL
#define PTE_SWAP 0x2ULL
#define PTE_MARKER 0x3ULL

#define PTE_LOCKED (1ULL << 2)
#define PTE_WAITERS (1ULL << 3)
#define PTE_REFERENCED (1ULL << 4)
#define PTE_WP (1ULL << 5)
#define PTE_SLOT (1ULL << 6)
#define PTE_SELFRM (1ULL << 7)
#define PTE_FLAGS_MASK 0xfcULL
/* A present page without a kept slot has no payload; its lowest payload bit
 * then says the page is mlocked (pinned: never evicted).  Pinning gives up
 * the kept slot (madvise.c), so the two never meet. */
#define PTE_MLOCKED (1ULL << 8)

#define SWP_TYPE_SHIFT 8
#define SWP_TYPE_BITS 5
#define SWP_OFFSET_SHIFT (SWP_TYPE_SHIFT + SWP_TYPE_BITS)
#define SWP_OFFSET_BITS (64 - SWP_OFFSET_SHIFT)
#define MAX_SWAPFILES (1 << SWP_TYPE_BITS)

/* Marker kinds (payload of a PTE_MARKER). */
#define MARKER_ZERO 1ULL   /* evicted while all zero: refault maps zeroes, no slot used */
#define MARKER_POISON 2ULL /* data lost: every access gets SIGBUS (UFFDIO_POISON) */
#define MARKER_HOLE 3ULL   /* unmapped by a partial munmap: a PROT_NONE reservation of ours */
#define MARKER_GONE 4ULL   /* a hole unmapped again: the addresses are not ours any more */

_Static_assert(SWP_OFFSET_BITS == 51, "swap offset width");
_Static_assert((PTE_LOCKED | PTE_WAITERS) < (1ULL << 32), "futex bits must be in the low word");
_Static_assert((PTE_FLAGS_MASK & PTE_TYPE_MASK) == 0, "flags overlap type");

/* A swap entry: device type + slot offset (kernel: swp_entry_t). */
typedef struct {
	uint64_t val;
} swp_entry_t;

static inline swp_entry_t swp_entry(unsigned int type, uint64_t offset)
{
	swp_entry_t e = { ((uint64_t)type << SWP_TYPE_SHIFT) | (offset << SWP_OFFSET_SHIFT) };
	return e;
}
static inline unsigned int swp_type(swp_entry_t e)
{
	return (unsigned int)((e.val >> SWP_TYPE_SHIFT) & ((1u << SWP_TYPE_BITS) - 1));
}
static inline uint64_t swp_offset(swp_entry_t e)
{
	return e.val >> SWP_OFFSET_SHIFT;
}

static inline uint64_t pte_type(pte_t pte)
{
	return pte & PTE_TYPE_MASK;
}
static inline bool pte_none(pte_t pte)
{
	return pte_type(pte) == PTE_NONE;
}
static inline bool pte_present(pte_t pte)
{
	return pte_type(pte) == PTE_PRESENT;
}
static inline bool pte_mlocked(pte_t pte)
{
	return (pte & (PTE_TYPE_MASK | PTE_SLOT | PTE_MLOCKED)) == (PTE_PRESENT | PTE_MLOCKED);
}
static inline bool pte_is_swap(pte_t pte)
{
	return pte_type(pte) == PTE_SWAP;
}
static inline bool pte_is_marker(pte_t pte)
{
	return pte_type(pte) == PTE_MARKER;
}
/* Swap entry of a PTE_SWAP entry or of a present page holding its slot (kernel: pte_to_swp_entry). */
static inline swp_entry_t pte_to_swp_entry(pte_t pte)
{
	swp_entry_t e = { pte & ~(PTE_TYPE_MASK | PTE_FLAGS_MASK) };
	return e;
}
static inline pte_t swp_entry_to_pte(swp_entry_t e)
{
	return e.val | PTE_SWAP;
}
static inline pte_t make_marker_pte(uint64_t kind)
{
	return (kind << SWP_TYPE_SHIFT) | PTE_MARKER;
}
static inline uint64_t pte_marker_kind(pte_t pte)
{
	return pte >> SWP_TYPE_SHIFT;
}
/* Present page; @e is kept (PTE_SLOT) when @keep_slot. */
static inline pte_t make_present_pte(bool keep_slot, swp_entry_t e)
{
	return keep_slot ? (e.val | PTE_PRESENT | PTE_SLOT) : PTE_PRESENT;
}
/* Same page state, ignoring lock/waiter/referenced bits (kernel: pte_same). */
static inline bool pte_same(pte_t a, pte_t b)
{
	const pte_t ign = PTE_LOCKED | PTE_WAITERS | PTE_REFERENCED;
	return (a & ~ign) == (b & ~ign);
}

/*
 * Swap table word: one 32-bit word per slot, in the slot's cluster table.
 * It is the single synchronisation point for the slot, and the futex that
 * waiters on the slot sleep on.
 *
 *   31                 13 12 11 10  9  8 7       0
 *  [  payload (19 bits)  | kind | D | w | B | count ]
 *
 *   count (8) swap count: number of PTEs referring to the slot (kernel: swap_map)
 *   B   busy: claimed by one user (swapcache_prepare / writeback / swapoff)
 *   w   waiters on the slot futex
 *   D   the backend holds valid data for the slot
 *   kind: SLOT_EMPTY, SLOT_CACHE (payload = pool frame index: the swap cache),
 *         SLOT_SHADOW (payload = shadow: the group's eviction clock, quantised),
 *         SLOT_MAPPED (the page is resident and the slot keeps its clean copy)
 *
 * 32 bits rather than the kernel's 64: a frame index and a quantised shadow
 * both fit in 19 bits, and the 4 bytes saved per slot are what keeps uswap's
 * metadata within 16 bytes per managed page (docs/metadata.md).
 */
typedef uint32_t swp_tb_t;

#define SWP_TB_COUNT_MASK 0xffu
#define SWP_TB_COUNT_MAX 0xfeu
#define SWP_TB_BUSY (1u << 8)
#define SWP_TB_WAITERS (1u << 9)
#define SWP_TB_DATA (1u << 10)
#define SWP_TB_KIND_SHIFT 11
#define SWP_TB_KIND_MASK (3u << SWP_TB_KIND_SHIFT)
#define SLOT_EMPTY 0u
#define SLOT_CACHE 1u
#define SLOT_SHADOW 2u
#define SLOT_MAPPED 3u /* the page is resident; the slot keeps its clean copy (PTE_SLOT) */
#define SWP_TB_PAYLOAD_SHIFT 13
#define SWP_TB_PAYLOAD_BITS 19
#define SWP_TB_PAYLOAD_MASK ((1u << SWP_TB_PAYLOAD_BITS) - 1)
#define MAX_POOL_FRAMES (1u << SWP_TB_PAYLOAD_BITS)

static inline unsigned int swp_tb_count(swp_tb_t t)
{
	return t & SWP_TB_COUNT_MASK;
}
static inline unsigned int swp_tb_kind(swp_tb_t t)
{
	return (t & SWP_TB_KIND_MASK) >> SWP_TB_KIND_SHIFT;
}
static inline uint32_t swp_tb_payload(swp_tb_t t)
{
	return t >> SWP_TB_PAYLOAD_SHIFT;
}
/* Replace kind and payload, keep count and flag bits. */
static inline swp_tb_t swp_tb_set(swp_tb_t t, unsigned int kind, uint32_t payload)
{
	t &= ~(SWP_TB_KIND_MASK | (SWP_TB_PAYLOAD_MASK << SWP_TB_PAYLOAD_SHIFT));
	return t | (kind << SWP_TB_KIND_SHIFT) | ((payload & SWP_TB_PAYLOAD_MASK) << SWP_TB_PAYLOAD_SHIFT);
}

/*
 * Shadow entry (payload of SLOT_SHADOW): the eviction clock of the page's
 * group when it left memory, in units of 2^shift evictions so that 19 bits
 * span several times the group's size (workingset.c).  No group id is
 * needed: a region never changes group, so a page refaults into the group
 * that evicted it.
 */
#define SHADOW_BITS SWP_TB_PAYLOAD_BITS
#define SHADOW_MASK SWP_TB_PAYLOAD_MASK

#endif /* USWAP_SWAP_ENTRY_H */
