/* SPDX-License-Identifier: MIT */
/*
 * tier.c - the "tier" backend: compressed RAM in front of a swap file.
 *
 * kernel: mm/zswap.c plays this role (a compressed cache in front of the
 * swap device, writing its oldest entries back when it is full); this is
 * uswap's own implementation, built from two backends: a zram instance
 * (zram.c, through zram_backend_ops) and a file instance (file.c).
 *
 * Spec: "tier:[lz4|zstd|zram=lz4|zram=zstd][:level=L]:mem_limit=N:file=PATH
 *        [:size=N][:depth=D][:direct=..][:ring=..][:format]", e.g.
 *   tier:lz4:mem_limit=64M:file=/var/tmp/uswap.swap:size=4G
 *   tier:zram=zstd:level=5:mem_limit=256M:file=/dev/nvme0n1p3
 * Tokens in any order.  lz4/zstd/level= configure the compressed store,
 * mem_limit= (required, non-zero) is its memory limit (zram's
 * mem_used_total), and file= with size=, depth=, direct=, ring=, format are
 * the file device's options (file.c).  The device has the file's slots: the
 * file is the swap device, and the compressed store is a cache keyed by the
 * same slot numbers, so a swap entry never changes when its page moves.
 *
 * Pages
 *   write() stores the page in the compressed store.  When the store is at
 *   mem_limit (zram's write returns -ENOSPC), the oldest pages, in write
 *   order (FIFO, like zswap's LRU of entries that are never touched again
 *   once written: a cached page that is read is freed or kept clean by the
 *   core, not rotated), are written back to the file in batches of
 *   BK_MAX_BATCH with one write_batch() each, then dropped from the store,
 *   and the write is retried.  After TIER_RETRIES rounds (the store may
 *   stay full when what was freed sits in other size classes) the page goes
 *   straight to the file.  Same-filled pages are kept by zram as one word,
 *   cost nothing, and never reach the file: they are not queued for
 *   writeback.  read() looks in the store, then in the file; discard()
 *   forgets the slot in both.
 *
 * Slot states (4 bytes per slot, chunks of 8 Ki slots mapped on first use)
 *   EMPTY, RAM (in the store), FILE (in the file), MOVING (being written
 *   back), plus SAME (same-filled, never written back), LOCK (a write or
 *   discard is changing it) and a generation that every write and discard
 *   increments.  FIFO entries carry the generation of the write that queued
 *   them, so an entry whose slot has been rewritten or discarded since is
 *   recognised as stale and skipped.
 *
 * Concurrency
 *   The core serialises its own calls on one slot; writeback is the only
 *   other actor.  Writeback claims RAM -> MOVING with a CAS (refused while a
 *   write or discard holds LOCK), writes the page to the file, discards it
 *   from the store, and only then publishes FILE.  write() and discard()
 *   wait (yield) while their slot is MOVING - at most one batch's I/O, and
 *   never from a signal handler (a SIGBUS is raised by an access to managed
 *   memory, which this code never makes, so it cannot interrupt
 *   writeback).  read() never waits: in RAM or MOVING it reads the store,
 *   and if writeback dropped the page meanwhile (MOVING and -ENOENT), the
 *   file copy is complete, so it reads the file.  read() takes no lock and
 *   allocates nothing (zram's read and file's read are signal-safe).
 *   Writebacks are serialised by wb_lock (they share its page buffers), the
 *   FIFO by fifo_lock.
 *
 * Flags: neither BK_SYNCHRONOUS (a read may wait for the disk) nor BK_RAM
 * (a kept clean copy costs at most its share of mem_limit, then it moves to
 * the file).
 */
#include "backend/backend.h"
#include "backend/file.h"
#include "backend/tier.h"
#include "sys.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

#define TIER_CHUNK_SHIFT 13u
#define TIER_CHUNK_SLOTS (1u << TIER_CHUNK_SHIFT)
#define TIER_CHUNK_BYTES (TIER_CHUNK_SLOTS * sizeof(uint32_t))
#define TIER_RETRIES 4
#define TIER_FIFO_MIN 4096u

