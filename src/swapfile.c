/* SPDX-License-Identifier: MIT */
/*
 * swapfile.c - swap devices, clusters, the slot allocator and swap counts.
 *
 * kernel: mm/swapfile.c (swapon/swapoff, get_swap_device, the cluster
 * allocator, swap_free) and mm/swap_table.h.
 *
 * A device is split into clusters of SWAPFILE_CLUSTER slots.  Each cluster
 * owns one table of 64-bit words (swap_entry.h), allocated when the first
 * slot of the cluster is handed out and freed when the last one is freed.
 * The word holds the swap count and either the swap-cache frame or the
 * shadow of the slot: it is the only place where the state of a slot lives,
 * and the SWP_TB_BUSY bit in it is the slot lock.  A thread that finds the
 * slot busy sleeps on the word's futex and is woken by the holder; nothing
 * sleeps for a tick and retries (the kernel's swapcache_prepare back-off).
 *
 * Allocation: each thread is bound to one of NR_ALLOC_LANES lanes of the
 * device; a lane owns a whole cluster and hands out its slots in order, so
 * the slots written by one reclaimer are contiguous (sequential writes for
 * block backends), and lanes never contend on a slot.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define CLUSTER_NIL UINT32_MAX

static struct swap_info *swap_info_get(struct uswap_ctx *ctx, unsigned int type)
{
	return type < MAX_SWAPFILES ? atomic_load(&ctx->swap_info[type]) : NULL;
}

static struct swap_cluster *entry_cluster(struct swap_info *si, uint64_t off)
{
	return &si->clusters[off / SWAPFILE_CLUSTER];
}

_Atomic swp_tb_t *swap_table_word(struct uswap_ctx *ctx, swp_entry_t e)
{
	struct swap_info *si = swap_info_get(ctx, swp_type(e));
	uint64_t off = swp_offset(e);
	swp_tb_t *table;

	if (!si || off >= si->nr_slots)
		return NULL;
	table = atomic_load_explicit(&entry_cluster(si, off)->table, memory_order_acquire);
	return table ? (_Atomic swp_tb_t *)&table[off % SWAPFILE_CLUSTER] : NULL;
}

/*
 * swap_slot_lock - take the slot lock of @e and return the slot word (without
 * lock bits).
 * Context: the caller holds a reference on the slot (a PTE pointing at it, or
 * a swap-cache frame), so the cluster table cannot go away.  May sleep.
 */
swp_tb_t swap_slot_lock(struct uswap_ctx *ctx, swp_entry_t e)
{
	return swap_slot_lock_flags(ctx, e, 0);
}

/*
 * A write to an asynchronous device runs with the slot unlocked (vmscan.c:
 * writeback_frames), so that a fault can map the page meanwhile.  Until it
 * completes, the slot is CACHE with its frame marked wb, or, once a fault
 * took the page, MAPPED with the frame in the payload: neither the frame nor
 * the slot may be freed or reused, so other lockers wait as for a lock.
 */
static bool slot_under_writeback(struct uswap_ctx *ctx, swp_tb_t v, unsigned int flags)
{
	if (flags & SLOT_LOCK_RAW)
		return false;
	if (swp_tb_kind(v) == SLOT_MAPPED)
		return swp_tb_payload(v) != 0;
	if (swp_tb_kind(v) == SLOT_CACHE && !(flags & SLOT_LOCK_WB_OK))
		return atomic_load_explicit(&ctx->pool.frames[swp_tb_payload(v)].wb,
					    memory_order_acquire);
	return false;
}

