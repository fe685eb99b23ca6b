/* SPDX-License-Identifier: MIT */
/*
 * zsmalloc.h - a size-class allocator for compressed pages.
 *
 * kernel: the role of mm/zsmalloc.c; the design below is uswap's own.
 *
 * Objects
 *   An object is 1..ZS_MAX_SIZE bytes of payload preceded by an 8-byte
 *   header that the allocator owns:
 *
 *     bit 0       1 = allocated
 *     bits 1..13  payload size (allocated) -- or, when free, bits 1..31 hold
 *                 the index + 1 of the next free object of the span (0 = none)
 *     bits 14..63 owner reference (allocated), an opaque number < 2^50 that
 *                 the caller chose (zram: the slot number)
 *
 *   The owner reference is the back-reference compaction needs: when it
 *   moves an object it tells the owner through the move callback.
 *
 * Size classes
 *   Header + payload is rounded up to ZS_ALIGN (16) bytes, giving 257 sizes
 *   from 16 to 4112 bytes.  For each size we pick the number of 4 KiB pages
 *   of a span (1..ZS_MAX_SPAN_PAGES): the smallest count whose tail waste
 *   (span bytes not covered by whole objects) is at most 1/64 of the span,
 *   or, when no count reaches that, the count with the least waste.  Objects
 *   straddle page boundaries inside a span (spans are contiguous memory).
 *   Adjacent sizes that end up with the same (pages, objects per span) are
 *   merged into one class, as the larger size: they use memory the same
 *   way, and fewer classes mean fewer half-empty spans (178 classes remain;
 *   spans of 1..32 pages).  So the waste per object is the rounding (< 16
 *   bytes), the 8-byte header and the tail share: for 2 KiB objects about
 *   0.4% + 0.4% + <1.6%.  Measured with zram on half-compressible pages
 *   (bench_zsmalloc): 2.9-3.1% over the compressed bytes (zram's 8-byte hash
 *   included), the same after freeing half and compacting.
 *
 * Memory
 *   Spans are carved from 16 MiB "chunks" of address space reserved with
 *   mmap(MAP_NORESERVE); a chunk serves spans of a single page count.  A
 *   span that becomes empty is returned to the OS with MADV_DONTNEED and
 *   its address range is kept for a later span of the same page count.
 *   Chunks are never unmapped before zs_pool_destroy(): that is what lets
 *   readers go without locks (below).  The cost: address space and chunk
 *   descriptors (12 bytes per span slot) follow the peak, not the current
 *   use.  Accounting: backing pages of live spans, live payload bytes, and
 *   metadata (span and chunk descriptors, the chunk table, free-span
 *   stacks).
 *
 * Handles
 *   A handle is (chunk number << 24) | byte offset of the object header in
 *   the chunk; it fits in ZS_HANDLE_BITS bits and 0 is never a handle
 *   (chunk numbers start at 1).  Turning a handle into an address needs
 *   only the chunk table, which is append-only: no lock, no span lookup.
 *
 * Compaction and the move callback
 *   zs_compact() takes, per class, the emptiest span and moves its objects
 *   into the fullest partial spans until the emptiest one is empty and can
 *   be released, while the class has room for it.  Moving one object:
 *   copy it to the new place, then call move(ctx, owner, old, new).  The
 *   callback must atomically replace @old by @new in the owner's reference
 *   if and only if the owner still refers to @old (zram: compare-and-swap
 *   on the slot entry), and return whether it did.  If it returns false
 *   (the owner is replacing or freeing the object at this moment, or has
 *   not yet published it) the copy is dropped and the object stays.  The
 *   callback runs with the class lock held and must not call into the pool.
 *
 *   Because the object's bytes are written by zs_alloc() under the class
 *   lock, a published object is immutable: compaction can never copy half
 *   of a write.
 *
 * Reads without locks (signal-handler safe)
 *   Readers take no lock and never block: they copy the object and then
 *   check that it did not move.  Each span slot of a chunk has a sequence
 *   counter that compaction bumps after the owner has switched to the new
 *   copy and before the old object is freed (so before anyone can reuse
 *   it).  The protocol is:
 *
 *	again:
 *		h = owner's reference (acquire)
 *		seq = zs_read_begin(pool, h);
 *		zs_read_copy(pool, h, offset, buffer, length);
 *		if (zs_read_retry(pool, h, seq) || owner's reference != h)
 *			goto again;
 *
 *   A copy that raced with a move is simply redone; the memory it read from
 *   is always mapped (chunks stay mapped; a released span reads as zeros).
 *   A retry needs a move out of the reader's span during its copy, so
 *   retries are rare, and a thread interrupted anywhere -- even inside
 *   zs_compact() of the same class -- cannot make the reader wait.  The
 *   payload may be torn while being copied: never decompress or trust a
 *   copy before zs_read_retry() said it is good.  (This is the usual
 *   seqlock data race on the copied bytes; it is benign on the platforms
 *   we build for.  Under ThreadSanitizer, span memory is copied with relaxed
 *   atomics instead, so TSan sees the intended race as atomic accesses.)
 *
 * Locks
 *   zs_class.lock       protects the class's span lists, every span of the
 *                       class (free list, inuse, headers of its objects)
 *   zs_pool.span_lock   protects chunk creation, chunk->spans[], the
 *                       free-span stacks; nests inside a class lock
 *   zs_pool.compact_lock serialises zs_compact() and zs_check_invariants()
 *   Order: compact_lock -> one class lock -> span_lock.
 */
