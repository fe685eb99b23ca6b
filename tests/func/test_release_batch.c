/* SPDX-License-Identifier: MIT */
/*
 * test_release_batch - sys_madvise_dontneed_v, the release of many pool
 * ranges in one process_madvise(2):
 *  - the ranges given, and only they, are dropped (mlock()ed memory, as the
 *    pool is): every other page keeps its content;
 *  - a single range and an empty vector work too;
 *  - after fork(), the child's call drops the child's pages, never the
 *    parent's (the pidfd is opened per call, not cached from the parent);
 *  - the point of it: 256 discontiguous ranges cost far fewer TLB
 *    shoot-downs than 256 (counted in /proc/interrupts while another
 *    thread of the process runs on the other CPU).  Linux >= 6.15 only.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "helper_func.h"
#include "sys.h"

#define NPAGES 1024
#define PG 4096UL

static unsigned char *mem;
static int pagemap = -1;

static void fill_all(uint64_t seed)
{
	for (uint64_t p = 0; p < NPAGES; p++)
		fill_page(mem + p * PG, seed, p, FILL_HALF);
}

/* Pages in @drop[] must be gone (no page, reads zero); all others intact. */
static void check_dropped(uint64_t seed, const unsigned char *drop)
{
	static const unsigned char zero[PG];
	for (uint64_t p = 0; p < NPAGES; p++) {
		if (drop[p]) {
			CHECK_EQ(sys_pagemap_has(pagemap, (uintptr_t)(mem + p * PG), true), 0);
			CHECK(memcmp(mem + p * PG, zero, PG) == 0);
		} else {
			CHECK(verify_page(mem + p * PG, seed, p, FILL_HALF));
		}
	}
}

static uint64_t tlb_shootdowns(void)
{
	char line[4096];
	uint64_t sum = 0;
	FILE *f = fopen("/proc/interrupts", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *p = line;
		while (*p == ' ')
			p++;
		if (strncmp(p, "TLB:", 4))
			continue;
		p += 4;
		for (;;) {
			char *end;
			unsigned long long v = strtoull(p, &end, 10);
			if (end == p)
				break;
			sum += v;
			p = end;
		}
	}
	fclose(f);
	return sum;
}

static _Atomic int spin_stop;
static void *spin(void *arg)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(1, &s);
	sched_setaffinity(0, sizeof(s), &s);
	while (!atomic_load(&spin_stop))
		((volatile unsigned char *)arg)[0]++;
	return NULL;
}

static bool kernel_at_least(int maj, int min)
{
	struct utsname u;
	int a = 0, b = 0;
	return !uname(&u) && sscanf(u.release, "%d.%d", &a, &b) == 2 && (a > maj || (a == maj && b >= min));
}

int main(void)
{
	static struct iovec iov[NPAGES];
	static unsigned char drop[NPAGES];
	unsigned int n = 0;

	mem = sys_mmap_anon(NPAGES * PG);
	CHECK(mem != NULL);
	pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	CHECK(pagemap >= 0);
	/* locked as uswap locks the pool (MLOCK_ONFAULT); without the right, unlocked */
	if (mlock2(mem, NPAGES * PG, MLOCK_ONFAULT))
		fprintf(stderr, "note: mlock2: %s; testing unlocked memory\n", strerror(errno));

	/* 1. every third page, and one run of 5 pages */
	fill_all(1);
	for (unsigned int p = 0; p < 300; p += 3) {
		iov[n].iov_base = mem + p * PG;
		iov[n++].iov_len = PG;
		drop[p] = 1;
	}
	iov[n].iov_base = mem + 500 * PG;
	iov[n++].iov_len = 5 * PG;
	memset(drop + 500, 1, 5);
	CHECK_EQ(sys_madvise_dontneed_v(iov, n), 0);
	check_dropped(1, drop);

	/* 2. one range; an empty vector */
	memset(drop, 0, sizeof(drop));
	fill_all(2);
	iov[0].iov_base = mem + 700 * PG;
	iov[0].iov_len = 3 * PG;
	memset(drop + 700, 1, 3);
	CHECK_EQ(sys_madvise_dontneed_v(iov, 1), 0);
	CHECK_EQ(sys_madvise_dontneed_v(iov, 0), 0);
	check_dropped(2, drop);

	/* 3. a child's call drops the child's pages only */
	memset(drop, 0, sizeof(drop));
	fill_all(3);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		for (unsigned int k = 0; k < 64; k++) {
			iov[k].iov_base = mem + 2 * k * PG;
			iov[k].iov_len = PG;
		}
		int rc = sys_madvise_dontneed_v(iov, 64);
		static const unsigned char zero[PG];
		_exit(rc == 0 && memcmp(mem, zero, PG) == 0 && verify_page(mem + PG, 3, 1, FILL_HALF) ? 0 : 1);
	}
	int status;
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	check_dropped(3, drop);

	/* 3b. a bad range in the middle: its error is returned, and the ranges
	 * after it are still dropped (the kernel stops at the bad one) */
	memset(drop, 0, sizeof(drop));
	fill_all(5);
	unsigned char *hole = sys_mmap_anon(PG);
	CHECK(hole != NULL);
	CHECK_EQ(sys_munmap(hole, PG), 0);
	iov[0].iov_base = mem + 10 * PG;
	iov[0].iov_len = PG;
	iov[1].iov_base = hole;
	iov[1].iov_len = PG;
	iov[2].iov_base = mem + 20 * PG;
	iov[2].iov_len = 2 * PG;
	drop[10] = drop[20] = drop[21] = 1;
	CHECK_EQ(sys_madvise_dontneed_v(iov, 3), -ENOMEM);
	check_dropped(5, drop);

	/* 4. one shoot-down for many ranges */
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || !kernel_at_least(6, 15) || !tlb_shootdowns()) {
		fprintf(stderr, "note: shoot-down count not checked (needs 2 CPUs, Linux 6.15, "
				"/proc/interrupts)\n");
	} else {
		unsigned char *spin_page = sys_mmap_anon(PG);
		pthread_t t;
		uint64_t best = UINT64_MAX;
		CHECK(pthread_create(&t, NULL, spin, spin_page) == 0);
		usleep(20000);
		/* Other work on the machine flushes too: the best of 5 tries. */
		for (int tries = 0; tries < 5; tries++) {
			fill_all(4);
			n = 0;
			for (unsigned int p = 0; p < 512; p += 2) {
				iov[n].iov_base = mem + p * PG;
				iov[n++].iov_len = PG;
			}
			uint64_t before = tlb_shootdowns();
			CHECK_EQ(sys_madvise_dontneed_v(iov, n), 0);
			uint64_t d = tlb_shootdowns() - before;
			if (d < best)
				best = d;
		}
		atomic_store(&spin_stop, 1);
		pthread_join(t, NULL);
		fprintf(stderr, "256 ranges released: %llu TLB shoot-down(s) at best\n",
			(unsigned long long)best);
		CHECK(best < 32); /* one madvise per range: >= 256 */
	}
	close(pagemap);
	return 0;
}
