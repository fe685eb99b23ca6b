/* SPDX-License-Identifier: MIT */
/*
 * test_zram - the zram backend through its ops table: spec parsing, round
 * trip of every content kind with lz4 and zstd, exact counters, hashes,
 * matches(), overwrite, discard, mem_limit (-ENOSPC and recovery), lazy slot
 * table, compaction preserving every page, 4 writer/reader threads against a
 * compacting thread, and reads from a signal handler that interrupts
 * writes and compaction.  zram_check_invariants() runs after every test.
 */
#include "backend/backend.h"
#include "backend/zsmalloc.h"
#include "check.h"

#include <errno.h>
#include <lz4.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <xxhash.h>
#include <zstd.h>

#define PAGE 4096
#define HUGE_THRESHOLD 3584 /* zram.c: compressed sizes above it are stored raw */

static const struct swap_backend_ops *ops = &zram_backend_ops;

#define CHECK_INV(z)                                                                               \
	do {                                                                                       \
		char err_[256] = "";                                                               \
		int ret_ = zram_check_invariants(z, err_, sizeof(err_));                           \
		if (ret_)                                                                          \
			fprintf(stderr, "invariants: %s\n", err_);                                 \
		CHECK_EQ(ret_, 0);                                                                 \
	} while (0)

static void *zcreate(const char *spec, uint64_t *nr)
{
	char err[256] = "";
	void *z = NULL;
	uint64_t dummy;
	int ret = ops->create(spec, &z, nr ? nr : &dummy, err, sizeof(err));

	if (ret)
		fprintf(stderr, "create(\"%s\"): %d %s\n", spec, ret, err);
	CHECK_EQ(ret, 0);
	return z;
}

static uint64_t hash_of(const void *page)
{
	return XXH3_64bits(page, PAGE);
}

static void fill_word(void *page, uint64_t w)
{
	uint64_t *p = page;

	for (int i = 0; i < PAGE / 8; i++)
		p[i] = w;
}

/* Compressed size zram must have stored for @page: 4096 if raw. */
static uint64_t expected_len(int zstd, int level, const void *page)
{
	static char buf[HUGE_THRESHOLD];

	if (zstd) {
		size_t n = ZSTD_compress(buf, sizeof(buf), page, PAGE, level);

		return ZSTD_isError(n) ? PAGE : n;
	}
	int n = LZ4_compress_default(page, buf, PAGE, sizeof(buf));

	return n > 0 ? (uint64_t)n : PAGE;
}

/* zram.c stores a same-filled word inline iff its top three bits are equal. */
static int word_is_wide(uint64_t w)
{
	uint64_t top = w >> 61;

	return top != 0 && top != 7;
}

static void read_check(void *z, uint64_t slot, const void *want, int want_hash_valid)
{
	static char page[PAGE];
	uint64_t hash = 0;
	bool valid = !want_hash_valid;

	memset(page, 0xa5, sizeof(page));
	CHECK_EQ(ops->read(z, slot, page, &hash, &valid), 0);
	CHECK(memcmp(page, want, PAGE) == 0);
	CHECK_EQ(valid, want_hash_valid);
	if (want_hash_valid)
		CHECK(hash == hash_of(want));
}

static void test_spec(void)
{
	static const char *const bad[] = {
		"lz5",		"size=abc",	  "size=0",	     "size=4097",
		"size=-4096",	"foo=1",	  "size=4G:size=8G", "lz4:zstd",
		"lz4:level=3",	"zstd:level=99",  "zstd:level=abc",  "mem_limit=xyz",
		"size=",	"lz4::size=4M",	  ":",		     "size=512T",
		"zstd:level=",	"=4",		  "lz4:",	     "size=4G ",
		"LZ4",		"size=99999999999999999999",
	};
	static const struct {
		const char *spec;
		uint64_t nr;
	} good[] = {
		{ "", 1u << 20 },
		{ "lz4:size=4G", 1u << 20 },
		{ "zstd:size=1G:mem_limit=256M", 1u << 18 },
		{ "size=64M", 16384 },
		{ "size=8M:zstd:level=19", 2048 },
		{ "zstd:level=-5:size=1M", 256 },
		{ "mem_limit=0:size=4096", 1 },
		{ "size=256T", 1ull << 36 },
	};
	char err[256];
	uint64_t nr;
	void *z;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		z = NULL;
		if (ops->create(bad[i], &z, &nr, err, sizeof(err)) != -EINVAL) {
			fprintf(stderr, "spec \"%s\" accepted\n", bad[i]);
			CHECK(0);
		}
		CHECK(z == NULL);
		CHECK(strlen(err) > 0);
	}
	/* Messages name the problem. */
	CHECK_EQ(ops->create("lz5", &z, &nr, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "lz5") != NULL);
	CHECK_EQ(ops->create("size=4G:colour=red", &z, &nr, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "colour") != NULL);
	CHECK_EQ(ops->create("size=12X", &z, &nr, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "12X") != NULL);

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct backend_stat st;

		z = zcreate(good[i].spec, &nr);
		CHECK_EQ(nr, good[i].nr);
		CHECK_EQ(ops->stat(z, &st), 0);
		CHECK_EQ(st.nr_stored, 0);
		/* Lazy slot table: even 2^36 slots cost only the chunk pointers. */
		CHECK(st.meta_bytes < (12u << 20));
		CHECK_INV(z);
		ops->destroy(z);
	}
	CHECK(ops->flags & BK_SYNCHRONOUS);
	CHECK(strcmp(ops->name, "zram") == 0);
}