enum { TS_EMPTY = 0, TS_RAM = 1, TS_FILE = 2, TS_MOVING = 3 };
#define TS_MASK 3u
#define TS_SAME (1u << 2)
#define TS_LOCK (1u << 3)
#define TS_GEN_SHIFT 4u

struct tier_ent {
	uint64_t slot;
	uint32_t gen;
};

struct tier {
	void *zram, *file;
	uint64_t nr_slots, mem_limit;
	size_t nr_chunks;
	_Atomic(_Atomic uint32_t *) *chunks;

	pthread_mutex_t fifo_lock; /* protects fifo, fifo_cap, fifo_head, fifo_len */
	struct tier_ent *fifo;
	size_t fifo_cap, fifo_head, fifo_len;

	pthread_mutex_t wb_lock; /* serialises writeback; protects wb_pages */
	unsigned char *wb_pages; /* BK_MAX_BATCH pages, page-aligned for O_DIRECT */

	_Atomic uint64_t table_bytes;
	_Atomic uint64_t nr_writeback, nr_writeback_batches, nr_direct, nr_ram_reads,
		nr_file_reads;
};

static unsigned int ts_state(uint32_t s)
{
	return s & TS_MASK;
}

static uint32_t ts_gen(uint32_t s)
{
	return s >> TS_GEN_SHIFT;
}

static uint32_t ts_make(unsigned int state, uint32_t flags, uint32_t gen)
{
	return state | flags | (gen << TS_GEN_SHIFT);
}

/* ---- slot states ---- */

static _Atomic uint32_t *state_of(const struct tier *t, uint64_t slot)
{
	_Atomic uint32_t *c =
		atomic_load_explicit(&t->chunks[slot >> TIER_CHUNK_SHIFT], memory_order_acquire);

	return c ? &c[slot & (TIER_CHUNK_SLOTS - 1)] : NULL;
}

/* State word of @slot for a reader.  Return: 0; -EINVAL out of range; -ENOENT never written. */
static int state_lookup(const struct tier *t, uint64_t slot, _Atomic uint32_t **sp)
{
	if (slot >= t->nr_slots)
		return -EINVAL;
	*sp = state_of(t, slot);
	return *sp ? 0 : -ENOENT;
}

