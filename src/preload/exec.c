// SPDX-License-Identifier: MIT
/*
 * exec.c - exec(3) of the program by itself stays managed.
 *
 * Without --follow-exec the shim removes itself from the environment at
 * start-up (preload.c env_strip), so that the programs the program runs are
 * not managed.  But an exec in the program's own process is not another
 * program being run: it is the program going on as another image, and the
 * common case is a wrapper script - `uswap run -- python3` where python3 is
 * a pyenv shim (a shell script that ends in `exec python3.11`), a
 * `java` launcher, `env`, `nice`.  Dropping the shim there ran the real work
 * unmanaged, without a word.
 *
 * So the exec family is interposed: in the process `uswap run` started (its
 * pid, recorded at start-up), an exec puts back the variables the shim took
 * out (LD_PRELOAD with the shim and the allocator, USWAP_*) and keeps the
 * status pipe open across it; the new image's shim reports "ready" again and
 * sends the statistics at its exit.  A forked or spawned child has another
 * pid, and its exec gets the environment the program gave it.
 *
 * glibc's exec functions call execve internally, not through the PLT, so each
 * of them is interposed, not only execve.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <alloca.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "preload.h"

#define EXPORT __attribute__((visibility("default")))

#define SAVED_MAX 32
static char saved_buf[16384];
static char *saved[SAVED_MAX + 1];
static unsigned int nr_saved;
static pid_t root_pid;

static bool ours(const char *e)
{
	return !strncmp(e, "LD_PRELOAD=", 11) || !strncmp(e, "USWAP_", 6);
}

void shim_exec_save_env(void)
{
	extern char **environ;
	size_t used = 0;

	root_pid = getpid();
	for (size_t i = 0; environ[i] && nr_saved < SAVED_MAX; i++) {
		size_t n = strlen(environ[i]) + 1;
		if (!ours(environ[i]) || used + n > sizeof(saved_buf))
			continue;
		memcpy(saved_buf + used, environ[i], n);
		saved[nr_saved++] = saved_buf + used;
		used += n;
	}
	saved[nr_saved] = NULL;
}

/* Does an exec now continue the managed program?  (Following exec already
 * keeps the environment whole; a child has another pid.) */
static bool exec_continues(void)
{
	return nr_saved && !shim_cfg.follow_exec && getpid() == root_pid && shim_ctx_any();
}

/* @envp without our variables, with the saved ones.  NULL: no memory. */
static char **env_restore(char *const envp[])
{
	size_t n = 0, j = 0;
	char **env;

	while (envp && envp[n])
		n++;
	env = malloc((n + nr_saved + 1) * sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!ours(envp[i]))
			env[j++] = envp[i];
	for (unsigned int i = 0; i < nr_saved; i++)
		env[j++] = saved[i];
	env[j] = NULL;
	return env;
}

static void status_fd_inherit(bool inherit)
{
	if (shim_cfg.status_fd >= 0)
		fcntl(shim_cfg.status_fd, F_SETFD, inherit ? 0 : FD_CLOEXEC);
}

#define REAL(name, type) ((type)dlsym(RTLD_NEXT, name))

typedef int (*execve_fn)(const char *, char *const[], char *const[]);
typedef int (*fexecve_fn)(int, char *const[], char *const[]);

/* Exec through glibc's @name (by path, or by @fd when @by_fd), with the
 * environment restored when the exec continues the program. */
static int exec_with(const char *name, const char *path, bool by_fd, int fd, char *const argv[],
		     char *const envp[])
{
	char **env = NULL;
	int rc, e;

	if (exec_continues() && (env = env_restore(envp)))
		status_fd_inherit(true);
	if (by_fd)
		rc = REAL(name, fexecve_fn)(fd, argv, env ? env : envp);
	else
		rc = REAL(name, execve_fn)(path, argv, env ? env : envp);
	e = errno; /* still here: the exec failed */
	if (env) {
		status_fd_inherit(false);
		free(env);
	}
	errno = e;
	return rc;
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	return exec_with("execve", path, false, -1, argv, envp);
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	return exec_with("execvpe", file, false, -1, argv, envp);
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	return exec_with("fexecve", NULL, true, fd, argv, envp);
}

EXPORT int execv(const char *path, char *const argv[])
{
	extern char **environ;
	return exec_with("execve", path, false, -1, argv, environ);
}

EXPORT int execvp(const char *file, char *const argv[])
{
	extern char **environ;
	return exec_with("execvpe", file, false, -1, argv, environ);
}

/* The execl family: the arguments (up to their NULL) into an array on the
 * stack, then as execv*.  @ap is left after the NULL (execle's envp). */
#define ARGV_FROM_VA(argv, arg0, ap)                                        \
	do {                                                                \
		va_list c_;                                                 \
		size_t n_ = 1;                                              \
		va_copy(c_, ap);                                            \
		while (va_arg(c_, char *))                                  \
			n_++;                                               \
		va_end(c_);                                                 \
		argv = alloca((n_ + 1) * sizeof(char *));                   \
		argv[0] = (char *)(arg0);                                   \
		for (size_t i_ = 1; i_ <= n_; i_++)                         \
			argv[i_] = va_arg(ap, char *);                      \
	} while (0)

EXPORT int execl(const char *path, const char *arg, ...)
{
	extern char **environ;
	char **argv;
	va_list ap;

	va_start(ap, arg);
	ARGV_FROM_VA(argv, arg, ap);
	va_end(ap);
	return exec_with("execve", path, false, -1, argv, environ);
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
	extern char **environ;
	char **argv;
	va_list ap;

	va_start(ap, arg);
	ARGV_FROM_VA(argv, arg, ap);
	va_end(ap);
	return exec_with("execvpe", file, false, -1, argv, environ);
}

EXPORT int execle(const char *path, const char *arg, ...)
{
	char **argv, **envp;
	va_list ap;

	va_start(ap, arg);
	ARGV_FROM_VA(argv, arg, ap);
	envp = va_arg(ap, char **);
	va_end(ap);
	return exec_with("execve", path, false, -1, argv, envp);
}
