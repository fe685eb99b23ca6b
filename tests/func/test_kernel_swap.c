/* SPDX-License-Identifier: MIT */
/*
 * test_kernel_swap - uswap next to the kernel's own swap.
 *
 * With a kernel swap device on, the kernel may page out any anonymous
 * memory: global reclaim, or a proactive reclaimer (this machine runs a DAMON
 * "pageout" scheme).  Kernel page-outs of uswap-managed memory were seen to
 * lose pages (accesses read zeroes) and to leave eviction nothing it could
 * move (OOM).  uswap therefore locks what it manages (mlock2 MLOCK_ONFAULT).
 *
 * This test turns a zram device into kernel swap for its duration, then runs
 * a read/write workload over 4x the limit while asking the kernel to page the
 * region out (MADV_PAGEOUT) every round: the kernel must refuse (the range is
 * locked), every page read must hold its last written version, and neither
 * refills nor OOMs may happen.  Before the locking, 3 runs of 3 failed.
 *
 * Needs root and zram (zram-control); skips (77) otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "helper_func.h"

#define PG 4096UL
#define NPAGES 16384u /* 64 MiB */
#define LIMIT (16u << 20)

static int zram_id = -1;
static char zdev[64];

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : write(fd, s, strlen(s));

	if (fd >= 0)
		close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

static void kernel_swap_off(void)
{
	char path[128], id[16];

	if (zram_id < 0)
		return;
	swapoff(zdev);
	snprintf(path, sizeof(path), "/sys/block/zram%d/reset", zram_id);
	write_str(path, "1");
	snprintf(id, sizeof(id), "%d", zram_id);
	write_str("/sys/class/zram-control/hot_remove", id);
	zram_id = -1;
}

/* A fresh zram device as kernel swap.  Return: 0, or 77 to skip. */
static int kernel_swap_on(void)
{
	char path[128], cmd[160], buf[16] = "";
	int fd;

	if (geteuid() != 0)
		return 77;
	fd = open("/sys/class/zram-control/hot_add", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0) {
		if (fd >= 0)
			close(fd);
		return 77;
	}
	close(fd);
	zram_id = atoi(buf);
	snprintf(zdev, sizeof(zdev), "/dev/zram%d", zram_id);
	atexit(kernel_swap_off);
	snprintf(path, sizeof(path), "/sys/block/zram%d/disksize", zram_id);
	if (write_str(path, "256M"))
		return 77;
	snprintf(cmd, sizeof(cmd), "mkswap -q %s >/dev/null 2>&1", zdev);
	if (system(cmd) != 0 || swapon(zdev, 0)) {
		fprintf(stderr, "test_kernel_swap: cannot swapon %s: %s\n", zdev, strerror(errno));
		return 77;
	}
	return 0;
}

static uint64_t word(size_t p, unsigned int v, size_t w)
{
	return (p * 0x9E3779B97F4A7C15ULL) ^ (v * 0x100000001b3ULL) ^ w;
}

static void put(unsigned char *m, size_t p, unsigned int v)
{
	uint64_t *q = (uint64_t *)(m + p * PG);
	for (size_t w = 0; w < 256; w++) /* 2 KiB of pattern, the rest zero: compressible */
		q[w] = word(p, v, w);
	memset(q + 256, 0, PG - 2048);
}

static int ok(const unsigned char *m, size_t p, unsigned int v)
{
	const uint64_t *q = (const uint64_t *)(m + p * PG);
	for (size_t w = 0; w < 256; w++)
		if (q[w] != word(p, v, w))
			return 0;
	return 1;
}

/* The workload, in a child: its exit status is the number of bad reads (capped). */
static int workload(void)
{
	struct uswap_ctx *ctx = func_ctx(LIMIT, USWAP_MODE_THREAD, 0);
	unsigned int *ver = calloc(NPAGES, sizeof(*ver));
	unsigned char *m = NULL;
	unsigned int bad = 0, refused = 0, seed = 1;

	CHECK(ver != NULL);
	CHECK_EQ(uswap_swapon(ctx, "zram:lz4:size=256M", 0, NULL), 0);
	CHECK_EQ(uswap_mmap(ctx, NULL, (size_t)NPAGES * PG, (void **)&m), 0);
	for (size_t p = 0; p < NPAGES; p++)
		put(m, p, 0);
	for (int round = 0; round < 20; round++) {
		/* Raw system call: the kernel, not uswap, is asked. */
		if (syscall(SYS_madvise, m, (size_t)NPAGES * PG, MADV_PAGEOUT) && errno == EINVAL)
			refused++;
		for (int i = 0; i < 10000; i++) {
			seed = seed * 1103515245u + 12345u;
			size_t p = (seed >> 8) % NPAGES;
			if (!ok(m, p, ver[p]) && bad++ < 5)
				fprintf(stderr, "round %d: page %zu does not hold version %u\n", round, p,
					ver[p]);
			if (seed & 0x10000)
				put(m, p, ++ver[p]);
		}
	}
	for (size_t p = 0; p < NPAGES; p++)
		if (!ok(m, p, ver[p]) && bad++ < 10)
			fprintf(stderr, "final: page %zu does not hold version %u\n", p, ver[p]);
	printf("kernel page-out refused %u of 20 times; %llu pages out, %llu in\n", refused,
	       (unsigned long long)stat_of(ctx, NULL, "pswpout"),
	       (unsigned long long)stat_of(ctx, NULL, "pswpin"));
	CHECK_EQ(refused, 20); /* managed memory is locked against the kernel */
	CHECK(stat_of(ctx, NULL, "pswpout") > NPAGES / 2);
	CHECK_EQ(stat_of(ctx, NULL, "fault_refill"), 0);
	CHECK_EQ(stat_of(ctx, NULL, "oom"), 0);
	check_invariants(ctx);
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
	free(ver);
	return bad > 100 ? 100 : (int)bad;
}

int main(void)
{
	int rc = kernel_swap_on(), status;
	pid_t pid;

	if (rc == 77) {
		printf("SKIP: needs root and zram (zram-control) for a kernel swap device\n");
		return 77;
	}
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(workload());
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	kernel_swap_off();
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		return 77;
	CHECK(WIFEXITED(status));
	if (WIFEXITED(status) && WEXITSTATUS(status))
		fprintf(stderr, "test_kernel_swap: %d bad reads or a failed check\n", WEXITSTATUS(status));
	CHECK_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
	return 0;
}
