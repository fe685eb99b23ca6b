/* SPDX-License-Identifier: MIT */
/*
 * sys.c - thin system-call wrappers.  These are the only places that read
 * errno: everything above them works with 0 / -errno.
 */
#include <errno.h>
#include <linux/futex.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

int sys_futex_wait(_Atomic uint32_t *addr, uint32_t val)
{
	long rc = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
	return rc < 0 ? -errno : 0;
}

int sys_futex_wait_timeout(_Atomic uint32_t *addr, uint32_t val, uint64_t timeout_ns)
{
	struct timespec ts = { (time_t)(timeout_ns / 1000000000ULL), (long)(timeout_ns % 1000000000ULL) };
	long rc = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
	return rc < 0 ? -errno : 0;
}

int sys_futex_wake(_Atomic uint32_t *addr, int nr)
{
	long rc = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, nr, NULL, NULL, 0);
	return rc < 0 ? -errno : (int)rc;
}

int sys_uffd_ioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) < 0 ? -errno : 0;
}

/*
 * Memory system calls go straight to the kernel, never through the C
 * library's symbols: the preload shim (uswap run) interposes mmap, munmap
 * and madvise, and uswap's own memory must not be routed back into it.
 */
#if defined(__SANITIZE_THREAD__)
#define SYS_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SYS_UNDER_TSAN 1
#endif
#endif

/*
 * Under ThreadSanitizer (never run with the shim) mmap and munmap go through
 * the C library after all: TSan learns of a mapping only from its
 * interceptors, and without them it kept the history of an unmapped range and
 * reported a race between a swap table that was freed and a zram table that
 * the kernel later placed at the same address (stress/test_swapoff).
 */
#ifdef SYS_UNDER_TSAN
void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}

int sys_munmap(void *addr, size_t len)
{
	return munmap(addr, len) < 0 ? -errno : 0;
}
#else
void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	long p = syscall(SYS_mmap, addr, len, prot, flags, fd, off);
	return p < 0 && p > -4096 ? MAP_FAILED : (void *)p;
}

int sys_munmap(void *addr, size_t len)
{
	return syscall(SYS_munmap, addr, len) < 0 ? -errno : 0;
}
#endif

#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24 /* Linux 5.18: older headers lack it */
#endif

/*
 * Drop pages of uswap's locked ranges (program regions, the pool: see
 * uffd_lock_range): MADV_DONTNEED refuses VM_LOCKED ranges, so
 * MADV_DONTNEED_LOCKED (Linux 5.18) first, plain DONTNEED where the range is
 * not locked or the kernel is older.
 */
int sys_madvise_dontneed(void *addr, size_t len)
{
	int rc = sys_madvise(addr, len, MADV_DONTNEED_LOCKED);
	return rc == -EINVAL ? sys_madvise(addr, len, MADV_DONTNEED) : rc;
}

/*
 * Many ranges: process_madvise(2) on ourselves gathers them under one TLB
 * flush (Linux 6.15 batches MADV_DONTNEED[_LOCKED] across the vector; before,
 * it costs what the madvise calls would).  The pidfd is opened per call, not
 * cached: a cached one would, after fork(), name the parent.  The kernel
 * works through the vector in order and returns the bytes done, so on an
 * error (or a kernel without it) the ranges after the last complete one
 * go one madvise each.
 */
int sys_madvise_dontneed_v(const struct iovec *iov, unsigned int n)
{
	unsigned int done = 0;
	int rc = 0;

#if defined(SYS_process_madvise) && defined(SYS_pidfd_open)
	int pidfd = n > 1 ? (int)syscall(SYS_pidfd_open, getpid(), 0) : -1;
	if (pidfd >= 0) {
		while (done < n) {
			unsigned int chunk = min_t(n - done, 1024u); /* UIO_MAXIOV */
			size_t want = 0;
			for (unsigned int i = 0; i < chunk; i++)
				want += iov[done + i].iov_len;
			long got = syscall(SYS_process_madvise, pidfd, iov + done, (size_t)chunk,
					   MADV_DONTNEED_LOCKED, 0);
			if (got == (long)want) {
				done += chunk;
				continue;
			}
			/* skip the ranges the kernel finished */
			for (size_t b = got > 0 ? (size_t)got : 0; b >= iov[done].iov_len;) {
				b -= iov[done].iov_len;
				done++;
			}
			break;
		}
		close(pidfd);
	}
#endif
	for (; done < n; done++) {
		int r = sys_madvise_dontneed(iov[done].iov_base, iov[done].iov_len);
		if (r && !rc)
			rc = r;
	}
	return rc;
}

int sys_madvise(void *addr, size_t len, int advice)
{
	return syscall(SYS_madvise, addr, len, advice) < 0 ? -errno : 0;
}

void *sys_mmap_anon(size_t len)
{
	void *p = sys_mmap(NULL, len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int sys_pagemap_has(int fd, uintptr_t addr, bool present)
{
	uint64_t ent;

	if (fd < 0 || pread(fd, &ent, sizeof(ent), (off_t)(addr >> PAGE_SHIFT) * 8) != sizeof(ent))
		return -1;
	return !!(ent & (present ? 1ULL << 63 : 3ULL << 62)); /* present; swapped by the kernel */
}
