/* SPDX-License-Identifier: MIT */
/*
 * swap_state.c - the page pool and the swap cache.
 *
 * kernel: mm/swap_state.c (swap cache) and the page allocator's role for
 * swap-cache folios.
 *
 * The pool is one large virtual area registered with the pool's own
 * userfaultfd.  Reclaim moves a program page into a free frame with
 * UFFDIO_MOVE (which needs the destination registered and empty), so an
 * evicted page keeps its physical page and no byte is copied.  The frame is
 * then in the swap cache: its slot word (swap table) points at it, and it
 * sits on its group's inactive list.
 *
 * A free frame is either empty (the destination of the next move out) or
 * warm: it still holds a page.  Swap-ins decompress into warm frames and
 * move them into the program, which leaves them empty for the next
 * eviction: in a steady stream no page is allocated, copied or released.
 * Only beyond warm_max are warm frames released (MADV_DONTNEED), in large
 * sorted batches, because every release is a TLB shoot-down of the whole
 * process (12 us on this machine when another thread runs).  The pool's uffd
 * has no events, so releasing never waits for a handler thread.
 *
 * uswap's code only ever touches a frame that holds a page; touching an
 * empty frame would fault into the pool's uffd and hang, so every frame
 * state change below says who owns the frame.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

int pool_init(struct uswap_ctx *ctx, uint32_t nr_frames)
{
	struct page_pool *pool = &ctx->pool;
	size_t words = (nr_frames + 63) / 64;

	/* Frame metadata and the bitmaps are mapped lazily: the allocator hands
	 * out the lowest free frames, so only the peak swap-cache size is ever
	 * touched (pool_meta_bytes). */
	pool->base = sys_mmap_anon((size_t)nr_frames << PAGE_SHIFT);
	pool->frames = sys_mmap_anon(nr_frames * sizeof(*pool->frames));
	pool->used_bitmap = sys_mmap_anon(words * sizeof(uint64_t));
	pool->warm_bitmap = sys_mmap_anon(words * sizeof(uint64_t));
	if (!pool->base || !pool->frames || !pool->used_bitmap || !pool->warm_bitmap) {
		pool_destroy(ctx);
		return -ENOMEM;
	}
	/* Frames are never worth a transparent huge page: moves are per 4 KiB. */
	sys_madvise(pool->base, (size_t)nr_frames << PAGE_SHIFT, MADV_NOHUGEPAGE);
	pool->nr = nr_frames;
	pool->nr_free = nr_frames;
	pool->warm_max = POOL_WARM_MAX;
	pthread_mutex_init(&pool->lock, NULL);
	return 0;
}

