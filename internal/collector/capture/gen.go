package capture

// One little-endian x86-64 object: kscope ships for amd64 today.
// The compiler is pinned in the Makefile (BPF2GO_CC): run `make generate`.
//go:generate go tool bpf2go -target amd64 -type packet -type owner capture bpf/capture.bpf.c -- -I../../../bpf/include -O2 -g -Wall -Werror