static int state_alloc(struct tier *t, uint64_t slot, _Atomic uint32_t **sp)
{
	_Atomic(_Atomic uint32_t *) *p = &t->chunks[slot >> TIER_CHUNK_SHIFT];
	_Atomic uint32_t *c = atomic_load_explicit(p, memory_order_acquire), *expected = NULL;

	if (!c) {
		c = sys_mmap(NULL, TIER_CHUNK_BYTES, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (c == MAP_FAILED)
			return -ENOMEM;
		if (atomic_compare_exchange_strong_explicit(p, &expected, c, memory_order_acq_rel,
							    memory_order_acquire)) {
			atomic_fetch_add_explicit(&t->table_bytes, TIER_CHUNK_BYTES,
						  memory_order_relaxed);
		} else {
			sys_munmap(c, TIER_CHUNK_BYTES);
			c = expected;
		}
	}
	*sp = &c[slot & (TIER_CHUNK_SLOTS - 1)];
	return 0;
}

/* Take LOCK on a slot for a write or discard, waiting out a writeback.  Return: old state. */
static uint32_t state_lock(_Atomic uint32_t *sp)
{
	uint32_t s = atomic_load_explicit(sp, memory_order_acquire);

	for (;;) {
		if (ts_state(s) == TS_MOVING || (s & TS_LOCK)) {
			sched_yield(); /* writeback of this slot: one batch of I/O at most */
			s = atomic_load_explicit(sp, memory_order_acquire);
			continue;
		}
		if (atomic_compare_exchange_weak_explicit(sp, &s, s | TS_LOCK, memory_order_acq_rel,
							  memory_order_acquire))
			return s;
	}
}

/* ---- FIFO of pages in the store, oldest first ---- */

/* Drop entries whose slot no longer holds the write that queued them.  Context: fifo_lock. */
static void fifo_compact_locked(struct tier *t)
{
	size_t n = 0;

	for (size_t i = 0; i < t->fifo_len; i++) {
		struct tier_ent e = t->fifo[(t->fifo_head + i) % t->fifo_cap];
		_Atomic uint32_t *sp = state_of(t, e.slot);
		uint32_t s = sp ? atomic_load_explicit(sp, memory_order_relaxed) : 0;

		if (ts_gen(s) == (e.gen & (UINT32_MAX >> TS_GEN_SHIFT)) &&
		    (ts_state(s) == TS_RAM || ts_state(s) == TS_MOVING))
			t->fifo[(t->fifo_head + n++) % t->fifo_cap] = e;
	}
	t->fifo_len = n;
}

/* Queue @slot (written with generation @gen) for writeback.  Return: 0, -ENOMEM. */
static int fifo_push(struct tier *t, uint64_t slot, uint32_t gen)
{
	int ret = 0;

	pthread_mutex_lock(&t->fifo_lock);
	if (t->fifo_len == t->fifo_cap)
		fifo_compact_locked(t);
	if (t->fifo_len * 2 > t->fifo_cap || t->fifo_cap == 0) {
		size_t cap = t->fifo_cap ? t->fifo_cap * 2 : TIER_FIFO_MIN;
		struct tier_ent *q = malloc(cap * sizeof(*q));

		if (!q) {
			if (t->fifo_len == t->fifo_cap) {
				ret = -ENOMEM;
				goto out_unlock;
			}
		} else {
			for (size_t i = 0; i < t->fifo_len; i++)
				q[i] = t->fifo[(t->fifo_head + i) % t->fifo_cap];
			free(t->fifo);
			t->fifo = q;
			t->fifo_cap = cap;
			t->fifo_head = 0;
		}
	}
	t->fifo[(t->fifo_head + t->fifo_len++) % t->fifo_cap] = (struct tier_ent){ slot, gen };
out_unlock:
	pthread_mutex_unlock(&t->fifo_lock);
	return ret;
}

/*
 * Claim up to @max of the oldest queued pages for writeback: RAM -> MOVING.
 * Context: wb_lock held.  Return: number claimed, in @slots / @gens.
 */
static unsigned int fifo_claim(struct tier *t, unsigned int max, uint64_t *slots, uint32_t *gens)
{
	unsigned int n = 0;

	pthread_mutex_lock(&t->fifo_lock);
	while (n < max && t->fifo_len) {
		struct tier_ent e = t->fifo[t->fifo_head];
		_Atomic uint32_t *sp = state_of(t, e.slot);
		uint32_t want = ts_make(TS_RAM, 0, e.gen);

		t->fifo_head = (t->fifo_head + 1) % t->fifo_cap;
		t->fifo_len--;
		/* Fails if rewritten, discarded, same-filled or locked: a stale entry. */
		if (sp && atomic_compare_exchange_strong_explicit(sp, &want,
								  ts_make(TS_MOVING, 0, e.gen),
								  memory_order_acq_rel,
								  memory_order_relaxed)) {
			slots[n] = e.slot;
			gens[n++] = e.gen;
		}
	}
	pthread_mutex_unlock(&t->fifo_lock);
	return n;
}

/* ---- writeback ---- */

/*
 * tier_writeback - write the oldest pages of the store back to the file, one
 * batch.  Context: may block (takes wb_lock; disk I/O).  Return: pages
 * written back (0 if none was queued), or a negative error of the file.
 */
static long tier_writeback(struct tier *t)
{
	uint64_t slots[BK_MAX_BATCH], hashes[BK_MAX_BATCH];
	const void *pages[BK_MAX_BATCH];
	uint64_t wslots[BK_MAX_BATCH];
	uint32_t gens[BK_MAX_BATCH], wgens[BK_MAX_BATCH];
	int rc[BK_MAX_BATCH];
	unsigned int n, m = 0;
	long done = 0, err = 0;

	pthread_mutex_lock(&t->wb_lock);
	n = fifo_claim(t, BK_MAX_BATCH, slots, gens);
	for (unsigned int i = 0; i < n; i++) {
		_Atomic uint32_t *sp = state_of(t, slots[i]);
		void *buf = t->wb_pages + (size_t)m * USWAP_PAGE_SIZE;
		bool valid = false;
		int r = zram_backend_ops.read(t->zram, slots[i], buf, &hashes[m], &valid);

		if (r) {
			/* Cannot happen (we own the slot); keep it where it is. */
			atomic_store_explicit(sp, ts_make(TS_RAM, 0, gens[i]), memory_order_release);
			continue;
		}
		if (!valid)
			hashes[m] = XXH3_64bits(buf, USWAP_PAGE_SIZE);
		pages[m] = buf;
		wslots[m] = slots[i];
		wgens[m++] = gens[i];
	}
	if (m)
		file_backend_ops.write_batch(t->file, m, wslots, pages, hashes, rc);
	for (unsigned int i = 0; i < m; i++) {
		_Atomic uint32_t *sp = state_of(t, wslots[i]);

		if (rc[i]) {
			/* The file is full or failing: the page stays in RAM, queued again. */
			atomic_store_explicit(sp, ts_make(TS_RAM, 0, wgens[i]), memory_order_release);
			fifo_push(t, wslots[i], wgens[i]);
			if (!err)
				err = rc[i];
			continue;
		}
		/* Drop from the store first: a reader that then misses it goes to the file. */
		zram_backend_ops.discard(t->zram, wslots[i]);
		atomic_store_explicit(sp, ts_make(TS_FILE, 0, wgens[i]), memory_order_release);
		done++;
	}
	pthread_mutex_unlock(&t->wb_lock);
	if (done) {
		atomic_fetch_add_explicit(&t->nr_writeback, (uint64_t)done, memory_order_relaxed);
		atomic_fetch_add_explicit(&t->nr_writeback_batches, 1, memory_order_relaxed);
	}
	return done ? done : err;
}

/* ---- ops ---- */

static bool page_same(const void *page)
{
	const uint64_t *w = page;

	for (size_t i = 1; i < USWAP_PAGE_SIZE / sizeof(uint64_t); i++)
		if (w[i] != w[0])
			return false;
	return true;
}

static int tier_write(void *priv, uint64_t slot, const void *page, uint64_t hash)
{
	struct tier *t = priv;
	_Atomic uint32_t *sp;
	bool same = page_same(page);
	uint32_t old, gen;
	int ret;

	if (slot >= t->nr_slots)
		return -EINVAL;
	ret = state_alloc(t, slot, &sp);
	if (ret)
		return ret;
	old = state_lock(sp);
	gen = (ts_gen(old) + 1) & (UINT32_MAX >> TS_GEN_SHIFT);

	for (int tries = 0;; tries++) {
		ret = zram_backend_ops.write(t->zram, slot, page, hash);
		if (ret != -ENOSPC || tries == TIER_RETRIES)
			break;
		if (tier_writeback(t) <= 0 || tries >= TIER_RETRIES / 2)
			zram_backend_ops.compact(t->zram); /* freed objects may sit in half-empty zspages */
	}
	if (ret == 0) {
		if (ts_state(old) == TS_FILE)
			file_backend_ops.discard(t->file, slot);
		atomic_store_explicit(sp, ts_make(TS_RAM, same ? TS_SAME : 0, gen),
				      memory_order_release);
		/* Queued after the state is published, so writeback cannot see it early. */
		if (!same && fifo_push(t, slot, gen)) {
			/* No room to queue it: it would never be written back.  Harmless
			 * for correctness; the store just keeps it. */
		}
		return 0;
	}
	if (ret != -ENOSPC || same) {
		/* The old content is intact (zram replaces only on success). */
		atomic_store_explicit(sp, old, memory_order_release);
		return ret;
	}
	/* The store cannot take it: straight to the file. */
	ret = file_backend_ops.write(t->file, slot, page, hash);
	if (ts_state(old) == TS_RAM)
		zram_backend_ops.discard(t->zram, slot);
	if (ret == 0)
		atomic_fetch_add_explicit(&t->nr_direct, 1, memory_order_relaxed);
	/* On failure the file dropped the slot (its old copy may be torn): empty. */
	atomic_store_explicit(sp, ts_make(ret ? TS_EMPTY : TS_FILE, 0, gen), memory_order_release);
	return ret;
}

static int tier_write_batch(void *priv, unsigned int n, const uint64_t *slots,
			    const void *const *pages, const uint64_t *hashes, int *rc)
{
	int first = 0;

	if (n > BK_MAX_BATCH)
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++) {
		rc[i] = tier_write(priv, slots[i], pages[i], hashes[i]);
		if (rc[i] && !first)
			first = rc[i];
	}
	return first;
}

