/* SPDX-License-Identifier: MIT */
/*
 * test_colocate - thread mode runs the fault handler SCHED_IDLE on the CPU
 * of the thread that faults (colocate.c):
 *  - follow: a thread pinned to one CPU faults; the handler is SCHED_IDLE,
 *    pinned to that CPU (colocate_follow counted); the thread moves to the
 *    other CPU and the handler follows it; every page read back is checked;
 *  - shared: two threads on two CPUs fault in turn; the handler stops
 *    following (colocate_shared) and is SCHED_OTHER on every CPU again;
 *  - starved: a busy thread on each CPU, and a thread on CPU 1 faults: the
 *    SCHED_IDLE handler gets no CPU until the guard raises it
 *    (colocate_boost, SCHED_OTHER); every page read is right;
 *  - guard after a quiet second (it sleeps in poll() then): the handler is
 *    held in a fault (the test holds the page lock) while another fault
 *    waits; the guard raises it within 500 ms (its poll timeout is 1 s);
 *  - off: USWAP_F_NO_COLOCATE, and two handler threads, leave the handlers
 *    SCHED_OTHER and unpinned.
 * Needs 2 CPUs and the right to leave SCHED_IDLE (root); skips otherwise.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "helper_func.h"

#define NPAGES 8192 /* 32 MiB */
#define LIMIT (8ULL << 20)

static unsigned char *mem;
static struct uswap_ctx *ctx;

static void pin_self(int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	CHECK_EQ(sched_setaffinity(0, sizeof(s), &s), 0);
}

static void unpin_self(void)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(0, &s);
	CPU_SET(1, &s);
	CHECK_EQ(sched_setaffinity(0, sizeof(s), &s), 0);
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_page(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng % NPAGES;
}

/* @n random reads, each page checked; returns the major faults they took. */
static uint64_t touch(unsigned int n)
{
	uint64_t maj0 = stat_of(ctx, NULL, "pgmajfault");
	for (unsigned int i = 0; i < n; i++) {
		uint64_t p = next_page();
		CHECK(verify_page(mem + p * 4096, 5, p, FILL_HALF));
	}
	return stat_of(ctx, NULL, "pgmajfault") - maj0;
}

/* The single CPU @tid is pinned to, -1 if it may run on several. */
static int pinned_cpu(pid_t tid)
{
	cpu_set_t s;
	CHECK_EQ(sched_getaffinity(tid, sizeof(s), &s), 0);
	if (CPU_COUNT(&s) != 1)
		return -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &s))
			return c;
	return -1;
}

static void setup(unsigned int flags, unsigned int handlers)
{
	struct uswap_opts o = { .size = sizeof(o), .mode = USWAP_MODE_THREAD, .nr_handlers = handlers,
				.limit_bytes = LIMIT, .flags = flags };
	ctx = func_ctx_opts(&o);
	CHECK_EQ(uswap_swapon(ctx, "zram:lz4:size=128M", 0, NULL), 0);
	CHECK_EQ(uswap_mmap(ctx, NULL, NPAGES * 4096ULL, (void **)&mem), 0);
	for (uint64_t p = 0; p < NPAGES; p++)
		fill_page(mem + p * 4096, 5, p, FILL_HALF);
}

static void teardown(void)
{
	check_invariants(ctx);
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
	ctx = NULL;
}

/*
 * Fault from @cpu until the handler follows there.  Another thread running
 * on that CPU for 10 ms while a fault waits (another process, the sanitizer's
 * own thread) rightly makes the guard raise the handler, which then stays
 * ordinary for a second: try again after it, a few times.
 */
