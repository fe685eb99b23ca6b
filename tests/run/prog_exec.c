// SPDX-License-Identifier: MIT
/*
 * exec: with managed memory in use, run this program again as a child
 * (posix_spawn).  The child reports whether the shim is loaded in it
 * ("managed" / "unmanaged" on stdout) and whether USWAP_ variables leaked.
 */
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "run_common.h"

extern char **environ;

static int child(void)
{
	char line[4096];
	FILE *f = fopen("/proc/self/maps", "r");
	int loaded = 0;

	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "libuswap_preload"))
			loaded = 1;
	if (f)
		fclose(f);
	printf("%s%s\n", loaded ? "managed" : "unmanaged", getenv("USWAP_MEM") ? " env" : "");
	return 0;
}

int main(int argc, char **argv)
{
	size_t len = 64 * MiB;
	char *p, *args[] = { argv[0], "--child", NULL };
	int status;
	pid_t pid;

	if (argc > 1 && !strcmp(argv[1], "--child"))
		return child();
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		FAIL("mmap");
	fill(p, len, 0, 20);
	fflush(stdout);
	if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, args, environ))
		FAIL("posix_spawn");
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		FAIL("child failed");
	if (check(p, len, 0, 20, "parent"))
		FAIL("content");
	return 0;
}
