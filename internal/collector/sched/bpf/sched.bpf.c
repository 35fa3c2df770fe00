// SPDX-License-Identifier: GPL-2.0-only
/*
 * sched: run-queue latency, context switches, wakeups and migrations, all
 * machine-wide and aggregated here; Go reads the maps.
 *
 * Run-queue latency is the time a task waits runnable before it runs: from
 * sched_wakeup (or sched_wakeup_new) to the sched_switch that puts it on a
 * CPU, and from a preemption (it leaves the CPU still runnable) to its next
 * turn, as runqlat measures it. The timestamp lives in the task's own
 * storage. A task that leaves the CPU to sleep has its timestamp cleared,
 * so a wakeup seen while it was still running, or a sleep a pending signal
 * cut short, can not be taken for its next wait.
 *
 * Task storage is never created in the scheduler hooks, which run with the
 * run-queue lock held, where an allocation that wakes kswapd would
 * deadlock: it is made for every task when Go starts (a task iterator) and
 * for new tasks in sched_process_fork.
 *
 * Kernels without task storage, tp_btf or the prev_state argument of
 * sched_switch (before 5.18) take the raw tracepoint programs at the end,
 * with the timestamps in a hash keyed by pid.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "kscope.h"
#include "kscope_agg.h"

char LICENSE[] SEC("license") = "GPL";

/* Latency slots kept: log2 slots LAT_LO..LAT_HI, below and above folded in. */
#define LAT_LO 9
#define LAT_HI 33
#define LAT_SLOTS (LAT_HI - LAT_LO + 2)
/* LAT_LO as the object carries it, for Go to check against its own. */
const volatile __u32 lat_lo = LAT_LO;

#define TASK_RUNNING 0
#define TASK_DEAD 0x80

/* Why a task waited: indexes of the latency histograms. */
enum wait_reason {
	WAIT_WAKEUP = 0,
	WAIT_WAKEUP_NEW = 1,
	WAIT_PREEMPTED = 2,
	WAIT_MAX = 3,
};

/* Indexes of struct counters' n. */
enum counter {
	C_VOLUNTARY = 0,   /* prev went to sleep */
	C_INVOLUNTARY = 1, /* prev was preempted or yielded, still runnable */
	C_IDLE = 2,        /* prev was the idle task */
	C_WAKEUP = 3,
	C_WAKEUP_NEW = 4,
	C_MIGRATE = 5,
	C_NO_STORAGE = 6,  /* a task without task storage was made runnable */
	C_MAP_FULL = 7,    /* fallback: the pid hash was full */
	C_MAX = 8,
};

struct counters {
	__u64 n[C_MAX];
};

struct hist {
	__u64 sum_ns;
	__u64 slots[LAT_SLOTS]; /* log2 slot LAT_LO + i */
};

/* Force BTF for bpf2go -type. */
const struct counters *unused_counters __attribute__((unused));
const struct hist *unused_hist __attribute__((unused));

/* When and why a task became runnable; ts 0: it is not waiting. */
struct wait {
	__u64 ts;
	__u32 reason;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counters);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WAIT_MAX);
	__type(key, __u32);
	__type(value, struct hist);
} latency SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct wait);
} waits SEC(".maps");

/* Fallback: waiting tasks by pid (thread id); an entry lives while it waits. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct wait);
} waits_hash SEC(".maps");

static __always_inline void inc(__u32 c)
{
	__u32 zero = 0;
	struct counters *cs = bpf_map_lookup_elem(&counts, &zero);

	if (cs && c < C_MAX)
		cs->n[c] += 1;
}

static __always_inline void observe(__u64 delta, __u32 reason)
{
	struct hist *h = bpf_map_lookup_elem(&latency, &reason);
	__u32 slot = log2_u64(delta);

	if (!h)
		return;
	/* As metrics.Log2 reads them: slot 0 holds LAT_LO and below. */
	slot = slot > LAT_LO ? slot - LAT_LO : 0;
	if (slot > LAT_SLOTS - 1)
		slot = LAT_SLOTS - 1;
	h->sum_ns += delta;
	h->slots[slot] += 1;
}

/* The kind of a switch away from prev, as the kernel counts nvcsw/nivcsw. */
static __always_inline __u32 switch_kind(bool preempt, __u32 prev_pid, __u32 prev_state)
{
	if (prev_pid == 0)
		return C_IDLE;
	return !preempt && prev_state != TASK_RUNNING ? C_VOLUNTARY : C_INVOLUNTARY;
}

/* --- tp_btf and task storage ------------------------------------------- */

