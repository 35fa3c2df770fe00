// SPDX-License-Identifier: GPL-2.0-only
/*
 * tcp: TCP connections opened, failed and closed, how long they lived, the
 * data they moved, retransmits and resets, all aggregated in the kernel.
 *
 * sock/inet_sock_set_state sees every state change of a TCP socket:
 * SYN_SENT -> ESTABLISHED is an active open, SYN_RECV -> ESTABLISHED a
 * passive one, SYN_SENT -> CLOSE a failed connect (sk_err says why) and
 * any other -> CLOSE from an established state the end of a connection. At
 * open a "conns" entry keyed by the socket's address keeps the start time
 * and the bytes already counted; at close the rest of the connection's
 * bytes are counted and the entry goes. The "walk" iterator (iter/tcp) run
 * from Go at collection time counts the bytes open connections moved since
 * the previous walk, so byte counters move while a connection is busy, and
 * counts sockets by state. Both sides serialize on the socket lock: the
 * iterator holds it while it looks at a socket (Linux 5.15+), and every TCP
 * state change happens under it.
 *
 * Bytes are data bytes: tcp_sock's bytes_acked (sent and acknowledged) and
 * bytes_received, less the sequence numbers that SYN and FIN take.
 *
 * Every hook exists twice: as tp_btf (Linux 5.5+, arguments checked against
 * the kernel's BTF) and as raw_tracepoint (4.17+); the collector loads one
 * set. Both read the socket with BPF_CORE_READ. The iterator needs Linux 5.9.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "kscope.h"
#include "kscope_agg.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10

/* Count only sockets of the network namespace with this inode number; 0: all. */
const volatile __u32 netns_ino = 0;
/* tcp_retransmit_skb has a third argument, the attempt's result, and fires
 * for failed attempts too (newer kernels; Go reads the prototype in the
 * kernel's BTF). */
const volatile __u8 retrans_has_err = 0;

/* Indexes of struct totals' c, mirrored in Go. */
enum counter {
	C_OPEN_ACTIVE = 0,
	C_OPEN_PASSIVE = 1,
	C_CLOSED = 2,
	C_RETRANS = 3,     /* segments */
	C_RST_SENT = 4,
	C_RST_RECV = 5,
	C_SENT = 6,        /* data bytes acknowledged by the peer */
	C_RECV = 7,        /* data bytes received */
	C_FULL_CONNS = 8,  /* a connection got no conns entry: map full */
	C_FULL_ENDPOINTS = 9, /* an update went to the overflow endpoint: map full */
	C_MAX = 16,
};

struct totals {
	__u64 c[C_MAX];
	__u64 duration[HIST_SLOTS]; /* log2 of nanoseconds */
	__u64 duration_sum;         /* nanoseconds */
};

/* A connection being tracked, from its open (or first walk) to its close. */
struct conn {
	__u64 start_ns; /* when it was established; 0: before the collector saw it */
	__u64 sent;     /* data bytes already counted */
	__u64 received;
	__u32 active;   /* opened by connect(), not accept() */
	__u32 _pad;
};

/*
 * What a connection is counted under: the remote endpoint of an active
 * open (the local port is ephemeral: 0) and the local endpoint of a passive
 * one with the client's address (its port is ephemeral: 0). All zero is the
 * overflow entry, which Go creates, for updates the full map has no room for.
 */
struct endpoint_key {
	__u8 laddr[16]; /* AF_INET: the first four bytes */
	__u8 raddr[16];
	__u16 lport;    /* host byte order */
	__u16 rport;
	__u16 family;
	__u16 _pad;
};

struct endpoint_value {
	__u64 connections;
	__u64 sent;
	__u64 received;
};

struct listener_key {
	__u32 netns;
	__u16 port;
	__u16 _pad;
};

/* Force BTF for bpf2go -type. */
const struct totals *unused_totals __attribute__((unused));
const struct endpoint_key *unused_endpoint_key __attribute__((unused));
const struct endpoint_value *unused_endpoint_value __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct totals);
} counters SEC(".maps");

/* Failed connects by errno; 0 when the application closed the socket first. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} failed SEC(".maps");

/*
 * Not an LRU: an entry evicted while its connection is open would have that
 * connection's bytes counted twice. Entries go when their socket closes
 * (or, should that be missed, is destroyed); a full map is counted.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* resized from Go */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64); /* struct sock * */
	__type(value, struct conn);
} conns SEC(".maps");

/* Cumulative; Go removes entries idle for long when the map fills. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192); /* resized from Go */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct endpoint_key);
	__type(value, struct endpoint_value);
} endpoints SEC(".maps");

/* Listening ports, to tell the side of connections opened before the
 * collector started. A hint: eviction only costs that guess. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct listener_key);
	__type(value, __u8);
} listeners SEC(".maps");

/* Sockets by state, counted by one walk and written out at its end. */
__u64 states[16];