/* Bytes of frame metadata ever touched (high-water mark). */
uint64_t pool_meta_bytes(struct page_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	uint32_t hw = pool->high_water;
	pthread_mutex_unlock(&pool->lock);
	uint64_t bytes = (uint64_t)hw * sizeof(struct pool_frame) + hw / 4;
	return (bytes + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
}

void pool_destroy(struct uswap_ctx *ctx)
{
	struct page_pool *pool = &ctx->pool;
	size_t words = (pool->nr + 63) / 64;

	if (pool->base)
		sys_munmap(pool->base, (size_t)pool->nr << PAGE_SHIFT);
	if (pool->frames)
		sys_munmap(pool->frames, pool->nr * sizeof(*pool->frames));
	if (pool->used_bitmap)
		sys_munmap(pool->used_bitmap, words * sizeof(uint64_t));
	if (pool->warm_bitmap)
		sys_munmap(pool->warm_bitmap, words * sizeof(uint64_t));
	memset(pool, 0, sizeof(*pool));
}

static inline bool bit_test(const uint64_t *map, uint32_t i)
{
	return map[i / 64] >> (i % 64) & 1;
}

/* Take the contiguous run of frames set in @map from @start, up to @want. */
static uint32_t take_run(struct page_pool *pool, uint64_t *map, bool set, uint32_t start, uint32_t want)
{
	uint32_t n = 0;

	while (n < want && start + n < pool->nr && bit_test(map, start + n) == set) {
		uint32_t i = start + n;
		pool->used_bitmap[i / 64] |= 1ULL << (i % 64);
		pool->warm_bitmap[i / 64] &= ~(1ULL << (i % 64));
		pool->frames[i].state = FRAME_ISOLATED;
		n++;
	}
	return n;
}

/* Lowest index >= @from whose bit in @map equals @set, or pool->nr. */
static uint32_t find_bit(struct page_pool *pool, const uint64_t *map, bool set, uint32_t from)
{
	for (uint32_t w = from / 64; w < (pool->nr + 63) / 64; w++) {
		uint64_t bits = set ? map[w] : ~map[w];
		if (w == from / 64)
			bits &= ~0ULL << (from % 64);
		if (bits) {
			uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(bits);
			return i < pool->nr ? i : pool->nr;
		}
	}
	return pool->nr;
}

static uint32_t alloc_empty_locked(struct page_pool *pool, uint32_t want, uint32_t *first)
{
	uint32_t start, n;

	if (!pool->nr_free)
		return 0;
	/* Lowest empty frame first: keeps the touched part of the pool small. */
	start = find_bit(pool, pool->used_bitmap, false, pool->hint);
	if (start >= pool->nr)
		return 0;
	n = take_run(pool, pool->used_bitmap, false, start, want);
	pool->nr_free -= n;
	pool->hint = start + n;
	if (start + n > pool->high_water)
		pool->high_water = start + n;
	*first = start;
	return n;
}

/*
 * pool_alloc_run - take up to @want empty frames that are contiguous, so that
 * one UFFDIO_MOVE can fill them.  When only warm frames are left, their
 * memory is released first.  Return: number taken (0: pool exhausted).
 */
uint32_t pool_alloc_run(struct uswap_ctx *ctx, uint32_t want, uint32_t *first)
{
	struct page_pool *pool = &ctx->pool;
	uint32_t n;

	pthread_mutex_lock(&pool->lock);
	n = alloc_empty_locked(pool, want, first);
	bool drain = !n && pool->nr_warm;
	pthread_mutex_unlock(&pool->lock);
	if (drain) {
		pool_drain_warm(ctx);
		pthread_mutex_lock(&pool->lock);
		n = alloc_empty_locked(pool, want, first);
		pthread_mutex_unlock(&pool->lock);
	}
	return n;
}

/*
 * pool_alloc_warm_run - take up to @want contiguous warm frames: free frames
 * that still hold a page, so that writing to them costs no page fault and
 * moving them into the program costs no allocation or copy.
 * Return: number taken (0: none warm).
 */
uint32_t pool_alloc_warm_run(struct page_pool *pool, uint32_t want, uint32_t *first)
{
	uint32_t start, n = 0;

	pthread_mutex_lock(&pool->lock);
	if (!pool->nr_warm)
		goto out;
	start = find_bit(pool, pool->warm_bitmap, true, pool->warm_hint);
	if (start >= pool->nr)
		goto out;
	n = take_run(pool, pool->warm_bitmap, true, start, want);
	pool->nr_warm -= n;
	pool->warm_hint = start + n;
	*first = start;
out:
	pthread_mutex_unlock(&pool->lock);
	return n;
}

/* Return empty frames (their page was moved away or released) to the allocator. */
void pool_free_frames(struct page_pool *pool, const uint32_t *idx, uint32_t n)
{
	pthread_mutex_lock(&pool->lock);
	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = idx[k];
		pool->frames[i].state = FRAME_FREE;
		pool->frames[i].entry.val = 0;
		pool->used_bitmap[i / 64] &= ~(1ULL << (i % 64));
		if (i < pool->hint)
			pool->hint = i;
	}
	pool->nr_free += n;
	pthread_mutex_unlock(&pool->lock);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

#define WARM_TRIM_BATCH 512

/*
 * Release the memory of frames @idx (owned, ISOLATED, at most WARM_TRIM_BATCH):
 * their runs in one call, so that one TLB shoot-down serves them all (a
 * madvise per run cost one each: with runs of 1 to 3 frames under random
 * access, kswapd spent a quarter of its time sending those IPIs).
 */
static void release_memory(struct uswap_ctx *ctx, uint32_t *idx, uint32_t n)
{
	struct page_pool *pool = &ctx->pool;
	struct iovec runs[WARM_TRIM_BATCH];
	unsigned int nr = 0;

	if (n > 1)
		qsort(idx, n, sizeof(*idx), cmp_u32);
	for (uint32_t k = 0; k < n;) {
		uint32_t run = 1;
		while (k + run < n && idx[k + run] == idx[k] + run)
			run++;
		runs[nr].iov_base = frame_addr(pool, idx[k]);
		runs[nr++].iov_len = (size_t)run << PAGE_SHIFT;
		k += run;
	}
	if (nr)
		ctx->mmu->pool_release(ctx, runs, nr);
	pool_free_frames(pool, idx, n);
}

/* Take up to @max warm frames, lowest first, into @idx (ISOLATED). */
static uint32_t take_warm_locked(struct page_pool *pool, uint32_t *idx, uint32_t max)
{
	uint32_t n = 0, i = pool->warm_hint;

	while (n < max && pool->nr_warm) {
		i = find_bit(pool, pool->warm_bitmap, true, i);
		if (i >= pool->nr)
			break;
		pool->warm_bitmap[i / 64] &= ~(1ULL << (i % 64));
		pool->frames[i].state = FRAME_ISOLATED;
		pool->nr_warm--;
		idx[n++] = i;
	}
	return n;
}

void pool_drain_warm(struct uswap_ctx *ctx)
{
	struct page_pool *pool = &ctx->pool;
	uint32_t idx[WARM_TRIM_BATCH], n;

	do {
		pthread_mutex_lock(&pool->lock);
		n = take_warm_locked(pool, idx, WARM_TRIM_BATCH);
		pthread_mutex_unlock(&pool->lock);
		release_memory(ctx, idx, n);
	} while (n == WARM_TRIM_BATCH);
}

/*
 * pool_release_frames - frames @idx hold pages nobody needs any more: keep
 * them as warm frames (the next swap-ins decompress into them and move them
 * into the program), and when more than warm_max are warm, release the
 * memory of half of them in one batch: one madvise per contiguous run, so
 * the TLB shoot-down that every release costs is paid per run, not per page.
 * Context: the caller owns the frames (ISOLATED, off every list).
 */
void pool_release_frames(struct uswap_ctx *ctx, uint32_t *idx, uint32_t n)
{
	struct page_pool *pool = &ctx->pool;
	uint32_t trim[WARM_TRIM_BATCH], nr_trim = 0;

	pthread_mutex_lock(&pool->lock);
	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = idx[k];
		pool->frames[i].state = FRAME_WARM;
		pool->frames[i].entry.val = 0;
		pool->warm_bitmap[i / 64] |= 1ULL << (i % 64);
		if (i < pool->warm_hint)
			pool->warm_hint = i;
	}
	pool->nr_warm += n;
	if (pool->nr_warm > pool->warm_peak)
		pool->warm_peak = pool->nr_warm;
	if (pool->nr_warm > pool->warm_max)
		nr_trim = take_warm_locked(pool, trim, min_t(pool->nr_warm - pool->warm_max / 2,
							     (uint32_t)WARM_TRIM_BATCH));
	pthread_mutex_unlock(&pool->lock);
	if (nr_trim)
		release_memory(ctx, trim, nr_trim);
}

