/* SPDX-License-Identifier: MIT */
/*
 * zram.c - the "zram" backend: compressed pages in memory.
 *
 * kernel: drivers/block/zram/zram_drv.c plays this role; this is uswap's own
 * implementation of the backend contract in backend.h.
 *
 * Spec: "zram:[lz4|zstd][:size=N][:mem_limit=N][:level=L]", tokens in any
 * order, e.g. "lz4:size=4G", "zstd:size=1G:mem_limit=256M", "size=64M".
 *   lz4 | zstd   compressor (default lz4)
 *   size=N       device size, a multiple of 4096 (default 4G); N as parsed
 *                by backend_parse_size(); at most 2^36 slots
 *   mem_limit=N  store limit in bytes (mem_used_total), 0 = none (default)
 *   level=L      zstd level, ZSTD_minCLevel()..ZSTD_maxCLevel() (default 3)
 *
 * Slot table
 *   Exactly 8 bytes per slot, in chunks of 8 Ki slots (64 KiB) mmap'd on
 *   the first write into the chunk, so a huge size= costs only the chunk
 *   pointer array up front.  Chunks stay until destroy: lock-free readers
 *   may hold a pointer into them.  Entry layout (bits 0-1 = type):
 *
 *     0 EMPTY  the whole entry is 0
 *     1 SAME   a page of one repeated 64-bit word w; bits 2..63 hold w as a
 *              62-bit two's complement number: every w whose top three
 *              bits are equal (0, -1 = 0xff..ff, small patterns...)
 *     2 OBJ    bits 2..14 length (1..ZRAM_HUGE_THRESHOLD compressed bytes,
 *              or 4096 = stored raw), bits 15..63 the zsmalloc handle
 *     3 WIDE   a same-filled page whose word does not fit in 62 bits (e.g.
 *              0x8000000000000001): the word is kept in an 8-byte zsmalloc
 *              object, bits 15..63 its handle
 *
 * Objects
 *   OBJ payload = the 8-byte xxh3 hash given to write() + the compressed
 *   bytes (or the raw page); zsmalloc's own header in front carries the slot
 *   number as owner, so compaction can find and CAS the entry (zram_move).
 *   A page whose compressed size exceeds ZRAM_HUGE_THRESHOLD (3584 = 7/8 of
 *   a page) is stored raw: it would save less than 1/8 of a page while
 *   costing a decompression on every fault.
 *
 * Concurrency
 *   The core serialises users of one slot.  Writers build the new object
 *   first, then atomic_exchange() the entry and free the old object.
 *   Readers take no lock: they load the entry, copy the object, and retry
 *   if compaction moved it meanwhile (zsmalloc.h).  Decompression uses a
 *   preallocated pool of read contexts (bounce buffer + static zstd DCtx)
 *   taken with an atomic exchange, so read() never allocates.  Limitation:
 *   when every read context is held, read() spins (sched_yield) until one
 *   is released; a context is held only for one copy + decompression, so
 *   this can only hang if every context's holder was interrupted inside
 *   read() by a signal whose handler reads too (the pool has 2 per CPU).
 *   Compression contexts are per thread (write() may allocate).
 */
#include "backend/backend.h"
#include "sys.h"
#include "backend/zsmalloc.h"

#include <errno.h>
#include <lz4.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_initStaticDCtx: a DCtx that cannot allocate */
#include <zstd.h>
#include <zstd_errors.h>

#define ZRAM_TABLE_SHIFT 13u
#define ZRAM_TABLE_SLOTS (1u << ZRAM_TABLE_SHIFT)
#define ZRAM_TABLE_BYTES ((size_t)ZRAM_TABLE_SLOTS * sizeof(uint64_t))
#define ZRAM_MAX_SLOTS (UINT64_C(1) << 36)
#define ZRAM_DEFAULT_SIZE (UINT64_C(4) << 30)
#define ZRAM_HUGE_THRESHOLD 3584u
#define ZRAM_HASH_BYTES 8u
#define ZRAM_ZSTD_DEFAULT_LEVEL 3
#define ZRAM_WORDS (USWAP_PAGE_SIZE / sizeof(uint64_t))

enum { ZE_EMPTY = 0, ZE_SAME = 1, ZE_OBJ = 2, ZE_WIDE = 3 };
#define ZE_TYPE_MASK UINT64_C(3)
#define ZE_LEN_SHIFT 2u
#define ZE_LEN_MASK UINT64_C(0x1fff)
#define ZE_HANDLE_SHIFT 15u
#define ZE_LOW_MASK ((UINT64_C(1) << ZE_HANDLE_SHIFT) - 1)