swp_tb_t swap_slot_lock_flags(struct uswap_ctx *ctx, swp_entry_t e, unsigned int flags)
{
	_Atomic swp_tb_t *p = swap_table_word(ctx, e);
	swp_tb_t v = atomic_load_explicit(p, memory_order_relaxed);

	for (;;) {
		if (!(v & SWP_TB_BUSY) && !slot_under_writeback(ctx, v, flags)) {
			if (atomic_compare_exchange_weak_explicit(p, &v, v | SWP_TB_BUSY,
								  memory_order_acquire,
								  memory_order_relaxed))
				return v & ~(SWP_TB_BUSY | SWP_TB_WAITERS);
			continue;
		}
		if (!(v & SWP_TB_WAITERS)) {
			if (!atomic_compare_exchange_weak_explicit(p, &v, v | SWP_TB_WAITERS,
								   memory_order_relaxed,
								   memory_order_relaxed))
				continue;
			v |= SWP_TB_WAITERS;
		}
		/* The writeback's completion locks and unlocks the slot: that wakes us. */
		sys_futex_wait(futex_word((void *)p), (uint32_t)v);
		v = atomic_load_explicit(p, memory_order_relaxed);
	}
}

bool swap_slot_trylock(struct uswap_ctx *ctx, swp_entry_t e, swp_tb_t *valp)
{
	_Atomic swp_tb_t *p = swap_table_word(ctx, e);
	swp_tb_t v = atomic_load_explicit(p, memory_order_relaxed);

	while (!(v & SWP_TB_BUSY)) {
		if (atomic_compare_exchange_weak_explicit(p, &v, v | SWP_TB_BUSY, memory_order_acquire,
							  memory_order_relaxed)) {
			*valp = v & ~(SWP_TB_BUSY | SWP_TB_WAITERS);
			return true;
		}
	}
	return false;
}

/*
 * swap_slot_trylock_used - swap_slot_trylock for a slot nobody references:
 * takes the lock only if the slot is allocated (count > 0) at that instant,
 * so a free slot is never locked under the allocator's feet (it claims free
 * slots by a CAS from 0), and a slot of a cluster without a table is not
 * touched.  For read-ahead by slot.  Return: true with the word in *@valp.
 */
bool swap_slot_trylock_used(struct uswap_ctx *ctx, swp_entry_t e, swp_tb_t *valp)
{
	_Atomic swp_tb_t *p = swap_table_word(ctx, e);
	swp_tb_t v;

	if (!p)
		return false;
	v = atomic_load_explicit(p, memory_order_relaxed);
	while (!(v & SWP_TB_BUSY) && swp_tb_count(v)) {
		if (atomic_compare_exchange_weak_explicit(p, &v, v | SWP_TB_BUSY, memory_order_acquire,
							  memory_order_relaxed)) {
			*valp = v & ~(SWP_TB_BUSY | SWP_TB_WAITERS);
			return true;
		}
	}
	return false;
}

#define TABLE_BYTES (SWAPFILE_CLUSTER * sizeof(swp_tb_t))
#define TABLE_SLAB_BYTES (32 * TABLE_BYTES) /* 64 KiB */

struct table_slab {
	struct table_slab *next;
};

/* A zeroed cluster table, signal-safe (mmap, no malloc).  Context: si->lock held. */
static swp_tb_t *table_alloc_locked(struct swap_info *si)
{
	swp_tb_t *t = si->table_free;

	if (t) {
		si->table_free = *(swp_tb_t **)t;
		memset(t, 0, TABLE_BYTES);
		return t;
	}
	if (si->table_slab_left < TABLE_BYTES) {
		char *slab = sys_mmap_anon(TABLE_SLAB_BYTES);
		if (!slab)
			return NULL;
		/* The slab's first table holds the link of the slab list. */
		((struct table_slab *)slab)->next = si->slabs;
		si->slabs = (struct table_slab *)slab;
		si->table_slab = slab + TABLE_BYTES;
		si->table_slab_left = TABLE_SLAB_BYTES - TABLE_BYTES;
	}
	t = (swp_tb_t *)si->table_slab;
	si->table_slab += TABLE_BYTES;
	si->table_slab_left -= TABLE_BYTES;
	return t; /* fresh anonymous memory: zeroes */
}

/* Context: si->lock held. */
static void table_free_locked(struct swap_info *si, swp_tb_t *t)
{
	if (!t)
		return;
	*(swp_tb_t **)t = si->table_free;
	si->table_free = t;
}

