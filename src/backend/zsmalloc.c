/* SPDX-License-Identifier: MIT */
/*
 * zsmalloc.c - size-class allocator for compressed pages.
 *
 * kernel: mm/zsmalloc.c plays this role; this is an independent design,
 * described in zsmalloc.h (classes, spans, handles, compaction, lock-free
 * reads, lock order).
 */
#include "backend/backend.h"
#include "backend/zsmalloc.h"
#include "sys.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ZS_PAGE 4096u
#define ZS_CHUNK_SHIFT 24u
#define ZS_CHUNK_BYTES (1u << ZS_CHUNK_SHIFT) /* 16 MiB of address space per chunk */
#define ZS_CHUNK_PAGES (ZS_CHUNK_BYTES / ZS_PAGE)
#define ZS_MAX_CHUNKS (1u << (ZS_HANDLE_BITS - ZS_CHUNK_SHIFT))
#define ZS_OFF_MASK ((UINT64_C(1) << ZS_CHUNK_SHIFT) - 1)
#define ZS_NR_SIZES ((ZS_MAX_SIZE + ZS_HDR_BYTES) / ZS_ALIGN)
/*
 * Fullness groups: 0..ZS_NR_GROUPS-2 are partial spans by eighths of
 * occupancy, the last one is full spans.  Allocation takes from the fullest
 * partial group (keeps sparse spans sparse, so they drain and get released);
 * compaction empties spans of the lowest group into the highest.
 */
#define ZS_NR_GROUPS 9u
#define ZS_GROUP_FULL (ZS_NR_GROUPS - 1)

/* Object header, see zsmalloc.h. */
#define HDR_ALLOCATED UINT64_C(1)
#define HDR_SIZE_SHIFT 1u
#define HDR_SIZE_MASK UINT64_C(0x1fff)
#define HDR_OWNER_SHIFT 14u
#define HDR_NEXT_SHIFT 1u

_Static_assert((ZS_MAX_SIZE + ZS_HDR_BYTES) % ZS_ALIGN == 0, "largest object must be a size");
_Static_assert(ZS_MAX_SIZE <= HDR_SIZE_MASK, "size field too small");
_Static_assert(HDR_OWNER_SHIFT + ZS_OWNER_BITS == 64, "header layout");
_Static_assert(ZS_MAX_SPAN_PAGES * ZS_PAGE <= ZS_CHUNK_BYTES, "span larger than a chunk");
_Static_assert(ZS_NR_SIZES <= UINT16_MAX, "class index is 16 bits");

