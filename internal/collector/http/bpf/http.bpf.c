// SPDX-License-Identifier: GPL-2.0-only
/*
 * http: the bytes of HTTP/1.x exchanges on TCP sockets, in plain text,
 * wherever they pass: the read/write family of syscalls for plain HTTP,
 * OpenSSL's SSL_read/SSL_write (and _ex) and Go's crypto/tls
 * (*Conn).Read/Write for TLS. The kernel side only decides which calls
 * belong to an HTTP connection and sends one record per such call: the
 * number of bytes moved, the first bytes of a message, the last bytes of
 * the call. Parsing, pairing requests with responses and timing them
 * happen in Go (internal/collector/http).
 *
 * A socket becomes an HTTP connection when a call moves bytes that start
 * with a request method or "HTTP/1."; from then on every call on it is
 * reported, until the socket closes (sock/inet_sock_set_state to
 * TCP_CLOSE). Calls on other sockets cost a few reads and no ring buffer
 * traffic; calls on other files cost the lookup of the file. A connection
 * established after attach (sock/inet_sock_set_state to TCP_ESTABLISHED)
 * whose first bytes start no HTTP/1.x message never carries one: it is
 * marked, and its later syscalls return after one map lookup (two inside
 * SSL_read/SSL_write, which still learn their socket from them).
 *
 * TLS: a syscall made on the same thread while SSL_read or SSL_write runs
 * belongs to that SSL object, which ties the SSL object to its socket
 * (curl's own BIOs included). Go's crypto/tls carries its socket: the
 * file descriptor is read from the *tls.Conn through net.TCPConn and
 * poll.FD, at offsets set from Go.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "kscope.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define MSG_PEEK 2

/* Bytes captured from the start of a message, plus one; a power of two. */
#define CAPTURE 1024
/* Bytes captured from the end of every call, for chunked encoding's end. */
#define TAIL 8

enum dir { DIR_IN = 0, DIR_OUT = 1 };
enum src { SRC_SYSCALL = 0, SRC_OPENSSL = 1, SRC_GOTLS = 2 };
enum kind { KIND_DATA = 0, KIND_EOF = 1, KIND_CLOSE = 2, KIND_EXEC = 3 };

struct http_chunk {
	struct event_header hdr; /* ts_ns: when the call returned (or, Go writes, began) */
	__u64 began;    /* when the call began (writes) or returned (reads) */
	__u64 sk;       /* struct sock *: the connection's identity */
	__u32 len;      /* bytes the call moved */
	__s32 fd;
	__u16 cap;      /* bytes of data[] captured from the start of the call */
	__u8 dir;       /* enum dir, as seen by the process */
	__u8 kind;      /* enum kind */
	__u8 src;       /* enum src */
	__u8 tail_len;  /* bytes of tail[] */
	__u16 family;   /* AF_INET or AF_INET6 */
	__u16 lport;    /* host byte order */
	__u16 rport;
	__u32 _pad;
	__u8 laddr[16]; /* AF_INET: the first four bytes */
	__u8 raddr[16];
	__u8 tail[TAIL];
	__u8 data[CAPTURE];
};

/* Force BTF for bpf2go -type. */
const struct http_chunk *unused_http_chunk __attribute__((unused));

/* Offsets into Go's *tls.Conn → net.Conn interface → *net.TCPConn →
 * *netFD → poll.FD.Sysfd, set from Go. */
const volatile __u32 go_conn_data_off = 8;
const volatile __u32 go_netfd_off = 0;
const volatile __u32 go_sysfd_off = 16;

/* A read or write syscall on an inet stream socket, entry to exit. */
struct io_call {
	__u64 ts; /* entry */
	__u64 sk;
	__u64 buf;    /* buffer, or struct iovec * */
	__u32 iovcnt; /* 0: buf is a plain buffer */
	__s32 fd;
	__u8 dir;
	__u8 _pad[7];
};

/* An SSL_read/SSL_write call, entry to return. */
struct ssl_call {
	__u64 ts; /* entry */
	__u64 ssl;
	__u64 buf;
	__u64 nbytes; /* _ex: size_t *readbytes / *written; 0 otherwise */
	__u64 sk;     /* learnt from a syscall inside the call */
	__s32 fd;
	__u8 dir;
	__u8 _pad[3];
};

/* A Go (*tls.Conn).Read/Write call, entry to return. */
struct go_call {
	__u64 buf;
	__u64 sk;
	__s32 fd;
	__u8 dir;
	__u8 _pad[3];
};

