// SPDX-License-Identifier: GPL-2.0-only
/*
 * fileio: per-process file reads and writes (calls and bytes), opens and
 * failed opens by errno, aggregated in the kernel like BCC's filetop and
 * opensnoop's counts.
 *
 * Every hook is a syscall exit, where the result is the byte count, the fd
 * or -errno. Reads and writes count when they succeed on a regular file:
 * the fd, from the saved user registers (bpf_task_pt_regs, Linux 5.15+),
 * is looked up in the task's file table. Without bpf_task_pt_regs the
 * "_anyfd" programs count reads and writes on every kind of fd.
 *
 * Where the kernel can run the shared syscall dispatcher (kscope_dispatch.h)
 * the "raw_exit_" programs take its slots for these syscalls instead of
 * one tracepoint each: raw tracepoint context, the result in ctx->args[1]
 * and the arguments in the saved user registers. raw_exit_open serves
 * open, openat and openat2.
 *
 * One entry per process (tgid) holds its counters; the process's start time
 * makes (tgid, start) its identity across pid reuse. When the process ends,
 * its entry moves to the exited map, which Go reads and empties on every
 * collection, so a process's last counts are never lost. Open errors are
 * counted per (tgid, start, errno). What finds a map full goes to the
 * per-CPU overflow counters and counts as lost.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "kscope.h"
#include "kscope_rw.h"

char LICENSE[] SEC("license") = "GPL";

#define S_IFMT 00170000
#define S_IFREG 0100000

struct proc_io {
	__u64 start_ns; /* the thread group leader's start_time */
	__u64 read_bytes;
	__u64 write_bytes;
	__u64 reads;
	__u64 writes;
	__u64 opens;       /* successful */
	__u64 open_errors; /* in the overflow counters only: errno not kept */
	__u8 comm[TASK_COMM_LEN];
};

struct exited_key {
	__u32 tgid;
	__u32 _pad;
	__u64 start_ns;
};

struct err_key {
	__u32 tgid;
	__s32 err; /* errno, positive */
	__u64 start_ns;
};

/* Force BTF for bpf2go -type. */
const struct proc_io *unused_proc_io __attribute__((unused));
const struct exited_key *unused_exited_key __attribute__((unused));
const struct err_key *unused_err_key __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192); /* resized from Go */
	__type(key, __u32);        /* tgid */
	__type(value, struct proc_io);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096); /* resized from Go */
	__type(key, struct exited_key);
	__type(value, struct proc_io);
} exited SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096); /* resized from Go */
	__type(key, struct err_key);
	__type(value, __u64);
} errs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct proc_io);
} overflow SEC(".maps");

static __always_inline struct proc_io *overflow_row(void)
{
	__u32 zero = 0;

	count(STAT_LOST);
	return bpf_map_lookup_elem(&overflow, &zero);
}

/*
 * The current process's entry, created on its first counted call; the
 * overflow counters, with *over set, when the map is full.
 */
static __always_inline struct proc_io *proc(__u32 tgid, bool *over)
{
	struct proc_io *p = bpf_map_lookup_elem(&procs, &tgid);
	struct task_struct *leader;
	struct proc_io n = {};

	if (p)
		return p;
	leader = BPF_CORE_READ((struct task_struct *)bpf_get_current_task(), group_leader);
	n.start_ns = BPF_CORE_READ(leader, start_time);
	BPF_CORE_READ_STR_INTO(&n.comm, leader, comm);
	/* EEXIST: another thread created it meanwhile; anything else: full. */
	bpf_map_update_elem(&procs, &tgid, &n, BPF_NOEXIST);
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (p)
		return p;
	*over = true;
	return overflow_row();
}

/*
 * True when fd is a regular file of the current task. Direct loads down to
 * the fd array; the array's slot and the file's inode by probe reads, as
 * the verifier does not follow those pointers.
 */
static __always_inline bool regular_fd(struct task_struct *task, __u64 fd)
{
	struct fdtable *fdt = task->files->fdt;
	struct file **fds, *f = NULL;
	umode_t mode;

	if (fd >= fdt->max_fds)
		return false;
	fds = fdt->fd;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return false;
	mode = BPF_CORE_READ(f, f_inode, i_mode);
	return (mode & S_IFMT) == S_IFREG;
}

static __always_inline int rw(long ret, bool write, bool check_fd)
{
	struct proc_io *p;
	bool over = false;

	if (ret < 0)
		return 0;
	if (check_fd) {
		struct task_struct *task = bpf_get_current_task_btf();
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);

		/* Every counted call takes the fd as its first argument (di). */
		if (!regular_fd(task, KSCOPE_SYSCALL_ARG1(regs)))
			return 0;
	}
	p = proc(bpf_get_current_pid_tgid() >> 32, &over);
	if (!p)
		return 0;
	if (write) {
		__sync_fetch_and_add(&p->writes, 1);
		__sync_fetch_and_add(&p->write_bytes, ret);
	} else {
		__sync_fetch_and_add(&p->reads, 1);
		__sync_fetch_and_add(&p->read_bytes, ret);
	}
	return 0;
}

/* One program per syscall and variant: kscope_rw.h. */
KSCOPE_RW_EXITS()
KSCOPE_RW_RAW_EXITS()

static __always_inline int opened(long ret)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	bool over = false;
	struct proc_io *p = proc(tgid, &over);
	struct err_key k;
	__u64 zero = 0, *n;

	if (!p)
		return 0;
	if (ret >= 0) {
		__sync_fetch_and_add(&p->opens, 1);
		return 0;
	}
	if (over) {
		__sync_fetch_and_add(&p->open_errors, 1);
		return 0;
	}
	k.tgid = tgid;
	k.err = -ret;
	k.start_ns = p->start_ns;
	n = bpf_map_lookup_elem(&errs, &k);
	if (!n) {
		bpf_map_update_elem(&errs, &k, &zero, BPF_NOEXIST);
		n = bpf_map_lookup_elem(&errs, &k);
	}
	if (!n) {
		p = overflow_row();
		if (p)
			__sync_fetch_and_add(&p->open_errors, 1);
		return 0;
	}
	__sync_fetch_and_add(n, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_open")
int exit_open(struct trace_event_raw_sys_exit *ctx)
{
	return opened(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	return opened(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	return opened(ctx->ret);
}

/* The same, for the syscall dispatcher's slots: kscope_dispatch.h. */
SEC("raw_tracepoint/sys_exit")
int raw_exit_open(struct bpf_raw_tracepoint_args *ctx)
{
	return opened((long)ctx->args[1]);
}

/* exec renames the process: keep the entry's comm current. */
SEC("tracepoint/sched/sched_process_exec")
int process_exec(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct proc_io *p = bpf_map_lookup_elem(&procs, &tgid);

	if (p)
		bpf_get_current_comm(p->comm, sizeof(p->comm));
	return 0;
}

/*
 * The last thread of a process exits (signal->live reached zero just
 * before): move its entry to exited, or fold it into the overflow counters
 * when exited is full.
 */
SEC("tracepoint/sched/sched_process_exit")
int process_exit(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct exited_key k = {.tgid = tgid};
	struct proc_io *p, *o;

	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p)
		return 0;
	k.start_ns = p->start_ns;
	if (bpf_map_update_elem(&exited, &k, p, BPF_ANY)) {
		o = overflow_row();
		if (o) {
			o->read_bytes += p->read_bytes;
			o->write_bytes += p->write_bytes;
			o->reads += p->reads;
			o->writes += p->writes;
			o->opens += p->opens;
		}
	}
	bpf_map_delete_elem(&procs, &tgid);
	return 0;
}
