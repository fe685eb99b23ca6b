/* SPDX-License-Identifier: MIT */
/*
 * bench_demo - uswap end to end, through the public API only.
 *
 * A region four times bigger than its memory limit is written page by page
 * with content that compresses to about half (the first half of each page
 * pseudo-random, the second half a repeated pattern), so most of it must be
 * swapped out to a compressed-RAM device.  Every page is then read back in
 * order and in a random order and compared with what was written.  The
 * report gives the times and uswap's counters, and ends with "DATA OK" or
 * "DATA CORRUPT at page N".
 *
 * Exit: 0 data verified, 1 corrupt data or a uswap error, 2 usage,
 * 77 userfaultfd not available here (skip).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "uswap.h"
#include "../tests/common/mix64.h"

#define DEMO_PAGE_SIZE ((uint64_t)4096)
#define WORDS_PER_PAGE (DEMO_PAGE_SIZE / sizeof(uint64_t))
#define HASHED_WORDS (WORDS_PER_PAGE / 2) /* first half: pseudo-random */

struct demo_opts {
	uint64_t limit_bytes;
	uint64_t size_bytes; /* 0: four times the limit */
	uint64_t seed;
	enum uswap_fault_mode mode;
	int verbose;
};

/* For the SIGBUS report: where the region is. */
static volatile uintptr_t region_start;
static volatile uintptr_t region_end;

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [--limit SIZE] [--size SIZE] [--seed N] [--signal] [--verbose]\n"
		"  --limit SIZE  memory limit of the region's group (default 64M)\n"
		"  --size SIZE   size of the region (default 4 x the limit)\n"
		"  --seed N      seed of the page content and of the random order (default 1)\n"
		"  --signal      resolve faults in the faulting thread (USWAP_MODE_SIGNAL)\n"
		"  --verbose     print uswap's informational log messages\n"
		"SIZE is a number of bytes with an optional K, M, G or T suffix.\n",
		prog);
}

/* Parse "64M", "1G", "4096".  Return: 0 or -EINVAL. */
static int parse_size(const char *s, uint64_t *bytes)
{
	char *end;
	unsigned long long v;
	unsigned int shift = 0;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	default:
		break;
	}
	if (shift)
		end++;
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*bytes = (uint64_t)v << shift;
	return 0;
}

static int parse_args(int argc, char **argv, struct demo_opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--limit") || !strcmp(a, "--size") || !strcmp(a, "--seed")) {
			uint64_t v;
			if (parse_size(val, &v)) {
				fprintf(stderr, "%s: bad or missing value for %s\n", argv[0], a);
				return -EINVAL;
			}
			if (!strcmp(a, "--limit"))
				o->limit_bytes = v;
			else if (!strcmp(a, "--size"))
				o->size_bytes = v;
			else
				o->seed = v;
			i++;
		} else if (!strcmp(a, "--signal")) {
			o->mode = USWAP_MODE_SIGNAL;
		} else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
			o->verbose = 1;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout, argv[0]);
			exit(0);
		} else {
			fprintf(stderr, "%s: unknown argument %s\n", argv[0], a);
			return -EINVAL;
		}
	}
	return 0;
}


/* The expected value of word @w of page @pg. */
static uint64_t page_word(uint64_t seed, uint64_t pg, unsigned int w)
{
	uint64_t h = mix64(seed ^ mix64(pg + 0x9e3779b97f4a7c15ULL));

	if (w < HASHED_WORDS)
		return mix64(h + w);
	/* Second half: one 16-bit value of the page repeated; compresses well. */
	return (h >> 48) * 0x0001000100010001ULL;
}

static void fill_page(uint64_t *p, uint64_t seed, uint64_t pg)
{
	for (unsigned int w = 0; w < WORDS_PER_PAGE; w++)
		p[w] = page_word(seed, pg, w);
}