/* Context: signal-safe: no lock, no allocation, never waits for writeback. */
static int tier_read(void *priv, uint64_t slot, void *page, uint64_t *hash, bool *hash_valid)
{
	struct tier *t = priv;
	_Atomic uint32_t *sp;
	uint32_t s;
	int ret = state_lookup(t, slot, &sp);

	if (ret)
		return ret;
	for (;;) {
		s = atomic_load_explicit(sp, memory_order_acquire);
		switch (ts_state(s)) {
		case TS_EMPTY:
			return -ENOENT;
		case TS_FILE:
			atomic_fetch_add_explicit(&t->nr_file_reads, 1, memory_order_relaxed);
			return file_backend_ops.read(t->file, slot, page, hash, hash_valid);
		}
		ret = zram_backend_ops.read(t->zram, slot, page, hash, hash_valid);
		if (ret != -ENOENT) {
			if (!ret)
				atomic_fetch_add_explicit(&t->nr_ram_reads, 1, memory_order_relaxed);
			return ret;
		}
		/* Writeback dropped it from the store after its file write completed. */
		if (atomic_load_explicit(sp, memory_order_acquire) == s && ts_state(s) == TS_MOVING) {
			atomic_fetch_add_explicit(&t->nr_file_reads, 1, memory_order_relaxed);
			return file_backend_ops.read(t->file, slot, page, hash, hash_valid);
		}
	}
}