_Static_assert(ZS_HANDLE_BITS <= 64 - ZE_HANDLE_SHIFT, "handle does not fit the entry");
_Static_assert(USWAP_PAGE_SIZE <= ZE_LEN_MASK, "length field too small");
_Static_assert(ZRAM_MAX_SLOTS - 1 <= ZS_OWNER_MAX, "slot number must fit the owner field");
_Static_assert(ZRAM_HASH_BYTES + USWAP_PAGE_SIZE <= ZS_MAX_SIZE, "raw page must fit an object");

enum zram_algo { ZRAM_LZ4, ZRAM_ZSTD };

/* Read context: what read() needs to decompress without allocating. */
struct zram_rctx {
	atomic_bool busy;
	ZSTD_DCtx *dctx; /* static, inside dctx_mem; NULL for lz4 */
	void *dctx_mem;
	unsigned char buf[ZRAM_HASH_BYTES + ZRAM_HUGE_THRESHOLD];
};

struct zram {
	struct zs_pool *pool;
	uint64_t nr_slots;
	uint64_t mem_limit; /* 0 = none */
	enum zram_algo algo;
	int level;
	size_t nr_tables;
	_Atomic(_Atomic uint64_t *) *tables; /* nr_tables chunk pointers, set once each */
	struct zram_rctx *rctx;
	unsigned int nr_rctx;
	atomic_uint rctx_next;
	uint64_t fixed_meta; /* this struct, the chunk pointer array, read contexts */

	_Atomic uint64_t table_bytes;
	_Atomic uint64_t nr_stored, same_pages, huge_pages, huge_pages_since;
	_Atomic uint64_t compr_data_size, mem_used_max;
};

/* ---- entries ---- */

static unsigned int entry_type(uint64_t e)
{
	return (unsigned int)(e & ZE_TYPE_MASK);
}

static size_t entry_len(uint64_t e)
{
	return (size_t)((e >> ZE_LEN_SHIFT) & ZE_LEN_MASK);
}

static zs_handle_t entry_handle(uint64_t e)
{
	return e >> ZE_HANDLE_SHIFT;
}

static uint64_t entry_obj(zs_handle_t h, size_t len)
{
	return (h << ZE_HANDLE_SHIFT) | ((uint64_t)len << ZE_LEN_SHIFT) | ZE_OBJ;
}

static uint64_t entry_wide(zs_handle_t h)
{
	return (h << ZE_HANDLE_SHIFT) | ZE_WIDE;
}

static uint64_t entry_same(uint64_t word)
{
	return (word << 2) | ZE_SAME;
}

/* Sign-extend bits 2..63 back to the 64-bit word (no implementation-defined shifts). */
static uint64_t same_word(uint64_t e)
{
	uint64_t w = e >> 2;

	if (e & (UINT64_C(1) << 63))
		w |= UINT64_C(3) << 62;
	return w;
}

static bool same_fits(uint64_t word)
{
	return same_word(entry_same(word)) == word;
}

/* Is @page one 64-bit word repeated?  Return: true with *word set. */
static bool page_same(const void *page, uint64_t *word)
{
	const uint64_t *w = page;

	for (size_t i = 1; i < ZRAM_WORDS; i++)
		if (w[i] != w[0])
			return false;
	*word = w[0];
	return true;
}

static void page_fill(void *page, uint64_t word)
{
	uint64_t *w = page;

	for (size_t i = 0; i < ZRAM_WORDS; i++)
		w[i] = word;
}

/* ---- slot table ---- */

/* Entry of @slot, or NULL if its chunk was never written.  Lock-free. */
static _Atomic uint64_t *slot_entry(const struct zram *z, uint64_t slot)
{
	_Atomic uint64_t *t =
		atomic_load_explicit(&z->tables[slot >> ZRAM_TABLE_SHIFT], memory_order_acquire);

	return t ? &t[slot & (ZRAM_TABLE_SLOTS - 1)] : NULL;
}

static uint64_t zram_meta_bytes(const struct zram *z)
{
	struct zs_pool_stats ps;

	zs_pool_stats(z->pool, &ps);
	return z->fixed_meta + atomic_load_explicit(&z->table_bytes, memory_order_relaxed) +
	       ps.meta_bytes;
}

static uint64_t zram_mem_used(const struct zram *z)
{
	struct zs_pool_stats ps;

	zs_pool_stats(z->pool, &ps);
	return ps.backing_bytes + ps.meta_bytes + z->fixed_meta +
	       atomic_load_explicit(&z->table_bytes, memory_order_relaxed);
}

