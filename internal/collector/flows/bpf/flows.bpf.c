// SPDX-License-Identifier: GPL-2.0-only
/*
 * flows: TCP and UDP flows (IPv4 and IPv6, loopback included) with the
 * process that owns their socket, bytes and packets each way, and for TCP
 * the state, retransmits and smoothed RTT, aggregated in a kernel hash
 * that Go reads.
 *
 * Packets come from cgroup_skb (egress and ingress) on a cgroup v2
 * directory, by default the root: every packet a local socket sends or
 * receives passes there once, after routing, with its socket. A flow is
 * keyed by network namespace and 5-tuple as the local socket sees it, so
 * a TCP server's handshake (seen on its listener) and its accepted
 * connection are one flow, and an unconnected UDP socket has one flow per
 * peer. The packets' process cannot be named in cgroup_skb (ingress runs
 * in softirq), so cgroup_sock (sock_create) and cgroup_sock_addr
 * (connect4/6, sendmsg4/6) programs, which run in the process that creates,
 * connects or sends on a socket, note it under the socket's cookie; a flow
 * takes the owner of the socket its first packets pass through (for an
 * accepted connection, its listener's).
 *
 * A TCP flow ends when its socket reaches TCP_CLOSE
 * (sock/inet_sock_set_state, attached raw: Linux 4.16+), which also gives
 * its final retransmits and smoothed RTT; a UDP flow ends when its socket
 * is released (cgroup/sock_release, Linux 5.9+), noted for Go, which also
 * ends flows idle for long.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

#define TASK_COMM_LEN 16
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define AF_INET 2
#define AF_INET6 10

/* Directions, as flow.dir. */
#define DIR_UNKNOWN 0
#define DIR_OUT 1 /* the local side opened it: sent a SYN, or sent first (UDP) */
#define DIR_IN 2  /* the remote side did */

/* Indexes of the counters map, mirrored in Go. */
enum counter {
	C_FULL = 0,       /* packets of flows the full map had no room for */
	C_FULL_BYTES = 1, /* their bytes */
	C_RELEASED_FULL = 2, /* released UDP sockets not noted: map full */
	C_MAX = 3,
};

/* The process that owns a socket. */
struct owner {
	__u64 cgroup_id;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u8 comm[TASK_COMM_LEN];
	__u32 _pad;
};

struct flow_key {
	__u64 netns;    /* the network namespace's cookie */
	__u8 laddr[16]; /* IPv4: the first four bytes */
	__u8 raddr[16];
	__u16 lport;    /* host order */
	__u16 rport;
	__u8 family;    /* 4 or 6 */
	__u8 proto;     /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 _pad[2];
};

struct flow {
	__u64 first_ns;  /* the first packet seen */
	__u64 last_ns;   /* the last packet seen */
	__u64 end_ns;    /* when the socket closed; 0: open */
	__u64 cookie;    /* the socket's cookie (a connected one's, not its listener's) */
	__u64 bytes[2];  /* [0] sent, [1] received: L4 payload bytes */
	__u64 packets[2];
	struct owner owner; /* pid 0: no hook saw the socket's process */
	__u32 retrans;   /* TCP: segments retransmitted */
	__u32 srtt_us;   /* TCP: smoothed RTT, microseconds */
	__u8 state;      /* TCP: the socket's state (TCP_ESTABLISHED, …) */
	__u8 dir;        /* DIR_* */
	__u8 ended;      /* the socket closed (TCP_CLOSE) */
	__u8 _pad[5];
};

/* Force BTF for bpf2go -type. */
const struct flow_key *unused_flow_key __attribute__((unused));
const struct flow *unused_flow __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* resized from Go */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct flow_key);
	__type(value, struct flow);
} flows SEC(".maps");

/* Socket cookie → the process that created, connected or sent on it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); /* resized from Go */
	__type(key, __u64);
	__type(value, struct owner);
} owners SEC(".maps");

/* Cookies of released UDP sockets, for Go to end their flows. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, __u64); /* when */
} released SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 i, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &i);

	if (v)
		*v += n;
}

static __always_inline void note_owner(__u64 cookie)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct owner o = {}, *old;

	old = bpf_map_lookup_elem(&owners, &cookie);
	if (old && old->pid == pid_tgid >> 32)
		return; /* the same process again (a sendto per datagram) */
	o.pid = pid_tgid >> 32;
	o.tid = (__u32)pid_tgid;
	o.uid = (__u32)bpf_get_current_uid_gid();
	o.cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(o.comm, sizeof(o.comm));
	bpf_map_update_elem(&owners, &cookie, &o, BPF_ANY);
}

SEC("cgroup/sock_create")
int flows_sock_create(struct bpf_sock *ctx)
{
	if (ctx->protocol == IPPROTO_TCP || ctx->protocol == IPPROTO_UDP)
		note_owner(bpf_get_socket_cookie(ctx));
	return 1;
}

