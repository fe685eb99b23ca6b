/* SPDX-License-Identifier: MIT */
/*
 * uswap.c - the public API: argument checking and wiring of the modules.
 * Every function here validates its input and returns 0 or -errno.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>

#include "internal.h"
#include "uffd_compat.h"

#define DEFAULT_POOL_FRAMES (1u << 16) /* 256 MiB of address space for the swap cache */
_Static_assert(DEFAULT_POOL_FRAMES <= MAX_POOL_FRAMES, "frame index must fit the swap table payload");
#define MIN_GROUP_PAGES 16

int uswap_version(void)
{
	return USWAP_VERSION_NUMBER;
}

void uswap_log(struct uswap_ctx *ctx, int level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (!ctx || !ctx->opts.log)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ctx->opts.log(ctx->opts.log_arg, level, buf);
}

/* ---- signal delivery mode ----------------------------------------------------------- */

#define MAX_SIGNAL_CTX 16
static struct uswap_ctx *_Atomic signal_ctx[MAX_SIGNAL_CTX];
static struct sigaction old_sigbus;
static pthread_mutex_t sigbus_lock = PTHREAD_MUTEX_INITIALIZER;
static int sigbus_users;

/*
 * A fault that keeps coming back at the same address means uswap's page
 * table and the kernel's disagree (a livelock, not a hang we can see from
 * outside): say so once per thread, with the PTE, so that it can be found.
 */
static void sigbus_watch(struct uswap_ctx *ctx, uintptr_t addr, int rc)
{
	static __thread uintptr_t last;
	static __thread unsigned long repeats;
	static __thread bool reported;

	addr &= ~(PAGE_SIZE - 1);
	if (addr != last) {
		last = addr;
		repeats = 0;
		return;
	}
	if (++repeats == 1000000 && !reported) {
		struct region *r = region_lookup(ctx, addr);
		reported = true;
		uswap_log(ctx, USWAP_LOG_ERR, "fault at %#lx recurs (%lu times, rc %d, pte %#llx)",
			  (unsigned long)addr, repeats, rc,
			  r ? (unsigned long long)pte_read(r, (addr - r->start) >> PAGE_SHIFT) : 0ULL);
	}
}

/* Context: signal handler.  Lock-free: region lookup and the fault path use
 * only atomics, futexes and the backend's signal-safe read. */
int uswap_sigbus_dispatch(int sig, siginfo_t *info, void *uctx)
{
	(void)uctx;
	if (sig != SIGBUS || !info || info->si_code == BUS_MCEERR_AR || info->si_code == BUS_MCEERR_AO)
		return 0; /* a poisoned page: a real SIGBUS for the program */
	for (int i = 0; i < MAX_SIGNAL_CTX; i++) {
		struct uswap_ctx *ctx = atomic_load(&signal_ctx[i]);
		if (ctx && region_lookup(ctx, (uintptr_t)info->si_addr)) {
			int rc = handle_fault(ctx, (uintptr_t)info->si_addr, FAULT_SIGNAL);
			sigbus_watch(ctx, (uintptr_t)info->si_addr, rc);
			/* A poisoned page is a real SIGBUS for the program. */
			return rc != -EFAULT && rc != -EHWPOISON;
		}
	}
	return 0;
}

static void sigbus_handler(int sig, siginfo_t *info, void *uctx)
{
	if (uswap_sigbus_dispatch(sig, info, uctx))
		return;
	if (old_sigbus.sa_flags & SA_SIGINFO) {
		if (old_sigbus.sa_sigaction) {
			old_sigbus.sa_sigaction(sig, info, uctx);
			return;
		}
	} else if (old_sigbus.sa_handler != SIG_DFL && old_sigbus.sa_handler != SIG_IGN) {
		old_sigbus.sa_handler(sig);
		return;
	}
	/* Default action: restore it and return; the access faults again and
	 * the kernel delivers SIGBUS with the default disposition. */
	signal(SIGBUS, SIG_DFL);
}

static int sigbus_install(struct uswap_ctx *ctx)
{
	int rc = -EBUSY;

	pthread_mutex_lock(&sigbus_lock);
	for (int i = 0; i < MAX_SIGNAL_CTX; i++) {
		struct uswap_ctx *expect = NULL;
		if (atomic_compare_exchange_strong(&signal_ctx[i], &expect, ctx)) {
			rc = 0;
			break;
		}
	}
	if (!rc && sigbus_users++ == 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = sigbus_handler;
		sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NODEFER;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGBUS, &sa, &old_sigbus);
	}
	pthread_mutex_unlock(&sigbus_lock);
	ctx->sigbus_installed = !rc;
	return rc;
}