static __always_inline struct totals *get_totals(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&counters, &zero);
}

static __always_inline void add(__u64 *v, __u64 n)
{
	__sync_fetch_and_add(v, n);
}

static __always_inline __u32 sk_netns(const struct sock_common *skc)
{
	return BPF_CORE_READ(skc, skc_net.net, ns.inum);
}

/* True when the socket is in the namespace the collector counts. */
static __always_inline bool want_sk(const struct sock_common *skc)
{
	return !netns_ino || sk_netns(skc) == netns_ino;
}

/*
 * The local port. skc_num is zero by the time a close is traced: the
 * tracepoint fires in inet_sk_state_store, after tcp_set_state gave the
 * port back; inet_sport keeps it.
 */
static __always_inline __u16 local_port(struct sock *sk)
{
	return bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
}

static __always_inline bool is_listener(struct sock *sk)
{
	struct listener_key k = {
		.netns = sk_netns(&sk->__sk_common),
		.port = local_port(sk),
	};

	return bpf_map_lookup_elem(&listeners, &k) != NULL;
}

static __always_inline void set_listener(struct sock *sk, bool on)
{
	struct listener_key k = {
		.netns = sk_netns(&sk->__sk_common),
		.port = local_port(sk),
	};
	__u8 one = 1;

	if (on)
		bpf_map_update_elem(&listeners, &k, &one, BPF_ANY);
	else
		bpf_map_delete_elem(&listeners, &k);
}

