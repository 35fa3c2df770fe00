/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The shared syscall dispatcher (internal/collector/dispatch): one
 * raw_tracepoint program per syscall hook, sys_enter and sys_exit, that
 * tail-calls through a program array indexed by syscall number.
 *
 * Slot DISPATCH_EVERY holds the handler every syscall runs first (the
 * syscalls collector's accounting), which ends by tail-calling the
 * syscall's own slot: dispatch_enter_to / dispatch_exit_to. When it is
 * empty the dispatcher calls the syscall's slot itself. An empty slot costs
 * the tail call's bounds and NULL checks.
 *
 * A handler in a slot runs in the raw tracepoint's context: ctx->args[0] is
 * the task's user pt_regs, ctx->args[1] the syscall number at sys_enter and
 * the return value at sys_exit.
 *
 * The program arrays and what tail-calls through them are for objects that
 * define KSCOPE_DISPATCHER first (the dispatcher, the syscalls collector);
 * a handler needs dispatch_regs at most.
 */
#ifndef __KSCOPE_DISPATCH_H
#define __KSCOPE_DISPATCH_H

#include "kscope_arch.h"

/*
 * The task's user registers, which ctx->args[0] points to, as a pointer
 * the program may load from directly (bpf_task_pt_regs, Linux 5.15):
 * the syscall's arguments are read with KSCOPE_SYSCALL_ARG* (kscope_arch.h).
 */
static __always_inline struct pt_regs *dispatch_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

#ifdef KSCOPE_DISPATCHER

/* Syscall numbers below DISPATCH_SLOTS have a slot. */
#define DISPATCH_SLOTS 512
#define DISPATCH_EVERY DISPATCH_SLOTS

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, DISPATCH_SLOTS + 1);
	__type(key, __u32);
	__type(value, __u32);
} dispatch_enter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, DISPATCH_SLOTS + 1);
	__type(key, __u32);
	__type(value, __u32);
} dispatch_exit SEC(".maps");

/*
 * The number of the syscall returning, from the saved user registers
 * (bpf_task_pt_regs, Linux 5.15): a direct load, not a probe read of
 * ctx->args[0]. -1 (a call skipped by seccomp or ptrace) has no slot.
 */
static __always_inline __u32 dispatch_exit_nr(void)
{
	return (__u32)KSCOPE_SYSCALL_NR(dispatch_regs());
}

/*
 * Tail-calls the slot of the syscall entering; returns if it is empty.
 * Numbers from DISPATCH_SLOTS up have none: 512 must not reach the
 * every-syscall slot again.
 */
static __always_inline void dispatch_enter_to(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 nr = ctx->args[1];

	if (nr < DISPATCH_SLOTS)
		bpf_tail_call(ctx, &dispatch_enter, (__u32)nr);
}

/* Tail-calls the slot of the syscall returning; returns if it is empty. */
static __always_inline void dispatch_exit_to(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 nr = dispatch_exit_nr();

	if (nr < DISPATCH_SLOTS)
		bpf_tail_call(ctx, &dispatch_exit, nr);
}

#endif /* KSCOPE_DISPATCHER */

#endif /* __KSCOPE_DISPATCH_H */
