// SPDX-License-Identifier: GPL-2.0-only
/*
 * exec: every execve/execveat with its filename, argv and result.
 *
 * A successful exec is reported from sched_process_exec, from the new
 * program's image: the filename is in the tracepoint and argv is in the new
 * mm between arg_start and arg_end, which the kernel has just written, so it
 * is resident. Reading the caller's memory instead fails whenever its pages
 * are not mapped yet, as a freshly forked child's string literals are not.
 *
 * A failed exec leaves no new image, so the caller's strings are copied on
 * syscall entry into a per-thread pending record and sent on syscall exit
 * with the error. What entry could not read is read again at exit, after the
 * kernel has faulted in as much of it as it got to; what still cannot be read
 * is flagged (filename_unavailable, argv_unavailable) and counted
 * (STAT_UNREADABLE), never sent as an empty string.
 *
 * Where the kernel can run the shared syscall dispatcher (kscope_dispatch.h)
 * the "raw_" programs take its execve and execveat slots instead of four
 * syscall tracepoints: the arguments come from the saved user registers.
 *
 * Filters on pid and uid run at entry; comm (the new program's for a
 * success) and --failed when the event is sent.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "kscope.h"
#include "kscope_dispatch.h"

char LICENSE[] SEC("license") = "GPL";

#define FILENAME_MAX 256
#define ARGV_MAX 64      /* arguments kept */
#define ARGS_SIZE 4096   /* bytes of arguments kept, NUL-separated */

struct exec_event {
	struct event_header hdr;
	__s32 ret;
	__u32 argc;      /* arguments copied into args */
	__u32 args_size; /* bytes used in args */
	__u8 truncated;  /* argv had more than ARGV_MAX args or ARGS_SIZE bytes */
	__u8 argv_unavailable;     /* part of argv could not be read: args holds what could */
	__u8 filename_unavailable; /* filename could not be read */
	__u8 _pad;
	char filename[FILENAME_MAX];
	/* Twice ARGS_SIZE so that every bounded read the verifier sees fits. */
	char args[ARGS_SIZE * 2];
};

/* Force BTF for bpf2go -type. */
const struct exec_event *unused_exec_event __attribute__((unused));

/* An exec between syscall entry and the result: the event and the caller's pointers. */
struct pending_exec {
	__u64 filename; /* user pointers, to read again at exit */
	__u64 argv;
	struct exec_event e;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32); /* tid at entry */
	__type(value, struct pending_exec);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pending_exec);
} scratch SEC(".maps");

/* bpf_loop callback state: where the user's argv array is. */
struct argv_ctx {
	const char *const *argv;
};

/*
 * Copies argument i of the caller's argv into the scratch record. Runs under
 * bpf_loop so the verifier checks it once, not once per argument (older
 * verifiers give up on a 64-step open-coded loop). Returns 1 to stop.
 */
static long read_arg(__u32 i, void *data)
{
	struct argv_ctx *c = data;
	const char *arg = NULL;
	struct pending_exec *p;
	struct exec_event *e;
	__u32 zero = 0, off;
	long n;

	p = bpf_map_lookup_elem(&scratch, &zero);
	if (!p)
		return 1;
	e = &p->e;
	/* A NULL argv is an empty one. */
	if (!c->argv)
		return 1;
	if (bpf_probe_read_user(&arg, sizeof(arg), &c->argv[i])) {
		e->argv_unavailable = 1;
		return 1;
	}
	if (!arg)
		return 1;
	/* The loop runs one step past ARGV_MAX to see if more follow. */
	if (i >= ARGV_MAX || e->args_size >= ARGS_SIZE) {
		e->truncated = 1;
		return 1;
	}
	off = e->args_size;
	n = bpf_probe_read_user_str(&e->args[off & (ARGS_SIZE - 1)], ARGS_SIZE, arg);
	if (n < 0) {
		e->argv_unavailable = 1;
		return 1;
	}
	if (n == 0) {
		/* An empty argument: some kernels count no NUL for it. */
		e->args[off & (ARGS_SIZE - 1)] = 0;
		n = 1;
	}
	e->argc++;
	if (off + n > ARGS_SIZE) {
		/* The last argument ran past the budget: keep what fits. */
		e->args_size = ARGS_SIZE;
		e->truncated = 1;
		return 1;
	}
	e->args_size = off + n;
	return 0;
}

/* Reads the caller's filename and argv into the scratch record. */
static __always_inline struct pending_exec *read_caller(__u64 filename, __u64 argv)
{
	struct argv_ctx c = { .argv = (const char *const *)argv };
	struct pending_exec *p;
	struct exec_event *e;
	__u32 zero = 0;

	p = bpf_map_lookup_elem(&scratch, &zero);
	if (!p)
		return NULL;
	p->filename = filename;
	p->argv = argv;
	e = &p->e;
	e->argc = 0;
	e->args_size = 0;
	e->truncated = 0;
	e->argv_unavailable = 0;
	e->filename_unavailable = 0;
	e->_pad = 0;
	if (bpf_probe_read_user_str(e->filename, sizeof(e->filename), (const char *)filename) < 0) {
		e->filename[0] = 0;
		e->filename_unavailable = 1;
	}
	bpf_loop(ARGV_MAX + 1, read_arg, &c, 0);
	return p;
}