SEC("cgroup/sock_release")
int flows_sock_release(struct bpf_sock *ctx)
{
	__u64 cookie, now;

	if (ctx->protocol != IPPROTO_UDP)
		return 1; /* a TCP flow ends at TCP_CLOSE, after close() */
	cookie = bpf_get_socket_cookie(ctx);
	now = bpf_ktime_get_ns();
	bpf_map_delete_elem(&owners, &cookie);
	if (bpf_map_update_elem(&released, &cookie, &now, BPF_ANY))
		count(C_RELEASED_FULL, 1);
	return 1;
}

SEC("cgroup/connect4")
int flows_connect4(struct bpf_sock_addr *ctx)
{
	note_owner(bpf_get_socket_cookie(ctx));
	return 1;
}

SEC("cgroup/connect6")
int flows_connect6(struct bpf_sock_addr *ctx)
{
	note_owner(bpf_get_socket_cookie(ctx));
	return 1;
}

SEC("cgroup/sendmsg4")
int flows_sendmsg4(struct bpf_sock_addr *ctx)
{
	note_owner(bpf_get_socket_cookie(ctx));
	return 1;
}

SEC("cgroup/sendmsg6")
int flows_sendmsg6(struct bpf_sock_addr *ctx)
{
	note_owner(bpf_get_socket_cookie(ctx));
	return 1;
}

static __always_inline void handle(struct __sk_buff *skb, int egress)
{
	struct bpf_sock *sk;
	struct flow_key k = {};
	struct flow *f;
	__u32 off, hlen, segs, payload = 0;
	__u16 ports[2];
	__u8 proto, tcpflags = 0, state = 0;
	__u64 now, cookie;

	/* The IP header: the data of a cgroup_skb program starts there. */
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return;
		if (ip.frag_off & bpf_htons(0x1fff))
			return; /* a later fragment: no L4 header */
		k.family = 4;
		proto = ip.protocol;
		off = ip.ihl * 4;
		__builtin_memcpy(egress ? k.laddr : k.raddr, &ip.saddr, 4);
		__builtin_memcpy(egress ? k.raddr : k.laddr, &ip.daddr, 4);
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return;
		k.family = 6;
		proto = ip6.nexthdr; /* extension headers are not followed */
		off = sizeof(ip6);
		__builtin_memcpy(egress ? k.laddr : k.raddr, &ip6.saddr, 16);
		__builtin_memcpy(egress ? k.raddr : k.laddr, &ip6.daddr, 16);
	} else {
		return;
	}
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return;
	if (bpf_skb_load_bytes(skb, off, ports, sizeof(ports)))
		return;
	k.proto = proto;
	k.lport = bpf_ntohs(egress ? ports[0] : ports[1]);
	k.rport = bpf_ntohs(egress ? ports[1] : ports[0]);
	if (proto == IPPROTO_UDP) {
		hlen = 8;
	} else {
		__u8 b[2];

		/* byte 12: data offset (high nibble, in 32-bit words); 13: flags */
		if (bpf_skb_load_bytes(skb, off + 12, b, 2))
			return;
		hlen = (b[0] >> 4) * 4;
		tcpflags = b[1];
	}
	if (skb->len > off + hlen)
		payload = skb->len - off - hlen;
	/* A GSO packet (TCP over loopback, GRO on receive) is many on the wire. */
	segs = skb->gso_segs;
	if (!segs)
		segs = 1;
	k.netns = bpf_get_netns_cookie(skb);

	sk = skb->sk;
	if (sk)
		sk = bpf_sk_fullsock(sk);
	if (sk && proto == IPPROTO_TCP)
		state = sk->state;
	cookie = sk ? bpf_get_socket_cookie(skb) : 0;
	now = bpf_ktime_get_ns();

	f = bpf_map_lookup_elem(&flows, &k);
	if (!f) {
		struct flow n = {};
		struct owner *o;

		/* A closed socket's stragglers start no flow. */
		if (proto == IPPROTO_TCP && state == BPF_TCP_CLOSE)
			return;
		n.first_ns = now;
		n.cookie = cookie;
		if (cookie) {
			o = bpf_map_lookup_elem(&owners, &cookie);
			if (o)
				n.owner = *o;
		}
		if (proto == IPPROTO_UDP)
			n.dir = egress ? DIR_OUT : DIR_IN;
		else if ((tcpflags & 0x12) == 0x02) /* SYN without ACK */
			n.dir = egress ? DIR_OUT : DIR_IN;
		/* Fails when the map is full, or when another CPU just made it. */
		bpf_map_update_elem(&flows, &k, &n, BPF_NOEXIST);
		f = bpf_map_lookup_elem(&flows, &k);
		if (!f) {
			count(C_FULL, segs);
			count(C_FULL_BYTES, payload);
			return;
		}
	}
	__sync_fetch_and_add(&f->packets[!egress], segs);
	f->last_ns = now;
	if (!f->owner.pid && cookie) {
		struct owner *o = bpf_map_lookup_elem(&owners, &cookie);

		if (o)
			f->owner = *o;
	}
	if (proto == IPPROTO_TCP && sk && state != BPF_TCP_LISTEN) {
		struct bpf_tcp_sock *tp = bpf_tcp_sock(sk);

		/* The listener passes the handshake: the flow keeps the
		 * connection's socket, not the listener. */
		f->state = state;
		f->cookie = cookie;
		if (tp) {
			__u64 acked = tp->bytes_acked, rcvd = tp->bytes_received;

			f->retrans = tp->total_retrans;
			f->srtt_us = tp->srtt_us >> 3;
			/*
			 * Data bytes from the socket's own counters, not the
			 * packets': retransmissions and duplicates are not
			 * counted twice. bytes_acked counts an active open's SYN
			 * (less here) and, until the flow ends, may count a FIN.
			 */
			if (f->dir == DIR_OUT && acked)
				acked--;
			if (acked > f->bytes[0])
				f->bytes[0] = acked;
			if (rcvd > f->bytes[1])
				f->bytes[1] = rcvd;
			return;
		}
	}
	__sync_fetch_and_add(&f->bytes[!egress], payload);
}