struct go_key {
	__u64 g; /* the goroutine (R14 in Go's internal ABI) */
	__u32 tgid;
	__u32 _pad;
};

/* What is known of an HTTP connection. */
struct conn {
	__u8 http[3];     /* per enum src: HTTP seen through that source */
	__u8 last_dir[3]; /* per enum src: direction of the last call */
	__u8 short_turn[3]; /* per enum src: the last call was a turn of a few bytes */
	__u8 fresh;    /* established since attach: its first bytes are its first */
	__u8 not_http; /* its first bytes were no HTTP/1.x: syscalls skip it */
	__u8 _pad[5];
};

struct ssl_sock {
	__u64 sk;
	__s32 fd;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct io_call);
} io_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct ssl_call);
} ssl_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct go_key);
	__type(value, struct go_call);
} go_calls SEC(".maps");

/* LRU: an SSL object freed without notice leaves nothing behind. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* SSL *, with the tgid in the top bits */
	__type(value, struct ssl_sock);
} ssl_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* struct sock * */
	__type(value, struct conn);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct http_chunk);
} scratch SEC(".maps");

/* Processes Go was asked to examine at a connect() or listen(): tgid to the
 * start time of its leader (a pid reused is another process). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u64);
} examined SEC(".maps");

/* The inet stream socket behind fd in the current task, or 0. */
static __always_inline __u64 fd_sock(__s32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds, *file = NULL;
	struct socket *sock;
	struct sock *sk;
	__u16 family;

	if (!fdt || fd < 0 || (__u32)fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return 0;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock || BPF_CORE_READ(sock, type) != SOCK_STREAM)
		return 0;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	return (__u64)sk;
}

