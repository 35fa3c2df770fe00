// SPDX-License-Identifier: GPL-2.0-only
/*
 * drops: packets the kernel freed as dropped (skb:kfree_skb), with the
 * kernel's drop reason, where it was dropped, the interface and the
 * packet's IPv4/IPv6 5-tuple when its headers are set.
 *
 * kfree_skb carries the reason since Linux 5.17 (c504e5c2f964 "net: skb:
 * introduce kfree_skb_reason()"); packets freed as consumed (SKB_CONSUMED)
 * go through consume_skb and never reach it on the kernels that have the
 * reason, and are skipped where they would. Every drop is counted per
 * reason in the kernel, events or not: the ring buffer may lose records
 * under a flood, the counts never do.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "kscope.h"

char LICENSE[] SEC("license") = "GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IFNAMSIZ 16
/* Reasons counted one by one; a larger value (a subsystem's own reasons,
 * SKB_DROP_REASON_SUBSYS_MASK) counts in the last slot. */
#define MAX_REASONS 256

struct drop_event {
	struct event_header hdr; /* the task running when the packet was dropped */
	__u64 location;          /* the kernel address that dropped it */
	__u32 reason;            /* enum skb_drop_reason */
	__u32 ifindex;           /* the skb's device, 0 if none */
	__u16 protocol;          /* skb->protocol, host order (ETH_P_*) */
	__u8 l4proto;            /* IPPROTO_*, 0 when not parsed */
	__u8 family;             /* 4, 6, or 0 when the headers were not parsed */
	__u16 sport;             /* host order */
	__u16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
	__u8 ifname[IFNAMSIZ];
	__u32 len;               /* skb->len */
	__u32 _pad;
};

const struct drop_event *unused_drop_event __attribute__((unused));

/* Drops per reason, events or not. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_REASONS);
	__type(key, __u32);
	__type(value, __u64);
} reasons SEC(".maps");

static __always_inline void parse(struct sk_buff *skb, struct drop_event *e)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 th = BPF_CORE_READ(skb, transport_header);
	__u8 l4 = 0;
	__u32 thoff = 0;

	/* network_header is ~0 when unset (a packet dropped before it was set). */
	if (nh == (__u16)~0U)
		return;
	if (e->protocol == ETH_P_IP) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh))
			return;
		if (ip.version != 4)
			return;
		e->family = 4;
		__builtin_memcpy(e->saddr, &ip.saddr, 4);
		__builtin_memcpy(e->daddr, &ip.daddr, 4);
		l4 = ip.protocol;
		thoff = nh + ip.ihl * 4;
		/* Not the first fragment: no ports in it. */
		if (ip.frag_off & bpf_htons(0x1fff))
			l4 = 0;
	} else if (e->protocol == ETH_P_IPV6) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh))
			return;
		if (ip6.version != 6)
			return;
		e->family = 6;
		__builtin_memcpy(e->saddr, &ip6.saddr, 16);
		__builtin_memcpy(e->daddr, &ip6.daddr, 16);
		l4 = ip6.nexthdr; /* extension headers are not followed */
		thoff = nh + sizeof(ip6);
	} else {
		return;
	}
	e->l4proto = l4;
	/* The transport header, where the stack set it, wins over our guess. */
	if (th != (__u16)~0U && th > nh)
		thoff = th;
	if (l4 == IPPROTO_TCP || l4 == IPPROTO_UDP) {
		__be16 ports[2];

		if (bpf_probe_read_kernel(ports, sizeof(ports), head + thoff))
			return;
		e->sport = bpf_ntohs(ports[0]);
		e->dport = bpf_ntohs(ports[1]);
	}
}

SEC("raw_tracepoint/kfree_skb")
int kfree_skb(struct bpf_raw_tracepoint_args *ctx)
{
	/* TP_PROTO(struct sk_buff *skb, void *location, enum skb_drop_reason reason, ...) */
	struct sk_buff *skb = (struct sk_buff *)ctx->args[0];
	__u32 reason = (__u32)ctx->args[2];
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct net_device *dev;
	struct drop_event *e;
	__u32 slot;
	__u64 *n;

	if (reason == SKB_CONSUMED)
		return 0;
	/* One step of count per reason, one for the whole subsystem range above. */
	slot = reason < MAX_REASONS ? reason : MAX_REASONS - 1;
	n = bpf_map_lookup_elem(&reasons, &slot);
	if (n)
		*n += 1;
	if (!want_task(pid_tgid, (__u32)bpf_get_current_uid_gid()))
		return drop();
	e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->hdr, pid_tgid, (__u32)bpf_get_current_uid_gid());
	e->location = ctx->args[1];
	e->reason = reason;
	e->len = BPF_CORE_READ(skb, len);
	e->protocol = bpf_ntohs(BPF_CORE_READ(skb, protocol));
	e->l4proto = 0;
	e->family = 0;
	e->sport = 0;
	e->dport = 0;
	__builtin_memset(e->saddr, 0, sizeof(e->saddr));
	__builtin_memset(e->daddr, 0, sizeof(e->daddr));
	__builtin_memset(e->ifname, 0, sizeof(e->ifname));
	e->_pad = 0;
	dev = BPF_CORE_READ(skb, dev);
	e->ifindex = 0;
	if (dev) {
		e->ifindex = BPF_CORE_READ(dev, ifindex);
		bpf_probe_read_kernel_str(e->ifname, sizeof(e->ifname), dev->name);
	}
	parse(skb, e);
	submit(e, sizeof(*e));
	return 0;
}