static void sigbus_remove(struct uswap_ctx *ctx)
{
	if (!ctx->sigbus_installed)
		return;
	pthread_mutex_lock(&sigbus_lock);
	for (int i = 0; i < MAX_SIGNAL_CTX; i++) {
		struct uswap_ctx *expect = ctx;
		atomic_compare_exchange_strong(&signal_ctx[i], &expect, NULL);
	}
	if (--sigbus_users == 0)
		sigaction(SIGBUS, &old_sigbus, NULL);
	pthread_mutex_unlock(&sigbus_lock);
	ctx->sigbus_installed = false;
}

/* ---- context ----------------------------------------------------------------------- */

static int ctx_init_common(struct uswap_ctx *ctx, const struct uswap_opts *opts)
{
	memset(ctx, 0, sizeof(*ctx));
	if (opts)
		memcpy(&ctx->opts, opts, min_t(opts->size, sizeof(ctx->opts)));
	ctx->opts.size = sizeof(ctx->opts);
	ctx->uffd = ctx->pool_uffd = ctx->pagemap_fd = ctx->stop_efd = -1;
	pthread_mutex_init(&ctx->regions_lock, NULL);
	pthread_mutex_init(&ctx->swap_lock, NULL);
	pthread_mutex_init(&ctx->groups_lock, NULL);
	pthread_mutex_init(&ctx->kswapd_lock, NULL);
	pthread_mutex_init(&ctx->kswapd_run_lock, NULL);
	{
		/* Writers first: a fork must not wait behind a stream of evictions. */
		pthread_rwlockattr_t a;
		pthread_rwlockattr_init(&a);
		pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&ctx->evict_lock, &a);
		pthread_rwlockattr_destroy(&a);
	}
	pthread_cond_init(&ctx->kswapd_wait, NULL);
	group_init(ctx, &ctx->root, 0, "root", ctx->opts.limit_bytes >> PAGE_SHIFT);
	ctx->groups[0] = &ctx->root;
	ctx->nr_groups = 1;
	return pool_init(ctx, DEFAULT_POOL_FRAMES);
}

/* Build a context around @mmu without starting threads (unit tests use a fake MMU). */
int ctx_create_with_mmu(const struct uswap_opts *opts, const struct mmu_ops *mmu,
			      struct uswap_ctx **ctxp)
{
	struct uswap_ctx *ctx = calloc(1, sizeof(*ctx));
	int rc;

	if (!ctx)
		return -ENOMEM;
	rc = ctx_init_common(ctx, opts);
	if (rc) {
		free(ctx);
		return rc;
	}
	ctx->mmu = mmu;
	ctx->move_in_min = 8;
	ctx->use_move = true;
	ctx->wp_async = true;
	ctx->zeropage = true;
	*ctxp = ctx;
	return 0;
}

