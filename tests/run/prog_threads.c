// SPDX-License-Identifier: MIT
/* 4 threads, each with its own 32 MiB malloc'd buffer, written and checked 3 times. */
#include <pthread.h>
#include "run_common.h"

#define NR 4

static void *worker(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	size_t len = 32 * MiB;
	char *p = malloc(len);

	if (!p)
		return (void *)1;
	for (uint64_t round = 0; round < 3; round++) {
		fill(p, len, 0, id * 100 + round);
		if (check(p, len, 0, id * 100 + round, "thread"))
			return (void *)1;
	}
	free(p);
	return NULL;
}

int main(void)
{
	pthread_t t[NR];
	int bad = 0;

	for (uintptr_t i = 0; i < NR; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)i))
			FAIL("pthread_create");
	for (int i = 0; i < NR; i++) {
		void *r;
		pthread_join(t[i], &r);
		bad += r != NULL;
	}
	if (bad)
		FAIL("%d threads saw bad content", bad);
	return 0;
}