static void tables_release(struct swap_info *si)
{
	while (si->slabs) {
		struct table_slab *next = si->slabs->next;
		sys_munmap(si->slabs, TABLE_SLAB_BYTES);
		si->slabs = next;
	}
	si->table_free = NULL;
	si->table_slab = NULL;
	si->table_slab_left = 0;
}

static void cluster_put_free(struct swap_info *si, uint32_t ci)
{
	struct swap_cluster *c = &si->clusters[ci];
	swp_tb_t *table;

	pthread_mutex_lock(&si->lock);
	/* Re-check under the lock: a lane may have taken the cluster meanwhile. */
	if (atomic_load(&c->nr_used) == 0 && !(c->flags & (CLUSTER_OWNED | CLUSTER_FREE))) {
		table = atomic_exchange(&c->table, NULL);
		table_free_locked(si, table);
		c->flags = CLUSTER_FREE;
		c->next = si->free_head;
		si->free_head = ci;
		si->nr_free_clusters++;
	}
	pthread_mutex_unlock(&si->lock);
}

/*
 * swap_slot_unlock - publish @newval and wake waiters.  A word whose count
 * drops to zero here is a freed slot: the cluster's use count goes down and
 * an empty, unowned cluster returns to the free list.
 */
void swap_slot_unlock(struct uswap_ctx *ctx, swp_entry_t e, swp_tb_t newval)
{
	_Atomic swp_tb_t *p = swap_table_word(ctx, e);
	swp_tb_t old;

	newval &= ~(SWP_TB_BUSY | SWP_TB_WAITERS);
	old = atomic_exchange_explicit(p, newval, memory_order_release);
	if (old & SWP_TB_WAITERS)
		sys_futex_wake(futex_word((void *)p), 0x7fffffff);
	if (swp_tb_count(newval) == 0) {
		struct swap_info *si = swap_info_get(ctx, swp_type(e));
		struct swap_cluster *c = entry_cluster(si, swp_offset(e));
		atomic_fetch_sub(&si->inuse_pages, 1);
		atomic_store(&si->full, false);
		if (atomic_fetch_sub(&c->nr_used, 1) == 1 && !(c->flags & CLUSTER_OWNED))
			cluster_put_free(si, (uint32_t)(swp_offset(e) / SWAPFILE_CLUSTER));
	}
}

/*
 * swap_free_locked - drop one swap count of the locked slot @e whose word is
 * @t.  At zero the backend copy is discarded and the word becomes empty (the
 * slot is released by swap_slot_unlock).
 * kernel: swap_free / swap_entry_put.
 * Return: the new word.
 */
swp_tb_t swap_free_locked(struct uswap_ctx *ctx, swp_entry_t e, swp_tb_t t)
{
	unsigned int count = swp_tb_count(t);

	if (count > 1)
		return t - 1;
	/* Last reference: no frame may still hang off the slot. */
	if (t & SWP_TB_DATA) {
		struct swap_info *si = swap_info_get(ctx, swp_type(e));
		swap_discard(ctx, si, e);
	}
	return 0;
}

void swap_put(struct uswap_ctx *ctx, swp_entry_t e)
{
	swp_tb_t t = swap_slot_lock(ctx, e);
	swap_slot_unlock(ctx, e, swap_free_locked(ctx, e, t));
}

static unsigned int thread_lane(void)
{
	static _Atomic unsigned int next_lane;
	static __thread unsigned int lane_plus1;
	if (!lane_plus1)
		lane_plus1 = atomic_fetch_add(&next_lane, 1) % NR_ALLOC_LANES + 1;
	return lane_plus1 - 1;
}

