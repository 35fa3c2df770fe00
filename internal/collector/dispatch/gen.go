package dispatch

// One little-endian x86-64 object: the slots are x86-64 syscall numbers and
// the exit program reads orig_ax from x86-64's pt_regs.
// The compiler is pinned in the Makefile (BPF2GO_CC): run `make generate`.
//go:generate go tool bpf2go -target amd64 dispatch bpf/dispatch.bpf.c -- -I../../../bpf/include -O2 -g -Wall -Werror
