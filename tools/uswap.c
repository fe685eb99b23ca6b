// SPDX-License-Identifier: MIT
/*
 * uswap.c - the uswap command: `uswap run` (run.c) and `uswap stat PID`.
 * See man/uswap.1 and docs/run.md.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "run_env.h"
#include "uswap.h"
#include "uswap_tool.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: uswap run --mem SIZE [--swap SPEC]... [--stat] [--json] [--stat-file FILE]\n"
		"                 [--mode thread|signal] [--threshold SIZE] [--follow-exec]\n"
		"                 [--malloc jemalloc|system] [--] PROGRAM [ARGS...]\n"
		"       uswap stat PID [--json]\n"
		"       uswap --version | --help\n"
		"See uswap(1).\n");
}

/* Read the snapshot of process @pid from its stats socket.  Return: bytes, or -errno. */
ssize_t stat_read(int pid, char *buf, size_t size)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t have = 0;
	int fd, n, rc;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, RUN_SOCKET_FMT, pid);
	if (connect(fd, (struct sockaddr *)&sa,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n))) {
		rc = -errno;
		close(fd);
		return rc;
	}
	/* The shim answers at once; never wait for ever on a stuck process. */
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (have < size - 1) {
		ssize_t r = read(fd, buf + have, size - 1 - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			close(fd);
			return rc;
		}
		if (r == 0)
			break;
		have += (size_t)r;
	}
	close(fd);
	buf[have] = '\0';
	return (ssize_t)have;
}

int cmd_stat(int argc, char **argv)
{
	static char buf[32768];
	static struct snapshot s;
	bool json = false;
	char title[64], *end;
	long pid = -1;
	ssize_t n;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "uswap stat: unknown option '%s'\n", argv[i]);
			return EXIT_USAGE;
		} else if (pid < 0) {
			errno = 0;
			pid = strtol(argv[i], &end, 10);
			if (errno || *end || pid <= 0 || pid > 0x3fffffff) {
				fprintf(stderr, "uswap stat: bad PID '%s'\n", argv[i]);
				return EXIT_USAGE;
			}
		} else {
			fprintf(stderr, "uswap stat: one PID only\n");
			return EXIT_USAGE;
		}
	}
	if (pid < 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (kill((pid_t)pid, 0) && errno == ESRCH) {
		fprintf(stderr, "uswap stat: no process %ld\n", pid);
		return EXIT_INTERNAL;
	}
	n = stat_read((int)pid, buf, sizeof(buf));
	if (n < 0) {
		fprintf(stderr,
			"uswap stat: process %ld has no uswap shim (was it started by uswap run?): %s\n",
			pid, strerror((int)-n));
		return EXIT_INTERNAL;
	}
	if (snapshot_parse(buf, (size_t)n, &s)) {
		fprintf(stderr, "uswap stat: process %ld sent no statistics\n", pid);
		return EXIT_INTERNAL;
	}
	snprintf(title, sizeof(title), "live");
	snapshot_print(stdout, &s, title, json, -1);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "stat"))
		return cmd_stat(argc - 1, argv + 1);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		int v = uswap_version();
		printf("uswap %d.%d.%d\n", v / 10000, v / 100 % 100, v % 100);
		return 0;
	}
	fprintf(stderr, "uswap: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