static void follow_on(int cpu)
{
	pid_t h = (pid_t)atomic_load(&ctx->colo.handler_tid);
	int attempt;

	pin_self(cpu);
	for (attempt = 0; attempt < 6; attempt++) {
		uint64_t b0 = stat_of(ctx, NULL, "colocate_boost");
		uint64_t s0 = stat_of(ctx, NULL, "colocate_shared");
		CHECK(touch(3000) > 700);
		if (stat_of(ctx, NULL, "colocate_boost") == b0 &&
		    stat_of(ctx, NULL, "colocate_shared") == s0 &&
		    atomic_load(&ctx->colo.following) && pinned_cpu(h) == cpu)
			break;
		struct timespec ts = { 1, 200 * 1000000 }; /* the back-off */
		nanosleep(&ts, NULL);
	}
	CHECK(attempt < 6);
	CHECK(h > 0);
	/* uswap's threads are named (top, ps -L) */
	char path[64], comm[32] = "";
	snprintf(path, sizeof(path), "/proc/self/task/%d/comm", (int)h);
	FILE *f = fopen(path, "r");
	CHECK(f && fgets(comm, sizeof(comm), f));
	fclose(f);
	CHECK(strcmp(comm, "uswap-fault\n") == 0);
	CHECK_EQ(atomic_load(&ctx->colo.following), 1);
	CHECK_EQ(sched_getscheduler(h), SCHED_IDLE);
	CHECK_EQ(pinned_cpu(h), cpu);
	CHECK_EQ(atomic_load(&ctx->colo.avoid_cpu), cpu);
}

static void test_follow(void)
{
	follow_on(1);
	uint64_t f1 = stat_of(ctx, NULL, "colocate_follow");
	CHECK(f1 >= 1);
	follow_on(0);
	CHECK(stat_of(ctx, NULL, "colocate_follow") > f1);
	CHECK_EQ(stat_of(ctx, NULL, "colocate_shared"), 0);
	unpin_self();
}

static _Atomic int turn;
static _Atomic bool alt_stop;
static void *alternate(void *arg)
{
	int me = (int)(intptr_t)arg;
	uint64_t x = 0x1234567ULL + (uint64_t)me;

	pin_self(me);
	for (int i = 0; i < 20000 && !atomic_load(&alt_stop); i++) {
		while (atomic_load(&turn) != me && !atomic_load(&alt_stop))
			sched_yield();
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint64_t p = x % NPAGES;
		CHECK(verify_page(mem + p * 4096, 5, p, FILL_HALF));
		atomic_store(&turn, !me);
	}
	return NULL;
}

static void test_shared(void)
{
	pthread_t t[2];

	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, alternate, (void *)(intptr_t)i), 0);
	/* Stop them as soon as the handler gave up following. */
	for (int i = 0; i < 20000 && !stat_of(ctx, NULL, "colocate_shared"); i++) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	atomic_store(&alt_stop, true);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	CHECK(stat_of(ctx, NULL, "colocate_shared") >= 1);
	/* Within the back-off (1 s) after the switch it is ordinary. */
	pid_t h = (pid_t)atomic_load(&ctx->colo.handler_tid);
	CHECK_EQ(sched_getscheduler(h), SCHED_OTHER);
	CHECK_EQ(pinned_cpu(h), -1);
}

static _Atomic bool hog_stop;
static void *hog(void *arg)
{
	pin_self((int)(intptr_t)arg);
	while (!atomic_load(&hog_stop))
		;
	return NULL;
}

static void test_starved(void)
{
	pthread_t t[2];
	pid_t h = (pid_t)atomic_load(&ctx->colo.handler_tid);

	follow_on(0);
	/* Both CPUs busy: wherever the handler goes, an ordinary thread has it. */
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, hog, (void *)(intptr_t)i), 0);
	pin_self(1);
	/* Let the handler go to sleep. */
	struct timespec ts = { 0, 20 * 1000000 };
	nanosleep(&ts, NULL);
	/*
	 * Faults from CPU 1.  Starved, the handler gets a CPU only now and then:
	 * without the guard these 200 reads took 1.0 to 1.35 s here, with it 20
	 * to 55 ms.  (The scheduler does not always starve it: then the reads
	 * are fast and the guard has nothing to do.)
	 */
	uint64_t t0 = now_ns(), b0 = stat_of(ctx, NULL, "colocate_boost");
	CHECK(touch(200) > 20);
	if (now_ns() - t0 > 200ULL * 1000000)
		CHECK(stat_of(ctx, NULL, "colocate_boost") > b0);
	if (stat_of(ctx, NULL, "colocate_boost") > b0)
		CHECK_EQ(sched_getscheduler(h), SCHED_OTHER);
	atomic_store(&hog_stop, true);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	atomic_store(&hog_stop, false);
	unpin_self();
}

