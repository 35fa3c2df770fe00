// SPDX-License-Identifier: Apache-2.0
/*
 * fork_churn: RATE short-lived processes a second for SECONDS seconds. Each
 * child, when PORT is not 0, connects to 127.0.0.1:PORT from a loopback
 * address of its own (127.1.0.0 to 127.255.255.254, 16.7 million) and
 * sends one byte, so that every process also makes two TCP endpoints that
 * are never seen again; then it exits. The parent listens on PORT, accepts and
 * closes, and reaps its children without waiting for them
 * (SA_NOCLDWAIT). It prints the forks made on stdout.
 *
 *   fork_churn RATE SECONDS PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int lfd = -1;

static void *acceptor(void *arg)
{
	char b;

	(void)arg;
	for (;;) {
		int c = accept(lfd, NULL, NULL);

		if (c < 0)
			continue;
		(void)read(c, &b, 1);
		close(c);
	}
	return NULL;
}

static void child(int port, long i)
{
	struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		_exit(1);
	src.sin_addr.s_addr = htonl(0x7f010000u + (unsigned)(i % 0xfeffff));
	dst.sin_addr.s_addr = htonl(0x7f000001u);
	dst.sin_port = htons(port);
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) == 0 &&
	    connect(fd, (struct sockaddr *)&dst, sizeof(dst)) == 0)
		(void)write(fd, "x", 1);
	close(fd);
	_exit(0);
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = SIG_IGN, .sa_flags = SA_NOCLDWAIT};
	struct timespec next;
	long rate, secs, port, forks = 0;
	pthread_t t;

	if (argc != 4 || (rate = atol(argv[1])) <= 0 || (secs = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: %s RATE SECONDS PORT\n", argv[0]);
		return 2;
	}
	port = atol(argv[3]);
	sigaction(SIGCHLD, &sa, NULL);
	if (port) {
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
		int one = 1;

		a.sin_addr.s_addr = htonl(0x7f000001u);
		lfd = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 1024)) {
			perror("listen");
			return 1;
		}
		pthread_create(&t, NULL, acceptor, NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (long i = 0; i < rate * secs; i++) {
		pid_t pid = fork();

		if (pid == 0)
			child(port, i);
		if (pid > 0)
			forks++;
		next.tv_nsec += 1000000000L / rate;
		while (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	printf("%ld\n", forks);
	return 0;
}
