package policy

// One little-endian x86-64 object: kscope ships for amd64 today, and the
// target-specific register access in bpf_tracing.h needs the arch define.
// The compiler is pinned in the Makefile (BPF2GO_CC): run `make generate`.
//go:generate go tool bpf2go -target amd64 -type policy_event policy bpf/policy.bpf.c -- -I../../../bpf/include -O2 -g -Wall -Werror

// The BPF LSM programs are their own object: a kernel without BPF LSM
// rejects them at load, and the main object must load there all the same.
//go:generate go tool bpf2go -target amd64 lsm bpf/lsm.bpf.c -- -I../../../bpf/include -O2 -g -Wall -Werror
