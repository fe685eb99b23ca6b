/* SPDX-License-Identifier: MIT */
/*
 * helper_fake.h - a fake MMU and a fake backend for unit tests: the core's
 * modules run against plain memory, with every MMU operation and backend
 * call recorded, and failures injectable.
 */
#ifndef USWAP_HELPER_FAKE_H
#define USWAP_HELPER_FAKE_H
#include "internal.h"

struct fake_mmu {
	unsigned char *mem;   /* the "program" region */
	size_t nr_pages;
	uint8_t *present;     /* per page: mapped in the fake MMU */
	uint8_t *written;     /* per page: written since mapped write-protected */
	uint8_t *wp;	      /* per page: mapped write-protected */
	uint8_t *poisoned;
	unsigned long nr_zero, nr_copy, nr_copied_pages, nr_move_calls, nr_moved_pages, nr_moved_in_pages, nr_poison, nr_wake, nr_release;
	int fail_move_at;     /* page index where MOVE stops (-1: none) */
	int copy_eagain;      /* next N copies fail with -EAGAIN */
};

extern const struct mmu_ops fake_mmu_ops;
extern const struct swap_backend_ops fake_backend_ops;
extern struct fake_mmu fake;

/* Build a context over the fake MMU with one region of @nr_pages and a fake device of @nr_slots. */
struct uswap_ctx *fake_setup(size_t nr_pages, uint64_t limit_pages, uint64_t nr_slots,
			     struct region **rp);
void fake_teardown(struct uswap_ctx *ctx);
/* Program access to page @idx: faults through handle_fault when not present. Return fault rc. */
int fake_touch(struct uswap_ctx *ctx, struct region *r, size_t idx, bool write);
/* fake backend introspection */
uint64_t fake_backend_nr_stored(void);
unsigned long fake_backend_writes(void);
unsigned long fake_backend_reads(void);
void fake_backend_corrupt(uint64_t slot);
/* The asynchronous variant (read_batch/write_batch), and batches submitted. */
extern const struct swap_backend_ops fake_async_backend_ops;
unsigned long fake_backend_batches(bool read);
/* Called by the asynchronous fake's write_batch before it stores the pages. */
extern void (*fake_write_hook)(const uint64_t *slots, unsigned int n);
/* The device fake_setup() adds (default: the synchronous fake). */
extern const struct swap_backend_ops *fake_device_ops;
#endif
