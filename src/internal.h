/* SPDX-License-Identifier: MIT */
/*
 * internal.h - uswap's internal types and cross-file prototypes, grouped by
 * the file that implements them.
 *
 * Lock order (outer first):
 *   ctx->regions_lock (rwlock; readers never take it on the fault path)
 *     page lock (PTE_LOCKED bit of a software PTE; one page at a time,
 *                except reclaim, which only ever try-locks)
 *       slot lock (SWP_TB_BUSY bit of a swap table word)
 *         group->lru_lock (inactive list)
 *         si->lock (cluster lists), si->lanes[].lock
 *         pool->lock (frame allocator)
 * Nothing sleeps on I/O while holding a mutex; only page and slot locks are
 * held across backend I/O, and they are waited on with futexes.
 */
#ifndef USWAP_INTERNAL_H
#define USWAP_INTERNAL_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "uswap.h"
#include "swap_entry.h"
#include "sys.h"
#include "backend/backend.h"

#define PAGE_SIZE 4096UL
#define PAGE_SHIFT 12
#define SWAPFILE_CLUSTER 512 /* slots per cluster (kernel: SWAPFILE_CLUSTER) */
#define NR_ALLOC_LANES 8     /* per-thread allocation lanes per device */
#define MAX_GROUPS 255
#define RECLAIM_BATCH 32     /* pages per unmap/compress/free batch */
#define POOL_WARM_MAX 256 /* warm frames kept populated (1 MiB) */
#define RA_MAX 32	     /* readahead window limit, pages */
#define RA_MAX_STRIDE 4096 /* largest stride read ahead, pages */
#define RA_HIST 8	     /* recent faults the trend detector votes over */
#define RA_STREAMS 4	     /* sequential streams tracked per region */

#define min_t(a, b) ((a) < (b) ? (a) : (b))
#define max_t(a, b) ((a) > (b) ? (a) : (b))
#define unlikely(x) __builtin_expect(!!(x), 0)
#define likely(x) __builtin_expect(!!(x), 1)
#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() __asm__ __volatile__("" ::: "memory")
#endif

/* ---- vmstat.c ---------------------------------------------------------- */
enum vm_event_item {
#define EVENT(n) EV_##n,
#define GAUGE(n)
#include "vmstat_items.h"
#undef EVENT
#undef GAUGE
	NR_VM_EVENTS
};
enum vm_gauge_item {
#define EVENT(n)
#define GAUGE(n) GAUGE_##n,
#include "vmstat_items.h"
#undef EVENT
#undef GAUGE
	NR_VM_GAUGES
};
_Static_assert(NR_VM_EVENTS + NR_VM_GAUGES <= USWAP_NR_STATS, "too many counters");

struct vm_events {
	_Atomic uint64_t ev[NR_VM_EVENTS];
};

struct uswap_ctx;
struct uswap_group;
struct region;

