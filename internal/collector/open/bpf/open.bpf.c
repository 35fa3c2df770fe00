// SPDX-License-Identifier: GPL-2.0-only
/*
 * open: every open, openat and openat2 with its path, flags, mode and result.
 *
 * This is the hottest hook kscope has, so entry does as little as possible:
 * after the pid, uid and comm filters it keeps the path pointer, flags and
 * mode per thread. Exit applies --failed, reserves the ring buffer record and
 * reads the path straight into it: the kernel has just read the same bytes,
 * so they are resident, and nothing is copied twice.
 *
 * A thread's pending entry is written in place and kept from one call to the
 * next instead of being created at entry and deleted at exit: a lookup takes
 * no lock, while an update and a delete each take a bucket lock and together
 * cost about as much as the rest of the two programs. An LRU map evicts the
 * entries of threads that are gone.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "kscope.h"

char LICENSE[] SEC("license") = "GPL";

#define PATH_SIZE 256 /* bytes of path kept, NUL included */

struct open_event {
	struct event_header hdr;
	__u64 flags;    /* as passed: O_* bits */
	__u32 mode;     /* as passed; meaningful with O_CREAT or O_TMPFILE */
	__s32 ret;      /* fd or -errno */
	__u8 truncated; /* the path was longer than PATH_SIZE - 1 bytes */
	__u8 path_unavailable; /* the path could not be read: path is empty */
	__u8 _pad[6];
	char path[PATH_SIZE];
};

/* Force BTF for bpf2go -type. */
const struct open_event *unused_open_event __attribute__((unused));

/* What sys_enter leaves for sys_exit. */
struct open_args {
	__u64 path; /* user pointer */
	__u64 flags;
	__u32 mode;
	__u32 uid;
	__u32 active; /* set at entry, cleared at exit */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32); /* tid */
	__type(value, struct open_args);
} pending SEC(".maps");

static __always_inline int enter(const char *path, __u64 flags, __u32 mode)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid, uid = (__u32)bpf_get_current_uid_gid();
	struct open_args *a;

	/* Every task filter runs here, so filtered calls cost no map entry. */
	if (!want_task(pid_tgid, uid))
		return drop();

	a = bpf_map_lookup_elem(&pending, &tid);
	if (a) {
		a->path = (__u64)path;
		a->flags = flags;
		a->mode = mode;
		a->uid = uid;
		a->active = 1;
		return 0;
	}
	/* The thread's first open since it was evicted, or ever. */
	{
		struct open_args n = {
			.path = (__u64)path, .flags = flags, .mode = mode, .uid = uid, .active = 1,
		};

		if (bpf_map_update_elem(&pending, &tid, &n, BPF_ANY))
			count(STAT_LOST);
	}
	return 0;
}

/* Sends one open event; the path is read straight into the record. */
static __always_inline int emit(__u64 pid_tgid, __u32 uid, const char *path, __u64 flags,
				__u32 mode, long ret, bool btf)
{
	struct open_event *e;
	long n;

	e = reserve(sizeof(*e));
	if (!e)
		return 0;
	/* The path, read into the record; a full buffer may mean truncation. */
	n = bpf_probe_read_user_str(e->path, sizeof(e->path), path);
	e->path_unavailable = n < 0;
	if (n < 0) {
		/* A bad pointer (EFAULT): flagged and counted, not an empty path. */
		e->path[0] = 0;
		count(STAT_UNREADABLE);
	}
	e->truncated = 0;
	if (n == sizeof(e->path)) {
		char c = 0;

		bpf_probe_read_user(&c, 1, path + sizeof(e->path) - 1);
		e->truncated = c != 0;
	}
	__builtin_memset(e->_pad, 0, sizeof(e->_pad));
	e->flags = flags;
	e->mode = mode;
	e->ret = ret;
	if (btf)
		fill_header_btf(&e->hdr, pid_tgid, uid);
	else
		fill_header(&e->hdr, pid_tgid, uid);
	submit(e, sizeof(*e));
	return 0;
}

