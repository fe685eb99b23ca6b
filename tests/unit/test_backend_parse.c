/* SPDX-License-Identifier: MIT */
/*
 * test_backend_parse - backend_parse_size() (table-driven: suffixes, case,
 * overflow, garbage) and backend_lookup().
 */
#include "backend/backend.h"
#include "check.h"

#include <errno.h>
#include <string.h>

static const struct {
	const char *s;
	uint64_t bytes;
} good[] = {
	{ "0", 0 },
	{ "1", 1 },
	{ "4096", 4096 },
	{ "4096B", 4096 },
	{ "4096b", 4096 },
	{ "1k", 1024 },
	{ "1K", 1024 },
	{ "1KB", 1024 },
	{ "1kib", 1024 },
	{ "1KiB", 1024 },
	{ "512M", 512ull << 20 },
	{ "512MiB", 512ull << 20 },
	{ "512mb", 512ull << 20 },
	{ "4G", 4ull << 30 },
	{ "4g", 4ull << 30 },
	{ "4GiB", 4ull << 30 },
	{ "4GB", 4ull << 30 },
	{ "1T", 1ull << 40 },
	{ "1tib", 1ull << 40 },
	{ "16777215T", 16777215ull << 40 },   /* largest T that fits */
	{ "18446744073709551615", UINT64_MAX }, /* largest plain number */
	{ "007", 7 },
};

static const char *const bad[] = {
	"",
	"-1",
	"+1",
	" 1",
	"1 ",
	"K",
	"1X",
	"1KK",
	"1iB",  /* iB needs a multiplier */
	"1Ki",  /* i without B */
	"1KiBx",
	"1.5G",
	"0x10",
	"1e3",
	"18446744073709551616", /* 2^64 */
	"99999999999999999999999",
	"16777216T", /* 2^64 after shifting */
	"17179869184G",
	"1P",
	"1BB",
	"G1",
};

int main(void)
{
	uint64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 12345;
		if (backend_parse_size(good[i].s, &v) != 0 || v != good[i].bytes) {
			fprintf(stderr, "\"%s\" -> %llu\n", good[i].s, (unsigned long long)v);
			CHECK(0);
		}
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 12345;
		if (backend_parse_size(bad[i], &v) != -EINVAL || v != 12345) {
			fprintf(stderr, "\"%s\" accepted -> %llu\n", bad[i], (unsigned long long)v);
			CHECK(0);
		}
	}
	CHECK_EQ(backend_parse_size(NULL, &v), -EINVAL);
	CHECK_EQ(backend_parse_size("4G", NULL), -EINVAL);

	/* Lookup by the head of a spec; names must match exactly. */
	CHECK(backend_lookup("zram", 4) == &zram_backend_ops);
	CHECK(backend_lookup("zram:lz4:size=4G", 4) == &zram_backend_ops);
	CHECK(backend_lookup("zra", 3) == NULL);
	CHECK(backend_lookup("zramx", 5) == NULL);
	CHECK(backend_lookup("ZRAM", 4) == NULL);
	CHECK(backend_lookup("", 0) == NULL);
	CHECK(backend_lookup(NULL, 0) == NULL);
	CHECK(backend_lookup("nonexistent", 11) == NULL);
	return 0;
}