/*
 * swap_cache_add_locked - frame @f now caches slot @e: append it to the
 * inactive list of @g.  The caller sets the slot word (SLOT_CACHE, f).
 * Context: slot @e locked.
 */
void swap_cache_add_locked(struct uswap_ctx *ctx, struct uswap_group *g, swp_entry_t e, uint32_t f,
			   bool clean, bool readahead)
{
	struct pool_frame *fr = &ctx->pool.frames[f];

	pthread_mutex_lock(&g->lru_lock);
	fr->entry = e;
	fr->group_id = (uint8_t)g->id;
	fr->clean = clean;
	fr->readahead = readahead;
	fr->state = FRAME_CACHE;
	fr->next = FRAME_NIL;
	fr->prev = g->inactive_tail;
	if (g->inactive_tail != FRAME_NIL)
		ctx->pool.frames[g->inactive_tail].next = f;
	else
		g->inactive_head = f;
	g->inactive_tail = f;
	pthread_mutex_unlock(&g->lru_lock);
}

static void inactive_unlink_locked(struct uswap_ctx *ctx, struct uswap_group *g, uint32_t f)
{
	struct pool_frame *fr = &ctx->pool.frames[f];

	if (fr->prev != FRAME_NIL)
		ctx->pool.frames[fr->prev].next = fr->next;
	else
		g->inactive_head = fr->next;
	if (fr->next != FRAME_NIL)
		ctx->pool.frames[fr->next].prev = fr->prev;
	else
		g->inactive_tail = fr->prev;
	fr->prev = fr->next = FRAME_NIL;
	fr->state = FRAME_ISOLATED;
}