/* Fills both ends of the connection from sk. */
static __always_inline void ends(struct http_chunk *c, struct sock *sk)
{
	c->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	c->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	c->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (c->family == AF_INET) {
		bpf_core_read(c->laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(c->raddr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(c->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(c->raddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

/* True when b starts an HTTP/1.x message: a request method or a status line. */
static __always_inline bool message_start(const __u8 *b)
{
	__u32 w = b[0] | b[1] << 8 | b[2] << 16 | (__u32)b[3] << 24;

#define W(s) ((__u32)(s)[0] | (s)[1] << 8 | (s)[2] << 16 | (__u32)(s)[3] << 24)
	switch (w) {
	case W("GET "):
	case W("PUT "):
	case W("POST"):
	case W("HEAD"):
	case W("DELE"):
	case W("PATC"):
	case W("OPTI"):
	case W("CONN"):
	case W("TRAC"):
		return true;
	case W("HTTP"):
		return b[4] == '/' && b[5] == '1' && b[6] == '.';
	}
#undef W
	/* Any other method: 3 to 6 capital letters, a space and a path. */
	for (int i = 0; i < 7; i++) {
		if (b[i] == ' ')
			return i >= 3 && b[i + 1] == '/';
		if (b[i] < 'A' || b[i] > 'Z')
			return false;
	}
	return false;
}

/*
 * One call of src moved len bytes in direction dir on socket sk; the
 * first avail of them are contiguous at buf. Reports it if sk is an HTTP
 * connection or becomes one with these bytes. The order of calls is that
 * of began: when a write began (the peer may answer, and another thread
 * read the answer, before the writing call returns), when a read
 * returned with its bytes.
 */
static __always_inline void data(__u64 pid_tgid, __u64 sk, __s32 fd, const void *buf, __u32 avail,
				 __u32 len, __u8 dir, __u8 src, bool tail, __u64 began)
{
	__u32 zero = 0;
	__u64 n;
	__u8 peek[8] = {};
	struct http_chunk *c;
	struct conn *cn, fresh = {};
	bool start = false, flip, after_short;

	if (src > SRC_GOTLS)
		return;
	if (avail > len)
		avail = len;
	if (avail >= 7) {
		bpf_probe_read_user(peek, sizeof(peek), buf);
		start = message_start(peek);
	}
	cn = bpf_map_lookup_elem(&conns, &sk);
	/* The first bytes of a connection established since attach decide:
	 * no HTTP/1.x message start (nor a PROXY protocol header before
	 * one), no HTTP on it ever. */
	if (cn && cn->fresh && src == SRC_SYSCALL && avail >= sizeof(peek)) {
		cn->fresh = 0;
		if (!start && !(peek[0] == 'P' && peek[1] == 'R' && peek[2] == 'O' && peek[3] == 'X' &&
				peek[4] == 'Y' && peek[5] == ' ')) {
			cn->not_http = 1;
			return;
		}
	}
	if (!cn || !cn->http[src]) {
		if (!start)
			return;
		if (!cn) {
			bpf_map_update_elem(&conns, &sk, &fresh, BPF_NOEXIST);
			cn = bpf_map_lookup_elem(&conns, &sk);
			if (!cn)
				return;
		}
		cn->http[src] = 1;
		cn->last_dir[src] = dir ^ 1;
	}
	flip = cn->last_dir[src] != dir;
	after_short = cn->short_turn[src] && !flip;
	cn->last_dir[src] = dir;
	cn->short_turn[src] = 0;
	if (flip && !start) {
		if (avail < sizeof(peek)) {
			/* A few bytes alone (Go's server reads one byte ahead
			 * while it handles a request): send them whole, and
			 * the head of the next call in this direction, which
			 * goes on with them. */
			cn->short_turn[src] = 1;
		} else {
			/* An HTTP/1.x message follows one in the other
			 * direction: a turn that starts none means the
			 * connection carries something else now (an upgrade,
			 * a reused socket). Stop reporting it. */
			cn->http[src] = 0;
			return;
		}
	}

	c = bpf_map_lookup_elem(&scratch, &zero);
	if (!c)
		return;
	fill_header(&c->hdr, pid_tgid, (__u32)bpf_get_current_uid_gid());
	c->began = dir == DIR_OUT && began ? began : c->hdr.ts_ns;
	c->sk = sk;
	c->len = len;
	c->fd = fd;
	c->dir = dir;
	c->kind = KIND_DATA;
	c->src = src;
	ends(c, (struct sock *)sk);

	/* The last bytes of the call, where chunked encoding ends; a call of
	 * fewer bytes is captured whole below instead. */
	c->tail_len = 0;
	if (tail && avail == len && avail >= TAIL &&
	    bpf_probe_read_user(c->tail, TAIL, buf + avail - TAIL) == 0)
		c->tail_len = TAIL;
	/* The head of a message: a new direction or a new request line. The
	 * mask is what bounds the size for the verifier (CAPTURE - 1 bytes
	 * at most). */
	n = 0;
	if (flip || start || after_short || avail < TAIL) {
		n = avail < CAPTURE - 1 ? avail : CAPTURE - 1;
		barrier_var(n);
		n &= CAPTURE - 1;
		if (bpf_probe_read_user(c->data, n, buf))
			n = 0;
	}
	c->cap = n;
	barrier_var(n);
	n &= CAPTURE - 1;
	output(c, offsetof(struct http_chunk, data) + n);
}

/* Reports a socket event without data (end of file, close) for an HTTP connection. */
static __always_inline void marker(__u64 pid_tgid, __u64 sk, __u8 kind, __s32 fd)
{
	struct http_chunk *c;
	__u32 zero = 0;

	c = bpf_map_lookup_elem(&scratch, &zero);
	if (!c)
		return;
	fill_header(&c->hdr, pid_tgid, (__u32)bpf_get_current_uid_gid());
	c->sk = sk;
	c->len = 0;
	c->fd = fd;
	c->dir = DIR_IN;
	c->kind = kind;
	c->src = SRC_SYSCALL;
	c->cap = 0;
	c->tail_len = 0;
	c->began = c->hdr.ts_ns;
	ends(c, (struct sock *)sk);
	output(c, offsetof(struct http_chunk, data));
}

/* Asks Go to examine the current process for TLS libraries and Go binaries. */
static __always_inline void examine(__u64 pid_tgid)
{
	struct http_chunk *c;
	__u32 zero = 0;

	c = bpf_map_lookup_elem(&scratch, &zero);
	if (!c)
		return;
	__builtin_memset(c, 0, offsetof(struct http_chunk, data));
	fill_header(&c->hdr, pid_tgid, (__u32)bpf_get_current_uid_gid());
	c->kind = KIND_EXEC;
	c->fd = -1;
	if (bpf_ringbuf_output(&events, c, offsetof(struct http_chunk, data), BPF_RB_FORCE_WAKEUP))
		count(STAT_LOST);
}

/* Syscall entry: remember the call if fd is an inet stream socket. */
static __always_inline int io_enter(__s32 fd, __u64 buf, __u32 iovcnt, __u8 dir)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct io_call call = {};
	struct conn *cn;

	if (!want_task(pid_tgid, (__u32)bpf_get_current_uid_gid()))
		return drop();
	call.sk = fd_sock(fd);
	if (!call.sk)
		return 0;
	/* Not HTTP: nothing to do, but tell a TLS call its socket. */
	cn = bpf_map_lookup_elem(&conns, &call.sk);
	if (cn && cn->not_http && !bpf_map_lookup_elem(&ssl_calls, &pid_tgid))
		return 0;
	call.ts = bpf_ktime_get_ns();
	call.buf = buf;
	call.iovcnt = iovcnt;
	call.fd = fd;
	call.dir = dir;
	if (bpf_map_update_elem(&io_calls, &pid_tgid, &call, BPF_ANY))
		count(STAT_LOST);
	return 0;
}

/* Syscall exit: report the bytes moved, or hand the socket to a TLS call. */
static __always_inline int io_exit(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct io_call *call;
	struct ssl_call *sc;
	struct conn *cn;
	const void *buf;
	__u32 avail;

	call = bpf_map_lookup_elem(&io_calls, &pid_tgid);
	if (!call)
		return 0;
	/* Inside SSL_read/SSL_write: ciphertext of that SSL object's socket. */
	sc = bpf_map_lookup_elem(&ssl_calls, &pid_tgid);
	if (sc) {
		sc->sk = call->sk;
		sc->fd = call->fd;
		goto out;
	}
	if (ret == 0 && call->dir == DIR_IN) {
		cn = bpf_map_lookup_elem(&conns, &call->sk);
		if (cn && cn->http[SRC_SYSCALL])
			marker(pid_tgid, call->sk, KIND_EOF, call->fd);
		goto out;
	}
	if (ret <= 0)
		goto out;
	buf = (const void *)call->buf;
	avail = ret;
	if (call->iovcnt) {
		/* Vectored: the head of the first buffer only, and no tail. */
		struct iovec iov = {};

		if (bpf_probe_read_user(&iov, sizeof(iov), buf))
			goto out;
		buf = iov.iov_base;
		avail = iov.iov_len;
	}
	data(pid_tgid, call->sk, call->fd, buf, avail, ret, call->dir, SRC_SYSCALL, !call->iovcnt, call->ts);
out:
	bpf_map_delete_elem(&io_calls, &pid_tgid);
	return 0;
}

/* The iovec array and its length of a struct user_msghdr. */
static __always_inline int msg_enter(__s32 fd, const struct user_msghdr *msg, __u8 dir)
{
	struct user_msghdr m = {};

	if (bpf_probe_read_user(&m, sizeof(m), msg) || !m.msg_iovlen)
		return 0;
	return io_enter(fd, (__u64)m.msg_iov, m.msg_iovlen, dir);
}

SEC("tracepoint/syscalls/sys_enter_read")
int sys_enter_read(struct trace_event_raw_sys_enter *ctx)
{
	return io_enter(ctx->args[0], ctx->args[1], 0, DIR_IN);
}

SEC("tracepoint/syscalls/sys_exit_read")
int sys_exit_read(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_write")
int sys_enter_write(struct trace_event_raw_sys_enter *ctx)
{
	return io_enter(ctx->args[0], ctx->args[1], 0, DIR_OUT);
}

SEC("tracepoint/syscalls/sys_exit_write")
int sys_exit_write(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int sys_enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
	/* A peek reads the same bytes again later. */
	if (ctx->args[3] & MSG_PEEK)
		return 0;
	return io_enter(ctx->args[0], ctx->args[1], 0, DIR_IN);
}

SEC("tracepoint/syscalls/sys_exit_recvfrom")
int sys_exit_recvfrom(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_sendto")
int sys_enter_sendto(struct trace_event_raw_sys_enter *ctx)
{
	return io_enter(ctx->args[0], ctx->args[1], 0, DIR_OUT);
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int sys_exit_sendto(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_readv")
int sys_enter_readv(struct trace_event_raw_sys_enter *ctx)
{
	return io_enter(ctx->args[0], ctx->args[1], ctx->args[2], DIR_IN);
}

SEC("tracepoint/syscalls/sys_exit_readv")
int sys_exit_readv(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_writev")
int sys_enter_writev(struct trace_event_raw_sys_enter *ctx)
{
	return io_enter(ctx->args[0], ctx->args[1], ctx->args[2], DIR_OUT);
}

SEC("tracepoint/syscalls/sys_exit_writev")
int sys_exit_writev(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int sys_enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[2] & MSG_PEEK)
		return 0;
	return msg_enter(ctx->args[0], (const struct user_msghdr *)ctx->args[1], DIR_IN);
}

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int sys_exit_recvmsg(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int sys_enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	return msg_enter(ctx->args[0], (const struct user_msghdr *)ctx->args[1], DIR_OUT);
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int sys_exit_sendmsg(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret); }

/* sendfile: bytes of a file sent on the socket; counted, not captured. */
SEC("tracepoint/syscalls/sys_enter_sendfile64")
int sys_enter_sendfile64(struct trace_event_raw_sys_enter *ctx)
{
	return io_enter(ctx->args[0], 0, 0, DIR_OUT);
}

SEC("tracepoint/syscalls/sys_exit_sendfile64")
int sys_exit_sendfile64(struct trace_event_raw_sys_exit *ctx) { return io_exit(ctx->ret); }

/*
 * A connection established: its first bytes will tell whether it carries
 * HTTP. The socket is gone: report it once if it did, and forget it.
 */
SEC("tracepoint/sock/inet_sock_set_state")
int inet_sock_set_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	__u64 sk = (__u64)ctx->skaddr;
	struct conn *cn, fresh = { .fresh = 1 };

	if (ctx->protocol == IPPROTO_TCP && ctx->newstate == TCP_ESTABLISHED) {
		bpf_map_update_elem(&conns, &sk, &fresh, BPF_NOEXIST);
		return 0;
	}
	/* connect() and listen(), in the calling process: its first TCP
	 * socket since attach (or since it started), if Go has not examined
	 * it yet, which Go does at start only for processes with sockets. */
	if (ctx->protocol == IPPROTO_TCP && (ctx->newstate == TCP_SYN_SENT || ctx->newstate == TCP_LISTEN)) {
		__u64 pid_tgid = bpf_get_current_pid_tgid();
		__u32 tgid = pid_tgid >> 32;
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		__u64 start = BPF_CORE_READ(task, group_leader, start_time), *seen;

		if (!want_task(pid_tgid, (__u32)bpf_get_current_uid_gid()))
			return 0;
		seen = bpf_map_lookup_elem(&examined, &tgid);
		if (seen && *seen == start)
			return 0;
		bpf_map_update_elem(&examined, &tgid, &start, BPF_ANY);
		examine(pid_tgid);
		return 0;
	}
	if (ctx->newstate != TCP_CLOSE)
		return 0;
	cn = bpf_map_lookup_elem(&conns, &sk);
	if (!cn)
		return 0;
	if (cn->http[SRC_SYSCALL] || cn->http[SRC_OPENSSL] || cn->http[SRC_GOTLS])
		marker(bpf_get_current_pid_tgid(), sk, KIND_CLOSE, -1);
	bpf_map_delete_elem(&conns, &sk);
	return 0;
}

/* A program started: Go examines it. */
SEC("tracepoint/sched/sched_process_exec")
int sched_process_exec(void *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (want_task(pid_tgid, (__u32)bpf_get_current_uid_gid()))
		examine(pid_tgid);
	return 0;
}

/* OpenSSL: the SSL object's key in ssl_socks. */
static __always_inline __u64 ssl_key(__u64 pid_tgid, __u64 ssl)
{
	return ssl ^ (pid_tgid >> 32) << 48;
}

static __always_inline int ssl_enter(struct pt_regs *ctx, __u8 dir, bool ex)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct ssl_call call = {};

	if (!want_task(pid_tgid, (__u32)bpf_get_current_uid_gid()))
		return 0;
	call.ts = bpf_ktime_get_ns();
	call.ssl = PT_REGS_PARM1(ctx);
	call.buf = PT_REGS_PARM2(ctx);
	call.nbytes = ex ? PT_REGS_PARM4(ctx) : 0;
	call.dir = dir;
	call.fd = -1;
	if (bpf_map_update_elem(&ssl_calls, &pid_tgid, &call, BPF_ANY))
		count(STAT_LOST);
	return 0;
}

static __always_inline int ssl_exit(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct ssl_call *call;
	struct ssl_sock *known, learnt = {};
	long ret = PT_REGS_RC(ctx);
	__u64 n = 0, key;

	call = bpf_map_lookup_elem(&ssl_calls, &pid_tgid);
	if (!call)
		return 0;
	key = ssl_key(pid_tgid, call->ssl);
	if (call->sk) {
		learnt.sk = call->sk;
		learnt.fd = call->fd;
		bpf_map_update_elem(&ssl_socks, &key, &learnt, BPF_ANY);
	}
	if (call->nbytes) {
		if ((int)ret == 1)
			bpf_probe_read_user(&n, sizeof(n), (const void *)call->nbytes);
	} else if ((int)ret > 0) {
		n = (int)ret;
	}
	if (n > 0) {
		known = bpf_map_lookup_elem(&ssl_socks, &key);
		/* An SSL object whose socket is not known yet is not reported. */
		if (known)
			data(pid_tgid, known->sk, known->fd, (const void *)call->buf, n, n, call->dir,
			     SRC_OPENSSL, true, call->ts);
	}
	bpf_map_delete_elem(&ssl_calls, &pid_tgid);
	return 0;
}

SEC("uprobe/SSL_read")
int ssl_read(struct pt_regs *ctx) { return ssl_enter(ctx, DIR_IN, false); }

SEC("uprobe/SSL_read_ex")
int ssl_read_ex(struct pt_regs *ctx) { return ssl_enter(ctx, DIR_IN, true); }

SEC("uprobe/SSL_write")
int ssl_write(struct pt_regs *ctx) { return ssl_enter(ctx, DIR_OUT, false); }

SEC("uprobe/SSL_write_ex")
int ssl_write_ex(struct pt_regs *ctx) { return ssl_enter(ctx, DIR_OUT, true); }

SEC("uretprobe/SSL_ret")
int ssl_ret(struct pt_regs *ctx) { return ssl_exit(ctx); }

/* Go: the socket of a *tls.Conn, through its net.Conn (a *net.TCPConn). */
static __always_inline __s32 go_conn_fd(__u64 conn)
{
	__u64 data = 0, netfd = 0;
	__s64 fd = -1;

	if (bpf_probe_read_user(&data, sizeof(data), (const void *)(conn + go_conn_data_off)) || !data)
		return -1;
	if (bpf_probe_read_user(&netfd, sizeof(netfd), (const void *)(data + go_netfd_off)) || !netfd)
		return -1;
	if (bpf_probe_read_user(&fd, sizeof(fd), (const void *)(netfd + go_sysfd_off)))
		return -1;
	return fd < 0 || fd > 0x7fffffff ? -1 : (__s32)fd;
}

/*
 * Entry of (*tls.Conn).Read/Write: receiver in RAX, the slice in RBX, RCX.
 * A Write is reported here, with all of its bytes: it returns only when
 * they are written or the connection failed, and by then the peer may
 * have answered. A Read waits for its RET, where RAX holds the count.
 */
static __always_inline int go_enter(struct pt_regs *ctx, __u8 dir)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct go_key key = {.g = ctx->r14, .tgid = pid_tgid >> 32};
	struct go_call call = {};

	if (!want_task(pid_tgid, (__u32)bpf_get_current_uid_gid()))
		return 0;
	call.fd = go_conn_fd(ctx->ax);
	call.sk = fd_sock(call.fd);
	if (!call.sk)
		return 0;
	call.buf = ctx->bx;
	call.dir = dir;
	if (dir == DIR_OUT) {
		if (ctx->cx > 0 && ctx->cx <= 0x7fffffff)
			data(pid_tgid, call.sk, call.fd, (const void *)call.buf, ctx->cx, ctx->cx, DIR_OUT,
			     SRC_GOTLS, true, 0);
		return 0;
	}
	if (bpf_map_update_elem(&go_calls, &key, &call, BPF_ANY))
		count(STAT_LOST);
	return 0;
}

/* A RET of (*tls.Conn).Read: n in RAX. */
SEC("uprobe/go_tls_ret")
int go_tls_ret(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct go_key key = {.g = ctx->r14, .tgid = pid_tgid >> 32};
	struct go_call *call;
	long n = ctx->ax;

	call = bpf_map_lookup_elem(&go_calls, &key);
	if (!call)
		return 0;
	if (n > 0 && n <= 0x7fffffff)
		data(pid_tgid, call->sk, call->fd, (const void *)call->buf, n, n, call->dir, SRC_GOTLS, true, 0);
	bpf_map_delete_elem(&go_calls, &key);
	return 0;
}

SEC("uprobe/go_tls_read")
int go_tls_read(struct pt_regs *ctx) { return go_enter(ctx, DIR_IN); }

SEC("uprobe/go_tls_write")
int go_tls_write(struct pt_regs *ctx) { return go_enter(ctx, DIR_OUT); }
