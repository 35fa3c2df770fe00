// SPDX-License-Identifier: Apache-2.0
/*
 * fork_storm: a churny host. RATE times a second, fork a child that exits
 * at once, and reap it; until killed. Short-lived processes are what make
 * per-process state (maps, series) grow.
 *
 *   fork_storm RATE
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec next;
	long rate;

	if (argc != 2 || (rate = atol(argv[1])) <= 0 || rate > 1000000) {
		fprintf(stderr, "usage: %s RATE\n", argv[0]);
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (;;) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(0);
		if (pid > 0)
			waitpid(pid, NULL, 0);
		/* Absolute deadlines: a late fork does not slow the rate down. */
		next.tv_nsec += 1000000000L / rate;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000L;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
}