static int tier_read_batch(void *priv, unsigned int n, const uint64_t *slots, void *const *pages,
			   uint64_t *hashes, bool *hash_valid, int *rc)
{
	struct tier *t = priv;
	uint64_t fslots[BK_MAX_BATCH], fhashes[BK_MAX_BATCH];
	void *fpages[BK_MAX_BATCH];
	bool fvalid[BK_MAX_BATCH];
	int frc[BK_MAX_BATCH];
	unsigned int idx[BK_MAX_BATCH], m = 0;
	int first = 0;

	if (n > BK_MAX_BATCH)
		return -EINVAL;
	/* Pages in the file go in one batch; the rest are read from RAM one by one. */
	for (unsigned int i = 0; i < n; i++) {
		_Atomic uint32_t *sp = slots[i] < t->nr_slots ? state_of(t, slots[i]) : NULL;

		hash_valid[i] = false;
		if (sp && ts_state(atomic_load_explicit(sp, memory_order_acquire)) == TS_FILE) {
			fslots[m] = slots[i];
			fpages[m] = pages[i];
			idx[m++] = i;
			continue;
		}
		rc[i] = tier_read(priv, slots[i], pages[i], &hashes[i], &hash_valid[i]);
	}
	if (m) {
		file_backend_ops.read_batch(t->file, m, fslots, fpages, fhashes, fvalid, frc);
		atomic_fetch_add_explicit(&t->nr_file_reads, m, memory_order_relaxed);
	}
	for (unsigned int k = 0; k < m; k++) {
		rc[idx[k]] = frc[k];
		hashes[idx[k]] = fhashes[k];
		hash_valid[idx[k]] = fvalid[k];
	}
	for (unsigned int i = 0; i < n; i++)
		if (rc[i] && !first)
			first = rc[i];
	return first;
}

static int tier_discard(void *priv, uint64_t slot)
{
	struct tier *t = priv;
	_Atomic uint32_t *sp;
	uint32_t old;
	int ret = state_lookup(t, slot, &sp);

	if (ret)
		return ret == -ENOENT ? 0 : ret;
	old = state_lock(sp);
	if (ts_state(old) == TS_RAM)
		zram_backend_ops.discard(t->zram, slot);
	else if (ts_state(old) == TS_FILE)
		file_backend_ops.discard(t->file, slot);
	atomic_store_explicit(sp,
			      ts_make(TS_EMPTY, 0,
				      (ts_gen(old) + 1) & (UINT32_MAX >> TS_GEN_SHIFT)),
			      memory_order_release);
	return 0;
}

