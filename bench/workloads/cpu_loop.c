// SPDX-License-Identifier: Apache-2.0
/*
 * cpu_loop: a CPU-bound loop of ITERATIONS rounds of integer arithmetic in
 * a function with a frame pointer, so a profiler has a stack to walk.
 * Prints the elapsed wall time of the loop in nanoseconds on stdout.
 *
 *   cpu_loop ITERATIONS
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile unsigned long sink;

__attribute__((noinline)) static unsigned long spin(unsigned long n)
{
	unsigned long s = 0;

	for (unsigned long i = 0; i < n; i++) {
		s = s * 6364136223846793005UL + i;
		__asm__ volatile("" : "+r"(s)); /* keep every round */
	}
	return s;
}

int main(int argc, char **argv)
{
	struct timespec a, b;
	long long n;

	if (argc != 2 || (n = atoll(argv[1])) <= 0) {
		fprintf(stderr, "usage: cpu_loop ITERATIONS\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long long i = 0; i < n; i += 1000000)
		sink += spin(1000000);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%lld\n", (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec));
	return 0;
}
