/* SPDX-License-Identifier: MIT */
/*
 * test_swapfile - devices, clusters, the slot allocator and swap counts
 * (swapfile.c) over the fake MMU and fake backend: priority order and
 * round-robin between devices, sequential slots and whole clusters per
 * allocation lane, cluster tables released and reused, swap counts and
 * discard, the slot lock (blocking and try), device pins against swapoff,
 * and the fullness predicates.  swap_check_invariants() runs after each step.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "helper_fake.h"

#define CHECK_INV(ctx) CHECK_EQ(swap_check_invariants(ctx), 0)

static struct uswap_ctx *new_ctx(void)
{
	struct uswap_opts o = { .size = sizeof(o) };
	struct uswap_ctx *ctx = NULL;

	CHECK_EQ(ctx_create_with_mmu(&o, &fake_mmu_ops, &ctx), 0);
	CHECK(ctx != NULL);
	return ctx;
}

static int add_dev(struct uswap_ctx *ctx, uint64_t nr_slots, const char *name, int prio)
{
	char args[32];
	int id = -1;

	snprintf(args, sizeof(args), "%llu", (unsigned long long)nr_slots);
	CHECK_EQ(swap_device_add_ops(ctx, &fake_backend_ops, args, name, prio, &id), 0);
	CHECK(id >= 0 && id < MAX_SWAPFILES);
	CHECK(atomic_load(&ctx->swap_info[id]) != NULL);
	CHECK_EQ(ctx->swap_info[id]->nr_slots, nr_slots);
	return id;
}

static struct swap_info *dev(struct uswap_ctx *ctx, int id)
{
	return atomic_load(&ctx->swap_info[id]);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Allocate one slot and publish it unlocked with count 1. */
static swp_entry_t alloc_slot(struct uswap_ctx *ctx)
{
	swp_entry_t e;
	_Atomic swp_tb_t *w;

	CHECK_EQ(folio_alloc_swap(ctx, &e), 0);
	w = swap_table_word(ctx, e);
	CHECK(w != NULL);
	CHECK_EQ(atomic_load(w), 1u | SWP_TB_BUSY); /* count 1, locked by us */
	swap_slot_unlock(ctx, e, 1);
	CHECK_EQ(atomic_load(w), 1u);
	return e;
}

/* Drop the last reference of an unlocked slot. */
static void free_slot(struct uswap_ctx *ctx, swp_entry_t e)
{
	swp_tb_t t = swap_slot_lock(ctx, e);
	CHECK_EQ(swp_tb_count(t), 1);
	t = swap_free_locked(ctx, e, t);
	CHECK_EQ(t, 0);
	swap_slot_unlock(ctx, e, t);
}

static void destroy_ctx(struct uswap_ctx *ctx)
{
	CHECK_INV(ctx);
	for (int t = 0; t < MAX_SWAPFILES; t++)
		if (dev(ctx, t))
			CHECK_EQ(atomic_load(&dev(ctx, t)->inuse_pages), 0);
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
}

/* ---- priorities and round-robin ------------------------------------------------------- */

