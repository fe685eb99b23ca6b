/* SPDX-License-Identifier: MIT */
/*
 * uswap.h - swap for Linux, done in user space.
 *
 * Memory mapped through uswap_mmap() lives under the limit of a memory group.
 * When the group is over its limit, cold pages are moved out of the program,
 * compressed (or written to another swap device) and freed; a later access
 * faults, and uswap's own do_swap_page brings the page back.
 *
 * Every function returns 0 on success or a negative errno value; outputs are
 * returned through pointers.  No function prints; diagnostics go to the log
 * callback of struct uswap_opts.  See uswap(7) and one man page per family.
 */
#ifndef USWAP_H
#define USWAP_H

#include <signal.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

#define USWAP_VERSION_MAJOR 0
#define USWAP_VERSION_MINOR 1
#define USWAP_VERSION_PATCH 0
#define USWAP_VERSION_NUMBER (USWAP_VERSION_MAJOR * 10000 + USWAP_VERSION_MINOR * 100 + USWAP_VERSION_PATCH)

/* Run-time version of the library, USWAP_VERSION_NUMBER format. */
int uswap_version(void);

struct uswap_ctx;
struct uswap_group;

/* How faults on managed memory are delivered (struct uswap_opts.mode). */
enum uswap_fault_mode {
	/*
	 * Handler threads read fault events from userfaultfd and resolve them.
	 * Works for every access, including those made by system calls
	 * (read(2) into managed memory, for example).  The default.
	 */
	USWAP_MODE_THREAD = 0,
	/*
	 * The faulting thread resolves its own fault in a SIGBUS handler that
	 * uswap installs (UFFD_FEATURE_SIGBUS).  Lower latency, but: a system
	 * call that touches a non-resident managed page fails with EFAULT
	 * instead of waiting; the program must not replace uswap's SIGBUS
	 * handler (chain to it with uswap_sigbus_dispatch()); and fault
	 * handling runs with the signal mask of the faulting thread.  Opt-in.
	 */
	USWAP_MODE_SIGNAL = 1,
};

/* Log levels for uswap_opts.log. */
enum uswap_log_level { USWAP_LOG_ERR = 3, USWAP_LOG_WARN = 4, USWAP_LOG_INFO = 6, USWAP_LOG_DEBUG = 7 };

struct uswap_opts {
	size_t size;		  /* sizeof(struct uswap_opts): for compatible growth */
	enum uswap_fault_mode mode; /* USWAP_MODE_THREAD by default */
	unsigned int nr_handlers; /* handler threads in thread mode; 0 = default (1) */
	uint64_t limit_bytes;	  /* limit of the root group; 0 = no limit */
	unsigned int flags;	  /* USWAP_F_* */
	/* Called for diagnostics; may be called from any uswap thread. NULL = silent. */
	void (*log)(void *arg, int level, const char *msg);
	void *log_arg;
};

/* uswap_opts.flags */
#define USWAP_F_NO_MOVE (1u << 0)  /* evict with write-protect + copy + MADV_DONTNEED, not UFFDIO_MOVE */
#define USWAP_F_NO_KSWAPD (1u << 1) /* no background reclaim thread: reclaim only on the fault path */
/* Keep the compressed copy of a page read back from a RAM-backed device (zram) while the page
 * stays clean, so evicting it again needs no compression: less CPU, more memory.  Devices whose
 * store is not RAM always do this. */
#define USWAP_F_KEEP_CLEAN (1u << 2)
/* In signal mode, run the background reclaim thread too.  Without it (the default in signal
 * mode, as for the kernel's reclaim under a memory cgroup limit) the faulting thread reclaims
 * for itself, and its unmaps reach no other CPU: on the machine measured this halves the CPU
 * time and the mean access time of a random workload (docs/benchmarks.md).  Thread mode always
 * runs it unless USWAP_F_NO_KSWAPD. */
#define USWAP_F_KSWAPD (1u << 3)
/* Thread mode: do not run the fault handler on the faulting thread's CPU.  By default, with one
 * handler thread, it runs SCHED_IDLE and follows the thread that faults, so that both wake-ups of
 * a fault stay on one CPU (docs/design.md, "Where the handler runs"). */