static void zram_note_used(struct zram *z)
{
	uint64_t used = zram_mem_used(z);
	uint64_t max = atomic_load_explicit(&z->mem_used_max, memory_order_relaxed);

	while (used > max && !atomic_compare_exchange_weak_explicit(&z->mem_used_max, &max, used,
								    memory_order_relaxed,
								    memory_order_relaxed))
		;
}

/* Entry of @slot, allocating its chunk.  Return: 0, -ENOSPC (mem_limit), -ENOMEM. */
static int slot_entry_alloc(struct zram *z, uint64_t slot, _Atomic uint64_t **ep)
{
	_Atomic(_Atomic uint64_t *) *tp = &z->tables[slot >> ZRAM_TABLE_SHIFT];
	_Atomic uint64_t *t = atomic_load_explicit(tp, memory_order_acquire);
	_Atomic uint64_t *expected = NULL;

	if (!t) {
		if (z->mem_limit && zram_mem_used(z) + ZRAM_TABLE_BYTES > z->mem_limit)
			return -ENOSPC;
		t = sys_mmap(NULL, ZRAM_TABLE_BYTES, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (t == MAP_FAILED)
			return -ENOMEM;
		/* Zero-filled memory: every entry starts EMPTY. */
		if (atomic_compare_exchange_strong_explicit(tp, &expected, t, memory_order_acq_rel,
							    memory_order_acquire)) {
			atomic_fetch_add_explicit(&z->table_bytes, ZRAM_TABLE_BYTES + sizeof(*z->tables),
						  memory_order_relaxed);
		} else {
			sys_munmap(t, ZRAM_TABLE_BYTES); /* another writer of this chunk won */
			t = expected;
		}
	}
	*ep = &t[slot & (ZRAM_TABLE_SLOTS - 1)];
	return 0;
}

static void counter_add(_Atomic uint64_t *c, int64_t d)
{
	atomic_fetch_add_explicit(c, (uint64_t)d, memory_order_relaxed);
}

/* Add (@sign = 1) or remove (-1) the statistics of entry @e. */
static void entry_account(struct zram *z, uint64_t e, int sign)
{
	switch (entry_type(e)) {
	case ZE_EMPTY:
		return;
	case ZE_SAME:
		counter_add(&z->same_pages, sign);
		break;
	case ZE_WIDE:
		counter_add(&z->same_pages, sign);
		counter_add(&z->compr_data_size, sign * (int64_t)sizeof(uint64_t));
		break;
	case ZE_OBJ:
		if (entry_len(e) == USWAP_PAGE_SIZE)
			counter_add(&z->huge_pages, sign);
		counter_add(&z->compr_data_size, sign * (int64_t)entry_len(e));
		break;
	}
	counter_add(&z->nr_stored, sign);
}

static void entry_free(struct zram *z, uint64_t e)
{
	if (entry_type(e) == ZE_OBJ || entry_type(e) == ZE_WIDE)
		zs_free(z->pool, entry_handle(e));
}

/*
 * zram_move - zsmalloc's move callback: slot @owner's object went from
 * @old_h to @new_h.  Context: zsmalloc class lock held.
 * Return: true if the entry still named @old_h and now names @new_h; false
 * if a writer replaced or cleared the entry (or has not published it yet).
 */
static bool zram_move(void *ctx, uint64_t owner, zs_handle_t old_h, zs_handle_t new_h)
{
	struct zram *z = ctx;
	_Atomic uint64_t *ep;
	uint64_t e;

	if (owner >= z->nr_slots)
		return false;
	ep = slot_entry(z, owner);
	if (!ep)
		return false;
	e = atomic_load_explicit(ep, memory_order_acquire);
	if ((entry_type(e) != ZE_OBJ && entry_type(e) != ZE_WIDE) || entry_handle(e) != old_h)
		return false;
	return atomic_compare_exchange_strong_explicit(ep, &e,
						       (e & ZE_LOW_MASK) | (new_h << ZE_HANDLE_SHIFT),
						       memory_order_acq_rel, memory_order_relaxed);
}

/* ---- compression ---- */

/* Per-thread compression state, shared by all instances (level is per call). */
struct zram_cctx {
	void *lz4_state;
	ZSTD_CCtx *zstd;
};

static pthread_key_t cctx_key;
static pthread_once_t cctx_once = PTHREAD_ONCE_INIT;
static int cctx_key_err;

static void cctx_destroy(void *p)
{
	struct zram_cctx *c = p;

	free(c->lz4_state);
	ZSTD_freeCCtx(c->zstd);
	free(c);
}

static void cctx_key_init(void)
{
	cctx_key_err = pthread_key_create(&cctx_key, cctx_destroy);
}

static struct zram_cctx *cctx_get(enum zram_algo algo)
{
	struct zram_cctx *c;

	pthread_once(&cctx_once, cctx_key_init);
	if (cctx_key_err)
		return NULL;
	c = pthread_getspecific(cctx_key);
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return NULL;
		if (pthread_setspecific(cctx_key, c)) {
			free(c);
			return NULL;
		}
	}
	if (algo == ZRAM_LZ4 && !c->lz4_state)
		c->lz4_state = malloc((size_t)LZ4_sizeofState());
	if (algo == ZRAM_ZSTD && !c->zstd)
		c->zstd = ZSTD_createCCtx();
	if ((algo == ZRAM_LZ4 && !c->lz4_state) || (algo == ZRAM_ZSTD && !c->zstd))
		return NULL;
	return c;
}

