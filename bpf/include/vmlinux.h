/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Kernel types for CO-RE, for the target bpf2go compiles for (it defines
 * __TARGET_ARCH_x86 for -target amd64 and __TARGET_ARCH_arm64 for
 * -target arm64).
 *
 * One vmlinux_x86.h serves both: every program reads kernel structures
 * through CO-RE relocations, so field offsets are fixed up at load time
 * against the running kernel's BTF and only the names must exist there.
 * The architecture-specific types programs use are the registers: struct
 * pt_regs (uprobes, bpf_task_pt_regs) and the perf event context's
 * bpf_user_pt_regs_t. For arm64, x86-64's are renamed out of the way and
 * vmlinux_arm64.h declares arm64's, so a program naming an x86-64
 * register does not compile for arm64.
 */
#ifndef __KSCOPE_VMLINUX_H
#define __KSCOPE_VMLINUX_H

#if defined(__TARGET_ARCH_x86)
#include "vmlinux_x86.h"
#elif defined(__TARGET_ARCH_arm64)
#define pt_regs kscope_x86_pt_regs
#define bpf_user_pt_regs_t kscope_x86_bpf_user_pt_regs_t
#define bpf_perf_event_data kscope_x86_bpf_perf_event_data
#include "vmlinux_x86.h"
#undef pt_regs
#undef bpf_user_pt_regs_t
#undef bpf_perf_event_data
#include "vmlinux_arm64.h"
#else
#error "kscope's BPF objects are built for x86-64 and arm64: bpf2go -target amd64,arm64"
#endif

#endif /* __KSCOPE_VMLINUX_H */