/* Take a free cluster, or else the emptiest-looking unowned one.  Context: si->lock. */
static uint32_t cluster_take_locked(struct swap_info *si)
{
	uint32_t ci = si->free_head;

	if (ci != CLUSTER_NIL) {
		si->free_head = si->clusters[ci].next;
		si->nr_free_clusters--;
		si->clusters[ci].flags = CLUSTER_OWNED;
		return ci;
	}
	/* Never-used clusters are handed out in order, so the cluster array
	 * (mapped lazily) is only touched as far as the device is used. */
	if (si->next_fresh < si->nr_clusters) {
		ci = si->next_fresh++;
		si->nr_free_clusters--;
		si->clusters[ci].flags = CLUSTER_OWNED;
		return ci;
	}
	for (uint32_t i = 0; i < si->nr_clusters; i++) {
		struct swap_cluster *c = &si->clusters[i];
		uint32_t cap = (uint32_t)min_t((uint64_t)SWAPFILE_CLUSTER,
					       si->nr_slots - (uint64_t)i * SWAPFILE_CLUSTER);
		if (!(c->flags & CLUSTER_OWNED) && atomic_load(&c->nr_used) < cap) {
			c->flags = CLUSTER_OWNED;
			return i;
		}
	}
	return CLUSTER_NIL;
}

static void cluster_release_locked(struct swap_info *si, uint32_t ci)
{
	struct swap_cluster *c = &si->clusters[ci];
	c->flags &= (uint8_t)~CLUSTER_OWNED;
}

/*
 * swap_alloc_any - last resort when no cluster can be taken for this lane:
 * the free slots left are in clusters other lanes own.  Slots are claimed
 * by a CAS on their word, so sharing a cluster is safe; only the locality
 * of one lane per cluster is lost.  The scan holds si->lock: an emptied
 * cluster gives its table back under it (cluster_put_free), and a slot
 * claimed in a table being given back would be a slot in nobody's table.
 */
static int swap_alloc_any(struct swap_info *si, uint64_t *offp)
{
	int rc = -ENOSPC;

	pthread_mutex_lock(&si->lock);
	for (uint32_t ci = 0; ci < si->next_fresh && rc; ci++) {
		struct swap_cluster *c = &si->clusters[ci];
		uint64_t base = (uint64_t)ci * SWAPFILE_CLUSTER;
		uint32_t cap = (uint32_t)min_t((uint64_t)SWAPFILE_CLUSTER, si->nr_slots - base);
		swp_tb_t *table = atomic_load(&c->table);
		if (!table || atomic_load(&c->nr_used) >= cap)
			continue;
		for (uint32_t i = 0; i < cap; i++) {
			swp_tb_t zero = 0;
			if (atomic_compare_exchange_strong((_Atomic swp_tb_t *)&table[i], &zero,
							   1 | SWP_TB_BUSY)) {
				atomic_fetch_add(&c->nr_used, 1);
				atomic_fetch_add(&si->inuse_pages, 1);
				*offp = base + i;
				rc = 0;
				break;
			}
		}
	}
	pthread_mutex_unlock(&si->lock);
	return rc;
}

/* Allocate one slot on @si: word = count 1 | busy.  Return: 0 or -ENOSPC. */
static int swap_alloc_on(struct swap_info *si, uint64_t *offp)
{
	struct alloc_lane *lane = &si->lanes[thread_lane()];
	int tries = 0;

	pthread_mutex_lock(&lane->lock);
	while (tries < 2) {
		if (lane->cluster == CLUSTER_NIL) {
			pthread_mutex_lock(&si->lock);
			lane->cluster = cluster_take_locked(si);
			pthread_mutex_unlock(&si->lock);
			lane->next = 0;
			tries++;
			if (lane->cluster == CLUSTER_NIL)
				break;
		}
		struct swap_cluster *c = &si->clusters[lane->cluster];
		swp_tb_t *table = atomic_load(&c->table);
		if (!table) {
			pthread_mutex_lock(&si->lock);
			table = table_alloc_locked(si);
			pthread_mutex_unlock(&si->lock);
			if (!table)
				break;
			atomic_store_explicit(&c->table, table, memory_order_release);
		}
		uint64_t base = (uint64_t)lane->cluster * SWAPFILE_CLUSTER;
		uint32_t cap = (uint32_t)min_t((uint64_t)SWAPFILE_CLUSTER, si->nr_slots - base);
		for (uint32_t i = lane->next; i < cap; i++) {
			swp_tb_t zero = 0;
			if (atomic_compare_exchange_strong((_Atomic swp_tb_t *)&table[i], &zero,
							   1 | SWP_TB_BUSY)) {
				atomic_fetch_add(&c->nr_used, 1);
				atomic_fetch_add(&si->inuse_pages, 1);
				lane->next = i + 1;
				*offp = base + i;
				pthread_mutex_unlock(&lane->lock);
				return 0;
			}
		}
		/* Cluster exhausted for this lane: give it up (freed slots make it nonfull). */
		pthread_mutex_lock(&si->lock);
		cluster_release_locked(si, lane->cluster);
		uint32_t old = lane->cluster;
		lane->cluster = CLUSTER_NIL;
		pthread_mutex_unlock(&si->lock);
		if (atomic_load(&c->nr_used) == 0)
			cluster_put_free(si, old);
	}
	pthread_mutex_unlock(&lane->lock);
	return swap_alloc_any(si, offp);
}

