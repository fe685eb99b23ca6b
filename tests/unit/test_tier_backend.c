/* SPDX-License-Identifier: MIT */
/*
 * test_tier_backend - the tier backend (compressed RAM in front of a file)
 * through its ops table, on a real file in /var/tmp: spec errors, pages
 * beyond mem_limit written back to the file in batches and read back intact
 * from either tier, same-filled pages never reaching the file (its write
 * counter), overwrite and discard in both tiers, read_batch across tiers,
 * and 4 threads forcing concurrent writebacks.  tier_check_invariants
 * (which checks zram's and the file's too) runs after every test.
 */
#include "backend/backend.h"
#include "backend/tier.h"
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define PAGE 4096

static const struct swap_backend_ops *ops = &tier_backend_ops;
static char dir[256];

#define CHECK_INV(t)                                                                               \
	do {                                                                                       \
		char err_[256] = "";                                                               \
		int ret_ = ops->check_invariants(t, err_, sizeof(err_));                           \
		if (ret_)                                                                          \
			fprintf(stderr, "invariants: %s\n", err_);                                 \
		CHECK_EQ(ret_, 0);                                                                 \
	} while (0)

static uint64_t hash_of(const void *page)
{
	return XXH3_64bits(page, PAGE);
}

static void *tcreate(const char *opts, uint64_t *nr)
{
	char args[512], err[256] = "";
	uint64_t dummy;
	void *t = NULL;
	int ret;

	snprintf(args, sizeof(args), "file=%s/tier.swap:%s", dir, opts);
	ret = ops->create(args, &t, nr ? nr : &dummy, err, sizeof(err));
	if (ret)
		fprintf(stderr, "create(\"%s\"): %d %s\n", args, ret, err);
	CHECK_EQ(ret, 0);
	return t;
}

static void tdestroy(void *t)
{
	char p[300];

	CHECK_INV(t);
	ops->destroy(t);
	snprintf(p, sizeof(p), "%s/tier.swap", dir);
	unlink(p);
}

static int kind_of(uint64_t slot)
{
	return slot % 3 == 0 ? FILL_SAME : slot % 3 == 1 ? FILL_RANDOM : FILL_HALF;
}

static void put(void *t, uint64_t slot, uint64_t seed, int kind)
{
	_Alignas(4096) static __thread unsigned char pg[PAGE];

	fill_page(pg, seed, slot, kind);
	CHECK_EQ(ops->write(t, slot, pg, hash_of(pg)), 0);
}

static int get_ok(void *t, uint64_t slot, uint64_t seed, int kind)
{
	_Alignas(4096) static __thread unsigned char pg[PAGE];
	uint64_t hash = 0;
	bool valid = false;

	if (ops->read(t, slot, pg, &hash, &valid))
		return 0;
	if (valid && hash != hash_of(pg))
		return 0;
	return verify_page(pg, seed, slot, kind);
}

static void bad_spec(const char *args, int want, const char *msg)
{
	char err[256] = "";
	uint64_t nr;
	void *t = NULL;
	int ret = ops->create(args, &t, &nr, err, sizeof(err));

	if (ret != want || !strstr(err, msg)) {
		fprintf(stderr, "create(\"%s\"): %d \"%s\", want %d \"%s\"\n", args, ret, err, want,
			msg);
		CHECK(0);
	}
	CHECK(t == NULL);
}

static void test_spec(void)
{
	char a[512];

	bad_spec("lz4:mem_limit=1M", -EINVAL, "file=PATH is required");
	snprintf(a, sizeof(a), "file=%s/x.swap:size=4M", dir);
	bad_spec(a, -EINVAL, "mem_limit= is required");
	snprintf(a, sizeof(a), "file=%s/x.swap:size=4M:mem_limit=0", dir);
	bad_spec(a, -EINVAL, "bad mem_limit");
	snprintf(a, sizeof(a), "file=%s/x.swap:size=4M:mem_limit=1M:lz5", dir);
	bad_spec(a, -EINVAL, "unknown option 'lz5'");
	snprintf(a, sizeof(a), "file=%s/x.swap:size=4097:mem_limit=1M", dir);
	bad_spec(a, -EINVAL, "tier: file: size=4097 is not a multiple");
	snprintf(a, sizeof(a), "file=%s/no/dir.swap:size=4M:mem_limit=1M", dir);
	bad_spec(a, -ENOENT, "directory does not exist");
	snprintf(a, sizeof(a), "file=%s/x.swap:size=4M:mem_limit=1M:lz4:level=3", dir);
	bad_spec(a, -EINVAL, "tier: zram: level= applies to zstd only");
	snprintf(a, sizeof(a), "%s/x.swap", dir);
	CHECK(access(a, F_OK) != 0); /* the file was removed after the zram failure */
	/* Both spellings of the compressor. */
	{
		void *t = tcreate("zram=zstd:level=5:mem_limit=1M:size=4M", NULL);

		tdestroy(t);
		t = tcreate("size=4M:zstd:mem_limit=1M", NULL);
		tdestroy(t);
	}
}

