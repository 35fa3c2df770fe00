/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * arm64's register types, for builds with __TARGET_ARCH_arm64 (see
 * vmlinux.h): struct user_pt_regs from the UAPI header
 * arch/arm64/include/uapi/asm/ptrace.h, which libbpf's bpf_tracing.h casts
 * uprobe contexts to; struct pt_regs from arch/arm64/include/asm/ptrace.h
 * (Linux 6.1); and the perf event program context, whose registers are the
 * UAPI's (include/uapi/linux/bpf_perf_event.h). Accesses are CO-RE
 * relocated: a member a kernel lacks fails the load instead of reading the
 * wrong slot.
 */
#ifndef __KSCOPE_VMLINUX_ARM64_H
#define __KSCOPE_VMLINUX_ARM64_H

#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)

struct user_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
};

struct pt_regs {
	union {
		struct user_pt_regs user_regs;
		struct {
			__u64 regs[31];
			__u64 sp;
			__u64 pc;
			__u64 pstate;
		};
	};
	__u64 orig_x0;
	__s32 syscallno;
	__u32 unused2;
	__u64 sdei_ttbr1;
	__u64 pmr_save;
	__u64 stackframe[2];
	__u64 lockdep_hardirqs;
	__u64 exit_rcu;
};

typedef struct user_pt_regs bpf_user_pt_regs_t;

struct bpf_perf_event_data {
	bpf_user_pt_regs_t regs;
	__u64 sample_period;
	__u64 addr;
};

#pragma clang attribute pop

#endif /* __KSCOPE_VMLINUX_ARM64_H */
