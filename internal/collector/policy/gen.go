package policy

// Two little-endian objects, x86-64 and arm64, the architectures kscope
// ships for: bpf2go's -target defines __TARGET_ARCH_x86 or
// __TARGET_ARCH_arm64, which selects the registers programs read
// (bpf/include/kscope_arch.h, bpf_tracing.h) and the struct pt_regs they
// read them from (bpf/include/vmlinux.h).
// The compiler is pinned in the Makefile (BPF2GO_CC): run `make generate`.
//go:generate go tool bpf2go -target amd64,arm64 -type policy_event -type port_key -type id_key policy bpf/policy.bpf.c -- -I../../../bpf/include -O2 -g -Wall -Werror

// The BPF LSM programs are their own object: a kernel without BPF LSM
// rejects them at load, and the main object must load there all the same.
//go:generate go tool bpf2go -target amd64,arm64 lsm bpf/lsm.bpf.c -- -I../../../bpf/include -O2 -g -Wall -Werror
