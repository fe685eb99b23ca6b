/* SPDX-License-Identifier: MIT */
/* helper_fake.c - fake MMU and fake backend (see helper_fake.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helper_fake.h"

struct fake_mmu fake;

static size_t page_of(uintptr_t a)
{
	return (a - (uintptr_t)fake.mem) >> PAGE_SHIFT;
}

static bool in_region(uintptr_t a)
{
	return a >= (uintptr_t)fake.mem && a < (uintptr_t)fake.mem + (fake.nr_pages << PAGE_SHIFT);
}

static int f_map_copy(struct uswap_ctx *ctx, uintptr_t dst, const void *src, size_t len, bool wp,
		      size_t *mapped)
{
	(void)ctx;
	if (mapped)
		*mapped = 0;
	if (fake.copy_eagain > 0) {
		fake.copy_eagain--;
		return -EAGAIN;
	}
	for (size_t off = 0; off < len; off += PAGE_SIZE) {
		size_t p = page_of(dst + off);
		if (mapped)
			*mapped = off;
		if (!in_region(dst + off))
			return -ENOENT;
		if (fake.present[p])
			return -EEXIST;
		memcpy(fake.mem + (p << PAGE_SHIFT), (const char *)src + off, PAGE_SIZE);
		fake.present[p] = 1;
		fake.wp[p] = wp;
		fake.written[p] = 0;
		fake.poisoned[p] = 0;
	}
	if (mapped)
		*mapped = len;
	fake.nr_copy++;
	fake.nr_copied_pages += len / PAGE_SIZE;
	return 0;
}

static int f_map_zero(struct uswap_ctx *ctx, uintptr_t dst, size_t len, size_t *mapped)
{
	static _Alignas(4096) const unsigned char zero[PAGE_SIZE];
	for (size_t off = 0; off < len; off += PAGE_SIZE) {
		int rc = f_map_copy(ctx, dst + off, zero, PAGE_SIZE, false, NULL);
		if (mapped)
			*mapped = off;
		if (rc)
			return rc;
	}
	if (mapped)
		*mapped = len;
	fake.nr_zero++;
	return 0;
}

static long f_move_out(struct uswap_ctx *ctx, void *dst, uintptr_t src, size_t len)
{
	size_t done = 0;
	(void)ctx;
	fake.nr_move_calls++;
	for (; done < len; done += PAGE_SIZE) {
		size_t p = page_of(src + done);
		if (!fake.present[p] || (int)p == fake.fail_move_at)
			break;
		memcpy((char *)dst + done, fake.mem + (p << PAGE_SHIFT), PAGE_SIZE);
		memset(fake.mem + (p << PAGE_SHIFT), 0xAB, PAGE_SIZE); /* catch reads of moved pages */
		fake.present[p] = 0;
		fake.nr_moved_pages++;
	}
	return done ? (long)done : -ENOENT;
}

static int f_move_in(struct uswap_ctx *ctx, uintptr_t dst, void *src, size_t len, size_t *mapped)
{
	int rc = f_map_copy(ctx, dst, src, len, false, mapped);
	size_t done = mapped ? *mapped : (rc ? 0 : len);

	if (!rc) { /* a move, not a copy */
		fake.nr_copy--;
		fake.nr_copied_pages -= len / PAGE_SIZE;
	}
	memset(src, 0xAB, done); /* the frames are empty now: catch reads of them */
	fake.nr_moved_in_pages += done >> PAGE_SHIFT;
	return rc;
}

static int f_poison(struct uswap_ctx *ctx, uintptr_t dst, size_t len)
{
	(void)ctx;
	for (size_t off = 0; off < len; off += PAGE_SIZE) /* as UFFDIO_POISON: not over a page */
		if (fake.present[page_of(dst + off)])
			return -EEXIST;
	for (size_t off = 0; off < len; off += PAGE_SIZE)
		fake.poisoned[page_of(dst + off)] = 1;
	fake.nr_poison++;
	return 0;
}

static int f_wake(struct uswap_ctx *ctx, uintptr_t a, size_t len)
{
	(void)ctx;
	(void)a;
	(void)len;
	fake.nr_wake++;
	return 0;
}

static int f_wp(struct uswap_ctx *ctx, uintptr_t a, size_t len, bool on)
{
	(void)ctx;
	for (size_t off = 0; off < len; off += PAGE_SIZE)
		fake.wp[page_of(a + off)] = on;
	return 0;
}