/* ---- the MMU: uffd.c (real), tests/unit/fake_mmu.c (fake) -------------- */
struct mmu_ops {
	/* Map @len bytes at @dst from @src (UFFDIO_COPY).  0, -EEXIST, -EAGAIN, -ENOENT, -ENOMEM;
	 * on an error *@mapped (if not NULL) says how many bytes were mapped before it. */
	int (*map_copy)(struct uswap_ctx *ctx, uintptr_t dst, const void *src, size_t len, bool wp,
			size_t *mapped);
	/* Map the shared zero page (UFFDIO_ZEROPAGE).  0, -EEXIST, -EAGAIN, -ENOENT; on an
	 * error *@mapped (if not NULL) says how many bytes were mapped before it. */
	int (*map_zero)(struct uswap_ctx *ctx, uintptr_t dst, size_t len, size_t *mapped);
	/* Move @len bytes of present pages at @src into the pool at @dst (UFFDIO_MOVE).
	 * Return: bytes moved (may be short: the page after them is missing or busy), or -errno.
	 * A short count is checked against the page tables (the kernel can under-report). */
	long (*move_out)(struct uswap_ctx *ctx, void *dst, uintptr_t src, size_t len);
	/* Move @len bytes of pool pages at @src into the program at @dst (UFFDIO_MOVE),
	 * waking threads that wait there.  Same returns as map_copy; the pages moved
	 * leave @src empty.  NULL: not available (map_copy is used). */
	int (*move_in)(struct uswap_ctx *ctx, uintptr_t dst, void *src, size_t len, size_t *mapped);
	/* Mark [dst, dst+len) poisoned: access raises SIGBUS (UFFDIO_POISON). */
	int (*poison)(struct uswap_ctx *ctx, uintptr_t dst, size_t len);
	/* Wake threads waiting on faults in the range (UFFDIO_WAKE). */
	int (*wake)(struct uswap_ctx *ctx, uintptr_t addr, size_t len);
	/* Write-protect (or un-protect) a range (UFFDIO_WRITEPROTECT). */
	int (*writeprotect)(struct uswap_ctx *ctx, uintptr_t addr, size_t len, bool wp);
	/* Per page of [addr, addr+npages): set bit i of @written if written since mapped with wp.
	 * Return: 0, -EOPNOTSUPP (no tracking: caller treats all as written). */
	int (*scan_written)(struct uswap_ctx *ctx, uintptr_t addr, size_t npages, uint64_t *written);
	/* Drop program pages (MADV_DONTNEED) for write-protect eviction. */
	int (*zap)(struct uswap_ctx *ctx, uintptr_t addr, size_t len);
	/* Register / unregister a region. */
	int (*reg)(struct uswap_ctx *ctx, uintptr_t addr, size_t len);
	int (*unreg)(struct uswap_ctx *ctx, uintptr_t addr, size_t len);
	/* Release pool pages, @n runs of them (their memory goes back to the OS; the next
	 * move_out may target them).  The runs are released together, so that one TLB
	 * shoot-down serves them all where the kernel can (process_madvise). */
	int (*pool_release)(struct uswap_ctx *ctx, const struct iovec *runs, unsigned int n);
};

/* ---- pgtable.c: regions and software page tables ------------------------ */
struct region {
	uintptr_t start;
	size_t nr_pages;
	_Atomic pte_t *ptes;	    /* nr_pages software PTEs (mmap'd, zero = none) */
	struct uswap_group *group;
	struct region *group_next;  /* group->regions list, under group->regions_lock */
	_Atomic bool dead;	    /* unmapped: faults and reclaim ignore it */
	_Atomic uint64_t nr_holes;  /* pages unmapped by partial munmaps (mremap.c) */
	_Atomic uint64_t nr_zap_events; /* REMOVE/UNMAP events applied (the kernel dropped pages) */
	_Atomic uint64_t nr_present;
	_Atomic uint64_t nr_swapped;
	/* readahead streams (swap_state.c); racy updates only blur the heuristic */
	struct ra_stream {
		_Atomic size_t next;	 /* page where this stream's next fault is expected */
		_Atomic uint32_t win;	 /* current window, pages */
		_Atomic uint32_t last_n; /* pages read ahead by its last fault */
		_Atomic int32_t stride;	 /* pages between its accesses (1: sequential) */
	} ra[RA_STREAMS];
	_Atomic uint32_t ra_victim;
	/* the last major faults not in a stream, for the trend detector */
	_Atomic size_t ra_hist[RA_HIST];
	_Atomic uint32_t ra_hist_pos;
};

struct region_table {
	size_t nr;
	uintptr_t *max_end; /* max_end[i]: the highest end of r[0..i] (regions may overlap: below) */
	struct region *r[]; /* sorted by start; the table is replaced, never edited (lock-free lookup) */
};

struct region *region_lookup(struct uswap_ctx *ctx, uintptr_t addr);
int region_insert(struct uswap_ctx *ctx, struct region *r);
int region_remove(struct uswap_ctx *ctx, struct region *r);
struct region *region_alloc(uintptr_t start, size_t nr_pages, struct uswap_group *g);
/* Map and register a new region (uswap.c); @addr NULL = anywhere, else MAP_FIXED. */
int region_create(struct uswap_ctx *ctx, struct uswap_group *g, void *addr, size_t nr_pages,
		  struct region **rp);
