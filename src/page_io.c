/* SPDX-License-Identifier: MIT */
/*
 * page_io.c - reads and writes of swap slots; the only caller of backends.
 *
 * kernel: mm/page_io.c (swap_read_folio, swap_writepage).
 *
 * Every page written carries an xxh3-64 hash of its content.  Backends that
 * keep it hand it back on read, and a page whose hash does not match is
 * reported as -EIO: the fault path then poisons the page (SIGBUS for that
 * page only) instead of mapping wrong data.  The same hash lets reclaim see
 * that a page it is evicting still equals its slot's copy (swap_matches), so
 * clean pages are not compressed again.
 */
#include <errno.h>
#include <string.h>
#include <xxhash.h>

#include "internal.h"

uint64_t page_hash(const void *page)
{
	return XXH3_64bits(page, PAGE_SIZE);
}

bool page_is_zero(const void *page)
{
	const uint64_t *w = page;
	/* Early exit on the first non-zero word: most evicted pages are not zero. */
	for (size_t i = 0; i < PAGE_SIZE / 8; i += 8) {
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7])
			return false;
	}
	return true;
}

/* Fault injection (tests): counts down; the call that reaches 1 fails with -EIO. */
static bool inject(_Atomic long *counter)
{
	long v = atomic_load_explicit(counter, memory_order_relaxed);
	while (v > 0) {
		if (atomic_compare_exchange_weak(counter, &v, v - 1))
			return v == 1;
	}
	return false;
}

/*
 * swap_read_folio - read slot @e of @si into @page (4 KiB, not managed memory).
 * Context: slot @e locked by the caller; device pinned.  May be called from
 * a SIGBUS handler.
 * Return: 0; -EIO (backend error, empty slot or checksum mismatch).
 */
int swap_read_folio(struct uswap_ctx *ctx, struct swap_info *si, swp_entry_t e, void *page)
{
	uint64_t hash = 0;
	bool valid = false;
	int rc;

	if (inject(&si->inject_read_fail))
		return -EIO;
	rc = si->ops->read(si->priv, swp_offset(e), page, &hash, &valid);
	if (rc) {
		uswap_log(ctx, USWAP_LOG_ERR, "swap read %s slot %llu: error %d", si->spec,
			  (unsigned long long)swp_offset(e), rc);
		return -EIO;
	}
	if (valid && page_hash(page) != hash) {
		uswap_log(ctx, USWAP_LOG_ERR, "swap read %s slot %llu: checksum mismatch", si->spec,
			  (unsigned long long)swp_offset(e));
		return -EIO;
	}
	return 0;
}

/*
 * swap_write_folio - store @page in slot @e.
 * Context: slot @e locked.  Return: 0, -ENOSPC (device full), -EIO.
 */
int swap_write_folio(struct uswap_ctx *ctx, struct swap_info *si, swp_entry_t e, const void *page)
{
	int rc;

	if (inject(&si->inject_write_fail))
		return -EIO;
	rc = si->ops->write(si->priv, swp_offset(e), page, page_hash(page));
	if (rc == -ENOSPC) {
		atomic_store(&si->full, true);
		return rc;
	}
	if (rc) {
		uswap_log(ctx, USWAP_LOG_ERR, "swap write %s slot %llu: error %d", si->spec,
			  (unsigned long long)swp_offset(e), rc);
		return -EIO;
	}
	return 0;
}

/*
 * swap_read_batch - read the @n slots @e[i] of @si into @pages[i] with one
 * submission when the backend can (read_batch), else one by one; every page
 * is checked as swap_read_folio checks it.  @rc[i]: 0 or -EIO.
 * Context: the slots locked; device pinned.  Return: 0 if all were read.
 */