#define USWAP_F_NO_COLOCATE (1u << 4)
#define USWAP_F_ALL (USWAP_F_NO_MOVE | USWAP_F_NO_KSWAPD | USWAP_F_KEEP_CLEAN | USWAP_F_KSWAPD | \
		     USWAP_F_NO_COLOCATE)

/*
 * uswap_ctx_create - open userfaultfd, start the handler and reclaim threads.
 * @opts may be NULL for defaults.
 * Return: 0; -EINVAL bad opts; -EPERM userfaultfd not permitted (needs
 * CAP_SYS_PTRACE, vm.unprivileged_userfaultfd=1 or access to /dev/userfaultfd);
 * -ENOSYS no userfaultfd; -ENOMEM.
 */
int uswap_ctx_create(const struct uswap_opts *opts, struct uswap_ctx **ctxp);
/*
 * uswap_ctx_destroy - unmap every region, swapoff every device, stop threads.
 * Managed memory must no longer be accessed.  Return: 0; -EINVAL ctx NULL.
 */
int uswap_ctx_destroy(struct uswap_ctx *ctx);

/*
 * uswap_swapon - add a swap device.  @spec is "BACKEND:ARGS", e.g.
 * "zram:lz4:size=4G" or "zram:zstd:size=1G:mem_limit=256M".  Devices with a
 * higher @prio are used first.  *@idp receives the device id (may be NULL).
 * Return: 0; -EINVAL bad spec (the reason is logged); -ENODEV unknown backend;
 * -EBUSY too many devices; -ENOMEM.
 */
int uswap_swapon(struct uswap_ctx *ctx, const char *spec, int prio, int *idp);
/*
 * uswap_swapoff - bring every page stored on device @id back into memory (or
 * onto another device when the group is at its limit), wait for faults that
 * use the device, then remove it.  Return: 0; -EINVAL bad id; -ENOMEM no room
 * anywhere for the pages (the device stays on, nothing is lost); -EIO some
 * pages could not be read (they are poisoned, the device is removed).
 */
int uswap_swapoff(struct uswap_ctx *ctx, int id);

/* Memory groups. */
enum uswap_oom_policy {
	USWAP_OOM_ERROR = 0,  /* the fault is poisoned: SIGBUS for the access, logged */
	USWAP_OOM_KILL = 1,   /* the process is killed with SIGKILL, logged */
	USWAP_OOM_WAIT = 2,   /* wait (bounded, 10 s) for memory, then act as ERROR */
};
/* The root group of @ctx; its limit is uswap_opts.limit_bytes. */
struct uswap_group *uswap_root_group(struct uswap_ctx *ctx);
/*
 * uswap_group_create - a group whose regions together stay under @limit_bytes
 * (rounded down to pages, at least 16 pages; 0 = unlimited).
 * Return: 0; -EINVAL; -ENOSPC too many groups; -ENOMEM.
 */
int uswap_group_create(struct uswap_ctx *ctx, const char *name, uint64_t limit_bytes,
		       struct uswap_group **groupp);
/* Return: 0; -EINVAL; -EBUSY the group still has regions. */
int uswap_group_destroy(struct uswap_group *group);
/* Change the limit; reclaim runs at once if usage is above it.  Return: 0; -EINVAL. */
int uswap_group_set_limit(struct uswap_group *group, uint64_t limit_bytes);
/* Return: 0; -EINVAL. */
int uswap_group_set_oom(struct uswap_group *group, enum uswap_oom_policy policy);

/*
 * uswap_mmap - map @len bytes (rounded up to pages) of private anonymous,
 * zero-filled, read-write memory managed by uswap under @group (NULL = root).
 * Return: 0 with *@addrp set; -EINVAL; -ENOMEM.
 */
int uswap_mmap(struct uswap_ctx *ctx, struct uswap_group *group, size_t len, void **addrp);
/*
 * uswap_munmap - unmap [@addr, @addr+@len) of memory returned by
 * uswap_mmap(): a whole region or any page-aligned part of one (what is
 * left stays managed); swap slots of the pages are freed.
 * Return: 0; -EINVAL @addr unaligned, or the range not inside one region.
 */
int uswap_munmap(struct uswap_ctx *ctx, void *addr, size_t len);

/*
 * uswap_region_find - the managed region whose span contains @addr.  A part
 * unmapped by uswap_munmap() stays in its region's span (reserved, not
 * mapped) until the whole region is unmapped.
 * Return: 0 with *@startp and *@lenp set (either may be NULL); -ENOENT not
 * managed by @ctx; -EINVAL.
 */