static void test_priority(void)
{
	struct uswap_ctx *ctx = new_ctx();
	/* Two devices at priority 10 (the first of 600 slots: a full and a partial
	 * cluster), one at 5, one at -3. */
	int a = add_dev(ctx, 600, "fakeA", 10);
	int b = add_dev(ctx, 700, "fakeB", 10);
	int c = add_dev(ctx, 1024, "fakeC", 5);
	int d = add_dev(ctx, 100, "fakeD", -3);
	uint64_t nr[MAX_SWAPFILES] = { 0 };
	uint64_t total = 600 + 700 + 1024 + 100;
	swp_entry_t *ents = calloc(total, sizeof(*ents));
	uint64_t last_off[MAX_SWAPFILES];
	size_t n = 0;

	CHECK(a != b && b != c && c != d);
	CHECK(swap_space_available(ctx));
	memset(last_off, 0xff, sizeof(last_off));

	/* While both priority-10 devices have room, they strictly alternate. */
	for (int i = 0; i < 1200; i++) {
		ents[n] = alloc_slot(ctx);
		unsigned int t = swp_type(ents[n]);
		CHECK(t == (unsigned int)a || t == (unsigned int)b);
		if (n)
			CHECK(t != swp_type(ents[n - 1]));
		/* one thread: slots come in ascending order on each device */
		CHECK(last_off[t] == UINT64_MAX || swp_offset(ents[n]) == last_off[t] + 1);
		last_off[t] = swp_offset(ents[n]);
		nr[t]++;
		n++;
	}
	CHECK_EQ(nr[a], 600);
	CHECK_EQ(nr[b], 600);
	CHECK_INV(ctx);
	CHECK_EQ(atomic_load(&dev(ctx, a)->inuse_pages), 600);

	/* A is full: B alone takes the rest of priority 10. */
	for (int i = 0; i < 100; i++) {
		ents[n] = alloc_slot(ctx);
		CHECK_EQ(swp_type(ents[n]), b);
		n++;
	}
	/* Both full: priority 5, then -3. */
	for (int i = 0; i < 1024; i++) {
		ents[n] = alloc_slot(ctx);
		CHECK_EQ(swp_type(ents[n]), c);
		CHECK_EQ(swp_offset(ents[n]), i);
		n++;
	}
	CHECK_INV(ctx);
	for (int i = 0; i < 100; i++) {
		ents[n] = alloc_slot(ctx);
		CHECK_EQ(swp_type(ents[n]), d);
		n++;
	}
	CHECK_EQ(n, total);
	CHECK(!swap_space_available(ctx));
	swp_entry_t e;
	CHECK_EQ(folio_alloc_swap(ctx, &e), -ENOSPC);
	CHECK_EQ(folio_alloc_swap(ctx, &e), -ENOSPC);
	CHECK_INV(ctx);

	/* A slot freed on the low device goes back there ... */
	free_slot(ctx, ents[n - 1]);
	CHECK(swap_space_available(ctx));
	e = alloc_slot(ctx);
	CHECK_EQ(e.val, ents[n - 1].val);
	/* ... and one freed on a high device makes it preferred again. */
	free_slot(ctx, ents[5]);
	CHECK_INV(ctx);
	e = alloc_slot(ctx);
	CHECK_EQ(e.val, ents[5].val);
	CHECK_EQ(folio_alloc_swap(ctx, &e), -ENOSPC);

	/* A device whose backend reported -ENOSPC (si->full) is skipped until a slot is freed. */
	free_slot(ctx, ents[0]);
	free_slot(ctx, ents[n - 2]); /* D */
	atomic_store(&dev(ctx, swp_type(ents[0]))->full, true);
	e = alloc_slot(ctx);
	CHECK_EQ(swp_type(e), d);
	CHECK_EQ(e.val, ents[n - 2].val);
	free_slot(ctx, ents[1]); /* the other priority-10 device (they alternated) */
	CHECK(swp_type(ents[1]) != swp_type(ents[0]));
	e = alloc_slot(ctx);
	CHECK_EQ(e.val, ents[1].val);
	/* Freeing a slot of the "full" device clears the flag. */
	free_slot(ctx, ents[2]);
	CHECK_EQ(swp_type(ents[2]), swp_type(ents[0]));
	CHECK(!atomic_load(&dev(ctx, swp_type(ents[0]))->full));
	swp_entry_t e2;
	e = alloc_slot(ctx);
	e2 = alloc_slot(ctx);
	CHECK((e.val == ents[0].val && e2.val == ents[2].val) ||
	      (e.val == ents[2].val && e2.val == ents[0].val));
	CHECK_EQ(folio_alloc_swap(ctx, &e), -ENOSPC);
	CHECK_INV(ctx);

	for (size_t i = 0; i < n; i++)
		free_slot(ctx, ents[i]);
	CHECK_INV(ctx);
	for (int t = 0; t < MAX_SWAPFILES; t++)
		if (dev(ctx, t))
			CHECK_EQ(atomic_load(&dev(ctx, t)->inuse_pages), 0);
	free(ents);
	destroy_ctx(ctx);
}

