/* SPDX-License-Identifier: MIT */
/*
 * bench_uffd - what userfaultfd itself costs on this machine, without uswap:
 *   1. the thread-mode floor: a fault resolved by a handler thread that spins
 *      on the descriptor, with a UFFDIO_COPY of a constant page (no lookup,
 *      no decompression): the least any thread-mode fault can cost;
 *   1b. the signal-mode floor: the faulting thread's own SIGBUS handler answers
 *      with a UFFDIO_COPY of a constant page, with and without an lz4
 *      decompression of a half-compressible page first: the least a
 *      signal-mode swap-in can cost (the kernel's zram swap-in decompresses too);
 *   1c. where the handler thread runs (thread mode): a handler sleeping in
 *      read(2), answering with a UFFDIO_COPY, (a) free to move, (b) pinned to
 *      the faulting thread's CPU, (c) the same under SCHED_IDLE (what uswap
 *      does, colocate.c), (d) both threads pinned to CPU 0;
 *   2. UFFDIO_MOVE against UFFDIO_COPY, 1 and 32 pages per call, with no
 *      other thread of the process running, and with one running on the
 *      other CPU (every move is a TLB shoot-down, sent to each CPU that runs
 *      a thread of the process; an idle CPU is skipped).
 * Medians of --runs runs (default 3).  Usage: bench_uffd [--runs R]
 */

#include <errno.h>
#include <lz4.h>
#include <signal.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../src/uffd_compat.h"

#define PG 4096UL

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int uffd_new(uint64_t features)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	struct uffdio_api api = { .api = UFFD_API, .features = features };

	if (fd < 0 || ioctl(fd, UFFDIO_API, &api)) {
		fprintf(stderr, "bench_uffd: userfaultfd: %s (root or vm.unprivileged_userfaultfd=1)\n",
			strerror(errno));
		exit(2);
	}
	return fd;
}