/*
 * 1 MiB of store for 24 MiB of pages: most go to the file, by writeback in
 * batches; same-filled ones stay in RAM, never written.
 */
static void test_writeback(const char *algo)
{
	char opts[128];
	struct tier_stat ts;
	struct backend_stat st;
	uint64_t nr, n = 6000, nr_same = 0;
	void *t;

	snprintf(opts, sizeof(opts), "%s:mem_limit=1M:size=32M", algo);
	t = tcreate(opts, &nr);
	CHECK(nr > n);
	for (uint64_t s = 0; s < n; s++) {
		put(t, s, 1, kind_of(s));
		nr_same += kind_of(s) == FILL_SAME;
	}
	CHECK_INV(t);
	CHECK_EQ(tier_stat_get(t, &ts), 0);
	fprintf(stderr, "%s: ram %llu (same %llu, %llu B used of 1 MiB), file %llu, "
			"written back %llu in %llu batches, direct %llu\n",
		algo, (unsigned long long)ts.ram.nr_stored, (unsigned long long)ts.ram.same_pages,
		(unsigned long long)ts.ram.mem_used_total, (unsigned long long)ts.file.nr_stored,
		(unsigned long long)ts.nr_writeback, (unsigned long long)ts.nr_writeback_batches,
		(unsigned long long)ts.nr_direct);
	CHECK_EQ(ts.ram.nr_stored + ts.file.nr_stored, n);
	CHECK(ts.file.nr_stored > n / 2);
	CHECK_EQ(ts.ram.same_pages, nr_same); /* every same-filled page is still in RAM */
	CHECK_EQ(ts.file.writes, ts.nr_writeback + ts.nr_direct);
	CHECK(ts.file.writes <= n - nr_same); /* no same-filled page was ever written */
	CHECK(ts.nr_writeback_batches > 0 && ts.nr_writeback / ts.nr_writeback_batches >= 32);
	CHECK(ts.ram.mem_used_total <= 1 << 20);
	CHECK_EQ(ops->stat(t, &st), 0);
	CHECK_EQ(st.nr_stored, n);
	CHECK_EQ(st.writes, ts.file.writes);
	CHECK_EQ(st.mem_limit, 1 << 20);

	/* Every page back, from either tier. */
	for (uint64_t s = 0; s < n; s++)
		CHECK(get_ok(t, s, 1, kind_of(s)));
	CHECK_EQ(tier_stat_get(t, &ts), 0);
	CHECK(ts.nr_file_reads > 0 && ts.nr_ram_reads > 0);
	CHECK_EQ(ts.nr_file_reads, ts.file.reads);

	/* Overwrite the oldest (now in the file): the file copy is dropped. */
	{
		uint64_t before = ts.file.nr_stored;

		put(t, 1, 2, FILL_TEXT);
		CHECK_EQ(tier_stat_get(t, &ts), 0);
		CHECK(ts.file.nr_stored < before || ts.nr_writeback > 0);
		CHECK(get_ok(t, 1, 2, FILL_TEXT));
	}
	/* matches() in both tiers. */
	{
		_Alignas(4096) static unsigned char pg[PAGE];

		fill_page(pg, 2, 1, FILL_TEXT);
		CHECK_EQ(ops->matches(t, 1, pg, hash_of(pg)), 1);
		fill_page(pg, 1, 4, FILL_RANDOM);
		CHECK_EQ(ops->matches(t, 4, pg, hash_of(pg)), 1);
		fill_page(pg, 9, 4, FILL_RANDOM);
		CHECK_EQ(ops->matches(t, 4, pg, hash_of(pg)), 0);
	}
	/* Discard everything: both tiers empty. */
	for (uint64_t s = 0; s < n; s++)
		CHECK_EQ(ops->discard(t, s), 0);
	CHECK_INV(t);
	CHECK_EQ(tier_stat_get(t, &ts), 0);
	CHECK_EQ(ts.ram.nr_stored, 0);
	CHECK_EQ(ts.file.nr_stored, 0);
	{
		_Alignas(4096) static unsigned char pg[PAGE];
		uint64_t hash;
		bool valid;

		CHECK_EQ(ops->read(t, 4, pg, &hash, &valid), -ENOENT);
		CHECK_EQ(ops->read(t, nr, pg, &hash, &valid), -EINVAL);
	}
	tdestroy(t);
}

