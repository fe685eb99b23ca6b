/* SPDX-License-Identifier: MIT */
/*
 * uffd.c - the MMU adapter: everything that talks to userfaultfd.
 *
 * kernel: fs/userfaultfd.c and mm/userfaultfd.c are the other side.
 *
 * Two userfaultfds:
 *  - ctx->uffd covers program regions: MISSING (+ WP for dirty tracking),
 *    with the non-cooperative events REMOVE/UNMAP/REMAP so that the
 *    program's own madvise/munmap/mremap are followed.  While an event is
 *    unread, the thread that caused it waits and UFFDIO_COPY fails with
 *    EAGAIN: handler threads must keep reading.
 *  - ctx->pool_uffd covers the page pool, with no events: UFFDIO_MOVE needs
 *    its destination registered, and MADV_DONTNEED of pool frames must never
 *    wait for an event to be read (reclaim runs in handler threads too).
 *    UFFDIO_MOVE is issued on the pool's fd (the destination's), and the
 *    kernel accepts a source registered with another uffd (measured on 6.18).
 *
 * Features are probed at run time (UFFDIO_API on a throw-away fd) and the
 * context degrades: without MOVE it evicts by write-protect + copy + zap.
 */
#include <sys/prctl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "uffd_compat.h"

static void uffd_lock_range(struct uswap_ctx *ctx, uintptr_t addr, size_t len);

/* ---- opening and probing --------------------------------------------------- */

/* Tests set this to exercise the /dev/userfaultfd path. */
bool uffd_force_device;

static int uffd_open_fd(struct uswap_ctx *ctx)
{
	int fd = uffd_force_device ? -1 : (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	int err = uffd_force_device ? EPERM : 0;

	if (fd >= 0)
		return fd;
	if (!err)
		err = errno;
	if (err == ENOSYS)
		return -ENOSYS;
	/* Without CAP_SYS_PTRACE and vm.unprivileged_userfaultfd=0, the device
	 * node (if its permissions allow) still gives a full userfaultfd. */
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev >= 0) {
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		err = errno;
		close(dev);
		if (fd >= 0)
			return fd;
	}
	uswap_log(ctx, USWAP_LOG_ERR,
		  "userfaultfd not permitted (%s): run as root, give CAP_SYS_PTRACE, set "
		  "vm.unprivileged_userfaultfd=1, or grant access to /dev/userfaultfd",
		  strerror(err));
	return -EPERM;
}

static int uffd_api(int fd, uint64_t features, uint64_t *got)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	int rc = sys_uffd_ioctl(fd, UFFDIO_API, &api);
	if (!rc && got)
		*got = api.features;
	return rc;
}

/*
 * Can UFFDIO_MOVE take the shared zero page?  (6.8 and 6.9 refuse it with
 * EBUSY; later kernels move it.)  If so, read faults on never-written pages
 * map the zero page and cost no memory.  Probed on a scratch page moved into
 * pool frame 0, which is then emptied again.
 */
