// SPDX-License-Identifier: GPL-2.0-only
/*
 * profile: stack sampling, counted here; Go reads aggregates, not samples.
 *
 * On-CPU: a perf_event program runs on every CPU at a fixed frequency (a
 * cpu-clock software event, or CPU cycles where a PMU exists). It takes the
 * user and kernel stacks of the interrupted task into stack trace maps and
 * counts the sample under {process, user stack, kernel stack, comm}.
 *
 * Off-CPU: at sched_switch, a task that leaves the CPU blocked (its state
 * is not TASK_RUNNING) has the time and its stacks recorded by thread id;
 * when it is switched in again, the time it spent blocked is added under the
 * same kind of key, in a map of its own.
 *
 * Nothing is lost silently: a full count map, a full stack map and every
 * failure to take a stack are counted by reason in `counters`.
 *
 * The first sample of a process (by pid, start time and comm, so a reused
 * pid or an exec counts as new) is announced in `new_procs`, so user space
 * can read its memory map while it lives: a process that exits before the
 * counts are read still symbolizes.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "kscope.h"

char LICENSE[] SEC("license") = "GPL";

#define TASK_RUNNING 0
#define PF_KTHREAD 0x00200000
#define MAX_STACK_DEPTH 127

#ifndef EFAULT
#define EFAULT 14
#endif
#ifndef EEXIST
#define EEXIST 17
#endif
#ifndef ENOMEM
#define ENOMEM 12
#endif
#ifndef E2BIG
#define E2BIG 7
#endif

/* Indexes of the counters array, mirrored in Go. */
enum counter {
	C_SAMPLES = 0,       /* on-CPU samples counted */
	C_IDLE = 1,          /* samples of the idle task, skipped */
	C_FILTERED = 2,      /* samples and switches of other processes */
	C_COUNTS_FULL = 3,   /* on-CPU count map full: sample dropped */
	C_OFFCPU_FULL = 4,   /* off-CPU map full: blocked time dropped */
	C_START_FULL = 5,    /* blocked-task map full: blocked time dropped */
	C_USTACK_EFAULT = 6, /* user stack could not be walked */
	C_USTACK_EEXIST = 7, /* user stack hash collision */
	C_USTACK_ENOMEM = 8, /* stack map full */
	C_USTACK_OTHER = 9,
	C_KSTACK_EFAULT = 10,
	C_KSTACK_EEXIST = 11,
	C_KSTACK_ENOMEM = 12,
	C_KSTACK_OTHER = 13,
	C_SWITCHES = 14,     /* blocking switch-outs recorded */
	C_NEW_PROC_LOST = 15, /* new-process announcement dropped: ring full */
	C_MAX = 16,
};

struct sample_key {
	__u32 pid;    /* tgid */
	__s32 ustack; /* id in user_stacks, or -1 */
	__s32 kstack; /* id in kernel_stacks, or -1 */
	__u32 _pad;
	__u8 comm[TASK_COMM_LEN];
};

/* A task that blocked: since when, and where. */
struct blocked {
	__u64 ts;
	struct sample_key key;
};

/* A process as announced: the key of `procs` and the record of `new_procs`. */
struct proc_key {
	__u32 pid;
	__u32 _pad;
	__u64 start; /* the process's start time, ns since boot */
	__u8 comm[TASK_COMM_LEN];
};

/* Processes announced already; LRU, so the table never fills. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct proc_key);
	__type(value, __u8);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 10);
} new_procs SEC(".maps");

/* Force BTF for bpf2go -type. */
const struct sample_key *unused_sample_key __attribute__((unused));
const struct proc_key *unused_proc_key __attribute__((unused));

/* Set from Go before load. */
const volatile __u8 pids_on = 0;     /* only processes in `pids` */
const volatile __u8 include_idle = 0; /* count the idle task's samples */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* Processes (tgid) profiled when pids_on. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, MAX_STACK_DEPTH * sizeof(__u64));
} user_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, MAX_STACK_DEPTH * sizeof(__u64));
} kernel_stacks SEC(".maps");

/* On-CPU samples per key. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct sample_key);
	__type(value, __u64);
} oncpu SEC(".maps");

/* Off-CPU nanoseconds per key. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct sample_key);
	__type(value, __u64);
} offcpu SEC(".maps");

/*
 * Blocked tasks by thread id. LRU: an entry of a task that exited while
 * blocked is never removed by the switch-in, and must not hold its slot.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct blocked);
} starts SEC(".maps");

static __always_inline void inc(__u32 c)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &c);

	if (v)
		*v += 1;
}

static __always_inline bool wanted(__u32 tgid)
{
	if (!pids_on)
		return true;
	return bpf_map_lookup_elem(&pids, &tgid) != NULL;
}

/* A stack id, or -1 with the reason counted from base (EFAULT, EEXIST, ENOMEM, other). */
static __always_inline __s32 stack_id(void *ctx, void *map, __u64 flags, __u32 base)
{
	long id = bpf_get_stackid(ctx, map, flags);

	if (id >= 0)
		return id;
	if (id == -EFAULT)
		inc(base);
	else if (id == -EEXIST)
		inc(base + 1);
	else if (id == -ENOMEM) {
		inc(base + 2);
		count(STAT_LOST);
	} else
		inc(base + 3);
	return -1;
}