static int f_scan(struct uswap_ctx *ctx, uintptr_t addr, size_t n, uint64_t *written)
{
	(void)ctx;
	for (size_t i = 0; i < n; i++)
		if (fake.written[page_of(addr) + i])
			written[i / 64] |= 1ULL << (i % 64);
	return 0;
}

static int f_zap(struct uswap_ctx *ctx, uintptr_t a, size_t len)
{
	(void)ctx;
	for (size_t off = 0; off < len; off += PAGE_SIZE)
		fake.present[page_of(a + off)] = 0;
	return 0;
}

static int f_reg(struct uswap_ctx *ctx, uintptr_t a, size_t len)
{
	(void)ctx;
	(void)a;
	(void)len;
	return 0;
}

static int f_release(struct uswap_ctx *ctx, const struct iovec *runs, unsigned int n)
{
	(void)ctx;
	for (unsigned int i = 0; i < n; i++) {
		/* a released frame must never be read again */
		memset(runs[i].iov_base, 0xDB, runs[i].iov_len);
		fake.nr_release += runs[i].iov_len >> PAGE_SHIFT;
	}
	return 0;
}

const struct mmu_ops fake_mmu_ops = {
	.map_copy = f_map_copy,
	.map_zero = f_map_zero,
	.move_out = f_move_out,
	.move_in = f_move_in,
	.poison = f_poison,
	.wake = f_wake,
	.writeprotect = f_wp,
	.scan_written = f_scan,
	.zap = f_zap,
	.reg = f_reg,
	.unreg = f_reg,
	.pool_release = f_release,
};

/* ---- fake backend: pages kept verbatim, with their hash ---- */
struct fb {
	uint64_t nr;
	unsigned char *data;
	uint64_t *hash;
	uint8_t *used;
	uint64_t stored;
	unsigned long writes, reads;
};
static struct fb *the_fb;

static int fb_create(const char *args, void **priv, uint64_t *nr_slots, char *err, size_t len)
{
	struct fb *b = calloc(1, sizeof(*b));
	b->nr = strtoull(args, NULL, 0);
	if (!b->nr) {
		snprintf(err, len, "fake: need a slot count");
		free(b);
		return -EINVAL;
	}
	b->data = calloc(b->nr, PAGE_SIZE);
	b->hash = calloc(b->nr, sizeof(uint64_t));
	b->used = calloc(b->nr, 1);
	*priv = b;
	*nr_slots = b->nr;
	the_fb = b;
	return 0;
}

static void fb_destroy(void *p)
{
	struct fb *b = p;
	free(b->data);
	free(b->hash);
	free(b->used);
	if (the_fb == b)
		the_fb = NULL;
	free(b);
}

static int fb_write(void *p, uint64_t slot, const void *page, uint64_t hash)
{
	struct fb *b = p;
	if (!b->used[slot])
		b->stored++;
	memcpy(b->data + slot * PAGE_SIZE, page, PAGE_SIZE);
	b->hash[slot] = hash;
	b->used[slot] = 1;
	b->writes++;
	return 0;
}

static int fb_read(void *p, uint64_t slot, void *page, uint64_t *hash, bool *valid)
{
	struct fb *b = p;
	if (!b->used[slot])
		return -ENOENT;
	memcpy(page, b->data + slot * PAGE_SIZE, PAGE_SIZE);
	*hash = b->hash[slot];
	*valid = true;
	b->reads++;
	return 0;
}

static int fb_discard(void *p, uint64_t slot)
{
	struct fb *b = p;
	if (b->used[slot])
		b->stored--;
	b->used[slot] = 0;
	return 0;
}

static int fb_matches(void *p, uint64_t slot, const void *page, uint64_t hash)
{
	struct fb *b = p;
	(void)page;
	if (!b->used[slot])
		return -ENOENT;
	return b->hash[slot] == hash;
}

static int fb_stat(void *p, struct backend_stat *st)
{
	struct fb *b = p;
	st->nr_stored = b->stored;
	st->orig_data_size = b->stored * PAGE_SIZE;
	return 0;
}

const struct swap_backend_ops fake_backend_ops = {
	.name = "fake",
	.flags = BK_SYNCHRONOUS,
	.create = fb_create,
	.destroy = fb_destroy,
	.write = fb_write,
	.read = fb_read,
	.discard = fb_discard,
	.matches = fb_matches,
	.stat = fb_stat,
};

