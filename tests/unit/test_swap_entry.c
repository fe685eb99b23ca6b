/* SPDX-License-Identifier: MIT */
/*
 * test_swap_entry - the encodings of swap_entry.h, table-driven: swap
 * entries at the boundary types and offsets, the PTE <-> entry round trip
 * (flags never leak into the entry), present PTEs with and without a slot,
 * markers, pte_same, and the 32-bit swap table word (count, flags, kind,
 * payload masked to 19 bits).
 */
#include "check.h"
#include "internal.h"

#define OFF_MAX ((1ULL << SWP_OFFSET_BITS) - 1)

static const unsigned int types[] = { 0, 1, 17, 30, MAX_SWAPFILES - 1 };
static const uint64_t offsets[] = { 0, 1, 2, 511, 512, 0xffffffffULL, 1ULL << 32, 1ULL << 36,
				    (1ULL << 50) + 12345, OFF_MAX - 1, OFF_MAX };
#define NTYPES (sizeof(types) / sizeof(types[0]))
#define NOFFS (sizeof(offsets) / sizeof(offsets[0]))

/* Every combination of the six flag bits (bits 2..7). */
static pte_t flag_combo(unsigned int i)
{
	return ((pte_t)i << 2) & PTE_FLAGS_MASK;
}

static void test_layout(void)
{
	CHECK_EQ(SWP_OFFSET_BITS, 51);
	CHECK_EQ(MAX_SWAPFILES, 32);
	CHECK_EQ(PTE_FLAGS_MASK, PTE_LOCKED | PTE_WAITERS | PTE_REFERENCED | PTE_WP | PTE_SLOT | PTE_SELFRM);
	CHECK_EQ(PTE_FLAGS_MASK & PTE_TYPE_MASK, 0);
	CHECK_EQ(PTE_FLAGS_MASK >> SWP_TYPE_SHIFT, 0); /* flags below the entry */
	CHECK((PTE_LOCKED | PTE_WAITERS) < (1ULL << 32));
	/* type and offset fields tile bits 8..63 */
	swp_entry_t all = swp_entry(MAX_SWAPFILES - 1, OFF_MAX);
	CHECK_EQ(all.val, ~0xffULL);
}

static void test_entry_roundtrip(void)
{
	for (size_t t = 0; t < NTYPES; t++) {
		for (size_t o = 0; o < NOFFS; o++) {
			swp_entry_t e = swp_entry(types[t], offsets[o]);
			CHECK_EQ(swp_type(e), types[t]);
			CHECK_EQ(swp_offset(e), offsets[o]);
			CHECK_EQ(e.val & 0xff, 0); /* never touches the type/flag bits of a PTE */

			pte_t pte = swp_entry_to_pte(e);
			CHECK(pte_is_swap(pte));
			CHECK(!pte_none(pte) && !pte_present(pte) && !pte_is_marker(pte));
			CHECK_EQ(pte_to_swp_entry(pte).val, e.val);

			/* Flags set on the PTE never leak into the entry. */
			for (unsigned int f = 0; f < 64; f++) {
				pte_t p = pte | flag_combo(f);
				CHECK(pte_is_swap(p));
				swp_entry_t back = pte_to_swp_entry(p);
				CHECK_EQ(back.val, e.val);
				CHECK_EQ(swp_type(back), types[t]);
				CHECK_EQ(swp_offset(back), offsets[o]);
			}
		}
	}
	/* Distinct (type, offset) give distinct entries. */
	for (size_t a = 0; a < NTYPES * NOFFS; a++)
		for (size_t b = a + 1; b < NTYPES * NOFFS; b++)
			CHECK(swp_entry(types[a / NOFFS], offsets[a % NOFFS]).val !=
			      swp_entry(types[b / NOFFS], offsets[b % NOFFS]).val);
}

static void test_pte_types(void)
{
	static const struct {
		pte_t pte;
		bool none, present, swap, marker;
	} rows[] = {
		{ 0, true, false, false, false },
		{ PTE_NONE | PTE_LOCKED, true, false, false, false },
		{ PTE_PRESENT, false, true, false, false },
		{ PTE_PRESENT | PTE_FLAGS_MASK, false, true, false, false },
		{ PTE_SWAP, false, false, true, false },
		{ PTE_MARKER, false, false, false, true },
		{ ~0ULL, false, false, false, true },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		CHECK_EQ(pte_none(rows[i].pte), rows[i].none);
		CHECK_EQ(pte_present(rows[i].pte), rows[i].present);
		CHECK_EQ(pte_is_swap(rows[i].pte), rows[i].swap);
		CHECK_EQ(pte_is_marker(rows[i].pte), rows[i].marker);
	}
}