int uswap_ctx_create(const struct uswap_opts *opts, struct uswap_ctx **ctxp)
{
	struct uswap_ctx *ctx;
	int rc;

	if (!ctxp)
		return -EINVAL;
	*ctxp = NULL;
	if (opts) {
		/* Older callers pass a shorter struct; it must end on a field. */
		if (opts->size != offsetof(struct uswap_opts, flags) &&
		    opts->size != offsetof(struct uswap_opts, log) &&
		    opts->size != offsetof(struct uswap_opts, log_arg) && opts->size != sizeof(*opts))
			return -EINVAL;
		if (opts->mode != USWAP_MODE_THREAD && opts->mode != USWAP_MODE_SIGNAL)
			return -EINVAL;
		if (opts->size > offsetof(struct uswap_opts, flags) &&
		    ((opts->flags & ~USWAP_F_ALL) ||
		     (opts->flags & (USWAP_F_KSWAPD | USWAP_F_NO_KSWAPD)) ==
			     (USWAP_F_KSWAPD | USWAP_F_NO_KSWAPD)))
			return -EINVAL;
		if (opts->nr_handlers > 64)
			return -EINVAL;
		if (opts->limit_bytes && (opts->limit_bytes >> PAGE_SHIFT) < MIN_GROUP_PAGES)
			return -EINVAL;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	rc = ctx_init_common(ctx, opts);
	if (rc)
		goto out_free;
	ctx->mmu = &uffd_mmu_ops;
	rc = uffd_open(ctx);
	if (rc)
		goto out_pool;
	/* Signal mode reclaims in the faulting thread unless asked otherwise;
	 * write-protect eviction needs the thread (see vmscan.c). */
	if (ctx->opts.mode == USWAP_MODE_SIGNAL && ctx->use_move &&
	    !(ctx->opts.flags & USWAP_F_KSWAPD))
		ctx->opts.flags |= USWAP_F_NO_KSWAPD;
	ctx->move_in_min = (ctx->opts.flags & USWAP_F_NO_KSWAPD) &&
			   ctx->opts.mode == USWAP_MODE_SIGNAL ? 1 : 8;
	if (!ctx->use_move && (ctx->opts.flags & USWAP_F_NO_KSWAPD)) {
		/* Write-protect eviction ages pages only in kswapd (see vmscan.c). */
		uswap_log(ctx, USWAP_LOG_ERR, "write-protect eviction needs the background reclaim thread");
		rc = -EINVAL;
		goto out_uffd;
	}
	if (ctx->opts.mode == USWAP_MODE_SIGNAL) {
		rc = sigbus_install(ctx);
		if (rc)
			goto out_uffd;
	}
	/* Handler threads: all faults in thread mode; events only in signal mode. */
	if (ctx->opts.mode == USWAP_MODE_SIGNAL)
		ctx->opts.nr_handlers = 1;
	rc = uffd_handlers_start(ctx);
	if (rc)
		goto out_sig;
	if (!(ctx->opts.flags & USWAP_F_NO_KSWAPD)) {
		rc = kswapd_start(ctx);
		if (rc)
			goto out_handlers;
	}
	*ctxp = ctx;
	return 0;

out_handlers:
	uffd_handlers_stop(ctx);
out_sig:
	sigbus_remove(ctx);
out_uffd:
	uffd_close(ctx);
out_pool:
	pool_destroy(ctx);
out_free:
	free(ctx);
	return rc;
}

void region_destroy(struct uswap_ctx *ctx, struct region *r)
{
	struct uswap_group *g = r->group;

	ctx->mmu->unreg(ctx, r->start, r->nr_pages << PAGE_SHIFT);
	region_zap_range(ctx, r, 0, r->nr_pages, false);
	atomic_store(&r->dead, true);
	pthread_mutex_lock(&g->regions_lock);
	for (struct region **pp = &g->regions; *pp; pp = &(*pp)->group_next) {
		if (*pp == r) {
			*pp = r->group_next;
			break;
		}
	}
	if (g->clock_region == r) {
		g->clock_region = NULL;
		g->clock_idx = 0;
	}
	g->nr_regions--;
	pthread_mutex_unlock(&g->regions_lock);
	region_remove(ctx, r);
	region_unmap_all(ctx, r);
	region_free(r);
}

int uswap_ctx_destroy(struct uswap_ctx *ctx)
{
	struct region_table *t;

	if (!ctx)
		return -EINVAL;
	kswapd_stop(ctx);
	/* Regions first (they hold slots), then devices. */
	while ((t = atomic_load(&ctx->regions)) && t->nr)
		region_destroy(ctx, t->r[0]);
	for (int i = 0; i < MAX_SWAPFILES; i++)
		if (atomic_load(&ctx->swap_info[i]))
			swap_device_remove(ctx, i);
	if (ctx->nr_handlers)
		uffd_handlers_stop(ctx);
	sigbus_remove(ctx);
	uffd_close(ctx);
	pool_destroy(ctx);
	for (unsigned int id = 1; id <= MAX_GROUPS; id++)
		free(ctx->groups[id]);
	while (ctx->retired_swap) {
		struct swap_info *si = ctx->retired_swap;
		ctx->retired_swap = si->retired_next;
		free(si);
	}
	for (size_t i = 0; i < ctx->nr_old_tables; i++)
		free(ctx->old_tables[i]);
	free(ctx->old_tables);
	free(atomic_load(&ctx->regions));
	free(ctx);
	return 0;
}

/* ---- devices ----------------------------------------------------------------------- */

int uswap_swapon(struct uswap_ctx *ctx, const char *spec, int prio, int *idp)
{
	if (!ctx || !spec || !*spec || strlen(spec) >= 128)
		return -EINVAL;
	return swap_device_add(ctx, spec, prio, idp);
}

int uswap_swapoff(struct uswap_ctx *ctx, int id)
{
	if (!ctx)
		return -EINVAL;
	return swap_device_remove(ctx, id);
}

/* ---- groups --------------------------------------------------------------------- */

struct uswap_group *uswap_root_group(struct uswap_ctx *ctx)
{
	return ctx ? &ctx->root : NULL;
}

static int check_limit(uint64_t limit_bytes)
{
	return limit_bytes && (limit_bytes >> PAGE_SHIFT) < MIN_GROUP_PAGES ? -EINVAL : 0;
}

int uswap_group_create(struct uswap_ctx *ctx, const char *name, uint64_t limit_bytes,
		       struct uswap_group **groupp)
{
	struct uswap_group *g;
	int rc = -ENOSPC;

	if (!ctx || !groupp || check_limit(limit_bytes) || (name && strlen(name) >= 64))
		return -EINVAL;
	g = malloc(sizeof(*g));
	if (!g)
		return -ENOMEM;
	pthread_mutex_lock(&ctx->groups_lock);
	for (unsigned int id = 1; id <= MAX_GROUPS; id++) {
		if (!ctx->groups[id]) {
			group_init(ctx, g, id, name, limit_bytes >> PAGE_SHIFT);
			ctx->groups[id] = g;
			atomic_fetch_add(&ctx->nr_groups, 1);
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&ctx->groups_lock);
	if (rc) {
		free(g);
		return rc;
	}
	*groupp = g;
	return 0;
}

int uswap_group_destroy(struct uswap_group *g)
{
	struct uswap_ctx *ctx;

	if (!g || g->id == 0)
		return -EINVAL;
	ctx = g->ctx;
	pthread_mutex_lock(&ctx->groups_lock);
	if (g->nr_regions) {
		pthread_mutex_unlock(&ctx->groups_lock);
		return -EBUSY;
	}
	ctx->groups[g->id] = NULL;
	atomic_fetch_sub(&ctx->nr_groups, 1);
	pthread_mutex_unlock(&ctx->groups_lock);
	/* A fault that found one of its regions before they went, or kswapd
	 * walking the groups, may still hold the pointer: let them finish. */
	pthread_mutex_lock(&ctx->kswapd_run_lock);
	pthread_mutex_unlock(&ctx->kswapd_run_lock);
	while (atomic_load(&ctx->faults_in_flight))
		usleep(100);
	free(g);
	return 0;
}

int uswap_group_set_limit(struct uswap_group *g, uint64_t limit_bytes)
{
	uint64_t pages, u;

	if (!g || check_limit(limit_bytes))
		return -EINVAL;
	pages = limit_bytes >> PAGE_SHIFT;
	atomic_store(&g->limit, pages);
	group_set_watermarks(g);
	u = atomic_load(&g->usage);
	if (pages && u + g->wmark_min > pages)
		try_to_free_pages(g, u + g->wmark_min - pages, RECLAIM_USER);
	return 0;
}

int uswap_group_set_oom(struct uswap_group *g, enum uswap_oom_policy policy)
{
	if (!g || (policy != USWAP_OOM_ERROR && policy != USWAP_OOM_KILL && policy != USWAP_OOM_WAIT))
		return -EINVAL;
	g->oom = policy;
	return 0;
}

/* ---- regions ----------------------------------------------------------------------- */

/*
 * region_create - map @nr_pages at @addr (MAP_FIXED) or anywhere (@addr NULL)
 * and manage them under @g.  The fake MMU's tests pass the address to use.
 * Return: 0 with *@rp set; -ENOMEM.
 */
int region_create(struct uswap_ctx *ctx, struct uswap_group *g, void *addr, size_t nr_pages,
		  struct region **rp)
{
	struct region *r;
	int rc;

	if (ctx->mmu == &uffd_mmu_ops) {
		addr = sys_mmap(addr, nr_pages << PAGE_SHIFT, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (addr ? MAP_FIXED : 0),
				-1, 0);
		if (addr == MAP_FAILED)
			return -ENOMEM;
		/* uswap moves single 4 KiB pages; a THP would be split on every move. */
		sys_madvise(addr, nr_pages << PAGE_SHIFT, MADV_NOHUGEPAGE);
	}
	r = region_alloc((uintptr_t)addr, nr_pages, g);
	if (!r) {
		rc = -ENOMEM;
		goto out_unmap;
	}
	rc = ctx->mmu->reg(ctx, (uintptr_t)addr, nr_pages << PAGE_SHIFT);
	if (rc)
		goto out_free;
	rc = region_insert(ctx, r);
	if (rc)
		goto out_unreg;
	pthread_mutex_lock(&g->regions_lock);
	r->group_next = g->regions;
	g->regions = r;
	g->nr_regions++;
	pthread_mutex_unlock(&g->regions_lock);
	*rp = r;
	return 0;

out_unreg:
	ctx->mmu->unreg(ctx, (uintptr_t)addr, nr_pages << PAGE_SHIFT);
out_free:
	region_free(r);
out_unmap:
	if (ctx->mmu == &uffd_mmu_ops)
		sys_munmap(addr, nr_pages << PAGE_SHIFT);
	return rc;
}

int uswap_mmap(struct uswap_ctx *ctx, struct uswap_group *g, size_t len, void **addrp)
{
	struct region *r;
	int rc;

	if (!ctx || !addrp || !len || len > (1ULL << 46))
		return -EINVAL;
	if (!g)
		g = &ctx->root;
	if (g->ctx != ctx)
		return -EINVAL;
	/* The fake MMU of the unit tests supplies the address in *addrp. */
	rc = region_create(ctx, g, ctx->mmu == &uffd_mmu_ops ? NULL : *addrp,
			   (len + PAGE_SIZE - 1) >> PAGE_SHIFT, &r);
	if (rc)
		return rc;
	*addrp = (void *)r->start;
	return 0;
}

int uswap_region_find(struct uswap_ctx *ctx, const void *addr, void **startp, size_t *lenp)
{
	struct region *r;

	if (!ctx)
		return -EINVAL;
	r = region_lookup(ctx, (uintptr_t)addr);
	if (!r)
		return -ENOENT;
	if (startp)
		*startp = (void *)r->start;
	if (lenp)
		*lenp = r->nr_pages << PAGE_SHIFT;
	return 0;
}

/* ---- statistics and reclaim --------------------------------------------------------------- */

int uswap_stats_get(struct uswap_ctx *ctx, struct uswap_group *g, struct uswap_stats *st)
{
	if (!ctx || !st || (g && g->ctx != ctx))
		return -EINVAL;
	vmstat_fill(ctx, g, st);
	return 0;
}

int uswap_reclaim(struct uswap_ctx *ctx, struct uswap_group *g, uint64_t nr_pages,
		  uint64_t *reclaimedp)
{
	uint64_t n;

	if (!ctx || !nr_pages || (g && g->ctx != ctx))
		return -EINVAL;
	n = try_to_free_pages(g ? g : &ctx->root, nr_pages, RECLAIM_USER);
	if (reclaimedp)
		*reclaimedp = n;
	return 0;
}

static int ctx_check_invariants_locked(struct uswap_ctx *ctx, struct region_table *t,
					 uint64_t *residentp, uint64_t *cachep, uint64_t *usagep);

/* Whole-context invariant check for tests.  Context: no fault in flight; pauses kswapd. */
int ctx_check_invariants(struct uswap_ctx *ctx)
{
	struct region_table *t = atomic_load(&ctx->regions);
	uint64_t resident = 0, cache = 0, usage = 0;
	int rc;

	pthread_mutex_lock(&ctx->kswapd_run_lock);
	/* A fault's thread runs on as soon as its page is mapped, while the
	 * handler still finishes (unlocks the slot): wait for handlers. */
	while (atomic_load(&ctx->faults_in_flight))
		sched_yield();
	rc = ctx_check_invariants_locked(ctx, t, &resident, &cache, &usage);
	pthread_mutex_unlock(&ctx->kswapd_run_lock);
	return rc;
}

static int ctx_check_invariants_locked(struct uswap_ctx *ctx, struct region_table *t,
					 uint64_t *residentp, uint64_t *cachep, uint64_t *usagep)
{
	uint64_t resident = 0, cache = 0, usage = 0;
	int rc = swap_check_invariants(ctx);

	if (rc)
		return rc;
	for (size_t i = 0; t && i < t->nr; i++) {
		rc = region_check_invariants(t->r[i]);
		if (rc)
			return rc;
	}
	for (unsigned int id = 0; id <= MAX_GROUPS; id++) {
		struct uswap_group *g = ctx->groups[id];
		uint32_t n = 0;
		if (!g)
			continue;
		resident += atomic_load(&g->nr_resident);
		cache += atomic_load(&g->nr_swapcache);
		usage += atomic_load(&g->usage);
		if (atomic_load(&g->usage) != atomic_load(&g->nr_resident) + atomic_load(&g->nr_swapcache))
			return INVARIANT_FAIL();
		pthread_mutex_lock(&g->lru_lock);
		for (uint32_t f = g->inactive_head; f != FRAME_NIL; f = ctx->pool.frames[f].next)
			n++;
		pthread_mutex_unlock(&g->lru_lock);
		if (n != atomic_load(&g->nr_swapcache))
			return INVARIANT_FAIL();
	}
	pthread_mutex_lock(&ctx->pool.lock);
	uint32_t nr_free = ctx->pool.nr_free, nr_warm = ctx->pool.nr_warm;
	pthread_mutex_unlock(&ctx->pool.lock);
	if (nr_free + nr_warm + cache != ctx->pool.nr)
		return INVARIANT_FAIL();
	*residentp = resident;
	*cachep = cache;
	*usagep = usage;
	return 0;
}