/* Drop every page of @r, unregister and unmap it, free it (uswap.c). */
void region_destroy(struct uswap_ctx *ctx, struct region *r);
/* Unmap the addresses of @r that are still ours (mremap.c). */
void region_unmap_all(struct uswap_ctx *ctx, struct region *r);
void region_free(struct region *r);
static inline uintptr_t region_addr(const struct region *r, size_t idx)
{
	return r->start + (idx << PAGE_SHIFT);
}
pte_t pte_lock(struct region *r, size_t idx);
bool pte_trylock(struct region *r, size_t idx, pte_t *ptep);
void pte_unlock(struct region *r, size_t idx, pte_t newval);
static inline pte_t pte_read(struct region *r, size_t idx)
{
	return atomic_load_explicit(&r->ptes[idx], memory_order_acquire);
}
/* Walk a locked region and drop every page (unmap/REMOVE).  Context: may block on page locks. */
void region_zap_range(struct uswap_ctx *ctx, struct region *r, size_t first, size_t nr, bool from_event);
int region_check_invariants(struct region *r);

/* ---- swap_state.c: page pool (frames) and the swap cache ------------------ */
enum frame_state { FRAME_FREE = 0, FRAME_CACHE, FRAME_ISOLATED, FRAME_WARM };
struct pool_frame {
	swp_entry_t entry;   /* slot this frame caches */
	uint32_t prev, next; /* group inactive list (indices; FRAME_NIL ends) */
	uint8_t state;
	uint8_t group_id;
	uint8_t readahead;   /* read ahead, not yet hit */
	uint8_t clean;       /* backend already holds this content */
	_Atomic uint8_t wb;  /* its write to an asynchronous device is in flight, slot unlocked */
};
#define FRAME_NIL UINT32_MAX

struct page_pool {
	char *base;		 /* nr frames, registered with the pool's own uffd */
	uint32_t nr;
	struct pool_frame *frames;
	pthread_mutex_t lock;	 /* protects bitmap, hint, nr_free, high_water */
	uint64_t *used_bitmap;	 /* bit set = frame in use */
	uint64_t *warm_bitmap;	 /* bit set = free but still holding a page (FRAME_WARM) */
	uint32_t hint;		 /* no empty free frame below this index */
	uint32_t warm_hint;	 /* no warm frame below this index */
	uint32_t nr_free;	 /* empty free frames */
	uint32_t nr_warm;	 /* warm frames (also set in used_bitmap) */
	uint32_t warm_max;	 /* warm frames kept before the oldest are released */
	uint32_t warm_peak;	 /* most warm frames ever */
	uint32_t high_water;	 /* frames [0, high_water) have been used */
};
int pool_init(struct uswap_ctx *ctx, uint32_t nr_frames);
void pool_destroy(struct uswap_ctx *ctx);
uint64_t pool_meta_bytes(struct page_pool *pool);
/* Allocate up to @want contiguous empty frames; returns count (0 if none), *first set. */
uint32_t pool_alloc_run(struct uswap_ctx *ctx, uint32_t want, uint32_t *first);
/* Return frames to the allocator.  Context: caller already released their memory. */
void pool_free_frames(struct page_pool *pool, const uint32_t *idx, uint32_t n);
static inline void *frame_addr(struct page_pool *pool, uint32_t idx)
{
	return pool->base + ((size_t)idx << PAGE_SHIFT);
}
/* Free frames that still hold a page: they become warm (kept populated, up to
 * warm_max, as destinations of swap-ins); beyond that their memory is released. */
void pool_release_frames(struct uswap_ctx *ctx, uint32_t *idx, uint32_t n);
/* Take up to @want contiguous warm frames (populated); returns count, *first set. */
uint32_t pool_alloc_warm_run(struct page_pool *pool, uint32_t want, uint32_t *first);
/* Release the memory of every warm frame (they become empty free frames). */
void pool_drain_warm(struct uswap_ctx *ctx);
/* Swap cache: frames linked from slot words. */
void swap_cache_add_locked(struct uswap_ctx *ctx, struct uswap_group *g, swp_entry_t e, uint32_t frame, bool clean, bool readahead);
void swap_cache_del_locked(struct uswap_ctx *ctx, struct uswap_group *g, uint32_t frame);
/* Readahead window for a major fault at @idx (0: none); *@streamp for swap_ra_record,
 * *@stridep the pages between the stream's accesses (read ahead idx + k * stride). */
