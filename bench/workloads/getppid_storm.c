// SPDX-License-Identifier: Apache-2.0
/*
 * getppid_storm: getppid(2), ITERATIONS times, in one thread: the cheapest
 * syscall there is, so what a tracer adds to every syscall shows. Called
 * through syscall(2): glibc does not cache getppid, but nothing else may
 * stand between the loop and the kernel. Prints the elapsed wall time of the
 * loop in nanoseconds on stdout, nothing else.
 *
 *   getppid_storm ITERATIONS
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
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

	if (argc != 2 || (n = atoll(argv[1])) <= 0) {
		fprintf(stderr, "usage: %s ITERATIONS\n", argv[0]);
		return 2;
	}
	start = now_ns();
	for (long long i = 0; i < n; i++)
		syscall(SYS_getppid);
	printf("%lld\n", now_ns() - start);
	return 0;
}
