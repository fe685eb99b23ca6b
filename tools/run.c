// SPDX-License-Identifier: MIT
/*
 * run.c - `uswap run`: run a program with libuswap_preload.so (and jemalloc)
 * preloaded, wait for it, and exit with its status.
 *
 * Before the program starts, everything that can be checked here is, so that
 * each failure gets its own message and exit status (uswap_tool.h): options,
 * sizes, the program on PATH, its ELF interpreter (a static binary cannot load
 * the shim), and a probe context with the same limit and devices (userfaultfd
 * permission, a limit below the library's minimum, bad device specs).
 *
 * The program is a child, not an exec of this process: uswap stays to read the
 * status pipe (src/preload, tools/run_env.h) - the shim's handshake, library
 * errors (an OOM under the limit is told as such), the final statistics - and
 * to wait with a pidfd, so that nothing here can hang once the program is gone.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run_env.h"
#include "uswap.h"
#include "uswap_tool.h"

#ifndef USWAP_PRELOAD_INSTALLED
#define USWAP_PRELOAD_INSTALLED "/usr/local/lib/uswap/libuswap_preload.so"
#endif

extern char **environ;

struct run_opts {
	uint64_t mem, threshold;
	char swap[1024];
	bool stat, json, follow_exec, no_colocate;
	const char *stat_file;
	int mode;
	int malloc_jemalloc; /* -1: default (if installed) */
};

/* ---- arguments --------------------------------------------------------------------------- */

/* "64M", "1G", "4096", "512KiB".  Return: 0; -1 not a size. */
static int parse_size(const char *s, uint64_t *out, bool allow_zero)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (shift && (!strcmp(end, "iB") || !strcmp(end, "B")))
		end += strlen(end);
	else if (!shift && !strcmp(end, "B"))
		end++;
	if (*end || (v && (v << shift) >> shift != v) || (!v && !allow_zero))
		return -1;
	*out = v << shift;
	return 0;
}

static const char *jemalloc_path(void)
{
	static const char *const paths[] = {
		"/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
		"/usr/lib/aarch64-linux-gnu/libjemalloc.so.2",
		"/usr/lib64/libjemalloc.so.2",
		"/usr/lib/libjemalloc.so.2",
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], R_OK) == 0)
			return paths[i];
	return NULL;
}

/* The shim next to this executable (build tree), under ../lib/uswap, or installed. */
static const char *shim_path(void)
{
	static char path[PATH_MAX];
	const char *env = getenv("USWAP_PRELOAD_LIB");
	char exe[PATH_MAX];
	ssize_t n;

	if (env && *env)
		return access(env, R_OK) == 0 ? env : NULL;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			if (snprintf(path, sizeof(path), "%s/libuswap_preload.so", exe) <
				    (int)sizeof(path) && access(path, R_OK) == 0)
				return path;
			if (snprintf(path, sizeof(path), "%s/../lib/uswap/libuswap_preload.so", exe) <
				    (int)sizeof(path) && access(path, R_OK) == 0)
				return path;
		}
	}
	return access(USWAP_PRELOAD_INSTALLED, R_OK) == 0 ? USWAP_PRELOAD_INSTALLED : NULL;
}

/* ---- the program ------------------------------------------------------------------------- */

/* As execvp(3) finds it.  Return: 0; EXIT_NOTFOUND; EXIT_NOEXEC. */
static int resolve(const char *prog, char *out, size_t size)
{
	const char *path = getenv("PATH");
	int err = ENOENT;
	struct stat st;

	if (strchr(prog, '/')) {
		snprintf(out, size, "%s", prog);
		if (stat(out, &st))
			return EXIT_NOTFOUND;
		return S_ISREG(st.st_mode) && access(out, X_OK) == 0 ? 0 : EXIT_NOEXEC;
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path;; p++) {
		const char *q = strchr(p, ':');
		size_t n = q ? (size_t)(q - p) : strlen(p);
		snprintf(out, size, "%.*s%s%s", (int)n, n ? p : ".", "/", prog);
		if (stat(out, &st) == 0) {
			if (S_ISREG(st.st_mode) && access(out, X_OK) == 0)
				return 0;
			err = EACCES;
		}
		if (!q)
			break;
		p = q;
	}
	return err == EACCES ? EXIT_NOEXEC : EXIT_NOTFOUND;
}

