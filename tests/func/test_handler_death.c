/* SPDX-License-Identifier: MIT */
/*
 * test_handler_death - a fault handler thread that dies must not leave the
 * program hanging on its next fault: uswap says so and aborts.
 */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "helper_func.h"

int main(void)
{
	int pfd[2], status;
	char msg[512] = "";
	pid_t pid;

	CHECK_EQ(pipe(pfd), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* The log goes to the pipe: the parent checks the message. */
		dup2(pfd[1], STDERR_FILENO);
		alarm(30); /* a hang shows as SIGALRM, not SIGABRT */
		struct uswap_ctx *ctx = func_ctx(4ULL << 20, USWAP_MODE_THREAD, 0);
		unsigned char *m;
		CHECK_EQ(uswap_swapon(ctx, "zram:size=64M", 0, NULL), 0);
		CHECK_EQ(uswap_mmap(ctx, NULL, 16ULL << 20, (void **)&m), 0);
		for (uint64_t p = 0; p < 1024; p++)
			fill_page(m + p * 4096, 4, p, FILL_HALF);
		atomic_store(&uffd_test_handler_exit, true);
		for (uint64_t p = 1024; p < 4096; p++) /* faults nobody will serve */
			fill_page(m + p * 4096, 4, p, FILL_HALF);
		_exit(0);
	}
	close(pfd[1]);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	ssize_t n = read(pfd[0], msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = 0;
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT) {
		fprintf(stderr, "child: status %#x, log: %s\n", status, msg);
		return 1;
	}
	CHECK(strstr(msg, "fault handler thread died") != NULL);
	return 0;
}
