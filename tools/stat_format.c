// SPDX-License-Identifier: MIT
/*
 * stat_format.c - the statistics of `uswap run --stat` and `uswap stat PID`:
 * parse the shim's snapshot ("name value" lines) and print it as a table or
 * as JSON.  Library counters are told from the shim's own figures by
 * uswap_stat_index().
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uswap.h"
#include "uswap_tool.h"

int snapshot_parse(const char *text, size_t len, struct snapshot *s)
{
	const char *p = text, *end = text + len;

	memset(s, 0, sizeof(*s));
	while (p < end && s->nr < SNAPSHOT_MAX) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		char line[128];
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		unsigned long long v;

		if (n < sizeof(line)) {
			memcpy(line, p, n);
			line[n] = '\0';
			if (sscanf(line, "%63s %llu", s->name[s->nr], &v) == 2)
				s->value[s->nr++] = v;
		}
		p += n + 1;
	}
	return s->nr ? 0 : -1;
}

uint64_t snapshot_get(const struct snapshot *s, const char *name)
{
	for (unsigned int i = 0; i < s->nr; i++)
		if (!strcmp(s->name[i], name))
			return s->value[i];
	return 0;
}

static bool snapshot_has(const struct snapshot *s, const char *name)
{
	for (unsigned int i = 0; i < s->nr; i++)
		if (!strcmp(s->name[i], name))
			return true;
	return false;
}

static const char *const mm_stat_names[] = {
	"orig_data_size", "compr_data_size", "mem_used_total", "mem_limit",
	"mem_used_max",	  "same_pages",	     "pages_compacted", "huge_pages",
};

/* Human size: 1023, 1.0K, 12.3M... */
static const char *hsize(uint64_t b, char *buf, size_t size)
{
	static const char unit[] = "KMGTP";
	double v = (double)b;
	int u = -1;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, size, "%" PRIu64, b);
	else
		snprintf(buf, size, "%.1f%c", v, unit[u]);
	return buf;
}

#define PAGES(n) hsize((uint64_t)(n) * 4096, b1, sizeof(b1))

