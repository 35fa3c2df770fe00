// SPDX-License-Identifier: GPL-2.0-only
/*
 * exec: every execve/execveat with its filename, argv and result.
 *
 * The arguments live in the caller's memory, which a successful exec
 * replaces, so they are copied on syscall entry into a per-thread pending
 * record and sent on syscall exit together with the return value. Filters on
 * pid and uid run at entry; comm (the new program's) and --failed at exit.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "kscope.h"

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
	__u8 _pad[3];
	char filename[FILENAME_MAX];
	/* Twice ARGS_SIZE so that every bounded read the verifier sees fits. */
	char args[ARGS_SIZE * 2];
};

/* Force BTF for bpf2go -type. */
const struct exec_event *unused_exec_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32); /* tid */
	__type(value, struct exec_event);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_event);
} scratch SEC(".maps");

/* bpf_loop callback state: where the user's argv array is. */
struct argv_ctx {
	const char *const *argv;
};

/*
 * Copies argument i into the scratch record. Runs under bpf_loop so the
 * verifier checks it once, not once per argument (older verifiers give up
 * on a 64-step open-coded loop). Returns 1 to stop.
 */
static long read_arg(__u32 i, void *data)
{
	struct argv_ctx *c = data;
	const char *arg = NULL;
	struct exec_event *e;
	__u32 zero = 0, off;
	long n;

	e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 1;
	if (bpf_probe_read_user(&arg, sizeof(arg), &c->argv[i]) || !arg)
		return 1;
	/* The loop runs one step past ARGV_MAX to see if more follow. */
	if (i >= ARGV_MAX || e->args_size >= ARGS_SIZE) {
		e->truncated = 1;
		return 1;
	}
	off = e->args_size;
	n = bpf_probe_read_user_str(&e->args[off & (ARGS_SIZE - 1)], ARGS_SIZE, arg);
	if (n < 0)
		return 1;
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

static __always_inline int enter(const char *filename, const char *const *argv)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	__u32 zero = 0, tid = (__u32)pid_tgid;
	struct argv_ctx c = { .argv = argv };
	struct exec_event *e;

	/* comm is checked at exit, against the new program's name. */
	if (filter_pid && (__u32)(pid_tgid >> 32) != filter_pid)
		return drop();
	if (filter_uid_on && uid != filter_uid)
		return drop();

	e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	e->hdr.uid = uid;
	e->argc = 0;
	e->args_size = 0;
	e->truncated = 0;
	bpf_probe_read_user_str(e->filename, sizeof(e->filename), filename);
	bpf_loop(ARGV_MAX + 1, read_arg, &c, 0);

	if (bpf_map_update_elem(&pending, &tid, e, BPF_ANY))
		count(STAT_LOST);
	return 0;
}

static __always_inline int leave(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct exec_event *e;
	__u64 size;

	e = bpf_map_lookup_elem(&pending, &tid);
	if (!e)
		return 0;
	if ((filter_failed && ret >= 0) || !want_task(pid_tgid, e->hdr.uid)) {
		bpf_map_delete_elem(&pending, &tid);
		return drop();
	}
	e->ret = ret;
	fill_header(&e->hdr, pid_tgid, e->hdr.uid);
	/* Send only the used part of args. */
	size = offsetof(struct exec_event, args) + (e->args_size & (ARGS_SIZE * 2 - 1));
	if (size > sizeof(*e))
		size = sizeof(*e);
	output(e, size);
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int sys_enter_execve(struct trace_event_raw_sys_enter *ctx)
{
	return enter((const char *)ctx->args[0], (const char *const *)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int sys_enter_execveat(struct trace_event_raw_sys_enter *ctx)
{
	return enter((const char *)ctx->args[1], (const char *const *)ctx->args[2]);
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
