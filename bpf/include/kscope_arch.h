/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Registers by role, for the target bpf2go compiles for (__TARGET_ARCH_x86
 * or __TARGET_ARCH_arm64): what a program reads from a struct pt_regs is
 * the only architecture-specific thing in kscope's BPF code.
 *
 * KSCOPE_SYSCALL_*: the saved user registers of a task in a syscall, as
 * bpf_task_pt_regs returns them. The number is the syscall's own (x86-64's
 * orig_ax, arm64's syscallno; -1 for a call skipped by seccomp or ptrace).
 * The first argument is the one the syscall was called with, also at exit,
 * where the register held it has the return value on arm64 (orig_x0).
 *
 * KSCOPE_C_ARG*: a uprobe's arguments in the C calling convention (SysV
 * x86-64: rdi, rsi, rdx, rcx, r8, r9; AAPCS64: x0-x5).
 *
 * KSCOPE_GO_*: Go's register ABI (ABIInternal): integer arguments and
 * results in rax, rbx, rcx, rdi, rsi, r8, r9, r10, r11 on x86-64 and in
 * x0-x8 on arm64; the current goroutine (g) in r14 or x28.
 *
 * KSCOPE_RET_SP: the stack pointer a uretprobe sees, as it was at the
 * call's entry probe: x86-64's RET has popped the return address, arm64
 * returns through the link register and leaves sp as it was.
 */
#ifndef __KSCOPE_ARCH_H
#define __KSCOPE_ARCH_H

#if defined(__TARGET_ARCH_x86)

#define KSCOPE_SYSCALL_NR(r)   ((r)->orig_ax)
#define KSCOPE_SYSCALL_ARG1(r) ((r)->di)
#define KSCOPE_SYSCALL_ARG2(r) ((r)->si)
#define KSCOPE_SYSCALL_ARG3(r) ((r)->dx)
#define KSCOPE_SYSCALL_ARG4(r) ((r)->r10)
#define KSCOPE_SYSCALL_ARG5(r) ((r)->r8)

#define KSCOPE_C_ARG1(r) ((r)->di)
#define KSCOPE_C_ARG2(r) ((r)->si)
#define KSCOPE_C_ARG3(r) ((r)->dx)
#define KSCOPE_C_ARG4(r) ((r)->cx)
#define KSCOPE_C_ARG5(r) ((r)->r8)
#define KSCOPE_C_ARG6(r) ((r)->r9)

#define KSCOPE_GO_ARG1(r) ((r)->ax)
#define KSCOPE_GO_ARG2(r) ((r)->bx)
#define KSCOPE_GO_ARG3(r) ((r)->cx)
#define KSCOPE_GO_ARG4(r) ((r)->di)
#define KSCOPE_GO_ARG5(r) ((r)->si)
#define KSCOPE_GO_ARG6(r) ((r)->r8)
#define KSCOPE_GO_ARG7(r) ((r)->r9)
#define KSCOPE_GO_ARG8(r) ((r)->r10)
#define KSCOPE_GO_ARG9(r) ((r)->r11)
#define KSCOPE_GO_G(r)    ((r)->r14)

#define KSCOPE_RC(r)     ((r)->ax)
#define KSCOPE_SP(r)     ((r)->sp)
#define KSCOPE_RET_SP(r) ((r)->sp - 8)

#elif defined(__TARGET_ARCH_arm64)

#define KSCOPE_SYSCALL_NR(r)   ((r)->syscallno)
#define KSCOPE_SYSCALL_ARG1(r) ((r)->orig_x0)
#define KSCOPE_SYSCALL_ARG2(r) ((r)->regs[1])
#define KSCOPE_SYSCALL_ARG3(r) ((r)->regs[2])
#define KSCOPE_SYSCALL_ARG4(r) ((r)->regs[3])
#define KSCOPE_SYSCALL_ARG5(r) ((r)->regs[4])

#define KSCOPE_C_ARG1(r) ((r)->regs[0])
#define KSCOPE_C_ARG2(r) ((r)->regs[1])
#define KSCOPE_C_ARG3(r) ((r)->regs[2])
#define KSCOPE_C_ARG4(r) ((r)->regs[3])
#define KSCOPE_C_ARG5(r) ((r)->regs[4])
#define KSCOPE_C_ARG6(r) ((r)->regs[5])

#define KSCOPE_GO_ARG1(r) ((r)->regs[0])
#define KSCOPE_GO_ARG2(r) ((r)->regs[1])
#define KSCOPE_GO_ARG3(r) ((r)->regs[2])
#define KSCOPE_GO_ARG4(r) ((r)->regs[3])
#define KSCOPE_GO_ARG5(r) ((r)->regs[4])
#define KSCOPE_GO_ARG6(r) ((r)->regs[5])
#define KSCOPE_GO_ARG7(r) ((r)->regs[6])
#define KSCOPE_GO_ARG8(r) ((r)->regs[7])
#define KSCOPE_GO_ARG9(r) ((r)->regs[8])
#define KSCOPE_GO_G(r)    ((r)->regs[28])

#define KSCOPE_RC(r)     ((r)->regs[0])
#define KSCOPE_SP(r)     ((r)->sp)
#define KSCOPE_RET_SP(r) ((r)->sp)

#else
#error "kscope's BPF objects are built for x86-64 and arm64: bpf2go -target amd64,arm64"
#endif

#endif /* __KSCOPE_ARCH_H */
