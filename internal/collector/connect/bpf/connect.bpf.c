// SPDX-License-Identifier: GPL-2.0-only
/*
 * connect: connect(2) on IPv4 and IPv6 sockets, with both ends, the result
 * and how long it took.
 *
 * Entry copies the destination from the caller's sockaddr and finds the
 * socket behind the fd. Exit reports the syscall's result with the local
 * end. A non-blocking TCP connect returns EINPROGRESS before the handshake
 * ends, so such a call is reported when its socket leaves SYN_SENT
 * (sock/inet_sock_set_state) with the handshake's outcome instead.
 *
 * The handshake may end before the syscall returns (always on loopback:
 * the reply is processed when connect releases the socket), after it, or
 * while it returns on another CPU. So every TCP connect gets a per-socket
 * entry at syscall entry; the handshake records its outcome there and sets
 * "settled", the syscall exit sets "armed" when it returned EINPROGRESS, and
 * whichever side sees both flags reports. Both may: deleting the entry
 * decides which one does.
 *
 * Where the kernel can run the shared syscall dispatcher (kscope_dispatch.h)
 * the "raw_" programs take its connect slots instead of the two syscall
 * tracepoints: the arguments come from the saved user registers.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "kscope.h"
#include "kscope_dispatch.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define EINPROGRESS 115

struct connect_event {
	struct event_header hdr;
	__u64 latency_ns;
	__s32 ret;       /* 0 or -errno; for a non-blocking TCP connect, the handshake's */
	__u16 family;    /* AF_INET or AF_INET6, of the destination sockaddr */
	__u16 protocol;  /* sk_protocol: IPPROTO_TCP, _UDP, _MPTCP…; 0 when the fd is no socket */
	__u16 sock_type; /* SOCK_STREAM, SOCK_DGRAM, SOCK_RAW… */
	__u16 sport;     /* host byte order */
	__u16 dport;     /* host byte order */
	__u8 addr_unavailable; /* the destination sockaddr could not be read: daddr, dport are 0 */
	__u8 _pad;
	__u8 saddr[16];  /* AF_INET: the first four bytes */
	__u8 daddr[16];
};

/* Force BTF for bpf2go -type. */
const struct connect_event *unused_connect_event __attribute__((unused));

/* A connect call between syscall entry and exit. */
struct call {
	struct connect_event e; /* hdr.ts_ns: when the call started */
	__u64 uaddr;            /* the caller's sockaddr, to read again at exit */
	__u64 sk;
	__u32 tracked;          /* an inflight entry was made for sk */
	__u32 _pad;
};

/* A TCP connect from syscall entry until it is reported. */
struct handshake {
	struct connect_event e; /* as at entry */
	__u64 done_ns;          /* when the socket left SYN_SENT */
	__s32 result;           /* 0 or -errno */
	__u16 sport;            /* the local end as the handshake ended */
	__u16 _pad;
	__u8 saddr[16];
	__u32 armed;            /* the syscall returned EINPROGRESS */
	__u32 settled;          /* the handshake ended: done_ns, result, sport, saddr set */
	__s32 subflow_err;      /* MPTCP: the error its first subflow closed with */
	__u32 _pad2;
};

/*
 * The record of sock/inet_sock_set_state, unchanged since the tracepoint
 * appeared in 4.16 (see its format file). Spelled out rather than taken
 * from vmlinux.h: CO-RE would turn the array reads below into arithmetic on
 * the ctx pointer, which the verifier rejects.
 */
struct set_state_args {
	__u64 common;
	const void *skaddr;
	int oldstate;
	int newstate;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u16 protocol;
	__u8 saddr[4];
	__u8 daddr[4];
	__u8 saddr_v6[16];
	__u8 daddr_v6[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32); /* tid */
	__type(value, struct call);
} pending SEC(".maps");

/* LRU: a socket freed before its handshake settles leaves nothing behind. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* struct sock * */
	__type(value, struct handshake);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct handshake);
} scratch SEC(".maps");

/* The socket behind fd in the current task: files->fdt->fd[fd]->private_data. */
static __always_inline struct socket *fd_socket(__u32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds, *file = NULL;
	struct socket *sock;

	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	/* A socket's file points back at it; anything else is not a socket. */
	if (!sock || BPF_CORE_READ(sock, file) != file)
		return NULL;
	return sock;
}