/* A device removed (or draining) is never chosen; priorities of the rest still hold. */
static void test_priority_after_remove(void)
{
	struct uswap_ctx *ctx = new_ctx();
	int hi = add_dev(ctx, 64, "fakeH", 100);
	int lo = add_dev(ctx, 64, "fakeL", 1);
	swp_entry_t e = alloc_slot(ctx);

	CHECK_EQ(swp_type(e), hi);
	free_slot(ctx, e);
	CHECK_EQ(swap_device_remove(ctx, hi), 0);
	CHECK(dev(ctx, hi) == NULL);
	e = alloc_slot(ctx);
	CHECK_EQ(swp_type(e), lo);
	free_slot(ctx, e);
	/* The freed type number is reused by the next swapon. */
	CHECK_EQ(add_dev(ctx, 64, "fakeH2", 50), hi);
	e = alloc_slot(ctx);
	CHECK_EQ(swp_type(e), hi);
	free_slot(ctx, e);
	destroy_ctx(ctx);
}

/* ---- clusters ------------------------------------------------------------------------------ */

static void test_clusters(void)
{
	struct uswap_ctx *ctx = new_ctx();
	int id = add_dev(ctx, 3 * SWAPFILE_CLUSTER + 100, "fake0", 0);
	struct swap_info *si = dev(ctx, id);
	swp_entry_t *ents = calloc(2 * SWAPFILE_CLUSTER, sizeof(*ents));
	swp_entry_t e;

	/* No table before first use. */
	for (uint64_t off = 0; off < si->nr_slots; off += SWAPFILE_CLUSTER)
		CHECK(swap_table_word(ctx, swp_entry(id, off)) == NULL);
	CHECK(swap_table_word(ctx, swp_entry(id, si->nr_slots)) == NULL);
	CHECK(swap_table_word(ctx, swp_entry(id + 1, 0)) == NULL);

	/* One thread: slots in order, cluster 0 then cluster 1. */
	for (uint64_t i = 0; i < 2 * SWAPFILE_CLUSTER; i++) {
		ents[i] = alloc_slot(ctx);
		CHECK_EQ(swp_type(ents[i]), id);
		CHECK_EQ(swp_offset(ents[i]), i);
		if (i % 97 == 0)
			CHECK_INV(ctx);
	}
	CHECK_INV(ctx);
	CHECK(swap_table_word(ctx, swp_entry(id, 0)) != NULL);
	CHECK(swap_table_word(ctx, swp_entry(id, SWAPFILE_CLUSTER)) != NULL);
	CHECK(swap_table_word(ctx, swp_entry(id, 2 * SWAPFILE_CLUSTER)) == NULL);
	CHECK_EQ(atomic_load(&si->clusters[0].nr_used), SWAPFILE_CLUSTER);
	CHECK_EQ(atomic_load(&si->inuse_pages), 2 * SWAPFILE_CLUSTER);

	/* Free cluster 0 slot by slot, out of order: its table stays until the last one. */
	for (uint64_t i = 0; i < SWAPFILE_CLUSTER; i++) {
		uint64_t off = (i * 5) % SWAPFILE_CLUSTER; /* 5 is prime to 512: a permutation */
		CHECK(swap_table_word(ctx, swp_entry(id, 0)) != NULL);
		free_slot(ctx, ents[off]);
		CHECK_EQ(atomic_load(&si->clusters[0].nr_used), SWAPFILE_CLUSTER - 1 - i);
		if (i % 61 == 0)
			CHECK_INV(ctx);
	}
	CHECK(swap_table_word(ctx, swp_entry(id, 0)) == NULL);
	CHECK(swap_table_word(ctx, swp_entry(id, SWAPFILE_CLUSTER - 1)) == NULL);
	CHECK(swap_table_word(ctx, swp_entry(id, SWAPFILE_CLUSTER)) != NULL);
	CHECK_EQ(atomic_load(&si->inuse_pages), SWAPFILE_CLUSTER);
	CHECK_INV(ctx);

	/* The freed cluster is reused before the never-used cluster 2. */
	for (uint64_t i = 0; i < SWAPFILE_CLUSTER; i++) {
		ents[i] = alloc_slot(ctx);
		CHECK_EQ(swp_offset(ents[i]), i);
	}
	CHECK(swap_table_word(ctx, swp_entry(id, 0)) != NULL);
	CHECK(swap_table_word(ctx, swp_entry(id, 2 * SWAPFILE_CLUSTER)) == NULL);
	CHECK_INV(ctx);

	/* Full clusters 0 and 1: the next slot opens cluster 2. */
	e = alloc_slot(ctx);
	CHECK_EQ(swp_offset(e), 2 * SWAPFILE_CLUSTER);
	CHECK(swap_table_word(ctx, e) != NULL);
	free_slot(ctx, e);
	CHECK_INV(ctx);

	/* Holes in full clusters no lane owns are found again, once the lane's own
	 * cluster (it continues after the slot freed behind it) and the never-used
	 * clusters are exhausted. */
	free_slot(ctx, ents[700]);
	free_slot(ctx, ents[300]);
	CHECK_INV(ctx);
	for (uint64_t i = 2 * SWAPFILE_CLUSTER + 1; i < si->nr_slots; i++) {
		e = alloc_slot(ctx);
		CHECK_EQ(swp_offset(e), i);
	}
	uint64_t got = 0;
	for (int k = 0; k < 3; k++) {
		e = alloc_slot(ctx);
		uint64_t off = swp_offset(e);
		CHECK(off == 300 || off == 700 || off == 2 * SWAPFILE_CLUSTER);
		got |= 1ULL << (off == 300 ? 0 : off == 700 ? 1 : 2);
	}
	CHECK_EQ(got, 7);
	CHECK_EQ(atomic_load(&si->inuse_pages), si->nr_slots);
	CHECK_EQ(folio_alloc_swap(ctx, &e), -ENOSPC);
	CHECK_INV(ctx);

	/* Free everything: every table is released. */
	for (uint64_t i = 0; i < 2 * SWAPFILE_CLUSTER; i++)
		free_slot(ctx, swp_entry(id, i));
	for (uint64_t i = 2 * SWAPFILE_CLUSTER; i < si->nr_slots; i++)
		free_slot(ctx, swp_entry(id, i));
	CHECK_INV(ctx);
	CHECK_EQ(atomic_load(&si->inuse_pages), 0);
	CHECK(swap_table_word(ctx, swp_entry(id, 0)) == NULL);
	CHECK(swap_table_word(ctx, swp_entry(id, SWAPFILE_CLUSTER)) == NULL);
	free(ents);
	destroy_ctx(ctx);
}

