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
 * CPU time is the kernel's own: se.sum_exec_runtime, the runtime the
 * scheduler accounts to each thread (from the task clock, so steal and
 * throttled time are not in it). Each thread's task storage holds the
 * runtime already charged; at each switch-out its process is charged the
 * difference. Threads get their storage at fork (nothing charged yet) or,
 * for those alive at Start, from a task iterator (their runtime then).
 * Until a thread has storage, and on kernels without task storage (before
 * 5.11), the difference is taken from the runtime at its switch-in on the
 * same CPU, which oncpu remembers (a switch-in the tracepoint missed loses
 * that slice). oncpu also tells Go which threads run now. The same switch
 * counts a voluntary context switch (the thread blocked: not preempted,
 * state not running) or an involuntary one, as the kernel counts nvcsw and
 * nivcsw for /proc/PID/status.
 *
 * procs holds live processes only: the last switch-out of a process that
 * ended (a thread past do_exit's PF_EXITING with signal->live at zero)
 * moves its totals to the CNT_GONE_* counters and deletes its entry, and
 * such a thread never makes a new one. Time and switches with no entry
 * (the map full) go to the same counters, the miss to CNT_DROPS.
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
	CNT_GONE_NS = 4,      /* CPU time of processes ended, or with no room in procs */
	CNT_GONE_NVCSW = 5,   /* their voluntary context switches */
	CNT_GONE_NIVCSW = 6,  /* their involuntary context switches */
	CNT_DROPS = 7,        /* switch-outs with no room in procs */
	CNT_MAX = 8,
};

/* exits: index = exit code (0-255), or EXIT_CODES + the terminating signal. */
#define EXIT_CODES 256
#define EXIT_SLOTS (EXIT_CODES + 128)

/* include/linux/sched.h: the task is in do_exit. */
#define PF_EXITING 0x00000004

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
	__u64 cpu_ns; /* runtime of all its threads */
	__u64 nvcsw;  /* voluntary context switches */
	__u64 nivcsw; /* involuntary context switches */
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

/* task_struct's state before Linux 5.14 renamed it __state. */
struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

struct lifetime {
	__u64 slots[HIST_SLOTS]; /* log2 of nanoseconds */
	__u64 sum_ns;
};

/* Force BTF for bpf2go -type. */
const struct proc_key *unused_proc_key __attribute__((unused));
const struct proc_cpu *unused_proc_cpu __attribute__((unused));
const struct cpu_slot *unused_cpu_slot __attribute__((unused));
const struct lifetime *unused_lifetime __attribute__((unused));
const struct charged *unused_charged __attribute__((unused));

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
 * CPU time and context switches per live process. Entries are allocated as
 * processes first run and deleted at their last switch-out, so max_entries
 * (set from Go, from pid_max and memory) bounds live processes only.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
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

/* Removed by Go, with the programs that use it, where the kernel lacks it. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct charged);
} charged SEC(".maps");

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

/* Charges what one switch-out adds to the process of task. */
static __always_inline void charge(struct task_struct *task, __u64 delta, bool voluntary)
{
	struct proc_key key = proc_of(task);
	struct proc_cpu *v, init = {};

	v = bpf_map_lookup_elem(&procs, &key);
	if (!v) {
		init.cpu_ns = delta;
		init.nvcsw = voluntary;
		init.nivcsw = !voluntary;
		bpf_probe_read_kernel(init.comm, sizeof(init.comm), task->group_leader->comm);
		if (bpf_map_update_elem(&procs, &key, &init, BPF_NOEXIST) == 0)
			return;
		/* Another CPU made the entry meanwhile, or the map is full. */
		v = bpf_map_lookup_elem(&procs, &key);
	}
	if (!v) {
		add(&counts, CNT_DROPS, 1);
		add(&counts, CNT_GONE_NS, delta);
		add(&counts, voluntary ? CNT_GONE_NVCSW : CNT_GONE_NIVCSW, 1);
		return;
	}
	__sync_fetch_and_add(&v->cpu_ns, delta);
	__sync_fetch_and_add(voluntary ? &v->nvcsw : &v->nivcsw, 1);
}

/*
 * The switch-out of a thread of a process that ended: its share goes to the
 * process's entry, if it is still there, and the entry's totals to the
 * CNT_GONE_* counters as it is deleted (by one CPU only: the one whose
 * delete succeeds).
 */
static __always_inline void charge_ended(struct task_struct *task, __u64 delta, bool voluntary)
{
	struct proc_key key = proc_of(task);
	__u64 ns = delta, nv = voluntary, niv = !voluntary;
	struct proc_cpu *v;

	v = bpf_map_lookup_elem(&procs, &key);
	if (v) {
		ns += v->cpu_ns;
		nv += v->nvcsw;
		niv += v->nivcsw;
		if (bpf_map_delete_elem(&procs, &key) != 0)
			ns = delta, nv = voluntary, niv = !voluntary;
	}
	add(&counts, CNT_GONE_NS, ns);
	add(&counts, CNT_GONE_NVCSW, nv);
	add(&counts, CNT_GONE_NIVCSW, niv);
}

/* The thread's scheduling state (TASK_RUNNING is 0). */
static __always_inline long task_state(struct task_struct *task)
{
	struct task_struct___old *old = (void *)task;

	if (bpf_core_field_exists(task->__state))
		return BPF_CORE_READ(task, __state);
	return BPF_CORE_READ(old, state);
}

/*
 * One switch: prev is charged delta, its runtime not charged yet (see the
 * top of the file), and the CPU's slot now describes next.
 */
static __always_inline void on_switch(bool preempt, struct task_struct *prev, struct task_struct *next,
				      __u64 *charged_ns)
{
	__u64 runtime = prev->se.sum_exec_runtime, delta = 0;
	bool voluntary = !preempt && task_state(prev) != 0;
	__u32 zero = 0;
	struct cpu_slot *cpu;

	cpu = bpf_map_lookup_elem(&oncpu, &zero);
	if (!cpu)
		return;
	if (charged_ns) {
		if (runtime > *charged_ns)
			delta = runtime - *charged_ns;
		*charged_ns = runtime;
	} else if (cpu->tid == prev->pid && cpu->tgid && runtime > cpu->runtime_ns) {
		/* The first switch seen on a CPU counts the switch, not the time. */
		delta = runtime - cpu->runtime_ns;
	}
	if (prev->pid) { /* not the idle task */
		if ((prev->flags & PF_EXITING) && prev->signal->live.counter == 0)
			charge_ended(prev, delta, voluntary);
		else
			charge(prev, delta, voluntary);
	}
	cpu->runtime_ns = next->se.sum_exec_runtime;
	cpu->ts_ns = bpf_ktime_get_ns();
	cpu->tid = next->pid;
	cpu->tgid = next->tgid;
}

/* tp_btf: typed arguments, read by direct loads; this runs at every switch. */
SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct charged *c = bpf_task_storage_get(&charged, prev, 0, 0);

	on_switch(preempt, prev, next, c ? &c->runtime_ns : 0);
	return 0;
}

/* The fallback without task storage. */
SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch_slot, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	on_switch(preempt, prev, next, 0);
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
	/* Its entry goes at its last switch-out (charge_ended). */
	return 0;
}