static void test_present(void)
{
	for (size_t t = 0; t < NTYPES; t++) {
		for (size_t o = 0; o < NOFFS; o++) {
			swp_entry_t e = swp_entry(types[t], offsets[o]);
			pte_t keep = make_present_pte(true, e);
			pte_t drop = make_present_pte(false, e);

			CHECK(pte_present(keep));
			CHECK(keep & PTE_SLOT);
			CHECK_EQ(pte_to_swp_entry(keep).val, e.val);
			CHECK_EQ(keep & (PTE_FLAGS_MASK & ~PTE_SLOT), 0);
			/* the page lock and referenced bit do not disturb the slot */
			CHECK_EQ(pte_to_swp_entry(keep | PTE_LOCKED | PTE_WAITERS | PTE_REFERENCED).val, e.val);

			CHECK_EQ(drop, PTE_PRESENT);
			CHECK(!(drop & PTE_SLOT));
			CHECK_EQ(pte_to_swp_entry(drop).val, 0);
		}
	}
}

static void test_markers(void)
{
	static const uint64_t kinds[] = { MARKER_ZERO, MARKER_POISON, 3, 0xff, 1ULL << 40,
					  (1ULL << 56) - 1 };
	CHECK(MARKER_ZERO != MARKER_POISON);
	CHECK(MARKER_ZERO != 0 && MARKER_POISON != 0);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		pte_t m = make_marker_pte(kinds[i]);
		CHECK(pte_is_marker(m));
		CHECK(!pte_none(m) && !pte_present(m) && !pte_is_swap(m));
		CHECK_EQ(pte_marker_kind(m), kinds[i]);
		CHECK_EQ(m & PTE_FLAGS_MASK, 0);
		/* lock/waiter bits (taken on markers too) do not change the kind */
		CHECK_EQ(pte_marker_kind(m | PTE_LOCKED | PTE_WAITERS | PTE_REFERENCED), kinds[i]);
		CHECK(pte_is_marker(m | PTE_LOCKED | PTE_WAITERS));
	}
	CHECK(make_marker_pte(MARKER_ZERO) != make_marker_pte(MARKER_POISON));
	/* A marker is never a swap entry of the same bits. */
	CHECK(make_marker_pte(MARKER_ZERO) != swp_entry_to_pte(pte_to_swp_entry(make_marker_pte(MARKER_ZERO))));
}

static void test_pte_same(void)
{
	const pte_t ignored[] = { PTE_LOCKED, PTE_WAITERS, PTE_REFERENCED,
				  PTE_LOCKED | PTE_WAITERS | PTE_REFERENCED };
	const pte_t significant[] = { PTE_WP, PTE_SLOT, PTE_SELFRM, PTE_PRESENT, PTE_SWAP,
				      1ULL << SWP_TYPE_SHIFT, 1ULL << SWP_OFFSET_SHIFT, 1ULL << 63 };
	const pte_t bases[] = {
		0,
		PTE_PRESENT,
		make_present_pte(true, swp_entry(3, 1000)),
		swp_entry_to_pte(swp_entry(0, 0)),
		swp_entry_to_pte(swp_entry(31, OFF_MAX)),
		make_marker_pte(MARKER_ZERO),
		make_marker_pte(MARKER_POISON) | PTE_LOCKED,
	};
	for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
		pte_t a = bases[b];
		CHECK(pte_same(a, a));
		for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
			CHECK(pte_same(a, a ^ ignored[i]));
			CHECK(pte_same(a ^ ignored[i], a));
		}
		for (size_t i = 0; i < sizeof(significant) / sizeof(significant[0]); i++) {
			CHECK(!pte_same(a, a ^ significant[i]));
			CHECK(!pte_same(a ^ significant[i], a));
			/* still different when the ignored bits differ as well */
			CHECK(!pte_same(a | PTE_LOCKED, (a ^ significant[i]) & ~PTE_LOCKED));
		}
	}
	/* Every single bit outside the ignored three counts. */
	for (int bit = 0; bit < 64; bit++) {
		pte_t m = 1ULL << bit;
		bool ign = m & (PTE_LOCKED | PTE_WAITERS | PTE_REFERENCED);
		CHECK_EQ(pte_same(0, m), ign);
	}
}