/* Several threads: each lane owns a whole cluster and hands out its slots in order. */
#define LANE_THREADS 3
#define LANE_SLOTS 200

struct lane_arg {
	struct uswap_ctx *ctx;
	_Atomic int *go;
	swp_entry_t ents[LANE_SLOTS];
};

static void *lane_thread(void *p)
{
	struct lane_arg *a = p;
	while (!atomic_load(a->go))
		;
	for (int i = 0; i < LANE_SLOTS; i++)
		CHECK_EQ(folio_alloc_swap(a->ctx, &a->ents[i]), 0);
	for (int i = 0; i < LANE_SLOTS; i++)
		swap_slot_unlock(a->ctx, a->ents[i], 1);
	return NULL;
}

static void test_lanes(void)
{
	struct uswap_ctx *ctx = new_ctx();
	int id = add_dev(ctx, 8 * SWAPFILE_CLUSTER, "fake0", 0);
	struct lane_arg *args = calloc(LANE_THREADS, sizeof(*args));
	pthread_t th[LANE_THREADS];
	_Atomic int go = 0;

	for (int t = 0; t < LANE_THREADS; t++) {
		args[t].ctx = ctx;
		args[t].go = &go;
		CHECK_EQ(pthread_create(&th[t], NULL, lane_thread, &args[t]), 0);
	}
	atomic_store(&go, 1);
	for (int t = 0; t < LANE_THREADS; t++)
		CHECK_EQ(pthread_join(th[t], NULL), 0);
	CHECK_INV(ctx);
	CHECK_EQ(atomic_load(&dev(ctx, id)->inuse_pages), LANE_THREADS * LANE_SLOTS);

	for (int t = 0; t < LANE_THREADS; t++) {
		uint64_t first = swp_offset(args[t].ents[0]);
		CHECK_EQ(first % SWAPFILE_CLUSTER, 0); /* a fresh cluster of its own */
		for (int i = 0; i < LANE_SLOTS; i++) {
			CHECK_EQ(swp_type(args[t].ents[i]), id);
			CHECK_EQ(swp_offset(args[t].ents[i]), first + (uint64_t)i);
		}
		for (int u = 0; u < t; u++)
			CHECK(swp_offset(args[u].ents[0]) / SWAPFILE_CLUSTER != first / SWAPFILE_CLUSTER);
	}
	for (int t = 0; t < LANE_THREADS; t++)
		for (int i = 0; i < LANE_SLOTS; i++)
			free_slot(ctx, args[t].ents[i]);
	CHECK_INV(ctx);
	free(args);
	destroy_ctx(ctx);
}

