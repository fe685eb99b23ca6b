/* SPDX-License-Identifier: MIT */
/*
 * bench_kernel - uswap against the kernel's own swap: the same workload, run
 * twice in one run, in a forked child each time:
 *
 *  (a) kernel: plain anonymous memory in a fresh cgroup v1 memory group
 *      (/sys/fs/cgroup/memory/uswap-bench-PID, memory.limit_in_bytes = L),
 *      with kernel swap on a zram device (lz4) that this program sets up;
 *  (b) uswap: uswap_ctx_create(limit_bytes = L), uswap_swapon("zram:lz4:..."),
 *      the working set in uswap_mmap() memory.
 * With --swap file[:DIR], both swap to a file on the disk under DIR instead:
 * (a) a kernel swap file (fallocate, swapon), (b) uswap's file backend; the
 * report adds read-ahead hits, pages evicted with and without a write, and
 * bytes written per page evicted.
 *
 * The content of every page is a deterministic function of (page, version);
 * writes bump the page's version (a side array in ordinary memory), and every
 * page is verified after the access phase.  Each access is timed; the report
 * gives a table per workload (kernel, uswap, uswap/kernel), a CSV and a
 * gnuplot latency plot.  Everything set up is torn down at the end, on errors
 * and on SIGINT/SIGTERM/SIGHUP/SIGQUIT.
 *
 * One run of a workload, in the child: fill every page (version 0); start the
 * threads, which replay access sequences built by the parent (the same for
 * both systems: page numbers, with a write bit); measure; verify every page.
 * - An access: a read loads 9 words spread over the page and checks two of
 *   them; a write rewrites the whole page with its next version (seqlock on
 *   the version word, so that threads may share pages).  Only the loads or
 *   the copy are timed (CLOCK_MONOTONIC, vDSO), into a log-linear histogram
 *   (16 sub-buckets per power of two).
 * - "fault p50": the median of the accesses that took >= 1.024 us, i.e. those
 *   that faulted (a hit takes well under 1 us): the "random miss" latency.
 * - Major faults: the kernel's ru_majflt delta, uswap's pgmajfault delta.
 * - CPU: getrusage(RUSAGE_SELF) of the child over the access phase: every
 *   thread, uswap's handler and reclaim threads included; the kernel's direct
 *   reclaim runs in the faulting thread.  "off-CPU" is the share of the
 *   workload threads' wall time not covered by that CPU time (blocked or
 *   preempted; for uswap its own threads' CPU hides part of it).
 * - Memory at the end of the access phase: kernel = pages of the working set
 *   in memory (mincore, page and swap cache) + zram mem_used_total + the
 *   swap metadata it allocated for the device (zram slot table, swap_map,
 *   swap cgroup map: the growth of their /proc/vmallocinfo entries across
 *   swapon) + VmPTE (the cgroup's usage_in_bytes is shown too, and is the
 *   same to within the side array); uswap = nr_usage pages (resident + swap
 *   cache) + warm pool frames + mem_used_total + meta_bytes + VmPTE (the
 *   child's RssAnon, in the CSV, agrees); the peak adds the peaks of each.
 * - Both swap devices have the same size: the largest working set of the run
 *   plus L.
 *
 * Usage: bench_kernel --help.  Needs root, zram, the cgroup v1 memory
 * controller and no active swap.
 * Exit: 0 all runs verified; 1 a data mismatch or a failed run; 2 refused or
 * usage error.  BENCH_KERNEL_CORRUPT_PAGE=N in the environment flips a bit of
 * page N before verification (to check that the verifier catches it).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/swap.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "uswap.h"
#include "../tests/common/mix64.h"

#define PAGE ((uint64_t)4096)
#define WPP 512u	  /* 64-bit words per page */
#define VLOCK 0x80000000u /* version word: writer holds the page */
#define OPW 0x80000000u	  /* access entry: a write */
#define SLOW_NS 1024	  /* accesses at least this long count as faults (a bucket edge) */
#define CG_ROOT "/sys/fs/cgroup/memory"
#define ZRAM_CTL "/sys/class/zram-control"
#define SWAP_PRIO 100

/* ------------------------------------------------------------------------ */
/* Histogram: log-linear, 16 sub-buckets per power of two, in nanoseconds.  */

#define HSUB 16
#define HLIN 32 /* values below are exact */
#define NBUCKETS (HLIN + (63 - 5 + 1) * HSUB)

static unsigned int hbucket(uint64_t v)
{
	unsigned int k;

	if (v < HLIN)
		return (unsigned int)v;
	k = 63u - (unsigned int)__builtin_clzll(v); /* >= 5 */
	return HLIN + (k - 5) * HSUB + (unsigned int)((v >> (k - 4)) & (HSUB - 1));
}

static double hlow(unsigned int i)
{
	unsigned int k, sub;

	if (i < HLIN)
		return i;
	k = 5 + (i - HLIN) / HSUB;
	sub = (i - HLIN) % HSUB;
	return (double)((uint64_t)(HSUB + sub) << (k - 4));
}

static double hwidth(unsigned int i)
{
	return i < HLIN ? 1.0 : (double)((uint64_t)1 << (5 + (i - HLIN) / HSUB - 4));
}