static const uint64_t same_words[] = {
	0,
	1,
	0xFFFFFFFFFFFFFFFFull,
	0x8000000000000001ull,
	0x7FFFFFFFFFFFFFFFull,
	0x4000000000000000ull,
	0xC000000000000000ull,
	0x2000000000000000ull,
	0xE000000000000000ull,
	0x1FFFFFFFFFFFFFFFull,
	0xDEADBEEFCAFEBABEull,
	0x0101010101010101ull,
	0xA5A5A5A5A5A5A5A5ull,
};
#define NR_SAME_WORDS (sizeof(same_words) / sizeof(same_words[0]))

static void test_roundtrip(int zstd)
{
	const uint64_t n = 2000;
	static char page[PAGE], other[PAGE];
	struct backend_stat st;
	uint64_t same = 0, huge = 0, compr = 0, nr;
	void *z;

	z = zcreate(zstd ? "zstd:size=64M" : "lz4:size=64M", &nr);
	for (uint64_t i = 0; i < n; i++) {
		int kind = (int)(i % 5); /* RANDOM HALF TEXT ZERO SAME */
		uint64_t len;

		fill_page(page, 1, i, kind);
		CHECK_EQ(ops->write(z, i, page, hash_of(page)), 0);
		if (kind == FILL_ZERO || kind == FILL_SAME) {
			same++;
			compr += kind == FILL_SAME && word_is_wide(((uint64_t *)(void *)page)[0]) ? 8 : 0;
			continue;
		}
		len = expected_len(zstd, 3, page);
		huge += len == PAGE;
		compr += len;
	}
	for (uint64_t k = 0; k < NR_SAME_WORDS; k++) {
		fill_word(page, same_words[k]);
		CHECK_EQ(ops->write(z, n + k, page, hash_of(page)), 0);
		same++;
		compr += word_is_wide(same_words[k]) ? 8 : 0;
	}
	CHECK_EQ(ops->stat(z, &st), 0);
	CHECK_EQ(st.nr_stored, n + NR_SAME_WORDS);
	CHECK_EQ(st.orig_data_size, (n + NR_SAME_WORDS) * PAGE);
	CHECK_EQ(st.same_pages, same);
	CHECK_EQ(st.huge_pages, huge);
	CHECK_EQ(st.huge_pages_since, huge);
	CHECK_EQ(huge, n / 5); /* exactly the random pages */
	CHECK_EQ(st.compr_data_size, compr);
	CHECK(st.mem_used_total >= st.compr_data_size + st.meta_bytes);
	CHECK(st.mem_used_max >= st.mem_used_total);
	CHECK_EQ(st.mem_limit, 0);
	CHECK_INV(z);

	for (uint64_t i = 0; i < n; i++) {
		int kind = (int)(i % 5);
		int is_same = kind == FILL_ZERO || kind == FILL_SAME;

		fill_page(page, 1, i, kind);
		read_check(z, i, page, !is_same);
		CHECK_EQ(ops->matches(z, i, page, hash_of(page)), 1);
		if (!is_same)
			CHECK_EQ(ops->matches(z, i, page, hash_of(page) ^ 1), 0);
		fill_page(other, 1, i + 1, kind);
		if (is_same)
			CHECK_EQ(ops->matches(z, i, other, hash_of(other)),
				 kind == FILL_ZERO ? 1 : 0);
	}
	for (uint64_t k = 0; k < NR_SAME_WORDS; k++) {
		fill_word(page, same_words[k]);
		read_check(z, n + k, page, 0);
		CHECK_EQ(ops->matches(z, n + k, page, hash_of(page)), 1);
		fill_word(other, same_words[k] ^ 0x8000000000000000ull);
		CHECK_EQ(ops->matches(z, n + k, other, hash_of(other)), 0);
		/* Not same-filled at all: one word differs. */
		memcpy(other, page, PAGE);
		((uint64_t *)(void *)other)[100] ^= 1;
		CHECK_EQ(ops->matches(z, n + k, other, hash_of(other)), 0);
	}
	/* Empty slots, never-written chunks, out of range. */
	uint64_t hash;
	bool valid;
	CHECK_EQ(ops->read(z, n + 100, page, &hash, &valid), -ENOENT);
	CHECK_EQ(ops->matches(z, n + 100, page, 0), -ENOENT);
	CHECK_EQ(ops->read(z, nr - 1, page, &hash, &valid), -ENOENT);
	CHECK_EQ(ops->matches(z, nr - 1, page, 0), -ENOENT);
	CHECK_EQ(ops->discard(z, nr - 1), 0);
	CHECK_EQ(ops->read(z, nr, page, &hash, &valid), -EINVAL);
	CHECK_EQ(ops->write(z, nr, page, 0), -EINVAL);
	CHECK_EQ(ops->discard(z, nr), -EINVAL);
	CHECK_EQ(ops->matches(z, nr, page, 0), -EINVAL);
	CHECK_INV(z);

	/* Discard everything: counters and allocator memory back to zero. */
	for (uint64_t i = 0; i < n + NR_SAME_WORDS; i++)
		CHECK_EQ(ops->discard(z, i), 0);
	CHECK_EQ(ops->stat(z, &st), 0);
	CHECK_EQ(st.nr_stored, 0);
	CHECK_EQ(st.same_pages, 0);
	CHECK_EQ(st.huge_pages, 0);
	CHECK_EQ(st.huge_pages_since, huge);
	CHECK_EQ(st.compr_data_size, 0);
	CHECK_EQ(st.orig_data_size, 0);
	CHECK_EQ(st.mem_used_total, st.meta_bytes);
	CHECK_INV(z);
	ops->destroy(z);
}