static char *area(size_t pages, int uffd)
{
	char *m = mmap(NULL, pages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct uffdio_register r = { .range = { (uintptr_t)m, pages * PG },
				     .mode = UFFDIO_REGISTER_MODE_MISSING };

	if (m == MAP_FAILED || (madvise(m, pages * PG, MADV_NOHUGEPAGE), ioctl(uffd, UFFDIO_REGISTER, &r))) {
		perror("bench_uffd: area");
		exit(1);
	}
	return m;
}

/* ---- 1. the thread-mode floor ---- */

static int floor_uffd;
static _Atomic int floor_stop;
static _Alignas(4096) char constant_page[PG];

static void *floor_handler(void *arg)
{
	struct uffd_msg msg;

	(void)arg;
	while (!floor_stop) {
		if (read(floor_uffd, &msg, sizeof(msg)) != sizeof(msg) ||
		    msg.event != UFFD_EVENT_PAGEFAULT)
			continue; /* spin */
		struct uffdio_copy c = { .dst = msg.arg.pagefault.address & ~(PG - 1),
					 .src = (uintptr_t)constant_page, .len = PG };
		ioctl(floor_uffd, UFFDIO_COPY, &c);
	}
	return NULL;
}

/* Touch each of the @n pages at @m once, in a scattered order: the p50 of a
 * touch in microseconds. */
static double touch_p50(char *m, size_t n)
{
	uint64_t *lat = malloc(n * sizeof(*lat));
	double p50;

	for (size_t i = 0; i < n; i++) {
		size_t p = i * 7919 % n; /* n is not a multiple of 7919: every page once */
		uint64_t t = now_ns();
		(void)*(volatile char *)(m + p * PG);
		lat[i] = now_ns() - t;
	}
	qsort(lat, n, sizeof(*lat), cmp_u64);
	p50 = lat[n / 2] / 1e3;
	free(lat);
	return p50;
}

static double thread_floor_p50(size_t n)
{
	pthread_t th;
	double p50;
	char *m;

	floor_uffd = uffd_new(0);
	m = area(n, floor_uffd);
	memset(constant_page, 1, PG);
	floor_stop = 0;
	pthread_create(&th, NULL, floor_handler, NULL);
	p50 = touch_p50(m, n);
	floor_stop = 1;
	pthread_join(th, NULL);
	munmap(m, n * PG);
	close(floor_uffd);
	return p50;
}

/* ---- 1c. where the handler runs ---- */

enum { PL_FREE, PL_FOLLOW, PL_FOLLOW_IDLE, PL_PINNED, NR_PL };
static const char *const pl_names[NR_PL] = {
	"sleeping handler, free to move          ",
	"handler follows the faulting CPU        ",
	"handler follows it, SCHED_IDLE (uswap)  ",
	"both pinned to CPU 0                    ",
};
static int pl_uffd, pl_variant;
static _Atomic int pl_fault_cpu;
static _Atomic uintptr_t pl_stop_page; /* a fault there: resolve it and end */

static void pin_cpu(int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	sched_setaffinity(0, sizeof(s), &s);
}

static void *pl_handler(void *arg)
{
	struct sched_param sp = { 0 };
	struct uffd_msg msg;
	int cur = -1;

	(void)arg;
	if (pl_variant == PL_PINNED)
		pin_cpu(0);
	if (pl_variant == PL_FOLLOW_IDLE)
		sched_setscheduler(0, SCHED_IDLE, &sp);
	for (;;) {
		if (read(pl_uffd, &msg, sizeof(msg)) != sizeof(msg) || msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		bool last = (msg.arg.pagefault.address & ~(PG - 1)) == atomic_load(&pl_stop_page);
		int want = atomic_load(&pl_fault_cpu);
		if ((pl_variant == PL_FOLLOW || pl_variant == PL_FOLLOW_IDLE) && want != cur) {
			pin_cpu(want);
			cur = want;
		}
		struct uffdio_copy c = { .dst = msg.arg.pagefault.address & ~(PG - 1),
					 .src = (uintptr_t)constant_page, .len = PG };
		ioctl(pl_uffd, UFFDIO_COPY, &c);
		if (last)
			break;
	}
	return NULL;
}

static double placement_p50(int variant, size_t n)
{
	uint64_t *lat = malloc(n * sizeof(*lat));
	cpu_set_t all;
	pthread_t th;
	double p50;
	char *m;

	sched_getaffinity(0, sizeof(all), &all);
	pl_uffd = uffd_new(0);
	fcntl(pl_uffd, F_SETFL, 0); /* blocking reads: the handler sleeps */
	m = area(n, pl_uffd);
	memset(constant_page, 1, PG);
	pl_variant = variant;
	char *extra = area(1, pl_uffd); /* its fault ends the handler */
	atomic_store(&pl_stop_page, (uintptr_t)extra);
	if (variant == PL_PINNED)
		pin_cpu(0);
	pthread_create(&th, NULL, pl_handler, NULL);
	for (size_t i = 0; i < n; i++) {
		size_t p = i * 7919 % n;
		atomic_store(&pl_fault_cpu, sched_getcpu());
		uint64_t t = now_ns();
		(void)*(volatile char *)(m + p * PG);
		lat[i] = now_ns() - t;
		/* a little work between faults, as a program does */
		for (volatile int k = 0; k < 200; k++)
			;
	}
	(void)*(volatile char *)extra;
	pthread_join(th, NULL);
	sched_setaffinity(0, sizeof(all), &all);
	qsort(lat, n, sizeof(*lat), cmp_u64);
	p50 = lat[n / 2] / 1e3;
	free(lat);
	munmap(m, n * PG);
	munmap(extra, PG);
	close(pl_uffd);
	return p50;
}

/* ---- 1b. the signal-mode floor ---- */

static int sig_uffd, sig_clen;
static bool sig_decompress;
static char sig_comp[2 * PG];
static _Alignas(4096) char sig_buf[PG];

static void sig_handler(int sig, siginfo_t *si, void *uc)
{
	const char *src = constant_page;

	(void)sig;
	(void)uc;
	if (sig_decompress) {
		LZ4_decompress_safe(sig_comp, sig_buf, sig_clen, (int)PG);
		src = sig_buf;
	}
	struct uffdio_copy c = { .dst = (uintptr_t)si->si_addr & ~(PG - 1), .src = (uintptr_t)src,
				 .len = PG };
	ioctl(sig_uffd, UFFDIO_COPY, &c);
}

static double signal_floor_p50(size_t n, bool decompress)
{
	double p50;
	struct sigaction sa = { .sa_sigaction = sig_handler, .sa_flags = SA_SIGINFO }, old;
	char *m;

	sig_uffd = uffd_new(UFFD_FEATURE_SIGBUS);
	m = area(n, sig_uffd);
	for (size_t i = 0; i < PG; i++) /* half-compressible: 2 KiB of bytes, 2 KiB of zeroes */
		constant_page[i] = i < PG / 2 ? (char)(i * 7 + i / 13) : 0;
	sig_clen = LZ4_compress_default(constant_page, sig_comp, (int)PG, (int)sizeof(sig_comp));
	sig_decompress = decompress;
	sigaction(SIGBUS, &sa, &old);
	p50 = touch_p50(m, n);
	sigaction(SIGBUS, &old, NULL);
	munmap(m, n * PG);
	close(sig_uffd);
	return p50;
}

/* ---- 2. MOVE against COPY ---- */

static _Atomic int spin_stop;

static void *spinner(void *arg)
{
	(void)arg;
	while (!spin_stop)
		__asm__ volatile("" ::: "memory");
	return NULL;
}

/* Microseconds per page to fill @n pages, @batch per call, by MOVE (from a
 * populated pool) or COPY. */
static double per_page(bool move, size_t batch, size_t n)
{
	int prog_uffd = uffd_new(UFFD_FEATURE_MOVE), pool_uffd = uffd_new(UFFD_FEATURE_MOVE);
	char *prog = area(n, prog_uffd), *pool = area(n, pool_uffd);
	static _Alignas(4096) char src[32 * PG];
	uint64_t t0, spent = 0;

	memset(src, 7, sizeof(src));
	for (size_t i = 0; i < n; i += 32) { /* populate the pool */
		struct uffdio_copy c = { .dst = (uintptr_t)pool + i * PG, .src = (uintptr_t)src,
					 .len = 32 * PG };
		ioctl(pool_uffd, UFFDIO_COPY, &c);
	}
	for (size_t i = 0; i < n; i += batch) {
		t0 = now_ns();
		if (move) {
			struct uffdio_move mv = { .dst = (uintptr_t)prog + i * PG,
						  .src = (uintptr_t)pool + i * PG, .len = batch * PG };
			if (ioctl(prog_uffd, UFFDIO_MOVE, &mv))
				perror("bench_uffd: UFFDIO_MOVE");
		} else {
			struct uffdio_copy c = { .dst = (uintptr_t)prog + i * PG, .src = (uintptr_t)src,
						 .len = batch * PG };
			if (ioctl(prog_uffd, UFFDIO_COPY, &c))
				perror("bench_uffd: UFFDIO_COPY");
		}
		spent += now_ns() - t0;
	}
	if (prog[0] != 7)
		fprintf(stderr, "bench_uffd: wrong content after %s\n", move ? "move" : "copy");
	munmap(prog, n * PG);
	munmap(pool, n * PG);
	close(prog_uffd);
	close(pool_uffd);
	return spent / 1e3 / (double)n;
}

int main(int argc, char **argv)
{
	int runs = 3;
	double v[16];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
			runs = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: bench_uffd [--runs R]\n");
			return 2;
		}
	}
	if (runs < 1 || runs > 16)
		runs = 3;
	for (int k = 0; k < runs; k++)
		v[k] = thread_floor_p50(20011);
	qsort(v, (size_t)runs, sizeof(double), cmp_dbl);
	printf("thread-mode fault floor (spinning handler, UFFDIO_COPY of a constant page): p50 %.2f us\n",
	       v[runs / 2]);
	if (sysconf(_SC_NPROCESSORS_ONLN) >= 2)
		for (int pl = 0; pl < NR_PL; pl++) {
			for (int k = 0; k < runs; k++)
				v[k] = placement_p50(pl, 20011);
			qsort(v, (size_t)runs, sizeof(double), cmp_dbl);
			printf("thread mode, %s: p50 %.2f us per fault\n", pl_names[pl], v[runs / 2]);
		}
	for (int d = 0; d < 2; d++) {
		for (int k = 0; k < runs; k++)
			v[k] = signal_floor_p50(20011, d);
		qsort(v, (size_t)runs, sizeof(double), cmp_dbl);
		printf("signal-mode fault floor (SIGBUS handler, %sUFFDIO_COPY): p50 %.2f us\n",
		       d ? "lz4 decompression + " : "", v[runs / 2]);
	}
	for (int other = 0; other < 2; other++) {
		pthread_t th;
		if (other) {
			spin_stop = 0;
			pthread_create(&th, NULL, spinner, NULL);
		}
		for (size_t batch = 1; batch <= 32; batch *= 32)
			for (int move = 1; move >= 0; move--) {
				for (int k = 0; k < runs; k++)
					v[k] = per_page(move, batch, 4096);
				qsort(v, (size_t)runs, sizeof(double), cmp_dbl);
				printf("%s %2zu page%s per call, %s: %.2f us per page\n",
				       move ? "UFFDIO_MOVE" : "UFFDIO_COPY", batch, batch > 1 ? "s" : " ",
				       other ? "another thread running" : "no other thread    ",
				       v[runs / 2]);
			}
		if (other) {
			spin_stop = 1;
			pthread_join(th, NULL);
		}
	}
	return 0;
}
