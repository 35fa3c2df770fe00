// Package dispatch owns the one program per syscall hook that the agent's
// syscall collectors share (docs/design/syscall-dispatch.md).
//
// A raw_tracepoint program on sys_enter and one on sys_exit tail-call
// through a program array indexed by syscall number (bpf_tail_call): a
// collector puts raw-tracepoint handlers into the slots of the syscalls it
// wants instead of attaching per-syscall tracepoints, which register the
// perf handler on the raw_syscalls tracepoints that every syscall then
// calls. Slot Every holds the handler every syscall runs first (the
// syscalls collector's accounting), which tail-calls the syscall's slot
// itself when done (kscope_dispatch.h).
//
// The programs are reference-counted: a hook's program is attached while
// any collector holds a Ref on it, and detached with the last, so each
// collector works alone or with the others. Kernels without what the
// dispatcher needs (Why: bpf_task_pt_regs in raw tracepoints, Linux 5.15)
// keep each collector's own programs, chosen through bpfx.ChooseHook with
// Kind as the hook's name.
package dispatch
