// Package syscallnames owns the x86-64 syscall name table, generated from
// the kernel's UAPI header by gennames, and the naming rule the syscalls and
// top collectors share for the counters their BPF programs index by syscall
// number.
package syscallnames
