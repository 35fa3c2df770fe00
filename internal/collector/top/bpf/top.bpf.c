// SPDX-License-Identifier: GPL-2.0-only
/*
 * top: what each process does, aggregated in the kernel for `kscope top`
 * and the agent's procnet collector. One hash entry per process holds its
 * CPU time, system calls, bytes read and written on regular files and
 * bytes received and sent on IPv4/IPv6 sockets; Go reads the whole map at
 * every refresh. Nothing goes through the ring buffer.
 *
 *   CPU time   sched_switch (tp_btf): at each switch the outgoing thread's
 *              process is charged the runtime the scheduler accounted to
 *              it (se.sum_exec_runtime, no steal time) since it was last
 *              charged, which the thread's task storage remembers (made at
 *              fork, or by a task iterator at Start for the threads alive
 *              then). oncpu says what each CPU runs, for the time of the
 *              threads on a CPU at read time.
 *   syscalls   sys_enter (raw tracepoint), counted as they enter. The
 *              process in focus (the one `kscope top` shows in detail) also
 *              has its calls counted per syscall number.
 *   file I/O   the exits of read, pread64, readv, preadv, preadv2 and the
 *              write family, on regular files: the fd comes from the saved
 *              user registers (bpf_task_pt_regs, Linux 5.15+) and is looked
 *              up in the task's file table. The "_anyfd" variants, for
 *              kernels without bpf_task_pt_regs, count every kind of fd.
 *   net        sock_send_length and sock_recv_length (tp_btf, Linux 6.3+):
 *              every sock_sendmsg and sock_recvmsg, whatever the syscall
 *              (write, sendfile, io_uring, ...). Without them, the fallback
 *              counts the exits of read, readv, write and writev on
 *              sockets (rw_net), and of sendto, recvfrom, sendmsg, recvmsg,
 *              sendmmsg and recvmmsg; without bpf_task_pt_regs, only the
 *              socket-only calls but mmsg, on sockets of any family.
 *
 * A process is (tgid, the group leader's start time): a pid reused is
 * another entry. When its last thread exits, exit_ns is set; Go reports the
 * entry one last time and deletes it. When the map is full, the counts go to
 * the per-CPU overflow row and the miss counts as lost.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "kscope.h"
#include "kscope_rw.h"

char LICENSE[] SEC("license") = "GPL";

#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define S_IFREG 0100000
#define AF_INET 2
#define AF_INET6 10
#define MSG_PEEK 2

/* Syscall numbers below NR_SLOTS have their own focus counter; NR_SLOTS holds the rest. */
#define NR_SLOTS 512
/* Messages of one sendmmsg or recvmmsg whose lengths are added up. */
#define MMSG_MAX 64

/* Set from Go before load: what the read and write exits count. */
const volatile __u8 rw_files = 1; /* bytes on regular files */
const volatile __u8 rw_net = 0;   /* bytes on IPv4/IPv6 sockets (the net fallback) */

struct proc_key {
	__u32 tgid;
	__u32 _pad;
	__u64 start_ns; /* the group leader's start_time, CLOCK_MONOTONIC */
};

struct proc_stat {
	__u64 cpu_ns;
	__u64 syscalls;
	__u64 read_bytes;  /* regular files */
	__u64 write_bytes; /* regular files */
	__u64 rx_bytes;    /* IPv4/IPv6 sockets */
	__u64 tx_bytes;    /* IPv4/IPv6 sockets */
	__u64 exit_ns;     /* when the last thread exited; 0 while it runs */
	__u8 comm[TASK_COMM_LEN];
};

/* What each CPU runs, since when, and that thread's runtime then. */
struct cpu_slot {
	__u64 runtime_ns;
	__u64 ts_ns; /* CLOCK_MONOTONIC */
	__u32 tid;
	__u32 tgid;
};

/* Per thread: its runtime charged so far. */
struct charged {
	__u64 runtime_ns;
};

