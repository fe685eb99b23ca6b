/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mix64.h"

void check_fail(const char *file, int line, const char *expr, long long a, long long b)
{
	fprintf(stderr, "FAIL %s:%d: %s", file, line, expr);
	if (a || b)
		fprintf(stderr, " (%lld vs %lld)", a, b);
	fputc('\n', stderr);
	exit(1);
}


/*
 * Content kinds: RANDOM is incompressible; HALF compresses to about half
 * (random bytes in the first half, a repeated pattern in the second); TEXT
 * is word-like; ZERO is all zero; SAME is one repeated word per page.
 */
void fill_page(void *page, uint64_t seed, uint64_t pgno, int kind)
{
	uint64_t *w = page;
	uint64_t base = mix64(seed * 0x9e3779b97f4a7c15ULL + pgno + 1);
	static const char *words[] = { "swap ", "page ", "fault ", "the ", "kernel ", "memory ",
				       "cluster ", "slot ", "zram ", "of ", "a ", "reclaim " };
	switch (kind) {
	case FILL_ZERO:
		memset(page, 0, 4096);
		break;
	case FILL_SAME:
		for (int i = 0; i < 512; i++)
			w[i] = base | 1;
		break;
	case FILL_TEXT: {
		char *c = page;
		size_t off = 0;
		uint64_t r = base;
		while (off < 4096) {
			r = mix64(r);
			const char *s = words[r % 12];
			size_t n = strlen(s);
			if (n > 4096 - off)
				n = 4096 - off;
			memcpy(c + off, s, n);
			off += n;
		}
		w[0] = base; /* make every page distinct */
		break;
	}
	case FILL_HALF:
		for (int i = 0; i < 512; i++)
			w[i] = i < 256 ? mix64(base + i) : (base & 0xffff) * 0x0001000100010001ULL;
		break;
	default:
		for (int i = 0; i < 512; i++)
			w[i] = mix64(base + i);
		break;
	}
}

int verify_page(const void *page, uint64_t seed, uint64_t pgno, int kind)
{
	uint64_t expect[512];
	fill_page(expect, seed, pgno, kind);
	return memcmp(page, expect, 4096) == 0;
}

static char tmpdir[256];

static void tmpdir_remove(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

const char *test_tmpdir(const char *name)
{
	const char *base = getenv("USWAP_TEST_DIR") ? getenv("USWAP_TEST_DIR") : "/var/tmp";

	if (tmpdir[0])
		return tmpdir;
	snprintf(tmpdir, sizeof(tmpdir), "%s/uswap-%s-XXXXXX", base, name);
	if (!mkdtemp(tmpdir))
		SKIP("cannot make a directory in %s: %s", base, strerror(errno));
	atexit(tmpdir_remove);
	return tmpdir;
}
