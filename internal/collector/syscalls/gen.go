package syscalls

// One little-endian x86-64 object: kscope ships for amd64 today, and the
// syscall numbers the programs index by and names.go are x86-64's.
// The compiler is pinned in the Makefile (BPF2GO_CC): run `make generate`.
//go:generate go tool bpf2go -target amd64 -type sys_stat -type errno_key -type proc_key -type proc_val -type proc_rec syscalls bpf/syscalls.bpf.c -- -I../../../bpf/include -O2 -g -Wall -Werror
