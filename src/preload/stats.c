// SPDX-License-Identifier: MIT
/*
 * stats.c - what the shim tells: a snapshot of uswap's counters and its own
 * ("name value" lines), served on the abstract unix socket "\0uswap.<pid>" for
 * `uswap stat PID`, and sent to `uswap run` over the status pipe at exit.
 *
 * Nothing here allocates from the program's heap: buffers are static or on the
 * stack, files are read with read(2).
 */
#include <sys/prctl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <fcntl.h>
#include <unistd.h>

#include "../../tools/run_env.h"
#include "preload.h"

/* ---- the snapshot ------------------------------------------------------------------------ */

struct out {
	char *buf;
	size_t size, len;
};

static void put(struct out *o, const char *name, unsigned long long v)
{
	int n;

	if (o->len >= o->size)
		return;
	n = snprintf(o->buf + o->len, o->size - o->len, "%s %llu\n", name, v);
	if (n > 0)
		o->len += (size_t)n < o->size - o->len ? (size_t)n : o->size - o->len - 1;
}

/* Virtual memory by kind, from /proc/self/maps. */
struct vm_kinds {
	uint64_t managed, anon_other, heap, file, shared, stack;
};

static void classify_line(char *line, struct vm_kinds *k)
{
	unsigned long long start, end, off, ino;
	char perms[8] = "", dev[16];
	int path = 0;

	if (sscanf(line, "%llx-%llx %7s %llx %15s %llu %n", &start, &end, perms, &off, dev, &ino,
		   &path) < 6)
		return;
	const char *name = path ? line + path : "";
	uint64_t len = end - start;

	if (perms[3] == 's')
		k->shared += len;
	else if (!strcmp(name, "[heap]"))
		k->heap += len;
	else if (!strncmp(name, "[stack", 6))
		k->stack += len;
	else if (name[0] == '[') /* vdso, vvar, vsyscall */
		return;
	else if (ino || name[0] == '/')
		k->file += len;
	else {
		uint64_t m = shim_managed_overlap((uintptr_t)start, (uintptr_t)end);
		k->managed += m;
		k->anon_other += len - m;
	}
}

static void read_maps(struct vm_kinds *k)
{
	char buf[8192];
	size_t have = 0;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		char *p, *nl;
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		for (p = buf; (nl = strchr(p, '\n')); p = nl + 1) {
			*nl = '\0';
			classify_line(p, k);
		}
		have = (size_t)(buf + have - p);
		memmove(buf, p, have);
		if (have == sizeof(buf) - 1)
			have = 0; /* a line longer than the buffer: drop it */
	}
	close(fd);
}

/* VmRSS and VmHWM in bytes. */
static void read_status(uint64_t *rss, uint64_t *hwm)
{
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n;
	char *p;

	*rss = *hwm = 0;
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	if ((p = strstr(buf, "VmRSS:")))
		*rss = strtoull(p + 6, NULL, 10) * 1024;
	if ((p = strstr(buf, "VmHWM:")))
		*hwm = strtoull(p + 6, NULL, 10) * 1024;
}