static int page_ok(const uint64_t *p, uint64_t seed, uint64_t pg)
{
	for (unsigned int w = 0; w < WORDS_PER_PAGE; w++)
		if (p[w] != page_word(seed, pg, w))
			return 0;
	return 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t xorshift64(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void log_cb(void *arg, int level, const char *msg)
{
	const struct demo_opts *o = arg;

	if (level <= USWAP_LOG_WARN || o->verbose)
		fprintf(stderr, "uswap: %s\n", msg);
}

/* Async-signal-safe output of "text" + decimal number + "\n". */
static void write_num(const char *text, uint64_t n)
{
	char buf[32];
	int i = (int)sizeof(buf);

	buf[--i] = '\n';
	do {
		buf[--i] = (char)('0' + n % 10);
		n /= 10;
	} while (n && i > 0);
	if (write(STDERR_FILENO, text, strlen(text)) < 0)
		return;
	if (write(STDERR_FILENO, buf + i, sizeof(buf) - (size_t)i) < 0)
		return;
}

/*
 * A SIGBUS that uswap does not resolve means a page could not be brought back
 * (poisoned, or the group ran out of memory): report which page and stop.
 */
static void on_sigbus(int sig, siginfo_t *info, void *uctx)
{
	uintptr_t addr;

	if (uswap_sigbus_dispatch(sig, info, uctx))
		return;
	addr = (uintptr_t)info->si_addr;
	if (addr >= region_start && addr < region_end)
		write_num("DATA LOST: SIGBUS at page ", (addr - region_start) / DEMO_PAGE_SIZE);
	else
		write_num("SIGBUS outside the region, address ", addr);
	_exit(1);
}

static void print_counters(struct uswap_ctx *ctx)
{
	static const char *const names[] = {
		"pgfault",	   "pgmajfault",     "pswpin",	       "pswpout",
		"swapcache_hit",   "spurious_fault", "nr_resident",    "nr_usage_max",
		"compr_data_size", "mem_used_total", "orig_data_size",
	};
	struct uswap_stats st;
	int rc;

	memset(&st, 0, sizeof(st));
	rc = uswap_stats_get(ctx, NULL, &st);
	if (rc) {
		fprintf(stderr, "uswap_stats_get: %s\n", strerror(-rc));
		return;
	}
	printf("counters:\n");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int idx = uswap_stat_index(names[i]);

		if (idx < 0 || (unsigned int)idx >= st.nr)
			printf("  %-16s n/a\n", names[i]);
		else
			printf("  %-16s %" PRIu64 "\n", names[i], st.value[idx]);
	}
}

/*
 * Read every page in the order given by @order (NULL: sequential) and check it.
 * Return: the number of wrong pages; *first_bad gets the first one met.
 */
static uint64_t verify_pass(const unsigned char *mem, uint64_t nr_pages, const uint32_t *order,
			    uint64_t seed, uint64_t *first_bad)
{
	uint64_t nr_bad = 0;

	for (uint64_t i = 0; i < nr_pages; i++) {
		uint64_t pg = order ? order[i] : i;

		if (!page_ok((const uint64_t *)(mem + pg * DEMO_PAGE_SIZE), seed, pg)) {
			if (!nr_bad++)
				*first_bad = pg;
		}
	}
	return nr_bad;
}

int main(int argc, char **argv)
{
	struct demo_opts o = {
		.limit_bytes = 64ULL << 20,
		.seed = 1,
		.mode = USWAP_MODE_THREAD,
	};
	struct uswap_opts uo;
	struct uswap_ctx *ctx = NULL;
	struct sigaction sa;
	unsigned char *mem = NULL;
	uint32_t *order = NULL;
	uint64_t nr_pages, swap_mib, rs, bad_seq, bad_rand, first_bad = 0, first_bad_rand = 0;
	char spec[64];
	double t0, t_write, t_seq, t_rand;
	int rc, ret = 1;

	if (parse_args(argc, argv, &o)) {
		usage(stderr, argv[0]);
		return 2;
	}
	if (!o.size_bytes)
		o.size_bytes = 4 * o.limit_bytes;
	nr_pages = (o.size_bytes + DEMO_PAGE_SIZE - 1) / DEMO_PAGE_SIZE;
	if (o.limit_bytes < 16 * DEMO_PAGE_SIZE || !nr_pages || nr_pages > UINT32_MAX) {
		fprintf(stderr, "%s: need --limit >= 64K and 0 < --size < 16T\n", argv[0]);
		return 2;
	}

	memset(&uo, 0, sizeof(uo));
	uo.size = sizeof(uo);
	uo.mode = o.mode;
	uo.limit_bytes = o.limit_bytes;
	uo.log = log_cb;
	uo.log_arg = &o;
	rc = uswap_ctx_create(&uo, &ctx);
	if (rc == -EPERM || rc == -ENOSYS) {
		fprintf(stderr,
			"SKIP: userfaultfd is not available to this process (%s).\n"
			"uswap needs Linux >= 6.8 with userfaultfd, and one of: CAP_SYS_PTRACE (run as\n"
			"root), sysctl vm.unprivileged_userfaultfd=1, or read-write access to\n"
			"/dev/userfaultfd.  In a container, the seccomp profile must allow userfaultfd.\n",
			strerror(-rc));
		return 77;
	}
	if (rc) {
		fprintf(stderr, "uswap_ctx_create: %s\n", strerror(-rc));
		return 1;
	}

	/* Our SIGBUS handler goes in after uswap's and chains to it first. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL)) {
		perror("sigaction");
		goto out_destroy;
	}

	/* 1 GiB of compressed-RAM swap, or more if the region needs it. */
	swap_mib = (nr_pages * DEMO_PAGE_SIZE + (1u << 20) - 1) >> 20;
	if (swap_mib < 1024)
		swap_mib = 1024;
	if (swap_mib % 1024 == 0)
		snprintf(spec, sizeof(spec), "zram:lz4:size=%" PRIu64 "G", swap_mib / 1024);
	else
		snprintf(spec, sizeof(spec), "zram:lz4:size=%" PRIu64 "M", swap_mib);
	rc = uswap_swapon(ctx, spec, 0, NULL);
	if (rc) {
		fprintf(stderr, "uswap_swapon(\"%s\"): %s\n", spec, strerror(-rc));
		goto out_destroy;
	}

	order = malloc(nr_pages * sizeof(*order));
	if (!order) {
		fprintf(stderr, "out of memory for the page order\n");
		goto out_destroy;
	}
	rc = uswap_mmap(ctx, NULL, nr_pages * DEMO_PAGE_SIZE, (void **)&mem);
	if (rc) {
		fprintf(stderr, "uswap_mmap(%" PRIu64 " bytes): %s\n", nr_pages * DEMO_PAGE_SIZE,
			strerror(-rc));
		goto out_free;
	}
	region_start = (uintptr_t)mem;
	region_end = (uintptr_t)mem + nr_pages * DEMO_PAGE_SIZE;

	printf("uswap demo: %" PRIu64 " pages (%" PRIu64 " MiB), limit %" PRIu64
	       " MiB, swap %s, %s mode, seed %" PRIu64 "\n",
	       nr_pages, (nr_pages * DEMO_PAGE_SIZE) >> 20, o.limit_bytes >> 20, spec,
	       o.mode == USWAP_MODE_SIGNAL ? "signal" : "thread", o.seed);
	fflush(stdout);

	t0 = now_s();
	for (uint64_t pg = 0; pg < nr_pages; pg++)
		fill_page((uint64_t *)(mem + pg * DEMO_PAGE_SIZE), o.seed, pg);
	t_write = now_s() - t0;

	t0 = now_s();
	bad_seq = verify_pass(mem, nr_pages, NULL, o.seed, &first_bad);
	t_seq = now_s() - t0;

	/* Fisher-Yates shuffle: every page once, in a random order. */
	for (uint64_t i = 0; i < nr_pages; i++)
		order[i] = (uint32_t)i;
	rs = mix64(o.seed) | 1;
	for (uint64_t i = nr_pages - 1; i > 0; i--) {
		uint64_t j = xorshift64(&rs) % (i + 1);
		uint32_t tmp = order[i];

		order[i] = order[j];
		order[j] = tmp;
	}
	t0 = now_s();
	bad_rand = verify_pass(mem, nr_pages, order, o.seed, &first_bad_rand);
	t_rand = now_s() - t0;

	printf("write           %10" PRIu64 " pages  %8.3f s\n", nr_pages, t_write);
	printf("read sequential %10" PRIu64 " pages  %8.3f s\n", nr_pages, t_seq);
	printf("read random     %10" PRIu64 " pages  %8.3f s\n", nr_pages, t_rand);
	printf("total                             %8.3f s\n", t_write + t_seq + t_rand);
	print_counters(ctx);

	if (bad_seq || bad_rand) {
		if (!bad_seq)
			first_bad = first_bad_rand;
		printf("DATA CORRUPT at page %" PRIu64 " (%" PRIu64
		       " wrong in sequential read, %" PRIu64 " in random read)\n",
		       first_bad, bad_seq, bad_rand);
		ret = 1;
	} else {
		printf("DATA OK\n");
		ret = 0;
	}
	fflush(stdout);

	rc = uswap_munmap(ctx, mem, nr_pages * DEMO_PAGE_SIZE);
	if (rc) {
		fprintf(stderr, "uswap_munmap: %s\n", strerror(-rc));
		ret = 1;
	}
	region_start = region_end = 0;
out_free:
	free(order);
out_destroy:
	rc = uswap_ctx_destroy(ctx);
	if (rc) {
		fprintf(stderr, "uswap_ctx_destroy: %s\n", strerror(-rc));
		ret = 1;
	}
	return ret;
}