/*
 * Can the shim load into @path?  A script is judged by its interpreter.
 * Return: 0 yes (or not an ELF file: exec(2) decides); else writes why into @why.
 */
static int check_loadable(const char *path, char *why, size_t size, int depth)
{
	unsigned char buf[256];
	Elf64_Ehdr eh;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	int rc = 0;

	if (fd < 0)
		return 0;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n >= 2 && buf[0] == '#' && buf[1] == '!' && depth < 4) {
		char interp[256];
		buf[n] = '\0';
		close(fd);
		if (sscanf((char *)buf + 2, " %255s", interp) == 1 && interp[0] == '/')
			return check_loadable(interp, why, size, depth + 1);
		return 0;
	}
	if (n < (ssize_t)sizeof(eh) || memcmp(buf, ELFMAG, SELFMAG))
		goto out;
	if (buf[EI_CLASS] != ELFCLASS64) {
		snprintf(why, size, "%s is a 32-bit program: the shim cannot load into it", path);
		rc = -1;
		goto out;
	}
	memcpy(&eh, buf, sizeof(eh));
	bool interp = false;
	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * eh.e_phentsize)) !=
		    (ssize_t)sizeof(ph))
			break;
		if (ph.p_type == PT_INTERP)
			interp = true;
	}
	if (!interp) {
		snprintf(why, size,
			 "%s is statically linked: the shim cannot load into a statically linked program",
			 path);
		rc = -1;
	}
out:
	close(fd);
	return rc;
}

/* ---- the probe context ------------------------------------------------------------------- */

static char probe_msg[512];

static void probe_log(void *arg, int level, const char *msg)
{
	if (level <= USWAP_LOG_ERR && !probe_msg[0])
		snprintf(probe_msg, sizeof(probe_msg), "%s", msg);
}

static int probe(const struct run_opts *o)
{
	struct uswap_opts opts = {
		.size = sizeof(opts),
		.mode = o->mode,
		.limit_bytes = o->mem,
		.log = probe_log,
	};
	struct uswap_ctx *ctx;
	char specs[sizeof(o->swap)];
	int rc = uswap_ctx_create(&opts, &ctx);

	if (rc == -EPERM) {
		fprintf(stderr, "uswap: no permission to use userfaultfd: run as root, give "
				"CAP_SYS_PTRACE, set vm.unprivileged_userfaultfd=1, or grant "
				"access to /dev/userfaultfd\n");
		return EXIT_PERM;
	}
	if (rc == -EINVAL) {
		fprintf(stderr, "uswap: --mem %llu bytes is too small to make progress (the least "
				"is 16 pages, 64 KiB)\n", (unsigned long long)o->mem);
		return EXIT_LIMIT;
	}
	if (rc < 0) {
		fprintf(stderr, "uswap: cannot create a uswap context: %s%s%s\n", strerror(-rc),
			probe_msg[0] ? ": " : "", probe_msg);
		return rc == -ENOSYS ? EXIT_PERM : EXIT_INTERNAL;
	}
	snprintf(specs, sizeof(specs), "%s", o->swap);
	for (char *save = NULL, *s = strtok_r(specs, ";", &save); s; s = strtok_r(NULL, ";", &save)) {
		probe_msg[0] = '\0';
		rc = uswap_swapon(ctx, s, 0, NULL);
		if (rc < 0) {
			fprintf(stderr, "uswap: bad --swap '%s': %s\n", s,
				probe_msg[0] ? probe_msg : strerror(-rc));
			uswap_ctx_destroy(ctx);
			return EXIT_BADSIZE;
		}
	}
	uswap_ctx_destroy(ctx);
	return 0;
}

