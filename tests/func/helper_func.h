/* SPDX-License-Identifier: MIT */
#ifndef USWAP_HELPER_FUNC_H
#define USWAP_HELPER_FUNC_H
#include <stdint.h>
#include "uswap.h"
#include "internal.h"

/* A context for a test; exits 77 when userfaultfd is not available. */
struct uswap_ctx *func_ctx(uint64_t limit_bytes, enum uswap_fault_mode mode, unsigned int flags);
/* The same from full options (log defaults to stderr). */
struct uswap_ctx *func_ctx_opts(struct uswap_opts *o);
uint64_t stat_of(struct uswap_ctx *ctx, struct uswap_group *g, const char *name);
void print_stats(struct uswap_ctx *ctx);
void check_invariants(struct uswap_ctx *ctx);
#endif