/* struct mmsghdr (UAPI): a 56-byte user_msghdr, then msg_len. */
struct mmsg {
	__u8 hdr[56];
	__u32 msg_len;
	__u32 _pad;
};

/* Force BTF for bpf2go -type. */
const struct proc_key *unused_proc_key __attribute__((unused));
const struct proc_stat *unused_proc_stat __attribute__((unused));
const struct cpu_slot *unused_cpu_slot __attribute__((unused));
const struct charged *unused_charged __attribute__((unused));

/* One entry per process, allocated as used; max_entries is set from Go. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct proc_key);
	__type(value, struct proc_stat);
} procs SEC(".maps");

/* Counts of processes the full map had no room for. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct proc_stat);
} overflow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_slot);
} oncpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct charged);
} charged SEC(".maps");

/* focus[0]: the tgid whose calls are counted per syscall; 0: none. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} focus SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NR_SLOTS + 1);
	__type(key, __u32);
	__type(value, __u64);
} focus_calls SEC(".maps");

/*
 * The entry of task's process, made on its first count; the overflow row
 * when the map is full.
 */
static __always_inline struct proc_stat *proc_of(struct task_struct *task)
{
	struct task_struct *leader = task->group_leader;
	struct proc_key key = {
		.tgid = task->tgid,
		.start_ns = leader->start_time,
	};
	struct proc_stat *p, init = {};
	__u32 zero = 0;

	p = bpf_map_lookup_elem(&procs, &key);
	if (p)
		return p;
	bpf_probe_read_kernel(init.comm, sizeof(init.comm), leader->comm);
	/* EEXIST: another CPU made it meanwhile; anything else: full. */
	bpf_map_update_elem(&procs, &key, &init, BPF_NOEXIST);
	p = bpf_map_lookup_elem(&procs, &key);
	if (p)
		return p;
	count(STAT_LOST);
	return bpf_map_lookup_elem(&overflow, &zero);
}

/* tp_btf: typed arguments, direct loads; this runs at every switch. */
SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 runtime = prev->se.sum_exec_runtime;
	struct cpu_slot *cpu;
	struct proc_stat *p;
	struct charged *c;
	__u32 zero = 0;

	cpu = bpf_map_lookup_elem(&oncpu, &zero);
	if (!cpu)
		return 0;
	/* Idle (pid 0) and threads without storage yet are not charged. */
	c = bpf_task_storage_get(&charged, prev, 0, 0);
	if (c && prev->pid) {
		if (runtime > c->runtime_ns) {
			p = proc_of(prev);
			if (p)
				__sync_fetch_and_add(&p->cpu_ns, runtime - c->runtime_ns);
		}
		c->runtime_ns = runtime;
	}
	cpu->runtime_ns = next->se.sum_exec_runtime;
	cpu->ts_ns = bpf_ktime_get_ns();
	cpu->tid = next->pid;
	cpu->tgid = next->tgid;
	return 0;
}

/* New threads get their storage at fork, outside the scheduler's locks. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(charged_fork, struct task_struct *parent, struct task_struct *child)
{
	struct charged *c = bpf_task_storage_get(&charged, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (c)
		c->runtime_ns = child->se.sum_exec_runtime; /* 0: it has not run */
	return 0;
}

/* Threads alive at Start get theirs from this iterator: their runtime so far is not charged. */
SEC("iter/task")
int charged_iter(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct charged *c;

	if (!task || bpf_task_storage_get(&charged, task, 0, 0))
		return 0;
	c = bpf_task_storage_get(&charged, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (c)
		c->runtime_ns = task->se.sum_exec_runtime;
	return 0;
}

SEC("raw_tracepoint/sys_enter")
int sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct proc_stat *p = proc_of(task);
	__u32 zero = 0, idx, *f;
	long nr;
	__u64 *n;

	if (p)
		__sync_fetch_and_add(&p->syscalls, 1);
	f = bpf_map_lookup_elem(&focus, &zero);
	if (!f || *f == 0 || *f != task->tgid)
		return 0;
	nr = (long)ctx->args[1];
	idx = (__u64)nr < NR_SLOTS ? (__u32)nr : NR_SLOTS;
	n = bpf_map_lookup_elem(&focus_calls, &idx);
	if (n)
		*n += 1;
	return 0;
}