/* One slot through every kind: each overwrite replaces content and counters. */
static void test_overwrite(int zstd)
{
	static char page[PAGE];
	static const int seq[] = { FILL_RANDOM, FILL_HALF, FILL_SAME, FILL_ZERO, -1, FILL_TEXT,
				   FILL_RANDOM, -2, FILL_HALF };
	struct backend_stat st;
	uint64_t huge_since = 0;
	void *z = zcreate(zstd ? "zstd:size=16M" : "size=16M", NULL);

	fill_page(page, 9, 0, FILL_TEXT);
	CHECK_EQ(ops->write(z, 1, page, hash_of(page)), 0); /* a neighbour that must survive */
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		int kind = seq[i], is_same;

		if (kind == -1)
			fill_word(page, 0x8000000000000001ull); /* wide same-fill */
		else if (kind == -2)
			fill_word(page, 0xFFFFFFFFFFFFFFFFull);
		else
			fill_page(page, 2, i, kind);
		is_same = kind < 0 || kind == FILL_SAME || kind == FILL_ZERO;
		CHECK_EQ(ops->write(z, 0, page, hash_of(page)), 0);
		huge_since += kind == FILL_RANDOM;
		read_check(z, 0, page, !is_same);
		CHECK_EQ(ops->stat(z, &st), 0);
		CHECK_EQ(st.nr_stored, 2);
		CHECK_EQ(st.same_pages, is_same ? 1 : 0);
		CHECK_EQ(st.huge_pages, kind == FILL_RANDOM ? 1 : 0);
		CHECK_EQ(st.huge_pages_since, huge_since);
		CHECK_INV(z);
	}
	CHECK_EQ(ops->discard(z, 0), 0);
	CHECK_EQ(ops->discard(z, 0), 0);
	CHECK_EQ(ops->matches(z, 0, page, 0), -ENOENT);
	fill_page(page, 9, 0, FILL_TEXT);
	read_check(z, 1, page, 1);
	CHECK_EQ(ops->stat(z, &st), 0);
	CHECK_EQ(st.nr_stored, 1);
	CHECK_INV(z);
	ops->destroy(z);
}