static bool swap_usable(struct swap_info *si)
{
	unsigned int f = atomic_load(&si->flags);
	return si && (f & SWP_WRITEOK) && !(f & SWP_DRAINING) && !atomic_load(&si->full) &&
	       atomic_load(&si->inuse_pages) < si->nr_slots;
}

/*
 * folio_alloc_swap - allocate a slot, highest priority device first, devices
 * of equal priority in turn (kernel: swapon -p semantics).
 * Return: 0 with *e set and the slot locked (count 1); -ENOSPC.
 */
int folio_alloc_swap(struct uswap_ctx *ctx, swp_entry_t *e)
{
	int last_prio = __INT_MAX__;
	bool first = true;

	for (;;) {
		struct swap_info *cand[MAX_SWAPFILES];
		unsigned int n = 0;
		int best = -__INT_MAX__ - 1;
		for (unsigned int t = 0; t < MAX_SWAPFILES; t++) {
			struct swap_info *si = swap_info_get(ctx, t);
			if (!si || !swap_usable(si))
				continue;
			if ((!first && si->prio >= last_prio) || si->prio < best)
				continue;
			if (si->prio > best) {
				best = si->prio;
				n = 0;
			}
			cand[n++] = si;
		}
		if (!n)
			return -ENOSPC;
		unsigned int start = atomic_fetch_add(&ctx->rr_cursor, 1);
		for (unsigned int k = 0; k < n; k++) {
			struct swap_info *si = cand[(start + k) % n];
			uint64_t off;
			if (swap_alloc_on(si, &off) == 0) {
				*e = swp_entry(si->type, off);
				return 0;
			}
		}
		last_prio = best;
		first = false;
	}
}

/* Is there a device a new slot could come from?  (Lock-free peek.) */
bool swap_space_available(struct uswap_ctx *ctx)
{
	for (unsigned int t = 0; t < MAX_SWAPFILES; t++) {
		struct swap_info *si = swap_info_get(ctx, t);
		if (si && swap_usable(si))
			return true;
	}
	return false;
}

bool swap_is_half_full(struct uswap_ctx *ctx, swp_entry_t e)
{
	struct swap_info *si = swap_info_get(ctx, swp_type(e));
	return si && atomic_load(&si->inuse_pages) * 2 > si->nr_slots;
}

/*
 * get_swap_device - pin the device of @e against swapoff for the duration of
 * a fault.  Return: the device, or NULL if it is gone.
 */
struct swap_info *get_swap_device(struct uswap_ctx *ctx, swp_entry_t e)
{
	struct swap_info *si = swap_info_get(ctx, swp_type(e));

	if (!si)
		return NULL;
	atomic_fetch_add(&si->users, 1);
	if (!(atomic_load(&si->flags) & SWP_USED) || swp_offset(e) >= si->nr_slots) {
		put_swap_device(si);
		return NULL;
	}
	return si;
}

void put_swap_device(struct swap_info *si)
{
	if (atomic_fetch_sub(&si->users, 1) == 1 && !(atomic_load(&si->flags) & SWP_USED)) {
		atomic_fetch_add(&si->users_futex, 1);
		sys_futex_wake(&si->users_futex, 0x7fffffff);
	}
}