static __always_inline int enqueued(struct task_struct *p, __u32 reason, __u32 c)
{
	struct wait *w = bpf_task_storage_get(&waits, p, 0, 0);

	inc(c);
	if (!w) {
		inc(C_NO_STORAGE);
		return 0;
	}
	w->ts = bpf_ktime_get_ns();
	w->reason = reason;
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup, struct task_struct *p)
{
	return enqueued(p, WAIT_WAKEUP, C_WAKEUP);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new, struct task_struct *p)
{
	return enqueued(p, WAIT_WAKEUP_NEW, C_WAKEUP_NEW);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	__u32 kind = switch_kind(preempt, prev->pid, prev_state);
	__u64 now = bpf_ktime_get_ns();
	struct wait *w;

	inc(kind);
	/* prev waits again if it stays runnable; a sleeper waits for nothing. */
	if (kind != C_IDLE) {
		w = bpf_task_storage_get(&waits, prev, 0, 0);
		if (w) {
			w->ts = kind == C_INVOLUNTARY ? now : 0;
			w->reason = WAIT_PREEMPTED;
		}
	}
	/* next's wait ends. */
	if (next->pid == 0)
		return 0;
	w = bpf_task_storage_get(&waits, next, 0, 0);
	if (w && w->ts) {
		if (now > w->ts)
			observe(now - w->ts, w->reason);
		w->ts = 0;
	}
	return 0;
}

SEC("tp_btf/sched_migrate_task")
int BPF_PROG(sched_migrate_task, struct task_struct *p, int dest_cpu)
{
	inc(C_MIGRATE);
	return 0;
}

/* New tasks get their storage here, outside the scheduler's locks. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	bpf_task_storage_get(&waits, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	return 0;
}

/* Tasks that exist when Go starts get theirs from this iterator. */
SEC("iter/task")
int make_storage(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;

	if (task)
		bpf_task_storage_get(&waits, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	return 0;
}

/* --- fallback: raw tracepoints and a pid hash ----------------------------- */

/* task_struct before 5.14 ("sched: Change task_struct::state"). */
struct task_struct___pre514 {
	long state;
};

static __always_inline __u32 task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return (__u32)BPF_CORE_READ((struct task_struct___pre514 *)t, state);
}

static __always_inline void wait_begins(__u32 pid, __u32 reason)
{
	struct wait w = { .ts = bpf_ktime_get_ns(), .reason = reason };

	if (bpf_map_update_elem(&waits_hash, &pid, &w, BPF_ANY))
		inc(C_MAP_FULL);
}

SEC("raw_tracepoint/sched_wakeup")
int sched_wakeup_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *p = (struct task_struct *)ctx->args[0];

	inc(C_WAKEUP);
	wait_begins(BPF_CORE_READ(p, pid), WAIT_WAKEUP);
	return 0;
}

SEC("raw_tracepoint/sched_wakeup_new")
int sched_wakeup_new_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *p = (struct task_struct *)ctx->args[0];

	inc(C_WAKEUP_NEW);
	wait_begins(BPF_CORE_READ(p, pid), WAIT_WAKEUP_NEW);
	return 0;
}

/*
 * sched_switch(bool preempt, prev, next[, prev_state since 5.18]): only the
 * first three arguments, which every kernel has; prev's state is read from
 * the task, where a sleep that a pending signal cut short already reads
 * TASK_RUNNING.
 */
SEC("raw_tracepoint/sched_switch")
int sched_switch_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *prev = (struct task_struct *)ctx->args[1];
	struct task_struct *next = (struct task_struct *)ctx->args[2];
	__u32 prev_pid = BPF_CORE_READ(prev, pid), next_pid = BPF_CORE_READ(next, pid);
	__u32 state = task_state(prev);
	__u32 kind = switch_kind(ctx->args[0] & 1, prev_pid, state);
	struct wait *w;

	inc(kind);
	if (kind == C_INVOLUNTARY)
		wait_begins(prev_pid, WAIT_PREEMPTED);
	else if (kind == C_VOLUNTARY)
		/* A wakeup seen while it was running may have left an entry. */
		bpf_map_delete_elem(&waits_hash, &prev_pid);
	if (next_pid == 0)
		return 0;
	w = bpf_map_lookup_elem(&waits_hash, &next_pid);
	if (w) {
		__u64 now = bpf_ktime_get_ns();

		if (now > w->ts)
			observe(now - w->ts, w->reason);
		bpf_map_delete_elem(&waits_hash, &next_pid);
	}
	return 0;
}

SEC("raw_tracepoint/sched_migrate_task")
int sched_migrate_task_raw(struct bpf_raw_tracepoint_args *ctx)
{
	inc(C_MIGRATE);
	return 0;
}