/* Sends e, only the used part of args. */
static __always_inline void send(struct exec_event *e, __u64 pid_tgid)
{
	__u64 size;

	if (e->argv_unavailable || e->filename_unavailable)
		count(STAT_UNREADABLE);
	fill_header(&e->hdr, pid_tgid, e->hdr.uid);
	size = offsetof(struct exec_event, args) + (e->args_size & (ARGS_SIZE * 2 - 1));
	if (size > sizeof(*e))
		size = sizeof(*e);
	output(e, size);
}

static __always_inline int enter(__u64 filename, __u64 argv)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	__u32 tid = (__u32)pid_tgid;
	struct pending_exec *p;

	/* comm is checked later, against the new program's name. */
	if (filter_pid && (__u32)(pid_tgid >> 32) != filter_pid)
		return drop();
	if (filter_uid_on && uid != filter_uid)
		return drop();

	p = read_caller(filename, argv);
	if (!p)
		return 0;
	p->e.hdr.uid = uid;
	if (bpf_map_update_elem(&pending, &tid, p, BPF_ANY))
		count(STAT_LOST);
	return 0;
}

static __always_inline int leave(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct pending_exec *p, *again;
	struct exec_event *e;

	/* A success was sent and its record deleted by sched_process_exec. */
	p = bpf_map_lookup_elem(&pending, &tid);
	if (!p)
		return 0;
	if ((filter_failed && ret >= 0) || !want_task(pid_tgid, p->e.hdr.uid)) {
		bpf_map_delete_elem(&pending, &tid);
		return drop();
	}
	e = &p->e;
	if (e->argv_unavailable || e->filename_unavailable) {
		/*
		 * The kernel has read the filename and, unless it failed
		 * earlier, argv since entry: what it read is resident now.
		 */
		again = read_caller(p->filename, p->argv);
		if (again && again->e.argv_unavailable <= e->argv_unavailable &&
		    again->e.filename_unavailable <= e->filename_unavailable) {
			again->e.hdr.uid = e->hdr.uid;
			e = &again->e;
		}
	}
	e->ret = ret;
	send(e, pid_tgid);
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int sys_enter_execve(struct trace_event_raw_sys_enter *ctx)
{
	return enter(ctx->args[0], ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int sys_enter_execveat(struct trace_event_raw_sys_enter *ctx)
{
	return enter(ctx->args[1], ctx->args[2]);
}

/*
 * The exec succeeded: the new image is in place. old_pid is the tid that
 * entered the syscall, which differs from the current one when a thread
 * other than the leader execs.
 */
SEC("tracepoint/sched/sched_process_exec")
int sched_process_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 old = ctx->old_pid;
	struct task_struct *task;
	struct pending_exec *p;
	struct exec_event *e;
	__u64 start, end, size;
	__u32 argc = 0;
	long n;

	p = bpf_map_lookup_elem(&pending, &old);
	if (!p)
		return 0;
	if (filter_failed || !want_task(pid_tgid, p->e.hdr.uid)) {
		bpf_map_delete_elem(&pending, &old);
		return drop();
	}
	e = &p->e;
	e->ret = 0;
	e->truncated = 0;
	e->argv_unavailable = 0;

	/* The filename as the kernel resolved it, from the tracepoint. */
	n = bpf_probe_read_kernel_str(e->filename, sizeof(e->filename),
				      (void *)ctx + (ctx->__data_loc_filename & 0xFFFF));
	e->filename_unavailable = n < 0;

	/*
	 * argv: NUL-separated strings in the new mm. argc is at the stack top,
	 * a word whose low 32 bits are read, right for 32-bit processes too.
	 */
	task = bpf_get_current_task_btf();
	start = BPF_CORE_READ(task, mm, arg_start);
	end = BPF_CORE_READ(task, mm, arg_end);
	size = end > start ? end - start : 0;
	if (size > ARGS_SIZE) {
		size = ARGS_SIZE;
		e->truncated = 1;
	}
	if (bpf_probe_read_user(e->args, size, (const void *)start) ||
	    bpf_probe_read_user(&argc, sizeof(argc), (const void *)BPF_CORE_READ(task, mm, start_stack))) {
		e->argv_unavailable = 1;
		e->argc = 0;
		e->args_size = 0;
	} else {
		if (argc > ARGV_MAX) {
			argc = ARGV_MAX;
			e->truncated = 1;
		}
		e->argc = argc;
		e->args_size = size;
	}
	send(e, pid_tgid);
	bpf_map_delete_elem(&pending, &old);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_execve")
int sys_exit_execve(struct trace_event_raw_sys_exit *ctx)
{
	return leave(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int sys_exit_execveat(struct trace_event_raw_sys_exit *ctx)
{
	return leave(ctx->ret);
}

/* The same, for the syscall dispatcher's slots: kscope_dispatch.h. */
SEC("raw_tracepoint/sys_enter")
int raw_enter_execve(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = dispatch_regs();

	return enter(KSCOPE_SYSCALL_ARG1(regs), KSCOPE_SYSCALL_ARG2(regs));
}

SEC("raw_tracepoint/sys_enter")
int raw_enter_execveat(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = dispatch_regs();

	return enter(KSCOPE_SYSCALL_ARG2(regs), KSCOPE_SYSCALL_ARG3(regs));
}

/* execve and execveat alike. */
SEC("raw_tracepoint/sys_exit")
int raw_exit_exec(struct bpf_raw_tracepoint_args *ctx)
{
	return leave((long)ctx->args[1]);
}