/*
 * Compress @page into @dst (@cap bytes).  Context: may allocate (first call
 * in a thread).  Return: compressed length, 0 if it does not fit in @cap,
 * -ENOMEM, -EIO.
 */
static long zram_compress(const struct zram *z, const void *page, void *dst, size_t cap)
{
	struct zram_cctx *c = cctx_get(z->algo);
	size_t n;

	if (!c)
		return -ENOMEM;
	if (z->algo == ZRAM_LZ4)
		return LZ4_compress_fast_extState(c->lz4_state, page, dst, USWAP_PAGE_SIZE,
						  (int)cap, 1);
	n = ZSTD_compressCCtx(c->zstd, dst, cap, page, USWAP_PAGE_SIZE, z->level);
	if (!ZSTD_isError(n))
		return (long)n;
	if (ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall)
		return 0;
	return ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation ? -ENOMEM : -EIO;
}

/* Return: 0, or -EIO if @src does not decompress to exactly one page. */
static int zram_decompress(const struct zram *z, struct zram_rctx *r, const void *src,
			   size_t len, void *page)
{
	if (z->algo == ZRAM_LZ4) {
		int n = LZ4_decompress_safe(src, page, (int)len, USWAP_PAGE_SIZE);

		return n == (int)USWAP_PAGE_SIZE ? 0 : -EIO;
	}
	size_t n = ZSTD_decompressDCtx(r->dctx, page, USWAP_PAGE_SIZE, src, len);

	return !ZSTD_isError(n) && n == USWAP_PAGE_SIZE ? 0 : -EIO;
}

/* Take a read context.  Context: signal-safe; spins while all are busy. */
static struct zram_rctx *rctx_get(struct zram *z)
{
	unsigned int start = atomic_fetch_add_explicit(&z->rctx_next, 1, memory_order_relaxed);

	for (;;) {
		for (unsigned int i = 0; i < z->nr_rctx; i++) {
			struct zram_rctx *r = &z->rctx[(start + i) % z->nr_rctx];

			if (!atomic_load_explicit(&r->busy, memory_order_relaxed) &&
			    !atomic_exchange_explicit(&r->busy, true, memory_order_acquire))
				return r;
		}
		sched_yield();
	}
}

static void rctx_put(struct zram_rctx *r)
{
	atomic_store_explicit(&r->busy, false, memory_order_release);
}

/* Did the object we copied from change under us?  See zsmalloc.h. */
static bool obj_changed(const struct zram *z, _Atomic uint64_t *ep, uint64_t e, uint32_t seq)
{
	return zs_read_retry(z->pool, entry_handle(e), seq) ||
	       atomic_load_explicit(ep, memory_order_relaxed) != e;
}

/* Read the 8-byte head of the object of entry @e (hash or word).  Return: false = retry. */
static bool obj_read_head(const struct zram *z, _Atomic uint64_t *ep, uint64_t e, uint64_t *v)
{
	zs_handle_t h = entry_handle(e);
	uint32_t seq = zs_read_begin(z->pool, h);

	zs_read_copy(z->pool, h, 0, v, sizeof(*v));
	return !obj_changed(z, ep, e, seq);
}

/* ---- spec ---- */

struct zram_cfg {
	enum zram_algo algo;
	int level;
	uint64_t size;
	uint64_t mem_limit;
	bool have_algo, have_size, have_limit, have_level;
};

static bool tok_is(const char *t, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(t, word, n) == 0;
}

