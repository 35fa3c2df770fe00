// SPDX-License-Identifier: GPL-2.0-only
/*
 * capture: the kernel side of `kscope net capture`. Each interface gets a
 * tcx program per direction that Go builds from the pcap filter
 * (internal/pcapfilter); a packet it accepts is tail-called into
 * capture_ingress or capture_egress here, which names the packet's process
 * and copies the packet, up to the snap length, to the perf buffer with a
 * record of where and whose it was.
 *
 * The process: cgroup/sock_create, connect4/6 and sendmsg4/6 programs run
 * in the process that creates a socket or connects or sends on it, and
 * keep it in the socket's local storage (BPF_F_CLONE: an accepted
 * connection starts with its listener's). On egress the packet carries its
 * socket; on ingress, and for egress packets of request or timewait
 * sockets, the socket is looked up by the packet's 5-tuple in the packet's
 * network namespace (for a SYN: the listener).
 *
 * Why perf and not the BPF ring buffer: bpf_perf_event_output with the skb
 * as context has the kernel copy a length known only at run time straight
 * from the packet; a ring buffer reservation needs a size the verifier
 * knows, so a 64 KiB GSO packet would cost every small one 64 KiB.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

#define TASK_COMM_LEN 16
#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define TC_ACT_UNSPEC (-1) /* TCX_NEXT: the next program decides */
/*
 * A perf record's size is 16 bits (struct perf_event_header): with the
 * header (8), the raw size (4), struct packet (56) and padding to 8, the
 * packet's bytes must stay below 65460, or the record's size wraps and
 * the buffer cannot be read past it. GSO and GRO packets (64 KiB on
 * loopback and veth) are cut there.
 */
#define MAX_CAPLEN 65400

/* Indexes of the counters map, mirrored in Go. */
enum counter {
	C_MATCHED = 0,  /* packets the filter accepted */
	C_FILTERED = 1, /* of those, not of --pid or --comm */
	C_CAPTURED = 2, /* copied to the perf buffer */
	C_DROPPED = 3,  /* the perf buffer was full */
	C_MAX = 4,
};

struct owner {
	__u64 cgroup_id;
	__u32 pid;
	__u32 tid;
	__u8 comm[TASK_COMM_LEN];
};

/* The record before each packet's bytes in the perf buffer. */
struct packet {
	__u64 ts_ns;   /* bpf_ktime_get_ns */
	__u64 cgroup_id;
	__u32 len;     /* the packet's length */
	__u32 caplen;  /* the bytes copied after this record */
	__u32 ifindex;
	__u32 pid;     /* 0: unknown */
	__u32 tid;
	__u8 egress;
	__u8 _pad[3];
	__u8 comm[TASK_COMM_LEN];
};

const struct packet *unused_packet __attribute__((unused));

const volatile __u32 snaplen = 262144;
const volatile __u32 filter_pid = 0;
const volatile __u8 filter_comm_on = 0;
const volatile __u8 filter_comm[TASK_COMM_LEN] = {};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct owner);
} owners SEC(".maps");

/* The filter programs tail-call [0] for ingress, [1] for egress. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} emitters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
} packets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &i);

	if (v)
		*v += 1;
}

static __always_inline void note_owner(struct owner *o)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!o || o->tid == (__u32)pid_tgid)
		return; /* the same thread again (a sendto per datagram) */
	o->pid = pid_tgid >> 32;
	o->tid = (__u32)pid_tgid;
	o->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(o->comm, sizeof(o->comm));
}

SEC("cgroup/sock_create")
int capture_sock_create(struct bpf_sock *ctx)
{
	note_owner(bpf_sk_storage_get(&owners, ctx, 0, BPF_SK_STORAGE_GET_F_CREATE));
	return 1;
}

static __always_inline int note_addr(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;

	if (sk)
		note_owner(bpf_sk_storage_get(&owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE));
	return 1;
}

SEC("cgroup/connect4")
int capture_connect4(struct bpf_sock_addr *ctx) { return note_addr(ctx); }

SEC("cgroup/connect6")
int capture_connect6(struct bpf_sock_addr *ctx) { return note_addr(ctx); }

SEC("cgroup/sendmsg4")
int capture_sendmsg4(struct bpf_sock_addr *ctx) { return note_addr(ctx); }

SEC("cgroup/sendmsg6")
int capture_sendmsg6(struct bpf_sock_addr *ctx) { return note_addr(ctx); }

