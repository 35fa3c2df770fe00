// SPDX-License-Identifier: GPL-2.0-only
/*
 * signals: signals generated, and the signals that killed processes with
 * who sent them.
 *
 * A signal is fatal when its target process dies of it: the process's last
 * thread exits with the signal in its wait status. That is the rule
 * because the delivery side cannot tell: a fatal signal to a process turns
 * into a group exit (complete_signal), after which every thread dequeues a
 * SIGKILL in get_signal, and signal_deliver reports that instead of the
 * signal that was sent, once per thread.
 *
 * signal_generate notes, per target process and signal, the last sender of
 * a signal whose default action may kill; the process's end picks it up.
 * A process that catches a signal and raises it again to die of it (the Go
 * runtime, cleanup handlers) keeps the original sender.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "kscope.h"

char LICENSE[] SEC("license") = "GPL";

#define SIGKILL 9
#define SIGCHLD 17
#define SIGCONT 18
#define SIGSTOP 19
#define SIGTSTP 20
#define SIGTTIN 21
#define SIGTTOU 22
#define SIGURG 23
#define SIGWINCH 28
#define NSIG 64
#define SI_USER 0
#define SI_KERNEL 0x80

/* signal_generate's result (include/trace/events/signal.h). */
#define TRACE_SIGNAL_DELIVERED 0
#define TRACE_SIGNAL_LOSE_INFO 4 /* delivered, without its siginfo */

/* A self-raise within this long of another sender keeps that sender. */
#define KEEP_SENDER_NS (10ULL * 1000000000ULL)

/* Events per second at most; the rest count as lost. Set from Go. */
const volatile __u32 max_events_per_sec = 1000;

struct signal_event {
	struct event_header hdr; /* the target: its last thread */
	__u32 sender_pid;        /* 0: no sender seen */
	__u32 sender_tid;
	__u32 sender_uid;
	__s32 code;  /* si_code */
	__s32 signo;
	__u8 core_dumped;
	__u8 _pad[3];
	__u8 sender_comm[TASK_COMM_LEN];
};

const struct signal_event *unused_signal_event __attribute__((unused));

struct target_key {
	__u32 tgid;
	__u32 sig;
};

struct sender {
	__u64 ts_ns;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__s32 code;
	__u8 comm[TASK_COMM_LEN];
};

/* Signals generated and delivered (index: signal; 0 for out of range). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NSIG + 1);
	__type(key, __u32);
	__type(value, __u64);
} generated SEC(".maps");

/* Processes killed, by signal (index: the wait status's signal, 1-127). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 128);
	__type(key, __u32);
	__type(value, __u64);
} fatal SEC(".maps");

/* The last sender per target process and signal; LRU: most never kill. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 10240);
	__type(key, struct target_key);
	__type(value, struct sender);
} senders SEC(".maps");

/* Processes already reported as ended (the signal->live path only). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64); /* tgid << 32 ^ leader start time */
	__type(value, __u8);
} ended SEC(".maps");

struct rate {
	__u64 second;
	__u64 n;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rate);
} rate SEC(".maps");

static __always_inline void add(void *map, __u32 idx)
{
	__u64 *p = bpf_map_lookup_elem(map, &idx);

	if (p)
		*p += 1;
}

/* Signals whose default action never kills: ignore, stop, continue. */
static __always_inline bool never_kills(int sig)
{
	return sig == SIGCHLD || sig == SIGCONT || sig == SIGURG || sig == SIGWINCH ||
	       (sig >= SIGSTOP && sig <= SIGTTOU);
}

