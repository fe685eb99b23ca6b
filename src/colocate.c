/* SPDX-License-Identifier: MIT */
/*
 * colocate.c - thread mode: run the fault handler on the faulting thread's CPU.
 *
 * kernel: none.  The kernel resolves a fault in the faulting thread itself,
 * on its CPU.  In thread mode a fault is two wake-ups between threads: the
 * faulting thread wakes the handler and sleeps, the handler maps the page and
 * wakes it.  At each wake-up the scheduler looks for an idle CPU for the woken
 * thread (select_idle_sibling): the handler's CPU is busy (the handler runs
 * there), the other one is idle, so the program's thread is moved, or left,
 * away from the handler, and every wake-up crosses CPUs.  A cross-CPU wake-up
 * is an interrupt to a halted CPU; on a virtual machine that is a host exit,
 * tens of microseconds.  Measured here (docs/benchmarks.md): 57 to 65 us per
 * fault with the handler sleeping on the other CPU, 7.4 to 8.7 us with both
 * on one CPU.
 *
 * What this does, for one handler thread:
 *  - it runs SCHED_IDLE.  A CPU whose only runnable tasks are SCHED_IDLE
 *    counts as idle for a wake-up (sched_idle_cpu), so the program's thread,
 *    woken by the handler, is put back on the handler's CPU and preempts it
 *    at once: the handler only runs while the program waits for it.
 *  - it follows the faulting thread: when it was asleep (so the fault had to
 *    wake it) it reads the faulting thread's CPU (/proc/self/task/TID/stat)
 *    and pins itself there, so that the next wake-up is local too.
 *
 * Guards, because a SCHED_IDLE thread gets no CPU while any other runs:
 *  - several threads faulting (a faulting thread cannot wait for the handler
 *    while another of the program's threads keeps its CPU): the handler
 *    stops following (SCHED_OTHER, every CPU) for COLOCATE_BACKOFF_NS;
 *  - starvation (a busy thread, of any process, on the handler's CPU): a
 *    guard thread checks every COLOCATE_GUARD_NS that the handler made
 *    progress while faults were pending; if not, it raises the handler to
 *    SCHED_OTHER on every CPU itself, and the handler backs off.  After
 *    COLOCATE_QUIET_NS without faults the guard stops its timer and sleeps
 *    in poll() on the userfaultfd until the next fault;
 *  - both need to leave SCHED_IDLE again, which takes CAP_SYS_NICE or an
 *    RLIMIT_NICE of at least 20: without either, colocation is off.
 * Off also with more than one handler thread, with one CPU, and with
 * USWAP_F_NO_COLOCATE.
 *
 * With kswapd and the program always on different CPUs, UFFDIO_MOVE meets
 * busy folios more often, and Linux 6.18 then can move pages and report
 * that it did not: the MMU layer believes the page tables instead
 * (move_verified in uffd.c; docs/design.md).
 */
#include <sys/prctl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "uffd_compat.h"

/*
 * Guard period while faults come.  Not shorter: each expiry wakes the guard
 * on the other CPU, and a wake-up there at the moment the handler wakes the
 * program can put the program on that CPU (traced: 46% of the program's
 * moves came within 100 us after a guard wake-up, at 1 to 3 ms intervals);
 * the handler follows, kswapd and the guard leave, and the next expiry can
 * move it back.  At 2 ms this ping-pong took about 1 random-access run in 6
 * (more than 100 moves in the 1.5 s access phase: 70,000 to 90,000 accesses/s
 * instead of 90,000 to 130,000); at 10 ms, 0 runs of 32.
 */
#define COLOCATE_GUARD_NS (10ULL * 1000000)
#define COLOCATE_QUIET_NS (1000ULL * 1000000)	 /* no fault for this long: the guard
						  * sleeps until the next one */
#define COLOCATE_BACKOFF_NS (1000ULL * 1000000)	 /* not following after a guard trips */
#define COLOCATE_WINDOW 256			 /* faults per multi-thread check */
#define COLOCATE_MAX_SWITCHES 8			 /* thread changes in a window: several threads */
#define COLOCATE_CHECK_NS (100ULL * 1000)	 /* at most one CPU lookup per 100 us */

static pid_t sys_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* Can this process leave SCHED_IDLE again?  CAP_SYS_NICE or RLIMIT_NICE >= 20. */
static bool can_leave_idle(void)
{
	struct rlimit rl;
	char line[256];
	bool cap = false;
	FILE *f;

	if (!getrlimit(RLIMIT_NICE, &rl) && (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= 20))
		return true;
	f = fopen("/proc/self/status", "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long eff;
		if (sscanf(line, "CapEff: %llx", &eff) == 1) {
			cap = eff & (1ULL << 23); /* CAP_SYS_NICE */
			break;
		}
	}
	fclose(f);
	return cap;
}