static bool probe_move_zeropage(struct uswap_ctx *ctx)
{
	void *scratch = sys_mmap_anon(PAGE_SIZE);
	struct uffdio_register reg = { .range = { (uintptr_t)scratch, PAGE_SIZE },
				       .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct uffdio_zeropage z = { .range = { (uintptr_t)scratch, PAGE_SIZE } };
	struct uffdio_move m = { .dst = (uintptr_t)ctx->pool.base, .src = (uintptr_t)scratch,
				 .len = PAGE_SIZE };
	bool ok = false;

	if (!scratch)
		return false;
	if (!sys_uffd_ioctl(ctx->uffd, UFFDIO_REGISTER, &reg)) {
		if (!sys_uffd_ioctl(ctx->uffd, UFFDIO_ZEROPAGE, &z))
			ok = !sys_uffd_ioctl(ctx->pool_uffd, UFFDIO_MOVE, &m);
		sys_madvise_dontneed(ctx->pool.base, PAGE_SIZE);
		struct uffdio_range r = { (uintptr_t)scratch, PAGE_SIZE };
		sys_uffd_ioctl(ctx->uffd, UFFDIO_UNREGISTER, &r);
	}
	sys_munmap(scratch, PAGE_SIZE);
	return ok;
}

/* Open and negotiate both userfaultfds; register the pool. */
int uffd_open(struct uswap_ctx *ctx)
{
	uint64_t avail = 0, want;
	int probe, rc;

	probe = uffd_open_fd(ctx);
	if (probe < 0)
		return probe;
	rc = uffd_api(probe, 0, &avail);
	close(probe);
	if (rc)
		return rc;

	want = UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_EVENT_REMAP |
	       UFFD_FEATURE_THREAD_ID | UFFD_FEATURE_POISON;
	if (!(avail & UFFD_FEATURE_POISON)) {
		uswap_log(ctx, USWAP_LOG_ERR, "userfaultfd lacks POISON (Linux >= 6.6 needed): a "
					      "failed read could not be reported as SIGBUS");
		return -ENOSYS;
	}
	ctx->use_move = (avail & UFFD_FEATURE_MOVE) && !(ctx->opts.flags & USWAP_F_NO_MOVE);
	if (!(avail & UFFD_FEATURE_MOVE))
		uswap_log(ctx, USWAP_LOG_WARN, "userfaultfd lacks MOVE: evicting with write-protect + copy");
	if (ctx->use_move) {
		want |= UFFD_FEATURE_MOVE;
		if (avail & UFFD_FEATURE_WP_ASYNC) {
			want |= UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_PAGEFAULT_FLAG_WP;
			ctx->wp_async = true;
		} else {
			uswap_log(ctx, USWAP_LOG_WARN, "userfaultfd lacks WP_ASYNC: no dirty tracking");
		}
	} else {
		want |= UFFD_FEATURE_PAGEFAULT_FLAG_WP;
	}
	if (ctx->opts.mode == USWAP_MODE_SIGNAL) {
		if (!(avail & UFFD_FEATURE_SIGBUS))
			return -ENOSYS;
		want |= UFFD_FEATURE_SIGBUS;
	}
	want &= avail;

	ctx->uffd = uffd_open_fd(ctx);
	if (ctx->uffd < 0)
		return ctx->uffd;
	rc = uffd_api(ctx->uffd, want, &ctx->features);
	if (rc)
		goto out_close;

	if (ctx->use_move) {
		struct uffdio_register reg = {
			.range = { (uintptr_t)ctx->pool.base, (uint64_t)ctx->pool.nr << PAGE_SHIFT },
			.mode = UFFDIO_REGISTER_MODE_MISSING,
		};
		ctx->pool_uffd = uffd_open_fd(ctx);
		if (ctx->pool_uffd < 0) {
			rc = ctx->pool_uffd;
			goto out_close;
		}
		/* SIGBUS: uswap only ever touches frames that hold a page; should a
		 * bug touch an empty one, the process gets SIGBUS instead of
		 * sleeping forever on a fault nobody reads. */
		rc = uffd_api(ctx->pool_uffd, UFFD_FEATURE_MOVE | (avail & UFFD_FEATURE_SIGBUS), NULL);
		if (!rc)
			rc = sys_uffd_ioctl(ctx->pool_uffd, UFFDIO_REGISTER, &reg);
		if (rc)
			goto out_close;
		uffd_lock_range(ctx, reg.range.start, reg.range.len);
	}
	if (ctx->use_move)
		ctx->zeropage = probe_move_zeropage(ctx);
	if (ctx->wp_async) {
		ctx->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		if (ctx->pagemap_fd < 0)
			ctx->wp_async = false;
	}
	return 0;

out_close:
	uffd_close(ctx);
	return rc;
}

void uffd_close(struct uswap_ctx *ctx)
{
	if (ctx->uffd >= 0)
		close(ctx->uffd);
	if (ctx->pool_uffd >= 0)
		close(ctx->pool_uffd);
	if (ctx->pagemap_fd >= 0)
		close(ctx->pagemap_fd);
	ctx->uffd = ctx->pool_uffd = ctx->pagemap_fd = -1;
}

/* ---- the MMU operations ---------------------------------------------------------- */

static int uffd_map_copy(struct uswap_ctx *ctx, uintptr_t dst, const void *src, size_t len, bool wp,
			 size_t *mapped)
{
	struct uffdio_copy c = { .dst = dst, .src = (uintptr_t)src, .len = len,
				 .mode = wp ? UFFDIO_COPY_MODE_WP : 0 };
	int rc = sys_uffd_ioctl(ctx->uffd, UFFDIO_COPY, &c);

	/* A partial copy reports the bytes done in .copy (else -errno there). */
	if (mapped)
		*mapped = rc ? (c.copy > 0 ? (size_t)c.copy : 0) : len;
	return rc;
}

static int uffd_map_zero(struct uswap_ctx *ctx, uintptr_t dst, size_t len, size_t *mapped)
{
	struct uffdio_zeropage z = { .range = { dst, len }, .mode = 0 };
	int rc = sys_uffd_ioctl(ctx->uffd, UFFDIO_ZEROPAGE, &z);

	if (mapped)
		*mapped = rc ? (z.zeropage > 0 ? (size_t)z.zeropage : 0) : len;
	return rc;
}

/*
 * move_verified - a move [src, src+len) -> dst fell short after @done bytes:
 * how far did it really get?  Believe the page tables, not the count: on
 * Linux 6.18 a batch of pages that moves and then meets a busy page (EAGAIN)
 * is retried from its start, finds its destination full, and the call fails
 * with EEXIST having "moved" nothing (seen under GNU sort: the pages were in
 * the pool's frames, gone from the program, and uswap, believing the count,
 * freed the frames: the pages were lost).  Pages move in order, so the truth
 * is a longer prefix: each destination page present whose source has none
 * was moved.  Counted in move_recovered, with a warning.  Return: bytes moved.
 */
static size_t move_verified(struct uswap_ctx *ctx, uintptr_t dst, uintptr_t src, size_t len,
			    size_t done)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	size_t v = done;

	if (fd < 0)
		return done;
	while (v < len && sys_pagemap_has(fd, dst + v, true) == 1 &&
	       sys_pagemap_has(fd, src + v, false) == 0)
		v += PAGE_SIZE;
	close(fd);
	if (v > done) {
		count_event(ctx, NULL, move_recovered, (v - done) >> PAGE_SHIFT);
		uswap_log(ctx, USWAP_LOG_WARN, "UFFDIO_MOVE moved %zu more page(s) from %#lx than it "
			  "reported: counted from the page tables", (v - done) >> PAGE_SHIFT,
			  (unsigned long)(src + done));
	}
	return v;
}