/* Fills the local end of e from sk as it is now. */
static __always_inline void local_end(struct connect_event *e, struct sock *sk)
{
	__u16 port;

	if (!sk)
		return;
	port = BPF_CORE_READ(sk, __sk_common.skc_num);
	/* A failed TCP connect has given its port back; inet_sport keeps it. */
	if (!port)
		port = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	e->sport = port;
	if (e->family == AF_INET)
		bpf_core_read(e->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
	else
		bpf_core_read(e->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
}

/*
 * Reads the destination from the caller's sockaddr into e: 0 for an inet
 * one, 1 for another family (not ours), -1 when it cannot be read.
 */
static __always_inline int read_dest(struct connect_event *e, const void *uaddr)
{
	__u16 family = 0;

	if (bpf_probe_read_user(&family, sizeof(family), uaddr))
		return -1;
	if (family == AF_INET) {
		struct sockaddr_in sin = {};

		if (bpf_probe_read_user(&sin, sizeof(sin), uaddr))
			return -1;
		e->dport = bpf_ntohs(sin.sin_port);
		__builtin_memcpy(e->daddr, &sin.sin_addr, 4);
	} else if (family == AF_INET6) {
		struct sockaddr_in6 sin6 = {};

		if (bpf_probe_read_user(&sin6, sizeof(sin6), uaddr))
			return -1;
		e->dport = bpf_ntohs(sin6.sin6_port);
		__builtin_memcpy(e->daddr, &sin6.sin6_addr, 16);
	} else {
		return 1;
	}
	e->family = family;
	e->addr_unavailable = 0;
	return 0;
}

/* Sends e, counting a destination that could not be read. */
static __always_inline void send(struct connect_event *e)
{
	if (e->addr_unavailable)
		count(STAT_UNREADABLE);
	output(e, sizeof(*e));
}

/* Reports a settled handshake, unless the other side already did. */
static __always_inline void report(struct handshake *h, __u64 sk)
{
	struct connect_event e;

	__builtin_memcpy(&e, &h->e, sizeof(e));
	e.ret = h->result;
	e.sport = h->sport;
	__builtin_memcpy(e.saddr, h->saddr, sizeof(e.saddr));
	e.latency_ns = h->done_ns - e.hdr.ts_ns;
	e.hdr.ts_ns = h->done_ns;
	/* Deleting the entry is the claim: only one side succeeds. */
	if (bpf_map_delete_elem(&inflight, &sk))
		return;
	if (filter_failed && e.ret >= 0) {
		drop();
		return;
	}
	send(&e);
}

/*
 * A refused MPTCP connect: the first subflow closes with the error, then the
 * MPTCP socket closes, and only then takes the error over from the subflow
 * (__mptcp_subflow_error_report). Keep the subflow's error for it.
 */
static __always_inline void subflow_closed(struct sock *ssk)
{
	struct mptcp_subflow_context *sf;
	struct handshake *h;
	__u64 msk;

	/* Kernels built without MPTCP lack the field; the verifier drops the rest. */
	if (!bpf_core_field_exists(struct tcp_sock, is_mptcp))
		return;
	if (!BPF_CORE_READ((struct tcp_sock *)ssk, is_mptcp))
		return;
	sf = BPF_CORE_READ((struct inet_connection_sock *)ssk, icsk_ulp_data);
	msk = (__u64)BPF_CORE_READ(sf, conn);
	h = bpf_map_lookup_elem(&inflight, &msk);
	if (h)
		h->subflow_err = BPF_CORE_READ(ssk, sk_err);
}

static __always_inline int enter_connect(__u64 fd, __u64 addr)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	__u32 tid = (__u32)pid_tgid, zero = 0;
	const void *uaddr = (const void *)addr;
	struct call c = {};
	struct handshake *h;
	struct socket *sock;
	struct sock *sk = NULL;
	int r;

	if (!want_task(pid_tgid, uid))
		return drop();

	/*
	 * The destination; calls to other address families are not ours. A
	 * sockaddr that cannot be read now (a page the caller has not touched
	 * yet) is read again at exit, after the kernel has copied it.
	 */
	r = read_dest(&c.e, uaddr);
	if (r > 0)
		return 0;
	c.e.addr_unavailable = r < 0;
	c.uaddr = (__u64)uaddr;

	/* The socket, for its protocol now and its local end later. */
	sock = fd_socket((__u32)fd);
	if (sock) {
		sk = BPF_CORE_READ(sock, sk);
		c.e.sock_type = (__u16)BPF_CORE_READ(sock, type);
	}
	if (sk) {
		__u16 sk_family = BPF_CORE_READ(sk, __sk_common.skc_family);

		/* An inet sockaddr passed to, say, a unix socket: not ours either. */
		if (sk_family != AF_INET && sk_family != AF_INET6)
			return 0;
		/* Unread yet: the socket's family stands in for the sockaddr's. */
		if (c.e.addr_unavailable)
			c.e.family = sk_family;
		/* A bitfield before 5.6 ("sock: Make sk_protocol a 16-bit value"). */
		c.e.protocol = (__u16)BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	}
	/* Neither a readable inet sockaddr nor an inet socket: not ours. */
	if (c.e.addr_unavailable && !sk)
		return 0;
	c.sk = (__u64)sk;
	fill_header(&c.e.hdr, pid_tgid, uid);

	/* A TCP socket that is about to start a handshake gets an inflight entry. */
	if (sk && c.e.sock_type == SOCK_STREAM &&
	    (c.e.protocol == IPPROTO_TCP || c.e.protocol == IPPROTO_MPTCP) &&
	    BPF_CORE_READ(sk, __sk_common.skc_state) == TCP_CLOSE) {
		h = bpf_map_lookup_elem(&scratch, &zero);
		if (h) {
			__builtin_memset(h, 0, sizeof(*h));
			__builtin_memcpy(&h->e, &c.e, sizeof(c.e));
			if (bpf_map_update_elem(&inflight, &c.sk, h, BPF_ANY) == 0)
				c.tracked = 1;
		}
	}
	if (bpf_map_update_elem(&pending, &tid, &c, BPF_ANY))
		count(STAT_LOST);
	return 0;
}

static __always_inline int exit_connect(long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct handshake *h = NULL;
	struct call *c;
	__u64 now;

	c = bpf_map_lookup_elem(&pending, &tid);
	if (!c)
		return 0;
	if (c->tracked)
		h = bpf_map_lookup_elem(&inflight, &c->sk);

	/* The kernel has copied the sockaddr by now, unless it was bad. */
	if (c->e.addr_unavailable && read_dest(&c->e, (const void *)c->uaddr) > 0) {
		/* Another family after all (AF_UNSPEC: a disconnect). */
		if (h)
			bpf_map_delete_elem(&inflight, &c->sk);
		goto out;
	}
	if (h && !c->e.addr_unavailable) {
		/* Before armed is set, so before the handshake can report. */
		h->e.family = c->e.family;
		h->e.dport = c->e.dport;
		__builtin_memcpy(h->e.daddr, c->e.daddr, sizeof(h->e.daddr));
		h->e.addr_unavailable = 0;
	}

	if (h && ret == -EINPROGRESS) {
		/* Non-blocking: the handshake reports, or we do if it has ended. */
		__sync_fetch_and_add(&h->armed, 1);
		if (*(volatile __u32 *)&h->settled)
			report(h, c->sk);
		goto out;
	}

	/* The syscall's result is final. A handshake that ended during the
	 * call saw the local end before a refusal unbound it. */
	now = bpf_ktime_get_ns();
	c->e.ret = ret;
	c->e.latency_ns = now - c->e.hdr.ts_ns;
	c->e.hdr.ts_ns = now;
	if (h && *(volatile __u32 *)&h->settled) {
		c->e.sport = h->sport;
		__builtin_memcpy(c->e.saddr, h->saddr, sizeof(c->e.saddr));
	} else {
		local_end(&c->e, (struct sock *)c->sk);
	}
	if (h)
		bpf_map_delete_elem(&inflight, &c->sk);
	if (filter_failed && ret >= 0)
		drop();
	else
		send(&c->e);
out:
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_connect")
int sys_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	return enter_connect(ctx->args[0], ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int sys_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	return exit_connect(ctx->ret);
}

/* The same, for the syscall dispatcher's slots: kscope_dispatch.h. */
SEC("raw_tracepoint/sys_enter")
int raw_enter_connect(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = dispatch_regs();

	return enter_connect(KSCOPE_SYSCALL_ARG1(regs), KSCOPE_SYSCALL_ARG2(regs));
}

SEC("raw_tracepoint/sys_exit")
int raw_exit_connect(struct bpf_raw_tracepoint_args *ctx)
{
	return exit_connect((long)ctx->args[1]);
}

SEC("tracepoint/sock/inet_sock_set_state")
int inet_sock_set_state(struct set_state_args *ctx)
{
	int oldstate = ctx->oldstate, newstate = ctx->newstate;
	__u64 sk = (__u64)ctx->skaddr;
	struct handshake *h;
	int err;

	/* Only the end of an active open: leaving SYN_SENT, or SYN_RECV after
	 * a simultaneous open, for anything but SYN_RECV. */
	if (oldstate != TCP_SYN_SENT && oldstate != TCP_SYN_RECV)
		return 0;
	if (newstate == TCP_SYN_SENT || newstate == TCP_SYN_RECV)
		return 0;
	h = bpf_map_lookup_elem(&inflight, &sk);
	if (!h) {
		if (newstate == TCP_CLOSE && ctx->protocol == IPPROTO_TCP)
			subflow_closed((struct sock *)sk);
		return 0;
	}
	if (h->settled)
		return 0;

	/* The outcome: established, or the error that closed the socket
	 * (ECONNREFUSED, ETIMEDOUT…); none means it was closed meanwhile. */
	if (newstate == TCP_ESTABLISHED) {
		h->result = 0;
	} else {
		err = BPF_CORE_READ((struct sock *)sk, sk_err);
		if (!err)
			err = h->subflow_err;
		h->result = err ? -err : -EINPROGRESS;
	}
	h->done_ns = bpf_ktime_get_ns();
	h->sport = ctx->sport;
	if (h->e.family == AF_INET6)
		__builtin_memcpy(h->saddr, ctx->saddr_v6, sizeof(h->saddr));
	else
		__builtin_memcpy(h->saddr, ctx->saddr, 4);
	__sync_fetch_and_add(&h->settled, 1);
	if (*(volatile __u32 *)&h->armed)
		report(h, sk);
	return 0;
}
