/* SPDX-License-Identifier: MIT */
/*
 * tier.h - what the tier backend (tier.c) shows beyond the ops table: the
 * statistics of each tier, for tests and benchmarks.
 */
#ifndef USWAP_BACKEND_TIER_H
#define USWAP_BACKEND_TIER_H

#include "backend/backend.h"

struct tier_stat {
	struct backend_stat ram;       /* the compressed store (zram) */
	struct backend_stat file;      /* the file device */
	uint64_t nr_writeback;         /* pages written back from the store to the file */
	uint64_t nr_writeback_batches; /* write_batch() calls of writeback */
	uint64_t nr_direct;            /* pages written to the file because the store was full */
	uint64_t nr_ram_reads;         /* reads served by the store */
	uint64_t nr_file_reads;        /* reads served by the file */
	uint64_t table_bytes;          /* the tier's own slot-state table */
};

/* tier_stat_get - @priv is a tier backend instance.  Context: any.  Return: 0. */
int tier_stat_get(void *priv, struct tier_stat *ts);

#endif /* USWAP_BACKEND_TIER_H */