/*
 * swap_cache_del_locked - take frame @f out of the swap cache: the caller
 * owns it now (maps it, frees it).  The caller updates the slot word.
 * Context: the slot that points at @f is locked, so writeback (which
 * try-locks that slot) cannot hold the frame.
 */
void swap_cache_del_locked(struct uswap_ctx *ctx, struct uswap_group *g, uint32_t f)
{
	pthread_mutex_lock(&g->lru_lock);
	if (ctx->pool.frames[f].state == FRAME_CACHE)
		inactive_unlink_locked(ctx, g, f);
	pthread_mutex_unlock(&g->lru_lock);
}

/*
 * swap_cache_isolate_oldest - take the oldest frame of @g's inactive list
 * whose slot can be locked.  Frames whose slot is busy (a fault is mapping
 * them) are rotated to the tail.
 * Return: true with *f, *e set and slot *e locked (word in *t).
 */
/*
 * swap_cache_isolate_slot - take slot @e's swap-cache frame off @g's inactive
 * list, the slot left locked.  Return: false (slot unlocked) if @e is not in
 * the swap cache.
 */
bool swap_cache_isolate_slot(struct uswap_ctx *ctx, struct uswap_group *g, swp_entry_t e,
			     uint32_t *f, swp_tb_t *t)
{
	if (!swap_slot_trylock(ctx, e, t))
		return false;
	if (swp_tb_kind(*t) != SLOT_CACHE) {
		swap_slot_unlock(ctx, e, *t);
		return false;
	}
	*f = (uint32_t)swp_tb_payload(*t);
	pthread_mutex_lock(&g->lru_lock);
	bool on_list = ctx->pool.frames[*f].state == FRAME_CACHE;
	if (on_list)
		inactive_unlink_locked(ctx, g, *f);
	pthread_mutex_unlock(&g->lru_lock);
	if (!on_list) /* another reclaimer holds it */
		swap_slot_unlock(ctx, e, *t);
	return on_list;
}

bool swap_cache_isolate_oldest(struct uswap_ctx *ctx, struct uswap_group *g, uint32_t *f,
			       swp_entry_t *e, swp_tb_t *t)
{
	bool found = false;
	unsigned int tries = 0;

	pthread_mutex_lock(&g->lru_lock);
	while (g->inactive_head != FRAME_NIL && tries++ < 8) {
		uint32_t cur = g->inactive_head;
		struct pool_frame *fr = &ctx->pool.frames[cur];
		/*
		 * Try-lock against the documented order (slot, then lru): safe
		 * because we never wait.  While the frame is on the list its
		 * slot holds a reference, so the slot's table is alive.
		 */
		swp_entry_t ent = fr->entry;
		if (swap_slot_trylock(ctx, ent, t)) {
			/* The slot must still be this frame's: swapoff may have moved
			 * the frame to another slot since we read its entry, and the
			 * old slot may be free by now. */
			if (swp_tb_kind(*t) != SLOT_CACHE || swp_tb_payload(*t) != cur ||
			    fr->entry.val != ent.val) {
				swap_slot_unlock(ctx, ent, *t);
				break;
			}
			inactive_unlink_locked(ctx, g, cur);
			*f = cur;
			*e = ent;
			found = true;
			break;
		}
		if (fr->next == FRAME_NIL)
			break;
		inactive_unlink_locked(ctx, g, cur);
		/* re-append at the tail */
		fr->state = FRAME_CACHE;
		fr->prev = g->inactive_tail;
		ctx->pool.frames[g->inactive_tail].next = cur;
		g->inactive_tail = cur;
	}
	pthread_mutex_unlock(&g->lru_lock);
	return found;
}

/*
 * VMA-based readahead for synchronous devices.
 *
 * kernel: swap_vma_readahead / swapin_nr_pages.  The kernel reads nothing
 * ahead from zram (SWP_SYNCHRONOUS_IO): every page costs a fault.  uswap pays
 * a userfaultfd round trip per fault, so it reads ahead and maps the window
 * together with the faulting page in one UFFDIO_COPY (memory.c).
 *
 * Without accessed bits, a mapped read-ahead page cannot tell us it was used.
 * What can be seen is the stream: if the next fault of a stream lands right
 * after its last window, the program walked over every page of that window
 * (swap_ra_hit += window) and the window doubles, up to RA_MAX; a stream
 * that stops continuing is replaced and its window counts as missed.  A
 * stream starts reading ahead at its second sequential fault.
 */
