// SPDX-License-Identifier: MIT
/*
 * A SIGUSR1 handler that reads and writes managed memory (swapped-out pages),
 * while the main thread streams through 4x the limit.  Another thread sends
 * the signals.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <unistd.h>
#include "run_common.h"

static char *mem;
static size_t len = 128 * MiB;
static volatile sig_atomic_t handled, bad;
static atomic_bool stop;

static void on_usr1(int sig)
{
	/* A page in the second half, which the main thread does not rewrite. */
	size_t page = len / 2 / PAGE + (size_t)(handled * 7919) % (len / 2 / PAGE);
	uint64_t *w = (uint64_t *)(mem + page * PAGE);

	if (w[1] != pat(page, 1, 15))
		bad = 1;
	w[0] = pat(page, 0, 15); /* rewrite the same value: the page becomes dirty */
	handled++;
}

static void *sender(void *arg)
{
	pthread_t main_thread = *(pthread_t *)arg;

	while (!atomic_load(&stop)) {
		pthread_kill(main_thread, SIGUSR1);
		usleep(2000);
	}
	return NULL;
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	pthread_t self = pthread_self(), t;

	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		FAIL("mmap");
	fill(mem, len, 0, 15);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	if (pthread_create(&t, NULL, sender, &self))
		FAIL("pthread_create");
	for (int round = 0; round < 3 || handled < 20; round++) {
		fill(mem, len / 2, 0, 16 + round);
		if (check(mem, len / 2, 0, 16 + round, "main"))
			FAIL("content");
		if (round > 50)
			break;
	}
	atomic_store(&stop, true);
	pthread_join(t, NULL);
	if (bad)
		FAIL("the handler saw bad content");
	if (handled < 20)
		FAIL("only %d signals handled", (int)handled);
	if (check(mem + len / 2, len / 2, len / 2 / PAGE, 15, "handler's half"))
		FAIL("content");
	return 0;
}
