/* SPDX-License-Identifier: MIT */
/*
 * backend.h - the contract between uswap's core (page_io.c) and a swap backend.
 *
 * kernel: the role of struct swap_info_struct's bdev plus zram's block ops.
 *
 * A backend stores 4 KiB pages in numbered slots [0, nr_slots).  The core owns
 * slot allocation (swapfile.c); a backend never chooses a slot.  Only page_io.c
 * calls these ops.  Adding a backend touches no core file: add a file in
 * src/backend/, an ops table, and a line in backend_registry.c.
 *
 * Concurrency: every op except create/destroy may be called concurrently from
 * several threads, always on distinct slots (the core's slot table serialises
 * users of one slot).  read() may be called from a SIGBUS handler in signal
 * delivery mode: on that path it must not call malloc, take a lock that the
 * interrupted thread could hold, or block indefinitely.
 *
 * Errors are -errno: -EINVAL bad argument or spec, -ENOSPC store full,
 * -EIO data could not be read or written, -ENOENT slot empty,
 * -EOPNOTSUPP op not provided.
 *
 * Integrity: the core passes an xxh3-64 hash of each page to write().  A
 * backend that can keep it (zram keeps it in the object header) returns it
 * from read() with *hash_valid = true, and the core verifies the page against
 * it: a mismatch poisons the page, it is never mapped.  A backend that stores
 * the page in a form that cannot be silently corrupted (a same-filled word)
 * may return *hash_valid = false.
 */
#ifndef USWAP_BACKEND_H
#define USWAP_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define USWAP_PAGE_SIZE 4096u

/* ops->flags */
#define BK_SYNCHRONOUS (1u << 0)  /* read/write complete in the caller: SWP_SYNCHRONOUS_IO */
#define BK_STABLE_WRITES (1u << 1) /* page must not change while write() runs */
#define BK_RAM (1u << 2)           /* the store lives in RAM: a kept clean copy costs memory */

#define BK_MAX_BATCH 64 /* most slots in one read_batch / write_batch */

/* mm_stat-like statistics (names follow zram's /sys/block/zramN/mm_stat). */
struct backend_stat {
	uint64_t orig_data_size;   /* bytes of pages stored (nr stored pages * 4096) */
	uint64_t compr_data_size;  /* bytes of compressed payload (excluding headers) */
	uint64_t mem_used_total;   /* bytes of memory the store really uses (allocator pages + tables) */
	uint64_t mem_limit;        /* store limit in bytes, 0 = none */
	uint64_t mem_used_max;     /* peak of mem_used_total */
	uint64_t same_pages;       /* slots holding a same-filled page (no allocation) */
	uint64_t pages_compacted;  /* allocator pages freed by compaction, cumulative */
	uint64_t huge_pages;       /* slots stored raw (incompressible) */
	uint64_t huge_pages_since; /* raw stores since creation, cumulative */
	uint64_t meta_bytes;       /* per-slot tables and other metadata, included in mem_used_total */
	uint64_t slot_table_bytes; /* of meta_bytes: the per-slot table alone */
	uint64_t nr_stored;        /* slots currently holding data */
	/* I/O to a backing device (0 for a store in RAM): what the device really
	 * wrote and read, to measure bytes written per page evicted. */
	uint64_t bytes_written;    /* bytes written to the device, cumulative */
	uint64_t bytes_read;       /* bytes read from the device, cumulative */
	uint64_t writes;           /* pages written to the device, cumulative */
	uint64_t reads;            /* pages read from the device, cumulative */
};

struct swap_backend_ops {
	const char *name; /* spec prefix, e.g. "zram" */
	unsigned int flags;

	/*
	 * create - parse @args (the spec after "name:", e.g. "lz4:size=4G") and
	 * build an instance.  Return: 0 with *priv and *nr_slots set, or -EINVAL
	 * (bad spec; the message goes to @err, a buffer of @err_len bytes),
	 * -ENOMEM.
	 */
	int (*create)(const char *args, void **priv, uint64_t *nr_slots, char *err, size_t err_len);
	void (*destroy)(void *priv);

	/* write - store @page (4096 bytes) in @slot, replacing what was there. */
	int (*write)(void *priv, uint64_t slot, const void *page, uint64_t hash);
	/* read - fill @page from @slot; *hash is the hash given to write(). */
	int (*read)(void *priv, uint64_t slot, void *page, uint64_t *hash, bool *hash_valid);
	/* discard - forget @slot; its memory or space is released. */
	int (*discard)(void *priv, uint64_t slot);
	/*
	 * matches - does @slot hold exactly @page (whose hash is @hash)?
	 * Return: 1 yes, 0 no, -ENOENT empty, -EOPNOTSUPP cannot tell cheaply.
	 * Lets reclaim evict a clean page without writing it again.
	 */
	int (*matches)(void *priv, uint64_t slot, const void *page, uint64_t hash);
	int (*stat)(void *priv, struct backend_stat *st);
	/*
	 * read_batch / write_batch (optional; devices without BK_SYNCHRONOUS
	 * should provide them) - @n slots in one submission to the device, all
	 * complete when the call returns.  Page i is @pages[i]; @rc[i] gets its
	 * result (as read()/write() would return).  read_batch fills @hashes[i]
	 * and @hash_valid[i].  Return: 0 if every page succeeded, else the first
	 * error (the others are still done).  @n <= BK_MAX_BATCH.
	 */
	int (*read_batch)(void *priv, unsigned int n, const uint64_t *slots, void *const *pages,
			  uint64_t *hashes, bool *hash_valid, int *rc);
	int (*write_batch)(void *priv, unsigned int n, const uint64_t *slots,
			   const void *const *pages, const uint64_t *hashes, int *rc);
	/* compact - defragment the store. Return: pages freed, or -errno. */
	long (*compact)(void *priv);
	/* check_invariants - whole-structure check for tests (optional).
	 * Context: no concurrent op.  Return: 0, or -EUCLEAN with a reason in @err. */
	int (*check_invariants)(void *priv, char *err, size_t err_len);
};

/* backend_registry.c */
const struct swap_backend_ops *backend_lookup(const char *name, size_t name_len);

extern const struct swap_backend_ops zram_backend_ops;
extern const struct swap_backend_ops file_backend_ops;
extern const struct swap_backend_ops tier_backend_ops;
int zram_check_invariants(void *priv, char *err, size_t err_len);

/* Format a message into @err (@err_len bytes; either may be 0/NULL) and return @ret:
 * the one way backends report a bad spec or a broken invariant. */
__attribute__((format(printf, 4, 5))) int backend_error(int ret, char *err, size_t err_len,
							  const char *fmt, ...);

/* Parse "4G", "512M", "4096", "1k" into bytes.  Return: 0 or -EINVAL (also on overflow). */
int backend_parse_size(const char *s, uint64_t *bytes);

#endif /* USWAP_BACKEND_H */
