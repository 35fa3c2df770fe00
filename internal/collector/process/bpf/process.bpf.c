// SPDX-License-Identifier: GPL-2.0-only
/*
 * process: the life of processes, counted in the kernel. Successful execs,
 * forks of processes and of threads, the end of each process with its exit
 * code or signal and lifetime, the number of live processes, and the CPU
 * time of each process from sched_switch.
 *
 * A process (thread group) ends when its last thread exits: the one that
 * took signal->live to zero in do_exit, just before sched_process_exit.
 * Newer kernels pass that decision in the tracepoint (group_dead); older
 * ones are read from signal->live, where two threads exiting together may
 * both see zero, so the first to claim the process in `ended` reports it.
 *
 * CPU time: at each switch the outgoing task is charged the time since its
 * CPU switched to it, which oncpu remembers per CPU.
 *
 * The two hot hooks are tp_btf programs (typed arguments, direct loads);
 * the others are plain tracepoints, where the current task is the one
 * exiting or exec'ing.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "kscope.h"
#include "kscope_agg.h"

char LICENSE[] SEC("license") = "GPL";

/* Indexes of the per-CPU counts array, mirrored in collector.go. */
enum {
	CNT_EXECS = 0,
	CNT_FORK_PROCESS = 1,
	CNT_FORK_THREAD = 2,
	CNT_LIVE = 3,         /* +1 per process forked, -1 per process ended (wraps) */
	CNT_UNTRACKED_NS = 4, /* CPU time of processes procs had no room for */
	CNT_MAX = 8,
};

/* exits: index = exit code (0-255), or EXIT_CODES + the terminating signal. */
#define EXIT_CODES 256
#define EXIT_SLOTS (EXIT_CODES + 128)

/* seed_window values: a fork adds SEED_FORK, an exit SEED_EXIT. */
#define SEED_FORK 1
#define SEED_EXIT (1 << 16)

/* A process: its tgid and its leader's start time (pids are reused). */
struct proc_key {
	__u32 tgid;
	__u32 _pad;
	__u64 start_ns; /* CLOCK_MONOTONIC */
};

struct proc_cpu {
	__u64 cpu_ns;  /* on-CPU time of all its threads */
	__u64 exit_ns; /* when it ended; 0 while it runs */
	__u8 comm[TASK_COMM_LEN];
};

/* What each CPU runs since when. */
struct cpu_slot {
	__u64 ts_ns;
	__u32 tid;
	__u32 tgid;
};

struct lifetime {
	__u64 slots[HIST_SLOTS]; /* log2 of nanoseconds */
	__u64 sum_ns;
};

/* Force BTF for bpf2go -type. */
const struct proc_key *unused_proc_key __attribute__((unused));
const struct proc_cpu *unused_proc_cpu __attribute__((unused));
const struct cpu_slot *unused_cpu_slot __attribute__((unused));
const struct lifetime *unused_lifetime __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EXIT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} exits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lifetime);
} lifetimes SEC(".maps");

/*
 * CPU time per process. A plain hash: a full map is counted, and the time
 * goes to CNT_UNTRACKED_NS. Go deletes ended processes after reporting them.
 * max_entries is set from Go.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct proc_key);
	__type(value, struct proc_cpu);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_slot);
} oncpu SEC(".maps");

/* Processes already reported as ended (the signal->live path only). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct proc_key);
	__type(value, __u8);
} ended SEC(".maps");

/*
 * While Go counts the processes in /proc (seeding[0] = 1), forks and exits
 * are noted per tgid so that it can tell which ones its count already has.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} seeding SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096); /* forks and exits during a /proc read */
	__type(key, __u32); /* tgid */
	__type(value, __u32);
} seed_window SEC(".maps");

static __always_inline void add(void *map, __u32 idx, __u64 v)
{
	__u64 *p = bpf_map_lookup_elem(map, &idx);

	if (p)
		*p += v;
}

static __always_inline void seed_note(__u32 tgid, __u32 what)
{
	__u32 zero = 0, *on, *v;

	on = bpf_map_lookup_elem(&seeding, &zero);
	if (!on || !*on)
		return;
	v = bpf_map_lookup_elem(&seed_window, &tgid);
	if (!v) {
		bpf_map_update_elem(&seed_window, &tgid, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&seed_window, &tgid);
	}
	if (v)
		__sync_fetch_and_add(v, what);
	else
		count(STAT_LOST);
}

/* The key of a task's process. */
static __always_inline struct proc_key proc_of(struct task_struct *task)
{
	struct proc_key key = {
		.tgid = task->tgid,
		.start_ns = task->group_leader->start_time,
	};

	return key;
}

