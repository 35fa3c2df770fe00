// SPDX-License-Identifier: Apache-2.0
/*
 * open_storm: openat(2) + close(2) of one existing file, ITERATIONS times, in
 * one thread. Prints the elapsed wall time of the loop in nanoseconds on
 * stdout, nothing else, so the benchmark can read it.
 *
 *   open_storm PATH ITERATIONS
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long long start, n;

	if (argc != 3 || (n = atoll(argv[2])) <= 0) {
		fprintf(stderr, "usage: %s PATH ITERATIONS\n", argv[0]);
		return 2;
	}
	start = now_ns();
	for (long long i = 0; i < n; i++) {
		int fd = openat(AT_FDCWD, argv[1], O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			perror(argv[1]);
			return 1;
		}
		close(fd);
	}
	printf("%lld\n", now_ns() - start);
	return 0;
}
