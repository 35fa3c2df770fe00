// SPDX-License-Identifier: GPL-2.0-only
/*
 * dns: DNS messages over UDP and TCP port 53 as the processes that send
 * and receive them see them, for Go to parse and pair. Over TCP, each
 * segment's payload is copied; Go parses a segment that holds whole
 * length-prefixed messages (the common case: one query, one answer).
 *
 * The packets come from cgroup_skb (egress and ingress) on a cgroup v2
 * directory, by default the root, so every process below it is seen; the
 * hooks see each datagram once, after the stack has routed it, and copy it
 * whole with bpf_skb_load_bytes. A received answer is handled in softirq,
 * not in its process: the owner comes from the socket. cgroup_sock_addr
 * hooks (connect4/6, sendmsg4/6) run in the process that connects or sends
 * to port 53 and note it under the socket's cookie, which cgroup_skb reads
 * for both directions.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

#define TASK_COMM_LEN 16
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define DNS_PORT 53
/* The classic DNS limit over UDP; a larger (EDNS) message is truncated. */
#define DNS_MAX 512

/* The process that owns a socket talking to port 53. */
struct owner {
	__u64 cgroup_id;
	__u64 start_ns;  /* the process's start (its leader's), with pid its identity */
	__u64 pstart_ns; /* the parent's */
	__u32 ppid;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u8 comm[TASK_COMM_LEN];
};

struct dns_event {
	__u64 ts_ns;
	__u64 cookie;   /* the socket's cookie: pairs a query with its answer */
	struct owner owner; /* pid 0: a socket no hook saw connect or send */
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;    /* host order */
	__u16 dport;
	__u8 family;    /* 4 or 6 */
	__u8 egress;    /* 1: sent, 0: received */
	__u16 len;      /* bytes of data copied */
	__u32 msg_len;  /* the UDP or TCP payload's length on the wire */
	__u8 proto;     /* IPPROTO_UDP or IPPROTO_TCP */
	__u8 _pad[3];
	__u8 data[DNS_MAX];
};

const struct dns_event *unused_dns_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

/* Socket cookie → the process that connected or sent to port 53. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct owner);
} owners SEC(".maps");

/* [0]: records lost to a full ring buffer. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

static __always_inline void note_owner(struct bpf_sock_addr *ctx)
{
	__u64 cookie, pid_tgid;
	struct task_struct *task;
	struct owner o = {};

	if (ctx->user_port != bpf_htons(DNS_PORT))
		return;
	cookie = bpf_get_socket_cookie(ctx);
	pid_tgid = bpf_get_current_pid_tgid();
	o.pid = pid_tgid >> 32;
	o.tid = (__u32)pid_tgid;
	o.uid = (__u32)bpf_get_current_uid_gid();
	o.cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(o.comm, sizeof(o.comm));
	/* The same identity as every other event's header (kscope.h). */
	task = (struct task_struct *)bpf_get_current_task();
	o.ppid = BPF_CORE_READ(task, real_parent, tgid);
	o.start_ns = BPF_CORE_READ(task, group_leader, start_time);
	o.pstart_ns = BPF_CORE_READ(task, real_parent, group_leader, start_time);
	bpf_map_update_elem(&owners, &cookie, &o, BPF_ANY);
}

SEC("cgroup/connect4")
int dns_connect4(struct bpf_sock_addr *ctx)
{
	note_owner(ctx);
	return 1;
}

SEC("cgroup/connect6")
int dns_connect6(struct bpf_sock_addr *ctx)
{
	note_owner(ctx);
	return 1;
}

SEC("cgroup/sendmsg4")
int dns_sendmsg4(struct bpf_sock_addr *ctx)
{
	note_owner(ctx);
	return 1;
}

SEC("cgroup/sendmsg6")
int dns_sendmsg6(struct bpf_sock_addr *ctx)
{
	note_owner(ctx);
	return 1;
}

static __always_inline void handle(struct __sk_buff *skb, __u8 egress)
{
	struct dns_event *e;
	struct owner *o;
	__u16 ports[2], sport, dport;
	__u32 off, n;
	__u8 family, proto;
	__u64 cookie;

	/* The IP header: the data of a cgroup_skb program starts there. */
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return;
		if (ip.frag_off & bpf_htons(0x1fff))
			return; /* a later fragment: no UDP header */
		family = 4;
		proto = ip.protocol;
		off = ip.ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return;
		family = 6;
		proto = ip6.nexthdr; /* extension headers are not followed */
		off = sizeof(ip6);
	} else {
		return;
	}
	if (proto != IPPROTO_UDP && proto != IPPROTO_TCP)
		return;
	if (bpf_skb_load_bytes(skb, off, ports, sizeof(ports)))
		return;
	sport = bpf_ntohs(ports[0]);
	dport = bpf_ntohs(ports[1]);
	/* Only the client's side: queries out to 53, answers in from 53. */
	if ((egress && dport != DNS_PORT) || (!egress && sport != DNS_PORT))
		return;
	if (proto == IPPROTO_UDP) {
		off += 8;
	} else {
		__u8 doff;

		/* data offset: the high nibble of byte 12, in 32-bit words */
		if (bpf_skb_load_bytes(skb, off + 12, &doff, 1))
			return;
		off += (doff >> 4) * 4;
	}
	if (skb->len <= off)
		return;
	n = skb->len - off;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__u32 zero = 0;
		__u64 *l = bpf_map_lookup_elem(&lost, &zero);

		if (l)
			*l += 1;
		return;
	}
	e->ts_ns = bpf_ktime_get_ns();
	cookie = bpf_get_socket_cookie(skb);
	e->cookie = cookie;
	o = bpf_map_lookup_elem(&owners, &cookie);
	if (o)
		e->owner = *o;
	else
		__builtin_memset(&e->owner, 0, sizeof(e->owner));
	__builtin_memset(e->saddr, 0, sizeof(e->saddr));
	__builtin_memset(e->daddr, 0, sizeof(e->daddr));
	if (family == 4) {
		bpf_skb_load_bytes(skb, 12, e->saddr, 4);
		bpf_skb_load_bytes(skb, 16, e->daddr, 4);
	} else {
		bpf_skb_load_bytes(skb, 8, e->saddr, 16);
		bpf_skb_load_bytes(skb, 24, e->daddr, 16);
	}
	e->sport = sport;
	e->dport = dport;
	e->family = family;
	e->egress = egress;
	e->msg_len = n;
	e->proto = proto;
	e->_pad[0] = e->_pad[1] = e->_pad[2] = 0;
	if (n > DNS_MAX)
		n = DNS_MAX;
	/* 1..DNS_MAX in a form the verifier can bound (n > 0 here). */
	asm volatile("" : "+r"(n));
	n = ((n - 1) & (DNS_MAX - 1)) + 1;
	e->len = 0;
	if (bpf_skb_load_bytes(skb, off, e->data, n) == 0)
		e->len = n;
	bpf_ringbuf_submit(e, 0);
}

SEC("cgroup_skb/egress")
int dns_egress(struct __sk_buff *skb)
{
	handle(skb, 1);
	return 1;
}

SEC("cgroup_skb/ingress")
int dns_ingress(struct __sk_buff *skb)
{
	handle(skb, 0);
	return 1;
}