/* One "key=value" or algorithm token.  Return: 0, -EINVAL. */
static int spec_token(struct zram_cfg *cfg, const char *t, size_t n, char *err, size_t err_len)
{
	const char *eq = memchr(t, '=', n);
	char val[64];
	size_t klen, vlen;

	if (n == 0)
		return backend_error(-EINVAL, err, err_len, "zram: empty option (stray ':')");
	if (!eq) {
		if (!tok_is(t, n, "lz4") && !tok_is(t, n, "zstd"))
			return backend_error(-EINVAL, err, err_len,
					  "zram: unknown compressor or option '%.*s' (lz4, zstd, "
					  "size=, mem_limit=, level=)",
					  (int)n, t);
		if (cfg->have_algo)
			return backend_error(-EINVAL, err, err_len, "zram: compressor given twice");
		cfg->have_algo = true;
		cfg->algo = tok_is(t, n, "lz4") ? ZRAM_LZ4 : ZRAM_ZSTD;
		return 0;
	}
	klen = (size_t)(eq - t);
	vlen = n - klen - 1;
	if (vlen == 0 || vlen >= sizeof(val))
		return backend_error(-EINVAL, err, err_len, "zram: bad value for '%.*s'", (int)klen, t);
	memcpy(val, eq + 1, vlen);
	val[vlen] = '\0';

	if (tok_is(t, klen, "size")) {
		if (cfg->have_size)
			return backend_error(-EINVAL, err, err_len, "zram: size= given twice");
		cfg->have_size = true;
		if (backend_parse_size(val, &cfg->size))
			return backend_error(-EINVAL, err, err_len, "zram: bad size '%s'", val);
		if (cfg->size == 0 || cfg->size % USWAP_PAGE_SIZE)
			return backend_error(-EINVAL, err, err_len,
					  "zram: size=%s must be a non-zero multiple of 4096", val);
		if (cfg->size / USWAP_PAGE_SIZE > ZRAM_MAX_SLOTS)
			return backend_error(-EINVAL, err, err_len, "zram: size=%s exceeds 2^36 pages", val);
		return 0;
	}
	if (tok_is(t, klen, "mem_limit")) {
		if (cfg->have_limit)
			return backend_error(-EINVAL, err, err_len, "zram: mem_limit= given twice");
		cfg->have_limit = true;
		if (backend_parse_size(val, &cfg->mem_limit))
			return backend_error(-EINVAL, err, err_len, "zram: bad mem_limit '%s'", val);
		return 0;
	}
	if (tok_is(t, klen, "level")) {
		char *end;
		long l;

		if (cfg->have_level)
			return backend_error(-EINVAL, err, err_len, "zram: level= given twice");
		cfg->have_level = true;
		errno = 0;
		l = strtol(val, &end, 10);
		if (errno || *end || end == val || l < ZSTD_minCLevel() || l > ZSTD_maxCLevel())
			return backend_error(-EINVAL, err, err_len, "zram: bad zstd level '%s' (%d..%d)", val,
					  ZSTD_minCLevel(), ZSTD_maxCLevel());
		cfg->level = (int)l;
		return 0;
	}
	return backend_error(-EINVAL, err, err_len, "zram: unknown option '%.*s' (size=, mem_limit=, level=)",
			  (int)klen, t);
}

static int spec_parse(const char *args, struct zram_cfg *cfg, char *err, size_t err_len)
{
	const char *p = args;

	memset(cfg, 0, sizeof(*cfg));
	cfg->algo = ZRAM_LZ4;
	cfg->level = ZRAM_ZSTD_DEFAULT_LEVEL;
	cfg->size = ZRAM_DEFAULT_SIZE;
	if (!p || !*p)
		return 0;
	for (;;) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		int ret = spec_token(cfg, p, n, err, err_len);

		if (ret)
			return ret;
		if (!end)
			break;
		p = end + 1;
	}
	if (cfg->have_level && cfg->algo != ZRAM_ZSTD)
		return backend_error(-EINVAL, err, err_len, "zram: level= applies to zstd only");
	if (cfg->level == 0)
		cfg->level = ZRAM_ZSTD_DEFAULT_LEVEL;
	return 0;
}

/* ---- ops ---- */

static void zram_destroy(void *priv)
{
	struct zram *z = priv;

	if (!z)
		return;
	zs_pool_destroy(z->pool);
	for (size_t i = 0; i < z->nr_tables; i++) {
		_Atomic uint64_t *t = atomic_load_explicit(&z->tables[i], memory_order_relaxed);

		if (t)
			sys_munmap(t, ZRAM_TABLE_BYTES);
	}
	free(z->tables);
	for (unsigned int i = 0; z->rctx && i < z->nr_rctx; i++)
		free(z->rctx[i].dctx_mem);
	free(z->rctx);
	free(z);
}