/* ---- swap counts ------------------------------------------------------------------------- */

static void test_counts(void)
{
	struct uswap_ctx *ctx = new_ctx();
	int id = add_dev(ctx, 1024, "fake0", 0); /* the only device: fake introspection is ours */
	struct swap_info *si = dev(ctx, id);
	static unsigned char page[PAGE_SIZE];
	swp_entry_t e;
	swp_tb_t t;

	/* Count 2 with data: the first free keeps the slot and its data, the second discards. */
	CHECK_EQ(folio_alloc_swap(ctx, &e), 0);
	fill_page(page, 7, 0, FILL_RANDOM);
	CHECK_EQ(swap_write_folio(ctx, si, e, page), 0);
	CHECK_EQ(fake_backend_nr_stored(), 1);
	swap_slot_unlock(ctx, e, 2 | SWP_TB_DATA);
	CHECK_INV(ctx);
	CHECK_EQ(atomic_load(&si->inuse_pages), 1);

	t = swap_slot_lock(ctx, e);
	CHECK_EQ(t, 2 | SWP_TB_DATA);
	t = swap_free_locked(ctx, e, t);
	CHECK_EQ(swp_tb_count(t), 1);
	CHECK(t & SWP_TB_DATA);
	swap_slot_unlock(ctx, e, t);
	CHECK_EQ(fake_backend_nr_stored(), 1);
	CHECK_EQ(atomic_load(&si->inuse_pages), 1);
	CHECK_EQ(atomic_load(swap_table_word(ctx, e)), 1 | SWP_TB_DATA);
	CHECK_INV(ctx);
	/* the data is still readable */
	memset(page, 0, sizeof(page));
	t = swap_slot_lock(ctx, e);
	CHECK_EQ(swap_read_folio(ctx, si, e, page), 0);
	CHECK(verify_page(page, 7, 0, FILL_RANDOM));
	t = swap_free_locked(ctx, e, t);
	CHECK_EQ(t, 0);
	CHECK_EQ(fake_backend_nr_stored(), 0); /* discarded */
	swap_slot_unlock(ctx, e, t);
	CHECK_EQ(atomic_load(&si->inuse_pages), 0);
	CHECK_EQ(atomic_load(&si->clusters[0].nr_used), 0);
	CHECK_INV(ctx);

	/* Without SWP_TB_DATA the backend is not asked to discard. */
	CHECK_EQ(folio_alloc_swap(ctx, &e), 0);
	CHECK_EQ(swap_write_folio(ctx, si, e, page), 0);
	CHECK_EQ(fake_backend_nr_stored(), 1);
	t = swap_free_locked(ctx, e, 1);
	CHECK_EQ(t, 0);
	CHECK_EQ(fake_backend_nr_stored(), 1);
	swap_slot_unlock(ctx, e, t);
	swap_discard(ctx, si, e);
	CHECK_EQ(fake_backend_nr_stored(), 0);
	CHECK_INV(ctx);

	/* Kind and payload (a shadow) survive while references remain; maximum count. */
	CHECK_EQ(folio_alloc_swap(ctx, &e), 0);
	CHECK_EQ(swap_write_folio(ctx, si, e, page), 0);
	swap_slot_unlock(ctx, e, swp_tb_set(SWP_TB_COUNT_MAX | SWP_TB_DATA, SLOT_SHADOW, 0x5a5a5));
	for (unsigned int c = SWP_TB_COUNT_MAX; c > 1; c--) {
		t = swap_slot_lock(ctx, e);
		CHECK_EQ(swp_tb_count(t), c);
		t = swap_free_locked(ctx, e, t);
		CHECK_EQ(swp_tb_count(t), c - 1);
		CHECK_EQ(swp_tb_kind(t), SLOT_SHADOW);
		CHECK_EQ(swp_tb_payload(t), 0x5a5a5);
		CHECK(t & SWP_TB_DATA);
		swap_slot_unlock(ctx, e, t);
		CHECK_EQ(fake_backend_nr_stored(), 1);
		CHECK_EQ(atomic_load(&si->inuse_pages), 1);
	}
	CHECK_INV(ctx);
	t = swap_slot_lock(ctx, e);
	t = swap_free_locked(ctx, e, t);
	CHECK_EQ(t, 0);
	swap_slot_unlock(ctx, e, t);
	CHECK_EQ(fake_backend_nr_stored(), 0);
	CHECK_EQ(atomic_load(&si->inuse_pages), 0);
	CHECK_INV(ctx);
	destroy_ctx(ctx);
}

