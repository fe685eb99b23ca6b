/* SPDX-License-Identifier: MIT */
/*
 * test_zsmalloc - the size-class allocator: geometry, alloc/free, counters,
 * release of memory, compaction with the move callback (accepting and
 * refusing), and concurrent alloc/free/lock-free reads against compaction.
 * zs_check_invariants() runs after every step.
 */
#include "backend/zsmalloc.h"
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include "mix64.h"

#define CHECK_INV(pool)                                                                            \
	do {                                                                                       \
		char err_[256] = "";                                                               \
		int ret_ = zs_check_invariants(pool, err_, sizeof(err_));                          \
		if (ret_)                                                                          \
			fprintf(stderr, "invariants: %s\n", err_);                                 \
		CHECK_EQ(ret_, 0);                                                                 \
	} while (0)


/* Deterministic object content for (owner, generation). */
static void fill_obj(unsigned char *p, size_t size, uint64_t owner, uint64_t gen)
{
	uint64_t s = mix64(owner * 0x9e3779b97f4a7c15ULL + gen);

	for (size_t i = 0; i < size; i++) {
		if (i % 8 == 0)
			s = mix64(s + i);
		p[i] = (unsigned char)(s >> (8 * (i % 8)));
	}
}

static int obj_ok(const unsigned char *p, size_t size, uint64_t owner, uint64_t gen)
{
	unsigned char want[ZS_MAX_SIZE];

	fill_obj(want, size, owner, gen);
	return memcmp(p, want, size) == 0;
}

static size_t size_of(uint64_t owner, uint64_t gen, size_t max)
{
	return 1 + mix64(owner ^ (gen << 32)) % max;
}

/* Owner table the move callback updates, like zram's slot table. */
struct table {
	_Atomic uint64_t h[1 << 16];
	_Atomic int refuse_odd;
	_Atomic long nr_moves;
};

static bool table_move(void *ctx, uint64_t owner, zs_handle_t old_h, zs_handle_t new_h)
{
	struct table *t = ctx;
	uint64_t expect = old_h;

	if (atomic_load(&t->refuse_odd) && (owner & 1))
		return false;
	if (!atomic_compare_exchange_strong(&t->h[owner], &expect, new_h))
		return false;
	atomic_fetch_add(&t->nr_moves, 1);
	return true;
}

static zs_handle_t alloc_obj(struct zs_pool *pool, uint64_t owner, uint64_t gen, size_t size)
{
	unsigned char buf[ZS_MAX_SIZE];
	struct iovec iov[2];
	zs_handle_t h = 0;
	size_t first = size / 3;

	fill_obj(buf, size, owner, gen);
	/* Two pieces, as zram passes header + data. */
	iov[0] = (struct iovec){ buf, first };
	iov[1] = (struct iovec){ buf + first, size - first };
	CHECK_EQ(zs_alloc(pool, owner, iov, 2, &h), 0);
	CHECK(h != 0);
	CHECK(h < (UINT64_C(1) << ZS_HANDLE_BITS));
	return h;
}

static void test_geometry(void)
{
	struct zs_pool *pool;
	struct zs_class_info ci;
	uint32_t worst_tail_x1000 = 0;

	CHECK_EQ(zs_pool_create(&pool, NULL, NULL), 0);
	CHECK_EQ(zs_class_geometry(pool, 0, &ci), -EINVAL);
	CHECK_EQ(zs_class_geometry(pool, ZS_MAX_SIZE + 1, &ci), -EINVAL);
	for (size_t size = 1; size <= ZS_MAX_SIZE; size++) {
		uint64_t span;

		CHECK_EQ(zs_class_geometry(pool, size, &ci), 0);
		span = (uint64_t)ci.span_pages * 4096;
		CHECK(ci.obj_bytes >= size + ZS_HDR_BYTES);
		CHECK(ci.obj_bytes % ZS_ALIGN == 0);
		CHECK(ci.span_pages >= 1 && ci.span_pages <= ZS_MAX_SPAN_PAGES);
		CHECK(ci.objs_per_span >= 1);
		CHECK((uint64_t)ci.objs_per_span * ci.obj_bytes <= span);
		/* Merged classes use memory exactly as the unmerged size would. */
		CHECK(span / (((size + ZS_HDR_BYTES + ZS_ALIGN - 1) / ZS_ALIGN) * ZS_ALIGN) ==
		      ci.objs_per_span);
		uint32_t tail = (uint32_t)((span - (uint64_t)ci.objs_per_span * ci.obj_bytes) *
					   1000 / span);
		if (tail > worst_tail_x1000)
			worst_tail_x1000 = tail;
	}
	/* Tail waste: <= 1/64 where reachable; 3% bounds every class (4112: 2.7%). */
	CHECK(worst_tail_x1000 <= 30);
	zs_pool_destroy(pool);
}