/*
 * task_last_cpu - the CPU @tid last ran on (field 39 of its stat), or -1.
 * Opened and closed each time: a cached descriptor could be closed, and its
 * number reused, by the program.
 */
static int task_last_cpu(pid_t tid)
{
	char path[64], buf[1024];
	ssize_t n;
	int fd, field = 2;
	char *p;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold spaces and ')' */
	if (!p)
		return -1;
	for (p++; *p && field < 39; p++)
		if (*p == ' ')
			field++;
	return *p >= '0' && *p <= '9' ? atoi(p) : -1;
}

static int set_policy(pid_t tid, int policy)
{
	struct sched_param sp = { 0 };
	return sched_setscheduler(tid, policy, &sp) ? -errno : 0;
}

static void pin(pid_t tid, int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	(void)sched_setaffinity(tid, sizeof(s), &s);
}

/* Handler @tid (0: the caller) an ordinary thread on every CPU the process had. */
static void make_ordinary(struct colocate *c, pid_t tid)
{
	atomic_store(&c->following, 0);
	atomic_store(&c->avoid_cpu, -1);
	(void)set_policy(tid, SCHED_OTHER);
	(void)sched_setaffinity(tid, sizeof(c->allowed), &c->allowed);
}

/* Back to an ordinary thread, for @ns. */
static void stop_following(struct uswap_ctx *ctx, struct colocate_local *cl, uint64_t ns)
{
	make_ordinary(&ctx->colo, 0);
	cl->following = false;
	cl->cpu = -1;
	cl->plain_until = now_ns() + ns;
}

void colocate_handler_enter(struct uswap_ctx *ctx, struct colocate_local *cl)
{
	struct colocate *c = &ctx->colo;
	int zero = 0;

	memset(cl, 0, sizeof(*cl));
	cl->cpu = -1;
	if (!c->enabled)
		return;
	/* One handler follows: the others, if any, stay ordinary. */
	if (!atomic_compare_exchange_strong(&c->handler_tid, &zero, (int)sys_gettid()))
		return;
	cl->active = true;
	cl->boosts_seen = atomic_load(&c->boosts);
}

void colocate_handler_exit(struct uswap_ctx *ctx, struct colocate_local *cl)
{
	if (!cl->active)
		return;
	atomic_store(&ctx->colo.following, 0);
	atomic_store(&ctx->colo.handler_tid, 0);
}

/* Once per loop of the handler: progress for the guard; start or stop following. */
void colocate_tick(struct uswap_ctx *ctx, struct colocate_local *cl)
{
	struct colocate *c = &ctx->colo;

	if (!cl->active)
		return;
	atomic_fetch_add_explicit(&c->progress, 1, memory_order_relaxed);
	if (unlikely(atomic_load(&c->boosts) != cl->boosts_seen)) {
		/* The guard found us starved and raised us: stay ordinary a while. */
		cl->boosts_seen = atomic_load(&c->boosts);
		stop_following(ctx, cl, COLOCATE_BACKOFF_NS);
		return;
	}
	if (!cl->following && now_ns() >= cl->plain_until) {
		if (set_policy(0, SCHED_IDLE))
			return;
		cl->following = true;
		cl->cpu = -1;
		cl->switches = cl->window = 0;
		atomic_store(&c->following, 1);
		sys_futex_wake(&c->following, 1); /* the guard */
	}
}

/*
 * colocate_msgs - the handler read @nr messages; @slept: it had to be woken
 * for them.  Follow the faulting thread; stop following if several fault.
 */
void colocate_msgs(struct uswap_ctx *ctx, struct colocate_local *cl, const struct uffd_msg *m,
		   size_t nr, bool slept)
{
	struct colocate *c = &ctx->colo;
	pid_t first = 0;

	if (!cl->following)
		return;
	for (size_t i = 0; i < nr; i++) {
		if (m[i].event != UFFD_EVENT_PAGEFAULT)
			continue;
		pid_t tid = (pid_t)m[i].arg.pagefault.feat.ptid;
		if (!first)
			first = tid;
		if (tid != cl->last_tid && cl->last_tid && ++cl->switches >= COLOCATE_MAX_SWITCHES) {
			cl->switches = cl->window = 0;
			cl->last_tid = 0;
			count_event(ctx, NULL, colocate_shared, 1);
			stop_following(ctx, cl, COLOCATE_BACKOFF_NS);
			return;
		}
		cl->last_tid = tid;
		if (++cl->window == COLOCATE_WINDOW)
			cl->switches = cl->window = 0;
	}
	uint64_t now = now_ns();
	atomic_store_explicit(&c->last_fault_ns, now, memory_order_relaxed);
	if (!first || (!slept && cl->cpu >= 0))
		return;
	if (cl->cpu >= 0 && now - cl->checked_ns < COLOCATE_CHECK_NS)
		return;
	cl->checked_ns = now;
	int cpu = task_last_cpu(first);
	if (cpu >= 0 && cpu != cl->cpu && CPU_ISSET(cpu, &c->allowed)) {
		pin(0, cpu);
		cl->cpu = cpu;
		atomic_store(&c->avoid_cpu, cpu);
		count_event(ctx, NULL, colocate_follow, 1);
	}
}

