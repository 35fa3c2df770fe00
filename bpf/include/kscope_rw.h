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

#endif /* __KSCOPE_RW_H */