/* ---- the slot lock ------------------------------------------------------------------------ */

struct locker {
	struct uswap_ctx *ctx;
	swp_entry_t e;
	_Atomic int started, got;
	swp_tb_t seen;
};

static void *locker_thread(void *p)
{
	struct locker *l = p;
	atomic_store(&l->started, 1);
	l->seen = swap_slot_lock(l->ctx, l->e);
	atomic_store(&l->got, 1);
	swap_slot_unlock(l->ctx, l->e, l->seen);
	return NULL;
}

static void test_slot_lock(void)
{
	struct uswap_ctx *ctx = new_ctx();
	(void)add_dev(ctx, 1024, "fake0", 0);
	struct locker l = { .ctx = ctx };
	_Atomic swp_tb_t *w;
	pthread_t th;
	swp_tb_t t;

	l.e = alloc_slot(ctx);
	w = swap_table_word(ctx, l.e);

	/* trylock on a free slot takes it; a second try fails while held */
	CHECK(swap_slot_trylock(ctx, l.e, &t));
	CHECK_EQ(t, 1);
	CHECK(atomic_load(w) & SWP_TB_BUSY);
	swp_tb_t t2 = 0xdead;
	CHECK(!swap_slot_trylock(ctx, l.e, &t2));
	CHECK_EQ(t2, 0xdead); /* untouched on failure */
	swap_slot_unlock(ctx, l.e, t);
	CHECK_EQ(atomic_load(w), 1);

	/* A second thread blocks in swap_slot_lock until the holder unlocks. */
	t = swap_slot_lock(ctx, l.e);
	CHECK_EQ(t, 1);
	CHECK_EQ(pthread_create(&th, NULL, locker_thread, &l), 0);
	while (!atomic_load(&l.started))
		sleep_ms(1);
	/* It announces itself with the waiters bit, then sleeps. */
	for (int i = 0; i < 5000 && !(atomic_load(w) & SWP_TB_WAITERS); i++)
		sleep_ms(1);
	CHECK(atomic_load(w) & SWP_TB_WAITERS);
	sleep_ms(50);
	CHECK_EQ(atomic_load(&l.got), 0);
	CHECK(!swap_slot_trylock(ctx, l.e, &t2));
	CHECK_EQ(atomic_load(&l.got), 0);
	/* Publish a new value with the unlock: the waiter sees it, without lock bits. */
	t = swp_tb_set(3, SLOT_SHADOW, 4242);
	swap_slot_unlock(ctx, l.e, t);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(atomic_load(&l.got), 1);
	CHECK_EQ(l.seen, t);
	CHECK_EQ(atomic_load(w), t); /* the thread unlocked with what it saw */
	CHECK_INV(ctx);

	/* Back to count 1 and free. */
	t = swap_slot_lock(ctx, l.e);
	swap_slot_unlock(ctx, l.e, 1);
	free_slot(ctx, l.e);
	destroy_ctx(ctx);
}

/* Many threads take and release one slot lock; a plain counter under it must not lose updates. */
#define CONTEND_THREADS 4
#define CONTEND_ITERS 20000

struct contend {
	struct uswap_ctx *ctx;
	swp_entry_t e;
	long counter; /* protected by the slot lock */
};

static void *contend_thread(void *p)
{
	struct contend *c = p;
	for (int i = 0; i < CONTEND_ITERS; i++) {
		swp_tb_t t;
		if (i % 3 == 0) {
			while (!swap_slot_trylock(c->ctx, c->e, &t))
				cpu_relax();
		} else {
			t = swap_slot_lock(c->ctx, c->e);
		}
		CHECK_EQ(swp_tb_count(t), 1);
		c->counter++;
		swap_slot_unlock(c->ctx, c->e, t);
	}
	return NULL;
}

