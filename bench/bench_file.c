/* SPDX-License-Identifier: MIT */
/*
 * bench_file - the file backend's cost per page: single write()/read()
 * against write_batch()/read_batch() of 64, for each ring mode (a ring per
 * thread, one shared ring behind a mutex, plain pwrite/pread), with 1 and N
 * threads on distinct slots.
 *
 * Usage: bench_file [DIR [THREADS [PAGES]]]   (default /var/tmp 4 16384)
 * Prints µs per page; each thread writes (into a fresh sparse file: the
 * filesystem allocates blocks), rewrites (blocks allocated) and reads
 * PAGES / THREADS pages.
 */
#include "backend/backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

static const struct swap_backend_ops *ops = &file_backend_ops;

struct job {
	void *f;
	uint64_t first, n;
	int batch;
	double w_s, rw_s, r_s;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *run(void *arg)
{
	struct job *j = arg;
	unsigned char *buf;
	void *pages[BK_MAX_BATCH];
	uint64_t slots[BK_MAX_BATCH], hashes[BK_MAX_BATCH];
	bool valid[BK_MAX_BATCH];
	int rc[BK_MAX_BATCH];
	double t0;

	if (posix_memalign((void **)&buf, PAGE, (size_t)BK_MAX_BATCH * PAGE))
		return NULL;
	for (size_t i = 0; i < (size_t)BK_MAX_BATCH * PAGE; i++)
		buf[i] = (unsigned char)(i * 131 + j->first);
	for (int i = 0; i < BK_MAX_BATCH; i++)
		pages[i] = buf + (size_t)i * PAGE;
	for (int pass = 0; pass < 2; pass++) {
	t0 = now();
	for (uint64_t s = 0; s < j->n; s += (uint64_t)j->batch) {
		if (j->batch == 1) {
			if (ops->write(j->f, j->first + s, buf, 0))
				abort();
			continue;
		}
		for (int i = 0; i < j->batch; i++) {
			slots[i] = j->first + s + (uint64_t)i;
			hashes[i] = 0;
		}
		if (ops->write_batch(j->f, (unsigned int)j->batch, slots, (const void *const *)pages,
				     hashes, rc))
			abort();
	}
	*(pass ? &j->rw_s : &j->w_s) = now() - t0;
	}
	t0 = now();
	for (uint64_t s = 0; s < j->n; s += (uint64_t)j->batch) {
		uint64_t h;
		bool v;

		if (j->batch == 1) {
			if (ops->read(j->f, j->first + s, buf, &h, &v))
				abort();
			continue;
		}
		for (int i = 0; i < j->batch; i++)
			slots[i] = j->first + s + (uint64_t)i;
		if (ops->read_batch(j->f, (unsigned int)j->batch, slots, pages, hashes, valid, rc))
			abort();
	}
	j->r_s = now() - t0;
	free(buf);
	return NULL;
}

static void measure(const char *dir, const char *ring, int threads, int batch, uint64_t pages)
{
	char spec[512], err[256] = "";
	struct job jobs[64];
	pthread_t th[64];
	uint64_t nr, per = pages / (uint64_t)threads / BK_MAX_BATCH * BK_MAX_BATCH;
	double w = 0, rw = 0, r = 0, t0, wall;
	void *f;

	snprintf(spec, sizeof(spec), "%s/bench_file.swap:size=%llu:ring=%s", dir,
		 (unsigned long long)((pages + 1024) * PAGE), ring);
	if (ops->create(spec, &f, &nr, err, sizeof(err))) {
		fprintf(stderr, "create %s: %s\n", spec, err);
		exit(1);
	}
	t0 = now();
	for (int i = 0; i < threads; i++) {
		jobs[i] = (struct job){ .f = f, .first = (uint64_t)i * per, .n = per, .batch = batch };
		pthread_create(&th[i], NULL, run, &jobs[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		w += jobs[i].w_s;
		rw += jobs[i].rw_s;
		r += jobs[i].r_s;
	}
	wall = now() - t0;
	/* Per page, per thread (latency), and aggregate throughput. */
	printf("%-7s threads %d batch %2d: write %6.1f, rewrite %6.1f, read %6.1f us/page per "
	       "thread; %6.0f MB/s total\n",
	       ring, threads, batch, w / (double)(per * (uint64_t)threads) * 1e6,
	       rw / (double)(per * (uint64_t)threads) * 1e6,
	       r / (double)(per * (uint64_t)threads) * 1e6,
	       3.0 * (double)(per * (uint64_t)threads) * PAGE / wall / 1e6);
	ops->destroy(f);
	snprintf(spec, sizeof(spec), "%s/bench_file.swap", dir);
	unlink(spec);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/var/tmp";
	int threads = argc > 2 ? atoi(argv[2]) : 4;
	uint64_t pages = argc > 3 ? strtoull(argv[3], NULL, 0) : 16384;
	static const char *const rings[] = { "thread", "shared", "none" };

	if (threads < 1 || threads > 64)
		return 2;
	for (int t = 1; t <= threads; t = t == 1 && threads > 1 ? threads : t + threads)
		for (unsigned int k = 0; k < 3; k++) {
			measure(dir, rings[k], t, 1, pages / 4);
			measure(dir, rings[k], t, BK_MAX_BATCH, pages);
		}
	return 0;
}