/*
 * lookup finds the local socket of a TCP or UDP packet by its 5-tuple,
 * seen from the side that receives: for an egress packet the tuple is
 * turned around.
 */
static __always_inline struct owner *lookup(struct __sk_buff *skb, bool egress)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk = NULL;
	struct owner *o = NULL;
	__u16 proto = skb->protocol;
	__u32 tlen, l4;
	__u8 ipproto;
	__u16 ports[2];

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)))
			return NULL;
		if (ip.frag_off & bpf_htons(0x1fff))
			return NULL;
		ipproto = ip.protocol;
		l4 = ETH_HLEN + ip.ihl * 4;
		if (egress) {
			t.ipv4.saddr = ip.daddr;
			t.ipv4.daddr = ip.saddr;
		} else {
			t.ipv4.saddr = ip.saddr;
			t.ipv4.daddr = ip.daddr;
		}
		tlen = sizeof(t.ipv4);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip6, sizeof(ip6)))
			return NULL;
		ipproto = ip6.nexthdr;
		l4 = ETH_HLEN + sizeof(ip6);
		if (egress) {
			__builtin_memcpy(t.ipv6.saddr, &ip6.daddr, 16);
			__builtin_memcpy(t.ipv6.daddr, &ip6.saddr, 16);
		} else {
			__builtin_memcpy(t.ipv6.saddr, &ip6.saddr, 16);
			__builtin_memcpy(t.ipv6.daddr, &ip6.daddr, 16);
		}
		tlen = sizeof(t.ipv6);
	} else {
		return NULL;
	}
	if (ipproto != IPPROTO_TCP && ipproto != IPPROTO_UDP)
		return NULL;
	if (bpf_skb_load_bytes(skb, l4, ports, sizeof(ports)))
		return NULL;
	if (tlen == sizeof(t.ipv4)) {
		t.ipv4.sport = egress ? ports[1] : ports[0];
		t.ipv4.dport = egress ? ports[0] : ports[1];
	} else {
		t.ipv6.sport = egress ? ports[1] : ports[0];
		t.ipv6.dport = egress ? ports[0] : ports[1];
	}
	if (ipproto == IPPROTO_TCP)
		sk = bpf_sk_lookup_tcp(skb, &t, tlen, BPF_F_CURRENT_NETNS, 0);
	else
		sk = bpf_sk_lookup_udp(skb, &t, tlen, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return NULL;
	o = bpf_sk_storage_get(&owners, sk, 0, 0);
	bpf_sk_release(sk);
	return o;
}

static __always_inline int emit(struct __sk_buff *skb, bool egress)
{
	struct packet p = {};
	struct owner *o = NULL;
	struct bpf_sock *sk;
	__u32 caplen;
	__u64 flags;
	int i;

	count(C_MATCHED);
	if (egress && (sk = skb->sk)) {
		sk = bpf_sk_fullsock(sk);
		if (sk)
			o = bpf_sk_storage_get(&owners, sk, 0, 0);
	}
	if (!o)
		o = lookup(skb, egress);
	if (o) {
		p.pid = o->pid;
		p.tid = o->tid;
		p.cgroup_id = o->cgroup_id;
		__builtin_memcpy(p.comm, o->comm, TASK_COMM_LEN);
	}
	if (filter_pid && p.pid != filter_pid) {
		count(C_FILTERED);
		return TC_ACT_UNSPEC;
	}
	if (filter_comm_on) {
		for (i = 0; i < TASK_COMM_LEN; i++) {
			if (p.comm[i] != filter_comm[i]) {
				count(C_FILTERED);
				return TC_ACT_UNSPEC;
			}
			if (!p.comm[i])
				break;
		}
	}
	caplen = skb->len;
	if (caplen > snaplen)
		caplen = snaplen;
	if (caplen > MAX_CAPLEN)
		caplen = MAX_CAPLEN;
	p.ts_ns = bpf_ktime_get_ns();
	p.len = skb->len;
	p.caplen = caplen;
	p.ifindex = skb->ifindex;
	p.egress = egress;
	flags = BPF_F_CURRENT_CPU | ((__u64)caplen << 32);
	if (bpf_perf_event_output(skb, &packets, flags, &p, sizeof(p)))
		count(C_DROPPED);
	else
		count(C_CAPTURED);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int capture_ingress(struct __sk_buff *skb) { return emit(skb, false); }

SEC("tc")
int capture_egress(struct __sk_buff *skb) { return emit(skb, true); }