#ifndef USWAP_ZSMALLOC_H
#define USWAP_ZSMALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define ZS_ALIGN 16u           /* class spacing and object alignment */
#define ZS_HDR_BYTES 8u        /* allocator header in front of every object */
#define ZS_MAX_SIZE (4096u + 8u) /* largest payload: a page plus a caller header */
#define ZS_MAX_SPAN_PAGES 32u
#define ZS_OWNER_BITS 50u
#define ZS_OWNER_MAX ((UINT64_C(1) << ZS_OWNER_BITS) - 1)
#define ZS_HANDLE_BITS 44u     /* 20 bits of chunk number + 24 bits of offset */

typedef uint64_t zs_handle_t;

struct zs_pool;

/*
 * zs_move_fn - compaction moved the object of @owner from @old_handle to
 * @new_handle.  Replace the owner's reference iff it still is @old_handle.
 * Context: class lock held; must not call into the pool; may not block.
 * Return: true if the owner now refers to @new_handle.
 */
typedef bool (*zs_move_fn)(void *ctx, uint64_t owner, zs_handle_t old_handle,
			   zs_handle_t new_handle);

struct zs_pool_stats {
	uint64_t backing_bytes;   /* memory of live spans (pages * 4096) */
	uint64_t payload_bytes;   /* sum of live objects' payload sizes */
	uint64_t obj_bytes;       /* sum of live objects' class sizes (payload+header+rounding) */
	uint64_t meta_bytes;      /* descriptors, tables: malloc'd or mmap'd metadata */
	uint64_t nr_objs;
	uint64_t nr_spans;
	uint64_t pages_compacted; /* cumulative pages released by zs_compact() */
};

struct zs_class_info {
	uint32_t obj_bytes;   /* object size in the class, header included */
	uint32_t span_pages;  /* pages per span */
	uint32_t objs_per_span;
	uint32_t class_index;
};

/*
 * zs_pool_create - make an empty pool.  @move may be NULL: zs_compact() then
 * moves nothing.  Context: may block.  Return: 0, -ENOMEM.
 */
int zs_pool_create(struct zs_pool **poolp, zs_move_fn move, void *move_ctx);

/* zs_pool_destroy - free the pool and all its objects.  Context: no other user. */
void zs_pool_destroy(struct zs_pool *pool);

/*
 * zs_alloc - allocate an object whose payload is the concatenation of @iov
 * (total 1..ZS_MAX_SIZE bytes) and tag it with @owner (<= ZS_OWNER_MAX).
 * The bytes are copied under the class lock, so the object is complete
 * before compaction can see it.
 * Context: takes a class lock, may mmap.  Return: 0 with *handle set,
 * -EINVAL (size or owner out of range), -ENOMEM.
 */
int zs_alloc(struct zs_pool *pool, uint64_t owner, const struct iovec *iov, int iovcnt,
	     zs_handle_t *handle);

/* zs_free - free an allocated object.  Context: takes a class lock. */
void zs_free(struct zs_pool *pool, zs_handle_t handle);

/*
 * zs_read_begin / zs_read_copy / zs_read_retry - the lock-free read
 * protocol described at the top of this file: copy @len bytes of the
 * payload from @off into @dst.  @handle must have been loaded from the
 * owner's reference (it may be stale: that is what zs_read_retry() detects).
 * Context: any, including a signal handler: no lock, no allocation.
 * Return: zs_read_begin a sequence value; zs_read_retry true if the copy
 * must be redone.
 */
uint32_t zs_read_begin(const struct zs_pool *pool, zs_handle_t handle);
void zs_read_copy(const struct zs_pool *pool, zs_handle_t handle, size_t off, void *dst,
		  size_t len);
bool zs_read_retry(const struct zs_pool *pool, zs_handle_t handle, uint32_t seq);

/*
 * zs_obj_payload - address of the payload, for direct access by a caller
 * that knows the object cannot move or be freed (no concurrent zs_compact).
 * Context: any.  Return: the address.
 */
const void *zs_obj_payload(const struct zs_pool *pool, zs_handle_t handle);

/*
 * zs_obj_info - owner and payload size of an allocated object.
 * Context: takes the class lock.  Return: 0, or -ENOENT if @handle does not
 * name an allocated object.
 */
int zs_obj_info(struct zs_pool *pool, zs_handle_t handle, uint64_t *owner, size_t *size);

/*
 * zs_compact - move objects out of sparse spans and release them.
 * Context: takes compact_lock then class locks one at a time; may block.
 * Return: number of 4 KiB pages released.
 */
long zs_compact(struct zs_pool *pool);

/* zs_pool_stats - snapshot of the counters (not atomic as a whole).  Context: any thread. */
void zs_pool_stats(const struct zs_pool *pool, struct zs_pool_stats *st);

/* zs_class_geometry - the class serving a @size-byte payload.  Return: 0, -EINVAL. */
int zs_class_geometry(const struct zs_pool *pool, size_t size, struct zs_class_info *ci);

/*
 * zs_check_invariants - validate the whole structure: span lists and
 * fullness groups, free lists, headers, chunk tables, counters.
 * Context: takes compact_lock, then each class lock in turn; the pool must
 * be quiescent (cross-class totals).  Return: 0, -ENOMEM, or -EUCLEAN with
 * a description in @err.
 */
int zs_check_invariants(struct zs_pool *pool, char *err, size_t err_len);

#endif /* USWAP_ZSMALLOC_H */