_Atomic unsigned int uffd_test_move_lie;
static _Atomic unsigned int uffd_test_move_calls;

static long uffd_move_out(struct uswap_ctx *ctx, void *dst, uintptr_t src, size_t len)
{
	struct uffdio_move m = { .dst = (uintptr_t)dst, .src = src, .len = len, .mode = 0 };
	int rc = sys_uffd_ioctl(ctx->pool_uffd, UFFDIO_MOVE, &m);
	long moved = rc ? (m.move > 0 ? (long)m.move : rc) : (long)len;

	/* Tests: report every Nth move that moved pages as failed (EEXIST), as
	 * Linux 6.18 can (move_verified). */
	if (unlikely(atomic_load_explicit(&uffd_test_move_lie, memory_order_relaxed)) && moved > 0 &&
	    atomic_fetch_add(&uffd_test_move_calls, 1) % uffd_test_move_lie == uffd_test_move_lie - 1)
		moved = -EEXIST;
	if (moved < (long)len) {
		size_t done = moved > 0 ? (size_t)moved : 0;
		size_t v = move_verified(ctx, (uintptr_t)dst, src, len, done);
		if (v > done)
			moved = (long)v;
	}
	return moved;
}

static int uffd_move_in(struct uswap_ctx *ctx, uintptr_t dst, void *src, size_t len, size_t *mapped)
{
	struct uffdio_move m = { .dst = dst, .src = (uintptr_t)src, .len = len, .mode = 0 };
	int rc = sys_uffd_ioctl(ctx->uffd, UFFDIO_MOVE, &m);
	size_t done = rc ? (m.move > 0 ? (size_t)m.move : 0) : len;

	if (rc) {
		size_t v = move_verified(ctx, dst, (uintptr_t)src, len, done);
		if (v == len)
			rc = 0;
		done = v;
	}
	if (mapped)
		*mapped = done;
	return rc;
}