static void test_mem_limit(int zstd)
{
	const uint64_t limit = 4u << 20;
	static char page[PAGE];
	struct backend_stat st;
	uint64_t stored = 0, i;
	int ret = 0;
	void *z = zcreate(zstd ? "zstd:size=64M:mem_limit=4M" : "lz4:size=64M:mem_limit=4M", NULL);

	for (i = 0; i < 16384; i++) {
		/* One size class only, so "full" means full for the next page too. */
		fill_page(page, 3, i, FILL_RANDOM);
		ret = ops->write(z, i, page, hash_of(page));
		if (ret)
			break;
		stored++;
	}
	CHECK_EQ(ret, -ENOSPC);
	CHECK(stored > 100);
	CHECK_EQ(ops->stat(z, &st), 0);
	CHECK_EQ(st.mem_limit, limit);
	CHECK(st.mem_used_total <= limit);
	CHECK(st.mem_used_max <= limit);
	CHECK_EQ(st.nr_stored, stored);
	/* Full, but a same-filled page needs no allocation. */
	fill_word(page, 42);
	CHECK_EQ(ops->write(z, i, page, hash_of(page)), 0);
	stored++;
	/* Still full for data; the failed write left the slot as it was. */
	fill_page(page, 3, i + 1, FILL_RANDOM);
	CHECK_EQ(ops->write(z, i + 1, page, hash_of(page)), -ENOSPC);
	CHECK_EQ(ops->matches(z, i + 1, page, hash_of(page)), -ENOENT);
	fill_word(page, 42);
	read_check(z, i, page, 0);
	CHECK_INV(z);

	/* Recovery: free room, then writes succeed again. */
	for (uint64_t k = 0; k < 64; k++)
		CHECK_EQ(ops->discard(z, k), 0);
	stored -= 64;
	for (uint64_t k = 0; k < 16; k++) {
		fill_page(page, 4, k, FILL_RANDOM);
		CHECK_EQ(ops->write(z, k, page, hash_of(page)), 0);
		stored++;
	}
	CHECK_EQ(ops->stat(z, &st), 0);
	CHECK(st.mem_used_total <= limit);
	CHECK_EQ(st.nr_stored, stored);
	for (uint64_t k = 0; k < 16; k++) {
		fill_page(page, 4, k, FILL_RANDOM);
		read_check(z, k, page, 1);
	}
	for (uint64_t k = 64; k < i; k++) {
		fill_page(page, 3, k, FILL_RANDOM);
		read_check(z, k, page, 1);
	}
	CHECK_INV(z);
	ops->destroy(z);
}

static void test_lazy_table(void)
{
	static char page[PAGE];
	struct backend_stat st0, st;
	uint64_t nr;
	void *z = zcreate("size=1T", &nr);

	CHECK_EQ(nr, 1ull << 28);
	CHECK_EQ(ops->stat(z, &st0), 0);
	CHECK(st0.meta_bytes < (4u << 20));
	fill_page(page, 5, 0, FILL_HALF);
	CHECK_EQ(ops->write(z, nr - 1, page, hash_of(page)), 0);
	CHECK_EQ(ops->write(z, 0, page, hash_of(page)), 0);
	CHECK_EQ(ops->write(z, 1, page, hash_of(page)), 0);
	CHECK_EQ(ops->stat(z, &st), 0);
	/* Two chunks of 8 Ki slots x 8 bytes (and their pointers), plus allocator descriptors. */
	CHECK(st.meta_bytes >= st0.meta_bytes + 2 * 8192 * 8);
	CHECK(st.meta_bytes < st0.meta_bytes + 2 * 8192 * 8 + 64 * 1024);
	read_check(z, nr - 1, page, 1);
	read_check(z, 1, page, 1);
	CHECK_INV(z);
	ops->destroy(z);
}