/* Charges delta nanoseconds of CPU to the process of task. */
static __always_inline void charge(struct task_struct *task, __u64 delta)
{
	struct proc_key key = proc_of(task);
	struct proc_cpu *v, init = {};

	v = bpf_map_lookup_elem(&procs, &key);
	if (v) {
		__sync_fetch_and_add(&v->cpu_ns, delta);
		return;
	}
	init.cpu_ns = delta;
	bpf_probe_read_kernel(init.comm, sizeof(init.comm), task->group_leader->comm);
	if (bpf_map_update_elem(&procs, &key, &init, BPF_NOEXIST) == 0)
		return;
	/* Another CPU made the entry meanwhile, or the map is full. */
	v = bpf_map_lookup_elem(&procs, &key);
	if (v) {
		__sync_fetch_and_add(&v->cpu_ns, delta);
		return;
	}
	count(STAT_LOST);
	add(&counts, CNT_UNTRACKED_NS, delta);
}

/* tp_btf: typed arguments, read by direct loads; this runs at every switch. */
SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 zero = 0;
	struct cpu_slot *cpu;

	cpu = bpf_map_lookup_elem(&oncpu, &zero);
	if (!cpu)
		return 0;
	/* Idle (tgid 0) and the first switch seen on a CPU are not charged. */
	if (cpu->ts_ns && cpu->tgid && cpu->tid == prev->pid && now > cpu->ts_ns)
		charge(prev, now - cpu->ts_ns);
	cpu->ts_ns = now;
	cpu->tid = next->pid;
	cpu->tgid = next->tgid;
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int sched_process_exec(void *ctx)
{
	struct proc_key key = proc_of(bpf_get_current_task_btf());
	struct proc_cpu *v;

	add(&counts, CNT_EXECS, 1);
	/* The process keeps its key across exec (de_thread keeps the start time). */
	v = bpf_map_lookup_elem(&procs, &key);
	if (v)
		bpf_get_current_comm(v->comm, sizeof(v->comm));
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	/* CLONE_THREAD is not in the tracepoint, but a new thread group's id is its first thread's. */
	if (child->pid != child->tgid) {
		add(&counts, CNT_FORK_THREAD, 1);
		return 0;
	}
	add(&counts, CNT_FORK_PROCESS, 1);
	add(&counts, CNT_LIVE, 1);
	seed_note(child->tgid, SEED_FORK);
	return 0;
}

/* True once per process: when its last thread exits. */
static __always_inline bool process_ended(void *ctx, struct task_struct *task, struct proc_key *key)
{
	__u8 one = 1;

	/* Newer kernels say it in the record (sched_process_exit's group_dead). */
	if (bpf_core_field_exists(struct trace_event_raw_sched_process_exit, group_dead))
		return ((struct trace_event_raw_sched_process_exit *)ctx)->group_dead;
	if (task->signal->live.counter != 0)
		return false;
	return bpf_map_update_elem(&ended, key, &one, BPF_NOEXIST) == 0;
}

SEC("tracepoint/sched/sched_process_exit")
int sched_process_exit(void *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct proc_key key = proc_of(task);
	__u64 now = bpf_ktime_get_ns(), age;
	__u32 zero = 0, idx, code, sig;
	struct lifetime *lt;
	struct proc_cpu *v;

	if (!process_ended(ctx, task, &key))
		return 0;

	/* Wait status: code << 8, or the terminating signal (| 0x80 with a core dump). */
	code = task->exit_code;
	sig = code & 0x7f;
	idx = sig ? EXIT_CODES + sig : (code >> 8) & 0xff;
	add(&exits, idx, 1);

	age = now > key.start_ns ? now - key.start_ns : 0;
	lt = bpf_map_lookup_elem(&lifetimes, &zero);
	if (lt) {
		lt->slots[log2_u64(age) & (HIST_SLOTS - 1)] += 1;
		lt->sum_ns += age;
	}

	add(&counts, CNT_LIVE, (__u64)-1);
	seed_note(key.tgid, SEED_EXIT);

	/* Its CPU time stays until Go has reported it. A process that ends
	 * before it was ever switched out has no entry yet: make one, marked
	 * ended, for its last switch to charge; else that switch would make an
	 * entry that looks alive for good. */
	v = bpf_map_lookup_elem(&procs, &key);
	if (!v) {
		struct proc_cpu init = { .exit_ns = now };

		bpf_probe_read_kernel(init.comm, sizeof(init.comm), task->group_leader->comm);
		bpf_map_update_elem(&procs, &key, &init, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&procs, &key);
	}
	if (v)
		v->exit_ns = now;
	return 0;
}