int swap_read_batch(struct uswap_ctx *ctx, struct swap_info *si, unsigned int n,
		    const swp_entry_t *e, void *const *pages, int *rc)
{
	uint64_t slots[BK_MAX_BATCH], hash[BK_MAX_BATCH];
	bool valid[BK_MAX_BATCH];
	int ret = 0;

	if (!si->ops->read_batch || n < 2) {
		for (unsigned int i = 0; i < n; i++)
			ret |= rc[i] = swap_read_folio(ctx, si, e[i], pages[i]);
		return ret ? -EIO : 0;
	}
	for (unsigned int i = 0; i < n; i++) {
		slots[i] = swp_offset(e[i]);
		valid[i] = false;
	}
	si->ops->read_batch(si->priv, n, slots, pages, hash, valid, rc);
	for (unsigned int i = 0; i < n; i++) {
		if (!rc[i] && inject(&si->inject_read_fail))
			rc[i] = -EIO;
		if (rc[i]) {
			uswap_log(ctx, USWAP_LOG_ERR, "swap read %s slot %llu: error %d", si->spec,
				  (unsigned long long)slots[i], rc[i]);
			rc[i] = -EIO;
		} else if (valid[i] && page_hash(pages[i]) != hash[i]) {
			uswap_log(ctx, USWAP_LOG_ERR, "swap read %s slot %llu: checksum mismatch",
				  si->spec, (unsigned long long)slots[i]);
			rc[i] = -EIO;
		}
		ret |= rc[i];
	}
	count_event(ctx, NULL, swap_read_batches, 1);
	return ret ? -EIO : 0;
}

/*
 * swap_write_batch - store @pages[i] in the @n slots @e[i] of @si, with one
 * submission when the backend can (write_batch).  @rc[i]: 0, -ENOSPC, -EIO.
 * Context: the slots locked.  Return: 0 if all were written.
 */
int swap_write_batch(struct uswap_ctx *ctx, struct swap_info *si, unsigned int n,
		     const swp_entry_t *e, const void *const *pages, int *rc)
{
	uint64_t slots[BK_MAX_BATCH], hash[BK_MAX_BATCH];
	int ret = 0;

	if (!si->ops->write_batch || n < 2) {
		for (unsigned int i = 0; i < n; i++)
			ret |= rc[i] = swap_write_folio(ctx, si, e[i], pages[i]);
		return ret ? -EIO : 0;
	}
	for (unsigned int i = 0; i < n; i++) {
		slots[i] = swp_offset(e[i]);
		hash[i] = page_hash(pages[i]);
	}
	si->ops->write_batch(si->priv, n, slots, pages, hash, rc);
	for (unsigned int i = 0; i < n; i++) {
		if (!rc[i] && inject(&si->inject_write_fail))
			rc[i] = -EIO;
		if (rc[i] == -ENOSPC) {
			atomic_store(&si->full, true);
		} else if (rc[i]) {
			uswap_log(ctx, USWAP_LOG_ERR, "swap write %s slot %llu: error %d", si->spec,
				  (unsigned long long)slots[i], rc[i]);
			rc[i] = -EIO;
		}
		ret |= rc[i];
	}
	count_event(ctx, NULL, swap_write_batches, 1);
	return ret ? -EIO : 0;
}

void swap_discard(struct uswap_ctx *ctx, struct swap_info *si, swp_entry_t e)
{
	(void)ctx;
	si->ops->discard(si->priv, swp_offset(e));
}

/* Return: 1 if slot @e holds exactly @page, 0 otherwise (also when the backend cannot tell). */
int swap_matches(struct uswap_ctx *ctx, struct swap_info *si, swp_entry_t e, const void *page)
{
	(void)ctx;
	if (!si->ops->matches)
		return 0;
	return si->ops->matches(si->priv, swp_offset(e), page, page_hash(page)) == 1;
}

int ctx_test_inject_error(struct uswap_ctx *ctx, int dev, bool read, long nth)
{
	struct swap_info *si;

	if (dev < 0 || dev >= MAX_SWAPFILES || !(si = atomic_load(&ctx->swap_info[dev])))
		return -EINVAL;
	atomic_store(read ? &si->inject_read_fail : &si->inject_write_fail, nth);
	return 0;
}