static int zram_create(const char *args, void **priv, uint64_t *nr_slots, char *err,
		       size_t err_len)
{
	struct zram_cfg cfg;
	struct zram *z;
	long ncpu;
	int ret;

	ret = spec_parse(args, &cfg, err, err_len);
	if (ret)
		return ret;
	z = calloc(1, sizeof(*z));
	if (!z)
		return -ENOMEM;
	z->nr_slots = cfg.size / USWAP_PAGE_SIZE;
	z->mem_limit = cfg.mem_limit;
	z->algo = cfg.algo;
	z->level = cfg.level;
	z->nr_tables = (size_t)((z->nr_slots + ZRAM_TABLE_SLOTS - 1) >> ZRAM_TABLE_SHIFT);
	z->tables = calloc(z->nr_tables, sizeof(*z->tables));
	if (!z->tables)
		goto out_nomem;
	ret = zs_pool_create(&z->pool, zram_move, z);
	if (ret)
		goto out_destroy;

	/* Two read contexts per CPU: enough that read() practically never spins. */
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	z->nr_rctx = ncpu < 2 ? 4 : ncpu > 32 ? 64 : (unsigned int)ncpu * 2;
	z->rctx = calloc(z->nr_rctx, sizeof(*z->rctx));
	if (!z->rctx)
		goto out_nomem;
	/* The chunk pointer array is calloc'd (mapped lazily): a chunk's pointer
	 * is counted with the chunk, in table_bytes. */
	z->fixed_meta = sizeof(*z) + z->nr_rctx * sizeof(*z->rctx);
	for (unsigned int i = 0; i < z->nr_rctx; i++) {
		atomic_init(&z->rctx[i].busy, false);
		if (z->algo != ZRAM_ZSTD)
			continue;
		size_t n = ZSTD_estimateDCtxSize();

		z->rctx[i].dctx_mem = malloc(n);
		if (!z->rctx[i].dctx_mem)
			goto out_nomem;
		z->rctx[i].dctx = ZSTD_initStaticDCtx(z->rctx[i].dctx_mem, n);
		if (!z->rctx[i].dctx)
			goto out_nomem;
		z->fixed_meta += n;
	}
	z->mem_used_max = zram_mem_used(z);
	*priv = z;
	*nr_slots = z->nr_slots;
	return 0;

out_nomem:
	ret = -ENOMEM;
out_destroy:
	zram_destroy(z);
	return ret;
}

static int zram_write(void *priv, uint64_t slot, const void *page, uint64_t hash)
{
	unsigned char buf[ZRAM_HUGE_THRESHOLD];
	struct zram *z = priv;
	_Atomic uint64_t *ep;
	struct iovec iov[2];
	zs_handle_t h = 0;
	uint64_t word, e, old;
	int ret;

	if (slot >= z->nr_slots)
		return -EINVAL;
	ret = slot_entry_alloc(z, slot, &ep);
	if (ret)
		return ret;

	if (page_same(page, &word)) {
		if (same_fits(word)) {
			e = entry_same(word);
		} else {
			iov[0] = (struct iovec){ &word, sizeof(word) };
			ret = zs_alloc(z->pool, slot, iov, 1, &h);
			if (ret)
				return ret;
			e = entry_wide(h);
		}
	} else {
		long clen = zram_compress(z, page, buf, sizeof(buf));

		if (clen < 0)
			return (int)clen;
		iov[0] = (struct iovec){ &hash, sizeof(hash) };
		if (clen > 0)
			iov[1] = (struct iovec){ buf, (size_t)clen };
		else
			iov[1] = (struct iovec){ (void *)page, USWAP_PAGE_SIZE };
		ret = zs_alloc(z->pool, slot, iov, 2, &h);
		if (ret)
			return ret;
		e = entry_obj(h, iov[1].iov_len);
	}
	/* Checked after allocating: the store may never grow past the limit. */
	if (h && z->mem_limit && zram_mem_used(z) > z->mem_limit) {
		zs_free(z->pool, h);
		return -ENOSPC;
	}
	zram_note_used(z);

	old = atomic_exchange_explicit(ep, e, memory_order_acq_rel);
	entry_account(z, e, 1);
	if (entry_type(e) == ZE_OBJ && entry_len(e) == USWAP_PAGE_SIZE)
		counter_add(&z->huge_pages_since, 1);
	entry_account(z, old, -1);
	entry_free(z, old);
	return 0;
}

