/* SPDX-License-Identifier: MIT */
/*
 * uswap_tool.h - declarations shared by the files of the uswap command.
 */
#ifndef USWAP_TOOL_H
#define USWAP_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses of uswap itself (man/uswap.1, EXIT STATUS). */
enum {
	EXIT_INTERNAL = 1, /* uswap stat: no such shim; uswap run: fork/pipe failed */
	EXIT_USAGE = 2,	   /* unknown flag, missing argument, bad --mode/--malloc */
	EXIT_BADSIZE = 3,  /* bad size (--mem, --threshold) or bad --swap spec */
	EXIT_PERM = 4,	   /* no permission to use userfaultfd */
	EXIT_LIMIT = 5,	   /* limit too small to make progress (at start or at run time) */
	EXIT_STATIC = 6,   /* the shim cannot load: static (or foreign) binary */
	EXIT_SHIM = 7,	   /* the shim did not load or failed to initialise */
	EXIT_NOEXEC = 126, /* program not executable */
	EXIT_NOTFOUND = 127,
};

#define SNAPSHOT_MAX 160
struct snapshot {
	unsigned int nr;
	char name[SNAPSHOT_MAX][64];
	uint64_t value[SNAPSHOT_MAX];
};

/* stat_format.c */
/* Parse "name value" lines.  Return: 0; -1 nothing found. */
int snapshot_parse(const char *text, size_t len, struct snapshot *s);
/* Read the live snapshot of process @pid from its shim's socket.  Return: bytes, or -errno. */
ssize_t stat_read(int pid, char *buf, size_t size);
/* Value of @name, 0 if absent. */
uint64_t snapshot_get(const struct snapshot *s, const char *name);
/* Table or JSON; @exit_status < 0: none (uswap stat). */
void snapshot_print(FILE *f, const struct snapshot *s, const char *title, bool json,
		    int exit_status);

/* run.c */
int cmd_run(int argc, char **argv);
/* stat.c: uswap stat PID [--json] */
int cmd_stat(int argc, char **argv);

#endif