static int tier_matches(void *priv, uint64_t slot, const void *page, uint64_t hash)
{
	struct tier *t = priv;
	_Atomic uint32_t *sp;
	uint32_t s;
	int ret = state_lookup(t, slot, &sp);

	if (ret)
		return ret;
	s = atomic_load_explicit(sp, memory_order_acquire);
	switch (ts_state(s)) {
	case TS_EMPTY:
		return -ENOENT;
	case TS_FILE:
		return file_backend_ops.matches(t->file, slot, page, hash);
	}
	ret = zram_backend_ops.matches(t->zram, slot, page, hash);
	if (ret == -ENOENT && ts_state(s) == TS_MOVING)
		ret = file_backend_ops.matches(t->file, slot, page, hash);
	return ret;
}

int tier_stat_get(void *priv, struct tier_stat *ts)
{
	struct tier *t = priv;

	memset(ts, 0, sizeof(*ts));
	zram_backend_ops.stat(t->zram, &ts->ram);
	file_backend_ops.stat(t->file, &ts->file);
	ts->nr_writeback = atomic_load_explicit(&t->nr_writeback, memory_order_relaxed);
	ts->nr_writeback_batches =
		atomic_load_explicit(&t->nr_writeback_batches, memory_order_relaxed);
	ts->nr_direct = atomic_load_explicit(&t->nr_direct, memory_order_relaxed);
	ts->nr_ram_reads = atomic_load_explicit(&t->nr_ram_reads, memory_order_relaxed);
	ts->nr_file_reads = atomic_load_explicit(&t->nr_file_reads, memory_order_relaxed);
	ts->table_bytes = atomic_load_explicit(&t->table_bytes, memory_order_relaxed);
	return 0;
}

/*
 * stat: the sum of both tiers; the memory counters are the RAM the device
 * costs (store + both tables), mem_limit the store's, and the I/O counters
 * the file's (writes = pages written to disk, by writeback or directly).
 */
static int tier_stat(void *priv, struct backend_stat *st)
{
	struct tier *t = priv;
	struct tier_stat ts;
	uint64_t own;

	tier_stat_get(priv, &ts);
	pthread_mutex_lock(&t->fifo_lock);
	own = sizeof(*t) + t->nr_chunks * sizeof(*t->chunks) + ts.table_bytes +
	      t->fifo_cap * sizeof(*t->fifo) + (uint64_t)BK_MAX_BATCH * USWAP_PAGE_SIZE;
	pthread_mutex_unlock(&t->fifo_lock);
	*st = ts.ram;
	st->nr_stored += ts.file.nr_stored;
	st->orig_data_size += ts.file.orig_data_size;
	st->compr_data_size += ts.file.compr_data_size;
	st->meta_bytes += ts.file.meta_bytes + own;
	st->slot_table_bytes += ts.file.slot_table_bytes + ts.table_bytes;
	st->mem_used_total += ts.file.mem_used_total + own;
	st->mem_used_max += ts.file.mem_used_total + own;
	st->bytes_written = ts.file.bytes_written;
	st->bytes_read = ts.file.bytes_read;
	st->writes = ts.file.writes;
	st->reads = ts.file.reads;
	return 0;
}

static long tier_compact(void *priv)
{
	struct tier *t = priv;

	return zram_backend_ops.compact(t->zram);
}

/* ---- spec ---- */

struct tier_cfg {
	char zram_args[256];
	char file_args[160];
	const char *algo;
	char level[128];
	uint64_t mem_limit;
	bool have_limit, have_file;
};

static bool key_is(const char *t, size_t n, const char *key)
{
	size_t k = strlen(key);

	return n >= k && memcmp(t, key, k) == 0;
}

