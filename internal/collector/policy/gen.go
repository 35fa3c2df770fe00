package policy

// One little-endian x86-64 object: kscope ships for amd64 today, and the
// target-specific register access in bpf_tracing.h needs the arch define.
// The compiler is pinned in the Makefile (BPF2GO_CC): run `make generate`.
//go:generate go tool bpf2go -target amd64 -type policy_event -type port_key -type id_key policy bpf/policy.bpf.c -- -I../../../bpf/include -O2 -g -Wall -Werror