enum fd_kind {
	FD_OTHER = 0,
	FD_FILE = 1, /* a regular file */
	FD_INET = 2, /* an IPv4 or IPv6 socket */
};

/*
 * What fd is in the current task's file table. Direct loads down to the fd
 * array; the array's slot and what hangs off the file by probe reads, as
 * the verifier does not follow those pointers.
 */
static __always_inline enum fd_kind fd_kind(struct task_struct *task, __u64 fd)
{
	struct fdtable *fdt = task->files->fdt;
	struct file **fds, *f = NULL;
	struct socket *sock;
	umode_t mode;
	__u16 family;

	if (fd >= fdt->max_fds)
		return FD_OTHER;
	fds = fdt->fd;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return FD_OTHER;
	mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) == S_IFREG)
		return FD_FILE;
	if ((mode & S_IFMT) != S_IFSOCK)
		return FD_OTHER;
	/* A socket file's private_data is its struct socket (sock_from_file). */
	sock = BPF_CORE_READ(f, private_data);
	family = BPF_CORE_READ(sock, sk, __sk_common.skc_family);
	return family == AF_INET || family == AF_INET6 ? FD_INET : FD_OTHER;
}

static __always_inline void add(__u64 *v, __u64 n)
{
	__sync_fetch_and_add(v, n);
}

/* The user registers of the current task at syscall entry. */
static __always_inline struct pt_regs *user_regs(struct task_struct *task)
{
	return (struct pt_regs *)bpf_task_pt_regs(task);
}

/* A read or write returned ret: count it by the kind of its fd (the first argument). */
static __always_inline int rw(long ret, bool write, bool check_fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	enum fd_kind kind = FD_FILE;
	struct proc_stat *p;

	if (ret <= 0)
		return 0;
	if (check_fd)
		kind = fd_kind(task, KSCOPE_SYSCALL_ARG1(user_regs(task)));
	if (kind == FD_FILE && rw_files) {
		p = proc_of(task);
		if (p)
			add(write ? &p->write_bytes : &p->read_bytes, ret);
	} else if (kind == FD_INET && rw_net) {
		p = proc_of(task);
		if (p)
			add(write ? &p->tx_bytes : &p->rx_bytes, ret);
	}
	return 0;
}

/* One program per syscall and variant: kscope_rw.h. */
KSCOPE_RW_EXITS()

/* Counts n bytes received or sent by the current process. */
static __always_inline void net(struct task_struct *task, bool tx, __u64 n)
{
	struct proc_stat *p = proc_of(task);

	if (p)
		add(tx ? &p->tx_bytes : &p->rx_bytes, n);
}

/*
 * The preferred net hooks: every sock_sendmsg and sock_recvmsg. A peek
 * receives nothing (as the tracepoint's own format says).
 */