static void *read_one(void *arg)
{
	uint64_t p = (uint64_t)(uintptr_t)arg;
	pin_self(1);
	CHECK(verify_page(mem + p * 4096, 5, p, FILL_HALF));
	return NULL;
}

static uint64_t swapped_page(struct region *r, uint64_t from)
{
	for (uint64_t p = from; p < NPAGES; p++)
		if (pte_is_swap(pte_read(r, p)))
			return p;
	CHECK(0 && "no swapped page");
	return 0;
}

/*
 * The guard after a quiet second (no timer: it sleeps in poll() until a
 * fault comes).  The handler is held inside a fault (the test holds the
 * page's lock) while a second fault waits: the guard must notice within
 * its period, not after its one-second poll timeout.
 */
static void test_guard_quiet(void)
{
	struct region *r = region_lookup(ctx, (uintptr_t)mem);
	pthread_t t1, t2;
	pte_t locked;

	follow_on(0);
	unpin_self();
	uint64_t p1 = swapped_page(r, 0), p2 = swapped_page(r, p1 + 1);
	struct timespec ts = { 1, 300 * 1000000 };
	nanosleep(&ts, NULL);
	CHECK(pte_trylock(r, p1, &locked));
	CHECK_EQ(pthread_create(&t1, NULL, read_one, (void *)(uintptr_t)p1), 0);
	while (!atomic_load(&ctx->faults_in_flight))
		sched_yield(); /* the handler is in p1's fault, waiting for the lock */
	uint64_t t0 = now_ns(), b0 = stat_of(ctx, NULL, "colocate_boost");
	CHECK_EQ(pthread_create(&t2, NULL, read_one, (void *)(uintptr_t)p2), 0);
	while (stat_of(ctx, NULL, "colocate_boost") == b0 && now_ns() - t0 < 3000ULL * 1000000)
		sched_yield();
	CHECK(stat_of(ctx, NULL, "colocate_boost") > b0);
	CHECK(now_ns() - t0 < 500ULL * 1000000);
	pte_unlock(r, p1, locked);
	CHECK_EQ(pthread_join(t1, NULL), 0);
	CHECK_EQ(pthread_join(t2, NULL), 0);
}

static void test_off(unsigned int flags, unsigned int handlers)
{
	setup(flags, handlers);
	pin_self(1);
	CHECK(touch(2000) > 500);
	unpin_self();
	CHECK(!ctx->colo.enabled);
	CHECK_EQ(atomic_load(&ctx->colo.handler_tid), 0);
	CHECK_EQ(stat_of(ctx, NULL, "colocate_follow"), 0);
	/* No handler thread is SCHED_IDLE or pinned. */
	for (unsigned int i = 0; i < ctx->nr_handlers; i++) {
		int policy;
		struct sched_param sp;
		CHECK_EQ(pthread_getschedparam(ctx->handlers[i], &policy, &sp), 0);
		CHECK_EQ(policy, SCHED_OTHER);
	}
	teardown();
}

int main(void)
{
	cpu_set_t s;

	if (sched_getaffinity(0, sizeof(s), &s) || !CPU_ISSET(0, &s) || !CPU_ISSET(1, &s))
		SKIP("needs CPUs 0 and 1");
	setup(0, 0);
	if (!ctx->colo.enabled) {
		uswap_ctx_destroy(ctx);
		SKIP("colocation is off here (needs CAP_SYS_NICE or RLIMIT_NICE >= 20)");
	}
	test_follow();
	test_shared();
	teardown();

	setup(0, 0);
	test_starved();
	teardown();
	setup(0, 0);
	test_guard_quiet();
	teardown();

	test_off(USWAP_F_NO_COLOCATE, 0);
	test_off(0, 2);
	return 0;
}
