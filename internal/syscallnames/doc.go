// Package syscallnames owns the syscall name tables of the architectures
// kscope ships for (x86-64 and arm64), generated from the kernel's UAPI
// headers by gennames, and the naming rule the syscalls and top collectors
// share for the counters their BPF programs index by syscall number.
package syscallnames
