// SPDX-License-Identifier: Apache-2.0
/*
 * blast: send one minimal UDP frame over and over through an AF_PACKET
 * socket (qdisc bypassed, sendmmsg batches of 64) for a number of seconds,
 * then print how many were sent. bench/filter.sh's packet source: the
 * cheapest sender we can write, so the receiving side's drop path is what
 * limits the rate.
 *
 *   blast IFNAME DSTMAC SRCIP DSTIP DPORT SECONDS
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static uint16_t csum(const void *p, int n)
{
	const uint16_t *w = p;
	uint32_t s = 0;

	for (; n > 1; n -= 2)
		s += *w++;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return ~s;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: blast IFNAME DSTMAC SRCIP DSTIP DPORT SECONDS\n");
		return 2;
	}
	int fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		perror("socket");
		return 1;
	}
	int one = 1;
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	struct ifreq ifr = {0};
	strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		perror("SIOCGIFHWADDR");
		return 1;
	}
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_ifindex = if_nametoindex(argv[1]), .sll_halen = ETH_ALEN};
	unsigned char frame[60] = {0};
	struct ether_header *eth = (void *)frame;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	if (sscanf(argv[2], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &eth->ether_dhost[0], &eth->ether_dhost[1],
		   &eth->ether_dhost[2], &eth->ether_dhost[3], &eth->ether_dhost[4], &eth->ether_dhost[5]) != 6) {
		fprintf(stderr, "blast: bad MAC %s\n", argv[2]);
		return 2;
	}
	memcpy(eth->ether_shost, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	memcpy(sll.sll_addr, eth->ether_dhost, ETH_ALEN);
	eth->ether_type = htons(ETHERTYPE_IP);
	ip->ihl = 5;
	ip->version = 4;
	ip->tot_len = htons(sizeof(frame) - sizeof(*eth));
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	inet_pton(AF_INET, argv[3], &ip->saddr);
	inet_pton(AF_INET, argv[4], &ip->daddr);
	ip->check = csum(ip, sizeof(*ip));
	udp->source = htons(40000);
	udp->dest = htons(atoi(argv[5]));
	udp->len = htons(sizeof(frame) - sizeof(*eth) - sizeof(*ip));

	struct iovec iov = {.iov_base = frame, .iov_len = sizeof(frame)};
	struct mmsghdr msgs[BATCH];
	for (int i = 0; i < BATCH; i++)
		msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &sll, .msg_namelen = sizeof(sll), .msg_iov = &iov, .msg_iovlen = 1}};
	double secs = atof(argv[6]), start = now(), end = start + secs;
	unsigned long long sent = 0;
	while (now() < end) {
		int n = sendmmsg(fd, msgs, BATCH, 0);
		if (n < 0) {
			perror("sendmmsg");
			return 1;
		}
		sent += n;
	}
	printf("%llu %.6f\n", sent, now() - start);
	return 0;
}
