package top

// One little-endian x86-64 object: kscope ships for amd64 today, and the
// target-specific register access in bpf_tracing.h (the syscall arguments
// in pt_regs) needs the arch define. The compiler is pinned in the Makefile
// (BPF2GO_CC): run `make generate`.
//go:generate go tool bpf2go -target amd64 -type proc_key -type proc_stat -type cpu_slot top bpf/top.bpf.c -- -I../../../bpf/include -O2 -g -Wall -Werror
