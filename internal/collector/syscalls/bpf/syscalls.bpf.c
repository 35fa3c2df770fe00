// SPDX-License-Identifier: GPL-2.0-only
/*
 * syscalls: every system call, counted per syscall and per process, with its
 * errors by errno and a log2 histogram of its duration. Nothing goes through
 * the ring buffer: Go reads the maps.
 *
 * A call is counted when it enters, so calls that never return (exit,
 * exit_group) and calls still blocked when Go reads are counted too, and a
 * fork is counted once although it returns twice. Its duration and its
 * error are recorded when it returns, from the entry time and number kept in
 * the thread's task storage; calls in flight when the programs attached have
 * neither.
 *
 * Every syscall on the machine runs these two programs, so they avoid hash
 * maps on the common path:
 *   - per-syscall counters and histograms live in a per-CPU array indexed by
 *     the syscall number (numbers above NR_SLOTS, such as x32 calls or the -1
 *     of a call skipped by seccomp or ptrace, share the NR_OTHER entry);
 *   - the entry time lives in task local storage (Linux 5.11+) rather than a
 *     hash keyed by thread id;
 *   - per-process counts are cached in the same task storage, in a small
 *     direct-mapped table of 64-bit words (syscall, errors, calls), and only
 *     reach the per-process hash when a slot changes syscall, fills up or the
 *     thread exits. Go reads the hash, then the slots not flushed yet through
 *     a task iterator, so its totals are exact up to the calls made while it
 *     reads. Counts a thread moves between the two (a slot evicted, or its
 *     exit flush) would be in neither: if its process lives on, the move is
 *     counted in flush_seq, and Go reads again while one began or ran
 *     during its read.
 *     The last thread's is not: Go takes an ended process's counts out of
 *     the hash after the iterator, and on a host that starts hundreds of
 *     processes a second every read would overlap one.
 * Errors by errno go to a per-CPU hash, on the error path only.
 *
 * Where the kernel can run the shared syscall dispatcher (kscope_dispatch.h)
 * the "_dispatch" programs fill its every-syscall slots, and pass each call
 * on to the slot of its syscall number, where other collectors' handlers
 * wait: one program run per hook for all of them.
 *
 * Kernels without task storage take the fallback programs at the end: the
 * entry record in an LRU hash keyed by thread id and one per-process hash
 * update per call.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "kscope.h"
#include "kscope_agg.h"
#define KSCOPE_DISPATCHER
#include "kscope_dispatch.h"

char LICENSE[] SEC("license") = "GPL";

/* Syscall numbers below NR_SLOTS have their own entry; NR_OTHER holds the rest. */
#define NR_SLOTS 512
#define NR_OTHER NR_SLOTS

/* Duration slots kept: log2 slots LAT_LO..LAT_HI, below and above folded in. */
#define LAT_LO 9
#define LAT_HI 33
#define LAT_SLOTS (LAT_HI - LAT_LO + 2)
/* LAT_LO as the object carries it, for Go to check against its own. */
const volatile __u32 lat_lo = LAT_LO;

#define MAX_ERRNO 4095

/* Per-task cache of per-process counts: direct-mapped by syscall number. */
#define CACHE_SLOTS 16
/* A slot is one word, so another CPU reads it whole: nr+1 | errors | calls. */
#define C_NR_SHIFT 52
#define C_ERR_SHIFT 32
#define C_ERR_MAX 0xfffffULL
#define C_CALLS_MAX 0xffffffffULL

/* Iterator record nr of a process's liveness record. */
#define REC_ALIVE 0xffffffff

/* Indexes of the drops array. */
enum drop_reason {
	DROP_ERRNO_FULL = 0,   /* the errno hash was full */
	DROP_PROC_FULL = 1,    /* the per-process hash was full */
	DROP_TASK_STORAGE = 2, /* no task storage (or pending entry) for a thread */
	DROP_MAX = 4,
};

/* Per syscall number, per CPU. */
struct sys_stat {
	__u64 calls;             /* counted at entry */
	__u64 sum_ns;            /* of the returned calls' durations */
	__u64 slots[LAT_SLOTS];  /* durations: log2 slot LAT_LO + i */
};

struct errno_key {
	__u32 nr;
	__u32 err; /* positive errno */
};

struct proc_key {
	__u32 tgid;
	__u32 nr;
	__u64 start_ns; /* the process's start time: a pid reused is another key */
};

struct proc_val {
	__u64 calls;
	__u64 errors;
	__u8 comm[TASK_COMM_LEN]; /* the process's (group leader's), at the last flush */
};

