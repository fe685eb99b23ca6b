/* SPDX-License-Identifier: MIT */
/*
 * preload.h - libuswap_preload.so, the LD_PRELOAD shim of `uswap run`:
 * shared declarations of its files.
 *
 *   preload.c  configuration, the context, fork, the managed-range list and the
 *              interposed memory calls (mmap, munmap, mremap, madvise, mlock...)
 *   stats.c    the statistics snapshot, the stats socket, the status pipe to the CLI
 *   exec.c     the exec family: an exec in the program's own process stays managed
 *   wrap.c     what the library's objects call instead of malloc and pthread_create
 *              (linked with -Wl,--wrap): uswap's own memory never comes from the
 *              program's allocator, and uswap's threads never have memory managed
 *
 * The environment contract with tools/uswap.c is in tools/run_env.h.
 */
#ifndef USWAP_PRELOAD_H
#define USWAP_PRELOAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uswap.h"

/* Why a mapping was left to the kernel (counted in the statistics). */
enum shim_unmanaged {
	UNMANAGED_SMALL,    /* private anonymous below the threshold */
	UNMANAGED_FILE,	    /* file-backed, private */
	UNMANAGED_SHARED,   /* MAP_SHARED, anonymous or file */
	UNMANAGED_PROT,	    /* not PROT_READ|PROT_WRITE (PROT_NONE reservations...) */
	UNMANAGED_FIXED,    /* MAP_FIXED or MAP_FIXED_NOREPLACE at a given address */
	UNMANAGED_SPECIAL,  /* MAP_HUGETLB, MAP_GROWSDOWN, MAP_STACK */
	UNMANAGED_FALLBACK, /* uswap_mmap failed: mapped by the kernel instead */
	NR_UNMANAGED,
};

struct shim_counters {
	_Atomic uint64_t mmap_managed;	      /* calls */
	_Atomic uint64_t mmap_managed_bytes;
	_Atomic uint64_t unmanaged[NR_UNMANAGED];	/* calls */
	_Atomic uint64_t unmanaged_bytes[NR_UNMANAGED]; /* bytes asked for */
	_Atomic uint64_t munmap_managed;
	_Atomic uint64_t mremap_managed;
	_Atomic uint64_t madvise_managed;
	_Atomic uint64_t mlock_managed;
	_Atomic uint64_t lib_errors; /* library calls that failed (their errno returned) */
	_Atomic uint64_t forks;
};

extern struct shim_counters shim_count;
extern const char *const shim_unmanaged_name[NR_UNMANAGED];

struct shim_config {
	uint64_t limit_bytes;
	uint64_t threshold_bytes;
	int mode;
	bool follow_exec;
	int status_fd; /* -1: none */
	bool send_stat;
};
extern struct shim_config shim_cfg;

/* preload.c */
/* The context while this process manages memory, else NULL (forked child,
 * not configured, uswap's own threads, calls made from inside the shim). */
struct uswap_ctx *shim_ctx(void);
/* The context regardless of the calling thread (statistics). */
struct uswap_ctx *shim_ctx_any(void);
/* Managed bytes and ranges now, and the peak of managed bytes. */
void shim_managed_totals(uint64_t *bytesp, uint64_t *nrp, uint64_t *peakp);
/* Bytes of [start, end) that are managed. */
uint64_t shim_managed_overlap(uintptr_t start, uintptr_t end);

/* stats.c */
/* Write the snapshot ("name value" lines) into @buf.  Return: its length. */
size_t shim_snapshot(char *buf, size_t size);
/* Start the stats socket "\0uswap.<pid>".  Return: 0 or -errno. */
int shim_server_start(void);
/* Messages to the CLI over the status pipe (no-ops without one). */
void shim_status_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void shim_status_stat(void);
void shim_status_close(void);
/* Log callback for uswap_opts.log. */
void shim_log(void *arg, int level, const char *msg);

/* exec.c */
/* Keep the variables env_strip() removes, for an exec of the program itself. */
void shim_exec_save_env(void);

/* wrap.c */
/* True in threads uswap (or the shim) started. */
bool shim_internal_thread(void);
/* Set while the calling thread runs shim or library code. */
extern _Thread_local int shim_depth __attribute__((tls_model("initial-exec")));

#endif