/* Adds v to map[key], creating it; a full map is counted under full. */
static __always_inline void add(void *map, struct sample_key *key, __u64 v, __u32 full)
{
	__u64 *cur = bpf_map_lookup_elem(map, key);
	long err;

	if (cur) {
		__sync_fetch_and_add(cur, v);
		return;
	}
	err = bpf_map_update_elem(map, key, &v, BPF_NOEXIST);
	if (err == -EEXIST) {
		cur = bpf_map_lookup_elem(map, key);
		if (cur)
			__sync_fetch_and_add(cur, v);
		return;
	}
	if (err) {
		inc(full);
		count(STAT_LOST);
	}
}

/* Announces task's process the first time it is seen. */
static __always_inline void announce(struct task_struct *task, __u32 tgid, __u8 *comm)
{
	struct proc_key k = { .pid = tgid };
	__u8 one = 1;

	k.start = BPF_CORE_READ(task, group_leader, start_time);
	__builtin_memcpy(k.comm, comm, TASK_COMM_LEN);
	if (bpf_map_lookup_elem(&procs, &k))
		return;
	bpf_map_update_elem(&procs, &k, &one, BPF_ANY);
	if (bpf_ringbuf_output(&new_procs, &k, sizeof(k), 0))
		inc(C_NEW_PROC_LOST);
}

/* --- on-CPU ------------------------------------------------------------ */

SEC("perf_event")
int on_cpu(struct bpf_perf_event_data *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct sample_key key = {};
	/* x86-64 and arm64: user addresses have the top bit clear, the kernel's set. */
	bool user = !(PT_REGS_IP(&ctx->regs) >> 63);

	if ((__u32)pid_tgid == 0 && !include_idle) {
		inc(C_IDLE);
		return 0;
	}
	if (!wanted(tgid)) {
		inc(C_FILTERED);
		return 0;
	}
	key.pid = tgid;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	/* Kernel threads have no user stack; user mode has no kernel stack. */
	if (BPF_CORE_READ(task, flags) & PF_KTHREAD)
		key.ustack = -1;
	else
		key.ustack = stack_id(ctx, &user_stacks, BPF_F_USER_STACK, C_USTACK_EFAULT);
	key.kstack = user ? -1 : stack_id(ctx, &kernel_stacks, 0, C_KSTACK_EFAULT);
	if (key.ustack >= 0)
		announce(task, tgid, key.comm);
	inc(C_SAMPLES);
	add(&oncpu, &key, 1, C_COUNTS_FULL);
	return 0;
}

/* --- off-CPU ----------------------------------------------------------- */

/* prev leaves the CPU in state; it is current here, so its stacks can be taken. */
static __always_inline void switch_out(void *ctx, struct task_struct *prev, __u32 state)
{
	__u32 tid = BPF_CORE_READ(prev, pid);
	__u32 tgid = BPF_CORE_READ(prev, tgid);
	struct blocked b = {};

	if (tid == 0 || state == TASK_RUNNING)
		return;
	if (!wanted(tgid)) {
		inc(C_FILTERED);
		return;
	}
	b.ts = bpf_ktime_get_ns();
	b.key.pid = tgid;
	BPF_CORE_READ_STR_INTO(&b.key.comm, prev, comm);
	if (BPF_CORE_READ(prev, flags) & PF_KTHREAD)
		b.key.ustack = -1;
	else
		b.key.ustack = stack_id(ctx, &user_stacks, BPF_F_USER_STACK, C_USTACK_EFAULT);
	b.key.kstack = stack_id(ctx, &kernel_stacks, 0, C_KSTACK_EFAULT);
	if (b.key.ustack >= 0)
		announce(prev, tgid, b.key.comm);
	inc(C_SWITCHES);
	if (bpf_map_update_elem(&starts, &tid, &b, BPF_ANY)) {
		inc(C_START_FULL);
		count(STAT_LOST);
	}
}

/* next comes back on a CPU: the time since it blocked is off-CPU time. */
static __always_inline void switch_in(struct task_struct *next)
{
	__u32 tid = BPF_CORE_READ(next, pid);
	struct blocked *b;
	__u64 now;

	if (tid == 0)
		return;
	b = bpf_map_lookup_elem(&starts, &tid);
	if (!b)
		return;
	now = bpf_ktime_get_ns();
	if (now > b->ts) {
		struct sample_key key = b->key;

		add(&offcpu, &key, now - b->ts, C_OFFCPU_FULL);
	}
	bpf_map_delete_elem(&starts, &tid);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	if (!preempt)
		switch_out(ctx, prev, prev_state);
	switch_in(next);
	return 0;
}

/* task_struct before 5.14 ("sched: Change task_struct::state"). */
struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

/*
 * Older kernels (no tp_btf, or no prev_state argument before 5.18): only the
 * first three arguments, which every kernel has; prev's state is read from
 * the task.
 */
SEC("raw_tracepoint/sched_switch")
int sched_switch_raw(struct bpf_raw_tracepoint_args *ctx)
{
	bool preempt = ctx->args[0] & 1;
	struct task_struct *prev = (struct task_struct *)ctx->args[1];
	struct task_struct *next = (struct task_struct *)ctx->args[2];
	__u32 state;

	if (bpf_core_field_exists(prev->__state))
		state = BPF_CORE_READ(prev, __state);
	else
		state = BPF_CORE_READ((struct task_struct___old *)prev, state);
	if (!preempt)
		switch_out(ctx, prev, state);
	switch_in(next);
	return 0;
}