static void test_alloc_free(void)
{
	static struct table t;
	struct zs_pool *pool;
	struct zs_pool_stats st;
	struct iovec iov;
	unsigned char b = 1;
	zs_handle_t hs[3000];
	uint64_t payload = 0, obj_bytes = 0, owner;
	size_t size;

	CHECK_EQ(zs_pool_create(&pool, table_move, &t), 0);
	iov = (struct iovec){ &b, 1 };
	CHECK_EQ(zs_alloc(pool, ZS_OWNER_MAX + 1, &iov, 1, &hs[0]), -EINVAL);
	iov.iov_len = 0;
	CHECK_EQ(zs_alloc(pool, 1, &iov, 1, &hs[0]), -EINVAL);
	CHECK_EQ(zs_alloc(pool, 1, NULL, 0, &hs[0]), -EINVAL);
	{
		static unsigned char big[ZS_MAX_SIZE + 1];

		iov = (struct iovec){ big, sizeof(big) };
		CHECK_EQ(zs_alloc(pool, 1, &iov, 1, &hs[0]), -EINVAL);
	}

	for (uint64_t i = 0; i < 3000; i++) {
		struct zs_class_info ci;

		size = i < 10 ? (i == 0 ? 1 : ZS_MAX_SIZE - i) : size_of(i, 0, ZS_MAX_SIZE);
		hs[i] = alloc_obj(pool, i == 5 ? ZS_OWNER_MAX : i, 0, size);
		CHECK_EQ(zs_class_geometry(pool, size, &ci), 0);
		payload += size;
		obj_bytes += ci.obj_bytes;
	}
	zs_pool_stats(pool, &st);
	CHECK_EQ(st.nr_objs, 3000);
	CHECK_EQ(st.payload_bytes, payload);
	CHECK_EQ(st.obj_bytes, obj_bytes);
	CHECK(st.backing_bytes >= obj_bytes);
	CHECK(st.backing_bytes % 4096 == 0);
	CHECK(st.meta_bytes > 0);
	CHECK_INV(pool);

	for (uint64_t i = 0; i < 3000; i++) {
		uint64_t want_owner = i == 5 ? ZS_OWNER_MAX : i;
		size = i < 10 ? (i == 0 ? 1 : ZS_MAX_SIZE - i) : size_of(i, 0, ZS_MAX_SIZE);
		CHECK_EQ(zs_obj_info(pool, hs[i], &owner, &size), 0);
		CHECK_EQ(owner, want_owner);
		CHECK(obj_ok(zs_obj_payload(pool, hs[i]), size, want_owner, 0));
		for (uint64_t j = 0; j < i && j < 50; j++)
			CHECK(hs[j] != hs[i]);
	}
	/* A handle that is not an object's start. */
	CHECK_EQ(zs_obj_info(pool, hs[100] + 1, &owner, &size), -ENOENT);
	CHECK_EQ(zs_obj_info(pool, 0, &owner, &size), -ENOENT);

	/* Free in an interleaved order; memory must go back to zero. */
	for (int pass = 0; pass < 2; pass++) {
		for (uint64_t i = (uint64_t)pass; i < 3000; i += 2)
			zs_free(pool, hs[i]);
		CHECK_INV(pool);
	}
	zs_pool_stats(pool, &st);
	CHECK_EQ(st.nr_objs, 0);
	CHECK_EQ(st.payload_bytes, 0);
	CHECK_EQ(st.obj_bytes, 0);
	CHECK_EQ(st.backing_bytes, 0);
	CHECK_EQ(st.nr_spans, 0);
	CHECK_EQ(zs_obj_info(pool, hs[7], &owner, &size), -ENOENT);

	/* Reuse of released span slots: metadata must not grow cycle after cycle. */
	uint64_t meta_after_first = 0;
	for (int cycle = 0; cycle < 5; cycle++) {
		for (uint64_t i = 0; i < 3000; i++)
			hs[i] = alloc_obj(pool, i, (uint64_t)cycle, size_of(i, (uint64_t)cycle, 3000));
		for (uint64_t i = 0; i < 3000; i++)
			zs_free(pool, hs[i]);
		zs_pool_stats(pool, &st);
		CHECK_EQ(st.backing_bytes, 0);
		if (cycle == 0)
			meta_after_first = st.meta_bytes;
		CHECK(st.meta_bytes <= meta_after_first + 4096);
	}
	CHECK_INV(pool);
	zs_pool_destroy(pool);
}