SEC("raw_tracepoint/signal_generate")
int signal_generate(struct bpf_raw_tracepoint_args *ctx)
{
	/* TP_PROTO(int sig, struct kernel_siginfo *info, struct task_struct *task, int group, int result) */
	int sig = (int)ctx->args[0];
	struct kernel_siginfo *info = (struct kernel_siginfo *)ctx->args[1];
	struct task_struct *task = (struct task_struct *)ctx->args[2];
	int result = (int)ctx->args[4];
	__u64 pid_tgid = bpf_get_current_pid_tgid(), now;
	struct target_key key = {};
	struct sender s = {}, *old;

	if (result != TRACE_SIGNAL_DELIVERED && result != TRACE_SIGNAL_LOSE_INFO)
		return 0;
	add(&generated, sig > 0 && sig <= NSIG ? sig : 0);
	if (never_kills(sig))
		return 0;

	key.tgid = BPF_CORE_READ(task, tgid);
	key.sig = sig;
	now = bpf_ktime_get_ns();
	old = bpf_map_lookup_elem(&senders, &key);
	/* A process raising the signal to itself after someone else sent it. */
	if (old && key.tgid == pid_tgid >> 32 && old->pid != key.tgid && now - old->ts_ns < KEEP_SENDER_NS)
		return 0;
	s.ts_ns = now;
	s.pid = pid_tgid >> 32;
	s.tid = (__u32)pid_tgid;
	s.uid = (__u32)bpf_get_current_uid_gid();
	/* As the tracepoint itself records it (TP_STORE_SIGINFO). */
	if ((__u64)info == 0)
		s.code = SI_USER;
	else if ((__u64)info == 1)
		s.code = SI_KERNEL;
	else
		s.code = BPF_CORE_READ(info, si_code);
	bpf_get_current_comm(s.comm, sizeof(s.comm));
	/* Overwriting in place is much cheaper than an LRU update. */
	if (old)
		__builtin_memcpy(old, &s, sizeof(s));
	else
		bpf_map_update_elem(&senders, &key, &s, BPF_ANY);
	return 0;
}

/* True once per process: when its last thread exits (see process.bpf.c). */
static __always_inline bool process_ended(void *ctx, struct task_struct *task)
{
	__u64 key;
	__u8 one = 1;

	if (bpf_core_field_exists(struct trace_event_raw_sched_process_exit, group_dead))
		return ((struct trace_event_raw_sched_process_exit *)ctx)->group_dead;
	if (task->signal->live.counter != 0)
		return false;
	key = (__u64)task->tgid << 32 ^ task->group_leader->start_time;
	return bpf_map_update_elem(&ended, &key, &one, BPF_NOEXIST) == 0;
}

/* At most max_events_per_sec events per second, over all CPUs. */
static __always_inline bool rate_ok(__u64 now)
{
	__u32 zero = 0;
	struct rate *r = bpf_map_lookup_elem(&rate, &zero);
	__u64 second = now / 1000000000ULL;

	if (!r)
		return false;
	if (r->second != second) {
		r->second = second;
		r->n = 0;
	}
	if (r->n >= max_events_per_sec)
		return false;
	__sync_fetch_and_add(&r->n, 1);
	return true;
}

SEC("tracepoint/sched/sched_process_exit")
int sched_process_exit(void *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	struct target_key key = {};
	struct signal_event *e;
	struct sender s = {}, *sp;
	__u32 status, sig;
	__u64 now;

	if (!process_ended(ctx, task))
		return 0;
	status = task->exit_code;
	sig = status & 0x7f;
	if (!sig)
		return 0;
	add(&fatal, sig);

	key.tgid = pid_tgid >> 32;
	key.sig = sig;
	sp = bpf_map_lookup_elem(&senders, &key);
	/* Noted for an earlier process with the same pid: not this one's. */
	if (sp && sp->ts_ns >= task->group_leader->start_time)
		__builtin_memcpy(&s, sp, sizeof(s));
	if (sp)
		bpf_map_delete_elem(&senders, &key);

	if (!want_task(pid_tgid, uid))
		return drop();
	now = bpf_ktime_get_ns();
	if (!rate_ok(now)) {
		count(STAT_LOST);
		return 0;
	}
	e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->hdr, pid_tgid, uid);
	e->hdr.ts_ns = now;
	e->signo = sig;
	e->core_dumped = (status & 0x80) != 0;
	e->code = s.code;
	e->sender_pid = s.pid;
	e->sender_tid = s.tid;
	e->sender_uid = s.uid;
	__builtin_memcpy(e->sender_comm, s.comm, sizeof(e->sender_comm));
	e->_pad[0] = e->_pad[1] = e->_pad[2] = 0;
	submit(e, sizeof(*e));
	return 0;
}