static void test_compaction(int zstd)
{
	const uint64_t n = 30000;
	static char page[PAGE];
	static uint8_t live[30000];
	struct backend_stat before, mid, after;
	uint64_t r = 12345;
	long released;
	void *z = zcreate(zstd ? "zstd:size=256M" : "lz4:size=256M", NULL);

	for (uint64_t i = 0; i < n; i++) {
		fill_page(page, 6, i, i % 8 ? FILL_HALF : FILL_TEXT);
		CHECK_EQ(ops->write(z, i, page, hash_of(page)), 0);
		live[i] = 1;
	}
	CHECK_EQ(ops->stat(z, &before), 0);
	for (uint64_t i = 0; i < n; i++) {
		r = r * 6364136223846793005ull + 1442695040888963407ull;
		if (r >> 63) {
			CHECK_EQ(ops->discard(z, i), 0);
			live[i] = 0;
		}
	}
	CHECK_INV(z);
	CHECK_EQ(ops->stat(z, &mid), 0);
	released = ops->compact(z);
	CHECK_EQ(ops->stat(z, &after), 0);
	CHECK(released > 0);
	CHECK_EQ(after.pages_compacted, mid.pages_compacted + (uint64_t)released);
	CHECK_EQ((mid.mem_used_total - mid.meta_bytes) - (after.mem_used_total - after.meta_bytes),
		 (uint64_t)released * PAGE);
	CHECK_EQ(after.compr_data_size, mid.compr_data_size);
	CHECK_EQ(after.nr_stored, mid.nr_stored);
	/* Overhead back near what a fresh store has: within 10% of compressed bytes. */
	CHECK(after.mem_used_total - after.meta_bytes - after.compr_data_size <
	      after.compr_data_size / 10);
	CHECK(before.mem_used_total - before.meta_bytes - before.compr_data_size <
	      before.compr_data_size / 10);
	CHECK_INV(z);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t hash;
		bool valid;

		if (live[i]) {
			fill_page(page, 6, i, i % 8 ? FILL_HALF : FILL_TEXT);
			read_check(z, i, page, 1);
		} else {
			CHECK_EQ(ops->read(z, i, page, &hash, &valid), -ENOENT);
		}
	}
	ops->destroy(z);
}

/* ---- 4 threads writing/reading/discarding their own slots, one compacting ---- */

#define NR_THREADS 4
#define SLOTS_PER 1500

struct slot_state {
	int kind; /* -1 empty */
	uint64_t seed;
};

static void *cz;
static _Atomic int cstop;

static void make_page(void *page, const struct slot_state *s, uint64_t slot)
{
	if (s->kind == 5)
		fill_word(page, 0x8000000000000000ull | s->seed); /* wide same-fill */
	else
		fill_page(page, s->seed, slot, s->kind);
}

static void *cworker(void *arg)
{
	uint64_t base = (uint64_t)(uintptr_t)arg * SLOTS_PER, r = base * 7 + 3;
	static _Thread_local struct slot_state st[SLOTS_PER];
	static _Thread_local char page[PAGE], want[PAGE];

	for (int i = 0; i < SLOTS_PER; i++)
		st[i].kind = -1;
	for (int it = 0; it < 40000; it++) {
		r = r * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t i = (r >> 33) % SLOTS_PER, slot = base + i;
		unsigned int action = (unsigned int)(r >> 20) % 8;
		uint64_t hash;
		bool valid;

		if (action < 3) {
			st[i].kind = (int)((r >> 8) % 6);
			st[i].seed = r >> 40;
			make_page(page, &st[i], slot);
			CHECK_EQ(ops->write(cz, slot, page, hash_of(page)), 0);
		} else if (action == 3) {
			CHECK_EQ(ops->discard(cz, slot), 0);
			st[i].kind = -1;
		} else if (st[i].kind < 0) {
			CHECK_EQ(ops->read(cz, slot, page, &hash, &valid), -ENOENT);
		} else {
			make_page(want, &st[i], slot);
			CHECK_EQ(ops->read(cz, slot, page, &hash, &valid), 0);
			CHECK(memcmp(page, want, PAGE) == 0);
			if (valid)
				CHECK(hash == hash_of(want));
			CHECK_EQ(ops->matches(cz, slot, want, hash_of(want)), 1);
		}
	}
	/* Final check of every slot of this thread. */
	for (uint64_t i = 0; i < SLOTS_PER; i++) {
		uint64_t hash;
		bool valid;

		if (st[i].kind < 0) {
			CHECK_EQ(ops->read(cz, base + i, page, &hash, &valid), -ENOENT);
			continue;
		}
		make_page(want, &st[i], base + i);
		CHECK_EQ(ops->read(cz, base + i, page, &hash, &valid), 0);
		CHECK(memcmp(page, want, PAGE) == 0);
	}
	return NULL;
}

