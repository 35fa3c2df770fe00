// SPDX-License-Identifier: Apache-2.0
// uprobe_loop N: calls bench_fn N times in a tight loop and prints the
// nanoseconds the loop took on stdout. bench/uprobe.sh probes bench_fn.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

__attribute__((noinline)) long bench_fn(long a, long b)
{
	__asm__ volatile("" ::: "memory");
	return a + b;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000, sum = 0;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++)
		sum += bench_fn(i, 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%lld\n", (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec));
	fprintf(stderr, "sum %ld\n", sum);
	return 0;
}