/* What the task iterator writes: one per cached slot, and one per process. */
struct proc_rec {
	__u32 tgid;
	__u32 nr; /* REC_ALIVE: the process is alive; calls and errors are 0 */
	__u64 start_ns;
	__u64 calls;
	__u64 errors;
	__u8 comm[TASK_COMM_LEN];
};

/* Force BTF for bpf2go -type. */
const struct sys_stat *unused_sys_stat __attribute__((unused));
const struct errno_key *unused_errno_key __attribute__((unused));
const struct proc_key *unused_proc_key __attribute__((unused));
const struct proc_val *unused_proc_val __attribute__((unused));
const struct proc_rec *unused_proc_rec __attribute__((unused));

/* A thread's state: the call in flight and the per-process count cache. */
struct task_state {
	__u64 start_ns; /* entry time of the call in flight; 0: none */
	__u32 nr;       /* its index in sys_stats */
	__u32 _pad;
	__u64 cache[CACHE_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NR_SLOTS + 1);
	__type(key, __u32);
	__type(value, struct sys_stat);
} sys_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 2048);
	__type(key, struct errno_key);
	__type(value, __u64);
} errnos SEC(".maps");

/*
 * Entries of exited processes are deleted by Go once it has read them.
 * Allocated as used; max_entries is set from Go: room for every live
 * process of the host and for those that ended since the last read.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct proc_key);
	__type(value, struct proc_val);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_state);
} tasks SEC(".maps");

/*
 * Moves of cached counts to the hash (a thread's exit flush, a slot
 * evicted by another syscall): [SEQ_BEGUN] counts those begun, [SEQ_DONE]
 * those done, per CPU (a program does not migrate, so on every CPU begun
 * >= done). Go reads the sums of done, then of begun, before it reads the
 * hash; it reads begun again after the iterator, and reads again unless
 * all three are equal: then no move ran on any CPU during its read.
 */
enum flush_seq_index {
	SEQ_BEGUN = 0,
	SEQ_DONE = 1,
	SEQ_MAX = 2,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SEQ_MAX);
	__type(key, __u32);
	__type(value, __u64);
} flush_seq SEC(".maps");

static __always_inline void seq_bump(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&flush_seq, &i);

	if (v)
		__sync_fetch_and_add(v, 1);
}

/* Fallback: the call in flight per thread id. */
struct pending_call {
	__u64 start_ns;
	__u32 nr;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tid */
	__type(value, struct pending_call);
} pending SEC(".maps");

static __always_inline void dropped(__u32 reason)
{
	__u64 *v = bpf_map_lookup_elem(&drops, &reason);

	if (v)
		*v += 1;
	count(STAT_LOST);
}

/* The filters of kscope.h; free when none is set (the verifier prunes them). */
static __always_inline bool filtered(void)
{
	if (!filter_pid && !filter_uid_on && !filter_comm_on)
		return false;
	return !want_task(bpf_get_current_pid_tgid(), (__u32)bpf_get_current_uid_gid());
}

static __always_inline __u32 nr_index(long id)
{
	return (__u64)id < NR_SLOTS ? (__u32)id : NR_OTHER;
}

/* Records a returned call: its duration, and its error by errno. */
static __always_inline void returned(__u32 idx, __u64 delta, long ret)
{
	struct sys_stat *s = bpf_map_lookup_elem(&sys_stats, &idx);
	struct errno_key k = { .nr = idx };
	__u32 slot = log2_u64(delta);
	__u64 *n, one = 1;

	if (s) {
		/* As metrics.Log2 reads them: slot 0 holds LAT_LO and below. */
		slot = slot > LAT_LO ? slot - LAT_LO : 0;
		if (slot > LAT_SLOTS - 1)
			slot = LAT_SLOTS - 1;
		s->sum_ns += delta;
		s->slots[slot] += 1;
	}
	if (ret >= 0 || ret < -MAX_ERRNO)
		return;
	k.err = (__u32)-ret;
	n = bpf_map_lookup_elem(&errnos, &k);
	if (!n) {
		if (!bpf_map_update_elem(&errnos, &k, &one, BPF_NOEXIST))
			return;
		/* Made on this CPU meanwhile (an interrupt), or the map is full. */
		n = bpf_map_lookup_elem(&errnos, &k);
		if (!n) {
			dropped(DROP_ERRNO_FULL);
			return;
		}
	}
	*n += 1;
}