SEC("cgroup_skb/egress")
int flows_egress(struct __sk_buff *skb)
{
	handle(skb, 1);
	return 1;
}

SEC("cgroup_skb/ingress")
int flows_ingress(struct __sk_buff *skb)
{
	handle(skb, 0);
	return 1;
}

static __always_inline bool v4mapped(const __u8 *a)
{
	__u64 lo;
	__u32 mid;

	__builtin_memcpy(&lo, a, 8);
	__builtin_memcpy(&mid, a + 8, 4);
	return lo == 0 && mid == bpf_htonl(0xffff);
}

/* States in which our FIN has been queued: it is the last sequence number. */
static __always_inline bool fin_queued(int state)
{
	return state == TCP_FIN_WAIT1 || state == TCP_FIN_WAIT2 || state == TCP_CLOSING ||
	       state == TCP_LAST_ACK;
}

/* A TCP socket reached TCP_CLOSE: its flow ends with its final counters. */
SEC("raw_tracepoint/inet_sock_set_state")
int flows_set_state(struct bpf_raw_tracepoint_args *ctx)
{
	struct sock *sk = (struct sock *)ctx->args[0];
	int oldstate = (int)ctx->args[1];
	int newstate = (int)ctx->args[2];
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	__u64 done = 1ULL << bpf_core_enum_value(enum sock_flags, SOCK_DONE);
	__u64 acked, rcvd;
	struct flow_key k = {};
	struct flow *f;
	__u16 family;

	if (newstate != TCP_CLOSE || !sk)
		return 0;
	/* The tracepoint also fires for MPTCP's and SCTP's sockets. */
	if (BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family == AF_INET) {
		k.family = 4;
		bpf_core_read(k.laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(k.raddr, 4, &sk->__sk_common.skc_daddr);
	} else if (family == AF_INET6) {
		k.family = 6;
		bpf_core_read(k.laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(k.raddr, 16, &sk->__sk_common.skc_v6_daddr);
		/* A dual-stack socket talking IPv4: its packets are IPv4. */
		if (v4mapped(k.laddr) && v4mapped(k.raddr)) {
			k.family = 4;
			__builtin_memmove(k.laddr, k.laddr + 12, 4);
			__builtin_memmove(k.raddr, k.raddr + 12, 4);
			__builtin_memset(k.laddr + 4, 0, 12);
			__builtin_memset(k.raddr + 4, 0, 12);
		}
	} else {
		return 0;
	}
	k.proto = IPPROTO_TCP;
	/* skc_num is zero by now (tcp_set_state gave the port back); inet_sport keeps it. */
	k.lport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	k.rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	k.netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, net_cookie);

	f = bpf_map_lookup_elem(&flows, &k);
	if (!f)
		return 0;
	/*
	 * The connection's data bytes: bytes_acked less the sequence numbers
	 * of an active open's SYN and of our FIN once acknowledged;
	 * bytes_received less the peer's FIN, which set SOCK_DONE (tcp_fin).
	 */
	acked = BPF_CORE_READ(tp, bytes_acked);
	rcvd = BPF_CORE_READ(tp, bytes_received);
	if (f->dir == DIR_OUT && acked)
		acked--;
	if (fin_queued(oldstate) && acked && BPF_CORE_READ(tp, snd_una) == BPF_CORE_READ(tp, write_seq))
		acked--;
	if (rcvd && (BPF_CORE_READ(sk, __sk_common.skc_flags) & done))
		rcvd--;
	f->bytes[0] = acked;
	f->bytes[1] = rcvd;
	f->retrans = BPF_CORE_READ(tp, total_retrans);
	f->srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
	f->state = TCP_CLOSE;
	f->end_ns = bpf_ktime_get_ns();
	f->ended = 1;
	return 0;
}