static void test_slot_lock_contended(void)
{
	struct uswap_ctx *ctx = new_ctx();
	(void)add_dev(ctx, 512, "fake0", 0);
	struct contend c = { .ctx = ctx };
	pthread_t th[CONTEND_THREADS];

	c.e = alloc_slot(ctx);
	for (int i = 0; i < CONTEND_THREADS; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, contend_thread, &c), 0);
	for (int i = 0; i < CONTEND_THREADS; i++)
		CHECK_EQ(pthread_join(th[i], NULL), 0);
	CHECK_EQ(c.counter, (long)CONTEND_THREADS * CONTEND_ITERS);
	CHECK_EQ(atomic_load(swap_table_word(ctx, c.e)), 1);
	CHECK_INV(ctx);
	free_slot(ctx, c.e);
	destroy_ctx(ctx);
}

/* ---- device pins and swapoff ------------------------------------------------------------ */

struct remover {
	struct uswap_ctx *ctx;
	int id;
	_Atomic int done;
	int rc;
};

static void *remover_thread(void *p)
{
	struct remover *r = p;
	r->rc = swap_device_remove(r->ctx, r->id);
	atomic_store(&r->done, 1);
	return NULL;
}

static void test_pins(void)
{
	struct uswap_ctx *ctx = new_ctx();
	int id = add_dev(ctx, 1000, "fake0", 0);
	struct swap_info *si = dev(ctx, id), *p;
	struct remover r = { .ctx = ctx, .id = id };
	pthread_t th;
	swp_entry_t e;

	/* Bad ids. */
	CHECK_EQ(swap_device_remove(ctx, -1), -EINVAL);
	CHECK_EQ(swap_device_remove(ctx, MAX_SWAPFILES), -EINVAL);
	CHECK_EQ(swap_device_remove(ctx, 1 << 20), -EINVAL);
	CHECK_EQ(swap_device_remove(ctx, id + 1), -EINVAL); /* no such device */
	CHECK(dev(ctx, id) == si);

	/* Pin counting. */
	CHECK_EQ(atomic_load(&si->users), 0);
	CHECK(get_swap_device(ctx, swp_entry(id, 0)) == si);
	CHECK(get_swap_device(ctx, swp_entry(id, 999)) == si);
	CHECK_EQ(atomic_load(&si->users), 2);
	CHECK(get_swap_device(ctx, swp_entry(id, 1000)) == NULL); /* beyond the device */
	CHECK(get_swap_device(ctx, swp_entry(id, 1ULL << 40)) == NULL);
	CHECK(get_swap_device(ctx, swp_entry(id + 1, 0)) == NULL); /* no device */
	CHECK(get_swap_device(ctx, swp_entry(MAX_SWAPFILES - 1, 0)) == NULL);
	CHECK_EQ(atomic_load(&si->users), 2);
	put_swap_device(si);
	put_swap_device(si);
	CHECK_EQ(atomic_load(&si->users), 0);

	/* swapoff of a device with slots in use and no page referring to them fails and
	 * leaves the device usable. */
	e = alloc_slot(ctx);
	CHECK_EQ(swap_device_remove(ctx, id), -ENOMEM);
	CHECK(dev(ctx, id) == si);
	CHECK_EQ(atomic_load(&si->flags) & SWP_DRAINING, 0);
	CHECK(swap_space_available(ctx));
	free_slot(ctx, e);
	CHECK_INV(ctx);

	/* swapoff waits for an outstanding pin. */
	p = get_swap_device(ctx, swp_entry(id, 5));
	CHECK(p == si);
	CHECK_EQ(pthread_create(&th, NULL, remover_thread, &r), 0);
	for (int i = 0; i < 5000 && (atomic_load(&si->flags) & SWP_USED); i++)
		sleep_ms(1);
	CHECK_EQ(atomic_load(&si->flags) & (SWP_USED | SWP_WRITEOK), 0);
	sleep_ms(50);
	CHECK_EQ(atomic_load(&r.done), 0);
	CHECK(dev(ctx, id) == si);
	/* Nothing new while it drains: no pins, no slots. */
	CHECK(get_swap_device(ctx, swp_entry(id, 5)) == NULL);
	CHECK_EQ(atomic_load(&si->users), 1);
	CHECK(!swap_space_available(ctx));
	CHECK_EQ(folio_alloc_swap(ctx, &e), -ENOSPC);
	/* A second swapoff of a draining device is refused. */
	CHECK_EQ(swap_device_remove(ctx, id), -EINVAL);
	CHECK_EQ(atomic_load(&r.done), 0);
	put_swap_device(p);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(r.rc, 0);
	CHECK(dev(ctx, id) == NULL);
	CHECK_EQ(ctx->nr_swapfiles, 0);
	CHECK_EQ(swap_device_remove(ctx, id), -EINVAL);
	CHECK(get_swap_device(ctx, swp_entry(id, 5)) == NULL);
	destroy_ctx(ctx);
}

