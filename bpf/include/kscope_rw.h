/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The read/write syscall family's exits, for collectors that count bytes
 * moved per process. A collector defines
 *
 *	static __always_inline int rw(long ret, bool write, bool check_fd);
 *
 * and expands KSCOPE_RW_EXITS(): two programs per syscall, one that checks
 * the file descriptor's kind (check_fd) and one that takes every fd, for
 * kernels without bpf_task_pt_regs; Go loads one of each pair.
 *
 * KSCOPE_RW_RAW_EXITS() expands the checking programs for the syscall
 * dispatcher's slots (kscope_dispatch.h) instead: raw tracepoint context,
 * the return value in ctx->args[1].
 */
#ifndef __KSCOPE_RW_H
#define __KSCOPE_RW_H

#define KSCOPE_RW_EXIT(name, write)                                                      \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                       \
	int exit_##name(struct trace_event_raw_sys_exit *ctx)                            \
	{                                                                                \
		return rw(ctx->ret, write, true);                                        \
	}                                                                                \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                       \
	int exit_##name##_anyfd(struct trace_event_raw_sys_exit *ctx)                    \
	{                                                                                \
		return rw(ctx->ret, write, false);                                       \
	}

#define KSCOPE_RW_EXITS()                                                                \
	KSCOPE_RW_EXIT(read, false)                                                      \
	KSCOPE_RW_EXIT(pread64, false)                                                   \
	KSCOPE_RW_EXIT(readv, false)                                                     \
	KSCOPE_RW_EXIT(preadv, false)                                                    \
	KSCOPE_RW_EXIT(preadv2, false)                                                   \
	KSCOPE_RW_EXIT(write, true)                                                      \
	KSCOPE_RW_EXIT(pwrite64, true)                                                   \
	KSCOPE_RW_EXIT(writev, true)                                                     \
	KSCOPE_RW_EXIT(pwritev, true)                                                    \
	KSCOPE_RW_EXIT(pwritev2, true)

#define KSCOPE_RW_RAW_EXIT(name, write)                                                  \
	SEC("raw_tracepoint/sys_exit")                                                   \
	int raw_exit_##name(struct bpf_raw_tracepoint_args *ctx)                         \
	{                                                                                \
		return rw((long)ctx->args[1], write, true);                              \
	}

#define KSCOPE_RW_RAW_EXITS()                                                            \
	KSCOPE_RW_RAW_EXIT(read, false)                                                  \
	KSCOPE_RW_RAW_EXIT(pread64, false)                                               \
	KSCOPE_RW_RAW_EXIT(readv, false)                                                 \
	KSCOPE_RW_RAW_EXIT(preadv, false)                                                \
	KSCOPE_RW_RAW_EXIT(preadv2, false)                                               \
	KSCOPE_RW_RAW_EXIT(write, true)                                                  \
	KSCOPE_RW_RAW_EXIT(pwrite64, true)                                               \
	KSCOPE_RW_RAW_EXIT(writev, true)                                                 \
	KSCOPE_RW_RAW_EXIT(pwritev, true)                                                \
	KSCOPE_RW_RAW_EXIT(pwritev2, true)

#endif /* __KSCOPE_RW_H */