#define ZS_BUG_ON(cond)                                                                            \
	do {                                                                                       \
		if (cond) {                                                                        \
			fprintf(stderr, "zsmalloc: BUG at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

struct zs_chunk;

/* A span: span_pages contiguous pages holding objs_per_span objects of one class. */
struct zs_span {
	struct zs_span *prev, *next; /* in the class's fullness group list; class lock */
	struct zs_chunk *chunk;
	char *base;
	uint32_t slot;        /* span slot index in the chunk */
	uint16_t class_index; /* fixed while the span lives */
	uint16_t group;       /* fullness group it is listed in; class lock */
	uint32_t inuse;       /* allocated objects; class lock */
	uint32_t free_head;   /* index + 1 of the first free object, 0 = none; class lock */
};

/* 16 MiB of reserved address space cut into span slots of one page count. */
struct zs_chunk {
	char *base;
	uint32_t no;         /* index in pool->chunks, >= 1 */
	uint32_t span_pages;
	uint32_t span_bytes;
	uint32_t nr_slots;
	uint32_t nr_carved;  /* slots handed out at least once; span_lock */
	struct zs_span **spans; /* per slot, NULL when free; written under span_lock */
	_Atomic uint32_t *seq;  /* per slot: bumped when an object moves out (readers) */
};

struct zs_class {
	pthread_mutex_t lock; /* protects everything below and every span of the class */
	uint32_t obj_bytes;   /* header + payload capacity */
	uint32_t span_pages;
	uint32_t objs_per_span;
	uint64_t nr_spans;
	uint64_t nr_inuse;
	struct zs_span *groups[ZS_NR_GROUPS];
} __attribute__((aligned(64)));

/* Span slots of one page count: the chunk being carved, and released slots. */
struct zs_span_cache {
	struct zs_chunk *cur;
	uint64_t *free; /* (chunk no << 32) | slot */
	size_t nr_free, cap;
};

struct zs_pool {
	zs_move_fn move;
	void *move_ctx;
	_Atomic(struct zs_chunk *) *chunks; /* ZS_MAX_CHUNKS entries, mmap'd, append-only */
	pthread_mutex_t span_lock;          /* chunks growth, chunk->spans[], cache[] */
	pthread_mutex_t compact_lock;       /* serialises zs_compact / zs_check_invariants */
	uint32_t nr_chunks;                 /* span_lock */
	uint64_t leaked_slots;              /* span slots lost to a failed free-stack growth */
	struct zs_span_cache cache[ZS_MAX_SPAN_PAGES + 1];

	_Atomic uint64_t backing_bytes, payload_bytes, obj_bytes, meta_bytes;
	_Atomic uint64_t nr_objs, nr_spans, pages_compacted;

	uint16_t size_class[ZS_NR_SIZES]; /* (header + size) / ZS_ALIGN - 1 -> class */
	uint32_t nr_classes;
	struct zs_class *classes;
};

/* ---- geometry ---- */

/*
 * Pages per span for objects of @size bytes: the smallest count whose tail
 * waste is <= 1/64 of the span, else the count with the least waste.  1/64
 * keeps the tail share well under the 10% overhead budget while preferring
 * short spans (a short span drains, and can be released, sooner).
 */
static void pick_span(uint32_t size, uint32_t *pages, uint32_t *objs)
{
	uint64_t best_waste = 0, best_cap = 0;
	uint32_t best = 0;

	for (uint32_t p = 1; p <= ZS_MAX_SPAN_PAGES; p++) {
		uint64_t cap = (uint64_t)p * ZS_PAGE;
		uint64_t n = cap / size;
		uint64_t waste;

		if (n == 0)
			continue;
		waste = cap - n * size;
		if (waste * 64 <= cap) {
			best = p;
			break;
		}
		if (!best || waste * best_cap < best_waste * cap) {
			best = p;
			best_waste = waste;
			best_cap = cap;
		}
	}
	*pages = best;
	*objs = (uint32_t)((uint64_t)best * ZS_PAGE / size);
}

static unsigned int size_index(size_t size)
{
	return (unsigned int)((size + ZS_HDR_BYTES + ZS_ALIGN - 1) / ZS_ALIGN - 1);
}

static unsigned int span_group(const struct zs_class *cls, uint32_t inuse)
{
	if (inuse >= cls->objs_per_span)
		return ZS_GROUP_FULL;
	return (unsigned int)((uint64_t)inuse * (ZS_NR_GROUPS - 1) / cls->objs_per_span);
}

/* ---- handles and headers ---- */

static char *obj_addr(const struct zs_class *cls, const struct zs_span *sp, uint32_t idx)
{
	return sp->base + (size_t)idx * cls->obj_bytes;
}

/*
 * Span memory may be read concurrently by lock-free readers holding a stale
 * handle (they discard what they read, see zsmalloc.h).  Headers are
 * accessed as relaxed atomics (a plain 8-byte move on our targets) so that
 * this is not a data race; payload copies go through span_copy_in/out,
 * which do the same word by word under ThreadSanitizer and are plain
 * memcpy otherwise.
 */
static uint64_t hdr_get(const struct zs_class *cls, const struct zs_span *sp, uint32_t idx)
{
	return atomic_load_explicit((_Atomic uint64_t *)(void *)obj_addr(cls, sp, idx),
				    memory_order_relaxed);
}

static void hdr_set(const struct zs_class *cls, const struct zs_span *sp, uint32_t idx,
		    uint64_t v)
{
	atomic_store_explicit((_Atomic uint64_t *)(void *)obj_addr(cls, sp, idx), v,
			      memory_order_relaxed);
}

#if defined(__SANITIZE_THREAD__)
#define ZS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ZS_TSAN 1
#endif
#endif

/* Copy into span memory (@dst is 8-byte aligned).  Context: class lock held. */
static void span_copy_in(char *dst, const void *src, size_t n)
{
#ifdef ZS_TSAN
	const unsigned char *s = src;

	for (; n >= 8; n -= 8, dst += 8, s += 8) {
		uint64_t w;

		memcpy(&w, s, 8);
		atomic_store_explicit((_Atomic uint64_t *)(void *)dst, w, memory_order_relaxed);
	}
	for (; n; n--, dst++, s++)
		atomic_store_explicit((_Atomic unsigned char *)dst, *s, memory_order_relaxed);
#else
	memcpy(dst, src, n);
#endif
}

/* Copy out of span memory (@src is 8-byte aligned); may race with writers. */
static void span_copy_out(void *dst, const char *src, size_t n)
{
#ifdef ZS_TSAN
	unsigned char *d = dst;

	for (; n >= 8; n -= 8, d += 8, src += 8) {
		uint64_t w = atomic_load_explicit((_Atomic uint64_t *)(void *)src,
						  memory_order_relaxed);

		memcpy(d, &w, 8);
	}
	for (; n; n--, d++, src++)
		*d = atomic_load_explicit((_Atomic unsigned char *)src, memory_order_relaxed);
#else
	memcpy(dst, src, n);
#endif
}

static zs_handle_t obj_handle(const struct zs_class *cls, const struct zs_span *sp, uint32_t idx)
{
	uint64_t off = (uint64_t)sp->slot * sp->chunk->span_bytes + (uint64_t)idx * cls->obj_bytes;

	return ((uint64_t)sp->chunk->no << ZS_CHUNK_SHIFT) | off;
}

static uint64_t hdr_make(uint64_t owner, size_t size)
{
	return (owner << HDR_OWNER_SHIFT) | ((uint64_t)size << HDR_SIZE_SHIFT) | HDR_ALLOCATED;
}

static size_t hdr_size(uint64_t hdr)
{
	return (size_t)((hdr >> HDR_SIZE_SHIFT) & HDR_SIZE_MASK);
}

static uint64_t hdr_owner(uint64_t hdr)
{
	return hdr >> HDR_OWNER_SHIFT;
}

/* Chunk of a handle, or NULL if the handle cannot be one of ours.  Lock-free. */
static struct zs_chunk *handle_chunk(const struct zs_pool *pool, zs_handle_t h)
{
	uint64_t no = h >> ZS_CHUNK_SHIFT;

	if (no == 0 || no >= ZS_MAX_CHUNKS)
		return NULL;
	return atomic_load_explicit(&pool->chunks[no], memory_order_acquire);
}

/* ---- span lists ---- */

static void group_add(struct zs_class *cls, struct zs_span *sp, unsigned int g)
{
	sp->group = (uint16_t)g;
	sp->prev = NULL;
	sp->next = cls->groups[g];
	if (sp->next)
		sp->next->prev = sp;
	cls->groups[g] = sp;
}

static void group_del(struct zs_class *cls, struct zs_span *sp)
{
	if (sp->prev)
		sp->prev->next = sp->next;
	else
		cls->groups[sp->group] = sp->next;
	if (sp->next)
		sp->next->prev = sp->prev;
	sp->prev = sp->next = NULL;
}

static void span_regroup(struct zs_class *cls, struct zs_span *sp)
{
	unsigned int g = span_group(cls, sp->inuse);

	if (g != sp->group) {
		group_del(cls, sp);
		group_add(cls, sp, g);
	}
}

/* ---- chunks and spans ---- */

/* Context: span_lock held.  Return: a new chunk for @pages-page spans, or NULL. */
static struct zs_chunk *chunk_create_locked(struct zs_pool *pool, uint32_t pages)
{
	uint32_t nr = ZS_CHUNK_PAGES / pages;
	size_t bytes = sizeof(struct zs_chunk) + nr * sizeof(struct zs_span *) +
		       nr * sizeof(_Atomic uint32_t);
	size_t table_before, table_after;
	struct zs_chunk *c;
	void *base;

	if (pool->nr_chunks + 1 >= ZS_MAX_CHUNKS)
		return NULL;
	c = calloc(1, bytes);
	if (!c)
		return NULL;
	base = sys_mmap(NULL, ZS_CHUNK_BYTES, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) {
		free(c);
		return NULL;
	}
	c->base = base;
	c->span_pages = pages;
	c->span_bytes = pages * ZS_PAGE;
	c->nr_slots = nr;
	c->spans = (struct zs_span **)(void *)(c + 1);
	c->seq = (_Atomic uint32_t *)(void *)(c->spans + nr);
	for (uint32_t i = 0; i < nr; i++)
		atomic_init(&c->seq[i], 0);

	/* The chunk table is committed page by page as it fills: count those pages. */
	table_before = ((size_t)(pool->nr_chunks + 1) * sizeof(void *) + ZS_PAGE - 1) / ZS_PAGE;
	c->no = ++pool->nr_chunks;
	table_after = ((size_t)(pool->nr_chunks + 1) * sizeof(void *) + ZS_PAGE - 1) / ZS_PAGE;
	atomic_fetch_add_explicit(&pool->meta_bytes,
				  bytes + (table_after - table_before) * ZS_PAGE,
				  memory_order_relaxed);
	/* Published last: a reader that finds the chunk sees it initialised. */
	atomic_store_explicit(&pool->chunks[c->no], c, memory_order_release);
	return c;
}

/*
 * span_create - make an empty span for @cls and list it in group 0.
 * Context: class lock held; takes span_lock.  Return: the span or NULL.
 */
static struct zs_span *span_create(struct zs_pool *pool, struct zs_class *cls)
{
	struct zs_span_cache *cache = &pool->cache[cls->span_pages];
	struct zs_chunk *chunk;
	struct zs_span *sp;
	uint32_t slot;

	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return NULL;

	pthread_mutex_lock(&pool->span_lock);
	if (cache->nr_free) {
		uint64_t e = cache->free[--cache->nr_free];

		chunk = atomic_load_explicit(&pool->chunks[e >> 32], memory_order_relaxed);
		slot = (uint32_t)e;
	} else {
		if (!cache->cur || cache->cur->nr_carved == cache->cur->nr_slots)
			cache->cur = chunk_create_locked(pool, cls->span_pages);
		if (!cache->cur) {
			pthread_mutex_unlock(&pool->span_lock);
			free(sp);
			return NULL;
		}
		chunk = cache->cur;
		slot = chunk->nr_carved++;
	}
	chunk->spans[slot] = sp;
	pthread_mutex_unlock(&pool->span_lock);

	sp->chunk = chunk;
	sp->base = chunk->base + (size_t)slot * chunk->span_bytes;
	sp->slot = slot;
	sp->class_index = (uint16_t)(cls - pool->classes);
	/* Memory is zero (fresh or MADV_DONTNEED): thread the free list. */
	for (uint32_t i = 0; i < cls->objs_per_span; i++) {
		uint64_t next = i + 1 < cls->objs_per_span ? i + 2 : 0;

		hdr_set(cls, sp, i, next << HDR_NEXT_SHIFT);
	}
	sp->free_head = 1;
	group_add(cls, sp, 0);
	cls->nr_spans++;
	atomic_fetch_add_explicit(&pool->backing_bytes, chunk->span_bytes, memory_order_relaxed);
	atomic_fetch_add_explicit(&pool->nr_spans, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&pool->meta_bytes, sizeof(*sp), memory_order_relaxed);
	return sp;
}

/*
 * span_release - give an empty, unlisted span's memory back to the OS and its
 * slot to the cache.  Context: class lock held; takes span_lock.
 */
static void span_release(struct zs_pool *pool, struct zs_class *cls, struct zs_span *sp)
{
	struct zs_chunk *chunk = sp->chunk;
	struct zs_span_cache *cache = &pool->cache[chunk->span_pages];

	/*
	 * Before the slot becomes reusable: after it, a new span could be
	 * written here and we would zap its objects.  Lock-free readers that
	 * still look here read zeros and retry.
	 */
	sys_madvise(sp->base, chunk->span_bytes, MADV_DONTNEED);

	pthread_mutex_lock(&pool->span_lock);
	chunk->spans[sp->slot] = NULL;
	if (cache->nr_free == cache->cap) {
		size_t cap = cache->cap ? cache->cap * 2 : 64;
		uint64_t *f = realloc(cache->free, cap * sizeof(*f));

		if (f) {
			atomic_fetch_add_explicit(&pool->meta_bytes,
						  (cap - cache->cap) * sizeof(*f),
						  memory_order_relaxed);
			cache->free = f;
			cache->cap = cap;
		}
	}
	if (cache->nr_free < cache->cap)
		cache->free[cache->nr_free++] = ((uint64_t)chunk->no << 32) | sp->slot;
	else
		pool->leaked_slots++; /* address space only: the pages are gone already */
	pthread_mutex_unlock(&pool->span_lock);

	cls->nr_spans--;
	atomic_fetch_sub_explicit(&pool->backing_bytes, chunk->span_bytes, memory_order_relaxed);
	atomic_fetch_sub_explicit(&pool->nr_spans, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&pool->meta_bytes, sizeof(*sp), memory_order_relaxed);
	free(sp);
}

/* ---- objects ---- */

/* Take a free object of @sp and tag it.  Context: class lock held, sp not full. */
static uint32_t obj_alloc_locked(struct zs_pool *pool, struct zs_class *cls, struct zs_span *sp,
				 uint64_t hdr)
{
	uint64_t old;
	uint32_t idx;

	ZS_BUG_ON(sp->free_head == 0 || sp->free_head > cls->objs_per_span);
	idx = sp->free_head - 1;
	old = hdr_get(cls, sp, idx);
	ZS_BUG_ON(old & HDR_ALLOCATED);
	sp->free_head = (uint32_t)(old >> HDR_NEXT_SHIFT);
	hdr_set(cls, sp, idx, hdr);
	sp->inuse++;
	cls->nr_inuse++;
	span_regroup(cls, sp);
	atomic_fetch_add_explicit(&pool->nr_objs, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&pool->payload_bytes, hdr_size(hdr), memory_order_relaxed);
	atomic_fetch_add_explicit(&pool->obj_bytes, cls->obj_bytes, memory_order_relaxed);
	return idx;
}

/*
 * Free object @idx of @sp; release the span if it became empty.
 * Context: class lock held.  Return: true if @sp was released (gone).
 */
static bool obj_free_locked(struct zs_pool *pool, struct zs_class *cls, struct zs_span *sp,
			    uint32_t idx)
{
	uint64_t hdr = hdr_get(cls, sp, idx);

	/* A double free would thread a live object into the free list. */
	ZS_BUG_ON(!(hdr & HDR_ALLOCATED));
	hdr_set(cls, sp, idx, (uint64_t)sp->free_head << HDR_NEXT_SHIFT);
	sp->free_head = idx + 1;
	sp->inuse--;
	cls->nr_inuse--;
	atomic_fetch_sub_explicit(&pool->nr_objs, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&pool->payload_bytes, hdr_size(hdr), memory_order_relaxed);
	atomic_fetch_sub_explicit(&pool->obj_bytes, cls->obj_bytes, memory_order_relaxed);
	if (sp->inuse == 0) {
		group_del(cls, sp);
		span_release(pool, cls, sp);
		return true;
	}
	span_regroup(cls, sp);
	return false;
}

/*
 * Find span and object index of @h.  The span pointer is read without
 * span_lock: the caller owns a live object in it, so the slot cannot change.
 */
static struct zs_span *handle_span(const struct zs_pool *pool, zs_handle_t h, uint32_t *idx)
{
	struct zs_chunk *chunk = handle_chunk(pool, h);
	const struct zs_class *cls;
	struct zs_span *sp;
	uint64_t off = h & ZS_OFF_MASK;
	uint64_t in_span;
	uint32_t slot;

	if (!chunk)
		return NULL;
	slot = (uint32_t)(off / chunk->span_bytes);
	if (slot >= chunk->nr_slots)
		return NULL;
	sp = chunk->spans[slot];
	if (!sp)
		return NULL;
	cls = &pool->classes[sp->class_index];
	in_span = off - (uint64_t)slot * chunk->span_bytes;
	if (in_span % cls->obj_bytes || in_span / cls->obj_bytes >= cls->objs_per_span)
		return NULL;
	*idx = (uint32_t)(in_span / cls->obj_bytes);
	return sp;
}

/* ---- public API ---- */

int zs_pool_create(struct zs_pool **poolp, zs_move_fn move, void *move_ctx)
{
	struct {
		uint32_t obj_bytes, span_pages, objs_per_span;
	} tmp[ZS_NR_SIZES];
	struct zs_pool *pool;
	uint32_t nr = 0;

	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return -ENOMEM;
	pool->move = move;
	pool->move_ctx = move_ctx;

	/* Largest size first, so a run of sizes with equal geometry merges upward. */
	for (int i = (int)ZS_NR_SIZES - 1; i >= 0; i--) {
		uint32_t size = (uint32_t)(i + 1) * ZS_ALIGN, pages, objs;

		pick_span(size, &pages, &objs);
		if (nr && tmp[nr - 1].span_pages == pages && tmp[nr - 1].objs_per_span == objs) {
			pool->size_class[i] = (uint16_t)(nr - 1);
			continue;
		}
		tmp[nr].obj_bytes = size;
		tmp[nr].span_pages = pages;
		tmp[nr].objs_per_span = objs;
		pool->size_class[i] = (uint16_t)nr;
		nr++;
	}
	pool->nr_classes = nr;
	pool->classes = aligned_alloc(64, nr * sizeof(struct zs_class));
	if (!pool->classes)
		goto out_free_pool;
	memset(pool->classes, 0, nr * sizeof(struct zs_class));
	for (uint32_t c = 0; c < nr; c++) {
		pool->classes[c].obj_bytes = tmp[c].obj_bytes;
		pool->classes[c].span_pages = tmp[c].span_pages;
		pool->classes[c].objs_per_span = tmp[c].objs_per_span;
		pthread_mutex_init(&pool->classes[c].lock, NULL);
	}

	pool->chunks = sys_mmap(NULL, ZS_MAX_CHUNKS * sizeof(*pool->chunks), PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (pool->chunks == MAP_FAILED)
		goto out_free_classes;
	pthread_mutex_init(&pool->span_lock, NULL);
	pthread_mutex_init(&pool->compact_lock, NULL);
	atomic_init(&pool->meta_bytes, sizeof(*pool) + nr * sizeof(struct zs_class) + ZS_PAGE);
	*poolp = pool;
	return 0;

out_free_classes:
	for (uint32_t c = 0; c < nr; c++)
		pthread_mutex_destroy(&pool->classes[c].lock);
	free(pool->classes);
out_free_pool:
	free(pool);
	return -ENOMEM;
}

void zs_pool_destroy(struct zs_pool *pool)
{
	if (!pool)
		return;
	for (uint32_t no = 1; no <= pool->nr_chunks; no++) {
		struct zs_chunk *c = atomic_load_explicit(&pool->chunks[no], memory_order_relaxed);

		for (uint32_t s = 0; s < c->nr_carved; s++)
			free(c->spans[s]);
		sys_munmap(c->base, ZS_CHUNK_BYTES);
		free(c);
	}
	for (uint32_t p = 0; p <= ZS_MAX_SPAN_PAGES; p++)
		free(pool->cache[p].free);
	sys_munmap(pool->chunks, ZS_MAX_CHUNKS * sizeof(*pool->chunks));
	for (uint32_t c = 0; c < pool->nr_classes; c++)
		pthread_mutex_destroy(&pool->classes[c].lock);
	pthread_mutex_destroy(&pool->span_lock);
	pthread_mutex_destroy(&pool->compact_lock);
	free(pool->classes);
	free(pool);
}

int zs_alloc(struct zs_pool *pool, uint64_t owner, const struct iovec *iov, int iovcnt,
	     zs_handle_t *handle)
{
	struct zs_class *cls;
	struct zs_span *sp = NULL;
	size_t size = 0;
	uint32_t idx;
	char *dst;

	for (int i = 0; i < iovcnt; i++)
		size += iov[i].iov_len;
	if (size == 0 || size > ZS_MAX_SIZE || owner > ZS_OWNER_MAX)
		return -EINVAL;
	cls = &pool->classes[pool->size_class[size_index(size)]];

	pthread_mutex_lock(&cls->lock);
	for (int g = (int)ZS_GROUP_FULL - 1; g >= 0 && !sp; g--)
		sp = cls->groups[g];
	if (!sp) {
		sp = span_create(pool, cls);
		if (!sp) {
			pthread_mutex_unlock(&cls->lock);
			return -ENOMEM;
		}
	}
	idx = obj_alloc_locked(pool, cls, sp, hdr_make(owner, size));
	dst = obj_addr(cls, sp, idx) + ZS_HDR_BYTES;
	for (int i = 0; i < iovcnt; i++) {
		span_copy_in(dst, iov[i].iov_base, iov[i].iov_len);
		dst += iov[i].iov_len;
	}
	*handle = obj_handle(cls, sp, idx);
	pthread_mutex_unlock(&cls->lock);
	return 0;
}

void zs_free(struct zs_pool *pool, zs_handle_t handle)
{
	struct zs_class *cls;
	struct zs_span *sp;
	uint32_t idx;

	sp = handle_span(pool, handle, &idx);
	ZS_BUG_ON(!sp);
	cls = &pool->classes[sp->class_index];
	pthread_mutex_lock(&cls->lock);
	obj_free_locked(pool, cls, sp, idx);
	pthread_mutex_unlock(&cls->lock);
}

uint32_t zs_read_begin(const struct zs_pool *pool, zs_handle_t handle)
{
	struct zs_chunk *c = handle_chunk(pool, handle);
	uint32_t slot = (uint32_t)((handle & ZS_OFF_MASK) / c->span_bytes);

	return atomic_load_explicit(&c->seq[slot], memory_order_acquire);
}

const void *zs_obj_payload(const struct zs_pool *pool, zs_handle_t handle)
{
	struct zs_chunk *c = handle_chunk(pool, handle);

	return c->base + (handle & ZS_OFF_MASK) + ZS_HDR_BYTES;
}

void zs_read_copy(const struct zs_pool *pool, zs_handle_t handle, size_t off, void *dst, size_t len)
{
	struct zs_chunk *c = handle_chunk(pool, handle);

	span_copy_out(dst, c->base + (handle & ZS_OFF_MASK) + ZS_HDR_BYTES + off, len);
}

bool zs_read_retry(const struct zs_pool *pool, zs_handle_t handle, uint32_t seq)
{
	struct zs_chunk *c = handle_chunk(pool, handle);
	uint32_t slot = (uint32_t)((handle & ZS_OFF_MASK) / c->span_bytes);

	/* Order the caller's copy before the re-check (seqlock read side). */
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(&c->seq[slot], memory_order_relaxed) != seq;
}

int zs_obj_info(struct zs_pool *pool, zs_handle_t handle, uint64_t *owner, size_t *size)
{
	struct zs_chunk *chunk = handle_chunk(pool, handle);
	struct zs_class *cls;
	struct zs_span *sp;
	uint32_t idx, slot;
	uint64_t hdr;
	int ret = -ENOENT;

	if (!chunk)
		return -ENOENT;
	/* The handle may be anything: look the span up under span_lock. */
	slot = (uint32_t)((handle & ZS_OFF_MASK) / chunk->span_bytes);
	if (slot >= chunk->nr_slots)
		return -ENOENT;
	pthread_mutex_lock(&pool->span_lock);
	sp = chunk->spans[slot];
	cls = sp ? &pool->classes[sp->class_index] : NULL;
	pthread_mutex_unlock(&pool->span_lock);
	if (!sp)
		return -ENOENT;

	pthread_mutex_lock(&cls->lock);
	/* Re-check: the span may have been released and the slot reused meanwhile. */
	pthread_mutex_lock(&pool->span_lock);
	if (chunk->spans[slot] != sp || sp->class_index != (uint16_t)(cls - pool->classes)) {
		pthread_mutex_unlock(&pool->span_lock);
		goto out_unlock;
	}
	pthread_mutex_unlock(&pool->span_lock);
	if (!handle_span(pool, handle, &idx))
		goto out_unlock;
	hdr = hdr_get(cls, sp, idx);
	if (hdr & HDR_ALLOCATED) {
		*owner = hdr_owner(hdr);
		*size = hdr_size(hdr);
		ret = 0;
	}
out_unlock:
	pthread_mutex_unlock(&cls->lock);
	return ret;
}

/* Fullest partial span other than @exclude, or NULL.  Context: class lock held. */
static struct zs_span *pick_dst(struct zs_class *cls, const struct zs_span *exclude)
{
	for (int g = (int)ZS_GROUP_FULL - 1; g >= 0; g--)
		for (struct zs_span *sp = cls->groups[g]; sp; sp = sp->next)
			if (sp != exclude)
				return sp;
	return NULL;
}

/*
 * Move object @idx of @src into @dst.  Context: class lock held.
 * Return: 1 moved (*released says whether @src is gone), 0 the owner refused.
 */
static int move_one(struct zs_pool *pool, struct zs_class *cls, struct zs_span *src, uint32_t idx,
		    struct zs_span *dst, bool *released)
{
	uint64_t hdr = hdr_get(cls, src, idx);
	zs_handle_t old_h = obj_handle(cls, src, idx), new_h;
	uint32_t didx;

	didx = obj_alloc_locked(pool, cls, dst, hdr);
	/* src cannot change: its owner's free waits for the class lock. */
	span_copy_in(obj_addr(cls, dst, didx) + ZS_HDR_BYTES, obj_addr(cls, src, idx) + ZS_HDR_BYTES,
		     hdr_size(hdr));
	new_h = obj_handle(cls, dst, didx);
	if (!pool->move(pool->move_ctx, hdr_owner(hdr), old_h, new_h)) {
		obj_free_locked(pool, cls, dst, didx); /* dst held other objects: not released */
		return 0;
	}
	/*
	 * The owner now refers to the copy.  Bump the span's sequence before
	 * the old object can be reused, so a lock-free reader that copied
	 * from it (possibly while it was reused) sees the change and retries.
	 */
	atomic_fetch_add_explicit(&src->chunk->seq[src->slot], 1, memory_order_release);
	*released = obj_free_locked(pool, cls, src, idx);
	return 1;
}

/* Context: compact_lock held; takes the class lock.  Return: pages released. */
static long compact_class(struct zs_pool *pool, struct zs_class *cls)
{
	long released_pages = 0;

	pthread_mutex_lock(&cls->lock);
	for (;;) {
		struct zs_span *src = NULL;
		uint64_t free_total, free_elsewhere;
		bool released = false;

		for (unsigned int g = 0; g < ZS_GROUP_FULL && !src; g++)
			src = cls->groups[g];
		if (!src)
			break;
		/* Only start on a span we can empty completely. */
		free_total = cls->nr_spans * cls->objs_per_span - cls->nr_inuse;
		free_elsewhere = free_total - (cls->objs_per_span - src->inuse);
		if (free_elsewhere < src->inuse)
			break;
		for (uint32_t idx = 0; idx < cls->objs_per_span && !released; idx++) {
			struct zs_span *dst;

			if (!(hdr_get(cls, src, idx) & HDR_ALLOCATED))
				continue;
			dst = pick_dst(cls, src);
			ZS_BUG_ON(!dst); /* free_elsewhere said there is room */
			if (!move_one(pool, cls, src, idx, dst, &released))
				break;
		}
		if (!released)
			break; /* an owner is busy with one of src's objects: next time */
		released_pages += cls->span_pages;
		/* Let allocations and frees of this class in between spans. */
		pthread_mutex_unlock(&cls->lock);
		pthread_mutex_lock(&cls->lock);
	}
	pthread_mutex_unlock(&cls->lock);
	return released_pages;
}

long zs_compact(struct zs_pool *pool)
{
	long released = 0;

	if (!pool->move)
		return 0;
	pthread_mutex_lock(&pool->compact_lock);
	for (uint32_t c = 0; c < pool->nr_classes; c++)
		released += compact_class(pool, &pool->classes[c]);
	pthread_mutex_unlock(&pool->compact_lock);
	atomic_fetch_add_explicit(&pool->pages_compacted, (uint64_t)released, memory_order_relaxed);
	return released;
}

void zs_pool_stats(const struct zs_pool *pool, struct zs_pool_stats *st)
{
	st->backing_bytes = atomic_load_explicit(&pool->backing_bytes, memory_order_relaxed);
	st->payload_bytes = atomic_load_explicit(&pool->payload_bytes, memory_order_relaxed);
	st->obj_bytes = atomic_load_explicit(&pool->obj_bytes, memory_order_relaxed);
	st->meta_bytes = atomic_load_explicit(&pool->meta_bytes, memory_order_relaxed);
	st->nr_objs = atomic_load_explicit(&pool->nr_objs, memory_order_relaxed);
	st->nr_spans = atomic_load_explicit(&pool->nr_spans, memory_order_relaxed);
	st->pages_compacted = atomic_load_explicit(&pool->pages_compacted, memory_order_relaxed);
}

int zs_class_geometry(const struct zs_pool *pool, size_t size, struct zs_class_info *ci)
{
	const struct zs_class *cls;
	uint32_t idx;

	if (size == 0 || size > ZS_MAX_SIZE)
		return -EINVAL;
	idx = pool->size_class[size_index(size)];
	cls = &pool->classes[idx];
	ci->obj_bytes = cls->obj_bytes;
	ci->span_pages = cls->span_pages;
	ci->objs_per_span = cls->objs_per_span;
	ci->class_index = idx;
	return 0;
}

/* ---- invariants ---- */

struct inv_sums {
	uint64_t spans, objs, payload, obj_bytes, backing;
};

/* Context: all locks held. */
static int check_span(struct zs_pool *pool, struct zs_class *cls, uint32_t ci, struct zs_span *sp,
		      unsigned int g, uint8_t *seen, struct inv_sums *sum, char *err,
		      size_t err_len)
{
	struct zs_chunk *c = sp->chunk;
	uint32_t allocated = 0, nr_free = 0, f;

	if (sp->class_index != ci || sp->group != g)
		return backend_error(-EUCLEAN, err, err_len, "span %p: class %u group %u, listed in %u/%u",
				(void *)sp, sp->class_index, sp->group, ci, g);
	if (sp->inuse == 0 || sp->inuse > cls->objs_per_span || span_group(cls, sp->inuse) != g)
		return backend_error(-EUCLEAN, err, err_len, "span %p: inuse %u of %u in group %u", (void *)sp,
				sp->inuse, cls->objs_per_span, g);
	if (!c || c->span_pages != cls->span_pages || sp->slot >= c->nr_carved ||
	    c->spans[sp->slot] != sp || sp->base != c->base + (size_t)sp->slot * c->span_bytes)
		return backend_error(-EUCLEAN, err, err_len, "span %p: bad chunk placement", (void *)sp);

	memset(seen, 0, cls->objs_per_span);
	for (uint32_t i = 0; i < cls->objs_per_span; i++) {
		uint64_t hdr = hdr_get(cls, sp, i);
		size_t size;

		if (!(hdr & HDR_ALLOCATED))
			continue;
		size = hdr_size(hdr);
		if (size == 0 || size > ZS_MAX_SIZE || pool->size_class[size_index(size)] != ci)
			return backend_error(-EUCLEAN, err, err_len, "span %p obj %u: size %zu not of class %u",
					(void *)sp, i, size, ci);
		allocated++;
		sum->payload += size;
	}
	if (allocated != sp->inuse)
		return backend_error(-EUCLEAN, err, err_len, "span %p: %u allocated headers, inuse %u", (void *)sp,
				allocated, sp->inuse);
	for (f = sp->free_head; f; nr_free++) {
		uint64_t hdr;

		if (f > cls->objs_per_span || seen[f - 1] || nr_free >= cls->objs_per_span)
			return backend_error(-EUCLEAN, err, err_len, "span %p: free list broken at %u", (void *)sp, f);
		seen[f - 1] = 1;
		hdr = hdr_get(cls, sp, f - 1);
		if (hdr & HDR_ALLOCATED)
			return backend_error(-EUCLEAN, err, err_len, "span %p: allocated obj %u on free list",
					(void *)sp, f - 1);
		f = (uint32_t)(hdr >> HDR_NEXT_SHIFT);
	}
	if (nr_free + sp->inuse != cls->objs_per_span)
		return backend_error(-EUCLEAN, err, err_len, "span %p: %u free + %u inuse != %u", (void *)sp,
				nr_free, sp->inuse, cls->objs_per_span);
	sum->spans++;
	sum->objs += sp->inuse;
	sum->obj_bytes += (uint64_t)sp->inuse * cls->obj_bytes;
	sum->backing += c->span_bytes;
	return 0;
}

static int check_chunks(struct zs_pool *pool, const struct inv_sums *sum, char *err,
			size_t err_len)
{
	uint64_t live = 0, free_slots = 0, carved = 0;

	for (uint32_t no = 1; no <= pool->nr_chunks; no++) {
		struct zs_chunk *c = atomic_load_explicit(&pool->chunks[no], memory_order_relaxed);

		if (!c || c->no != no || c->nr_carved > c->nr_slots ||
		    c->span_bytes != c->span_pages * ZS_PAGE)
			return backend_error(-EUCLEAN, err, err_len, "chunk %u malformed", no);
		for (uint32_t s = 0; s < c->nr_slots; s++) {
			if (!c->spans[s])
				continue;
			if (s >= c->nr_carved)
				return backend_error(-EUCLEAN, err, err_len, "chunk %u: span beyond carved", no);
			live++;
		}
		carved += c->nr_carved;
	}
	for (uint32_t p = 0; p <= ZS_MAX_SPAN_PAGES; p++) {
		const struct zs_span_cache *cache = &pool->cache[p];

		for (size_t i = 0; i < cache->nr_free; i++) {
			uint64_t no = cache->free[i] >> 32;
			uint32_t slot = (uint32_t)cache->free[i];
			struct zs_chunk *c;

			if (no == 0 || no > pool->nr_chunks)
				return backend_error(-EUCLEAN, err, err_len, "free span slot in chunk %llu",
						(unsigned long long)no);
			c = atomic_load_explicit(&pool->chunks[no], memory_order_relaxed);
			if (c->span_pages != p || slot >= c->nr_carved || c->spans[slot])
				return backend_error(-EUCLEAN, err, err_len, "free span slot %llu/%u not free",
						(unsigned long long)no, slot);
		}
		free_slots += cache->nr_free;
	}
	if (live != sum->spans)
		return backend_error(-EUCLEAN, err, err_len, "%llu spans in chunks, %llu listed",
				(unsigned long long)live, (unsigned long long)sum->spans);
	if (live + free_slots + pool->leaked_slots != carved)
		return backend_error(-EUCLEAN, err, err_len, "span slots: %llu live + %llu free + %llu lost != %llu",
				(unsigned long long)live, (unsigned long long)free_slots,
				(unsigned long long)pool->leaked_slots,
				(unsigned long long)carved);
	return 0;
}

/* Context: compact_lock held; takes the class lock and span_lock. */
static int check_class(struct zs_pool *pool, uint32_t ci, uint8_t *seen, struct inv_sums *sum,
		       char *err, size_t err_len)
{
	struct zs_class *cls = &pool->classes[ci];
	uint64_t spans0 = sum->spans, objs0 = sum->objs;
	int ret = 0;

	pthread_mutex_lock(&cls->lock);
	pthread_mutex_lock(&pool->span_lock); /* for chunk->spans[] */
	if (cls->objs_per_span == 0 ||
	    cls->objs_per_span * (uint64_t)cls->obj_bytes > cls->span_pages * ZS_PAGE) {
		ret = backend_error(-EUCLEAN, err, err_len, "class %u geometry", ci);
		goto out_unlock;
	}
	for (unsigned int g = 0; g < ZS_NR_GROUPS && !ret; g++) {
		struct zs_span *prev = NULL;

		for (struct zs_span *sp = cls->groups[g]; sp && !ret; sp = sp->next) {
			if (sp->prev != prev) {
				ret = backend_error(-EUCLEAN, err, err_len, "class %u group %u: bad prev", ci, g);
				break;
			}
			if (sum->spans - spans0 > cls->nr_spans) {
				ret = backend_error(-EUCLEAN, err, err_len, "class %u: list cycle", ci);
				break;
			}
			ret = check_span(pool, cls, ci, sp, g, seen, sum, err, err_len);
			prev = sp;
		}
	}
	if (!ret && (sum->spans - spans0 != cls->nr_spans || sum->objs - objs0 != cls->nr_inuse))
		ret = backend_error(-EUCLEAN, err, err_len, "class %u: counted %llu spans %llu objs, has %llu %llu",
			       ci, (unsigned long long)(sum->spans - spans0),
			       (unsigned long long)(sum->objs - objs0),
			       (unsigned long long)cls->nr_spans, (unsigned long long)cls->nr_inuse);
out_unlock:
	pthread_mutex_unlock(&pool->span_lock);
	pthread_mutex_unlock(&cls->lock);
	return ret;
}

/*
 * Classes are checked one at a time (holding every class lock at once would
 * be simpler but trips ThreadSanitizer's 64-lock limit); the cross-class
 * totals are therefore exact only when the pool is quiescent.
 */
int zs_check_invariants(struct zs_pool *pool, char *err, size_t err_len)
{
	struct inv_sums sum = { 0 };
	uint8_t *seen;
	int ret = 0;

	seen = malloc(ZS_MAX_SPAN_PAGES * ZS_PAGE / ZS_ALIGN);
	if (!seen)
		return -ENOMEM;
	pthread_mutex_lock(&pool->compact_lock);
	for (uint32_t ci = 0; ci < pool->nr_classes && !ret; ci++)
		ret = check_class(pool, ci, seen, &sum, err, err_len);
	pthread_mutex_lock(&pool->span_lock);
	if (!ret)
		ret = check_chunks(pool, &sum, err, err_len);
	if (!ret && (sum.spans != atomic_load(&pool->nr_spans) ||
		     sum.objs != atomic_load(&pool->nr_objs) ||
		     sum.payload != atomic_load(&pool->payload_bytes) ||
		     sum.obj_bytes != atomic_load(&pool->obj_bytes) ||
		     sum.backing != atomic_load(&pool->backing_bytes)))
		ret = backend_error(-EUCLEAN, err, err_len,
			       "pool counters: spans %llu/%llu objs %llu/%llu payload %llu/%llu "
			       "obj_bytes %llu/%llu backing %llu/%llu",
			       (unsigned long long)sum.spans,
			       (unsigned long long)atomic_load(&pool->nr_spans),
			       (unsigned long long)sum.objs,
			       (unsigned long long)atomic_load(&pool->nr_objs),
			       (unsigned long long)sum.payload,
			       (unsigned long long)atomic_load(&pool->payload_bytes),
			       (unsigned long long)sum.obj_bytes,
			       (unsigned long long)atomic_load(&pool->obj_bytes),
			       (unsigned long long)sum.backing,
			       (unsigned long long)atomic_load(&pool->backing_bytes));
	pthread_mutex_unlock(&pool->span_lock);
	pthread_mutex_unlock(&pool->compact_lock);
	free(seen);
	return ret;
}
