// SPDX-License-Identifier: Apache-2.0
/*
 * connect_storm: socket(2) + connect(2) to a closed TCP port on 127.0.0.1
 * (refused at once) + close(2), ITERATIONS times. Prints the elapsed wall
 * time of the loop in nanoseconds on stdout, nothing else.
 *
 *   connect_storm PORT ITERATIONS
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
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
	struct sockaddr_in sa = {.sin_family = AF_INET};
	long long start, n;

	if (argc != 3 || (n = atoll(argv[2])) <= 0) {
		fprintf(stderr, "usage: %s PORT ITERATIONS\n", argv[0]);
		return 2;
	}
	sa.sin_port = htons(atoi(argv[1]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	start = now_ns();
	for (long long i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0) {
			perror("socket");
			return 1;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno != ECONNREFUSED) {
			perror("connect: want ECONNREFUSED");
			return 1;
		}
		close(fd);
	}
	printf("%lld\n", now_ns() - start);
	return 0;
}