/* Value at quantile @q (0..1), bucket midpoint, in ns. */
static double hquantile(const uint64_t *h, double q, uint64_t from_bucket)
{
	uint64_t total = 0, cum = 0, want;

	for (unsigned int i = (unsigned int)from_bucket; i < NBUCKETS; i++)
		total += h[i];
	if (!total)
		return 0;
	want = (uint64_t)(q * (double)total);
	if (want >= total)
		want = total - 1;
	for (unsigned int i = (unsigned int)from_bucket; i < NBUCKETS; i++) {
		cum += h[i];
		if (cum > want)
			return i < HLIN ? (double)i : hlow(i) + hwidth(i) / 2;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Page content.                                                             */

enum { D_RANDOM, D_HALF, D_TEXT, D_ZERO, NR_DATA };
enum { P_SEQ, P_RAND, P_ZIPF, P_HOTCOLD, P_REV, P_STRIDE, NR_PAT };
static const char *const data_names[NR_DATA] = { "random", "half", "text", "zero-heavy" };
static const char *const pat_names[NR_PAT] = { "seq", "rand", "zipf", "hotcold", "rev", "stride" };
#define STRIDE 7 /* pages between the accesses of the stride pattern */


static const char text_tokens[64][9] = {
	"the     ", "of the  ", "and     ", "to      ", "in a    ", "is      ", "that    ",
	"for     ", "it was  ", "with    ", "as      ", "on the  ", "by      ", "this    ",
	"be      ", "at the  ", "memory  ", "page    ", "swap    ", "kernel  ", "process ",
	"from    ", "which   ", "have    ", "not     ", "are     ", "or      ", "an      ",
	"they    ", "we      ", "one     ", "all     ", "would   ", "there   ", "their   ",
	"will    ", "when    ", "who     ", "make    ", "can     ", "time    ", "into    ",
	"year    ", "people  ", "some    ", "could   ", "them    ", "other   ", "than    ",
	"then    ", "now     ", "look    ", "only    ", "come    ", "its     ", "over    ",
	"think   ", "also    ", "back    ", "after   ", "use     ", "two     ", "how     ",
	"our     ",
};
static uint64_t text_words[64];

static uint64_t page_key(uint64_t pg, uint32_t ver)
{
	return mix64(((uint64_t)ver << 32 | pg) ^ 0x5eed5eed12345678ULL);
}

/* Zero-heavy data: 9 pages in 10 are all zeroes (decided per page and version). */
static bool page_is_zero(int data, uint64_t key)
{
	return data == D_ZERO && mix64(key ^ 0xa5a5a5a5a5a5a5a5ULL) % 10 != 0;
}

/* Word @w of a page with key @key (not for zero pages). */
static uint64_t page_word(int data, uint64_t key, unsigned int w)
{
	uint64_t r = mix64(key + w);

	switch (data) {
	case D_RANDOM:
		return r;
	case D_TEXT: {
		unsigned int b = (unsigned int)(r & 0xff), idx;

		if (b < 160)
			idx = (unsigned int)(r >> 8) & 7;
		else if (b < 224)
			idx = 8 + ((unsigned int)(r >> 8) & 15);
		else
			idx = (unsigned int)(r >> 8) & 63;
		return ((r >> 20) & 15) ? text_words[idx] : text_words[idx] ^ 0x20;
	}
	default: /* half, and the non-zero pages of zero-heavy */
		return w < WPP / 2 ? r : (key >> 48) * 0x0001000100010001ULL;
	}
}

static uint64_t expect_word(int data, uint64_t pg, uint32_t ver, unsigned int w)
{
	uint64_t key = page_key(pg, ver);

	return page_is_zero(data, key) ? 0 : page_word(data, key, w);
}

static void gen_page(int data, uint64_t pg, uint32_t ver, uint64_t *buf)
{
	uint64_t key = page_key(pg, ver);

	if (page_is_zero(data, key)) {
		memset(buf, 0, PAGE);
		return;
	}
	for (unsigned int w = 0; w < WPP; w++)
		buf[w] = page_word(data, key, w);
}

/* ------------------------------------------------------------------------ */
/* Workloads.                                                                */

struct workload {
	int data, pat, rw, mult, threads; /* threads 0 = --threads */
	uint64_t limit;			  /* 0 = the run's default L */
	int passes;			  /* accesses x passes (0 = 1) */
};

struct opts {
	bool quick;
	const char *csv, *plot, *wl_list;
	int runs;	/* 0 = default */
	uint64_t limit; /* 0 = default */
	int threads;
	uint64_t accesses; /* 0 = default per pattern */
	int timeout_s;
	bool signal_mode;
	bool no_colocate;
	bool do_kernel, do_uswap;
	bool list;
	bool swap_file;	      /* --swap file[:DIR]: a swap file on a disk, not zram */
	const char *swap_dir; /* its directory */
};

static struct opts O = { .threads = 2, .timeout_s = 300, .do_kernel = true, .do_uswap = true,
			 .swap_dir = "/var/tmp" };

static int nr_wl;
static struct workload *wls;

static void wl_name(const struct workload *w, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s:%s:%s:%dx:%dt", data_names[w->data], pat_names[w->pat],
			 w->rw ? "rw" : "ro", w->mult, w->threads);

	if (w->passes > 1 && n > 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, ":%dp", w->passes);
	if (n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, ":L=%" PRIu64 "M", w->limit >> 20);
}

static void wl_add(struct workload w)
{
	for (int i = 0; i < nr_wl; i++)
		if (wls[i].data == w.data && wls[i].pat == w.pat && wls[i].rw == w.rw &&
		    wls[i].mult == w.mult && wls[i].threads == w.threads && wls[i].limit == w.limit &&
		    wls[i].passes == w.passes)
			return;
	wls = realloc(wls, (size_t)(nr_wl + 1) * sizeof(*wls));
	if (!wls) {
		perror("realloc");
		exit(1);
	}
	wls[nr_wl++] = w;
}

/* Dimensions of an item: bit masks / value lists. */
struct wlset {
	unsigned int data, pat, rw; /* bit masks */
	int mult[16], nmult;
	int thr[16], nthr; /* 0 = N */
	uint64_t limit;
	int passes; /* 0 = 1 */
};

static int parse_size(const char *s, uint64_t *out);

static int parse_alt(const char *tok, struct wlset *s, unsigned int *seen)
{
	int d;

	if (!strcmp(tok, "data=*")) {
		s->data = (1u << NR_DATA) - 1;
		*seen |= 1;
		return 0;
	}
	if (!strcmp(tok, "pattern=*")) {
		s->pat = (1u << NR_PAT) - 1;
		*seen |= 2;
		return 0;
	}
	if (!strcmp(tok, "ops=*")) {
		s->rw = 3;
		*seen |= 4;
		return 0;
	}
	if (!strcmp(tok, "size=*")) {
		s->mult[0] = 2;
		s->mult[1] = 4;
		s->nmult = 2;
		*seen |= 8;
		return 0;
	}
	if (!strcmp(tok, "threads=*")) {
		s->thr[0] = 1;
		s->thr[1] = 0;
		s->nthr = 2;
		*seen |= 16;
		return 0;
	}
	for (d = 0; d < NR_DATA; d++)
		if (!strcmp(tok, data_names[d]) || (d == D_ZERO && !strcmp(tok, "zero"))) {
			s->data |= 1u << d;
			*seen |= 1;
			return 0;
		}
	for (d = 0; d < NR_PAT; d++)
		if (!strcmp(tok, pat_names[d])) {
			s->pat |= 1u << d;
			*seen |= 2;
			return 0;
		}
	if (!strcmp(tok, "ro") || !strcmp(tok, "rw")) {
		s->rw |= tok[1] == 'o' ? 1 : 2;
		*seen |= 4;
		return 0;
	}
	if (!strncmp(tok, "L=", 2)) {
		if (parse_size(tok + 2, &s->limit) || s->limit < (1u << 20) || s->limit % PAGE)
			return -1;
		return 0;
	}
	if (!strcmp(tok, "Nt") && s->nthr < 16) {
		s->thr[s->nthr++] = 0;
		*seen |= 16;
		return 0;
	}
	if (isdigit((unsigned char)tok[0])) {
		char *end;
		long v = strtol(tok, &end, 10);

		if (!strcmp(end, "x") && v >= 1 && v <= 16 && s->nmult < 16) {
			s->mult[s->nmult++] = (int)v;
			*seen |= 8;
			return 0;
		}
		if (!strcmp(end, "t") && v >= 1 && v <= 64 && s->nthr < 16) {
			s->thr[s->nthr++] = (int)v;
			*seen |= 16;
			return 0;
		}
		if (!strcmp(end, "p") && v >= 1 && v <= 16) {
			s->passes = v > 1 ? (int)v : 0;
			return 0;
		}
	}
	return -1;
}

/*
 * The default matrix.  The goal workloads come first, at the issue's
 * L = 512M (they are the ones plotted); then one factor at a time around them
 * at L = 128M, so that the whole run stays under 10 minutes.  --limit
 * overrides every L.
 */
static const char *const full_matrix[] = {
	"half:seq+rand+zipf+hotcold:ro:2x:1t:L=512M",
	"half+random+text+zero-heavy:rand:ro:2x:1t:L=128M",
	"half:zipf:ro:2x:1t:L=128M",
	"half:rand+zipf+hotcold:rw:2x:1t:L=128M",
	"half:rand+zipf:ro:4x:1t:L=128M",
	"half:rand+zipf:ro:2x:Nt:L=128M",
	"half:rand:rw:4x:Nt:L=128M",
	NULL,
};
static const char *const quick_matrix[] = { "half:seq+rand+zipf:ro:2x:1t:L=64M", NULL };
/*
 * --swap file adds two read passes over S = 2L: the second pass evicts pages
 * that came back unchanged, whose slot still holds them (clean evictions: no
 * write on either system while swap stays under half full).
 */
static const char *const file_extra = "half:seq:ro:2x:1t:2p";
static const char *const quick_file_matrix[] = { "half:seq:ro:2x:1t:2p:L=64M",
						 "half:rand+zipf:ro:2x:1t:L=64M", NULL };

static int parse_item(const char *item);

static int parse_wl_list(const char *list)
{
	char *dup = strdup(list), *save = NULL;
	int rc = 0;

	for (char *it = strtok_r(dup, ",", &save); it && !rc; it = strtok_r(NULL, ",", &save)) {
		if (!strcmp(it, "full")) {
			for (int i = 0; full_matrix[i]; i++)
				parse_item(full_matrix[i]);
			if (O.swap_file) {
				char x[64];

				snprintf(x, sizeof(x), "%s:L=128M", file_extra);
				parse_item(x);
			}
		} else if (!strcmp(it, "quick")) {
			const char *const *m = O.swap_file ? quick_file_matrix : quick_matrix;

			for (int i = 0; m[i]; i++)
				parse_item(m[i]);
		} else if (!strcmp(it, "all")) {
			parse_item("data=*:pattern=*:ops=*:size=*:threads=*");
		} else {
			rc = parse_item(it);
		}
	}
	free(dup);
	return rc;
}

static int parse_item(const char *item)
{
	struct wlset s;
	unsigned int seen = 0;
	char *dup = strdup(item), *save = NULL;

	memset(&s, 0, sizeof(s));
	for (char *tok = strtok_r(dup, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
		char *save2 = NULL;

		for (char *alt = strtok_r(tok, "+", &save2); alt;
		     alt = strtok_r(NULL, "+", &save2)) {
			if (parse_alt(alt, &s, &seen)) {
				fprintf(stderr,
					"bench_kernel: unknown workload token '%s' in '%s'\n", alt,
					item);
				free(dup);
				return -1;
			}
		}
	}
	free(dup);
	if (!(seen & 1))
		s.data = 1u << D_HALF;
	if (!(seen & 2))
		s.pat = 1u << P_RAND;
	if (!(seen & 4))
		s.rw = 1;
	if (!(seen & 8))
		s.mult[s.nmult++] = 2;
	if (!(seen & 16))
		s.thr[s.nthr++] = 1;
	/* The cross product of the chosen values. */
	for (int d = 0; d < NR_DATA; d++) {
		for (int p = 0; p < NR_PAT; p++) {
			for (int r = 0; r < 2; r++) {
				struct workload w = {
					.data = d, .pat = p, .rw = r, .limit = s.limit,
					.passes = s.passes
				};

				if (!(s.data >> d & 1) || !(s.pat >> p & 1) || !(s.rw >> r & 1))
					continue;
				for (int k = 0; k < s.nmult * s.nthr; k++) {
					w.mult = s.mult[k / s.nthr];
					w.threads = s.thr[k % s.nthr];
					wl_add(w);
				}
			}
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Access sequences, built in the parent (shared read-only with the child).  */

struct rng {
	uint64_t s;
};

static uint64_t rnext(struct rng *r)
{
	r->s += 0x9e3779b97f4a7c15ULL;
	return mix64(r->s);
}

/* Uniform in [0, n). */
static uint64_t rbelow(struct rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rnext(r) * n) >> 64);
}

/* No libm here: natural log and exp for the Zipf weights. */
static double my_log(double x)
{
	union {
		double d;
		uint64_t u;
	} v = { .d = x };
	int e = (int)((v.u >> 52) & 0x7ff) - 1023;
	double m, s, s2, sum = 0, term;

	v.u = (v.u & ~(0x7ffULL << 52)) | (1023ULL << 52); /* m in [1, 2) */
	m = v.d;
	s = (m - 1) / (m + 1);
	s2 = s * s;
	term = s;
	for (int k = 1; k < 40; k += 2) {
		sum += term / k;
		term *= s2;
	}
	return e * 0.69314718055994530942 + 2 * sum;
}

static double my_exp(double y)
{
	int k = (int)(y / 0.69314718055994530942 + (y < 0 ? -0.5 : 0.5));
	double r = y - k * 0.69314718055994530942, sum = 1, term = 1;
	union {
		double d;
		uint64_t u;
	} v;

	for (int i = 1; i < 20; i++) {
		term *= r / i;
		sum += term;
	}
	if (k < -1022)
		return 0;
	v.u = (uint64_t)(k + 1023) << 52;
	return sum * v.d;
}

/* Fisher-Yates permutation of 0..n-1: scatters hot ranks over the region. */
static uint32_t *make_perm(uint64_t n, struct rng *r)
{
	uint32_t *p = malloc(n * sizeof(*p));

	if (!p)
		return NULL;
	for (uint64_t i = 0; i < n; i++)
		p[i] = (uint32_t)i;
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = rbelow(r, i + 1);
		uint32_t t = p[i];

		p[i] = p[j];
		p[j] = t;
	}
	return p;
}

/* Vose's alias table for Zipf(theta) over n ranks. */
struct alias {
	uint32_t *thresh; /* probability of keeping the column, scaled to 2^32 */
	uint32_t *alias;
};

static int make_zipf_alias(uint64_t n, double theta, struct alias *a)
{
	double *p = malloc(n * sizeof(*p)), sum = 0;
	uint32_t *small = malloc(n * sizeof(*small)), *large = malloc(n * sizeof(*large));
	uint64_t ns = 0, nl = 0;

	a->thresh = malloc(n * sizeof(uint32_t));
	a->alias = malloc(n * sizeof(uint32_t));
	if (!p || !small || !large || !a->thresh || !a->alias) {
		free(p);
		free(small);
		free(large);
		free(a->thresh);
		free(a->alias);
		a->thresh = a->alias = NULL;
		return -1;
	}
	for (uint64_t i = 0; i < n; i++) {
		p[i] = my_exp(-theta * my_log((double)(i + 1)));
		sum += p[i];
	}
	for (uint64_t i = 0; i < n; i++) {
		p[i] = p[i] * (double)n / sum;
		if (p[i] < 1.0)
			small[ns++] = (uint32_t)i;
		else
			large[nl++] = (uint32_t)i;
	}
	while (ns && nl) {
		uint32_t s = small[--ns], l = large[nl - 1];

		a->thresh[s] = p[s] >= 1.0 ? UINT32_MAX : (uint32_t)(p[s] * 4294967296.0);
		a->alias[s] = l;
		p[l] -= 1.0 - p[s];
		if (p[l] < 1.0) {
			nl--;
			small[ns++] = l;
		}
	}
	while (nl) {
		uint32_t l = large[--nl];
		a->thresh[l] = UINT32_MAX;
		a->alias[l] = l;
	}
	while (ns) {
		uint32_t s = small[--ns];
		a->thresh[s] = UINT32_MAX;
		a->alias[s] = s;
	}
	free(p);
	free(small);
	free(large);
	return 0;
}

static uint32_t alias_draw(const struct alias *a, uint64_t n, struct rng *r)
{
	uint64_t x = rnext(r);
	uint64_t col = (uint64_t)(((unsigned __int128)(x >> 32) * n) >> 32);

	return (uint32_t)x < a->thresh[col] ? (uint32_t)col : a->alias[col];
}

/* Everything the child needs; built by the parent for each workload. */
struct job {
	struct workload wl;
	int threads;
	uint64_t limit, pages, accesses, per_thread;
	uint32_t *ops; /* threads x per_thread entries: page | OPW */
	char name[64];
};

static uint64_t default_accesses(const struct workload *w, uint64_t pages, uint64_t limit)
{
	uint64_t passes = w->passes > 1 ? (uint64_t)w->passes : 1;

	if (O.accesses)
		return O.accesses;
	if (w->pat == P_SEQ || w->pat == P_REV || w->pat == P_STRIDE)
		return pages * passes; /* one pass over the working set (each) */
	return limit / PAGE * passes; /* as many accesses as pages fit under the limit */
}

static int build_job(struct job *j, const struct workload *w, uint64_t limit)
{
	struct rng r = { .s = 0x1234567ULL +
			      (uint64_t)(w->data * 1000 + w->pat * 100 + w->rw * 10 + w->mult) };
	uint32_t *perm = NULL;
	struct alias al = { 0 };
	uint64_t n;

	memset(j, 0, sizeof(*j));
	j->wl = *w;
	j->threads = w->threads ? w->threads : O.threads;
	j->wl.threads = j->threads;
	j->wl.limit = limit;
	wl_name(&j->wl, j->name, sizeof(j->name));
	j->limit = limit;
	n = j->pages = (uint64_t)w->mult * limit / PAGE;
	j->accesses = default_accesses(w, n, limit);
	j->per_thread = (j->accesses + (uint64_t)j->threads - 1) / (uint64_t)j->threads;
	j->accesses = j->per_thread * (uint64_t)j->threads;
	if (n >= OPW || n < 16)
		return -1;
	j->ops = malloc(j->accesses * sizeof(*j->ops));
	if (!j->ops)
		return -1;
	if (w->pat == P_ZIPF || w->pat == P_HOTCOLD) {
		perm = make_perm(n, &r);
		if (!perm || (w->pat == P_ZIPF && make_zipf_alias(n, 0.99, &al))) {
			free(perm);
			free(j->ops);
			j->ops = NULL;
			return -1;
		}
	}
	for (int t = 0; t < j->threads; t++) {
		uint32_t *ops = j->ops + (uint64_t)t * j->per_thread;
		uint64_t lo = n * (uint64_t)t / (uint64_t)j->threads;
		uint64_t hi = n * (uint64_t)(t + 1) / (uint64_t)j->threads;
		uint64_t cursor = lo, hot = n / 5, cold = lo, back = hi, residue = 0, step = 0;

		for (uint64_t i = 0; i < j->per_thread; i++) {
			uint64_t pg;

			switch (w->pat) {
			case P_SEQ: /* each thread scans its own slice */
				pg = cursor++;
				if (cursor == hi)
					cursor = lo;
				break;
			case P_REV: /* each thread scans its own slice backwards */
				pg = --back;
				if (back == lo)
					back = hi;
				break;
			case P_STRIDE: /* every STRIDE-th page of the slice, one residue after another */
				pg = lo + residue + step;
				step += STRIDE;
				if (lo + residue + step >= hi) {
					step = 0;
					residue = (residue + 1) % STRIDE;
				}
				break;
			case P_RAND:
				pg = rbelow(&r, n);
				break;
			case P_ZIPF:
				pg = perm[alias_draw(&al, n, &r)];
				break;
			default: /* hotcold: 4 in 5 accesses in the hot 20%, 1 in 5 scans */
				if (i % 5 != 4) {
					pg = perm[rbelow(&r, hot)];
				} else {
					pg = cold++;
					if (cold == n)
						cold = 0;
				}
				break;
			}
			ops[i] = (uint32_t)pg | (w->rw && (rnext(&r) & 1) ? OPW : 0);
		}
	}
	free(perm);
	free(al.thresh);
	free(al.alias);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* What a child reports.                                                     */

#define RES_MAGIC 0x75737762u
enum { SYS_KERNEL, SYS_USWAP, NR_SYS };
static const char *const sys_names[NR_SYS] = { "kernel", "uswap" };

struct result {
	uint32_t magic, status; /* 0 ok, 1 data mismatch, 2 error */
	char msg[256];
	uint64_t pages, accesses, threads;
	double fill_s, access_s, verify_s;
	double cpu_user_s, cpu_sys_s, cpu_total_s; /* access phase; whole child */
	uint64_t majflt, ru_majflt, ru_minflt, pswpin, pswpout, nvcsw, nivcsw;
	uint64_t mem_resident, mem_store, mem_meta, mem_pte, mem_total, mem_peak, rss_anon;
	uint64_t cg_usage, cg_peak, resident_mincore;
	uint64_t orig_data, compr_data;
	uint64_t swap_ra, swap_ra_hit, allocstall;
	uint64_t bad_pages, first_bad, check_fail;
	uint64_t lat_sum_ns, lat_max_ns, lat_count;
	/* Evictions and writes over the access phase (reported with --swap file). */
	uint64_t swap_ra_cluster;	 /* uswap: pages read ahead into the swap cache by slot */
	uint64_t swpout_clean, swpout_zero; /* evictions without a write (uswap counters) */
	uint64_t pgsteal_anon;		 /* kernel: anon pages reclaimed (global vmstat delta) */
	uint64_t evicted;		 /* pages evicted: written + clean + zero */
	uint64_t dev_written;		 /* bytes the block device under DIR wrote (all writers) */
	uint64_t swap_written;		 /* bytes the swap device wrote (see swap_written_est) */
	uint32_t swap_written_est;	 /* 1: pswpout x 4096 (no counter for it) */
	uint32_t dev_known;		 /* 1: dev_written was measured */
	uint64_t hist[NBUCKETS];
};

/* ------------------------------------------------------------------------ */
/* Set-up and teardown of the kernel side: async-signal-safe where it runs   */
/* from a signal handler (open/write/close/rmdir/swapoff/kill/waitpid).      */

static char cg_path[128]; /* our cgroup, when it exists */
static volatile sig_atomic_t cg_made;
static int zram_id = -1;
static volatile sig_atomic_t zram_hot_added, zram_configured, swap_on;
/* Precomputed so that teardown needs no formatting. */
static char zram_dev[64], zram_sys[64], zram_reset[96], zram_comp[96], zram_idstr[16];
static char saved_comp[64]; /* comp_algorithm to restore on a pre-existing device */
static volatile pid_t child_pid;
static pid_t parent_pid; /* the only process that may tear down */
static volatile sig_atomic_t cleaning;
static uint64_t swap_bytes; /* size of the kernel's zram device and of uswap's */
/* --swap file: the kernel's swap file, uswap's, and the block device under them. */
static char kswap_path[256], uswap_path[256];
static volatile sig_atomic_t kswap_made;
static const char *swap_dev_path; /* what swapoff takes: zram_dev or kswap_path */
static const char *kswap_how;	  /* "fallocate" or "written with zeroes" */
static char dev_stat_path[64], dev_name[72]; /* /sys/dev/block/M:m/stat, "vda" */

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	size_t len = strlen(s);

	if (fd < 0)
		return -errno;
	n = write(fd, s, len);
	if (n < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	close(fd);
	return (size_t)n == len ? 0 : -EIO;
}

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, tot = 0;

	if (fd < 0)
		return -errno;
	while ((size_t)tot < len - 1 && (n = read(fd, buf + tot, len - 1 - (size_t)tot)) > 0)
		tot += n;
	close(fd);
	buf[tot] = 0;
	return (int)tot;
}

static uint64_t read_u64(const char *path)
{
	char buf[64];

	if (read_file(path, buf, sizeof(buf)) <= 0)
		return 0;
	return strtoull(buf, NULL, 10);
}

static void say(const char *s)
{
	(void)!write(STDERR_FILENO, s, strlen(s));
}

static void cgroup_remove(void)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	if (!cg_made)
		return;
	/* Empty once the child is reaped; rmdir may still race its exit. */
	for (int i = 0; i < 500; i++) {
		if (!rmdir(cg_path) || errno == ENOENT) {
			cg_made = 0;
			return;
		}
		nanosleep(&ts, NULL);
	}
	say("bench_kernel: could not remove ");
	say(cg_path);
	say("\n");
}

/* Kill the child, remove the cgroup, swapoff, reset and remove the zram device. */
static void sys_teardown(void)
{
	pid_t pid = child_pid;

	/* A child that crashed must not swapoff or remove what the parent set up. */
	if (cleaning || getpid() != parent_pid)
		return;
	cleaning = 1;
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		child_pid = 0;
	}
	cgroup_remove();
	if (swap_on) {
		if (swapoff(swap_dev_path)) {
			say("bench_kernel: swapoff ");
			say(swap_dev_path);
			say(" failed\n");
		} else {
			swap_on = 0;
		}
	}
	/* An active swap file cannot be unlinked (ETXTBSY): only after swapoff. */
	if (kswap_made && !swap_on) {
		if (unlink(kswap_path) && errno != ENOENT) {
			say("bench_kernel: could not remove ");
			say(kswap_path);
			say("\n");
		} else {
			kswap_made = 0;
		}
	}
	/* uswap's file: its child is gone (killed above at the latest). */
	if (uswap_path[0])
		(void)unlink(uswap_path);
	if (zram_configured && !swap_on) {
		if (write_file(zram_reset, "1"))
			say("bench_kernel: zram reset failed\n");
		else
			zram_configured = 0;
	}
	if (!swap_on && !zram_configured) {
		if (zram_hot_added) {
			if (write_file(ZRAM_CTL "/hot_remove", zram_idstr))
				say("bench_kernel: zram hot_remove failed\n");
			else
				zram_hot_added = 0;
		} else if (saved_comp[0]) {
			(void)write_file(zram_comp, saved_comp);
			saved_comp[0] = 0;
		}
	}
	cleaning = 0;
}

