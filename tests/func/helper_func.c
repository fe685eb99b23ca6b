/* SPDX-License-Identifier: MIT */
/* helper_func.c - shared setup for functional tests (real userfaultfd). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "helper_func.h"

static void log_stderr(void *arg, int level, const char *msg)
{
	(void)arg;
	if (level <= USWAP_LOG_WARN)
		fprintf(stderr, "uswap[%d] pid %d: %s\n", level, (int)getpid(), msg);
}

struct uswap_ctx *func_ctx(uint64_t limit_bytes, enum uswap_fault_mode mode, unsigned int flags)
{
	struct uswap_opts o = { .size = sizeof(o), .mode = mode, .limit_bytes = limit_bytes,
				.flags = flags };
	return func_ctx_opts(&o);
}

struct uswap_ctx *func_ctx_opts(struct uswap_opts *o)
{
	struct uswap_ctx *ctx = NULL;
	int rc;

	if (!o->log)
		o->log = log_stderr;
	rc = uswap_ctx_create(o, &ctx);
	if (rc == -EPERM || rc == -ENOSYS)
		SKIP("userfaultfd unavailable (%s)", strerror(-rc));
	CHECK_EQ(rc, 0);
	return ctx;
}

uint64_t stat_of(struct uswap_ctx *ctx, struct uswap_group *g, const char *name)
{
	struct uswap_stats st;
	int i = uswap_stat_index(name);
	if (i < 0) {
		fprintf(stderr, "no counter %s\n", name);
		exit(1);
	}
	CHECK_EQ(uswap_stats_get(ctx, g, &st), 0);
	return st.value[i];
}

void print_stats(struct uswap_ctx *ctx)
{
	struct uswap_stats st;
	uswap_stats_get(ctx, NULL, &st);
	for (unsigned int i = 0; i < st.nr; i++)
		if (st.value[i])
			fprintf(stderr, "  %-20s %llu\n", uswap_stat_name(i), (unsigned long long)st.value[i]);
}

void check_invariants(struct uswap_ctx *ctx)
{
	int rc = ctx_check_invariants(ctx);
	if (rc && getenv("RECHECK")) {
		sleep(1);
		rc = ctx_check_invariants(ctx);
		fprintf(stderr, "recheck after 1s: %d\n", rc);
	}
	if (rc) {
		print_stats(ctx);
		fprintf(stderr, "invariant check failed: %d\n", rc);
		exit(1);
	}
}