/* ---- environment ------------------------------------------------------------------------- */

static char **build_env(const struct run_opts *o, const char *shim, const char *jemalloc,
			int status_fd)
{
	size_t n = 0, j = 0;
	const char *old_preload = getenv("LD_PRELOAD");
	char **env;
	struct stat st;

	while (environ[n])
		n++;
	env = calloc(n + 16, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) && strncmp(environ[i], "USWAP_", 6))
			env[j++] = environ[i];
	if (fstat(status_fd, &st))
		return NULL;
	if (asprintf(&env[j++], "LD_PRELOAD=%s%s%s%s%s", shim, jemalloc ? ":" : "",
		     jemalloc ? jemalloc : "", old_preload && *old_preload ? ":" : "",
		     old_preload ? old_preload : "") < 0 ||
	    asprintf(&env[j++], RUN_ENV_MEM "=%llu", (unsigned long long)o->mem) < 0 ||
	    asprintf(&env[j++], RUN_ENV_SWAP "=%s", o->swap) < 0 ||
	    asprintf(&env[j++], RUN_ENV_MODE "=%s",
		     o->mode == USWAP_MODE_SIGNAL ? "signal" : "thread") < 0 ||
	    asprintf(&env[j++], RUN_ENV_THRESHOLD "=%llu", (unsigned long long)o->threshold) < 0 ||
	    asprintf(&env[j++], RUN_ENV_FOLLOW_EXEC "=%d", o->follow_exec) < 0 ||
	    asprintf(&env[j++], RUN_ENV_COLOCATE "=%d", !o->no_colocate) < 0 ||
	    asprintf(&env[j++], RUN_ENV_STAT "=%d", o->stat) < 0 ||
	    asprintf(&env[j++], RUN_ENV_STATUS_FD "=%d:%llu", status_fd,
		     (unsigned long long)st.st_ino) < 0 ||
	    asprintf(&env[j++], RUN_ENV_STRIP "=%s%s%s", shim, jemalloc ? ":" : "",
		     jemalloc ? jemalloc : "") < 0)
		return NULL;
	env[j] = NULL;
	return env;
}

/* ---- the status pipe --------------------------------------------------------------------- */

struct status {
	pid_t pid;
	bool ready, oom;
	char error_kind[16];
	char error_msg[512];
	char *stat; /* the final snapshot */
	size_t stat_len;
	/* unparsed input */
	char *buf;
	size_t len, cap;
};

/* Consume complete messages from st->buf. */
static void status_parse(struct status *st)
{
	size_t off = 0;

	for (;;) {
		char *p = st->buf + off, *nl = memchr(p, '\n', st->len - off);
		char kind[16], msg[512];
		int pid, level, n = 0;
		size_t len;

		if (!nl)
			break;
		*nl = '\0';
		if (sscanf(p, "stat %d %zu%n", &pid, &len, &n) == 2 && n) {
			size_t body = (size_t)(nl + 1 - st->buf);
			if (st->len - body < len) {
				*nl = '\n';
				break; /* wait for the rest */
			}
			if (pid == st->pid) {
				free(st->stat);
				st->stat = malloc(len + 1);
				if (st->stat) {
					memcpy(st->stat, st->buf + body, len);
					st->stat[len] = '\0';
					st->stat_len = len;
				}
			}
			off = body + len;
			continue;
		}
		if (sscanf(p, "ready %d", &pid) == 1) {
			if (pid == st->pid)
				st->ready = true;
		} else if (sscanf(p, "error %d %15s %511[^\n]", &pid, kind, msg) == 3) {
			if (pid == st->pid) {
				snprintf(st->error_kind, sizeof(st->error_kind), "%s", kind);
				snprintf(st->error_msg, sizeof(st->error_msg), "%s", msg);
			}
		} else if (sscanf(p, "log %d %d %511[^\n]", &pid, &level, msg) == 3) {
			if (strstr(msg, "out of memory"))
				st->oom = true;
			fprintf(stderr, "uswap: [%d] %s\n", pid, msg);
		}
		off = (size_t)(nl + 1 - st->buf);
	}
	memmove(st->buf, st->buf + off, st->len - off);
	st->len -= off;
}