/* Only same-filled pages, far beyond mem_limit: nothing reaches the file. */
static void test_same_never_written(void)
{
	struct tier_stat ts;
	void *t = tcreate("mem_limit=512K:size=64M", NULL);

	for (uint64_t s = 0; s < 12000; s++)
		put(t, s, 3, s % 2 ? FILL_SAME : FILL_ZERO);
	CHECK_EQ(tier_stat_get(t, &ts), 0);
	CHECK_EQ(ts.file.writes, 0);
	CHECK_EQ(ts.file.bytes_written, 0);
	CHECK_EQ(ts.ram.same_pages, 12000);
	for (uint64_t s = 0; s < 12000; s++)
		CHECK(get_ok(t, s, 3, s % 2 ? FILL_SAME : FILL_ZERO));
	tdestroy(t);
}

static void test_read_batch(void)
{
	_Alignas(4096) static unsigned char buf[BK_MAX_BATCH][PAGE];
	void *pages[BK_MAX_BATCH];
	uint64_t slots[BK_MAX_BATCH], hashes[BK_MAX_BATCH];
	bool valid[BK_MAX_BATCH];
	int rc[BK_MAX_BATCH];
	struct tier_stat ts;
	void *t = tcreate("mem_limit=1M:size=32M", NULL);

	for (uint64_t s = 0; s < 2000; s++)
		put(t, s, 4, FILL_RANDOM);
	CHECK_EQ(ops->discard(t, 1990), 0);
	/* Slots 0.. are in the file, 1960.. in RAM, 1990 empty. */
	for (unsigned int i = 0; i < BK_MAX_BATCH; i++) {
		slots[i] = i < 32 ? i : 1960 + (i - 32);
		pages[i] = buf[i];
	}
	CHECK_EQ(ops->read_batch(t, BK_MAX_BATCH, slots, pages, hashes, valid, rc), -ENOENT);
	for (unsigned int i = 0; i < BK_MAX_BATCH; i++) {
		if (slots[i] == 1990) {
			CHECK_EQ(rc[i], -ENOENT);
			continue;
		}
		CHECK_EQ(rc[i], 0);
		CHECK(valid[i] && hashes[i] == hash_of(buf[i]));
		CHECK(verify_page(buf[i], 4, slots[i], FILL_RANDOM));
	}
	CHECK_EQ(tier_stat_get(t, &ts), 0);
	CHECK(ts.file.reads >= 32);
	tdestroy(t);
}

#define NR_THREADS 4
#define PER_THREAD 1500

struct worker {
	void *t;
	unsigned int id;
	int fails;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;

	for (int round = 0; round < 2; round++) {
		for (uint64_t k = 0; k < PER_THREAD; k++) {
			uint64_t s = k * NR_THREADS + w->id;

			put(w->t, s, (uint64_t)round, kind_of(s));
			/* Re-read an older page now and then: reads race writebacks. */
			if (k % 7 == 0 && k > 100) {
				uint64_t o = (k - 100) * NR_THREADS + w->id;

				if (!get_ok(w->t, o, (uint64_t)round, kind_of(o)))
					w->fails++;
			}
		}
		for (uint64_t k = 0; k < PER_THREAD; k++) {
			uint64_t s = k * NR_THREADS + w->id;

			if (!get_ok(w->t, s, (uint64_t)round, kind_of(s)))
				w->fails++;
			if (round == 1 && k % 2 && ops->discard(w->t, s))
				w->fails++;
		}
	}
	return NULL;
}

static void test_threads(void)
{
	struct worker w[NR_THREADS];
	pthread_t th[NR_THREADS];
	struct tier_stat ts;
	void *t = tcreate("mem_limit=2M:size=32M", NULL);

	for (unsigned int i = 0; i < NR_THREADS; i++) {
		w[i] = (struct worker){ .t = t, .id = i };
		CHECK_EQ(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
	}
	for (unsigned int i = 0; i < NR_THREADS; i++) {
		CHECK_EQ(pthread_join(th[i], NULL), 0);
		CHECK_EQ(w[i].fails, 0);
	}
	CHECK_INV(t);
	CHECK_EQ(tier_stat_get(t, &ts), 0);
	CHECK(ts.nr_writeback > 0);
	CHECK_EQ(ts.ram.nr_stored + ts.file.nr_stored, NR_THREADS * PER_THREAD / 2);
	tdestroy(t);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "%s", test_tmpdir("tier"));
	test_spec();
	test_writeback("lz4");
	test_writeback("zstd");
	test_same_never_written();
	test_read_batch();
	test_threads();
	return 0;
}