unsigned int swap_ra_window(struct uswap_ctx *ctx, struct region *r, size_t idx, int *streamp,
			    int32_t *stridep);
void swap_ra_record(struct region *r, int stream, size_t idx, unsigned int nr_read);
bool swap_cache_isolate_slot(struct uswap_ctx *ctx, struct uswap_group *g, swp_entry_t e,
			     uint32_t *f, swp_tb_t *t);
bool swap_cache_isolate_oldest(struct uswap_ctx *ctx, struct uswap_group *g, uint32_t *f, swp_entry_t *e, swp_tb_t *t);

/* ---- swapfile.c: devices, clusters, slots -------------------------------- */
struct swap_cluster {
	_Atomic(swp_tb_t *) table;	/* SWAPFILE_CLUSTER words, allocated on first use */
	_Atomic uint32_t nr_used;	/* slots allocated (count > 0 or being allocated) */
	uint32_t next;			/* free/nonfull list link */
	_Atomic uint8_t flags;	/* CLUSTER_*: written under si->lock, peeked without it */
};
#define CLUSTER_FREE 1
#define CLUSTER_OWNED 2 /* a lane allocates from it */

struct alloc_lane {
	pthread_mutex_t lock;
	uint32_t cluster;    /* UINT32_MAX: none */
	uint32_t next;	     /* next offset to try within the cluster */
};

#define SWP_USED (1u << 0)
#define SWP_WRITEOK (1u << 1)
#define SWP_DRAINING (1u << 2) /* swapoff in progress: no new allocations */

struct table_slab;
struct swap_info {
	unsigned int type;
	int prio;
	_Atomic unsigned int flags;
	char spec[128];
	const struct swap_backend_ops *ops;
	void *priv;
	uint64_t nr_slots;
	uint32_t nr_clusters;
	struct swap_cluster *clusters;
	pthread_mutex_t lock;	 /* free list, nonfull list, cluster nr_used */
	uint32_t free_head;	 /* free clusters */
	/* Cluster tables are carved from mmap'd slabs and recycled through this
	 * list, never given back to malloc: allocation may run in a SIGBUS
	 * handler (signal mode reclaims in the faulting thread), and a racing
	 * reader of a freed table reads a table, not freed memory.  Under lock. */
	swp_tb_t *table_free;	 /* free tables, linked through their first word pair */
	char *table_slab;	 /* the current slab and what is left of it */
	size_t table_slab_left;
	struct table_slab *slabs; /* every slab, unmapped at swapoff */
	uint32_t nr_free_clusters;
	uint32_t next_fresh;	 /* clusters [next_fresh, nr_clusters) never used yet */
	_Atomic uint64_t inuse_pages;
	_Atomic bool full;	 /* backend reported -ENOSPC; cleared when slots are freed */
	struct alloc_lane lanes[NR_ALLOC_LANES];
	_Atomic long users;	 /* get_swap_device pins */
	_Atomic uint32_t users_futex;
	/* fault injection for tests: fail the Nth read / write from now with -EIO */
	_Atomic long inject_read_fail;
	_Atomic long inject_write_fail;
	/* cluster read-ahead (asynchronous devices): window, and hits since the last fault */
	_Atomic uint32_t ra_win;
	_Atomic uint32_t ra_hits;
	_Atomic uint64_t ra_prev_off;	/* slot of the last fault */
	struct swap_info *retired_next; /* ctx->retired_swap list */
};

int swap_device_add(struct uswap_ctx *ctx, const char *spec, int prio, int *idp);
int swap_device_add_ops(struct uswap_ctx *ctx, const struct swap_backend_ops *ops, const char *args,
			const char *spec, int prio, int *idp);