/* Fill, free a random half, compact; every survivor must read back intact. */
static void test_compact(int refuse_odd)
{
	static struct table t;
	const uint64_t n = 20000;
	struct zs_pool *pool;
	struct zs_pool_stats before, after;
	uint64_t live = 0;
	long released;
	static uint8_t alive[20000];

	memset(&t, 0, sizeof(t));
	CHECK_EQ(zs_pool_create(&pool, table_move, &t), 0);
	for (uint64_t i = 0; i < n; i++) {
		/* Two populations: ~2 KiB (half-compressible pages) and anything. */
		size_t size = i % 4 ? 1900 + size_of(i, 0, 300) : size_of(i, 0, ZS_MAX_SIZE);

		atomic_store(&t.h[i], alloc_obj(pool, i, 0, size));
		alive[i] = 1;
	}
	for (uint64_t i = 0; i < n; i++) {
		if (mix64(i + 77) & 1) {
			zs_free(pool, atomic_load(&t.h[i]));
			alive[i] = 0;
		} else {
			live++;
		}
	}
	CHECK_INV(pool);
	atomic_store(&t.refuse_odd, refuse_odd);
	/* Start a lock-free read of every survivor, as a reader would. */
	static uint32_t seq[20000];
	static zs_handle_t old_h[20000];
	for (uint64_t i = 0; i < n; i++) {
		if (!alive[i])
			continue;
		old_h[i] = atomic_load(&t.h[i]);
		seq[i] = zs_read_begin(pool, old_h[i]);
		CHECK(!zs_read_retry(pool, old_h[i], seq[i]));
	}
	zs_pool_stats(pool, &before);
	released = zs_compact(pool);
	zs_pool_stats(pool, &after);
	CHECK_INV(pool);
	/* Every reader whose object moved must be told to retry. */
	uint64_t nr_moved = 0;
	for (uint64_t i = 0; i < n; i++) {
		if (!alive[i] || atomic_load(&t.h[i]) == old_h[i])
			continue;
		nr_moved++;
		CHECK(zs_read_retry(pool, old_h[i], seq[i]));
	}
	/* (An object can move twice in a pass: into a span that later drains.) */
	CHECK(nr_moved <= (uint64_t)atomic_load(&t.nr_moves));
	CHECK(refuse_odd || nr_moved > 0);
	if (!refuse_odd) {
		CHECK(released > 0);
		CHECK(atomic_load(&t.nr_moves) > 0);
	}
	CHECK_EQ(before.backing_bytes - after.backing_bytes, (uint64_t)released * 4096);
	CHECK_EQ(after.pages_compacted, before.pages_compacted + (uint64_t)released);
	CHECK_EQ(after.nr_objs, live);
	CHECK_EQ(after.payload_bytes, before.payload_bytes);
	if (!refuse_odd) {
		/*
		 * Compaction must bring fragmentation close to the packing limit:
		 * tail waste (<3%) plus at most about one partial span per class.
		 */
		static uint8_t used[4200];
		uint64_t slack = 0;

		memset(used, 0, sizeof(used));
		for (uint64_t i = 0; i < n; i++) {
			struct zs_class_info ci;
			size_t size = i % 4 ? 1900 + size_of(i, 0, 300) : size_of(i, 0, ZS_MAX_SIZE);

			if (!alive[i])
				continue;
			CHECK_EQ(zs_class_geometry(pool, size, &ci), 0);
			if (!used[ci.class_index]++)
				slack += 2ull * ci.span_pages * 4096;
		}
		CHECK(after.backing_bytes < after.obj_bytes + after.obj_bytes * 3 / 100 + slack);
		CHECK(after.backing_bytes < before.backing_bytes * 3 / 5);
	}
	for (uint64_t i = 0; i < n; i++) {
		uint64_t owner;
		size_t size, want = i % 4 ? 1900 + size_of(i, 0, 300) : size_of(i, 0, ZS_MAX_SIZE);
		zs_handle_t h = atomic_load(&t.h[i]);

		if (!alive[i])
			continue;
		CHECK_EQ(zs_obj_info(pool, h, &owner, &size), 0);
		CHECK_EQ(owner, i);
		CHECK_EQ(size, want);
		CHECK(obj_ok(zs_obj_payload(pool, h), size, i, 0));
	}
	/* A second pass has little or nothing left to do. */
	zs_pool_stats(pool, &before);
	released = zs_compact(pool);
	zs_pool_stats(pool, &after);
	CHECK_EQ(before.backing_bytes - after.backing_bytes, (uint64_t)released * 4096);
	CHECK_INV(pool);
	for (uint64_t i = 0; i < n; i++)
		if (alive[i])
			zs_free(pool, atomic_load(&t.h[i]));
	zs_pool_stats(pool, &after);
	CHECK_EQ(after.backing_bytes, 0);
	CHECK_INV(pool);
	zs_pool_destroy(pool);
}