static void test_swp_tb(void)
{
	CHECK_EQ(sizeof(swp_tb_t), 4);
	CHECK_EQ(SWP_TB_PAYLOAD_SHIFT + SWP_TB_PAYLOAD_BITS, 32);
	CHECK_EQ(MAX_POOL_FRAMES, 1u << 19);
	CHECK_EQ(SWP_TB_PAYLOAD_MASK, MAX_POOL_FRAMES - 1);
	CHECK_EQ(SHADOW_MASK, SWP_TB_PAYLOAD_MASK);
	/* the fields do not overlap and cover the word */
	const uint32_t fields[] = { SWP_TB_COUNT_MASK, SWP_TB_BUSY, SWP_TB_WAITERS, SWP_TB_DATA,
				    SWP_TB_KIND_MASK, SWP_TB_PAYLOAD_MASK << SWP_TB_PAYLOAD_SHIFT };
	uint32_t acc = 0;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		CHECK_EQ(acc & fields[i], 0);
		acc |= fields[i];
	}
	CHECK_EQ(acc, 0xffffffffu);
	CHECK(SWP_TB_COUNT_MAX < SWP_TB_COUNT_MASK);

	static const unsigned int counts[] = { 0, 1, 2, 0x7f, SWP_TB_COUNT_MAX, SWP_TB_COUNT_MASK };
	static const uint32_t flag_sets[] = { 0, SWP_TB_BUSY, SWP_TB_WAITERS, SWP_TB_DATA,
					      SWP_TB_BUSY | SWP_TB_WAITERS | SWP_TB_DATA };
	static const unsigned int kinds[] = { SLOT_EMPTY, SLOT_CACHE, SLOT_SHADOW };
	static const uint32_t payloads[] = { 0, 1, 2, 12345, MAX_POOL_FRAMES - 2, MAX_POOL_FRAMES - 1 };
	static const struct {
		uint32_t in, out;
	} masked[] = {
		{ MAX_POOL_FRAMES, 0 },
		{ MAX_POOL_FRAMES + 7, 7 },
		{ 0xffffffffu, MAX_POOL_FRAMES - 1 },
		{ 0x80000000u | 5, 5 },
	};

	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		for (size_t f = 0; f < sizeof(flag_sets) / sizeof(flag_sets[0]); f++) {
			swp_tb_t base = counts[c] | flag_sets[f];
			CHECK_EQ(swp_tb_count(base), counts[c]);
			CHECK_EQ(swp_tb_kind(base), SLOT_EMPTY);
			CHECK_EQ(swp_tb_payload(base), 0);
			for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
				for (size_t p = 0; p < sizeof(payloads) / sizeof(payloads[0]); p++) {
					swp_tb_t t = swp_tb_set(base, kinds[k], payloads[p]);
					CHECK_EQ(swp_tb_count(t), counts[c]);
					CHECK_EQ(t & (SWP_TB_BUSY | SWP_TB_WAITERS | SWP_TB_DATA), flag_sets[f]);
					CHECK_EQ(swp_tb_kind(t), kinds[k]);
					CHECK_EQ(swp_tb_payload(t), payloads[p]);
					/* set again over a different kind/payload: fully replaced */
					for (size_t k2 = 0; k2 < sizeof(kinds) / sizeof(kinds[0]); k2++) {
						swp_tb_t t2 = swp_tb_set(t, kinds[k2], payloads[p] ^ 0x2aaaa);
						CHECK_EQ(swp_tb_count(t2), counts[c]);
						CHECK_EQ(t2 & (SWP_TB_BUSY | SWP_TB_WAITERS | SWP_TB_DATA),
							 flag_sets[f]);
						CHECK_EQ(swp_tb_kind(t2), kinds[k2]);
						CHECK_EQ(swp_tb_payload(t2), (payloads[p] ^ 0x2aaaa) & SWP_TB_PAYLOAD_MASK);
					}
					/* back to empty keeps count and flags only */
					CHECK_EQ(swp_tb_set(t, SLOT_EMPTY, 0), base);
				}
				for (size_t m = 0; m < sizeof(masked) / sizeof(masked[0]); m++) {
					swp_tb_t t = swp_tb_set(base, kinds[k], masked[m].in);
					CHECK_EQ(swp_tb_payload(t), masked[m].out);
					CHECK_EQ(swp_tb_kind(t), kinds[k]);
					CHECK_EQ(swp_tb_count(t), counts[c]);
					CHECK_EQ(t & (SWP_TB_BUSY | SWP_TB_WAITERS | SWP_TB_DATA), flag_sets[f]);
				}
			}
		}
	}
	/* A frame index up to MAX_POOL_FRAMES - 1 fits; the busy/waiter bits sit in the futex word. */
	swp_tb_t t = swp_tb_set(1 | SWP_TB_BUSY, SLOT_CACHE, MAX_POOL_FRAMES - 1);
	CHECK_EQ(t, 1u | SWP_TB_BUSY | (SLOT_CACHE << SWP_TB_KIND_SHIFT) | 0xffffe000u);
}

int main(void)
{
	test_layout();
	test_entry_roundtrip();
	test_pte_types();
	test_present();
	test_markers();
	test_pte_same();
	test_swp_tb();
	printf("test_swap_entry: ok\n");
	return 0;
}
