// SPDX-License-Identifier: GPL-2.0-only
/*
 * exit: the end of every process, with its exit code, the signal that ended
 * it and how long it lived.
 *
 * sched_process_exit fires for each thread; a process has ended when the
 * exiting thread was the last live one of its thread group (signal->live
 * reached zero in do_exit just before the tracepoint).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "kscope.h"

char LICENSE[] SEC("license") = "GPL";

struct exit_event {
	struct event_header hdr;
	__u64 duration_ns; /* since the thread group leader started */
	__s32 exit_code;   /* wait status: code << 8 | core dump 0x80 | signal */
	__u32 _pad;
};

const struct exit_event *unused_exit_event __attribute__((unused));

SEC("tracepoint/sched/sched_process_exit")
int sched_process_exit(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	struct exit_event *e;
	__s32 code;

	/* Other threads of the group are still running: not the process end. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	if (!want_task(pid_tgid, uid))
		return drop();
	code = BPF_CORE_READ(task, exit_code);
	if (filter_failed && code == 0)
		return drop();

	e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->hdr, pid_tgid, uid);
	e->exit_code = code;
	e->duration_ns = e->hdr.ts_ns - BPF_CORE_READ(task, group_leader, start_time);
	e->_pad = 0;
	submit(e, sizeof(*e));
	return 0;
}