static int parse_spec(const char *spec, const struct swap_backend_ops **ops, const char **args)
{
	const char *colon = strchr(spec, ':');
	size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);

	*ops = backend_lookup(spec, nlen);
	*args = colon ? colon + 1 : "";
	return *ops ? 0 : -ENODEV;
}

/* swapon by spec string.  Context: takes ctx->swap_lock. */
int swap_device_add(struct uswap_ctx *ctx, const char *spec, int prio, int *idp)
{
	const struct swap_backend_ops *ops;
	const char *args;
	int rc = parse_spec(spec, &ops, &args);

	if (rc) {
		uswap_log(ctx, USWAP_LOG_ERR, "swapon %s: unknown backend", spec);
		return rc;
	}
	return swap_device_add_ops(ctx, ops, args, spec, prio, idp);
}

/* swapon with an explicit backend (also used by unit tests with a fake backend). */
int swap_device_add_ops(struct uswap_ctx *ctx, const struct swap_backend_ops *ops, const char *args,
			const char *spec, int prio, int *idp)
{
	char err[256] = "";
	struct swap_info *si;
	int rc, type = -1;

	si = calloc(1, sizeof(*si));
	if (!si)
		return -ENOMEM;
	rc = ops->create(args, &si->priv, &si->nr_slots, err, sizeof(err));
	if (rc) {
		uswap_log(ctx, USWAP_LOG_ERR, "swapon %s: %s", spec, err[0] ? err : "cannot create");
		free(si);
		return rc;
	}
	if (si->nr_slots == 0 || si->nr_slots >= (1ULL << SWP_OFFSET_BITS)) {
		uswap_log(ctx, USWAP_LOG_ERR, "swapon %s: bad device size", spec);
		rc = -EINVAL;
		goto out_destroy;
	}
	si->ops = ops;
	si->prio = prio;
	snprintf(si->spec, sizeof(si->spec), "%s", spec);
	si->nr_clusters = (uint32_t)((si->nr_slots + SWAPFILE_CLUSTER - 1) / SWAPFILE_CLUSTER);
	si->clusters = sys_mmap_anon((size_t)si->nr_clusters * sizeof(*si->clusters));
	if (!si->clusters) {
		rc = -ENOMEM;
		goto out_destroy;
	}
	si->free_head = CLUSTER_NIL; /* clusters freed after use; fresh ones come from next_fresh */
	si->next_fresh = 0;
	si->nr_free_clusters = si->nr_clusters;
	pthread_mutex_init(&si->lock, NULL);
	for (int i = 0; i < NR_ALLOC_LANES; i++) {
		pthread_mutex_init(&si->lanes[i].lock, NULL);
		si->lanes[i].cluster = CLUSTER_NIL;
	}

	pthread_mutex_lock(&ctx->swap_lock);
	for (int t = 0; t < MAX_SWAPFILES; t++) {
		if (!atomic_load(&ctx->swap_info[t])) {
			type = t;
			break;
		}
	}
	if (type < 0) {
		pthread_mutex_unlock(&ctx->swap_lock);
		rc = -EBUSY;
		goto out_free;
	}
	si->type = (unsigned int)type;
	atomic_store(&si->flags, SWP_USED | SWP_WRITEOK);
	atomic_store(&ctx->swap_info[type], si);
	ctx->nr_swapfiles++;
	pthread_mutex_unlock(&ctx->swap_lock);
	if (idp)
		*idp = type;
	uswap_log(ctx, USWAP_LOG_INFO, "swapon %s: device %d, %llu slots, priority %d", spec, type,
		  (unsigned long long)si->nr_slots, prio);
	return 0;

out_free:
	sys_munmap(si->clusters, (size_t)si->nr_clusters * sizeof(*si->clusters));
out_destroy:
	ops->destroy(si->priv);
	free(si);
	return rc;
}

