// SPDX-License-Identifier: GPL-2.0-only
/*
 * dispatch: one program per syscall hook for every collector that needs
 * syscalls (kscope_dispatch.h). Each program runs the every-syscall slot,
 * then, when that slot is empty, the slot of the syscall itself.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#define KSCOPE_DISPATCHER
#include "kscope_dispatch.h"

char LICENSE[] SEC("license") = "GPL";

SEC("raw_tracepoint/sys_enter")
int dispatch_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	bpf_tail_call(ctx, &dispatch_enter, DISPATCH_EVERY);
	dispatch_enter_to(ctx);
	return 0;
}

SEC("raw_tracepoint/sys_exit")
int dispatch_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	bpf_tail_call(ctx, &dispatch_exit, DISPATCH_EVERY);
	dispatch_exit_to(ctx);
	return 0;
}
