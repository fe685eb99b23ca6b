/* SPDX-License-Identifier: MIT */
/*
 * fork.c - fork(2) of a process with managed memory.
 *
 * kernel: kernel/fork.c (dup_mmap) and fs/userfaultfd.c (dup_userfaultfd).
 *
 * uswap's userfaultfd does not ask for fork events, so the kernel gives the
 * child its managed ranges unregistered: pages the parent had resident are
 * shared copy-on-write as usual, and pages uswap had swapped out would read
 * as zeroes.  The child has no uswap threads either.  So the child makes its
 * copy whole before it runs on: every swapped page is read from the child's
 * copy of the swap devices (or of the swap cache frame) into its address,
 * and from then on the memory is plain memory.  (Following the child with
 * its own context, lazily, is the better design; it needs fork events.)
 *
 * The copy is consistent if no eviction is half done at the fork: an
 * evicted page leaves the program before its PTE says so.  So
 * uswap_fork_prepare takes the eviction lock for writing; evictions hold it
 * for reading (vmscan.c).  A swap-in half done is fine: its slot still holds
 * the data, and if the page is already in the child's page table it is kept.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

int uswap_fork_prepare(struct uswap_ctx *ctx)
{
	if (!ctx)
		return -EINVAL;
	pthread_rwlock_wrlock(&ctx->evict_lock);
	return 0;
}

void uswap_fork_parent(struct uswap_ctx *ctx)
{
	if (ctx)
		pthread_rwlock_unlock(&ctx->evict_lock);
}

/* Make page @idx of @r whole in the child.  Return: 0, or -EIO if its data is lost. */
static int child_fill_page(struct uswap_ctx *ctx, struct region *r, size_t idx, int pagemap_fd,
			   void *buf)
{
	pte_t pte = pte_read(r, idx) & ~(PTE_LOCKED | PTE_WAITERS);
	void *addr = (void *)region_addr(r, idx);

	if (pte_is_marker(pte) && pte_marker_kind(pte) == MARKER_POISON) {
		sys_mmap(addr, PAGE_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		return -EIO;
	}
	if (!pte_is_swap(pte) || sys_pagemap_has(pagemap_fd, (uintptr_t)addr, false) > 0)
		return 0;
	swp_entry_t e = pte_to_swp_entry(pte);
	swp_tb_t t = atomic_load(swap_table_word(ctx, e));
	if (swp_tb_kind(t) == SLOT_CACHE) {
		memcpy(addr, frame_addr(&ctx->pool, (uint32_t)swp_tb_payload(t)), PAGE_SIZE);
		return 0;
	}
	struct swap_info *si = atomic_load(&ctx->swap_info[swp_type(e)]);
	if (si && !swap_read_folio(ctx, si, e, buf)) {
		memcpy(addr, buf, PAGE_SIZE);
		return 0;
	}
	/* Unreadable: never hand the child zeroes for data. */
	sys_mmap(addr, PAGE_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	return -EIO;
}

int uswap_fork_child(struct uswap_ctx *ctx)
{
	struct region_table *t;
	int rc = 0, pagemap_fd;

	if (!ctx)
		return -EINVAL;
	/* Only this thread exists in the child: nothing else can move a page. */
	pthread_rwlock_unlock(&ctx->evict_lock);
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	t = atomic_load(&ctx->regions);
	for (size_t i = 0; t && i < t->nr; i++) {
		struct region *r = t->r[i];
		if (atomic_load(&r->dead))
			continue;
		for (size_t idx = 0; idx < r->nr_pages; idx++)
			if (child_fill_page(ctx, r, idx, pagemap_fd, thread_scratch_page()))
				rc = -EIO;
	}
	if (pagemap_fd >= 0)
		close(pagemap_fd);
	/* The parent's descriptors: the child has no use for them. */
	uffd_close(ctx);
	if (ctx->stop_efd >= 0)
		close(ctx->stop_efd);
	ctx->stop_efd = -1;
	atomic_store(&ctx->forked_child, true);
	return rc;
}