static bool pte_uses_device(pte_t pte, unsigned int type)
{
	return (pte_is_swap(pte) || (pte_present(pte) && (pte & PTE_SLOT))) &&
	       swp_type(pte_to_swp_entry(pte)) == type;
}

/*
 * try_to_unuse - bring every page that uses device @si back: into memory, or
 * (when its group is at its limit) onto another device.
 * Return: 0, -ENOMEM (no room anywhere: device left in place), -EIO.
 */
static int try_to_unuse(struct uswap_ctx *ctx, struct swap_info *si, uint64_t *nr_lost)
{
	struct region_table *t;
	int err = 0;

	pthread_mutex_lock(&ctx->regions_lock);
	t = atomic_load(&ctx->regions);
	for (size_t k = 0; t && k < t->nr && !err; k++) {
		struct region *r = t->r[k];
		if (atomic_load(&r->dead))
			continue;
		for (size_t i = 0; i < r->nr_pages; i++) {
			if (!pte_uses_device(pte_read(r, i), si->type))
				continue;
			pte_t pte = pte_lock(r, i);
			/* Re-check under the lock: a fault or reclaim may have changed it. */
			if (!pte_uses_device(pte, si->type)) {
				pte_unlock(r, i, pte);
				continue;
			}
			int rc = swapoff_unuse_page(ctx, r, i, pte);
			if (rc == -ENOMEM) {
				err = rc;
				break;
			}
			if (rc == -EIO)
				(*nr_lost)++; /* poisoned: counted, the rest goes on */
		}
	}
	pthread_mutex_unlock(&ctx->regions_lock);
	return err;
}

/* swapoff.  Context: takes ctx->swap_lock; waits for pins. */
int swap_device_remove(struct uswap_ctx *ctx, int id)
{
	struct swap_info *si;
	uint64_t nr_lost = 0;
	int rc;

	if (id < 0 || id >= MAX_SWAPFILES)
		return -EINVAL;
	pthread_mutex_lock(&ctx->swap_lock);
	si = atomic_load(&ctx->swap_info[id]);
	if (!si || (atomic_load(&si->flags) & SWP_DRAINING)) {
		pthread_mutex_unlock(&ctx->swap_lock);
		return -EINVAL;
	}
	atomic_fetch_or(&si->flags, SWP_DRAINING);
	pthread_mutex_unlock(&ctx->swap_lock);

	/* An eviction that took a slot just before DRAINING was set may publish
	 * its PTE after our scan passed it: scan again until nothing is left. */
	for (int pass = 0; pass < 4; pass++) {
		rc = try_to_unuse(ctx, si, &nr_lost);
		if (rc || !atomic_load(&si->inuse_pages))
			break;
	}
	if (rc || atomic_load(&si->inuse_pages)) {
		uswap_log(ctx, USWAP_LOG_ERR, "swapoff %s: %llu pages could not be brought back",
			  si->spec, (unsigned long long)atomic_load(&si->inuse_pages));
		atomic_fetch_and(&si->flags, ~SWP_DRAINING);
		return rc ? rc : -ENOMEM;
	}
	/* No PTE refers to the device any more; wait for faults that pinned it. */
	atomic_fetch_and(&si->flags, ~(SWP_USED | SWP_WRITEOK));
	for (;;) {
		uint32_t seq = atomic_load(&si->users_futex);
		if (atomic_load(&si->users) == 0)
			break;
		sys_futex_wait(&si->users_futex, seq);
	}
	pthread_mutex_lock(&ctx->swap_lock);
	atomic_store(&ctx->swap_info[id], NULL);
	ctx->nr_swapfiles--;
	pthread_mutex_unlock(&ctx->swap_lock);

	tables_release(si);
	sys_munmap(si->clusters, (size_t)si->nr_clusters * sizeof(*si->clusters));
	si->clusters = NULL;
	si->ops->destroy(si->priv);
	if (nr_lost)
		uswap_log(ctx, USWAP_LOG_ERR, "swapoff %s: %llu unreadable pages poisoned", si->spec,
			  (unsigned long long)nr_lost);
	else
		uswap_log(ctx, USWAP_LOG_INFO, "swapoff %s: done", si->spec);
	/*
	 * The struct itself is never freed while the context lives: a racing
	 * get_swap_device may have loaded the pointer, and put_swap_device
	 * touches it after dropping the last pin (kernel: swap_info_struct is
	 * never freed either).  Freed in uswap_ctx_destroy().
	 */
	pthread_mutex_lock(&ctx->swap_lock);
	si->retired_next = ctx->retired_swap;
	ctx->retired_swap = si;
	pthread_mutex_unlock(&ctx->swap_lock);
	return nr_lost ? -EIO : 0;
}