int uswap_region_find(struct uswap_ctx *ctx, const void *addr, void **startp, size_t *lenp);

/*
 * uswap_mremap - mremap(2) for managed memory: shrink, grow in place, or
 * move (MREMAP_MAYMOVE, MREMAP_FIXED with @new_addr).  Pages keep their
 * contents wherever they are (resident, swap cache or swap device); nothing
 * is read or written.  [@old_addr, +@old_len) must be inside one region.
 * Return: 0 with *@resultp set; -EINVAL; -ENOMEM (cannot grow in place
 * without MREMAP_MAYMOVE, or out of memory).
 */
int uswap_mremap(struct uswap_ctx *ctx, void *old_addr, size_t old_len, size_t new_len, int flags,
		 void *new_addr, void **resultp);

/*
 * uswap_madvise - madvise(2) for managed memory:
 *   MADV_DONTNEED, MADV_FREE  drop the pages (they read back as zeroes);
 *   MADV_WILLNEED             swap the pages in now;
 *   MADV_COLD                 age them: they are the next to be evicted;
 *   MADV_PAGEOUT              evict them now.
 * The range must be inside one region.  Return: 0; -EINVAL (other advice,
 * unaligned, not managed).
 */
int uswap_madvise(struct uswap_ctx *ctx, void *addr, size_t len, int advice);

/*
 * uswap_mlock - pin [@addr, @addr+@len) in memory (swapped in now, charged,
 * never evicted) or, with @lock false, unpin it.  Return: 0; -EINVAL;
 * -ENOMEM the group's limit cannot hold the pinned pages.
 */
int uswap_mlock(struct uswap_ctx *ctx, void *addr, size_t len, bool lock);

/*
 * fork(2) of a process with managed memory: call uswap_fork_prepare()
 * before fork() (it waits for uswap's threads to be idle and keeps them so),
 * then uswap_fork_parent() in the parent (they resume) and
 * uswap_fork_child() in the child.  The child cannot use the context's
 * threads or userfaultfd: uswap_fork_child() gives it a private copy of all
 * managed memory, every page made resident with its contents (swapped pages
 * read from the copy of the swap devices the child inherited), and the
 * memory is plain memory from then on.  The child must not use @ctx again.
 * Return: 0; -errno (the child's memory could not be made whole: pages that
 * could not be read are left unreadable, SIGBUS on access where possible).
 */
int uswap_fork_prepare(struct uswap_ctx *ctx);
void uswap_fork_parent(struct uswap_ctx *ctx);
int uswap_fork_child(struct uswap_ctx *ctx);

/*
 * Statistics.  Counters are numbered 0..USWAP_NR_STATS-1; names follow
 * /proc/vmstat (pgfault, pgmajfault, pswpin, pswpout, swap_ra, swap_ra_hit...)
 * and zram's mm_stat (orig_data_size, compr_data_size, mem_used_total...).
 */
#define USWAP_NR_STATS 64
struct uswap_stats {
	unsigned int nr;		  /* number of valid entries in value[] */
	uint64_t value[USWAP_NR_STATS];
};
/* Name of counter @i, or NULL if out of range. */
const char *uswap_stat_name(unsigned int i);
/* Index of counter @name.  Return: index >= 0; -ENOENT. */
int uswap_stat_index(const char *name);
/* Counters of @group, or of the whole context if @group is NULL.  Return: 0; -EINVAL. */
int uswap_stats_get(struct uswap_ctx *ctx, struct uswap_group *group, struct uswap_stats *st);

/*
 * uswap_sigbus_dispatch - for programs with their own SIGBUS handler in
 * signal mode: call it first; it returns 1 if the signal was a uswap fault
 * that it resolved (return from your handler), 0 otherwise.
 */
int uswap_sigbus_dispatch(int sig, siginfo_t *info, void *uctx);

/* Reclaim up to @nr_pages from @group (NULL = root) now.  *@reclaimedp may be NULL. Return: 0; -EINVAL. */
int uswap_reclaim(struct uswap_ctx *ctx, struct uswap_group *group, uint64_t nr_pages,
		  uint64_t *reclaimedp);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* USWAP_H */