/* Read what is there.  Return: 1 more may come; 0 EOF or nothing now (non-blocking). */
static int status_read(struct status *st, int fd)
{
	for (;;) {
		ssize_t n;
		if (st->cap - st->len < 4096) {
			size_t cap = st->cap ? st->cap * 2 : 16384;
			char *b = realloc(st->buf, cap);
			if (!b)
				return 0;
			st->buf = b;
			st->cap = cap;
		}
		n = read(fd, st->buf + st->len, st->cap - st->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 && errno == EAGAIN ? 1 : 0;
		st->len += (size_t)n;
		status_parse(st);
	}
}

/* ---- running ----------------------------------------------------------------------------- */

static volatile sig_atomic_t child_pid;

static void forward_signal(int sig)
{
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
}

static int run_child(const char *path, char **argv, char **env, int status_w, int err_w)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };
	int e;

	/* The program dies with uswap: a killed uswap (a test's timeout) leaves nothing. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &sa, NULL);
	fcntl(status_w, F_SETFD, 0); /* the shim's copy crosses exec */
	execve(path, argv, env);
	e = errno;
	if (write(err_w, &e, sizeof(e)) < 0)
		(void)0;
	_exit(EXIT_NOTFOUND);
}

static void print_stats(const struct run_opts *o, struct status *st, const char *prog, int code)
{
	static struct snapshot snap;
	FILE *f = stderr;

	if (!st->stat || snapshot_parse(st->stat, st->stat_len, &snap)) {
		fprintf(stderr, "uswap: no statistics: %s ended without running its exit handlers "
				"(killed, or _exit)\n", prog);
		return;
	}
	if (o->stat_file && !(f = fopen(o->stat_file, "w"))) {
		fprintf(stderr, "uswap: %s: %s\n", o->stat_file, strerror(errno));
		return;
	}
	snapshot_print(f, &snap, prog, o->json, code);
	if (f != stderr)
		fclose(f);
}

static int wait_program(const struct run_opts *o, pid_t pid, int status_r, const char *prog)
{
	struct status st = { .pid = pid };
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	bool pipe_open = true;
	int wstatus = 0, code;

	/* Read what is there, never wait in read(): the loop waits in poll(). */
	fcntl(status_r, F_SETFL, O_NONBLOCK);
	for (;;) {
		struct pollfd pfd[2] = { { .fd = pidfd, .events = POLLIN },
					 { .fd = pipe_open ? status_r : -1, .events = POLLIN } };
		if (pidfd < 0) {
			/* No pidfd (old kernel): the pipe's EOF, then waitpid. */
			if (!pipe_open)
				break;
			pfd[0].fd = -1;
		}
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			pipe_open = status_read(&st, status_r) != 0;
		if (pfd[0].revents)
			break;
	}
	while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	child_pid = 0;
	/* The program is gone: what it wrote is in the pipe (others may hold it open). */
	fcntl(status_r, F_SETFL, O_NONBLOCK);
	if (pipe_open)
		status_read(&st, status_r);

	if (st.error_kind[0]) {
		fprintf(stderr, "uswap: the shim failed to initialise in %s: %s\n", prog, st.error_msg);
		if (!strcmp(st.error_kind, "perm"))
			return EXIT_PERM;
		if (!strcmp(st.error_kind, "limit"))
			return EXIT_LIMIT;
		return EXIT_SHIM;
	}
	if (!st.ready) {
		fprintf(stderr, "uswap: the shim did not load into %s (LD_PRELOAD ignored: a setuid "
				"program, or a loader that does not read it)\n", prog);
		return EXIT_SHIM;
	}
	code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
	if (o->stat)
		print_stats(o, &st, prog, code);
	if (WIFSIGNALED(wstatus)) {
		int sig = WTERMSIG(wstatus);
		if (st.oom && (sig == SIGBUS || sig == SIGKILL)) {
			fprintf(stderr, "uswap: %s ran out of memory under the limit of --mem %llu "
					"(nothing left to swap out): raise --mem\n", prog,
				(unsigned long long)o->mem);
			return EXIT_LIMIT;
		}
		if (sig != SIGINT && sig != SIGPIPE)
			fprintf(stderr, "uswap: %s killed by signal %d (%s)%s\n", prog, sig,
				strsignal(sig), WCOREDUMP(wstatus) ? ", core dumped" : "");
	}
	free(st.buf);
	free(st.stat);
	return code;
}

