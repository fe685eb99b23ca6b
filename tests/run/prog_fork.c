// SPDX-License-Identifier: MIT
/*
 * fork with managed memory: the child checks its copy of every page, rewrites
 * it and checks again; the parent then checks that its own is unchanged.
 */
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "run_common.h"

int main(void)
{
	size_t len = 96 * MiB;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int status;
	pid_t pid;

	if (p == MAP_FAILED)
		FAIL("mmap");
	fill(p, len, 0, 12);
	pid = fork();
	if (pid < 0)
		FAIL("fork");
	if (pid == 0) {
		if (check(p, len, 0, 12, "child copy"))
			_exit(1);
		fill(p, len, 0, 13);
		if (check(p, len, 0, 13, "child rewrite"))
			_exit(1);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		FAIL("child failed (status %#x)", status);
	if (check(p, len, 0, 12, "parent after child"))
		FAIL("parent's memory changed");
	fill(p, len / 2, 0, 14); /* the parent still swaps */
	if (check(p, len / 2, 0, 14, "parent rewrite"))
		FAIL("content");
	return 0;
}