static int spec_parse(const char *args, struct tier_cfg *cfg, char *err, size_t err_len)
{
	char file_opts[128] = "", path[128] = "";
	const char *p = args ? args : "";
	size_t used = 0;

	memset(cfg, 0, sizeof(*cfg));
	cfg->algo = "lz4";
	for (;;) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char val[128];

		if (n == 0)
			return backend_error(-EINVAL, err, err_len, "tier: empty option (stray ':')");
		if (n >= sizeof(val))
			return backend_error(-EINVAL, err, err_len, "tier: option too long");
		memcpy(val, p, n);
		val[n] = '\0';
		if (!strcmp(val, "lz4") || !strcmp(val, "zstd") || !strcmp(val, "zram=lz4") ||
		    !strcmp(val, "zram=zstd")) {
			cfg->algo = strstr(val, "zstd") ? "zstd" : "lz4";
		} else if (key_is(p, n, "level=")) {
			snprintf(cfg->level, sizeof(cfg->level), "%s", val);
		} else if (key_is(p, n, "mem_limit=")) {
			if (backend_parse_size(val + 10, &cfg->mem_limit) ||
			    cfg->mem_limit == 0)
				return backend_error(-EINVAL, err, err_len,
						  "tier: bad mem_limit '%s' (a non-zero size)",
						  val + 10);
			cfg->have_limit = true;
		} else if (key_is(p, n, "file=")) {
			if (cfg->have_file)
				return backend_error(-EINVAL, err, err_len, "tier: file= given twice");
			cfg->have_file = true;
			snprintf(path, sizeof(path), "%s", val + 5);
		} else if (key_is(p, n, "size=") || key_is(p, n, "depth=") ||
			   key_is(p, n, "direct=") || key_is(p, n, "ring=") ||
			   !strcmp(val, "format")) {
			int w = snprintf(file_opts + used, sizeof(file_opts) - used, ":%s", val);

			if (w < 0 || (size_t)w >= sizeof(file_opts) - used)
				return backend_error(-EINVAL, err, err_len, "tier: spec too long");
			used += (size_t)w;
		} else {
			return backend_error(-EINVAL, err, err_len,
					  "tier: unknown option '%s' (lz4, zstd, level=, "
					  "mem_limit=, file=, size=, depth=, direct=, ring=, format)",
					  val);
		}
		if (!end)
			break;
		p = end + 1;
	}
	if (!cfg->have_file)
		return backend_error(-EINVAL, err, err_len, "tier: file=PATH is required");
	if (!cfg->have_limit)
		return backend_error(-EINVAL, err, err_len,
				  "tier: mem_limit= is required (the compressed store's size)");
	snprintf(cfg->file_args, sizeof(cfg->file_args), "%s%s", path, file_opts);
	return 0;
}

/* ---- create / destroy ---- */

static void tier_destroy(void *priv)
{
	struct tier *t = priv;

	if (!t)
		return;
	if (t->zram)
		zram_backend_ops.destroy(t->zram);
	if (t->file)
		file_backend_ops.destroy(t->file);
	for (size_t i = 0; t->chunks && i < t->nr_chunks; i++) {
		_Atomic uint32_t *c = atomic_load_explicit(&t->chunks[i], memory_order_relaxed);

		if (c)
			sys_munmap(c, TIER_CHUNK_BYTES);
	}
	free(t->chunks);
	free(t->fifo);
	if (t->wb_pages)
		sys_munmap(t->wb_pages, (size_t)BK_MAX_BATCH * USWAP_PAGE_SIZE);
	pthread_mutex_destroy(&t->fifo_lock);
	pthread_mutex_destroy(&t->wb_lock);
	free(t);
}