enum { OPT_MEM = 256, OPT_SWAP, OPT_STAT, OPT_JSON, OPT_MODE, OPT_THRESHOLD, OPT_FOLLOW,
       OPT_NO_COLOCATE, OPT_MALLOC, OPT_STAT_FILE, OPT_HELP };

static const struct option run_options[] = {
	{ "mem", required_argument, NULL, OPT_MEM },
	{ "swap", required_argument, NULL, OPT_SWAP },
	{ "stat", no_argument, NULL, OPT_STAT },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "stat-file", required_argument, NULL, OPT_STAT_FILE },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "threshold", required_argument, NULL, OPT_THRESHOLD },
	{ "follow-exec", no_argument, NULL, OPT_FOLLOW },
	{ "no-colocate", no_argument, NULL, OPT_NO_COLOCATE },
	{ "malloc", required_argument, NULL, OPT_MALLOC },
	{ "help", no_argument, NULL, OPT_HELP },
	{ 0 },
};

static uint64_t mem_total(void)
{
	unsigned long long kb = 0;
	char line[256];
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb ? (uint64_t)kb * 1024 : 4ull << 30;
}

int cmd_run(int argc, char **argv)
{
	struct run_opts o = { .threshold = RUN_DEFAULT_THRESHOLD, .malloc_jemalloc = -1 };
	char path[PATH_MAX], why[PATH_MAX + 128];
	const char *shim, *jemalloc = NULL;
	int status_p[2], err_p[2], c, rc, e;
	bool have_mem = false;
	size_t swap_len = 0;
	char **env;
	pid_t pid;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+", run_options, NULL)) != -1) {
		switch (c) {
		case OPT_MEM:
			if (parse_size(optarg, &o.mem, false)) {
				fprintf(stderr, "uswap: bad size for --mem: '%s' (e.g. 256M, 2G)\n", optarg);
				return EXIT_BADSIZE;
			}
			have_mem = true;
			break;
		case OPT_THRESHOLD:
			if (parse_size(optarg, &o.threshold, true)) {
				fprintf(stderr, "uswap: bad size for --threshold: '%s' (e.g. 1M)\n", optarg);
				return EXIT_BADSIZE;
			}
			break;
		case OPT_SWAP:
			if (!*optarg || strchr(optarg, ';') ||
			    swap_len + strlen(optarg) + 2 > sizeof(o.swap)) {
				fprintf(stderr, "uswap: bad --swap '%s'\n", optarg);
				return EXIT_BADSIZE;
			}
			swap_len += (size_t)snprintf(o.swap + swap_len, sizeof(o.swap) - swap_len,
						     "%s%s", swap_len ? ";" : "", optarg);
			break;
		case OPT_STAT:
			o.stat = true;
			break;
		case OPT_JSON:
			o.json = true;
			break;
		case OPT_STAT_FILE:
			o.stat_file = optarg;
			o.stat = true;
			break;
		case OPT_MODE:
			if (!strcmp(optarg, "thread")) {
				o.mode = USWAP_MODE_THREAD;
			} else if (!strcmp(optarg, "signal")) {
				o.mode = USWAP_MODE_SIGNAL;
			} else {
				fprintf(stderr, "uswap: --mode must be thread or signal, not '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_FOLLOW:
			o.follow_exec = true;
			break;
		case OPT_NO_COLOCATE:
			o.no_colocate = true;
			break;
		case OPT_MALLOC:
			if (!strcmp(optarg, "jemalloc")) {
				o.malloc_jemalloc = 1;
			} else if (!strcmp(optarg, "system")) {
				o.malloc_jemalloc = 0;
			} else {
				fprintf(stderr, "uswap: --malloc must be jemalloc or system, not '%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_HELP:
			printf("usage: uswap run --mem SIZE [OPTIONS] [--] PROGRAM [ARGS...]; see uswap(1)\n");
			return 0;
		case ':':
			fprintf(stderr, "uswap: option '%s' needs an argument\n", argv[optind - 1]);
			return EXIT_USAGE;
		default:
			if (optopt)
				fprintf(stderr, "uswap: unknown option '-%c'\n", optopt);
			else
				fprintf(stderr, "uswap: unknown option '%s'\n", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (!have_mem) {
		fprintf(stderr, "uswap: run needs --mem SIZE\n");
		return EXIT_USAGE;
	}
	if (optind >= argc) {
		fprintf(stderr, "uswap: run needs a PROGRAM\n");
		return EXIT_USAGE;
	}
	if (!o.swap[0])
		snprintf(o.swap, sizeof(o.swap), "zram:lz4:size=%llu",
			 (unsigned long long)(mem_total() & ~4095ull));
	if (o.malloc_jemalloc != 0) {
		jemalloc = jemalloc_path();
		if (!jemalloc && o.malloc_jemalloc == 1) {
			fprintf(stderr, "uswap: --malloc jemalloc: libjemalloc.so.2 not found (Debian: "
					"apt-get install libjemalloc2)\n");
			return EXIT_USAGE;
		}
	}

	rc = resolve(argv[optind], path, sizeof(path));
	if (rc == EXIT_NOTFOUND) {
		fprintf(stderr, "uswap: %s: program not found\n", argv[optind]);
		return rc;
	}
	if (rc == EXIT_NOEXEC) {
		fprintf(stderr, "uswap: %s: not an executable file (permission denied)\n", path);
		return rc;
	}
	if (check_loadable(path, why, sizeof(why), 0)) {
		fprintf(stderr, "uswap: %s\n", why);
		return EXIT_STATIC;
	}
	shim = shim_path();
	if (!shim) {
		fprintf(stderr, "uswap: cannot find libuswap_preload.so (looked next to uswap, in "
				"../lib/uswap and " USWAP_PRELOAD_INSTALLED "; USWAP_PRELOAD_LIB sets it)\n");
		return EXIT_SHIM;
	}
	rc = probe(&o);
	if (rc)
		return rc;

	if (pipe2(status_p, O_CLOEXEC) || pipe2(err_p, O_CLOEXEC)) {
		perror("uswap: pipe");
		return EXIT_INTERNAL;
	}
	env = build_env(&o, shim, jemalloc, status_p[1]);
	if (!env) {
		fprintf(stderr, "uswap: out of memory\n");
		return EXIT_INTERNAL;
	}
	/* Like system(3): the terminal's SIGINT/SIGQUIT reach the program directly;
	 * what is sent to uswap alone is passed on. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	pid = fork();
	if (pid < 0) {
		perror("uswap: fork");
		return EXIT_INTERNAL;
	}
	if (pid == 0) {
		close(status_p[0]);
		close(err_p[0]);
		run_child(path, argv + optind, env, status_p[1], err_p[1]);
	}
	child_pid = pid;
	struct sigaction fwd = { .sa_handler = forward_signal };
	sigaction(SIGTERM, &fwd, NULL);
	sigaction(SIGHUP, &fwd, NULL);
	close(status_p[1]);
	close(err_p[1]);
	if (read(err_p[0], &e, sizeof(e)) == (ssize_t)sizeof(e)) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		fprintf(stderr, "uswap: %s: %s\n", path, strerror(e));
		return e == ENOENT ? EXIT_NOTFOUND : EXIT_NOEXEC;
	}
	close(err_p[0]);
	return wait_program(&o, pid, status_p[0], argv[optind]);
}