static void on_fatal_signal(int sig)
{
	say("\nbench_kernel: interrupted, tearing down\n");
	sys_teardown();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Swap active anywhere?  Return: number of entries in /proc/swaps. */
static int swaps_in_use(void)
{
	char buf[4096];
	int n = 0;

	if (read_file("/proc/swaps", buf, sizeof(buf)) < 0)
		return -1;
	for (char *p = strchr(buf, '\n'); p && p[1]; p = strchr(p + 1, '\n'))
		n++;
	return n;
}

static void refuse(const char *why)
{
	fprintf(stderr, "bench_kernel: refusing to run: %s\n", why);
	exit(2);
}

#define TMPFS_MAGIC_ 0x01021994
#define RAMFS_MAGIC_ 0x858458f6

/*
 * --swap file: DIR must be a directory on a disk filesystem.  On tmpfs (or
 * ramfs) the kernel cannot swap to a file (no bmap / swap_activate) and
 * O_DIRECT fails, and swapping to RAM would measure nothing about disks.
 * Also finds the block device under DIR, whose written sectors are counted.
 */
static void preflight_file(void)
{
	char why[512], p[48];
	struct statfs sf;
	struct stat st;
	int n;

	if (stat(O.swap_dir, &st) || !S_ISDIR(st.st_mode)) {
		snprintf(why, sizeof(why), "--swap file:%s: %s", O.swap_dir,
			 stat(O.swap_dir, &st) ? strerror(errno) : "not a directory");
		refuse(why);
	}
	if (O.swap_dir[0] != '/' || strchr(O.swap_dir, ':') || strlen(O.swap_dir) > 80) {
		snprintf(why, sizeof(why),
			 "--swap file:%s: give an absolute path without ':' (uswap's spec separator), "
			 "at most 80 characters",
			 O.swap_dir);
		refuse(why);
	}
	if (statfs(O.swap_dir, &sf) == 0 &&
	    ((unsigned long)sf.f_type == TMPFS_MAGIC_ || (unsigned long)sf.f_type == RAMFS_MAGIC_)) {
		snprintf(why, sizeof(why),
			 "%s is on %s: the kernel cannot use a swap file there and O_DIRECT fails; "
			 "give a directory on a disk filesystem (ext4, xfs), e.g. --swap file:/var/tmp",
			 O.swap_dir, (unsigned long)sf.f_type == TMPFS_MAGIC_ ? "tmpfs" : "ramfs");
		refuse(why);
	}
	snprintf(kswap_path, sizeof(kswap_path), "%s/uswap-bench-%d-kernel.swap", O.swap_dir,
		 (int)getpid());
	snprintf(uswap_path, sizeof(uswap_path), "%s/uswap-bench-%d.swap", O.swap_dir,
		 (int)getpid());
	/* The device: /sys/dev/block/MAJ:MIN (a partition has its own stat). */
	snprintf(p, sizeof(p), "/sys/dev/block/%u:%u", major(st.st_dev), minor(st.st_dev));
	snprintf(dev_stat_path, sizeof(dev_stat_path), "%s/stat", p);
	if (stat(dev_stat_path, &st)) {
		dev_stat_path[0] = 0; /* btrfs, NFS, overlay...: no device to read */
		snprintf(dev_name, sizeof(dev_name), "none (%s)", p);
	} else {
		char link[256];

		n = (int)readlink(p, link, sizeof(link) - 1);
		link[n > 0 ? n : 0] = 0;
		snprintf(dev_name, sizeof(dev_name), "%.63s",
			 strrchr(link, '/') ? strrchr(link, '/') + 1 : p);
	}
}

/* Bytes written by the block device under DIR so far (sectors of 512), or 0. */
static uint64_t dev_written_bytes(void)
{
	char buf[512];
	unsigned long long f[7];

	if (!dev_stat_path[0] || read_file(dev_stat_path, buf, sizeof(buf)) <= 0)
		return 0;
	if (sscanf(buf, "%llu %llu %llu %llu %llu %llu %llu", &f[0], &f[1], &f[2], &f[3], &f[4],
		   &f[5], &f[6]) != 7)
		return 0;
	return (uint64_t)f[6] * 512;
}

static void preflight(void)
{
	struct stat st;

	if (geteuid() != 0)
		refuse("not root (it sets up zram swap and a memory cgroup; run it with sudo)");
	if (O.swap_file)
		preflight_file();
	else if (stat(ZRAM_CTL "/hot_add", &st) && stat("/sys/block/zram0", &st))
		refuse("zram is missing (no " ZRAM_CTL "/hot_add and no /sys/block/zram0; "
		       "build the kernel with CONFIG_ZRAM or load the zram module)");
	if (stat(CG_ROOT "/memory.limit_in_bytes", &st) || stat(CG_ROOT "/cgroup.procs", &st))
		refuse("the cgroup v1 memory controller is not mounted at " CG_ROOT);
	if (swaps_in_use() != 0)
		refuse("swap is already in use (see swapon --show / /proc/swaps); "
		       "swapoff it first, the kernel figures must come from our zram alone");
}

/* mkswap: a version-1 swap header in the first page of the device. */
static int write_swap_header(const char *dev, uint64_t bytes)
{
	unsigned char page[4096];
	uint32_t v;
	int fd = open(dev, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	memset(page, 0, sizeof(page));
	v = 1; /* version */
	memcpy(page + 1024, &v, 4);
	v = (uint32_t)(bytes / PAGE - 1); /* last_page */
	memcpy(page + 1028, &v, 4);
	/* nr_badpages = 0; uuid: any bytes */
	for (int i = 0; i < 16; i++)
		page[1036 + i] = (unsigned char)mix64((uint64_t)getpid() * 16 + (uint64_t)i);
	memcpy(page + 1052, "uswap-bench", 11); /* volume label */
	memcpy(page + sizeof(page) - 10, "SWAPSPACE2", 10);
	if (pwrite(fd, page, sizeof(page), 0) != (ssize_t)sizeof(page) || fsync(fd)) {
		int e = errno ? errno : EIO;
		close(fd);
		return -e;
	}
	close(fd);
	return 0;
}

/*
 * Bytes the kernel holds in vmalloc for swap metadata: the zram slot table
 * (disksize_store), swap_map (swapon) and the swap cgroup map
 * (swap_cgroup_swapon), from /proc/vmallocinfo.  0 if unreadable.
 */
static uint64_t kernel_swap_vmalloc(void)
{
	static const char *const who[] = { "disksize_store", "swapon", "swap_cgroup" };
	FILE *f = fopen("/proc/vmallocinfo", "re");
	char line[512];
	uint64_t total = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long size;
		char caller[256];
		if (sscanf(line, "%*s %llu %255s", &size, caller) != 2)
			continue;
		for (size_t i = 0; i < sizeof(who) / sizeof(who[0]); i++)
			if (strstr(caller, who[i])) {
				total += size;
				break;
			}
	}
	fclose(f);
	return total;
}

/* Swap metadata the kernel allocated for the benchmark's device (vmalloc). */
static uint64_t kernel_swap_meta;

/* Set up kernel swap on zram: a hot-added device, or zram0 if it is free. */
static int zram_setup(uint64_t disksize)
{
	uint64_t vmalloc0 = kernel_swap_vmalloc();
	char buf[256], num[32];
	struct stat st;
	int rc;

	if (read_file(ZRAM_CTL "/hot_add", buf, sizeof(buf)) > 0) {
		zram_id = atoi(buf);
		zram_hot_added = 1;
	} else {
		if (read_u64("/sys/block/zram0/disksize") != 0 ||
		    read_u64("/sys/block/zram0/initstate") != 0) {
			fprintf(stderr,
				"bench_kernel: cannot hot_add a zram device and zram0 is in use\n");
			return -EBUSY;
		}
		zram_id = 0;
	}
	snprintf(zram_idstr, sizeof(zram_idstr), "%d", zram_id);
	snprintf(zram_dev, sizeof(zram_dev), "/dev/zram%d", zram_id);
	snprintf(zram_sys, sizeof(zram_sys), "/sys/block/zram%d", zram_id);
	snprintf(zram_reset, sizeof(zram_reset), "%s/reset", zram_sys);
	snprintf(zram_comp, sizeof(zram_comp), "%s/comp_algorithm", zram_sys);
	if (!zram_hot_added && read_file(zram_comp, buf, sizeof(buf)) > 0) {
		char *b = strchr(buf, '['), *e = b ? strchr(b, ']') : NULL;
		if (b && e && e - b - 1 < (long)sizeof(saved_comp)) {
			memcpy(saved_comp, b + 1, (size_t)(e - b - 1));
			saved_comp[e - b - 1] = 0;
		}
	}
	zram_configured = 1;
	rc = write_file(zram_comp, "lz4");
	if (rc) {
		fprintf(stderr, "bench_kernel: %s: lz4: %s\n", zram_comp, strerror(-rc));
		return rc;
	}
	snprintf(buf, sizeof(buf), "%s/disksize", zram_sys);
	snprintf(num, sizeof(num), "%" PRIu64, disksize);
	rc = write_file(buf, num);
	if (rc) {
		fprintf(stderr, "bench_kernel: %s = %s: %s\n", buf, num, strerror(-rc));
		return rc;
	}
	/* devtmpfs creates the node; wait for it a little. */
	for (int i = 0; i < 100 && stat(zram_dev, &st); i++)
		usleep(10000);
	rc = write_swap_header(zram_dev, disksize);
	if (rc) {
		fprintf(stderr, "bench_kernel: mkswap %s: %s\n", zram_dev, strerror(-rc));
		return rc;
	}
	swap_dev_path = zram_dev;
	if (swapon(zram_dev, SWAP_FLAG_PREFER |
				     ((SWAP_PRIO << SWAP_FLAG_PRIO_SHIFT) & SWAP_FLAG_PRIO_MASK))) {
		fprintf(stderr, "bench_kernel: swapon %s: %s\n", zram_dev, strerror(errno));
		return -errno;
	}
	swap_on = 1;
	uint64_t vmalloc1 = kernel_swap_vmalloc();
	kernel_swap_meta = vmalloc1 > vmalloc0 ? vmalloc1 - vmalloc0 : 0;
	return 0;
}

/* Give @fd @bytes of zeroes, written (dd if=/dev/zero): every block allocated and written. */
static int fill_zeroes(int fd, uint64_t bytes)
{
	static const char zero[1 << 20];

	if (ftruncate(fd, 0))
		return -errno;
	for (uint64_t off = 0; off < bytes;) {
		size_t len = bytes - off < sizeof(zero) ? (size_t)(bytes - off) : sizeof(zero);
		ssize_t k = pwrite(fd, zero, len, (off_t)off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		off += (uint64_t)k;
	}
	return fsync(fd) ? -errno : 0;
}

/*
 * Set up kernel swap on a file in --swap file:DIR: created 0600, its blocks
 * allocated with fallocate (or written with zeroes where fallocate is not
 * supported, or where the filesystem refuses a fallocate'd swap file: swapon
 * then fails with EINVAL and the file is written and tried again), a swap
 * header, swapon with the priority the zram device gets.  sys_teardown()
 * undoes it: swapoff, unlink.
 */
static int swapfile_setup(uint64_t bytes)
{
	uint64_t vmalloc0 = kernel_swap_vmalloc();
	int fd, rc, flags = SWAP_FLAG_PREFER |
			    ((SWAP_PRIO << SWAP_FLAG_PRIO_SHIFT) & SWAP_FLAG_PRIO_MASK);

	fd = open(kswap_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		fprintf(stderr, "bench_kernel: creating %s: %s\n", kswap_path, strerror(-rc));
		return rc;
	}
	kswap_made = 1;
	rc = fchmod(fd, 0600) ? -errno : 0; /* whatever the umask */
	if (!rc) {
		kswap_how = "fallocate";
		if (fallocate(fd, 0, 0, (off_t)bytes)) {
			rc = -errno;
			if (rc == -EOPNOTSUPP) {
				kswap_how = "written with zeroes (no fallocate here)";
				rc = fill_zeroes(fd, bytes);
			}
		}
	}
	close(fd);
	if (rc) {
		fprintf(stderr, "bench_kernel: allocating %" PRIu64 " MiB for %s: %s\n",
			bytes >> 20, kswap_path, strerror(-rc));
		return rc;
	}
	for (int attempt = 0;; attempt++) {
		rc = write_swap_header(kswap_path, bytes);
		if (rc) {
			fprintf(stderr, "bench_kernel: mkswap %s: %s\n", kswap_path, strerror(-rc));
			return rc;
		}
		swap_dev_path = kswap_path;
		if (!swapon(kswap_path, flags))
			break;
		rc = -errno;
		if (rc != -EINVAL || attempt || strcmp(kswap_how, "fallocate")) {
			fprintf(stderr, "bench_kernel: swapon %s: %s\n", kswap_path, strerror(-rc));
			return rc;
		}
		/* Holes or unwritten extents refused (e.g. some filesystems): dd it. */
		kswap_how = "written with zeroes (swapon refused the fallocate'd file)";
		fd = open(kswap_path, O_WRONLY | O_CLOEXEC);
		rc = fd < 0 ? -errno : fill_zeroes(fd, bytes);
		if (fd >= 0)
			close(fd);
		if (rc) {
			fprintf(stderr, "bench_kernel: writing %s: %s\n", kswap_path, strerror(-rc));
			return rc;
		}
	}
	swap_on = 1;
	uint64_t vmalloc1 = kernel_swap_vmalloc();
	kernel_swap_meta = vmalloc1 > vmalloc0 ? vmalloc1 - vmalloc0 : 0;
	return 0;
}

static int cgroup_create(uint64_t limit)
{
	char p[192], num[32];
	int rc;

	snprintf(cg_path, sizeof(cg_path), CG_ROOT "/uswap-bench-%d", (int)getpid());
	if (mkdir(cg_path, 0755) && errno != EEXIST) {
		fprintf(stderr, "bench_kernel: mkdir %s: %s\n", cg_path, strerror(errno));
		return -errno;
	}
	cg_made = 1;
	snprintf(p, sizeof(p), "%s/memory.limit_in_bytes", cg_path);
	snprintf(num, sizeof(num), "%" PRIu64, limit);
	rc = write_file(p, num);
	if (rc)
		fprintf(stderr, "bench_kernel: %s = %s: %s\n", p, num, strerror(-rc));
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The child: the workload, the same code for both systems.                  */

struct child {
	const struct job *j;
	int sys;
	unsigned char *mem;
	_Atomic uint32_t *ver;
	pthread_barrier_t bar;
	struct uswap_ctx *ctx;
};

struct worker {
	struct child *c;
	int t;
	pthread_t th;
	uint64_t hist[NBUCKETS];
	uint64_t sum_ns, max_ns, count, check_fail, first_fail;
	uint64_t buf[WPP];
};

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double now_s(void)
{
	return (double)now_ns() / 1e9;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct child *c = w->c;
	const struct job *j = c->j;
	const uint32_t *ops = j->ops + (uint64_t)w->t * j->per_thread;
	int data = j->wl.data;

	pthread_barrier_wait(&c->bar);
	for (uint64_t i = 0; i < j->per_thread; i++) {
		uint32_t e = ops[i], pg = e & ~OPW, v;
		unsigned char *p = c->mem + (uint64_t)pg * PAGE;
		uint64_t t0, t1, d;

		if (e & OPW) {
			/* Take the page (seqlock writer), write a new version of it. */
			for (int spins = 0;; spins++) {
				v = atomic_load_explicit(&c->ver[pg], memory_order_relaxed);
				if (!(v & VLOCK) &&
				    atomic_compare_exchange_weak_explicit(
					    &c->ver[pg], &v, v | VLOCK, memory_order_acquire,
					    memory_order_relaxed))
					break;
				if (spins > 100)
					sched_yield();
			}
			v = (v + 1) & ~VLOCK;
			gen_page(data, pg, v, w->buf);
			t0 = now_ns();
			memcpy(p, w->buf, PAGE);
			t1 = now_ns();
			atomic_store_explicit(&c->ver[pg], v, memory_order_release);
		} else {
			const volatile uint64_t *q = (const volatile uint64_t *)p;
			uint64_t x0, x1, s = 0;
			uint32_t v2;

			v = atomic_load_explicit(&c->ver[pg], memory_order_acquire);
			t0 = now_ns();
			x0 = q[0];
			for (unsigned int k = 64; k < WPP; k += 64)
				s += q[k];
			x1 = q[WPP - 1];
			t1 = now_ns();
			atomic_thread_fence(memory_order_acquire);
			v2 = atomic_load_explicit(&c->ver[pg], memory_order_relaxed);
			(void)s;
			if (v == v2 && !(v & VLOCK) &&
			    (x0 != expect_word(data, pg, v, 0) ||
			     x1 != expect_word(data, pg, v, WPP - 1))) {
				if (!w->check_fail++)
					w->first_fail = pg;
			}
		}
		d = t1 - t0;
		w->hist[hbucket(d)]++;
		w->sum_ns += d;
		if (d > w->max_ns)
			w->max_ns = d;
	}
	w->count = j->per_thread;
	return NULL;
}

static uint64_t status_kb(const char *field)
{
	char buf[8192], *p;

	if (read_file("/proc/self/status", buf, sizeof(buf)) <= 0)
		return 0;
	p = strstr(buf, field);
	if (!p)
		return 0;
	return strtoull(p + strlen(field) + 1, NULL, 10);
}

static uint64_t vmstat_get(const char *name)
{
	static char buf[65536];
	char *p;
	size_t len = strlen(name);

	if (read_file("/proc/vmstat", buf, sizeof(buf)) <= 0)
		return 0;
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, name, len) && p[len] == ' ')
			return strtoull(p + len + 1, NULL, 10);
	return 0;
}

/* zram mm_stat: orig_data_size compr_data_size mem_used_total mem_limit mem_used_max ... */
static void mm_stat(uint64_t v[9])
{
	char p[96], buf[512];

	memset(v, 0, 9 * sizeof(*v));
	snprintf(p, sizeof(p), "%s/mm_stat", zram_sys);
	if (read_file(p, buf, sizeof(buf)) > 0)
		sscanf(buf,
		       "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
		       " %" SCNu64 " %" SCNu64 " %" SCNu64,
		       &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]);
}