int swap_device_remove(struct uswap_ctx *ctx, int id);
struct swap_info *get_swap_device(struct uswap_ctx *ctx, swp_entry_t e);
void put_swap_device(struct swap_info *si);
/* Allocate one slot (count 1, busy) on the best device.  Return: 0 or -ENOSPC. */
int folio_alloc_swap(struct uswap_ctx *ctx, swp_entry_t *e);
_Atomic swp_tb_t *swap_table_word(struct uswap_ctx *ctx, swp_entry_t e);
/* Try-lock an allocated slot only (read-ahead by slot): never a free one. */
bool swap_slot_trylock_used(struct uswap_ctx *ctx, swp_entry_t e, swp_tb_t *valp);
/* swap_slot_lock_flags: SLOT_LOCK_WB_OK takes a slot whose swap-cache frame is
 * being written (the fault path maps it without waiting); SLOT_LOCK_RAW also
 * one whose resident page's copy is being written (writeback's own completion).
 * Without flags (swap_slot_lock) both wait until the write is done. */
#define SLOT_LOCK_WB_OK 1u
#define SLOT_LOCK_RAW 2u
swp_tb_t swap_slot_lock_flags(struct uswap_ctx *ctx, swp_entry_t e, unsigned int flags);
/* Slot lock (SWP_TB_BUSY): wait until free and take it; returns word value. */
swp_tb_t swap_slot_lock(struct uswap_ctx *ctx, swp_entry_t e);
bool swap_slot_trylock(struct uswap_ctx *ctx, swp_entry_t e, swp_tb_t *valp);
void swap_slot_unlock(struct uswap_ctx *ctx, swp_entry_t e, swp_tb_t newval);
/* Drop one reference (count) of a locked slot; frees backend data and slot at zero.
 * Returns the new word (caller unlocks with it). */
swp_tb_t swap_free_locked(struct uswap_ctx *ctx, swp_entry_t e, swp_tb_t t);
/* A present page (locked, PTE @pte) whose data is gone, poisoned in the
 * kernel by the caller: uncount it, free its slot.  Return: the PTE to publish. */
pte_t present_page_lost(struct uswap_ctx *ctx, struct region *r, pte_t pte);
/* Drop one reference of slot @e (locks and unlocks it; frees it at zero). */
void swap_put(struct uswap_ctx *ctx, swp_entry_t e);
bool swap_is_half_full(struct uswap_ctx *ctx, swp_entry_t e);
bool swap_space_available(struct uswap_ctx *ctx);
int swap_check_invariants(struct uswap_ctx *ctx);
uint64_t swap_meta_bytes(struct uswap_ctx *ctx);

/* ---- page_io.c ------------------------------------------------------------ */
uint64_t page_hash(const void *page);
/* Read slot @e into @page, verifying its checksum.  Return: 0, -EIO (read failed or corrupt). */
int swap_read_folio(struct uswap_ctx *ctx, struct swap_info *si, swp_entry_t e, void *page);
/* Write @page to slot @e.  Return: 0, -ENOSPC, -EIO. */
int swap_write_folio(struct uswap_ctx *ctx, struct swap_info *si, swp_entry_t e, const void *page);
/* Batched forms: one device submission when the backend has read_batch/write_batch. */
int swap_read_batch(struct uswap_ctx *ctx, struct swap_info *si, unsigned int n,
		    const swp_entry_t *e, void *const *pages, int *rc);
int swap_write_batch(struct uswap_ctx *ctx, struct swap_info *si, unsigned int n,
		     const swp_entry_t *e, const void *const *pages, int *rc);
void swap_discard(struct uswap_ctx *ctx, struct swap_info *si, swp_entry_t e);
int swap_matches(struct uswap_ctx *ctx, struct swap_info *si, swp_entry_t e, const void *page);
bool page_is_zero(const void *page);