uint64_t fake_backend_nr_stored(void)
{
	return the_fb ? the_fb->stored : 0;
}
unsigned long fake_backend_writes(void)
{
	return the_fb ? the_fb->writes : 0;
}
unsigned long fake_backend_reads(void)
{
	return the_fb ? the_fb->reads : 0;
}
/* Batched ops for the asynchronous variant: per-page ops, counted as one submission. */
static unsigned long fb_read_batches, fb_write_batches;
static int fb_read_batch(void *p, unsigned int n, const uint64_t *slots, void *const *pages,
			 uint64_t *hashes, bool *valid, int *rc)
{
	int ret = 0;
	fb_read_batches++;
	for (unsigned int i = 0; i < n; i++)
		ret = ret ? ret : (rc[i] = fb_read(p, slots[i], pages[i], &hashes[i], &valid[i]));
	return ret;
}
void (*fake_write_hook)(const uint64_t *slots, unsigned int n);

static int fb_write_batch(void *p, unsigned int n, const uint64_t *slots, const void *const *pages,
			  const uint64_t *hashes, int *rc)
{
	int ret = 0;
	fb_write_batches++;
	if (fake_write_hook) /* "while the device writes": the pages are in flight */
		fake_write_hook(slots, n);
	for (unsigned int i = 0; i < n; i++)
		ret = ret ? ret : (rc[i] = fb_write(p, slots[i], pages[i], hashes[i]));
	return ret;
}
unsigned long fake_backend_batches(bool read)
{
	return read ? fb_read_batches : fb_write_batches;
}

/* The same store, as a device that is not synchronous (a file, an SSD). */
const struct swap_backend_ops fake_async_backend_ops = {
	.name = "fakeasync",
	.flags = 0,
	.create = fb_create,
	.destroy = fb_destroy,
	.write = fb_write,
	.read = fb_read,
	.discard = fb_discard,
	.matches = fb_matches,
	.stat = fb_stat,
	.read_batch = fb_read_batch,
	.write_batch = fb_write_batch,
};

void fake_backend_corrupt(uint64_t slot)
{
	the_fb->data[slot * PAGE_SIZE + 100] ^= 0x5a;
}

const struct swap_backend_ops *fake_device_ops = &fake_backend_ops;

struct uswap_ctx *fake_setup(size_t nr_pages, uint64_t limit_pages, uint64_t nr_slots,
			     struct region **rp)
{
	struct uswap_opts o = { .size = sizeof(o), .limit_bytes = limit_pages << PAGE_SHIFT };
	struct uswap_ctx *ctx;
	char args[32];
	void *addr;

	memset(&fake, 0, sizeof(fake));
	fake.fail_move_at = -1;
	fake.nr_pages = nr_pages;
	fake.mem = aligned_alloc(PAGE_SIZE, nr_pages << PAGE_SHIFT);
	fake.present = calloc(nr_pages, 1);
	fake.written = calloc(nr_pages, 1);
	fake.wp = calloc(nr_pages, 1);
	fake.poisoned = calloc(nr_pages, 1);
	CHECK_EQ(ctx_create_with_mmu(&o, &fake_mmu_ops, &ctx), 0);
	snprintf(args, sizeof(args), "%llu", (unsigned long long)nr_slots);
	CHECK_EQ(swap_device_add_ops(ctx, fake_device_ops, args, "fake", 0, NULL), 0);
	addr = fake.mem;
	CHECK_EQ(uswap_mmap(ctx, NULL, nr_pages << PAGE_SHIFT, &addr), 0);
	CHECK(addr == fake.mem);
	*rp = region_lookup(ctx, (uintptr_t)fake.mem);
	CHECK(*rp != NULL);
	return ctx;
}

void fake_teardown(struct uswap_ctx *ctx)
{
	CHECK_EQ(ctx_check_invariants(ctx), 0);
	CHECK_EQ(uswap_munmap(ctx, fake.mem, fake.nr_pages << PAGE_SHIFT), 0);
	CHECK_EQ(ctx_check_invariants(ctx), 0);
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
	free(fake.mem);
	free(fake.present);
	free(fake.written);
	free(fake.wp);
	free(fake.poisoned);
}

int fake_touch(struct uswap_ctx *ctx, struct region *r, size_t idx, bool write)
{
	int rc = 0;
	if (!fake.present[idx])
		rc = handle_fault(ctx, region_addr(r, idx), write ? FAULT_WRITE : 0);
	if (write && fake.present[idx] && fake.wp[idx]) {
		/* WP_ASYNC: the kernel resolves the write and records it. */
		fake.wp[idx] = 0;
		fake.written[idx] = 1;
	}
	return rc;
}