/* ---- fullness predicates ---------------------------------------------------------------- */

static void test_fullness(void)
{
	struct uswap_ctx *ctx = new_ctx();
	CHECK(!swap_space_available(ctx)); /* no device */
	CHECK(!swap_is_half_full(ctx, swp_entry(0, 0)));

	int id = add_dev(ctx, 1024, "fake0", 0);
	swp_entry_t *ents = calloc(1024, sizeof(*ents));
	swp_entry_t probe = swp_entry(id, 0);

	CHECK(swap_space_available(ctx));
	CHECK(!swap_is_half_full(ctx, probe));
	for (int i = 0; i < 1024; i++) {
		ents[i] = alloc_slot(ctx);
		/* half full means strictly more than half in use */
		CHECK_EQ(swap_is_half_full(ctx, probe), i + 1 > 512);
		CHECK_EQ(swap_space_available(ctx), i + 1 < 1024);
	}
	CHECK(!swap_is_half_full(ctx, swp_entry(id + 1, 0))); /* other type: no device */
	CHECK_INV(ctx);
	free_slot(ctx, ents[1000]);
	CHECK(swap_space_available(ctx));
	CHECK(swap_is_half_full(ctx, probe));

	/* A second, empty device makes space available again; half-full is per device. */
	ents[1000] = alloc_slot(ctx);
	CHECK(!swap_space_available(ctx));
	int id2 = add_dev(ctx, 10, "fake1", 0);
	CHECK(swap_space_available(ctx));
	CHECK(!swap_is_half_full(ctx, swp_entry(id2, 0)));
	/* backend-full flag */
	atomic_store(&dev(ctx, id2)->full, true);
	CHECK(!swap_space_available(ctx));
	atomic_store(&dev(ctx, id2)->full, false);
	CHECK(swap_space_available(ctx));

	for (int i = 0; i < 1024; i++) {
		free_slot(ctx, ents[i]);
		CHECK_EQ(swap_is_half_full(ctx, probe), 1024 - (i + 1) > 512);
	}
	CHECK_INV(ctx);
	free(ents);
	destroy_ctx(ctx);
}

/*
 * A cluster owned by one thread's lane must not strand its free slots: a
 * thread on another lane still gets a slot from the best device (bug found
 * in review: it got -ENOSPC, or a lower-priority device).
 */
struct steal_arg {
	struct uswap_ctx *ctx;
	int rc;
	swp_entry_t e;
};

static void *steal_thread(void *p)
{
	struct steal_arg *a = p;
	a->rc = folio_alloc_swap(a->ctx, &a->e);
	if (!a->rc)
		swap_slot_unlock(a->ctx, a->e, 1);
	return NULL;
}

static void test_owned_cluster_shared(void)
{
	struct uswap_ctx *ctx = new_ctx();
	int hi = add_dev(ctx, 512, "hi", 10); /* one cluster */
	int lo = add_dev(ctx, 512, "lo", 0);
	swp_entry_t e = alloc_slot(ctx);	 /* this thread's lane owns hi's cluster */
	struct steal_arg a = { .ctx = ctx };
	pthread_t th;

	CHECK_EQ(swp_type(e), hi);
	CHECK_EQ(pthread_create(&th, NULL, steal_thread, &a), 0);
	pthread_join(th, NULL);
	CHECK_EQ(a.rc, 0);
	CHECK_EQ(swp_type(a.e), hi);
	CHECK(swp_type(a.e) != (unsigned int)lo);
	free_slot(ctx, a.e);
	free_slot(ctx, e);
	destroy_ctx(ctx);
}

int main(void)
{
	test_priority();
	test_priority_after_remove();
	test_clusters();
	test_counts();
	test_slot_lock();
	test_slot_lock_contended();
	test_pins();
	test_fullness();
	test_owned_cluster_shared();
	/* last: uses up allocation lanes of fresh threads */
	test_lanes();
	printf("test_swapfile: ok\n");
	return 0;
}