static int tier_create(const char *args, void **priv, uint64_t *nr_slots, char *err,
		       size_t err_len)
{
	struct tier_cfg cfg;
	struct tier *t;
	uint64_t zslots;
	char sub[256] = "";
	int ret;

	ret = spec_parse(args, &cfg, err, err_len);
	if (ret)
		return ret;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	pthread_mutex_init(&t->fifo_lock, NULL);
	pthread_mutex_init(&t->wb_lock, NULL);
	t->mem_limit = cfg.mem_limit;

	/* Check the store's options before the file is made: a dry run. */
	snprintf(cfg.zram_args, sizeof(cfg.zram_args), "%s:size=4096%s%s", cfg.algo,
		 cfg.level[0] ? ":" : "", cfg.level);
	ret = zram_backend_ops.create(cfg.zram_args, &t->zram, &zslots, sub, sizeof(sub));
	if (ret) {
		t->zram = NULL;
		ret = backend_error(ret, err, err_len, "tier: %s", sub);
		goto out_destroy;
	}
	zram_backend_ops.destroy(t->zram);
	t->zram = NULL;

	ret = file_backend_ops.create(cfg.file_args, &t->file, &t->nr_slots, sub, sizeof(sub));
	if (ret) {
		t->file = NULL;
		ret = backend_error(ret, err, err_len, "tier: %s", sub);
		goto out_destroy;
	}
	snprintf(cfg.zram_args, sizeof(cfg.zram_args), "%s:size=%llu:mem_limit=%llu%s%s",
		 cfg.algo, (unsigned long long)(t->nr_slots * USWAP_PAGE_SIZE),
		 (unsigned long long)cfg.mem_limit, cfg.level[0] ? ":" : "", cfg.level);
	ret = zram_backend_ops.create(cfg.zram_args, &t->zram, &zslots, sub, sizeof(sub));
	if (ret) {
		t->zram = NULL;
		ret = backend_error(ret, err, err_len, "tier: %s", sub);
		goto out_destroy;
	}
	t->nr_chunks = (size_t)((t->nr_slots + TIER_CHUNK_SLOTS - 1) >> TIER_CHUNK_SHIFT);
	t->chunks = calloc(t->nr_chunks, sizeof(*t->chunks));
	t->wb_pages = sys_mmap(NULL, (size_t)BK_MAX_BATCH * USWAP_PAGE_SIZE,
			       PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t->wb_pages == MAP_FAILED)
		t->wb_pages = NULL;
	if (!t->chunks || !t->wb_pages) {
		ret = -ENOMEM;
		goto out_destroy;
	}
	*priv = t;
	*nr_slots = t->nr_slots;
	return 0;

out_destroy:
	tier_destroy(t);
	return ret;
}

/* ---- invariants (tests) ---- */

static int tier_check_invariants(void *priv, char *err, size_t err_len)
{
	struct tier *t = priv;
	uint64_t ram = 0, file = 0, same = 0;
	struct backend_stat zs, fs;
	int ret;

	for (size_t i = 0; i < t->nr_chunks; i++) {
		_Atomic uint32_t *c = atomic_load_explicit(&t->chunks[i], memory_order_acquire);

		for (uint64_t k = 0; c && k < TIER_CHUNK_SLOTS; k++) {
			uint32_t s = atomic_load_explicit(&c[k], memory_order_relaxed);

			if (s & TS_LOCK || ts_state(s) == TS_MOVING)
				return backend_error(-EUCLEAN, err, err_len,
						  "tier: slot %llu locked or moving at rest",
						  (unsigned long long)(i * TIER_CHUNK_SLOTS + k));
			ram += ts_state(s) == TS_RAM;
			same += ts_state(s) == TS_RAM && (s & TS_SAME);
			file += ts_state(s) == TS_FILE;
		}
	}
	zram_backend_ops.stat(t->zram, &zs);
	file_backend_ops.stat(t->file, &fs);
	if (ram != zs.nr_stored || file != fs.nr_stored || same != zs.same_pages)
		return backend_error(-EUCLEAN, err, err_len,
				  "tier: ram %llu/%llu file %llu/%llu same %llu/%llu",
				  (unsigned long long)ram, (unsigned long long)zs.nr_stored,
				  (unsigned long long)file, (unsigned long long)fs.nr_stored,
				  (unsigned long long)same, (unsigned long long)zs.same_pages);
	ret = zram_check_invariants(t->zram, err, err_len);
	if (!ret)
		ret = file_backend_ops.check_invariants(t->file, err, err_len);
	return ret;
}

const struct swap_backend_ops tier_backend_ops = {
	.name = "tier",
	.flags = 0,
	.create = tier_create,
	.destroy = tier_destroy,
	.write = tier_write,
	.read = tier_read,
	.discard = tier_discard,
	.matches = tier_matches,
	.stat = tier_stat,
	.read_batch = tier_read_batch,
	.write_batch = tier_write_batch,
	.compact = tier_compact,
	.check_invariants = tier_check_invariants,
};
