package main

// Two little-endian objects, x86-64 and arm64, like the collectors': the
// benchmark runs where kscope ships. Only vmlinux.h is shared with them,
// not kscope.h: the point is to measure a tracer without kscope's header,
// filters or counters.
// The compiler is pinned in the Makefile (BPF2GO_CC): run `make generate`.
//go:generate go tool bpf2go -target amd64,arm64 -type min_event minimal bpf/minimal.bpf.c -- -I../../bpf/include -O2 -g -Wall -Werror