static int uffd_poison(struct uswap_ctx *ctx, uintptr_t dst, size_t len)
{
	struct uffdio_poison p = { .range = { dst, len }, .mode = 0 };
	return sys_uffd_ioctl(ctx->uffd, UFFDIO_POISON, &p);
}

static int uffd_wake(struct uswap_ctx *ctx, uintptr_t addr, size_t len)
{
	struct uffdio_range r = { addr, len };
	return sys_uffd_ioctl(ctx->uffd, UFFDIO_WAKE, &r);
}

static int uffd_writeprotect(struct uswap_ctx *ctx, uintptr_t addr, size_t len, bool wp)
{
	struct uffdio_writeprotect w = { .range = { addr, len },
					 .mode = wp ? UFFDIO_WRITEPROTECT_MODE_WP : 0 };
	return sys_uffd_ioctl(ctx->uffd, UFFDIO_WRITEPROTECT, &w);
}

/* PAGEMAP_SCAN for pages written since they were mapped write-protected (WP_ASYNC). */
static int uffd_scan_written(struct uswap_ctx *ctx, uintptr_t addr, size_t npages, uint64_t *written)
{
	struct page_region vec[RECLAIM_BATCH];
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.start = addr,
		.end = addr + (npages << PAGE_SHIFT),
		.vec = (uintptr_t)vec,
		.vec_len = RECLAIM_BATCH,
		.category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};
	int n;

	if (!ctx->wp_async)
		return -EOPNOTSUPP;
	n = ioctl(ctx->pagemap_fd, PAGEMAP_SCAN, &arg);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++)
		for (uintptr_t a = vec[i].start; a < vec[i].end; a += PAGE_SIZE) {
			size_t k = (a - addr) >> PAGE_SHIFT;
			written[k / 64] |= 1ULL << (k % 64);
		}
	return 0;
}

static int uffd_zap(struct uswap_ctx *ctx, uintptr_t addr, size_t len)
{
	(void)ctx;
	return sys_madvise_dontneed((void *)addr, len);
}

/*
 * The kernel must not swap what uswap manages.  With kernel swap on, a
 * kernel page-out of managed memory (global reclaim, or a proactive
 * reclaimer such as a DAMON "pageout" scheme, which this machine runs) was
 * seen to lose pages: accesses then read zeroes (counter fault_refill) or
 * eviction found nothing it could move (OOM).  The cause on the kernel side
 * is not established; tests/func/test_kernel_swap reproduces it with
 * MADV_PAGEOUT.  So program regions and the pool are locked on fault
 * (mlock2 MLOCK_ONFAULT: nothing is populated, faulted pages are
 * unevictable for the kernel; UFFDIO_MOVE still moves them, and uswap drops
 * them with MADV_DONTNEED_LOCKED).  Without the permission (RLIMIT_MEMLOCK,
 * CAP_IPC_LOCK) uswap goes on unlocked and says so, loudly if the kernel
 * has swap.
 */