/* Metadata bytes of the swap tables and cluster arrays. */
uint64_t swap_meta_bytes(struct uswap_ctx *ctx)
{
	uint64_t bytes = 0;
	for (unsigned int t = 0; t < MAX_SWAPFILES; t++) {
		struct swap_info *si = swap_info_get(ctx, t);
		if (!si)
			continue;
		pthread_mutex_lock(&si->lock); /* next_fresh */
		uint32_t used = si->next_fresh;
		pthread_mutex_unlock(&si->lock);
		bytes += sizeof(*si) + (uint64_t)used * sizeof(struct swap_cluster);
		for (uint32_t i = 0; i < used; i++)
			if (atomic_load(&si->clusters[i].table))
				bytes += SWAPFILE_CLUSTER * sizeof(swp_tb_t);
	}
	return bytes;
}

/*
 * swap_check_invariants - every cluster's use count equals its allocated
 * slots; no slot is busy; a cached slot points at a frame that points back.
 * Context: the context is idle.  Return: 0 or -EUCLEAN.
 */
int swap_check_invariants(struct uswap_ctx *ctx)
{
	for (unsigned int t = 0; t < MAX_SWAPFILES; t++) {
		struct swap_info *si = swap_info_get(ctx, t);
		uint64_t inuse = 0;
		if (!si)
			continue;
		for (uint32_t ci = 0; ci < si->nr_clusters; ci++) {
			struct swap_cluster *c = &si->clusters[ci];
			swp_tb_t *table = atomic_load(&c->table);
			uint32_t used = 0;
			if (!table) {
				if (atomic_load(&c->nr_used))
					return INVARIANT_FAIL();
				continue;
			}
			for (uint32_t i = 0; i < SWAPFILE_CLUSTER; i++) {
				swp_tb_t w = atomic_load_explicit((_Atomic swp_tb_t *)&table[i],
								  memory_order_relaxed);
				if (w & (SWP_TB_BUSY | SWP_TB_WAITERS)) {
					fprintf(stderr, "slot %u:%llu busy: %#x\n", t,
						(unsigned long long)ci * SWAPFILE_CLUSTER + i, w);
					return INVARIANT_FAIL();
				}
				if (!swp_tb_count(w)) {
					if (w) {
						fprintf(stderr, "slot %u:%llu free with state %#x\n", t,
							(unsigned long long)ci * SWAPFILE_CLUSTER + i, w);
						return INVARIANT_FAIL(); /* free slot with state */
					}
					continue;
				}
				used++;
				if (swp_tb_kind(w) == SLOT_CACHE) {
					uint64_t f = swp_tb_payload(w);
					swp_entry_t e = swp_entry(t, (uint64_t)ci * SWAPFILE_CLUSTER + i);
					if (f >= ctx->pool.nr || ctx->pool.frames[f].entry.val != e.val ||
					    ctx->pool.frames[f].state != FRAME_CACHE)
						return INVARIANT_FAIL();
				}
			}
			if (used != atomic_load(&c->nr_used))
				return INVARIANT_FAIL();
			inuse += used;
		}
		if (inuse != atomic_load(&si->inuse_pages))
			return INVARIANT_FAIL();
		if (si->ops->check_invariants) {
			char err[256] = "";
			if (si->ops->check_invariants(si->priv, err, sizeof(err))) {
				fprintf(stderr, "backend %s: %s\n", si->spec, err);
				return INVARIANT_FAIL();
			}
		}
	}
	return 0;
}
