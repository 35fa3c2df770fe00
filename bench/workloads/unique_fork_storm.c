// SPDX-License-Identifier: Apache-2.0
/*
 * unique_fork_storm: RATE times a second, fork(2) + execve(2) of PROGRAM
 * through a symlink of a name never used before (u0000001, u0000002, ...),
 * so every process has a command name of its own, as a CI runner's or a
 * build host's stream of short-lived tools looks to a per-command
 * aggregate at its worst. Children are not waited for (SIGCHLD ignored:
 * the kernel reaps them). Runs for SECONDS, then prints the processes
 * started (fewer than RATE * SECONDS if it fell behind) and the
 * nanoseconds it ran.
 *
 *   unique_fork_storm PROGRAM DIR RATE SECONDS
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define KEEP 4096 /* symlinks kept: a child may not have exec'd its own yet */

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void name(char *buf, size_t len, const char *dir, long long i)
{
	snprintf(buf, len, "%s/u%07lld", dir, i);
}

int main(int argc, char **argv)
{
	long long rate, secs, start, next, end, step, n = 0;
	char path[4096];

	if (argc != 5 || (rate = atoll(argv[3])) <= 0 || (secs = atoll(argv[4])) <= 0) {
		fprintf(stderr, "usage: unique_fork_storm PROGRAM DIR RATE SECONDS\n");
		return 2;
	}
	signal(SIGCHLD, SIG_IGN);
	step = 1000000000LL / rate;
	start = next = now_ns();
	end = start + secs * 1000000000LL;
	while (next < end && now_ns() < end) {
		struct timespec ts = {next / 1000000000LL, next % 1000000000LL};
		char *args[] = {path, NULL};
		pid_t pid;

		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		next += step;
		n++;
		if (n > KEEP) {
			name(path, sizeof(path), argv[2], n - KEEP);
			unlink(path);
		}
		name(path, sizeof(path), argv[2], n);
		if (symlink(argv[1], path) != 0) {
			perror("symlink");
			return 1;
		}
		pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			execve(path, args, environ);
			_exit(127);
		}
	}
	printf("%lld %lld\n", n, now_ns() - start);
	return 0;
}
