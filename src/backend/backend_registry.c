/* SPDX-License-Identifier: MIT */
/*
 * backend_registry.c - find a backend by the name before ':' in a spec, and
 * the size parser that every backend's spec uses.
 *
 * Adding a backend: one line in backends[] below (and its ops declaration in
 * backend.h).
 */
#include "backend/backend.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct swap_backend_ops *const backends[] = {
	&zram_backend_ops,
	&file_backend_ops,
	&tier_backend_ops,
};

/*
 * backend_lookup - the backend called @name (@name_len bytes, need not be
 * NUL-terminated, e.g. the head of "zram:lz4").
 * Context: any.  Return: the ops table, or NULL if there is none.
 */
const struct swap_backend_ops *backend_lookup(const char *name, size_t name_len)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		const char *n = backends[i]->name;

		if (strlen(n) == name_len && memcmp(n, name, name_len) == 0)
			return backends[i];
	}
	return NULL;
}

/*
 * backend_parse_size - parse "<digits>[K|M|G|T][iB|B]" (case-insensitive)
 * into bytes.  Suffixes are binary (1K = 1024) whether written "K", "KB" or
 * "KiB"; a bare "B" is allowed without a multiplier ("4096B").  No sign,
 * spaces, hex or fraction.
 * Context: any.  Return: 0 with *bytes set, or -EINVAL (empty, garbage,
 * overflow of 64 bits); *bytes is untouched on error.
 */
int backend_parse_size(const char *s, uint64_t *bytes)
{
	unsigned int shift = 0;
	uint64_t v = 0;
	const char *p = s;

	if (!s || !bytes || *p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned int d = (unsigned int)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	switch (*p) {
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	case 't': case 'T':
		shift = 40;
		break;
	}
	if (shift) {
		p++;
		if (*p == 'i' || *p == 'I') {
			p++;
			if (*p != 'b' && *p != 'B')
				return -EINVAL;
		}
	}
	if (*p == 'b' || *p == 'B')
		p++;
	if (*p != '\0')
		return -EINVAL;
	if (v > (UINT64_MAX >> shift))
		return -EINVAL;
	*bytes = v << shift;
	return 0;
}

int backend_error(int ret, char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	if (err && err_len) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return ret;
}
