// SPDX-License-Identifier: Apache-2.0
/*
 * exec_storm: fork(2) + execve(2) of a program and wait for it, ITERATIONS
 * times, one child at a time. Prints the elapsed wall time of the loop in
 * nanoseconds on stdout, nothing else, so the benchmark can read it.
 *
 *   exec_storm PROGRAM ITERATIONS
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long long start, n;
	char *args[] = {argv[1], NULL};

	if (argc != 3 || (n = atoll(argv[2])) <= 0) {
		fprintf(stderr, "usage: %s PROGRAM ITERATIONS\n", argv[0]);
		return 2;
	}
	start = now_ns();
	for (long long i = 0; i < n; i++) {
		int status;
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			execve(argv[1], args, environ);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) < 0) {
			perror("waitpid");
			return 1;
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "%s: child failed (status %#x)\n", argv[1], status);
			return 1;
		}
	}
	printf("%lld\n", now_ns() - start);
	return 0;
}
