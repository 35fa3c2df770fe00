package http

// One little-endian x86-64 object: kscope ships for amd64 today, and the
// uprobe programs read x86-64 registers (pt_regs) through bpf_tracing.h,
// which needs the arch define. Go's internal ABI (receiver in RAX, the
// goroutine in R14) is x86-64's too.
// The compiler is pinned in the Makefile (BPF2GO_CC): run `make generate`.
//go:generate go tool bpf2go -target amd64 -type http_chunk http bpf/http.bpf.c -- -I../../../bpf/include -O2 -g -Wall -Werror
