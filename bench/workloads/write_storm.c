// SPDX-License-Identifier: Apache-2.0
/*
 * write_storm: pwrite(2) of SIZE bytes at offset 0 of a regular file,
 * ITERATIONS times, in one thread: a file write that stays in the page
 * cache, so what a tracer adds to every write shows. Prints the elapsed
 * wall time of the loop in nanoseconds on stdout, nothing else.
 *
 *   write_storm FILE ITERATIONS [SIZE]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	long long start, n, size = 64;
	char buf[4096];
	int fd;

	if (argc < 3 || argc > 4 || (n = atoll(argv[2])) <= 0 ||
	    (argc == 4 && ((size = atoll(argv[3])) <= 0 || size > (long long)sizeof(buf)))) {
		fprintf(stderr, "usage: %s FILE ITERATIONS [SIZE <= 4096]\n", argv[0]);
		return 2;
	}
	fd = open(argv[1], O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	memset(buf, 'x', sizeof(buf));
	start = now_ns();
	for (long long i = 0; i < n; i++) {
		if (pwrite(fd, buf, size, 0) != size) {
			perror("pwrite");
			return 1;
		}
	}
	printf("%lld\n", now_ns() - start);
	close(fd);
	return 0;
}