/* ---- memory.c ------------------------------------------------------------- */
#define FAULT_WRITE (1u << 0)
#define FAULT_WP (1u << 1)
#define FAULT_SIGNAL (1u << 2) /* resolving in the faulting thread (SIGBUS mode) */
#define FAULT_NOWAIT (1u << 3) /* a handler thread that must keep reading events: -EBUSY, not sleep */
/* kernel: handle_mm_fault.  Return: 0 resolved (or raced); -EAGAIN retry later; -EFAULT not ours. */
int handle_fault(struct uswap_ctx *ctx, uintptr_t addr, unsigned int flags);
int do_swap_page(struct uswap_ctx *ctx, struct region *r, size_t idx, pte_t orig, unsigned int flags,
		 pte_t *newp);
/* Bring page @idx (locked, PTE_SWAP) in without a fault (swapoff).  Returns new pte or -errno. */
int swapoff_unuse_page(struct uswap_ctx *ctx, struct region *r, size_t idx, pte_t orig);
void *thread_scratch_page(void);

/* ---- memcontrol.c --------------------------------------------------------- */
struct uswap_group {
	struct uswap_ctx *ctx;
	unsigned int id;
	char name[64];
	_Atomic uint64_t limit;	  /* pages; 0 = unlimited */
	_Atomic uint64_t wmark_min, wmark_low, wmark_high; /* free-page watermarks; set_limit changes them live */
	_Atomic uint64_t usage;	  /* resident + swap cache pages charged */
	_Atomic uint64_t usage_max;
	_Atomic uint64_t nr_resident;
	_Atomic uint64_t nr_swapcache;
	enum uswap_oom_policy oom;
	struct vm_events events;
	/* LRU: the resident pages are aged by a clock over the group's regions;
	 * the swap cache frames form the inactive list (oldest at head). */
	pthread_mutex_t lru_lock;
	uint32_t inactive_head, inactive_tail;
	pthread_mutex_t regions_lock; /* regions list and clock hand */
	struct region *regions;
	struct region *clock_region;
	size_t clock_idx;
	unsigned int nr_regions;
	/* workingset: eviction clock (pages evicted from memory so far) */
	_Atomic uint64_t nonresident_age;
	_Atomic uint32_t reclaim_seq;  /* bumped (and futex-woken) whenever reclaim frees pages */
	_Atomic int nr_reclaimers;     /* threads inside try_to_free_pages for this group */
	_Atomic uint64_t nr_mlocked;   /* pinned pages (madvise.c) */
	_Atomic bool cow_pending;      /* a handler skipped pages shared with a forked child */
	_Atomic int reclaim_waiters;   /* charges sleeping on reclaim_seq */
};
void group_init(struct uswap_ctx *ctx, struct uswap_group *g, unsigned int id, const char *name,
		uint64_t limit_pages);
void group_set_watermarks(struct uswap_group *g);
/* kernel: mem_cgroup_swapin_charge_folio / try_charge.  Return: 0 or -ENOMEM (OOM). */
#define CHARGE_RECLAIM (1u << 0) /* may reclaim directly */
#define CHARGE_NOWAIT (1u << 1)	 /* never sleep waiting for other reclaimers: -EBUSY instead */
int mem_cgroup_charge(struct uswap_group *g, uint64_t nr, unsigned int flags);
void mem_cgroup_uncharge(struct uswap_group *g, uint64_t nr);
struct uswap_group *group_by_id(struct uswap_ctx *ctx, unsigned int id);

/* ---- vmscan.c --------------------------------------------------------------- */
enum reclaim_who { RECLAIM_KSWAPD, RECLAIM_DIRECT, RECLAIM_USER };
/* Reclaim until @g has @nr_free free pages under its limit (or @nr pages freed when unlimited).
 * Return: pages freed. */
unsigned int reclaim_range(struct uswap_ctx *ctx, struct region *r, size_t first, size_t nr,
			   unsigned int *freed_zero);
unsigned int pageout_range(struct uswap_ctx *ctx, struct region *r, size_t first, size_t nr);
uint64_t try_to_free_pages(struct uswap_group *g, uint64_t nr_to_free, enum reclaim_who who);
void wakeup_kswapd(struct uswap_ctx *ctx);
int kswapd_start(struct uswap_ctx *ctx);
void kswapd_stop(struct uswap_ctx *ctx);