/* ---- concurrency: 4 workers alloc/free/read their owners while a thread compacts ---- */

#define NR_WORKERS 4
#define PER_WORKER 4000

static struct table ct;
static struct zs_pool *cpool;
static _Atomic int stop_compactor;
static _Atomic long nr_retries;

/* The lock-free read protocol, as zram uses it. */
static void read_obj(uint64_t owner, unsigned char *dst, size_t size)
{
	for (;;) {
		zs_handle_t h = atomic_load_explicit(&ct.h[owner], memory_order_acquire);
		uint32_t seq = zs_read_begin(cpool, h);

		zs_read_copy(cpool, h, 0, dst, size);
		if (!zs_read_retry(cpool, h, seq) &&
		    atomic_load_explicit(&ct.h[owner], memory_order_relaxed) == h)
			return;
		atomic_fetch_add(&nr_retries, 1);
	}
}

static void *worker(void *arg)
{
	uint64_t base = (uint64_t)(uintptr_t)arg * PER_WORKER;
	static _Thread_local uint64_t gen[PER_WORKER];
	unsigned char buf[ZS_MAX_SIZE];
	uint64_t r = base + 1;

	for (uint64_t i = 0; i < PER_WORKER; i++) {
		gen[i] = 1;
		atomic_store(&ct.h[base + i], alloc_obj(cpool, base + i, 1, size_of(base + i, 1, 2500)));
	}
	for (int it = 0; it < 60000; it++) {
		uint64_t i = (r = mix64(r)) % PER_WORKER, o = base + i;
		size_t size = size_of(o, gen[i], 2500);

		read_obj(o, buf, size);
		CHECK(obj_ok(buf, size, o, gen[i]));
		if (r & 0x30) {
			/* Replace: new object first, publish, then free the old one. */
			zs_handle_t nh = alloc_obj(cpool, o, gen[i] + 1, size_of(o, gen[i] + 1, 2500));
			zs_handle_t oh = atomic_exchange(&ct.h[o], nh);

			zs_free(cpool, oh);
			gen[i]++;
		}
	}
	for (uint64_t i = 0; i < PER_WORKER; i += 2) {
		zs_free(cpool, atomic_exchange(&ct.h[base + i], 0));
		gen[i] = 0;
	}
	for (uint64_t i = 1; i < PER_WORKER; i += 2) {
		size_t size = size_of(base + i, gen[i], 2500);

		read_obj(base + i, buf, size);
		CHECK(obj_ok(buf, size, base + i, gen[i]));
	}
	return NULL;
}

static void *compactor(void *arg)
{
	long total = 0;

	(void)arg;
	while (!atomic_load(&stop_compactor))
		total += zs_compact(cpool);
	return (void *)(intptr_t)total;
}

static void test_concurrent(void)
{
	pthread_t w[NR_WORKERS], c;
	void *released;
	struct zs_pool_stats st;

	CHECK_EQ(zs_pool_create(&cpool, table_move, &ct), 0);
	CHECK_EQ(pthread_create(&c, NULL, compactor, NULL), 0);
	for (uintptr_t i = 0; i < NR_WORKERS; i++)
		CHECK_EQ(pthread_create(&w[i], NULL, worker, (void *)i), 0);
	for (int i = 0; i < NR_WORKERS; i++)
		CHECK_EQ(pthread_join(w[i], NULL), 0);
	atomic_store(&stop_compactor, 1);
	CHECK_EQ(pthread_join(c, &released), 0);
	CHECK_INV(cpool);
	zs_pool_stats(cpool, &st);
	CHECK_EQ(st.nr_objs, NR_WORKERS * PER_WORKER / 2);
	fprintf(stderr, "concurrent: %ld pages compacted, %ld moves, %ld read retries\n",
		(long)(intptr_t)released, atomic_load(&ct.nr_moves), atomic_load(&nr_retries));
	/* Final compaction after the half-free, then every survivor intact. */
	zs_compact(cpool);
	CHECK_INV(cpool);
	for (uint64_t o = 0; o < NR_WORKERS * PER_WORKER; o++) {
		zs_handle_t h = atomic_load(&ct.h[o]);
		uint64_t owner;
		size_t size;

		if (!h)
			continue;
		CHECK_EQ(zs_obj_info(cpool, h, &owner, &size), 0);
		CHECK_EQ(owner, o);
	}
	zs_pool_destroy(cpool);
}

int main(void)
{
	test_geometry();
	test_alloc_free();
	test_compact(0);
	test_compact(1);
	test_concurrent();
	return 0;
}
