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