/* ---- workingset.c ------------------------------------------------------------ */
uint32_t workingset_eviction(struct uswap_group *g);
/* Return true if the refaulting page should be activated. */
bool workingset_refault(struct uswap_ctx *ctx, struct uswap_group *g, uint32_t shadow);

/* ---- vmstat.c ------------------------------------------------------------- */
void vmstat_fill(struct uswap_ctx *ctx, struct uswap_group *g, struct uswap_stats *st);

/* ---- uffd.c ------------------------------------------------------------- */
extern const struct mmu_ops uffd_mmu_ops;
extern bool uffd_force_device; /* tests: open through /dev/userfaultfd only */
extern _Atomic bool uffd_test_handler_exit; /* tests: the next handler thread to wake exits */
/* Is this a fault handler thread?  It must never touch managed memory. */
bool uffd_in_handler_thread(void);
extern _Atomic unsigned int uffd_test_move_lie; /* tests: every Nth moving move_out says EEXIST */
int uffd_open(struct uswap_ctx *ctx);
void uffd_close(struct uswap_ctx *ctx);
int uffd_handlers_start(struct uswap_ctx *ctx);
void uffd_handlers_stop(struct uswap_ctx *ctx);
/* Process one message (also used by the fake MMU in unit tests). */
struct uffd_msg;
void uffd_handle_msg(struct uswap_ctx *ctx, const struct uffd_msg *msg);