/* Entry of @slot for a reader.  Return: 0; -EINVAL out of range; -ENOENT never written. */
static int slot_lookup(const struct zram *z, uint64_t slot, _Atomic uint64_t **ep)
{
	if (slot >= z->nr_slots)
		return -EINVAL;
	*ep = slot_entry(z, slot);
	return *ep ? 0 : -ENOENT;
}

static int zram_read(void *priv, uint64_t slot, void *page, uint64_t *hash, bool *hash_valid)
{
	struct zram *z = priv;
	struct zram_rctx *r = NULL;
	_Atomic uint64_t *ep;
	int ret;

	ret = slot_lookup(z, slot, &ep);
	if (ret)
		return ret;
	for (;;) {
		uint64_t e = atomic_load_explicit(ep, memory_order_acquire), word;
		zs_handle_t h = entry_handle(e);
		size_t len = entry_len(e);
		uint32_t seq;

		switch (entry_type(e)) {
		case ZE_EMPTY:
			ret = -ENOENT;
			goto out;
		case ZE_SAME:
			page_fill(page, same_word(e));
			*hash_valid = false;
			ret = 0;
			goto out;
		case ZE_WIDE:
			if (!obj_read_head(z, ep, e, &word))
				continue;
			page_fill(page, word);
			*hash_valid = false;
			ret = 0;
			goto out;
		}

		seq = zs_read_begin(z->pool, h);
		if (len == USWAP_PAGE_SIZE) {
			/* Raw: copy straight to the caller's page, then validate. */
			zs_read_copy(z->pool, h, 0, hash, ZRAM_HASH_BYTES);
			zs_read_copy(z->pool, h, ZRAM_HASH_BYTES, page, USWAP_PAGE_SIZE);
			if (obj_changed(z, ep, e, seq))
				continue;
			*hash_valid = true;
			ret = 0;
			goto out;
		}
		/*
		 * Copy first, validate, then decompress: never decompress
		 * bytes that may change underneath the decoder.
		 */
		if (!r)
			r = rctx_get(z);
		zs_read_copy(z->pool, h, 0, r->buf, ZRAM_HASH_BYTES + len);
		if (obj_changed(z, ep, e, seq))
			continue;
		memcpy(hash, r->buf, ZRAM_HASH_BYTES);
		*hash_valid = true;
		ret = zram_decompress(z, r, r->buf + ZRAM_HASH_BYTES, len, page);
		goto out;
	}
out:
	if (r)
		rctx_put(r);
	return ret;
}

static int zram_discard(void *priv, uint64_t slot)
{
	struct zram *z = priv;
	_Atomic uint64_t *ep;
	uint64_t old;
	int ret = slot_lookup(z, slot, &ep);

	if (ret)
		return ret == -ENOENT ? 0 : ret; /* never written: nothing to discard */
	old = atomic_exchange_explicit(ep, 0, memory_order_acq_rel);
	entry_account(z, old, -1);
	entry_free(z, old);
	return 0;
}

static int zram_matches(void *priv, uint64_t slot, const void *page, uint64_t hash)
{
	struct zram *z = priv;
	_Atomic uint64_t *ep;
	int ret = slot_lookup(z, slot, &ep);

	if (ret)
		return ret;
	for (;;) {
		uint64_t e = atomic_load_explicit(ep, memory_order_acquire), v, word;

		switch (entry_type(e)) {
		case ZE_EMPTY:
			return -ENOENT;
		case ZE_SAME:
			return page_same(page, &word) && word == same_word(e);
		case ZE_WIDE:
			if (!obj_read_head(z, ep, e, &v))
				continue;
			return page_same(page, &word) && word == v;
		default:
			if (!obj_read_head(z, ep, e, &v))
				continue;
			return v == hash;
		}
	}
}