static uint64_t ustat(struct uswap_ctx *ctx, const char *name)
{
	struct uswap_stats st;
	int i = uswap_stat_index(name);

	memset(&st, 0, sizeof(st));
	if (i < 0 || uswap_stats_get(ctx, NULL, &st) || (unsigned int)i >= st.nr)
		return 0;
	return st.value[i];
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void uswap_log(void *arg, int level, const char *msg)
{
	(void)arg;
	if (level <= USWAP_LOG_WARN)
		fprintf(stderr, "uswap[%d]: %s\n", (int)getpid(), msg);
}

static struct result res; /* static: keeps the 5 KiB histogram off the stack */

static void child_fail(int wfd, const char *what, int err)
{
	res.magic = RES_MAGIC;
	res.status = 2;
	snprintf(res.msg, sizeof(res.msg), "%s: %s", what, strerror(err));
	(void)!write(wfd, &res, sizeof(res));
	_exit(2);
}

static void child_main(const struct job *j, int sys, int wfd)
{
	struct child c = { .j = j, .sys = sys };
	struct worker *ws;
	struct rusage ru0, ru1;
	uint64_t n = j->pages, maj0 = 0, pswpin0 = 0, pswpout0 = 0, bad = 0, t;
	uint64_t ra0 = 0, rahit0 = 0, steal0 = 0, clean0 = 0, zero0 = 0, racl0 = 0, dev0, wr0 = 0;
	int written_idx = -1;
	uint64_t *buf;
	unsigned char *vec;
	const char *corrupt;
	double t0;
	int rc;

	memset(&res, 0, sizeof(res));
	res.pages = n;
	res.accesses = j->accesses;
	res.threads = (uint64_t)j->threads;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
	/* A crash of the child is the child's: core dump and status, no teardown. */
	signal(SIGSEGV, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
	signal(SIGABRT, SIG_DFL);

	if (sys == SYS_KERNEL) {
		char p[192], num[32];

		snprintf(p, sizeof(p), "%s/cgroup.procs", cg_path);
		snprintf(num, sizeof(num), "%d", (int)getpid());
		rc = write_file(p, num);
		if (rc)
			child_fail(wfd, "joining the cgroup", -rc);
	}
	/* Ordinary memory (inside the cgroup for the kernel run). */
	c.ver = mmap(NULL, n * sizeof(*c.ver), PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	vec = malloc(n);
	buf = aligned_alloc(64, PAGE);
	ws = calloc((size_t)j->threads, sizeof(*ws));
	if (c.ver == MAP_FAILED || !vec || !buf || !ws)
		child_fail(wfd, "allocating", ENOMEM);
	memset(vec, 0, n);

	if (sys == SYS_KERNEL) {
		c.mem = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			     -1, 0);
		if (c.mem == MAP_FAILED)
			child_fail(wfd, "mmap", errno);
		madvise(c.mem, n * PAGE, MADV_NOHUGEPAGE); /* 4 KiB pages on both sides */
	} else {
		struct uswap_opts uo = {
			.size = sizeof(uo),
			.mode = O.signal_mode ? USWAP_MODE_SIGNAL : USWAP_MODE_THREAD,
			.limit_bytes = j->limit,
			.flags = O.no_colocate ? USWAP_F_NO_COLOCATE : 0,
			.log = uswap_log,
		};
		char spec[320];

		rc = uswap_ctx_create(&uo, &c.ctx);
		if (rc)
			child_fail(wfd, "uswap_ctx_create", -rc);
		/* The same size as the kernel's device: uswap keeps clean slots below half full. */
		if (O.swap_file)
			snprintf(spec, sizeof(spec), "file:%s:size=%" PRIu64, uswap_path, swap_bytes);
		else
			snprintf(spec, sizeof(spec), "zram:lz4:size=%" PRIu64 "M", swap_bytes >> 20);
		rc = uswap_swapon(c.ctx, spec, 0, NULL);
		if (rc)
			child_fail(wfd, "uswap_swapon", -rc);
		rc = uswap_mmap(c.ctx, NULL, n * PAGE, (void **)&c.mem);
		if (rc)
			child_fail(wfd, "uswap_mmap", -rc);
	}

	/* Fill: every page at version 0. */
	t0 = now_s();
	for (uint64_t pg = 0; pg < n; pg++) {
		gen_page(j->wl.data, pg, 0, buf);
		memcpy(c.mem + pg * PAGE, buf, PAGE);
	}
	res.fill_s = now_s() - t0;

	/* Access phase. */
	if (pthread_barrier_init(&c.bar, NULL, (unsigned int)j->threads + 1))
		child_fail(wfd, "pthread_barrier_init", EAGAIN);
	for (int i = 0; i < j->threads; i++) {
		ws[i].c = &c;
		ws[i].t = i;
		rc = pthread_create(&ws[i].th, NULL, worker_main, &ws[i]);
		if (rc)
			child_fail(wfd, "pthread_create", rc);
	}
	if (sys == SYS_KERNEL) {
		pswpin0 = vmstat_get("pswpin");
		pswpout0 = vmstat_get("pswpout");
		steal0 = vmstat_get("pgsteal_anon");
		if (O.swap_file) {
			ra0 = vmstat_get("swap_ra");
			rahit0 = vmstat_get("swap_ra_hit");
		}
	} else {
		maj0 = ustat(c.ctx, "pgmajfault");
		pswpin0 = ustat(c.ctx, "pswpin");
		pswpout0 = ustat(c.ctx, "pswpout");
		clean0 = ustat(c.ctx, "swpout_clean");
		zero0 = ustat(c.ctx, "swpout_zero");
		racl0 = ustat(c.ctx, "swap_ra_cluster");
		/* The backend's own bytes_written, if a later library exports it. */
		written_idx = uswap_stat_index("dev_bytes_written");
		if (written_idx >= 0)
			wr0 = ustat(c.ctx, "dev_bytes_written");
	}
	dev0 = dev_written_bytes();
	getrusage(RUSAGE_SELF, &ru0);
	t0 = now_s();
	pthread_barrier_wait(&c.bar);
	for (int i = 0; i < j->threads; i++)
		pthread_join(ws[i].th, NULL);
	res.access_s = now_s() - t0;
	{
		uint64_t d = dev_written_bytes();

		res.dev_known = d != 0;
		res.dev_written = d > dev0 ? d - dev0 : 0;
	}
	getrusage(RUSAGE_SELF, &ru1);
	res.cpu_user_s = tv_s(ru1.ru_utime) - tv_s(ru0.ru_utime);
	res.cpu_sys_s = tv_s(ru1.ru_stime) - tv_s(ru0.ru_stime);
	res.ru_majflt = (uint64_t)(ru1.ru_majflt - ru0.ru_majflt);
	res.ru_minflt = (uint64_t)(ru1.ru_minflt - ru0.ru_minflt);
	res.nvcsw = (uint64_t)(ru1.ru_nvcsw - ru0.ru_nvcsw);
	res.nivcsw = (uint64_t)(ru1.ru_nivcsw - ru0.ru_nivcsw);

	/* Memory, at the end of the access phase. */
	res.mem_pte = status_kb("VmPTE:") * 1024;
	res.rss_anon = status_kb("RssAnon:") * 1024;
	if (!mincore(c.mem, n * PAGE, vec)) {
		t = 0;
		for (uint64_t i = 0; i < n; i++)
			t += vec[i] & 1;
		res.resident_mincore = t * PAGE;
	}
	if (sys == SYS_KERNEL) {
		char p[192];
		uint64_t mm[9];

		res.majflt = res.ru_majflt;
		res.pswpin = vmstat_get("pswpin") - pswpin0;
		res.pswpout = vmstat_get("pswpout") - pswpout0;
		snprintf(p, sizeof(p), "%s/memory.usage_in_bytes", cg_path);
		res.cg_usage = read_u64(p);
		snprintf(p, sizeof(p), "%s/memory.max_usage_in_bytes", cg_path);
		res.cg_peak = read_u64(p);
		/* Every reclaimed anon page was evicted; pswpout of them were written. */
		res.pgsteal_anon = vmstat_get("pgsteal_anon") - steal0;
		res.evicted = res.pgsteal_anon > res.pswpout ? res.pgsteal_anon : res.pswpout;
		if (O.swap_file) {
			res.swap_ra = vmstat_get("swap_ra") - ra0;
			res.swap_ra_hit = vmstat_get("swap_ra_hit") - rahit0;
			res.swap_written = res.pswpout * PAGE; /* a swap write is one page */
			res.swap_written_est = 1;
		}
		mm_stat(mm); /* zeroes with --swap file: no zram device */
		res.orig_data = mm[0];
		res.compr_data = mm[1];
		res.mem_store = mm[2];
		res.mem_resident = res.resident_mincore; /* the working set's pages in memory */
		res.mem_meta = kernel_swap_meta; /* zram table, swap_map, swap cgroup map */
		res.mem_total = res.mem_resident + res.mem_store + res.mem_meta + res.mem_pte;
		res.mem_peak = (res.cg_peak > res.cg_usage ? res.cg_peak - res.cg_usage : 0) +
			       res.mem_resident + mm[4] + res.mem_meta + res.mem_pte;
	} else {
		res.majflt = ustat(c.ctx, "pgmajfault") - maj0;
		res.pswpin = ustat(c.ctx, "pswpin") - pswpin0;
		res.pswpout = ustat(c.ctx, "pswpout") - pswpout0;
		res.orig_data = ustat(c.ctx, "orig_data_size");
		res.compr_data = ustat(c.ctx, "compr_data_size");
		res.mem_store = ustat(c.ctx, "mem_used_total");
		res.mem_meta = ustat(c.ctx, "meta_bytes");
		/*
		 * The file backend's mem_used_total is its in-RAM slot table, which
		 * meta_bytes already holds: its store in memory is 0 (the pages
		 * are on disk), and counting both would count the table twice.
		 */
		if (O.swap_file)
			res.mem_store = 0;
		/* resident + swap cache + warm pool frames (uncharged, but memory) */
		res.mem_resident = (ustat(c.ctx, "nr_usage") + ustat(c.ctx, "pool_warm")) * PAGE;
		res.mem_total = res.mem_resident + res.mem_store + res.mem_meta + res.mem_pte;
		res.mem_peak = (ustat(c.ctx, "nr_usage_max") + ustat(c.ctx, "pool_warm_max")) * PAGE +
			       (O.swap_file ? 0 : ustat(c.ctx, "mem_used_max")) + res.mem_meta +
			       res.mem_pte;
		res.swap_ra = ustat(c.ctx, "swap_ra");
		res.swap_ra_hit = ustat(c.ctx, "swap_ra_hit");
		res.allocstall = ustat(c.ctx, "allocstall");
		res.swap_ra_cluster = ustat(c.ctx, "swap_ra_cluster") - racl0;
		res.swpout_clean = ustat(c.ctx, "swpout_clean") - clean0;
		res.swpout_zero = ustat(c.ctx, "swpout_zero") - zero0;
		res.evicted = res.pswpout + res.swpout_clean + res.swpout_zero;
		if (!O.swap_file) {
			/* zram: nothing is written to a disk */
		} else if (written_idx >= 0) {
			res.swap_written = ustat(c.ctx, "dev_bytes_written") - wr0;
		} else {
			/* Not exported by the library: every pswpout is one page written. */
			res.swap_written = res.pswpout * PAGE;
			res.swap_written_est = 1;
		}
	}

	/* Self-test of the verifier: BENCH_KERNEL_CORRUPT_PAGE=N flips a bit of page N. */
	corrupt = getenv("BENCH_KERNEL_CORRUPT_PAGE");
	if (corrupt) {
		uint64_t pg = strtoull(corrupt, NULL, 10);

		if (pg < n)
			c.mem[pg * PAGE + 100] ^= 1;
	}

	/* Verify every page. */
	t0 = now_s();
	for (uint64_t pg = 0; pg < n; pg++) {
		uint32_t v = atomic_load_explicit(&c.ver[pg], memory_order_relaxed);
		const uint64_t *got = (const uint64_t *)(c.mem + pg * PAGE);

		gen_page(j->wl.data, pg, v, buf);
		if (memcmp(got, buf, PAGE)) {
			if (!bad++)
				res.first_bad = pg;
			if (bad <= 5) {
				unsigned int w = 0;
				while (w < WPP && got[w] == buf[w])
					w++;
				fprintf(stderr,
					"bench_kernel: %s %s: DATA MISMATCH page %" PRIu64
					" version %u word %u: "
					"got %016" PRIx64 " want %016" PRIx64 "\n",
					sys_names[sys], j->name, pg, v, w, got[w], buf[w]);
			}
		}
	}
	res.verify_s = now_s() - t0;
	res.bad_pages = bad;
	for (int i = 0; i < j->threads; i++) {
		for (unsigned int b = 0; b < NBUCKETS; b++)
			res.hist[b] += ws[i].hist[b];
		res.lat_sum_ns += ws[i].sum_ns;
		res.lat_count += ws[i].count;
		if (ws[i].max_ns > res.lat_max_ns)
			res.lat_max_ns = ws[i].max_ns;
		if (ws[i].check_fail && !res.check_fail)
			res.first_bad = bad ? res.first_bad : ws[i].first_fail;
		res.check_fail += ws[i].check_fail;
	}
	if (res.check_fail)
		fprintf(stderr,
			"bench_kernel: %s %s: %" PRIu64 " reads saw wrong data during the run "
			"(first at page %" PRIu64 ")\n",
			sys_names[sys], j->name, res.check_fail,
			ws[0].check_fail ? ws[0].first_fail : res.first_bad);
	if (bad)
		snprintf(res.msg, sizeof(res.msg),
			 "%" PRIu64 " pages with wrong data, first %" PRIu64, bad, res.first_bad);
	res.status = bad || res.check_fail ? 1 : 0;

	if (sys == SYS_USWAP) {
		rc = uswap_munmap(c.ctx, c.mem, n * PAGE);
		if (rc)
			fprintf(stderr, "bench_kernel: uswap_munmap: %s\n", strerror(-rc));
		rc = uswap_ctx_destroy(c.ctx);
		if (rc)
			fprintf(stderr, "bench_kernel: uswap_ctx_destroy: %s\n", strerror(-rc));
	}
	getrusage(RUSAGE_SELF, &ru1);
	res.cpu_total_s = tv_s(ru1.ru_utime) + tv_s(ru1.ru_stime);
	res.magic = RES_MAGIC;
	{
		const char *p = (const char *)&res;
		size_t left = sizeof(res);

		while (left) {
			ssize_t k = write(wfd, p, left);
			if (k <= 0)
				_exit(2);
			p += k;
			left -= (size_t)k;
		}
	}
	_exit((int)res.status);
}

/* Fork a child for one run; wait for its result (with a timeout). */
static int run_one(const struct job *j, int sys, struct result *out)
{
	int fds[2], st = 0;
	size_t got = 0;
	pid_t pid;
	double t0 = now_s();

	memset(out, 0, sizeof(*out));
	if (sys == SYS_KERNEL && cgroup_create(j->limit))
		return -1;
	if (pipe2(fds, O_CLOEXEC))
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		child_main(j, sys, fds[1]);
	}
	child_pid = pid;
	close(fds[1]);
	while (got < sizeof(*out)) {
		struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
		int left_ms = (int)((O.timeout_s - (now_s() - t0)) * 1000);
		ssize_t k;

		if (left_ms <= 0 || poll(&pfd, 1, left_ms) == 0) {
			fprintf(stderr,
				"bench_kernel: %s %s: no result after %d s: killing the child (hang?)\n",
				sys_names[sys], j->name, O.timeout_s);
			kill(pid, SIGKILL);
			snprintf(out->msg, sizeof(out->msg), "timeout after %d s", O.timeout_s);
			break;
		}
		k = read(fds[0], (char *)out + got, sizeof(*out) - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	close(fds[0]);
	waitpid(pid, &st, 0);
	child_pid = 0;
	if (sys == SYS_KERNEL)
		cgroup_remove();
	if (sys == SYS_USWAP && O.swap_file)
		(void)unlink(uswap_path); /* a fresh file for every run, as after swapon */
	if (got != sizeof(*out) || out->magic != RES_MAGIC) {
		char m[600];

		if (WIFSIGNALED(st))
			snprintf(m, sizeof(m), "child killed by signal %d (%s)%s%s", WTERMSIG(st),
				 strsignal(WTERMSIG(st)), out->msg[0] ? ": " : "", out->msg);
		else
			snprintf(m, sizeof(m), "child exited %d without a result%s%s",
				 WEXITSTATUS(st), out->msg[0] ? ": " : "", out->msg);
		snprintf(out->msg, sizeof(out->msg), "%.255s", m);
		out->status = 2;
		return -1;
	}
	return out->status ? -1 : 0;
}

/* ------------------------------------------------------------------------ */
/* Figures, medians, the report.                                             */

enum {
	M_TPUT,
	M_MEAN,
	M_P50,
	M_P99,
	M_P999,
	M_SLOWP50,
	M_SLOWFRAC,
	M_MAJPA,
	M_CPU,
	M_MEM,
	M_MEMRES,
	M_MEMSTORE,
	M_MEMMETA,
	M_MEMPTE,
	M_MEMPEAK,
	M_RATIO,
	M_FILL,
	M_ACCESS,
	M_VERIFY,
	M_RAHIT,
	M_CGUSE,
	M_OFFCPU,
	/* --swap file only: after the others in the CSV, so that its columns stay put. */
	M_RAPAGES,
	M_EVICT,
	M_EVICTW,
	M_EVICTC,
	M_DEVW,
	M_SWAPW,
	M_DEVPO,
	M_DEVPE,
	M_SWAPPE,
	NR_M
};
#define NR_M_ZRAM (M_OFFCPU + 1) /* the figures of the zram mode, CSV columns included */

static const struct {
	const char *label, *csv;
	int prec; /* decimals in the table */
} mdesc[NR_M] = {
	[M_TPUT] = { "accesses/s", "acc_per_s", 0 },
	[M_MEAN] = { "latency mean (us)", "mean_us", 3 },
	[M_P50] = { "latency p50 (us)", "p50_us", 3 },
	[M_P99] = { "latency p99 (us)", "p99_us", 3 },
	[M_P999] = { "latency p99.9 (us)", "p999_us", 3 },
	[M_SLOWP50] = { "fault p50 (us) [>=1us]", "fault_p50_us", 3 },
	[M_SLOWFRAC] = { "accesses >=1us (%)", "fault_pct", 2 },
	[M_MAJPA] = { "major faults/access", "majflt_per_acc", 4 },
	[M_CPU] = { "CPU time, access (s)", "cpu_s", 3 },
	[M_MEM] = { "memory total (MiB)", "mem_total_mib", 1 },
	[M_MEMRES] = { "  resident (MiB)", "mem_resident_mib", 1 },
	[M_MEMSTORE] = { "  compressed store (MiB)", "mem_store_mib", 1 },
	[M_MEMMETA] = { "  metadata (MiB)", "mem_meta_mib", 1 },
	[M_MEMPTE] = { "  page tables (MiB)", "mem_pte_mib", 1 },
	[M_MEMPEAK] = { "memory peak (MiB)", "mem_peak_mib", 1 },
	[M_RATIO] = { "compression ratio", "compr_ratio", 2 },
	[M_FILL] = { "fill time (s)", "fill_s", 2 },
	[M_ACCESS] = { "access time (s)", "access_s", 2 },
	[M_VERIFY] = { "verify time (s)", "verify_s", 2 },
	[M_RAHIT] = { "readahead hit (%)", "ra_hit_pct", 1 },
	[M_CGUSE] = { "cgroup usage (MiB)", "cg_usage_mib_fig", 1 },
	[M_OFFCPU] = { "off-CPU in access (%)", "off_cpu_pct", 1 },
	[M_RAPAGES] = { "pages read ahead", "ra_pages", 0 },
	[M_EVICT] = { "pages evicted", "evicted", 0 },
	[M_EVICTW] = { "  written (pswpout)", "evicted_written", 0 },
	[M_EVICTC] = { "  not written (clean)", "evicted_clean", 0 },
	[M_DEVW] = { "device written (MiB)", "dev_written_mib", 1 },
	[M_SWAPW] = { "swap written (MiB)", "swap_written_mib", 1 },
	[M_DEVPO] = { "device bytes/pswpout", "dev_bytes_per_pswpout", 0 },
	[M_DEVPE] = { "device bytes/evicted", "dev_bytes_per_evicted", 0 },
	[M_SWAPPE] = { "swap bytes/evicted", "swap_bytes_per_evicted", 0 },
};

static void figures(const struct result *r, double *m)
{
	double mib = 1024.0 * 1024.0;
	uint64_t slow = 0, tot = 0;

	for (unsigned int b = 0; b < NBUCKETS; b++) {
		tot += r->hist[b];
		if (hlow(b) >= SLOW_NS)
			slow += r->hist[b];
	}
	m[M_TPUT] = r->access_s > 0 ? (double)r->accesses / r->access_s : 0;
	m[M_MEAN] = r->lat_count ? (double)r->lat_sum_ns / (double)r->lat_count / 1e3 : 0;
	m[M_P50] = hquantile(r->hist, 0.5, 0) / 1e3;
	m[M_P99] = hquantile(r->hist, 0.99, 0) / 1e3;
	m[M_P999] = hquantile(r->hist, 0.999, 0) / 1e3;
	m[M_SLOWP50] = hquantile(r->hist, 0.5, hbucket(SLOW_NS)) / 1e3;
	m[M_SLOWFRAC] = tot ? 100.0 * (double)slow / (double)tot : 0;
	m[M_MAJPA] = r->accesses ? (double)r->majflt / (double)r->accesses : 0;
	m[M_CPU] = r->cpu_user_s + r->cpu_sys_s;
	m[M_MEM] = (double)r->mem_total / mib;
	m[M_MEMRES] = (double)r->mem_resident / mib;
	m[M_MEMSTORE] = (double)r->mem_store / mib;
	m[M_MEMMETA] = (double)r->mem_meta / mib;
	m[M_MEMPTE] = (double)r->mem_pte / mib;
	m[M_MEMPEAK] = (double)r->mem_peak / mib;
	m[M_RATIO] = r->compr_data ? (double)r->orig_data / (double)r->compr_data : 0;
	m[M_FILL] = r->fill_s;
	m[M_ACCESS] = r->access_s;
	m[M_VERIFY] = r->verify_s;
	/* uswap reads ahead by address (mapped: swap_ra) and by slot (swap cache:
	 * swap_ra_cluster, 0 on zram); swap_ra_hit counts hits of both. */
	m[M_RAPAGES] = (double)(r->swap_ra + r->swap_ra_cluster);
	m[M_RAHIT] = m[M_RAPAGES] > 0 ? 100.0 * (double)r->swap_ra_hit / m[M_RAPAGES] : 0;
	m[M_CGUSE] = (double)r->cg_usage / mib;
	/* Share of the access phase's thread time not spent on a CPU (blocked or preempted). */
	m[M_OFFCPU] = 0;
	if (r->access_s > 0 && r->threads > 0) {
		double on = (r->cpu_user_s + r->cpu_sys_s) / ((double)r->threads * r->access_s);
		m[M_OFFCPU] = on < 1 ? 100.0 * (1 - on) : 0;
	}
	m[M_EVICT] = (double)r->evicted;
	m[M_EVICTW] = (double)r->pswpout;
	m[M_EVICTC] = r->evicted > r->pswpout ? (double)(r->evicted - r->pswpout) : 0;
	m[M_DEVW] = (double)r->dev_written / mib;
	m[M_SWAPW] = (double)r->swap_written / mib;
	m[M_DEVPO] = r->pswpout ? (double)r->dev_written / (double)r->pswpout : 0;
	m[M_DEVPE] = r->evicted ? (double)r->dev_written / (double)r->evicted : 0;
	m[M_SWAPPE] = r->evicted ? (double)r->swap_written / (double)r->evicted : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	if (n <= 0)
		return 0;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Per workload and system: the runs' figures and the summed histogram. */
struct wlres {
	struct job job;
	int nruns[NR_SYS], nfail[NR_SYS];
	double *m[NR_SYS]; /* nruns x NR_M */
	double med[NR_SYS][NR_M];
	uint64_t hist[NR_SYS][NBUCKETS];
	bool done;
};

static FILE *csv;

static void csv_header(void)
{
	fprintf(csv,
		"workload,data,pattern,ops,size_x,threads,system,run,limit_mib,pages,accesses");
	for (int k = 0; k < NR_M_ZRAM; k++)
		fprintf(csv, ",%s", mdesc[k].csv);
	fprintf(csv,
		",majflt,pswpin,pswpout,cpu_user_s,cpu_sys_s,cpu_child_s,rss_anon_mib,cg_usage_mib,"
		"cg_peak_mib,resident_mincore_mib,swap_ra,swap_ra_hit,allocstall,vol_csw,invol_csw,bad_pages,status");
	/* Added later, at the end (readers of the older columns are not moved). */
	fprintf(csv, ",swap");
	for (int k = NR_M_ZRAM; k < NR_M; k++)
		fprintf(csv, ",%s", mdesc[k].csv);
	fprintf(csv, ",swap_ra_cluster,swpout_clean,swpout_zero,pgsteal_anon,dev_written_bytes,"
		     "swap_written_bytes,swap_written_source\n");
}

static void csv_row(const struct job *j, int sys, const char *run, const double *m,
		    const struct result *r)
{
	double mib = 1024.0 * 1024.0;

	fprintf(csv, "%s,%s,%s,%s,%d,%d,%s,%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64, j->name,
		data_names[j->wl.data], pat_names[j->wl.pat], j->wl.rw ? "rw" : "ro", j->wl.mult,
		j->threads, sys_names[sys], run, j->limit >> 20, j->pages, j->accesses);
	for (int k = 0; k < NR_M_ZRAM; k++)
		fprintf(csv, ",%.6g", m[k]);
	if (r)
		fprintf(csv,
			",%" PRIu64 ",%" PRIu64 ",%" PRIu64
			",%.3f,%.3f,%.3f,%.1f,%.1f,%.1f,%.1f,%" PRIu64 ",%" PRIu64 ",%" PRIu64
			",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%s",
			r->majflt, r->pswpin, r->pswpout, r->cpu_user_s, r->cpu_sys_s,
			r->cpu_total_s, (double)r->rss_anon / mib, (double)r->cg_usage / mib,
			(double)r->cg_peak / mib, (double)r->resident_mincore / mib, r->swap_ra,
			r->swap_ra_hit, r->allocstall, r->nvcsw, r->nivcsw, r->bad_pages,
			r->status == 0 ? "ok" :
			r->status == 1 ? "DATA-MISMATCH" :
					 "error");
	else
		fprintf(csv, ",,,,,,,,,,,,,,,,,median");
	fprintf(csv, ",%s", O.swap_file ? "file" : "zram");
	for (int k = NR_M_ZRAM; k < NR_M; k++)
		fprintf(csv, ",%.6g", m[k]);
	if (r) {
		fprintf(csv, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64, r->swap_ra_cluster,
			r->swpout_clean, r->swpout_zero, r->pgsteal_anon);
		if (r->dev_known)
			fprintf(csv, ",%" PRIu64, r->dev_written);
		else
			fprintf(csv, ",na");
		fprintf(csv, ",%" PRIu64 ",%s\n", r->swap_written,
			!O.swap_file	     ? "" :
			r->swap_written_est ? "pswpout*4096" :
					      "counter");
	} else
		fprintf(csv, ",,,,,,,\n");
	fflush(csv);
}

static void print_table(struct wlres *w, int runs)
{
	const struct job *j = &w->job;
	bool both = O.do_kernel && O.do_uswap;

	printf("\n== %s   S = %" PRIu64 " MiB = %dx L (%" PRIu64 " pages), %" PRIu64
	       " accesses/run, %d thread%s, median of %d run%s\n",
	       j->name, (j->pages * PAGE) >> 20, j->wl.mult, j->pages, j->accesses, j->threads,
	       j->threads > 1 ? "s" : "", runs, runs > 1 ? "s" : "");
	printf("%-26s %12s %12s %12s\n", "", "kernel", "uswap", "uswap/kernel");
	for (int k = 0; k < (O.swap_file ? NR_M : NR_M_ZRAM); k++) {
		/* The kernel reads nothing ahead from zram; from a file it does. */
		bool k_ra = O.swap_file;

		if ((k == M_RAHIT && !w->med[SYS_USWAP][k] && !(k_ra && w->med[SYS_KERNEL][k])) ||
		    (k == M_CGUSE && !O.do_kernel) || (k == M_RATIO && O.swap_file))
			continue;
		printf("%-26s", mdesc[k].label);
		for (int s = 0; s < NR_SYS; s++) {
			if ((s == SYS_KERNEL && !O.do_kernel) || (s == SYS_USWAP && !O.do_uswap) ||
			    (k == M_RAHIT && s == SYS_KERNEL && !k_ra) ||
			    (k == M_CGUSE && s == SYS_USWAP)) {
				printf(" %12s", "-");
				continue;
			}
			printf(" %12.*f", mdesc[k].prec, w->med[s][k]);
		}
		if (both && w->med[SYS_KERNEL][k] > 0 && k != M_RAHIT && k != M_CGUSE)
			printf(" %12.2f\n", w->med[SYS_USWAP][k] / w->med[SYS_KERNEL][k]);
		else
			printf(" %12s\n", "-");
	}
	for (int s = 0; s < NR_SYS; s++)
		if (w->nfail[s])
			printf("  !! %s: %d failed run%s (see above)\n", sys_names[s], w->nfail[s],
			       w->nfail[s] > 1 ? "s" : "");
	fflush(stdout);
}

/* Percentile curve (HdrHistogram style) of every plotted workload, kernel beside uswap. */
static int write_plot(struct wlres *wr, int nw, const char *out)
{
	char base[512], dat[600], gp[600], cmd[1300];
	const char *dot = strrchr(out, '.');
	bool png = dot && !strcmp(dot, ".png");
	int idx[16], np = 0, cols, rows;
	FILE *f;

	snprintf(base, sizeof(base), "%.*s", dot ? (int)(dot - out) : (int)strlen(out), out);
	snprintf(dat, sizeof(dat), "%s.dat", base);
	snprintf(gp, sizeof(gp), "%s.gp", base);
	/* The main workloads: the first 8 (the goal workloads come first in the full run). */
	for (int i = 0; i < nw && np < 8; i++)
		if (wr[i].done)
			idx[np++] = i;
	if (!np)
		return -1;
	f = fopen(dat, "w");
	if (!f)
		return -1;
	fprintf(f,
		"# latency percentile curves: x = 1/(1-q), y = latency (us); blocks: workload x system\n");
	for (int p = 0; p < np; p++)
		for (int s = 0; s < NR_SYS; s++) {
			const uint64_t *h = wr[idx[p]].hist[s];
			uint64_t tot = 0, cum = 0;

			fprintf(f, "# %s %s\n", wr[idx[p]].job.name, sys_names[s]);
			for (unsigned int b = 0; b < NBUCKETS; b++)
				tot += h[b];
			if (!tot)
				fprintf(f, "1 nan\n");
			for (unsigned int b = 0; b < NBUCKETS && tot; b++) {
				double q, hi;

				if (!h[b])
					continue;
				cum += h[b];
				q = (double)cum / (double)tot;
				if (q > 1 - 0.5 / (double)tot)
					q = 1 - 0.5 / (double)tot;
				hi = (hlow(b) + hwidth(b)) / 1e3;
				fprintf(f, "%.6g %.6g\n", 1 / (1 - q), hi);
			}
			fprintf(f, "\n\n");
		}
	fclose(f);

	cols = np <= 2 ? np : np <= 4 ? 2 : np <= 6 ? 3 : 4;
	rows = (np + cols - 1) / cols;
	f = fopen(gp, "w");
	if (!f)
		return -1;
	if (png)
		fprintf(f, "set terminal pngcairo size %d,%d font ',9'\n", 480 * cols,
			380 * rows + 40);
	else
		fprintf(f, "set terminal svg size %d,%d dynamic font 'sans,10'\n", 480 * cols,
			380 * rows + 40);
	fprintf(f, "set output '%s'\n", out);
	fprintf(f, "set logscale xy\nset grid\nset key top left\n");
	fputs("set xtics ('50%%' 2, '90%%' 10, '99%%' 100, '99.9%%' 1000, "
	      "'99.99%%' 10000, '99.999%%' 100000)\n",
	      f);
	fprintf(f, "set xlabel 'percentile'\nset ylabel 'access latency (us)'\n");
	fprintf(f,
		"set multiplot layout %d,%d title 'bench\\_kernel: per-access latency, "
		"kernel swap on %s (cgroup v1) vs uswap (%s mode); L in each title'\n",
		rows, cols, O.swap_file ? "a swap file" : "zram", O.signal_mode ? "signal" : "thread");
	for (int p = 0; p < np; p++) {
		char t[64];

		snprintf(t, sizeof(t), "%s", wr[idx[p]].job.name);
		fprintf(f, "set title '%s'\n", t);
		fprintf(f,
			"plot '%s' index %d using 1:2 with steps lw 2 lc rgb '#1f77b4' title 'kernel', "
			"'' index %d using 1:2 with steps lw 2 lc rgb '#d62728' title 'uswap'\n",
			dat, 2 * p, 2 * p + 1);
	}
	fprintf(f, "unset multiplot\n");
	fclose(f);
	snprintf(cmd, sizeof(cmd), "gnuplot '%s'", gp);
	if (system(cmd)) {
		fprintf(stderr, "bench_kernel: gnuplot failed (script %s)\n", gp);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_kernel [--quick] [--csv FILE] [--plot FILE.svg|FILE.png] [--runs N]\n"
		"                    [--limit SIZE] [--workloads LIST] [--threads N] [--accesses N]\n"
		"                    [--signal] [--only kernel|uswap] [--timeout SEC] [--list]\n"
		"                    [--swap zram|file[:DIR]]\n"
		"Runs each workload in plain memory under a cgroup v1 memory limit with kernel swap\n"
		"on zram (lz4), and under uswap with the same limit and compressor; every page is\n"
		"verified.  Needs root, zram, the v1 memory cgroup, and no active swap.\n"
		"  --swap file[:DIR]  swap to a file on the disk filesystem DIR (default /var/tmp;\n"
		"                  not tmpfs) instead of zram: the kernel to a swap file\n"
		"                  (fallocate, swapon), uswap to its file backend\n"
		"                  (file:DIR/uswap-bench-PID.swap), both removed at the end; adds\n"
		"                  read-ahead hits and bytes written per page evicted; --quick\n"
		"                  then runs half:seq:ro:2x:1t:2p and half:rand+zipf (L = 64M)\n"
		"  --quick         representative subset (half:seq+rand+zipf:ro:2x:1t), L = 64M,\n"
		"                  3 runs (under a minute)\n"
		"  --limit SIZE    memory limit L of every workload (default: 512M for the issue's\n"
		"                  goal workloads, 128M for the others; see L= below)\n"
		"  --runs N        runs per system and workload; medians are reported (default 3)\n"
		"  --threads N     N of the multi-threaded workloads (default 2)\n"
		"  --accesses N    accesses per run (default: one pass over S for seq, L/4K otherwise)\n"
		"  --signal        uswap in signal (SIGBUS) delivery mode instead of handler threads\n"
		"  --no-colocate   thread mode without running the handler on the faulting\n"
		"                  thread's CPU (USWAP_F_NO_COLOCATE), for comparison\n"
		"  --only SYS      run one system only\n"
		"  --timeout SEC   per-run limit before a child is declared hung (default 300)\n"
		"  --list          print the workloads that would run, and exit\n"
		"  --workloads LIST  comma-separated items; an item is ':'-separated tokens, each a\n"
		"       value or values joined by '+', any order:\n"
		"         data     random half text zero-heavy       (default half)\n"
		"         pattern  seq rand zipf hotcold rev stride  (default rand; rev: backward\n"
		"                  scan, stride: every 7th page)\n"
		"         ops      ro rw (rw: 50%% writes)            (default ro)\n"
		"         size     2x 4x (working set S = k x L)     (default 2x)\n"
		"         threads  1t Nt (N = --threads) or 3t...    (default 1t)\n"
		"         passes   2p 3p...: that many times the accesses (default 1p)\n"
		"         L=SIZE   the limit L of this item          (default 512M)\n"
		"       DIM=* takes every value (data=*, pattern=*, ops=*, size=*, threads=*);\n"
		"       'full' is the default matrix, 'quick' the --quick one, 'all' the whole\n"
		"       cross product (192 workloads: far over 10 minutes).\n"
		"       Example: --workloads half:seq+zipf:ro+rw,text:rand:4x:Nt\n"
		"SIZE: bytes with an optional K, M or G suffix.\n");
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	v = strtoull(s, &end, 10);
	switch (toupper((unsigned char)*end)) {
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'M':
		v <<= 20;
		end++;
		break;
	case 'G':
		v <<= 30;
		end++;
		break;
	default:
		break;
	}
	if (*end == 'i' || *end == 'B')
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end)
		return -1;
	*out = v;
	return 0;
}

static void parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t x;

#define NEED_ARG()                                                                                 \
	do {                                                                                       \
		if (!v) {                                                                          \
			fprintf(stderr, "bench_kernel: %s needs a value\n", a);                    \
			exit(2);                                                                   \
		}                                                                                  \
		i++;                                                                               \
	} while (0)
		if (!strcmp(a, "--quick")) {
			O.quick = true;
		} else if (!strcmp(a, "--csv")) {
			NEED_ARG();
			O.csv = v;
		} else if (!strcmp(a, "--plot")) {
			NEED_ARG();
			O.plot = v;
		} else if (!strcmp(a, "--workloads")) {
			NEED_ARG();
			O.wl_list = v;
		} else if (!strcmp(a, "--runs") || !strcmp(a, "--threads") ||
			   !strcmp(a, "--timeout") || !strcmp(a, "--accesses")) {
			NEED_ARG();
			if (parse_size(v, &x) || !x || x > (a[2] == 'a' ? UINT32_MAX : 1000)) {
				fprintf(stderr, "bench_kernel: bad value for %s: %s\n", a, v);
				exit(2);
			}
			if (a[2] == 'r')
				O.runs = (int)x;
			else if (a[3] == 'h')
				O.threads = (int)x;
			else if (a[3] == 'i')
				O.timeout_s = (int)x;
			else
				O.accesses = x;
		} else if (!strcmp(a, "--limit")) {
			NEED_ARG();
			if (parse_size(v, &x) || x < (1u << 20) || x % PAGE) {
				fprintf(stderr,
					"bench_kernel: bad --limit %s (at least 1M, whole pages)\n",
					v);
				exit(2);
			}
			O.limit = x;
		} else if (!strcmp(a, "--list")) {
			O.list = true;
		} else if (!strcmp(a, "--signal")) {
			O.signal_mode = true;
		} else if (!strcmp(a, "--no-colocate")) {
			O.no_colocate = true;
		} else if (!strcmp(a, "--only")) {
			NEED_ARG();
			if (!strcmp(v, "kernel"))
				O.do_uswap = false;
			else if (!strcmp(v, "uswap"))
				O.do_kernel = false;
			else {
				fprintf(stderr, "bench_kernel: --only kernel|uswap\n");
				exit(2);
			}
		} else if (!strcmp(a, "--swap")) {
			NEED_ARG();
			if (!strcmp(v, "zram")) {
				O.swap_file = false;
			} else if (!strcmp(v, "file") || !strncmp(v, "file:", 5)) {
				O.swap_file = true;
				if (v[4] == ':' && v[5])
					O.swap_dir = v + 5;
			} else {
				fprintf(stderr, "bench_kernel: --swap zram|file[:DIR]\n");
				exit(2);
			}
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			exit(0);
		} else {
			fprintf(stderr, "bench_kernel: unknown argument %s\n", a);
			usage(stderr);
			exit(2);
		}
	}
}

static void print_kv(const char *label, const char *path)
{
	char buf[256];

	if (read_file(path, buf, sizeof(buf)) > 0) {
		buf[strcspn(buf, "\n")] = 0;
		printf("  %-34s %s\n", label, buf);
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	struct wlres *wr;
	uint64_t maxpages = 0, disksize;
	int runs, failures = 0, mismatches = 0;
	double t_start = now_s();
	char sw[64];

	setvbuf(stdout, NULL, _IOLBF, 0);
	parent_pid = getpid();
	for (int i = 0; i < 64; i++)
		memcpy(&text_words[i], text_tokens[i], 8);
	parse_args(argc, argv);
	runs = O.runs ? O.runs : 3;
	if (parse_wl_list(O.wl_list ? O.wl_list : O.quick ? "quick" : "full") || !nr_wl) {
		fprintf(stderr, "bench_kernel: bad --workloads (see --help)\n");
		return 2;
	}
	{
		/* Resolve L: --limit overrides; otherwise the item's L=, else the 512M. */
		struct workload *all = wls;
		int n = nr_wl;

		wls = NULL;
		nr_wl = 0;
		for (int i = 0; i < n; i++) {
			if (!all[i].threads)
				all[i].threads = O.threads;
			if (O.limit)
				all[i].limit = O.limit;
			else if (!all[i].limit)
				all[i].limit = 512ull << 20;
			wl_add(all[i]);
		}
		free(all);
	}
	if (O.list) {
		for (int i = 0; i < nr_wl; i++) {
			char name[64];

			wl_name(&wls[i], name, sizeof(name));
			printf("%s\n", name);
		}
		return 0;
	}
	preflight();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESETHAND;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGABRT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	for (int i = 0; i < nr_wl; i++)
		if ((uint64_t)wls[i].mult * wls[i].limit / PAGE + wls[i].limit / PAGE > maxpages)
			maxpages =
				(uint64_t)wls[i].mult * wls[i].limit / PAGE + wls[i].limit / PAGE;
	disksize = swap_bytes = maxpages * PAGE;

	if (O.csv) {
		csv = fopen(O.csv, "w");
		if (!csv) {
			fprintf(stderr, "bench_kernel: %s: %s\n", O.csv, strerror(errno));
			return 2;
		}
		csv_header();
	}
	if (O.do_kernel && (O.swap_file ? swapfile_setup(disksize) : zram_setup(disksize))) {
		sys_teardown();
		return 1;
	}
	snprintf(sw, sizeof(sw), "%d", (int)getpid());

	printf("bench_kernel: uswap %d.%d.%d against kernel swap, %s%d workload%s x %d run%s per system\n",
	       uswap_version() / 10000, uswap_version() / 100 % 100, uswap_version() % 100,
	       O.quick ? "--quick: " : "", nr_wl, nr_wl > 1 ? "s" : "", runs, runs > 1 ? "s" : "");
	if (O.limit)
		printf("  %-34s %" PRIu64 " MiB (--limit)\n", "limit L", O.limit >> 20);
	else if (!O.wl_list && !O.quick)
		printf("  %-34s 512 MiB (the issue's) for the goal workloads (half:*:ro:2x:1t);\n"
		       "  %-34s 128 MiB for the other workloads, so that the run fits in 10 minutes\n"
		       "  %-34s (--limit SIZE sets one L for all)\n",
		       "limit L", "", "");
	else
		printf("  %-34s per workload (L= in its name; 512 MiB unless given)\n", "limit L");
	print_kv("load average (other work here)", "/proc/loadavg");
	print_kv("vm.swappiness (left as is)", "/proc/sys/vm/swappiness");
	print_kv("memory.swappiness (v1 root)", CG_ROOT "/memory.swappiness");
	print_kv("vm.page-cluster", "/proc/sys/vm/page-cluster");
	print_kv("transparent_hugepage", "/sys/kernel/mm/transparent_hugepage/enabled");
	if (O.do_kernel && O.swap_file) {
		printf("  %-34s swap file %s, %" PRIu64 " MiB, %s, priority %d, removed at the end\n",
		       "kernel swap", kswap_path, disksize >> 20, kswap_how, SWAP_PRIO);
		printf("  %-34s %s/uswap-bench-%s (created per run)\n", "kernel cgroup", CG_ROOT,
		       sw);
	} else if (O.do_kernel) {
		printf("  %-34s %s, lz4, disksize %" PRIu64 " MiB, priority %d, %s\n",
		       "kernel swap", zram_dev, disksize >> 20, SWAP_PRIO,
		       zram_hot_added ? "hot-added (removed at the end)" : "reset at the end");
		printf("  %-34s %s/uswap-bench-%s (created per run)\n", "kernel cgroup", CG_ROOT,
		       sw);
	}
	if (O.swap_file)
		printf("  %-34s %s mode, file:%s:size=%" PRIu64 " (%" PRIu64
		       " MiB, as the kernel's; one file per run), limit_bytes = L\n",
		       "uswap", O.signal_mode ? "signal (SIGBUS)" : O.no_colocate ? "thread (handler, not colocated)" : "thread (handler)", uswap_path,
		       swap_bytes, swap_bytes >> 20);
	else
		printf("  %-34s %s mode, zram:lz4:size=%" PRIu64 "M (as the kernel's), limit_bytes = L\n",
		       "uswap", O.signal_mode ? "signal (SIGBUS)" : O.no_colocate ? "thread (handler, not colocated)" : "thread (handler)",
		       swap_bytes >> 20);
	printf("  %-34s each access is timed with CLOCK_MONOTONIC; a read reads 9 words of the page,\n"
	       "  %-34s a write rewrites the whole page; 'fault' = an access that took >= 1 us\n",
	       "", "");
	if (O.swap_file) {
		printf("  %-34s kernel: working-set pages in memory (mincore) + swap metadata\n"
		       "  %-34s        (vmallocinfo: swap_map, swap cgroup) + VmPTE; no store in RAM\n"
		       "  %-34s uswap: nr_usage + pool_warm pages + meta_bytes (the file backend's\n"
		       "  %-34s        slot/hash table included) + VmPTE; no store in RAM\n",
		       "memory total", "", "", "");
		printf("  %-34s pages read ahead: kernel swap_ra, uswap swap_ra + swap_ra_cluster;\n"
		       "  %-34s hit = swap_ra_hit / pages read ahead (deltas over the access phase)\n",
		       "read-ahead", "");
		printf("  %-34s kernel: pgsteal_anon (global /proc/vmstat: our cgroup is the only\n"
		       "  %-34s swapper); uswap: pswpout + swpout_clean + swpout_zero\n",
		       "pages evicted (access phase)", "");
		printf("  %-34s %s (%s): sectors written over the access phase,\n"
		       "  %-34s by every writer of the disk, not only swap (journal, other programs)\n",
		       "device written", dev_name, dev_stat_path[0] ? dev_stat_path : "not found",
		       "");
		printf("  %-34s kernel: pswpout x 4096 (a swap write is a page); uswap: %s\n",
		       "swap written", uswap_stat_index("dev_bytes_written") >= 0 ?
		       "the dev_bytes_written counter" :
		       "pswpout x 4096 (the library does not export the file backend's bytes_written)");
	} else {
		printf("  %-34s kernel: working-set pages in memory (mincore) + zram mem_used_total\n"
		       "  %-34s        + swap metadata (vmallocinfo: zram table, swap_map, swap cgroup) + VmPTE\n"
		       "  %-34s uswap: nr_usage + pool_warm pages + mem_used_total + meta_bytes + VmPTE\n",
		       "memory total", "", "");
	}

	wr = calloc((size_t)nr_wl, sizeof(*wr));
	if (!wr) {
		sys_teardown();
		return 1;
	}
	for (int w = 0; w < nr_wl; w++) {
		struct wlres *x = &wr[w];
		double tw = now_s();

		if (build_job(&x->job, &wls[w], wls[w].limit)) {
			fprintf(stderr, "bench_kernel: cannot build workload %d (out of memory?)\n",
				w);
			failures++;
			continue;
		}
		for (int s = 0; s < NR_SYS; s++)
			x->m[s] = calloc((size_t)runs * NR_M, sizeof(double));
		printf("\n-- [%d/%d] %s\n", w + 1, nr_wl, x->job.name);
		for (int r = 0; r < runs; r++)
			for (int k = 0; k < NR_SYS; k++) {
				/* Alternate which system goes first, against drift. */
				int s = (r % 2) ? NR_SYS - 1 - k : k;
				struct result *res1 = malloc(sizeof(*res1));
				double m[NR_M], t0 = now_s();
				char run[16];
				int rc;

				if ((s == SYS_KERNEL && !O.do_kernel) ||
				    (s == SYS_USWAP && !O.do_uswap))
					continue;
				rc = run_one(&x->job, s, res1);
				if (rc && res1->status != 1) {
					printf("   run %d %-6s FAILED: %s\n", r + 1, sys_names[s],
					       res1->msg);
					x->nfail[s]++;
					failures++;
					free(res1);
					continue;
				}
				figures(res1, m);
				if (res1->status == 1) {
					printf("   run %d %-6s DATA MISMATCH: %" PRIu64
					       " bad pages, %" PRIu64 " bad reads during the run\n",
					       r + 1, sys_names[s], res1->bad_pages,
					       res1->check_fail);
					x->nfail[s]++;
					mismatches++;
				}
				memcpy(x->m[s] + (size_t)x->nruns[s] * NR_M, m, sizeof(m));
				x->nruns[s]++;
				for (unsigned int b = 0; b < NBUCKETS; b++)
					x->hist[s][b] += res1->hist[b];
				snprintf(run, sizeof(run), "%d", r + 1);
				if (csv)
					csv_row(&x->job, s, run, m, res1);
				printf("   run %d %-6s %10.0f acc/s  p50 %8.2f  p99 %8.2f  p99.9 %9.2f us  "
				       "majflt/acc %.3f  mem %6.1f MiB  (fill %.1fs access %.1fs verify %.1fs, "
				       "%.1fs)\n",
				       r + 1, sys_names[s], m[M_TPUT], m[M_P50], m[M_P99],
				       m[M_P999], m[M_MAJPA], m[M_MEM], m[M_FILL], m[M_ACCESS],
				       m[M_VERIFY], now_s() - t0);
				free(res1);
			}
		for (int s = 0; s < NR_SYS; s++)
			for (int k = 0; k < NR_M; k++) {
				double v[64];
				int n = x->nruns[s] < 64 ? x->nruns[s] : 64;

				for (int r = 0; r < n; r++)
					v[r] = x->m[s][(size_t)r * NR_M + (size_t)k];
				x->med[s][k] = median(v, n);
			}
		x->done = x->nruns[SYS_KERNEL] + x->nruns[SYS_USWAP] > 0;
		if (csv)
			for (int s = 0; s < NR_SYS; s++)
				if (x->nruns[s])
					csv_row(&x->job, s, "median", x->med[s], NULL);
		print_table(x, runs);
		printf("   (workload time %.1f s)\n", now_s() - tw);
		free(x->job.ops);
		x->job.ops = NULL;
	}

	sys_teardown();

	/* Summary: one line per workload. */
	printf("\n== summary (medians; ratio = uswap/kernel)\n");
	printf("%-30s %10s %10s %7s | %8s %8s %7s | %8s %8s %7s | %7s %7s\n", "workload", "k acc/s",
	       "u acc/s", "ratio", "k p50", "u p50", "ratio", "k p99", "u p99", "ratio", "mean",
	       "mem");
	for (int w = 0; w < nr_wl; w++) {
		struct wlres *x = &wr[w];
		double(*k)[NR_M] = &x->med[SYS_KERNEL], (*u)[NR_M] = &x->med[SYS_USWAP];

		if (!x->done)
			continue;
		printf("%-30s %10.0f %10.0f %7.2f | %8.2f %8.2f %7.2f | %8.2f %8.2f %7.2f | %7.2f %7.2f\n",
		       x->job.name, (*k)[M_TPUT], (*u)[M_TPUT],
		       (*k)[M_TPUT] > 0 ? (*u)[M_TPUT] / (*k)[M_TPUT] : 0, (*k)[M_P50], (*u)[M_P50],
		       (*k)[M_P50] > 0 ? (*u)[M_P50] / (*k)[M_P50] : 0, (*k)[M_P99], (*u)[M_P99],
		       (*k)[M_P99] > 0 ? (*u)[M_P99] / (*k)[M_P99] : 0,
		       (*k)[M_MEAN] > 0 ? (*u)[M_MEAN] / (*k)[M_MEAN] : 0,
		       (*k)[M_MEM] > 0 ? (*u)[M_MEM] / (*k)[M_MEM] : 0);
	}
	if (O.plot) {
		if (write_plot(wr, nr_wl, O.plot))
			failures++;
		else
			printf("\nplot: %s\n", O.plot);
	}
	if (csv) {
		fclose(csv);
		printf("csv: %s\n", O.csv);
	}
	printf("\n");
	print_kv("load average at the end", "/proc/loadavg");
	printf("\ntotal time %.1f s; %s\n", now_s() - t_start,
	       mismatches ? "DATA MISMATCH (see above)" :
	       failures	  ? "some runs FAILED" :
			    "all pages verified");
	return mismatches || failures ? 1 : 0;
}