static bool kernel_has_swap(void)
{
	char buf[4096];
	int fd = open("/proc/swaps", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return strchr(buf, '\n') && strchr(buf, '\n')[1] != '\0'; /* a line after the header */
}

static void uffd_lock_range(struct uswap_ctx *ctx, uintptr_t addr, size_t len)
{
	if (!syscall(SYS_mlock2, addr, len, 1 /* MLOCK_ONFAULT */))
		return;
	if (atomic_exchange(&ctx->mlock_warned, true))
		return;
	bool swap = kernel_has_swap();
	uswap_log(ctx, swap ? USWAP_LOG_ERR : USWAP_LOG_WARN,
		  "cannot lock managed memory against kernel swap (mlock2: %s; raise ulimit -l or "
		  "give CAP_IPC_LOCK)%s", strerror(errno),
		  swap ? ": the kernel has swap on, and a kernel page-out of managed memory can "
			 "lose data" : "");
}

static int uffd_reg(struct uswap_ctx *ctx, uintptr_t addr, size_t len)
{
	struct uffdio_register reg = { .range = { addr, len }, .mode = UFFDIO_REGISTER_MODE_MISSING };
	if (ctx->wp_async || !ctx->use_move)
		reg.mode |= UFFDIO_REGISTER_MODE_WP;
	int rc = sys_uffd_ioctl(ctx->uffd, UFFDIO_REGISTER, &reg);
	if (!rc)
		uffd_lock_range(ctx, addr, len);
	return rc;
}

static int uffd_unreg(struct uswap_ctx *ctx, uintptr_t addr, size_t len)
{
	struct uffdio_range r = { addr, len };
	return sys_uffd_ioctl(ctx->uffd, UFFDIO_UNREGISTER, &r);
}

static int uffd_pool_release(struct uswap_ctx *ctx, const struct iovec *runs, unsigned int n)
{
	(void)ctx;
	return sys_madvise_dontneed_v(runs, n);
}

const struct mmu_ops uffd_mmu_ops = {
	.map_copy = uffd_map_copy,
	.map_zero = uffd_map_zero,
	.move_out = uffd_move_out,
	.move_in = uffd_move_in,
	.poison = uffd_poison,
	.wake = uffd_wake,
	.writeprotect = uffd_writeprotect,
	.scan_written = uffd_scan_written,
	.zap = uffd_zap,
	.reg = uffd_reg,
	.unreg = uffd_unreg,
	.pool_release = uffd_pool_release,
};

/* ---- events ------------------------------------------------------------------------ */

/* Apply a REMOVE/UNMAP of [start, end) to every region it overlaps. */
static void uffd_zap_event(struct uswap_ctx *ctx, uintptr_t start, uintptr_t end, bool unmap)
{
	struct region_table *t = atomic_load(&ctx->regions);

	for (size_t i = 0; t && i < t->nr; i++) {
		struct region *r = t->r[i];
		uintptr_t rs = r->start, re = r->start + (r->nr_pages << PAGE_SHIFT);
		if (atomic_load(&r->dead) || end <= rs || start >= re)
			continue;
		uintptr_t s = max_t(start, rs), e = min_t(end, re);
		region_zap_range(ctx, r, (s - rs) >> PAGE_SHIFT, (e - s) >> PAGE_SHIFT, !unmap);
		if (unmap && s == rs && e == re)
			uswap_log(ctx, USWAP_LOG_WARN,
				  "region %#lx unmapped behind uswap's back: use uswap_munmap",
				  (unsigned long)rs);
	}
}

/*
 * Deferred faults.  With write-protect eviction, kswapd's MADV_DONTNEED waits
 * until a handler thread reads its REMOVE event, so a handler thread must not
 * sleep waiting for memory: a fault that would wait is parked here (its
 * thread stays asleep) and retried after the next batch of events, or every
 * millisecond.  After DEFER_MAX_NS it is retried with waiting allowed, which
 * ends in the group's OOM policy if memory never comes.
 */
#define DEFER_MAX 256
#define DEFER_MAX_NS (10ULL * 1000000000ULL)
struct deferred_fault {
	uintptr_t addr;
	unsigned int flags;
	uint64_t since_ns;
};
static __thread struct deferred_fault deferred[DEFER_MAX];
static __thread unsigned int nr_deferred;

static unsigned int uffd_fault_nowait(struct uswap_ctx *ctx)
{
	return ctx->use_move ? 0 : FAULT_NOWAIT;
}

static void defer_fault(struct uswap_ctx *ctx, uintptr_t addr, unsigned int flags)
{
	if (nr_deferred == DEFER_MAX) {
		handle_fault(ctx, addr, flags); /* full: wait in place */
		return;
	}
	deferred[nr_deferred++] = (struct deferred_fault){ addr, flags, now_ns() };
}

static void retry_deferred(struct uswap_ctx *ctx)
{
	unsigned int kept = 0;
	uint64_t now = now_ns();

	for (unsigned int i = 0; i < nr_deferred; i++) {
		struct deferred_fault d = deferred[i];
		bool last_chance = now - d.since_ns > DEFER_MAX_NS;
		int rc = handle_fault(ctx, d.addr, d.flags | (last_chance ? 0 : uffd_fault_nowait(ctx)));
		if (rc == -EBUSY)
			deferred[kept++] = d;
		else if (rc == -EFAULT)
			ctx->mmu->wake(ctx, d.addr & ~(PAGE_SIZE - 1), PAGE_SIZE);
	}
	nr_deferred = kept;
}

void uffd_handle_msg(struct uswap_ctx *ctx, const struct uffd_msg *msg)
{
	switch (msg->event) {
	case UFFD_EVENT_PAGEFAULT: {
		unsigned int flags = 0;
		uintptr_t addr = (uintptr_t)msg->arg.pagefault.address;
		if (msg->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE)
			flags |= FAULT_WRITE;
		if (msg->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP)
			flags |= FAULT_WP;
		int rc = handle_fault(ctx, addr, flags | uffd_fault_nowait(ctx));
		if (rc == -EFAULT)
			ctx->mmu->wake(ctx, addr & ~(PAGE_SIZE - 1), PAGE_SIZE);
		else if (rc == -EBUSY)
			defer_fault(ctx, addr, flags);
		break;
	}
	case UFFD_EVENT_REMOVE:
		uffd_zap_event(ctx, (uintptr_t)msg->arg.remove.start, (uintptr_t)msg->arg.remove.end,
			       false);
		break;
	case UFFD_EVENT_UNMAP:
		uffd_zap_event(ctx, (uintptr_t)msg->arg.remove.start, (uintptr_t)msg->arg.remove.end,
			       true);
		break;
	case UFFD_EVENT_REMAP:
		uswap_log(ctx, USWAP_LOG_WARN, "mremap of managed memory %#llx -> %#llx is not followed",
			  (unsigned long long)msg->arg.remap.from, (unsigned long long)msg->arg.remap.to);
		break;
	default:
		break;
	}
}

#define MSG_BATCH 64

_Atomic bool uffd_test_handler_exit; /* tests: the next handler thread to wake exits */

/*
 * A handler thread that ends before the context stops (pthread_exit or
 * cancellation from a bug) would leave every later fault of the program
 * waiting forever.  Fail loudly instead: a clear message, then abort.
 */
static void handler_died(void *arg)
{
	struct uswap_ctx *ctx = arg;

	if (atomic_load(&ctx->stopping))
		return;
	uswap_log(ctx, USWAP_LOG_ERR, "a fault handler thread died: the program's faults can no "
				      "longer be served; aborting");
	abort();
}

static __thread bool in_handler;

bool uffd_in_handler_thread(void)
{
	return in_handler;
}

static void *handler_main(void *arg)
{
	struct uswap_ctx *ctx = arg;
	struct uffd_msg msgs[MSG_BATCH];
	struct pollfd pfd[2] = { { .fd = ctx->uffd, .events = POLLIN },
				 { .fd = ctx->stop_efd, .events = POLLIN } };

	struct colocate_local cl;
	volatile bool slept = true; /* volatile: kept across the cleanup handler's setjmp */

	in_handler = true;
	prctl(PR_SET_NAME, "uswap-fault");
	colocate_handler_enter(ctx, &cl);
	pthread_cleanup_push(handler_died, ctx);
	while (!atomic_load(&ctx->stopping)) {
		if (unlikely(atomic_exchange(&uffd_test_handler_exit, false)))
			pthread_exit(NULL);
		colocate_tick(ctx, &cl);
		ssize_t n = read(ctx->uffd, msgs, sizeof(msgs));
		if (n <= 0) {
			/* Spin briefly before sleeping: a fault often follows a fault,
			 * and a poll() sleep/wake costs more than the spin. */
			uint64_t until = now_ns() + 20000;
			while (n <= 0 && now_ns() < until && !atomic_load(&ctx->stopping)) {
				cpu_relax();
				n = read(ctx->uffd, msgs, sizeof(msgs));
			}
		}
		if (n <= 0) {
			poll(pfd, 2, nr_deferred ? 1 : -1);
			slept = true;
			if (nr_deferred)
				retry_deferred(ctx);
			continue;
		}
		size_t nr = (size_t)n / sizeof(msgs[0]);
		colocate_msgs(ctx, &cl, msgs, nr, slept);
		slept = false;
		for (size_t i = 0; i < nr; i++) {
			/* De-duplicate: several threads faulting on one page need one fix. */
			bool dup = false;
			if (msgs[i].event == UFFD_EVENT_PAGEFAULT)
				for (size_t j = 0; j < i && !dup; j++)
					dup = msgs[j].event == UFFD_EVENT_PAGEFAULT &&
					      (msgs[j].arg.pagefault.address >> PAGE_SHIFT) ==
						      (msgs[i].arg.pagefault.address >> PAGE_SHIFT) &&
					      msgs[j].arg.pagefault.flags == msgs[i].arg.pagefault.flags;
			if (!dup)
				uffd_handle_msg(ctx, &msgs[i]);
		}
		if (nr_deferred)
			retry_deferred(ctx);
	}
	pthread_cleanup_pop(0);
	colocate_handler_exit(ctx, &cl);
	return NULL;
}

int uffd_handlers_start(struct uswap_ctx *ctx)
{
	unsigned int n = ctx->opts.nr_handlers ? ctx->opts.nr_handlers : 1;

	ctx->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ctx->stop_efd < 0)
		return -errno;
	ctx->handlers = calloc(n, sizeof(pthread_t));
	if (!ctx->handlers)
		return -ENOMEM;
	int crc = colocate_start(ctx, n);
	if (crc) {
		uffd_handlers_stop(ctx);
		return crc;
	}
	for (unsigned int i = 0; i < n; i++) {
		int rc = pthread_create(&ctx->handlers[i], NULL, handler_main, ctx);
		if (rc) {
			uffd_handlers_stop(ctx);
			return -rc;
		}
		ctx->nr_handlers++;
	}
	return 0;
}

void uffd_handlers_stop(struct uswap_ctx *ctx)
{
	uint64_t one = 1;

	atomic_store(&ctx->stopping, true);
	if (ctx->stop_efd >= 0 && write(ctx->stop_efd, &one, sizeof(one)) < 0)
		(void)0;
	for (unsigned int i = 0; i < ctx->nr_handlers; i++)
		pthread_join(ctx->handlers[i], NULL);
	colocate_stop(ctx);
	ctx->nr_handlers = 0;
	free(ctx->handlers);
	ctx->handlers = NULL;
	if (ctx->stop_efd >= 0)
		close(ctx->stop_efd);
	ctx->stop_efd = -1;
}
