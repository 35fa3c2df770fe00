// SPDX-License-Identifier: Apache-2.0
/*
 * syscall_storm: one cheap syscall, ITERATIONS times, in one thread, so what
 * a tracer adds to every syscall shows:
 *
 *   getppid  getppid(2) through syscall(2) (glibc does not cache it)
 *   read     a 1-byte read(2) from /dev/zero
 *   evict    getppid(2) and rt_sigprocmask(2) (a query that changes
 *            nothing) in turn: two syscalls that share a slot of the
 *            syscalls collector's per-thread cache (their numbers, 110 and
 *            14, are equal modulo 16), so every call moves the other's
 *            count to the per-process hash. ITERATIONS counts both.
 *
 * Prints the CPU time the thread spent in the loop, in nanoseconds
 * (CLOCK_THREAD_CPUTIME_ID: user and system, the BPF programs run on the
 * syscall path included), then a space and the elapsed wall time. CPU time
 * is what a loaded machine does not inflate much: other runnable tasks
 * stretch the wall time, not the thread's own CPU time.
 *
 *   syscall_storm getppid|read|evict ITERATIONS
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long long cpu, wall, n;
	int rd, ev, fd = -1;
	char b;

	if (argc != 3 || (n = atoll(argv[2])) <= 0 ||
	    (strcmp(argv[1], "getppid") && strcmp(argv[1], "read") && strcmp(argv[1], "evict"))) {
		fprintf(stderr, "usage: %s getppid|read|evict ITERATIONS\n", argv[0]);
		return 2;
	}
	rd = !strcmp(argv[1], "read");
	ev = !strcmp(argv[1], "evict");
	if (rd && (fd = open("/dev/zero", O_RDONLY)) < 0) {
		perror("/dev/zero");
		return 1;
	}
	cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	wall = clock_ns(CLOCK_MONOTONIC);
	if (rd) {
		for (long long i = 0; i < n; i++)
			if (read(fd, &b, 1) != 1) {
				perror("read");
				return 1;
			}
	} else if (ev) {
		for (long long i = 0; i < n; i += 2) {
			syscall(SYS_getppid);
			syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, NULL, 8);
		}
	} else {
		for (long long i = 0; i < n; i++)
			syscall(SYS_getppid);
	}
	cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu;
	wall = clock_ns(CLOCK_MONOTONIC) - wall;
	printf("%lld %lld\n", cpu, wall);
	return 0;
}
