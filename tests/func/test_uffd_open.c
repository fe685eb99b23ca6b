/* SPDX-License-Identifier: MIT */
/*
 * test_uffd_open - how userfaultfd is obtained:
 *  - through /dev/userfaultfd (USERFAULTFD_IOC_NEW) when the system call is
 *    not used: the context works and swaps;
 *  - an unprivileged process without access gets -EPERM and a log message
 *    that says what to do, not a crash or a hang.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "helper_func.h"

static char logged[512];

static void capture(void *arg, int level, const char *msg)
{
	(void)arg;
	if (level <= USWAP_LOG_ERR)
		snprintf(logged, sizeof(logged), "%s", msg);
}

static void via_device(void)
{
	struct stat st;
	if (stat("/dev/userfaultfd", &st) != 0 || geteuid() != 0) {
		fprintf(stderr, "no /dev/userfaultfd or not root: device path not tested\n");
		return;
	}
	uffd_force_device = true;
	struct uswap_ctx *ctx = func_ctx(4ULL << 20, USWAP_MODE_THREAD, 0);
	unsigned char *m;
	CHECK_EQ(uswap_swapon(ctx, "zram:size=64M", 0, NULL), 0);
	CHECK_EQ(uswap_mmap(ctx, NULL, 16ULL << 20, (void **)&m), 0);
	for (uint64_t p = 0; p < 4096; p++)
		fill_page(m + p * 4096, 9, p, FILL_HALF);
	for (uint64_t p = 0; p < 4096; p++)
		CHECK(verify_page(m + p * 4096, 9, p, FILL_HALF));
	CHECK(stat_of(ctx, NULL, "pswpin") > 0);
	check_invariants(ctx);
	CHECK_EQ(uswap_ctx_destroy(ctx), 0);
	uffd_force_device = false;
}

static void unprivileged(void)
{
	FILE *f = fopen("/proc/sys/vm/unprivileged_userfaultfd", "r");
	int unpriv = 1;
	if (f) {
		if (fscanf(f, "%d", &unpriv) != 1)
			unpriv = 1;
		fclose(f);
	}
	if (geteuid() != 0 || unpriv) {
		fprintf(stderr, "not root, or unprivileged userfaultfd allowed: EPERM not tested\n");
		return;
	}
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct uswap_opts o = { .size = sizeof(o), .log = capture };
		struct uswap_ctx *ctx = NULL;
		if (setgid(65534) || setuid(65534))
			_exit(2);
		int rc = uswap_ctx_create(&o, &ctx);
		if (rc != -EPERM || ctx)
			_exit(3);
		if (!strstr(logged, "userfaultfd not permitted") || !strstr(logged, "unprivileged_userfaultfd"))
			_exit(4);
		_exit(0);
	}
	int status;
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

int main(void)
{
	via_device();
	unprivileged();
	return 0;
}
