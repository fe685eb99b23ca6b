// SPDX-License-Identifier: MIT
/*
 * For `uswap stat`: maps and writes 64 MiB, writes its pid to argv[1], then
 * waits (at most 30 s) until that file is removed.
 */
#include <sys/mman.h>
#include <unistd.h>
#include "run_common.h"

int main(int argc, char **argv)
{
	size_t len = 64 * MiB;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	FILE *f;

	if (argc < 2 || p == MAP_FAILED)
		FAIL("usage or mmap");
	fill(p, len, 0, 21);
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
	f = fopen(tmp, "w");
	if (!f)
		FAIL("pid file");
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);
	if (rename(tmp, argv[1]))
		FAIL("rename");
	for (int i = 0; i < 3000 && access(argv[1], F_OK) == 0; i++)
		usleep(10000);
	return check(p, len, 0, 21, "hold") ? 1 : 0;
}