/*
 * ra_trend - the trend of the last faults of @r that no stream explained
 * (Leap's majority vote): the delta between consecutive faults that more
 * than half of them share.  A stride the vote finds starts a stream that
 * reads ahead idx + k * stride: a backward scan (-1), a column walk, every
 * n-th record.  Uniform random faults have no majority: no read-ahead.
 * Return: the stride, or 0 (no trend, or plain sequential: streams see it).
 */
static int32_t ra_trend(struct region *r, size_t idx)
{
	uint32_t pos = atomic_fetch_add_explicit(&r->ra_hist_pos, 1, memory_order_relaxed);
	int64_t cand = 0, d[RA_HIST - 1];
	unsigned int votes = 0, count = 0;

	atomic_store_explicit(&r->ra_hist[pos % RA_HIST], idx + 1, memory_order_relaxed);
	if (pos + 1 < RA_HIST)
		return 0;
	/* deltas between consecutive entries, oldest first; 0 = empty slot */
	for (unsigned int k = 0; k < RA_HIST - 1; k++) {
		size_t a = atomic_load_explicit(&r->ra_hist[(pos + 1 + k) % RA_HIST], memory_order_relaxed);
		size_t b = atomic_load_explicit(&r->ra_hist[(pos + 2 + k) % RA_HIST], memory_order_relaxed);
		d[k] = a && b ? (int64_t)b - (int64_t)a : 0;
	}
	for (unsigned int k = 0; k < RA_HIST - 1; k++) { /* Boyer-Moore majority */
		if (!votes)
			cand = d[k];
		votes += d[k] == cand ? 1 : -1u;
	}
	for (unsigned int k = 0; k < RA_HIST - 1; k++)
		count += d[k] == cand;
	if (2 * count <= RA_HIST - 1 || cand == 0 || cand == 1 || cand > RA_MAX_STRIDE ||
	    cand < -RA_MAX_STRIDE)
		return 0;
	return (int32_t)cand;
}

unsigned int swap_ra_window(struct uswap_ctx *ctx, struct region *r, size_t idx, int *streamp,
			    int32_t *stridep)
{
	for (int i = 0; i < RA_STREAMS; i++) {
		struct ra_stream *st = &r->ra[i];
		if (atomic_load_explicit(&st->next, memory_order_relaxed) != idx)
			continue;
		uint32_t last = atomic_load_explicit(&st->last_n, memory_order_relaxed);
		uint32_t win = atomic_load_explicit(&st->win, memory_order_relaxed);
		if (last)
			count_event(ctx, r->group, swap_ra_hit, last);
		win = win ? min_t(win * 2, (uint32_t)RA_MAX) : 4;
		atomic_store_explicit(&st->win, win, memory_order_relaxed);
		*streamp = i;
		*stridep = atomic_load_explicit(&st->stride, memory_order_relaxed);
		return win;
	}
	/* A new stream replaces the oldest one: sequential, or the trend's stride. */
	int32_t stride = ra_trend(r, idx);
	int v = (int)(atomic_fetch_add_explicit(&r->ra_victim, 1, memory_order_relaxed) % RA_STREAMS);
	atomic_store_explicit(&r->ra[v].win, 0, memory_order_relaxed);
	atomic_store_explicit(&r->ra[v].last_n, 0, memory_order_relaxed);
	atomic_store_explicit(&r->ra[v].stride, stride ? stride : 1, memory_order_relaxed);
	*streamp = v;
	*stridep = stride ? stride : 1;
	if (stride) {
		/* The trend is established: read ahead from this fault on. */
		count_event(ctx, r->group, swap_ra_stride, 1);
		atomic_store_explicit(&r->ra[v].win, 4, memory_order_relaxed);
		return 4;
	}
	return 0;
}

/* The fault at @idx of @stream read @nr_read pages ahead: expect the next fault after them. */
void swap_ra_record(struct region *r, int stream, size_t idx, unsigned int nr_read)
{
	struct ra_stream *st = &r->ra[stream];
	int64_t stride = atomic_load_explicit(&st->stride, memory_order_relaxed);
	atomic_store_explicit(&st->last_n, nr_read, memory_order_relaxed);
	atomic_store_explicit(&st->next, (size_t)((int64_t)idx + (1 + (int64_t)nr_read) * stride),
			      memory_order_relaxed);
}