static __always_inline void endpoint_of(struct endpoint_key *k, struct sock *sk, bool active)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	__builtin_memset(k, 0, sizeof(*k));
	k->family = family;
	if (family == AF_INET) {
		bpf_core_read(k->laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(k->raddr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(k->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(k->raddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	if (active)
		k->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	else
		k->lport = local_port(sk);
}

/* Adds to an endpoint's counters, or to the overflow entry when the map is full. */
static __always_inline void endpoint_add(struct endpoint_key *k, struct totals *t, __u64 conns_n,
					 __u64 sent, __u64 received)
{
	struct endpoint_value *v, zero = {};

	v = bpf_map_lookup_elem(&endpoints, k);
	if (!v) {
		/* Fails when the map is full, or when another CPU just made it. */
		bpf_map_update_elem(&endpoints, k, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&endpoints, k);
	}
	if (!v) {
		add(&t->c[C_FULL_ENDPOINTS], 1);
		count(STAT_LOST);
		__builtin_memset(k, 0, sizeof(*k));
		v = bpf_map_lookup_elem(&endpoints, k);
		if (!v)
			return;
	}
	if (conns_n)
		add(&v->connections, conns_n);
	if (sent)
		add(&v->sent, sent);
	if (received)
		add(&v->received, received);
}

/* States in which our FIN has been queued: it is the last sequence number. */
static __always_inline bool fin_queued(int state)
{
	return state == TCP_FIN_WAIT1 || state == TCP_FIN_WAIT2 || state == TCP_CLOSING ||
	       state == TCP_LAST_ACK;
}

/*
 * The data bytes of a connection so far, acknowledged by the peer and
 * received. bytes_acked also counts the sequence numbers of an active
 * open's SYN (a passive open's SYN-ACK is acknowledged before the child
 * socket starts counting) and of our FIN once acknowledged;
 * bytes_received counts the peer's FIN, which sets SOCK_DONE (tcp_fin).
 */
static __always_inline void data_bytes(struct sock *sk, int state, bool active, __u64 *sent,
				       __u64 *received)
{
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	__u64 acked = BPF_CORE_READ(tp, bytes_acked);
	__u64 rcvd = BPF_CORE_READ(tp, bytes_received);
	__u64 done = 1ULL << bpf_core_enum_value(enum sock_flags, SOCK_DONE);

	if (active && acked)
		acked--;
	if (fin_queued(state) && acked &&
	    BPF_CORE_READ(tp, snd_una) == BPF_CORE_READ(tp, write_seq))
		acked--;
	if (rcvd && (BPF_CORE_READ(sk, __sk_common.skc_flags) & done))
		rcvd--;
	*sent = acked;
	*received = rcvd;
}

static __always_inline void opened(struct sock *sk, bool active)
{
	struct totals *t = get_totals();
	struct conn c = {};
	struct endpoint_key k;
	__u64 key = (__u64)sk;

	if (!t)
		return;
	add(&t->c[active ? C_OPEN_ACTIVE : C_OPEN_PASSIVE], 1);
	c.start_ns = bpf_ktime_get_ns();
	c.active = active;
	if (bpf_map_update_elem(&conns, &key, &c, BPF_ANY)) {
		add(&t->c[C_FULL_CONNS], 1);
		count(STAT_LOST);
	}
	endpoint_of(&k, sk, active);
	endpoint_add(&k, t, 1, 0, 0);
}

static __always_inline void failed_connect(struct sock *sk)
{
	__u32 err = BPF_CORE_READ(sk, sk_err);
	__u64 one = 1, *v;

	if (err > 4095)
		err = 4095;
	v = bpf_map_lookup_elem(&failed, &err);
	if (!v) {
		if (!bpf_map_update_elem(&failed, &err, &one, BPF_NOEXIST))
			return;
		v = bpf_map_lookup_elem(&failed, &err);
		if (!v) {
			count(STAT_LOST);
			return;
		}
	}
	add(v, 1);
}

static __always_inline void closed(struct sock *sk, int oldstate)
{
	struct totals *t = get_totals();
	__u64 key = (__u64)sk, sent, received, now, d;
	struct endpoint_key k;
	struct conn *c;
	bool active;

	if (!t)
		return;
	add(&t->c[C_CLOSED], 1);
	c = bpf_map_lookup_elem(&conns, &key);
	/* Without an entry (the map was full) everything the connection moved counts now. */
	active = c ? c->active : !is_listener(sk);
	data_bytes(sk, oldstate, active, &sent, &received);
	if (c) {
		sent = sent > c->sent ? sent - c->sent : 0;
		received = received > c->received ? received - c->received : 0;
		if (c->start_ns) {
			now = bpf_ktime_get_ns();
			d = now > c->start_ns ? now - c->start_ns : 0;
			add(&t->duration[log2_u64(d) & (HIST_SLOTS - 1)], 1);
			add(&t->duration_sum, d);
		}
		bpf_map_delete_elem(&conns, &key);
	}
	if (sent)
		add(&t->c[C_SENT], sent);
	if (received)
		add(&t->c[C_RECV], received);
	if (sent || received) {
		endpoint_of(&k, sk, active);
		endpoint_add(&k, t, 0, sent, received);
	}
}

/* True for the transitions the collector counts, decided on the arguments
 * alone: most transitions of a connection are not among them. */
static __always_inline bool wanted_transition(int oldstate, int newstate)
{
	switch (newstate) {
	case TCP_ESTABLISHED:
		return oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV;
	case TCP_LISTEN:
	case TCP_CLOSE:
		return true;
	}
	return false;
}

static __always_inline int on_set_state(struct sock *sk, int oldstate, int newstate)
{
	__u64 key = (__u64)sk;

	if (!sk || !wanted_transition(oldstate, newstate))
		return 0;
	/* The tracepoint also fires for MPTCP sockets (their subflows are TCP),
	 * SCTP and DCCP. */
	if (BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	if (!want_sk(&sk->__sk_common))
		return 0;

	if (newstate == TCP_ESTABLISHED) {
		opened(sk, oldstate == TCP_SYN_SENT);
		return 0;
	}
	if (newstate == TCP_LISTEN) {
		set_listener(sk, true);
		return 0;
	}
	switch (oldstate) {
	case TCP_LISTEN:
		set_listener(sk, false);
		return 0;
	case TCP_SYN_SENT:
		failed_connect(sk);
		return 0;
	case TCP_ESTABLISHED:
	case TCP_FIN_WAIT1:
	case TCP_FIN_WAIT2:
	case TCP_CLOSE_WAIT:
	case TCP_LAST_ACK:
	case TCP_CLOSING:
		closed(sk, oldstate);
		return 0;
	}
	/* SYN_RECV -> CLOSE: a passive open that never got established. */
	bpf_map_delete_elem(&conns, &key);
	return 0;
}

/* Segments retransmitted, as the kernel's RetransSegs counts them. */
static __always_inline int on_retransmit(struct sock *sk, struct sk_buff *skb)
{
	struct totals *t;
	struct tcp_skb_cb *cb;
	__u16 segs;

	if (!sk || !skb || !want_sk(&sk->__sk_common))
		return 0;
	t = get_totals();
	if (!t)
		return 0;
	cb = (struct tcp_skb_cb *)__builtin_preserve_access_index(&skb->cb);
	segs = BPF_CORE_READ(cb, tcp_gso_segs);
	add(&t->c[C_RETRANS], segs ? segs : 1);
	return 0;
}

/*
 * A reset sent. Newer kernels also trace a reset sent in reply to a segment
 * for no socket (sk NULL), such as a refused SYN (6.1 does not); its
 * namespace is then the receiving device's.
 */
static __always_inline int on_send_reset(struct sock *sk, struct sk_buff *skb)
{
	struct totals *t;

	if (netns_ino) {
		__u32 ns = 0;

		if (sk)
			ns = sk_netns(&sk->__sk_common);
		else if (skb)
			ns = BPF_CORE_READ(skb, dev, nd_net.net, ns.inum);
		if (ns != netns_ino)
			return 0;
	}
	t = get_totals();
	if (t)
		add(&t->c[C_RST_SENT], 1);
	return 0;
}

static __always_inline int on_receive_reset(struct sock *sk)
{
	struct totals *t;

	if (!sk || !want_sk(&sk->__sk_common))
		return 0;
	t = get_totals();
	if (t)
		add(&t->c[C_RST_RECV], 1);
	return 0;
}

/* A socket freed with its entry still there: drop the entry. */
static __always_inline int on_destroy(struct sock *sk)
{
	__u64 key = (__u64)sk;

	bpf_map_delete_elem(&conns, &key);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(btf_set_state, struct sock *sk, int oldstate, int newstate)
{
	return on_set_state(sk, oldstate, newstate);
}

SEC("raw_tracepoint/inet_sock_set_state")
int BPF_PROG(raw_set_state, struct sock *sk, int oldstate, int newstate)
{
	return on_set_state(sk, oldstate, newstate);
}

/* Where the err argument does not exist, retrans_has_err is 0 and the
 * verifier drops the check that would read it. */
SEC("tp_btf/tcp_retransmit_skb")
int btf_retransmit(unsigned long long *ctx)
{
	if (retrans_has_err && (int)ctx[2] != 0)
		return 0;
	return on_retransmit((struct sock *)ctx[0], (struct sk_buff *)ctx[1]);
}

SEC("raw_tracepoint/tcp_retransmit_skb")
int raw_retransmit(unsigned long long *ctx)
{
	if (retrans_has_err && (int)ctx[2] != 0)
		return 0;
	return on_retransmit((struct sock *)ctx[0], (struct sk_buff *)ctx[1]);
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(btf_send_reset, struct sock *sk, struct sk_buff *skb)
{
	return on_send_reset(sk, skb);
}

SEC("raw_tracepoint/tcp_send_reset")
int BPF_PROG(raw_send_reset, struct sock *sk, struct sk_buff *skb)
{
	return on_send_reset(sk, skb);
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(btf_receive_reset, struct sock *sk)
{
	return on_receive_reset(sk);
}

SEC("raw_tracepoint/tcp_receive_reset")
int BPF_PROG(raw_receive_reset, struct sock *sk)
{
	return on_receive_reset(sk);
}

SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(btf_destroy_sock, struct sock *sk)
{
	return on_destroy(sk);
}

SEC("raw_tracepoint/tcp_destroy_sock")
int BPF_PROG(raw_destroy_sock, struct sock *sk)
{
	return on_destroy(sk);
}

/*
 * Counts what open connections moved since the previous walk, making an
 * entry for those seen for the first time (opened before the collector
 * started: counting starts now), and counts sockets by state, written out
 * as 16 u64 when the walk ends. The iterator only sees the namespace of
 * the task that created it; Go walks each namespace in turn.
 */
SEC("iter/tcp")
int walk(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct endpoint_key k;
	struct tcp_sock *tp;
	struct totals *t;
	struct conn *c, n = {};
	__u64 key, sent, received, ds, dr;
	struct sock *sk;
	int state;

	if (!skc) {
		bpf_seq_write(ctx->meta->seq, states, sizeof(states));
		__builtin_memset(states, 0, sizeof(states));
		return 0;
	}
	if (!want_sk(skc))
		return 0;
	state = skc->skc_state;
	states[state & 15]++;
	if (state == TCP_LISTEN) {
		tp = bpf_skc_to_tcp_sock(skc);
		if (tp)
			set_listener((struct sock *)tp, true);
		return 0;
	}
	switch (state) {
	case TCP_ESTABLISHED:
	case TCP_FIN_WAIT1:
	case TCP_FIN_WAIT2:
	case TCP_CLOSE_WAIT:
	case TCP_LAST_ACK:
	case TCP_CLOSING:
		break;
	default:
		return 0;
	}
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0;
	sk = (struct sock *)tp;
	t = get_totals();
	if (!t)
		return 0;

	key = (__u64)sk;
	c = bpf_map_lookup_elem(&conns, &key);
	if (!c) {
		n.active = !is_listener(sk);
		data_bytes(sk, state, n.active, &n.sent, &n.received);
		if (bpf_map_update_elem(&conns, &key, &n, BPF_NOEXIST)) {
			add(&t->c[C_FULL_CONNS], 1);
			count(STAT_LOST);
		}
		return 0;
	}
	data_bytes(sk, state, c->active, &sent, &received);
	ds = sent > c->sent ? sent - c->sent : 0;
	dr = received > c->received ? received - c->received : 0;
	if (!ds && !dr)
		return 0;
	c->sent += ds;
	c->received += dr;
	add(&t->c[C_SENT], ds);
	add(&t->c[C_RECV], dr);
	endpoint_of(&k, sk, c->active);
	endpoint_add(&k, t, 0, ds, dr);
	return 0;
}