/* Adds calls and errors of syscall idx to the current process's entry. */
static __noinline void proc_add(__u32 idx, __u64 calls, __u64 errors)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	struct proc_key k = {
		.tgid = bpf_get_current_pid_tgid() >> 32,
		.nr = idx,
		.start_ns = BPF_CORE_READ(leader, start_time),
	};
	struct proc_val *v, n = {};

	v = bpf_map_lookup_elem(&procs, &k);
	if (!v) {
		n.calls = calls;
		n.errors = errors;
		BPF_CORE_READ_STR_INTO(&n.comm, leader, comm);
		if (!bpf_map_update_elem(&procs, &k, &n, BPF_NOEXIST))
			return;
		/* Another thread of the process made it meanwhile, or the map is full. */
		v = bpf_map_lookup_elem(&procs, &k);
		if (!v) {
			dropped(DROP_PROC_FULL);
			return;
		}
	}
	if (calls)
		__sync_fetch_and_add(&v->calls, calls);
	if (errors)
		__sync_fetch_and_add(&v->errors, errors);
	/* The comm may have changed (exec): keep the latest. */
	BPF_CORE_READ_STR_INTO(&v->comm, leader, comm);
}

/* Moves a cache word's counts to the per-process hash. */
static __always_inline void flush(__u64 w)
{
	if (w)
		proc_add((__u32)(w >> C_NR_SHIFT) - 1, w & C_CALLS_MAX, (w >> C_ERR_SHIFT) & C_ERR_MAX);
}

/*
 * Counts one call (calls = 1) or one error (calls = 0) of idx in the cache.
 * A slot that holds another syscall, or would overflow, is replaced first
 * and flushed after: a reader on another CPU may miss its counts for a
 * moment, but never sees them twice, and the move is counted in flush_seq
 * as an exit flush is, so a reader that may have missed them reads again.
 */
static __always_inline void cache_add(struct task_state *t, __u32 idx, bool call)
{
	__u64 *c = &t->cache[idx & (CACHE_SLOTS - 1)];
	__u64 w = *c, tag = (__u64)(idx + 1) << C_NR_SHIFT, n;

	if (call) {
		if ((w & ~(C_ERR_MAX << C_ERR_SHIFT | C_CALLS_MAX)) == tag &&
		    (w & C_CALLS_MAX) != C_CALLS_MAX) {
			*c = w + 1;
			return;
		}
		n = tag | 1;
	} else {
		if ((w & ~(C_ERR_MAX << C_ERR_SHIFT | C_CALLS_MAX)) == tag &&
		    ((w >> C_ERR_SHIFT) & C_ERR_MAX) != C_ERR_MAX) {
			*c = w + (1ULL << C_ERR_SHIFT);
			return;
		}
		n = tag | 1ULL << C_ERR_SHIFT;
	}
	/* An empty slot: nothing moves. */
	if (!w) {
		*c = n;
		return;
	}
	/* Full barriers: a reader sees begun move before the slot changes. */
	seq_bump(SEQ_BEGUN);
	*c = n;
	flush(w);
	seq_bump(SEQ_DONE);
}

/* Counts a call entering, and keeps its number and entry time. */
static __always_inline void entered(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 idx = nr_index((long)ctx->args[1]);
	struct task_state *t;
	struct sys_stat *s;

	if (filtered()) {
		drop();
		return;
	}
	s = bpf_map_lookup_elem(&sys_stats, &idx);
	if (s)
		s->calls += 1;
	t = bpf_task_storage_get(&tasks, bpf_get_current_task_btf(), 0,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!t) {
		dropped(DROP_TASK_STORAGE);
		return;
	}
	cache_add(t, idx, true);
	t->nr = idx;
	t->start_ns = bpf_ktime_get_ns();
}

/* Records a call returning: its duration and error. */
static __always_inline void exited(struct bpf_raw_tracepoint_args *ctx)
{
	long ret = (long)ctx->args[1];
	struct task_state *t;
	__u64 start;
	__u32 idx;

	/* No entry seen: filtered, before we attached, or a new thread's first return. */
	t = bpf_task_storage_get(&tasks, bpf_get_current_task_btf(), 0, 0);
	if (!t || !t->start_ns)
		return;
	start = t->start_ns;
	idx = t->nr;
	t->start_ns = 0;
	returned(idx, bpf_ktime_get_ns() - start, ret);
	if (ret < 0 && ret >= -MAX_ERRNO)
		cache_add(t, idx, false);
}

/* Attached on their own. */
SEC("raw_tracepoint/sys_enter")
int sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	entered(ctx);
	return 0;
}

SEC("raw_tracepoint/sys_exit")
int sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	exited(ctx);
	return 0;
}

/*
 * In the dispatcher's every-syscall slots (kscope_dispatch.h): the same,
 * then the syscall's own slot, whatever the filters said.
 */
