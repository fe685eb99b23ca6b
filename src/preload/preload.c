// SPDX-License-Identifier: MIT
/*
 * preload.c - libuswap_preload.so: the program's large private anonymous
 * mappings become uswap regions, and every later change to them is followed.
 *
 * Which mappings: private, anonymous, read-write, not MAP_FIXED, not
 * hugetlb/stack, at least the threshold (default 1 MiB).  Everything else goes
 * to the kernel and is counted by reason (enum shim_unmanaged).
 *
 * The managed-range list: a sorted array of the spans [start, end) of the
 * uswap regions alive, in memory from raw mmap(2) (never the program's
 * allocator).  It answers "which parts of this range are uswap's" for munmap,
 * mremap, madvise and mlock, whose ranges may span managed and unmanaged
 * mappings; each uswap_* call then gets a range inside one region.  A region's
 * span never changes: a partial munmap leaves a PROT_NONE hole that uswap
 * still owns (src/mremap.c), so the span stays in the list until the region
 * is gone (uswap_region_find no longer finds it), and a later munmap, mremap
 * target or MAP_FIXED over a hole goes through uswap again.  A racy [lo, hi)
 * span of all regions lets calls on other memory skip the lock.
 *
 * Recursion and signals: interposers reach the kernel with syscall(2), so they
 * work before the constructor ran and from uswap's own threads (which wrap.c
 * marks); uswap's own memory calls are raw (src/sys.h) and never come here.
 * The list lock is taken with the asynchronous signals blocked, so a signal
 * handler that maps or unmaps memory cannot deadlock against its own thread.
 *
 * fork: pthread_atfork hooks call uswap_fork_prepare/parent/child; the child
 * gets a private copy of managed memory and stops managing: its interposers go
 * straight to the kernel.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../../tools/run_env.h"
#include "preload.h"

#define SHIM_PAGE 4096ul
#define PAGE_UP(x) (((x) + SHIM_PAGE - 1) & ~(SHIM_PAGE - 1))
#define EXPORT __attribute__((visibility("default")))

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif

struct shim_counters shim_count;
struct shim_config shim_cfg = { .threshold_bytes = RUN_DEFAULT_THRESHOLD, .status_fd = -1 };
const char *const shim_unmanaged_name[NR_UNMANAGED] = {
	[UNMANAGED_SMALL] = "small",	 [UNMANAGED_FILE] = "file",
	[UNMANAGED_SHARED] = "shared",	 [UNMANAGED_PROT] = "prot",
	[UNMANAGED_FIXED] = "fixed",	 [UNMANAGED_SPECIAL] = "special",
	[UNMANAGED_FALLBACK] = "fallback",
};

static _Atomic(struct uswap_ctx *) the_ctx;
/* The context even after a fork child dropped it: only for statistics. */
static struct uswap_ctx *stat_ctx;

struct range {
	uintptr_t start, end;
};
/* All protected by ranges_lock. */
static pthread_mutex_t ranges_lock = PTHREAD_MUTEX_INITIALIZER;
static struct range *ranges;
static size_t nr_ranges, cap_ranges;
static uint64_t managed_bytes, managed_peak;
static bool lock_future; /* mlockall(MCL_FUTURE) is in force */
/* Racy bounds of every range ever managed: a call outside skips the lock. */
static _Atomic uintptr_t span_lo = UINTPTR_MAX, span_hi;
static int fork_prepared; /* uswap_fork_prepare()'s result for this fork */

/* ---- the kernel, directly -------------------------------------------------------------- */

static void *raw_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

static int raw_munmap(void *addr, size_t len)
{
	return (int)syscall(SYS_munmap, addr, len);
}

static int raw_madvise(void *addr, size_t len, int advice)
{
	return (int)syscall(SYS_madvise, addr, len, advice);
}

/* -errno form of a library return value, with errno set for the caller. */
static int lib_result(int rc)
{
	if (rc < 0) {
		atomic_fetch_add(&shim_count.lib_errors, 1);
		errno = -rc;
		return -1;
	}
	return 0;
}

/* ---- context and locking --------------------------------------------------------------- */

struct uswap_ctx *shim_ctx(void)
{
	if (shim_depth || shim_internal_thread())
		return NULL;
	return atomic_load_explicit(&the_ctx, memory_order_acquire);
}