static void *ccompactor(void *arg)
{
	long total = 0;

	(void)arg;
	while (!atomic_load(&cstop)) {
		long n = ops->compact(cz);

		CHECK(n >= 0);
		total += n;
	}
	return (void *)(intptr_t)total;
}

static void test_concurrent(int zstd)
{
	pthread_t t[NR_THREADS], c;
	void *released;

	cz = zcreate(zstd ? "zstd:size=64M" : "lz4:size=64M", NULL);
	atomic_store(&cstop, 0);
	CHECK_EQ(pthread_create(&c, NULL, ccompactor, NULL), 0);
	for (uintptr_t i = 0; i < NR_THREADS; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, cworker, (void *)i), 0);
	for (int i = 0; i < NR_THREADS; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	atomic_store(&cstop, 1);
	CHECK_EQ(pthread_join(c, &released), 0);
	fprintf(stderr, "concurrent %s: %ld pages compacted\n", zstd ? "zstd" : "lz4",
		(long)(intptr_t)released);
	CHECK_INV(cz);
	ops->destroy(cz);
}

/* ---- read() from a signal handler that interrupts write/discard/compact ---- */

static void *sz;
static char sig_want_half[PAGE], sig_want_raw[PAGE], sig_want_wide[PAGE];
static volatile sig_atomic_t sig_reads, sig_bad;

static void on_alarm(int sig)
{
	static char page[PAGE];
	uint64_t hash;
	bool valid;

	(void)sig;
	if (ops->read(sz, 0, page, &hash, &valid) || memcmp(page, sig_want_half, PAGE) || !valid)
		sig_bad = 1;
	if (ops->read(sz, 1, page, &hash, &valid) || memcmp(page, sig_want_raw, PAGE))
		sig_bad = 1;
	if (ops->read(sz, 2, page, &hash, &valid) || memcmp(page, sig_want_wide, PAGE))
		sig_bad = 1;
	sig_reads = sig_reads + 1;
}

static void test_signal_read(int zstd)
{
	struct itimerval it = { { 0, 200 }, { 0, 200 } };
	struct sigaction sa;
	static char page[PAGE];
	struct timespec t0, t1;
	uint64_t i = 0;

	sz = zcreate(zstd ? "zstd:size=64M" : "lz4:size=64M", NULL);
	sig_reads = 0;
	sig_bad = 0;
	fill_page(sig_want_half, 7, 0, FILL_HALF);
	fill_page(sig_want_raw, 7, 1, FILL_RANDOM);
	fill_word(sig_want_wide, 0xC000000000000007ull);
	CHECK_EQ(ops->write(sz, 0, sig_want_half, hash_of(sig_want_half)), 0);
	CHECK_EQ(ops->write(sz, 1, sig_want_raw, hash_of(sig_want_raw)), 0);
	CHECK_EQ(ops->write(sz, 2, sig_want_wide, hash_of(sig_want_wide)), 0);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	CHECK_EQ(sigaction(SIGALRM, &sa, NULL), 0);
	CHECK_EQ(setitimer(ITIMER_REAL, &it, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		/* Churn the same size classes as slots 0-2, and compact them. */
		uint64_t slot = 3 + i % 3000;

		fill_page(page, 8, i, i % 3 == 0 ? FILL_RANDOM : FILL_HALF);
		CHECK_EQ(ops->write(sz, slot, page, hash_of(page)), 0);
		if (i % 2)
			CHECK_EQ(ops->discard(sz, 3 + (i * 7919) % 3000), 0);
		if (i % 500 == 0)
			CHECK(ops->compact(sz) >= 0);
		i++;
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while ((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) < 400000000L);
	memset(&it, 0, sizeof(it));
	CHECK_EQ(setitimer(ITIMER_REAL, &it, NULL), 0);
	signal(SIGALRM, SIG_IGN);
	fprintf(stderr, "signal %s: %d handler reads during %llu writes\n", zstd ? "zstd" : "lz4",
		(int)sig_reads, (unsigned long long)i);
	CHECK(sig_reads > 10);
	CHECK(!sig_bad);
	CHECK_INV(sz);
	ops->destroy(sz);
}

int main(void)
{
	test_spec();
	for (int zstd = 0; zstd < 2; zstd++) {
		test_roundtrip(zstd);
		test_overwrite(zstd);
		test_mem_limit(zstd);
		test_compaction(zstd);
		test_concurrent(zstd);
		test_signal_read(zstd);
	}
	test_lazy_table();
	return 0;
}
