/* SPDX-License-Identifier: MIT */
/*
 * sys.h - uswap's memory system calls: raw syscall(2)s, so that the preload
 * shim's interposed mmap/munmap/madvise never see uswap's own memory.
 */
#ifndef USWAP_SYS_H
#define USWAP_SYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/uio.h>

/* 0 or -errno. */
int sys_madvise(void *addr, size_t len, int advice);
/* MADV_DONTNEED that also works on mlock()ed ranges.  0 or -errno. */
int sys_madvise_dontneed(void *addr, size_t len);
/* The same for @n ranges, in one process_madvise(2) where the kernel has it:
 * one TLB shoot-down for all of them.  0 or the first -errno. */
int sys_madvise_dontneed_v(const struct iovec *iov, unsigned int n);
/* mmap(2): the mapping, or MAP_FAILED with errno set. */
void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
/* A private anonymous read-write mapping (MAP_NORESERVE), or NULL. */
void *sys_mmap_anon(size_t len);
/* 0 or -errno. */
int sys_munmap(void *addr, size_t len);
/* The kernel's page-table state of @addr from /proc/self/pagemap (@fd open on it):
 * 1 a page or a kernel swap entry is there (with @present: a page), 0 none, -1 unknown. */
int sys_pagemap_has(int fd, uintptr_t addr, bool present);

#endif