/* Are fault messages waiting to be read? */
static bool uffd_pending(struct uswap_ctx *ctx)
{
	struct pollfd p = { .fd = ctx->uffd, .events = POLLIN };
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/*
 * colocate_place_self - uswap's other threads (kswapd, the guard) keep off
 * the CPU the handler follows the program on.  Woken from there, they would
 * be put there (it counts as idle) and take it from the program's thread,
 * which the scheduler would then move away.  @applied: the caller's state.
 */
void colocate_place_self(struct uswap_ctx *ctx, int *applied)
{
	struct colocate *c = &ctx->colo;
	int avoid = atomic_load_explicit(&c->avoid_cpu, memory_order_relaxed);
	cpu_set_t s;

	if (avoid == *applied || !c->enabled)
		return;
	s = c->allowed;
	if (avoid >= 0)
		CPU_CLR(avoid, &s);
	if (!CPU_COUNT(&s))
		s = c->allowed;
	(void)sched_setaffinity(0, sizeof(s), &s);
	*applied = avoid;
}

static void *guard_main(void *arg)
{
	struct uswap_ctx *ctx = arg;
	struct colocate *c = &ctx->colo;
	int placed = -1;

	prctl(PR_SET_NAME, "uswap-guard");
	while (!atomic_load(&c->guard_exit)) {
		colocate_place_self(ctx, &placed);
		if (!atomic_load(&c->following)) {
			sys_futex_wait_timeout(&c->following, 0, 1000ULL * 1000000);
			continue;
		}
		if (now_ns() - atomic_load(&c->last_fault_ns) >= COLOCATE_QUIET_NS) {
			/* Quiet: no timer; sleep until a fault is waiting (the
			 * handler is woken by it too), or the context stops. */
			struct pollfd p[2] = { { .fd = ctx->uffd, .events = POLLIN },
					       { .fd = ctx->stop_efd, .events = POLLIN } };
			if (poll(p, 2, 1000) <= 0 || !(p[0].revents & POLLIN))
				continue;
		}
		uint64_t seen = atomic_load(&c->progress);
		sys_futex_wait_timeout(&c->guard_word, 0, COLOCATE_GUARD_NS);
		if (atomic_load(&c->guard_exit) || !atomic_load(&c->following))
			continue;
		if (atomic_load(&c->progress) != seen || !uffd_pending(ctx))
			continue;
		/* Faults wait and the handler has not moved: it is starved. */
		pid_t tid = (pid_t)atomic_load(&c->handler_tid);
		if (!tid)
			continue;
		make_ordinary(c, tid);
		atomic_fetch_add(&c->boosts, 1);
		count_event(ctx, NULL, colocate_boost, 1);
	}
	return NULL;
}

/*
 * colocate_start - decide whether the handler follows, and start the guard.
 * Called before the handler threads start.  Return: 0 or -errno (no thread).
 */
int colocate_start(struct uswap_ctx *ctx, unsigned int nr_handlers)
{
	struct colocate *c = &ctx->colo;
	int rc;

	memset(c, 0, sizeof(*c));
	atomic_store(&c->avoid_cpu, -1);
	c->kswapd_placed = -1;
	if (ctx->opts.mode != USWAP_MODE_THREAD || nr_handlers != 1 ||
	    (ctx->opts.flags & USWAP_F_NO_COLOCATE))
		return 0;
	if (sched_getaffinity(0, sizeof(c->allowed), &c->allowed) || CPU_COUNT(&c->allowed) < 2)
		return 0;
	if (!can_leave_idle()) {
		uswap_log(ctx, USWAP_LOG_INFO,
			  "fault handler not colocated with the program: leaving SCHED_IDLE needs "
			  "CAP_SYS_NICE or RLIMIT_NICE >= 20");
		return 0;
	}
	rc = pthread_create(&c->guard, NULL, guard_main, ctx);
	if (rc)
		return -rc;
	c->guard_running = true;
	c->enabled = true;
	return 0;
}

void colocate_stop(struct uswap_ctx *ctx)
{
	struct colocate *c = &ctx->colo;

	if (!c->guard_running)
		return;
	atomic_store(&c->guard_exit, true);
	atomic_store(&c->guard_word, 1);
	sys_futex_wake(&c->guard_word, 1);
	sys_futex_wake(&c->following, 1);
	pthread_join(c->guard, NULL);
	c->guard_running = false;
	c->enabled = false;
}