static __always_inline int leave(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct open_args *a;

	/* Inactive: entry was filtered out or happened before we attached. */
	a = bpf_map_lookup_elem(&pending, &tid);
	if (!a || !a->active)
		return 0;
	a->active = 0;
	if (filter_failed && ret >= 0)
		return drop();
	return emit(pid_tgid, a->uid, (const char *)a->path, a->flags, a->mode, ret, false);
}

SEC("tracepoint/syscalls/sys_enter_open")
int sys_enter_open(struct trace_event_raw_sys_enter *ctx)
{
	/* open(path, int flags, umode_t mode) */
	return enter((const char *)ctx->args[0], (__u32)ctx->args[1], (__u32)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int sys_enter_openat(struct trace_event_raw_sys_enter *ctx)
{
	/* openat(dfd, path, int flags, umode_t mode) */
	return enter((const char *)ctx->args[1], (__u32)ctx->args[2], (__u32)ctx->args[3]);
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int sys_enter_openat2(struct trace_event_raw_sys_enter *ctx)
{
	/* openat2(dfd, path, struct open_how *how, size): flags and mode live in how. */
	struct open_how how = {};

	bpf_probe_read_user(&how, offsetof(struct open_how, resolve), (const void *)ctx->args[2]);
	return enter((const char *)ctx->args[1], how.flags, (__u32)how.mode);
}

SEC("tracepoint/syscalls/sys_exit_open")
int sys_exit_open(struct trace_event_raw_sys_exit *ctx)
{
	return leave(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int sys_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	return leave(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int sys_exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	return leave(ctx->ret);
}

/*
 * Exit-only variant, used where bpf_task_pt_regs exists (Linux 5.15+): at
 * syscall exit the saved user registers still hold the arguments, so one
 * hook does the work of two and no per-thread state is needed. Enabling
 * fewer syscall tracepoints is most of what tracing opens costs. The
 * registers and the header are read with direct BTF loads, cheaper than
 * probe-read helper calls.
 * The syscall arguments: KSCOPE_SYSCALL_ARG* (kscope_arch.h).
 */
static __always_inline struct pt_regs *user_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

static __always_inline bool want(__u64 pid_tgid, __u32 uid, long ret)
{
	return want_task(pid_tgid, uid) && !(filter_failed && ret >= 0);
}

SEC("tracepoint/syscalls/sys_exit_open")
int exit_open_regs(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 uid = current_uid_btf();
	struct pt_regs *regs;

	if (!want(pid_tgid, uid, ctx->ret))
		return drop();
	regs = user_regs();
	/* open(path, int flags, umode_t mode) */
	return emit(pid_tgid, uid, (const char *)KSCOPE_SYSCALL_ARG1(regs), (__u32)KSCOPE_SYSCALL_ARG2(regs), (__u32)KSCOPE_SYSCALL_ARG3(regs), ctx->ret,
		    true);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int exit_openat_regs(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 uid = current_uid_btf();
	struct pt_regs *regs;

	if (!want(pid_tgid, uid, ctx->ret))
		return drop();
	regs = user_regs();
	/* openat(dfd, path, int flags, umode_t mode) */
	return emit(pid_tgid, uid, (const char *)KSCOPE_SYSCALL_ARG2(regs), (__u32)KSCOPE_SYSCALL_ARG3(regs), (__u32)KSCOPE_SYSCALL_ARG4(regs), ctx->ret,
		    true);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int exit_openat2_regs(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 uid = current_uid_btf();
	struct open_how how = {};
	struct pt_regs *regs;

	if (!want(pid_tgid, uid, ctx->ret))
		return drop();
	regs = user_regs();
	/* openat2(dfd, path, struct open_how *how, size): flags and mode live in how. */
	bpf_probe_read_user(&how, offsetof(struct open_how, resolve), (const void *)KSCOPE_SYSCALL_ARG3(regs));
	return emit(pid_tgid, uid, (const char *)KSCOPE_SYSCALL_ARG2(regs), how.flags, (__u32)how.mode, ctx->ret, true);
}