size_t shim_snapshot(char *buf, size_t size)
{
	struct out o = { buf, size, 0 };
	struct uswap_ctx *ctx = shim_ctx_any();
	struct uswap_stats st;
	struct vm_kinds k = { 0 };
	uint64_t bytes, nr, peak, rss, hwm;
	char name[64];

	shim_depth++;
	put(&o, "pid", (unsigned long long)getpid());
	put(&o, "limit_bytes", shim_cfg.limit_bytes);
	put(&o, "threshold_bytes", shim_cfg.threshold_bytes);
	put(&o, "mode_signal", shim_cfg.mode == USWAP_MODE_SIGNAL);
	if (ctx && uswap_stats_get(ctx, NULL, &st) == 0) {
		for (unsigned int i = 0; i < st.nr; i++) {
			const char *n = uswap_stat_name(i);
			if (n)
				put(&o, n, st.value[i]);
		}
	}
	shim_managed_totals(&bytes, &nr, &peak);
	put(&o, "managed_bytes", bytes);
	put(&o, "managed_regions", nr);
	put(&o, "managed_bytes_max", peak);
	put(&o, "mmap_managed", atomic_load(&shim_count.mmap_managed));
	put(&o, "mmap_managed_bytes", atomic_load(&shim_count.mmap_managed_bytes));
	for (int i = 0; i < NR_UNMANAGED; i++) {
		snprintf(name, sizeof(name), "mmap_unmanaged_%s", shim_unmanaged_name[i]);
		put(&o, name, atomic_load(&shim_count.unmanaged[i]));
		snprintf(name, sizeof(name), "mmap_unmanaged_%s_bytes", shim_unmanaged_name[i]);
		put(&o, name, atomic_load(&shim_count.unmanaged_bytes[i]));
	}
	put(&o, "munmap_managed", atomic_load(&shim_count.munmap_managed));
	put(&o, "mremap_managed", atomic_load(&shim_count.mremap_managed));
	put(&o, "madvise_managed", atomic_load(&shim_count.madvise_managed));
	put(&o, "mlock_managed", atomic_load(&shim_count.mlock_managed));
	put(&o, "shim_lib_errors", atomic_load(&shim_count.lib_errors));
	put(&o, "forks", atomic_load(&shim_count.forks));
	read_maps(&k);
	put(&o, "vm_managed_bytes", k.managed);
	put(&o, "vm_anon_unmanaged_bytes", k.anon_other);
	put(&o, "vm_heap_bytes", k.heap);
	put(&o, "vm_file_bytes", k.file);
	put(&o, "vm_shared_bytes", k.shared);
	put(&o, "vm_stack_bytes", k.stack);
	read_status(&rss, &hwm);
	put(&o, "rss_bytes", rss);
	put(&o, "rss_max_bytes", hwm);
	shim_depth--;
	return o.len;
}

/* ---- the stats socket -------------------------------------------------------------------- */

static int server_fd = -1;

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void *server_main(void *arg)
{
	static char buf[16384];

	prctl(PR_SET_NAME, "uswap-stat");
	for (;;) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		int c = accept4(server_fd, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL;
		}
		/* Only root and the program's own user read its statistics. */
		if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
		    (cred.uid == 0 || cred.uid == geteuid()))
			write_all(c, buf, shim_snapshot(buf, sizeof(buf)));
		close(c);
	}
}

int shim_server_start(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	pthread_attr_t attr;
	pthread_t t;
	socklen_t len;
	int n, rc;

	server_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (server_fd < 0)
		return -errno;
	n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, RUN_SOCKET_FMT, (int)getpid());
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	if (bind(server_fd, (struct sockaddr *)&sa, len) || listen(server_fd, 8)) {
		rc = -errno;
		goto out_close;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 << 10);
	rc = -pthread_create(&t, &attr, server_main, NULL);
	pthread_attr_destroy(&attr);
	if (rc)
		goto out_close;
	return 0;
out_close:
	close(server_fd);
	server_fd = -1;
	return rc;
}

/* ---- the status pipe --------------------------------------------------------------------- */

/* Serialises writers so that the final snapshot is not cut by a log line. */
static atomic_flag pipe_busy = ATOMIC_FLAG_INIT;

void shim_status_line(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	if (shim_cfg.status_fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	if ((size_t)n >= sizeof(buf)) {
		n = sizeof(buf) - 1;
		buf[n - 1] = '\n';
	}
	/* A log line may come from a signal handler: never wait for the lock. */
	if (atomic_flag_test_and_set(&pipe_busy))
		return;
	write_all(shim_cfg.status_fd, buf, (size_t)n);
	atomic_flag_clear(&pipe_busy);
}

void shim_status_stat(void)
{
	static char buf[16384];
	char head[64];
	size_t len;
	int n;

	if (shim_cfg.status_fd < 0)
		return;
	len = shim_snapshot(buf, sizeof(buf));
	n = snprintf(head, sizeof(head), "stat %d %zu\n", (int)getpid(), len);
	while (atomic_flag_test_and_set(&pipe_busy))
		;
	write_all(shim_cfg.status_fd, head, (size_t)n);
	write_all(shim_cfg.status_fd, buf, len);
	atomic_flag_clear(&pipe_busy);
}

void shim_status_close(void)
{
	if (shim_cfg.status_fd >= 0)
		close(shim_cfg.status_fd);
	shim_cfg.status_fd = -1;
	if (server_fd >= 0)
		close(server_fd);
	server_fd = -1;
}

void shim_log(void *arg, int level, const char *msg)
{
	if (level > USWAP_LOG_WARN)
		return;
	if (shim_cfg.status_fd >= 0)
		shim_status_line("log %d %d %s\n", (int)getpid(), level, msg);
	else
		dprintf(STDERR_FILENO, "uswap: %s\n", msg);
}