SEC("raw_tracepoint/sys_enter")
int sys_enter_dispatch(struct bpf_raw_tracepoint_args *ctx)
{
	entered(ctx);
	dispatch_enter_to(ctx);
	return 0;
}

SEC("raw_tracepoint/sys_exit")
int sys_exit_dispatch(struct bpf_raw_tracepoint_args *ctx)
{
	exited(ctx);
	dispatch_exit_to(ctx);
	return 0;
}

/* A thread ends: its cached counts go to the per-process hash. */
SEC("raw_tracepoint/sched_process_exit")
int sched_process_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct task_state *t;
	bool counted = false;

	t = bpf_task_storage_get(&tasks, task, 0, 0);
	if (!t)
		return 0;
	/* Other threads live on (signal->live reached zero for the last one). */
	if (task->signal->live.counter != 0) {
		for (int i = 0; i < CACHE_SLOTS; i++)
			counted |= t->cache[i] != 0;
	}
	/* Full barriers: a reader sees begun move before any slot empties. */
	if (counted)
		seq_bump(SEQ_BEGUN);
	for (int i = 0; i < CACHE_SLOTS; i++) {
		__u64 w = t->cache[i];

		t->cache[i] = 0;
		flush(w);
	}
	if (counted)
		seq_bump(SEQ_DONE);
	return 0;
}

static __always_inline void rec_fill(struct proc_rec *r, struct task_struct *task)
{
	struct task_struct *leader = task->group_leader;

	r->tgid = task->tgid;
	r->start_ns = leader->start_time;
	BPF_CORE_READ_STR_INTO(&r->comm, leader, comm);
}

/* Go reads every live process, and the counts its threads have not flushed. */
SEC("iter/task")
int dump_tasks(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct proc_rec r = {};
	struct task_state *t;

	if (!task)
		return 0;
	rec_fill(&r, task);
	if (task == task->group_leader) {
		r.nr = REC_ALIVE;
		bpf_seq_write(seq, &r, sizeof(r));
	}
	t = bpf_task_storage_get(&tasks, task, 0, 0);
	if (!t)
		return 0;
	for (int i = 0; i < CACHE_SLOTS; i++) {
		/* One load: the owner may be replacing the slot right now. */
		__u64 w = *(volatile __u64 *)&t->cache[i];

		if (!w)
			continue;
		r.nr = (__u32)(w >> C_NR_SHIFT) - 1;
		r.calls = w & C_CALLS_MAX;
		r.errors = (w >> C_ERR_SHIFT) & C_ERR_MAX;
		bpf_seq_write(seq, &r, sizeof(r));
	}
	return 0;
}

/*
 * Fallback for kernels without task storage (before 5.11): the call in
 * flight in an LRU hash keyed by thread id, per-process counts added to
 * the hash on every call. The LRU map evicts the entries of threads gone.
 */
SEC("raw_tracepoint/sys_enter")
int sys_enter_hash(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 idx = nr_index((long)ctx->args[1]);
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending_call *p, n = {};
	struct sys_stat *s;

	if (filtered())
		return drop();
	s = bpf_map_lookup_elem(&sys_stats, &idx);
	if (s)
		s->calls += 1;
	proc_add(idx, 1, 0);
	p = bpf_map_lookup_elem(&pending, &tid);
	if (p) {
		p->nr = idx;
		p->start_ns = bpf_ktime_get_ns();
		return 0;
	}
	n.nr = idx;
	n.start_ns = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&pending, &tid, &n, BPF_ANY))
		dropped(DROP_TASK_STORAGE);
	return 0;
}

SEC("raw_tracepoint/sys_exit")
int sys_exit_hash(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	long ret = (long)ctx->args[1];
	struct pending_call *p;
	__u64 start;
	__u32 idx;

	p = bpf_map_lookup_elem(&pending, &tid);
	if (!p || !p->start_ns)
		return 0;
	start = p->start_ns;
	idx = p->nr;
	p->start_ns = 0;
	returned(idx, bpf_ktime_get_ns() - start, ret);
	if (ret < 0 && ret >= -MAX_ERRNO)
		proc_add(idx, 0, 1);
	return 0;
}

/* Fallback iterator: the live processes only, every count is in the hash. */
SEC("iter/task")
int dump_alive(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct proc_rec r = {};

	if (!task || task != task->group_leader)
		return 0;
	rec_fill(&r, task);
	r.nr = REC_ALIVE;
	bpf_seq_write(seq, &r, sizeof(r));
	return 0;
}