static void print_table(FILE *f, const struct snapshot *s, const char *title)
{
	char b1[32], b2[32], b3[32], b4[32], b5[32];
	uint64_t fault_ns = snapshot_get(s, "fault_ns");

	fprintf(f, "uswap statistics: %s, pid %" PRIu64 ", limit %s, threshold %s, %s mode\n", title,
		snapshot_get(s, "pid"), hsize(snapshot_get(s, "limit_bytes"), b1, sizeof(b1)),
		hsize(snapshot_get(s, "threshold_bytes"), b2, sizeof(b2)),
		snapshot_get(s, "mode_signal") ? "signal" : "thread");
	fprintf(f, "  pages       resident %" PRIu64 "  swap cache %" PRIu64 "  swapped %" PRIu64
		   "  zero (same_pages) %" PRIu64 "  usage %" PRIu64 "  peak %" PRIu64 " (%s)\n",
		snapshot_get(s, "nr_resident"), snapshot_get(s, "nr_swapcache"),
		snapshot_get(s, "nr_swapped"), snapshot_get(s, "same_pages"),
		snapshot_get(s, "nr_usage"), snapshot_get(s, "nr_usage_max"),
		PAGES(snapshot_get(s, "nr_usage_max")));
	fprintf(f, "  faults      %" PRIu64 " (%" PRIu64 " major), %.1f ms resolving them (%.1f us each)\n",
		snapshot_get(s, "pgfault"), snapshot_get(s, "pgmajfault"), (double)fault_ns / 1e6,
		snapshot_get(s, "pgfault") ? (double)fault_ns / 1e3 / (double)snapshot_get(s, "pgfault")
					   : 0.0);
	fprintf(f, "  swap        %" PRIu64 " pages out, %" PRIu64 " in (%" PRIu64 " read ahead)\n",
		snapshot_get(s, "pswpout"), snapshot_get(s, "pswpin"), snapshot_get(s, "swap_ra"));
	fprintf(f, "  mm_stat    ");
	for (size_t i = 0; i < sizeof(mm_stat_names) / sizeof(mm_stat_names[0]); i++)
		fprintf(f, " %" PRIu64, snapshot_get(s, mm_stat_names[i]));
	fprintf(f, "\n              (orig_data_size compr_data_size mem_used_total mem_limit "
		   "mem_used_max same_pages pages_compacted huge_pages)\n");
	fprintf(f, "  managed     %s now in %" PRIu64 " regions, peak %s; %" PRIu64 " mmaps of %s\n",
		hsize(snapshot_get(s, "managed_bytes"), b1, sizeof(b1)),
		snapshot_get(s, "managed_regions"),
		hsize(snapshot_get(s, "managed_bytes_max"), b2, sizeof(b2)),
		snapshot_get(s, "mmap_managed"),
		hsize(snapshot_get(s, "mmap_managed_bytes"), b3, sizeof(b3)));
	fprintf(f, "  unmanaged   brk heap %s, file %s, shared %s, other anonymous %s, stack %s\n",
		hsize(snapshot_get(s, "vm_heap_bytes"), b1, sizeof(b1)),
		hsize(snapshot_get(s, "vm_file_bytes"), b2, sizeof(b2)),
		hsize(snapshot_get(s, "vm_shared_bytes"), b3, sizeof(b3)),
		hsize(snapshot_get(s, "vm_anon_unmanaged_bytes"), b4, sizeof(b4)),
		hsize(snapshot_get(s, "vm_stack_bytes"), b5, sizeof(b5)));
	fprintf(f, "  process     rss %s, peak rss %s\n",
		hsize(snapshot_get(s, "rss_bytes"), b1, sizeof(b1)),
		hsize(snapshot_get(s, "rss_max_bytes"), b2, sizeof(b2)));
	fprintf(f, "  counters:\n");
	for (unsigned int i = 0; i < s->nr; i++)
		fprintf(f, "    %-32s %" PRIu64 "\n", s->name[i], s->value[i]);
}

static void print_json(FILE *f, const struct snapshot *s, const char *title, int exit_status)
{
	bool first;

	fprintf(f, "{\n  \"program\": \"");
	for (const char *p = title; *p; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', f);
		if ((unsigned char)*p >= 0x20)
			fputc(*p, f);
	}
	fprintf(f, "\",\n");
	if (exit_status >= 0)
		fprintf(f, "  \"exit_status\": %d,\n", exit_status);
	fprintf(f, "  \"pid\": %" PRIu64 ",\n  \"uswap\": {\n", snapshot_get(s, "pid"));
	first = true;
	for (unsigned int i = 0; i < s->nr; i++) {
		if (uswap_stat_index(s->name[i]) < 0)
			continue;
		fprintf(f, "%s    \"%s\": %" PRIu64, first ? "" : ",\n", s->name[i], s->value[i]);
		first = false;
	}
	fprintf(f, "\n  },\n  \"mm_stat\": [");
	for (size_t i = 0; i < sizeof(mm_stat_names) / sizeof(mm_stat_names[0]); i++)
		fprintf(f, "%s%" PRIu64, i ? ", " : "", snapshot_get(s, mm_stat_names[i]));
	fprintf(f, "],\n  \"shim\": {\n");
	first = true;
	for (unsigned int i = 0; i < s->nr; i++) {
		if (uswap_stat_index(s->name[i]) >= 0 || !strcmp(s->name[i], "pid"))
			continue;
		fprintf(f, "%s    \"%s\": %" PRIu64, first ? "" : ",\n", s->name[i], s->value[i]);
		first = false;
	}
	fprintf(f, "\n  }\n}\n");
}

void snapshot_print(FILE *f, const struct snapshot *s, const char *title, bool json,
		    int exit_status)
{
	if (!snapshot_has(s, "pid"))
		return;
	if (json)
		print_json(f, s, title, exit_status);
	else
		print_table(f, s, title);
	fflush(f);
}