/* ---- util / log --------------------------------------------------------------- */
void uswap_log(struct uswap_ctx *ctx, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- colocate.c: the fault handler on the faulting thread's CPU (thread mode) ---- */
struct colocate {
	bool enabled;		  /* one handler, thread mode, >= 2 CPUs, may leave SCHED_IDLE */
	cpu_set_t allowed;	  /* the process's CPUs at start */
	_Atomic int handler_tid;  /* the following handler (0: none yet) */
	_Atomic uint32_t following; /* 1 while it runs SCHED_IDLE, pinned (futex word) */
	_Atomic int avoid_cpu;	    /* its CPU: kswapd and the guard keep off it (-1: none) */
	int kswapd_placed;	    /* the avoid_cpu kswapd last applied (kswapd's own) */
	_Atomic uint64_t progress;  /* its loops, for the guard */
	_Atomic uint64_t last_fault_ns;
	_Atomic uint32_t boosts;    /* times the guard raised it */
	_Atomic uint32_t guard_word; /* futex: wakes the guard to exit */
	_Atomic bool guard_exit;
	bool guard_running;
	pthread_t guard;
};
/* Handler-thread state. */
struct colocate_local {
	bool active;	   /* this handler is the one that may follow */
	bool following;	   /* SCHED_IDLE now */
	int cpu;	   /* pinned there, -1 none */
	uint64_t plain_until; /* backing off until then */
	uint64_t checked_ns;  /* last CPU lookup */
	uint32_t boosts_seen;
	pid_t last_tid;
	unsigned int switches, window;
};
struct uffd_msg;
struct uswap_ctx;
int colocate_start(struct uswap_ctx *ctx, unsigned int nr_handlers);
void colocate_stop(struct uswap_ctx *ctx);
void colocate_handler_enter(struct uswap_ctx *ctx, struct colocate_local *cl);
void colocate_handler_exit(struct uswap_ctx *ctx, struct colocate_local *cl);
void colocate_tick(struct uswap_ctx *ctx, struct colocate_local *cl);
void colocate_msgs(struct uswap_ctx *ctx, struct colocate_local *cl, const struct uffd_msg *m,
		   size_t nr, bool slept);
void colocate_place_self(struct uswap_ctx *ctx, int *applied);

/* ---- the context ------------------------------------------------------------- */
struct uswap_ctx {
	struct uswap_opts opts;
	const struct mmu_ops *mmu;
	int uffd;		/* program regions */
	int pool_uffd;		/* pool region: a separate uffd with no events, so that
				 * releasing pool pages never blocks on event delivery */
	uint64_t features;	/* negotiated UFFD_FEATURE_* */
	bool use_move;		/* evict with UFFDIO_MOVE (else write-protect + copy + zap) */
	bool wp_async;		/* dirty tracking with WP_ASYNC + PAGEMAP_SCAN */
	bool zeropage;		/* read faults on never-written pages map the zero page (MOVE takes it) */
	int pagemap_fd;
	pthread_t *handlers;
	unsigned int nr_handlers;
	int stop_efd;		/* eventfd: tells handler threads to stop */
	struct colocate colo;	/* where the handler runs (colocate.c) */
	_Atomic bool stopping;
	_Atomic bool mlock_warned; /* the warning of uffd_lock_range is given once */
	_Atomic bool kswapd_exit;
	_Atomic long faults_in_flight; /* handle_fault calls running (checkers wait for 0) */

	pthread_mutex_t regions_lock; /* writers of the region table */
	_Atomic(struct region_table *) regions;
	struct region_table **old_tables; /* retired tables, freed at destroy (lock-free readers) */
	size_t nr_old_tables;

	pthread_mutex_t swap_lock;   /* swap_info[] membership, priorities */
	struct swap_info *_Atomic swap_info[MAX_SWAPFILES];
	unsigned int nr_swapfiles;
	struct swap_info *retired_swap; /* removed devices, freed at destroy */
	_Atomic unsigned int rr_cursor;

	/* A swap-in moves warm frames into the program (rather than copy) when it
	 * maps at least this many pages: every move is a TLB shoot-down, which
	 * reaches every CPU running one of the program's threads.  8 with a
	 * background reclaim thread; 1 in signal mode without one, where the
	 * faulting thread is usually the only one running. */
	unsigned int move_in_min;
	struct page_pool pool;

	pthread_mutex_t groups_lock;
	struct uswap_group *groups[MAX_GROUPS + 1];
	_Atomic unsigned int nr_groups;	/* groups[] in use, the root included */
	struct uswap_group root;

	pthread_t kswapd;
	bool kswapd_running;
	pthread_mutex_t kswapd_lock;
	pthread_cond_t kswapd_wait;
	bool kswapd_wake;
	pthread_mutex_t kswapd_run_lock; /* held while kswapd reclaims; checkers take it to quiesce */
	pthread_rwlock_t evict_lock;	 /* read: an eviction batch; write: fork (fork.c) */
	_Atomic bool forked_child;	 /* this is a forked child's copy: unusable */

	struct vm_events events;
	/* signal mode */
	bool sigbus_installed;
};

/* count_event(ctx, group or NULL, name, n): add to the global and the group counter. */
#define count_event(ctx, g, item, n) count_event_nr(ctx, g, EV_##item, n)
static inline void count_event_nr(struct uswap_ctx *ctx, struct uswap_group *g, enum vm_event_item item,
			       uint64_t n)
{
	atomic_fetch_add_explicit(&ctx->events.ev[item], n, memory_order_relaxed);
	if (g)
		atomic_fetch_add_explicit(&g->events.ev[item], n, memory_order_relaxed);
}

/* ---- sys.c: the only errno readers ------------------------------------------------ */
int sys_futex_wait(_Atomic uint32_t *addr, uint32_t val);
int sys_futex_wait_timeout(_Atomic uint32_t *addr, uint32_t val, uint64_t timeout_ns);
int sys_futex_wake(_Atomic uint32_t *addr, int nr);
int sys_uffd_ioctl(int fd, unsigned long req, void *arg);
uint64_t now_ns(void);

static inline _Atomic uint32_t *futex_word(void *p)
{
	return (_Atomic uint32_t *)p; /* a 32-bit word, or the low half of a PTE (little-endian) */
}

/* Invariant checkers report where they failed (stderr: they only run in tests). */
#define INVARIANT_FAIL() (fprintf(stderr, "invariant broken at %s:%d\n", __FILE__, __LINE__), -EUCLEAN)

/* Test hooks (tests link the static library). */
int ctx_test_inject_error(struct uswap_ctx *ctx, int dev, bool read, long nth);
int ctx_create_with_mmu(const struct uswap_opts *opts, const struct mmu_ops *mmu, struct uswap_ctx **ctxp);
int ctx_check_invariants(struct uswap_ctx *ctx);
#endif /* USWAP_INTERNAL_H */