static int zram_stat(void *priv, struct backend_stat *st)
{
	struct zram *z = priv;
	struct zs_pool_stats ps;

	zs_pool_stats(z->pool, &ps);
	memset(st, 0, sizeof(*st));
	st->nr_stored = atomic_load_explicit(&z->nr_stored, memory_order_relaxed);
	st->orig_data_size = st->nr_stored * USWAP_PAGE_SIZE;
	st->compr_data_size = atomic_load_explicit(&z->compr_data_size, memory_order_relaxed);
	st->meta_bytes = zram_meta_bytes(z);
	st->slot_table_bytes = atomic_load_explicit(&z->table_bytes, memory_order_relaxed);
	st->mem_used_total = ps.backing_bytes + st->meta_bytes;
	st->mem_limit = z->mem_limit;
	st->mem_used_max = atomic_load_explicit(&z->mem_used_max, memory_order_relaxed);
	if (st->mem_used_max < st->mem_used_total)
		st->mem_used_max = st->mem_used_total;
	st->same_pages = atomic_load_explicit(&z->same_pages, memory_order_relaxed);
	st->pages_compacted = ps.pages_compacted;
	st->huge_pages = atomic_load_explicit(&z->huge_pages, memory_order_relaxed);
	st->huge_pages_since = atomic_load_explicit(&z->huge_pages_since, memory_order_relaxed);
	return 0;
}

static long zram_compact(void *priv)
{
	struct zram *z = priv;

	return zs_compact(z->pool);
}

const struct swap_backend_ops zram_backend_ops = {
	.name = "zram",
	.flags = BK_SYNCHRONOUS | BK_RAM,
	.create = zram_create,
	.destroy = zram_destroy,
	.write = zram_write,
	.read = zram_read,
	.discard = zram_discard,
	.matches = zram_matches,
	.stat = zram_stat,
	.compact = zram_compact,
	.check_invariants = zram_check_invariants,
};

/* ---- invariants (tests) ---- */

int zram_check_invariants(void *priv, char *err, size_t err_len)
{
	struct zram *z = priv;
	uint64_t nr_stored = 0, same = 0, huge = 0, compr = 0, objs = 0, tables = 0;
	struct zs_pool_stats ps;

	for (size_t i = 0; i < z->nr_tables; i++) {
		_Atomic uint64_t *t = atomic_load_explicit(&z->tables[i], memory_order_acquire);

		if (!t)
			continue;
		tables++;
		for (uint64_t s = 0; s < ZRAM_TABLE_SLOTS; s++) {
			uint64_t slot = ((uint64_t)i << ZRAM_TABLE_SHIFT) | s;
			uint64_t e = atomic_load_explicit(&t[s], memory_order_relaxed), owner, word;
			size_t len = entry_len(e), size, want;

			if (e == 0)
				continue;
			if (slot >= z->nr_slots)
				goto bad_entry;
			nr_stored++;
			switch (entry_type(e)) {
			case ZE_SAME:
				same++;
				continue;
			case ZE_WIDE:
				if (e & (ZE_LEN_MASK << ZE_LEN_SHIFT))
					goto bad_entry;
				same++;
				compr += sizeof(uint64_t);
				want = sizeof(uint64_t);
				zs_read_copy(z->pool, entry_handle(e), 0, &word, sizeof(word));
				if (same_fits(word))
					goto bad_entry; /* should have been stored inline */
				break;
			case ZE_OBJ:
				if (len == 0 ||
				    (len > ZRAM_HUGE_THRESHOLD && len != USWAP_PAGE_SIZE))
					goto bad_entry;
				huge += len == USWAP_PAGE_SIZE;
				compr += len;
				want = ZRAM_HASH_BYTES + len;
				break;
			default:
				goto bad_entry;
			}
			objs++;
			if (zs_obj_info(z->pool, entry_handle(e), &owner, &size) || owner != slot ||
			    size != want)
				goto bad_entry;
			continue;
bad_entry:
			backend_error(-EINVAL, err, err_len, "slot %llu: bad entry %#llx",
				   (unsigned long long)slot, (unsigned long long)e);
			return -EUCLEAN;
		}
	}
	zs_pool_stats(z->pool, &ps);
	if (nr_stored != z->nr_stored || same != z->same_pages || huge != z->huge_pages ||
	    compr != z->compr_data_size || objs != ps.nr_objs ||
	    tables * (ZRAM_TABLE_BYTES + sizeof(*z->tables)) != z->table_bytes || z->huge_pages_since < z->huge_pages) {
		backend_error(-EINVAL, err, err_len,
			   "counters: stored %llu/%llu same %llu/%llu huge %llu/%llu compr "
			   "%llu/%llu objs %llu/%llu",
			   (unsigned long long)nr_stored, (unsigned long long)z->nr_stored,
			   (unsigned long long)same, (unsigned long long)z->same_pages,
			   (unsigned long long)huge, (unsigned long long)z->huge_pages,
			   (unsigned long long)compr, (unsigned long long)z->compr_data_size,
			   (unsigned long long)objs, (unsigned long long)ps.nr_objs);
		return -EUCLEAN;
	}
	return zs_check_invariants(z->pool, err, err_len);
}