struct uswap_ctx *shim_ctx_any(void)
{
	return stat_ctx;
}

static void shim_lock(sigset_t *old)
{
	sigset_t set;

	sigfillset(&set);
	/* Synchronous signals cannot be blocked usefully (the kernel forces them),
	 * and signal mode needs SIGBUS. */
	sigdelset(&set, SIGBUS);
	sigdelset(&set, SIGSEGV);
	sigdelset(&set, SIGILL);
	sigdelset(&set, SIGFPE);
	sigdelset(&set, SIGTRAP);
	pthread_sigmask(SIG_BLOCK, &set, old);
	pthread_mutex_lock(&ranges_lock);
	shim_depth++;
}

static void shim_unlock(const sigset_t *old)
{
	int e = errno;

	shim_depth--;
	pthread_mutex_unlock(&ranges_lock);
	pthread_sigmask(SIG_SETMASK, old, NULL);
	errno = e;
}

static bool span_overlaps(uintptr_t a, uintptr_t b)
{
	return a < atomic_load_explicit(&span_hi, memory_order_acquire) &&
	       b > atomic_load_explicit(&span_lo, memory_order_acquire);
}

/* ---- the managed-range list (ranges_lock held) ------------------------------------------- */

/* Index of the first range ending after @pos. */
static size_t ranges_search(uintptr_t pos)
{
	size_t lo = 0, hi = nr_ranges;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (ranges[mid].end <= pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int ranges_reserve(size_t nr)
{
	size_t cap = cap_ranges ? cap_ranges : 256;
	struct range *n;

	if (nr <= cap_ranges)
		return 0;
	while (cap < nr)
		cap *= 2;
	n = raw_mmap(NULL, PAGE_UP(cap * sizeof(*n)), PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (n == MAP_FAILED)
		return -ENOMEM;
	if (ranges) {
		memcpy(n, ranges, nr_ranges * sizeof(*n));
		raw_munmap(ranges, PAGE_UP(cap_ranges * sizeof(*n)));
	}
	ranges = n;
	cap_ranges = cap;
	return 0;
}

static int ranges_add(uintptr_t start, uintptr_t end)
{
	size_t i;

	if (ranges_reserve(nr_ranges + 1))
		return -ENOMEM;
	i = ranges_search(start);
	memmove(&ranges[i + 1], &ranges[i], (nr_ranges - i) * sizeof(*ranges));
	ranges[i] = (struct range){ start, end };
	nr_ranges++;
	managed_bytes += end - start;
	if (managed_bytes > managed_peak)
		managed_peak = managed_bytes;
	if (start < atomic_load(&span_lo))
		atomic_store(&span_lo, start);
	if (end > atomic_load(&span_hi))
		atomic_store(&span_hi, end);
	return 0;
}

/* Forget [start, end), which may cut ranges in two. */
static int ranges_del(uintptr_t start, uintptr_t end)
{
	size_t i = ranges_search(start);

	while (i < nr_ranges && ranges[i].start < end) {
		struct range *r = &ranges[i];
		uintptr_t s = r->start > start ? r->start : start;
		uintptr_t e = r->end < end ? r->end : end;

		managed_bytes -= e - s;
		if (r->start < s && r->end > e) { /* a hole in the middle: split */
			if (ranges_reserve(nr_ranges + 1))
				return -ENOMEM;
			r = &ranges[i];
			memmove(&ranges[i + 1], &ranges[i], (nr_ranges - i) * sizeof(*ranges));
			nr_ranges++;
			ranges[i].end = s;
			ranges[i + 1].start = e;
			return 0;
		}
		if (r->start < s) {
			r->end = s;
			i++;
		} else if (r->end > e) {
			r->start = e;
			i++;
		} else {
			memmove(&ranges[i], &ranges[i + 1], (nr_ranges - i - 1) * sizeof(*ranges));
			nr_ranges--;
		}
	}
	return 0;
}

/*
 * for_each_piece - cut [@a, @b) into managed pieces, each inside one uswap
 * region, and unmanaged gaps, and call @fn on each in address order.
 * Context: ranges_lock held; @fn may change the list.
 * Return: 0 or the first -1 of @fn (errno from that call).
 */
static int for_each_piece(struct uswap_ctx *ctx, uintptr_t a, uintptr_t b,
			  int (*fn)(struct uswap_ctx *ctx, uintptr_t s, uintptr_t e, bool managed,
				    void *arg),
			  void *arg)
{
	int ret = 0, err = 0;

	for (uintptr_t pos = a; pos < b;) {
		size_t i = ranges_search(pos);
		uintptr_t e;
		bool managed = i < nr_ranges && ranges[i].start <= pos;

		if (managed && uswap_region_find(ctx, (void *)pos, NULL, NULL)) {
			/* Stale: the region went without the shim noticing. */
			ranges_del(ranges[i].start, ranges[i].end);
			continue;
		}
		if (managed) {
			e = ranges[i].end < b ? ranges[i].end : b;
		} else {
			e = i < nr_ranges && ranges[i].start < b ? ranges[i].start : b;
		}
		if (fn(ctx, pos, e, managed, arg) && !ret) {
			ret = -1;
			err = errno;
		}
		pos = e;
	}
	if (ret)
		errno = err;
	return ret;
}

void shim_managed_totals(uint64_t *bytesp, uint64_t *nrp, uint64_t *peakp)
{
	sigset_t old;

	shim_lock(&old);
	*bytesp = managed_bytes;
	*nrp = nr_ranges;
	*peakp = managed_peak;
	shim_unlock(&old);
}

uint64_t shim_managed_overlap(uintptr_t start, uintptr_t end)
{
	uint64_t n = 0;
	sigset_t old;

	shim_lock(&old);
	for (size_t i = ranges_search(start); i < nr_ranges && ranges[i].start < end; i++) {
		uintptr_t s = ranges[i].start > start ? ranges[i].start : start;
		uintptr_t e = ranges[i].end < end ? ranges[i].end : end;
		n += e - s;
	}
	shim_unlock(&old);
	return n;
}

/*
 * After a library call that may have destroyed or created regions: the span
 * [@start, +@len) that was a region leaves the list if that region is gone,
 * and the region now at @now (if any, NULL: none) joins it.
 * Context: ranges_lock held.
 */
static void region_sync(struct uswap_ctx *ctx, void *start, size_t len, void *now)
{
	void *s;
	size_t l;

	if (start && (uswap_region_find(ctx, start, &s, &l) || s != start || l != len))
		ranges_del((uintptr_t)start, (uintptr_t)start + len);
	if (now && uswap_region_find(ctx, now, &s, &l) == 0) {
		size_t i = ranges_search((uintptr_t)s);
		if (i >= nr_ranges || ranges[i].start != (uintptr_t)s ||
		    ranges[i].end != (uintptr_t)s + l) {
			ranges_del((uintptr_t)s, (uintptr_t)s + l);
			ranges_add((uintptr_t)s, (uintptr_t)s + l);
		}
	}
}

/* ---- munmap ------------------------------------------------------------------------------ */

static int unmap_piece(struct uswap_ctx *ctx, uintptr_t s, uintptr_t e, bool managed, void *arg)
{
	int rc;

	if (!managed)
		return raw_munmap((void *)s, e - s);
	void *rs = NULL;
	size_t rl = 0;

	uswap_region_find(ctx, (void *)s, &rs, &rl);
	rc = uswap_munmap(ctx, (void *)s, e - s);
	if (rc == 0) {
		atomic_fetch_add(&shim_count.munmap_managed, 1);
		region_sync(ctx, rs, rl, NULL);
	}
	return lib_result(rc);
}

EXPORT int munmap(void *addr, size_t len)
{
	struct uswap_ctx *ctx = shim_ctx();
	uintptr_t a = (uintptr_t)addr, b = a + PAGE_UP(len);
	sigset_t old;
	int rc;

	if (!ctx || (a & (SHIM_PAGE - 1)) || !len || b < a || !span_overlaps(a, b))
		return raw_munmap(addr, len);
	shim_lock(&old);
	rc = for_each_piece(ctx, a, b, unmap_piece, NULL);
	shim_unlock(&old);
	return rc;
}

/* ---- mmap -------------------------------------------------------------------------------- */

static enum shim_unmanaged mmap_classify(size_t len, int prot, int flags)
{
	int type = flags & MAP_TYPE;

	if (type != MAP_PRIVATE)
		return UNMANAGED_SHARED;
	if (!(flags & MAP_ANONYMOUS))
		return UNMANAGED_FILE;
	if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE))
		return UNMANAGED_FIXED;
	if (flags & (MAP_HUGETLB | MAP_GROWSDOWN | MAP_STACK | MAP_32BIT))
		return UNMANAGED_SPECIAL;
	if (prot != (PROT_READ | PROT_WRITE))
		return UNMANAGED_PROT;
	if (len < shim_cfg.threshold_bytes)
		return UNMANAGED_SMALL;
	return NR_UNMANAGED; /* managed */
}

static void count_unmanaged(enum shim_unmanaged why, size_t len)
{
	atomic_fetch_add(&shim_count.unmanaged[why], 1);
	atomic_fetch_add(&shim_count.unmanaged_bytes[why], len);
}

/* Give [a, b) back to the kernel's management before a MAP_FIXED over it. */
static void unmanage(struct uswap_ctx *ctx, uintptr_t a, uintptr_t b)
{
	sigset_t old;

	if (!span_overlaps(a, b))
		return;
	shim_lock(&old);
	/*
	 * Twice: live pages become holes, holes become "gone" (src/mremap.c):
	 * addresses uswap no longer owns nor unmaps, free for the kernel's
	 * mapping that replaces them.
	 */
	for (size_t i = ranges_search(a); i < nr_ranges && ranges[i].start < b;) {
		uintptr_t s = ranges[i].start > a ? ranges[i].start : a;
		uintptr_t e = ranges[i].end < b ? ranges[i].end : b;
		struct range r = ranges[i];

		if (uswap_munmap(ctx, (void *)s, e - s) < 0 ||
		    (uswap_region_find(ctx, (void *)r.start, NULL, NULL) == 0 &&
		     uswap_munmap(ctx, (void *)s, e - s) < 0))
			atomic_fetch_add(&shim_count.lib_errors, 1);
		region_sync(ctx, (void *)r.start, r.end - r.start, NULL);
		if (e >= b) /* the range may go on past b: it is still in the list */
			break;
		i = ranges_search(e);
	}
	shim_unlock(&old);
}

static void *mmap_managed(struct uswap_ctx *ctx, size_t len, int flags)
{
	void *p = NULL;
	sigset_t old;
	int rc;

	shim_lock(&old);
	rc = uswap_mmap(ctx, NULL, len, &p);
	if (rc == 0 && ranges_add((uintptr_t)p, (uintptr_t)p + PAGE_UP(len))) {
		uswap_munmap(ctx, p, len);
		rc = -ENOMEM;
	}
	if (rc == 0 && ((flags & MAP_LOCKED) || lock_future)) {
		rc = uswap_mlock(ctx, p, PAGE_UP(len), true);
		if (rc < 0) {
			uswap_munmap(ctx, p, len);
			ranges_del((uintptr_t)p, (uintptr_t)p + PAGE_UP(len));
			shim_unlock(&old);
			errno = EAGAIN; /* mmap(2): MAP_LOCKED over the locking limit */
			return MAP_FAILED;
		}
	}
	shim_unlock(&old);
	if (rc < 0) {
		atomic_fetch_add(&shim_count.lib_errors, 1);
		return NULL;
	}
	atomic_fetch_add(&shim_count.mmap_managed, 1);
	atomic_fetch_add(&shim_count.mmap_managed_bytes, PAGE_UP(len));
	return p;
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	struct uswap_ctx *ctx = shim_ctx();
	enum shim_unmanaged why;

	if (!ctx || !len)
		return raw_mmap(addr, len, prot, flags, fd, off);
	why = mmap_classify(len, prot, flags);
	if (why == NR_UNMANAGED) {
		void *p = mmap_managed(ctx, len, flags);
		if (p)
			return p;
		why = UNMANAGED_FALLBACK;
	}
	count_unmanaged(why, len);
	if ((flags & MAP_FIXED) && !(flags & MAP_FIXED_NOREPLACE))
		unmanage(ctx, (uintptr_t)addr, (uintptr_t)addr + PAGE_UP(len));
	if (lock_future)
		flags |= MAP_LOCKED;
	return raw_mmap(addr, len, prot, flags, fd, off);
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
	__attribute__((alias("mmap")));

/* ---- mremap ------------------------------------------------------------------------------ */

EXPORT void *mremap(void *old_addr, size_t old_len, size_t new_len, int flags, ...)
{
	struct uswap_ctx *ctx = shim_ctx();
	uintptr_t a = (uintptr_t)old_addr, b = a + PAGE_UP(old_len);
	void *new_addr = NULL, *res = NULL;
	sigset_t old;
	size_t i;
	int rc;

	if (flags & MREMAP_FIXED) {
		va_list ap;
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	if (!ctx || (a & (SHIM_PAGE - 1)) || !span_overlaps(a, b > a ? b : a + 1)) {
		if (ctx && (flags & MREMAP_FIXED))
			unmanage(ctx, (uintptr_t)new_addr, (uintptr_t)new_addr + PAGE_UP(new_len));
		return (void *)syscall(SYS_mremap, old_addr, old_len, new_len, flags, new_addr);
	}
	shim_lock(&old);
	i = ranges_search(a);
	if (i >= nr_ranges || ranges[i].start > a) {
		/* Not managed: only the target may be. */
		shim_unlock(&old);
		if (flags & MREMAP_FIXED)
			unmanage(ctx, (uintptr_t)new_addr, (uintptr_t)new_addr + PAGE_UP(new_len));
		return (void *)syscall(SYS_mremap, old_addr, old_len, new_len, flags, new_addr);
	}
	if (!old_len || (flags & MREMAP_DONTUNMAP)) {
		/* old_len 0 duplicates shared mappings only; DONTUNMAP would leave
		 * an empty mapping behind that uswap does not know. */
		shim_unlock(&old);
		errno = EINVAL;
		return MAP_FAILED;
	}
	if (b > ranges[i].end) {
		shim_unlock(&old);
		errno = EFAULT; /* the kernel's answer for a range over two mappings */
		return MAP_FAILED;
	}
	if ((flags & MREMAP_FIXED) && span_overlaps((uintptr_t)new_addr,
						    (uintptr_t)new_addr + PAGE_UP(new_len))) {
		/* The target is unmapped first, as the kernel does. */
		shim_unlock(&old);
		unmanage(ctx, (uintptr_t)new_addr, (uintptr_t)new_addr + PAGE_UP(new_len));
		shim_lock(&old);
	}
	struct range was = ranges[ranges_search(a)];
	rc = uswap_mremap(ctx, old_addr, old_len, new_len, flags, new_addr, &res);
	if (rc == 0)
		atomic_fetch_add(&shim_count.mremap_managed, 1);
	/* Even on failure pages may have moved (src/mremap.c): follow the regions. */
	region_sync(ctx, (void *)was.start, was.end - was.start, rc == 0 ? res : NULL);
	shim_unlock(&old);
	if (lib_result(rc))
		return MAP_FAILED;
	return res;
}

/* ---- madvise ----------------------------------------------------------------------------- */

static int advise_piece(struct uswap_ctx *ctx, uintptr_t s, uintptr_t e, bool managed, void *arg)
{
	int advice = *(int *)arg;

	if (!managed)
		return raw_madvise((void *)s, e - s, advice);
	switch (advice) {
	case MADV_DONTNEED_LOCKED:
		advice = MADV_DONTNEED;
		break;
	case MADV_POPULATE_READ:
	case MADV_POPULATE_WRITE:
		advice = MADV_WILLNEED;
		break;
	case MADV_DONTNEED:
	case MADV_FREE: /* never to the kernel: it could drop a page uswap counts as present */
	case MADV_WILLNEED:
	case MADV_COLD:
	case MADV_PAGEOUT:
		break;
	case MADV_DONTFORK:
	case MADV_WIPEONFORK:
	case MADV_REMOVE:
		/* A forked child gets a copy of all managed memory; and REMOVE is
		 * for shared memory only. */
		errno = EINVAL;
		return -1;
	default: /* hints: NORMAL, RANDOM, SEQUENTIAL, HUGEPAGE, DONTDUMP... */
		return raw_madvise((void *)s, e - s, advice);
	}
	atomic_fetch_add(&shim_count.madvise_managed, 1);
	return lib_result(uswap_madvise(ctx, (void *)s, e - s, advice));
}

EXPORT int madvise(void *addr, size_t len, int advice)
{
	struct uswap_ctx *ctx = shim_ctx();
	uintptr_t a = (uintptr_t)addr, b = a + PAGE_UP(len);
	sigset_t old;
	int rc;

	if (!ctx || (a & (SHIM_PAGE - 1)) || !len || b < a || !span_overlaps(a, b))
		return raw_madvise(addr, len, advice);
	shim_lock(&old);
	rc = for_each_piece(ctx, a, b, advise_piece, &advice);
	shim_unlock(&old);
	return rc;
}

EXPORT int posix_madvise(void *addr, size_t len, int advice)
{
	int e = errno, rc;

	if (advice == POSIX_MADV_DONTNEED)
		return 0; /* as glibc: POSIX's DONTNEED must not discard data */
	rc = madvise(addr, len, advice) ? errno : 0;
	errno = e;
	return rc;
}

/* ---- mlock ------------------------------------------------------------------------------- */

struct lock_arg {
	bool lock;
	int flags; /* mlock2 flags */
};

static int lock_piece(struct uswap_ctx *ctx, uintptr_t s, uintptr_t e, bool managed, void *arg)
{
	struct lock_arg *la = arg;

	if (!managed) {
		if (la->lock)
			return (int)syscall(SYS_mlock2, s, e - s, la->flags);
		return (int)syscall(SYS_munlock, s, e - s);
	}
	atomic_fetch_add(&shim_count.mlock_managed, 1);
	return lib_result(uswap_mlock(ctx, (void *)s, e - s, la->lock));
}

static int lock_range(const void *addr, size_t len, bool lock, int flags)
{
	struct uswap_ctx *ctx = shim_ctx();
	uintptr_t a = (uintptr_t)addr & ~(SHIM_PAGE - 1);
	uintptr_t b = PAGE_UP((uintptr_t)addr + len);
	struct lock_arg la = { lock, flags };
	sigset_t old;
	int rc;

	if (!ctx || !span_overlaps(a, b)) {
		if (lock)
			return (int)syscall(SYS_mlock2, addr, len, flags);
		return (int)syscall(SYS_munlock, addr, len);
	}
	shim_lock(&old);
	rc = for_each_piece(ctx, a, b, lock_piece, &la);
	shim_unlock(&old);
	return rc;
}

EXPORT int mlock(const void *addr, size_t len)
{
	return lock_range(addr, len, true, 0);
}

EXPORT int mlock2(const void *addr, size_t len, unsigned int flags)
{
	return lock_range(addr, len, true, (int)flags);
}

EXPORT int munlock(const void *addr, size_t len)
{
	return lock_range(addr, len, false, 0);
}

/* Lock or unlock every managed range.  Context: ranges_lock held. */
static int lock_all_managed(struct uswap_ctx *ctx, bool lock)
{
	for (size_t i = 0; i < nr_ranges; i++) {
		struct lock_arg la = { lock, 0 };
		if (for_each_piece(ctx, ranges[i].start, ranges[i].end, lock_piece, &la))
			return -1;
	}
	return 0;
}

/*
 * mlockall: MCL_CURRENT pins managed memory with uswap_mlock() first, so that
 * the kernel's mlockall finds every managed page present and faults none in.
 * MCL_FUTURE is not given to the kernel, which would populate uswap's future
 * regions before they are registered: the shim remembers it and locks later
 * mappings itself (memory glibc maps internally is then not locked).
 */
EXPORT int mlockall(int flags)
{
	struct uswap_ctx *ctx = shim_ctx();
	sigset_t old;
	int rc = 0;

	if (!ctx)
		return (int)syscall(SYS_mlockall, flags);
	shim_lock(&old);
	if (flags & MCL_CURRENT) {
		rc = lock_all_managed(ctx, true);
		if (rc == 0)
			rc = (int)syscall(SYS_mlockall, flags & (MCL_CURRENT | MCL_ONFAULT));
		if (rc) {
			int e = errno;
			lock_all_managed(ctx, false);
			errno = e;
		}
	} else if (!(flags & MCL_FUTURE)) {
		errno = EINVAL;
		rc = -1;
	}
	if (rc == 0 && (flags & MCL_FUTURE))
		lock_future = true;
	shim_unlock(&old);
	return rc;
}

EXPORT int munlockall(void)
{
	struct uswap_ctx *ctx = shim_ctx();
	sigset_t old;
	int rc;

	if (!ctx)
		return (int)syscall(SYS_munlockall);
	shim_lock(&old);
	lock_future = false;
	rc = lock_all_managed(ctx, false);
	if ((int)syscall(SYS_munlockall))
		rc = -1;
	shim_unlock(&old);
	return rc;
}

/* ---- fork -------------------------------------------------------------------------------- */

static sigset_t fork_mask;

static void fork_prepare(void)
{
	struct uswap_ctx *ctx = shim_ctx();

	shim_lock(&fork_mask);
	fork_prepared = ctx ? uswap_fork_prepare(ctx) : -ESRCH;
}

static void fork_parent(void)
{
	struct uswap_ctx *ctx = atomic_load(&the_ctx);

	if (ctx && fork_prepared == 0)
		uswap_fork_parent(ctx);
	atomic_fetch_add(&shim_count.forks, 1);
	shim_unlock(&fork_mask);
}

static void fork_child(void)
{
	struct uswap_ctx *ctx = atomic_load(&the_ctx);
	int rc = fork_prepared;

	if (!ctx) {
		shim_unlock(&fork_mask);
		return;
	}
	if (rc == 0)
		rc = uswap_fork_child(ctx);
	/* From here on this process manages nothing. */
	atomic_store(&the_ctx, NULL);
	if (rc == -ENOSYS || (rc < 0 && fork_prepared < 0)) {
		/* No private copy could be made: swapped-out pages would read as
		 * zeroes.  Make the memory fault instead of lying. */
		static const char msg[] = "uswap: fork: no copy of managed memory in the child "
					  "(library without fork support): it is inaccessible\n";
		for (size_t i = 0; i < nr_ranges; i++)
			syscall(SYS_mprotect, ranges[i].start, ranges[i].end - ranges[i].start,
				PROT_NONE);
		if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
			(void)0;
	}
	nr_ranges = 0;
	managed_bytes = 0;
	shim_status_close();
	shim_unlock(&fork_mask);
}

/* ---- set-up ------------------------------------------------------------------------------ */

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long x;

	if (!s || !*s)
		return false;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*v = x;
	return true;
}

/* USWAP_STATUS_FD=FD:INO, used only if FD is still that pipe. */
static int status_fd_from_env(void)
{
	const char *s = getenv(RUN_ENV_STATUS_FD);
	unsigned long long fd, ino;
	struct stat st;

	if (!s || sscanf(s, "%llu:%llu", &fd, &ino) != 2 || fd > INT_MAX)
		return -1;
	if (fstat((int)fd, &st) || !S_ISFIFO(st.st_mode) || st.st_ino != ino)
		return -1;
	return (int)fd;
}

static bool preload_entry_ours(const char *tok, size_t n, const char *self, const char *strip)
{
	if (self && strlen(self) == n && !strncmp(tok, self, n))
		return true;
	for (const char *p = strip; p && *p;) {
		const char *q = strchr(p, ':');
		size_t m = q ? (size_t)(q - p) : strlen(p);
		if (m == n && !strncmp(tok, p, n))
			return true;
		p = q ? q + 1 : NULL;
	}
	return false;
}

/*
 * Unless following exec, leave no trace in the environment: drop the shim and
 * the allocator from LD_PRELOAD (in place: the strings only shrink) and every
 * USWAP_* variable, so programs the program runs are not managed.
 */
static void env_strip(void)
{
	extern char **environ;
	const char *strip = getenv(RUN_ENV_STRIP);
	Dl_info info;
	const char *self = dladdr((void *)env_strip, &info) ? info.dli_fname : NULL;
	size_t j = 0;

	for (size_t i = 0; environ[i]; i++) {
		char *e = environ[i];
		if (!strncmp(e, "LD_PRELOAD=", 11)) {
			char *src = e + 11, *dst = e + 11;
			while (*src) {
				size_t n = strcspn(src, ": ");
				if (n && !preload_entry_ours(src, n, self, strip)) {
					if (dst != e + 11)
						*dst++ = ':';
					memmove(dst, src, n);
					dst += n;
				}
				src += n;
				src += strspn(src, ": ");
			}
			*dst = '\0';
			if (!e[11])
				continue; /* empty: drop the variable */
		} else if (!strncmp(e, "USWAP_", 6)) {
			continue;
		}
		environ[j++] = e;
	}
	environ[j] = NULL;
}

static void init_fail(const char *kind, const char *what, int rc)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s: %s", what, strerror(-rc));
	if (shim_cfg.status_fd >= 0)
		shim_status_line("error %d %s %s\n", (int)getpid(), kind, msg);
	else
		dprintf(STDERR_FILENO, "uswap preload: %s\n", msg);
	/* Never run the program unmanaged behind the user's back. */
	_exit(7);
}

__attribute__((constructor)) static void shim_init(void)
{
	struct uswap_opts opts = { .size = sizeof(opts) };
	struct uswap_ctx *ctx;
	const char *mem = getenv(RUN_ENV_MEM), *s;
	char swap[1024];
	uint64_t v;
	int rc;

	if (!mem)
		return;
	shim_depth++;
	shim_cfg.status_fd = status_fd_from_env();
	shim_cfg.follow_exec = (s = getenv(RUN_ENV_FOLLOW_EXEC)) && !strcmp(s, "1");
	shim_cfg.send_stat = (s = getenv(RUN_ENV_STAT)) && !strcmp(s, "1");
	if (!parse_u64(mem, &shim_cfg.limit_bytes))
		init_fail("other", "bad " RUN_ENV_MEM, -EINVAL);
	if ((s = getenv(RUN_ENV_THRESHOLD))) {
		if (!parse_u64(s, &v))
			init_fail("other", "bad " RUN_ENV_THRESHOLD, -EINVAL);
		shim_cfg.threshold_bytes = v;
	}
	s = getenv(RUN_ENV_MODE);
	shim_cfg.mode = s && !strcmp(s, "signal") ? USWAP_MODE_SIGNAL : USWAP_MODE_THREAD;
	if ((s = getenv(RUN_ENV_COLOCATE)) && !strcmp(s, "0"))
		opts.flags |= USWAP_F_NO_COLOCATE;
	s = getenv(RUN_ENV_SWAP);
	snprintf(swap, sizeof(swap), "%s", s && *s ? s : "zram:lz4:size=4G");
	if (shim_cfg.status_fd >= 0 && !shim_cfg.follow_exec)
		fcntl(shim_cfg.status_fd, F_SETFD, FD_CLOEXEC);
	if (!shim_cfg.follow_exec) {
		shim_exec_save_env();
		env_strip();
	}

	opts.mode = shim_cfg.mode;
	opts.limit_bytes = shim_cfg.limit_bytes;
	opts.log = shim_log;
	rc = uswap_ctx_create(&opts, &ctx);
	if (rc < 0)
		init_fail(rc == -EPERM ? "perm" : rc == -EINVAL ? "limit" : "other",
			  "cannot create the uswap context", rc);
	for (char *save = NULL, *spec = strtok_r(swap, ";", &save); spec;
	     spec = strtok_r(NULL, ";", &save)) {
		rc = uswap_swapon(ctx, spec, 0, NULL);
		if (rc < 0) {
			char what[160];
			snprintf(what, sizeof(what), "swapon %s", spec);
			init_fail("swap", what, rc);
		}
	}
	stat_ctx = ctx;
	rc = pthread_atfork(fork_prepare, fork_parent, fork_child);
	if (rc)
		init_fail("other", "pthread_atfork", -rc);
	rc = shim_server_start();
	if (rc < 0)
		shim_log(NULL, USWAP_LOG_WARN, "no stats socket: uswap stat will not see this process");
	atomic_store_explicit(&the_ctx, ctx, memory_order_release);
	shim_status_line("ready %d\n", (int)getpid());
	shim_depth--;
}

/*
 * At exit the context stays: other threads may still run and touch managed
 * memory while the process exits.  Only the final statistics are sent.
 */
__attribute__((destructor)) static void shim_fini(void)
{
	if (atomic_load(&the_ctx) && shim_cfg.send_stat)
		shim_status_stat();
}