static __always_inline int sock_length(struct sock *sk, int ret, int flags, bool tx)
{
	__u16 family;

	if (ret <= 0 || (flags & MSG_PEEK))
		return 0;
	family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return 0;
	net(bpf_get_current_task_btf(), tx, ret);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(sock_send_length, struct sock *sk, int ret, int flags)
{
	return sock_length(sk, ret, flags, true);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(sock_recv_length, struct sock *sk, int ret, int flags)
{
	return sock_length(sk, ret, flags, false);
}

/*
 * Fallback: a socket syscall returned ret bytes. flags is the index of its
 * flags argument among the user registers (di, si, dx, r10), for MSG_PEEK.
 */
enum flags_arg {
	NO_FLAGS,
	FLAGS_DX,  /* recvmsg(fd, msg, flags) */
	FLAGS_R10, /* recvfrom(fd, buf, len, flags, ...) */
};

static __always_inline int sock_io(long ret, bool tx, bool check_fd, enum flags_arg fa)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs;
	__u64 flags = 0;

	if (ret <= 0)
		return 0;
	if (check_fd) {
		regs = user_regs(task);
		if (fd_kind(task, KSCOPE_SYSCALL_ARG1(regs)) != FD_INET)
			return 0;
		if (fa == FLAGS_DX)
			flags = KSCOPE_SYSCALL_ARG3(regs);
		else if (fa == FLAGS_R10)
			flags = KSCOPE_SYSCALL_ARG4(regs);
		if (flags & MSG_PEEK)
			return 0;
	}
	net(task, tx, ret);
	return 0;
}

/* sendmmsg and recvmmsg return messages: add up the first ret msg_len. */
static __always_inline int mmsg_io(long ret, bool tx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = user_regs(task);
	struct mmsg *vec;
	__u64 bytes = 0;
	__u32 len;

	if (ret <= 0 || fd_kind(task, KSCOPE_SYSCALL_ARG1(regs)) != FD_INET)
		return 0;
	/* recvmmsg(fd, vec, vlen, flags, timeout) */
	if (!tx && (KSCOPE_SYSCALL_ARG4(regs) & MSG_PEEK))
		return 0;
	vec = (struct mmsg *)KSCOPE_SYSCALL_ARG2(regs);
	for (int i = 0; i < MMSG_MAX; i++) {
		if (i >= ret)
			break;
		if (bpf_probe_read_user(&len, sizeof(len), &vec[i].msg_len))
			break;
		bytes += len;
	}
	if (bytes)
		net(task, tx, bytes);
	return 0;
}

#define SOCK(name, tx, fa)                                                               \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                       \
	int exit_##name(struct trace_event_raw_sys_exit *ctx)                            \
	{                                                                                \
		return sock_io(ctx->ret, tx, true, fa);                                  \
	}                                                                                \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                       \
	int exit_##name##_anyfd(struct trace_event_raw_sys_exit *ctx)                    \
	{                                                                                \
		return sock_io(ctx->ret, tx, false, fa);                                 \
	}

SOCK(sendto, true, NO_FLAGS)
SOCK(sendmsg, true, NO_FLAGS)
SOCK(recvfrom, false, FLAGS_R10)
SOCK(recvmsg, false, FLAGS_DX)

SEC("tracepoint/syscalls/sys_exit_sendmmsg")
int exit_sendmmsg(struct trace_event_raw_sys_exit *ctx)
{
	return mmsg_io(ctx->ret, true);
}

SEC("tracepoint/syscalls/sys_exit_recvmmsg")
int exit_recvmmsg(struct trace_event_raw_sys_exit *ctx)
{
	return mmsg_io(ctx->ret, false);
}

/* exec renames the process (its key stays: de_thread keeps the start time). */
SEC("tracepoint/sched/sched_process_exec")
int sched_process_exec(void *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct proc_key key = {
		.tgid = task->tgid,
		.start_ns = task->group_leader->start_time,
	};
	struct proc_stat *p = bpf_map_lookup_elem(&procs, &key);

	if (p)
		bpf_get_current_comm(p->comm, sizeof(p->comm));
	return 0;
}

/*
 * A thread exits. When it is the last of its process (signal->live reached
 * zero just before), the entry is marked; two threads exiting together may
 * both mark it, which is harmless.
 */
SEC("tracepoint/sched/sched_process_exit")
int sched_process_exit(void *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct proc_key key = {
		.tgid = task->tgid,
		.start_ns = task->group_leader->start_time,
	};
	struct proc_stat *p;

	if (task->signal->live.counter != 0)
		return 0;
	p = bpf_map_lookup_elem(&procs, &key);
	if (p)
		p->exit_ns = bpf_ktime_get_ns();
	return 0;
}
