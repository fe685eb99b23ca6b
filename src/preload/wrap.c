// SPDX-License-Identifier: MIT
/*
 * wrap.c - what uswap's objects call instead of malloc and pthread_create in
 * libuswap_preload.so (the link uses -Wl,--wrap=malloc,... so that only the
 * objects linked into the shim, libzstd.a included, are redirected).
 *
 * Memory: the program may run jemalloc, which maps its chunks with mmap(2)
 * through the PLT, so they become managed memory.  If uswap's own tables or
 * zstd's compression contexts came from that allocator they could be swapped
 * out, and a handler thread touching them would wait for a fault only a handler
 * thread can resolve.  So uswap allocates from glibc's malloc (__libc_malloc),
 * whose mmap and brk calls are internal to glibc and never reach the shim.
 *
 * Not only malloc: glibc's own functions call malloc through the PLT too, so
 * they reach the program's allocator.  Of those uswap calls, qsort(3) does
 * (its merge sort takes a temporary buffer from malloc above 1 KiB): a
 * handler thread sorting frames in reclaim took its buffer from jemalloc,
 * in managed memory, and waited for its own fault (seen in run/threads).
 * So qsort is wrapped too, with a heapsort that allocates nothing.
 *
 * Threads: a thread started by uswap (handlers, kswapd) or by the shim (the
 * stats server) is marked, and the interposers send its memory calls straight
 * to the kernel.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "preload.h"

void *__libc_malloc(size_t size);
void *__libc_calloc(size_t nmemb, size_t size);
void *__libc_realloc(void *ptr, size_t size);
void *__libc_memalign(size_t align, size_t size);
void __libc_free(void *ptr);

_Thread_local int shim_depth __attribute__((tls_model("initial-exec")));
static _Thread_local bool internal __attribute__((tls_model("initial-exec")));

bool shim_internal_thread(void)
{
	return internal;
}

/* --wrap targets: declared here only to satisfy -Wmissing-prototypes. */
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t nmemb, size_t size);
void *__wrap_realloc(void *ptr, size_t size);
void *__wrap_aligned_alloc(size_t align, size_t size);
int __wrap_posix_memalign(void **p, size_t align, size_t size);
void __wrap_free(void *ptr);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);
int __real_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);

void *__wrap_malloc(size_t size)
{
	return __libc_malloc(size);
}

void *__wrap_calloc(size_t nmemb, size_t size)
{
	return __libc_calloc(nmemb, size);
}

void *__wrap_realloc(void *ptr, size_t size)
{
	return __libc_realloc(ptr, size);
}

void *__wrap_aligned_alloc(size_t align, size_t size)
{
	return __libc_memalign(align, size);
}

int __wrap_posix_memalign(void **p, size_t align, size_t size)
{
	void *m;

	if (align < sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	m = __libc_memalign(align, size);
	if (!m)
		return ENOMEM;
	*p = m;
	return 0;
}

void __wrap_free(void *ptr)
{
	__libc_free(ptr);
}

static void swap_bytes(unsigned char *a, unsigned char *b, size_t size)
{
	while (size--) {
		unsigned char t = *a;
		*a++ = *b;
		*b++ = t;
	}
}

static void sift_down(unsigned char *base, size_t root, size_t n, size_t size,
		      int (*cmp)(const void *, const void *))
{
	for (size_t child; (child = 2 * root + 1) < n; root = child) {
		if (child + 1 < n && cmp(base + child * size, base + (child + 1) * size) < 0)
			child++;
		if (cmp(base + root * size, base + child * size) >= 0)
			return;
		swap_bytes(base + root * size, base + child * size, size);
	}
}

void __wrap_qsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));

/* qsort(3) without allocation: heapsort, O(n log n), not stable (nor is qsort). */
void __wrap_qsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	unsigned char *b = base;

	if (n < 2 || !size)
		return;
	for (size_t i = n / 2; i-- > 0;)
		sift_down(b, i, n, size, cmp);
	for (size_t end = n - 1; end > 0; end--) {
		swap_bytes(b, b + end * size, size);
		sift_down(b, 0, end, size, cmp);
	}
}

struct start {
	void *(*fn)(void *);
	void *arg;
};

static void *internal_start(void *p)
{
	struct start s = *(struct start *)p;

	__libc_free(p);
	internal = true;
	return s.fn(s.arg);
}

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	struct start *s = __libc_malloc(sizeof(*s));
	int rc;

	if (!s)
		return EAGAIN;
	s->fn = fn;
	s->arg = arg;
	rc = __real_pthread_create(t, attr, internal_start, s);
	if (rc)
		__libc_free(s);
	return rc;
}
