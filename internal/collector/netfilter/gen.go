package netfilter

// One little-endian x86-64 object: kscope ships for amd64 today. -mcpu=v3
// for the atomic compare-and-swap of the rate limiter's buckets (BPF
// atomics, Linux 5.12). The compiler is pinned in the Makefile
// (BPF2GO_CC): run `make generate`.
//go:generate go tool bpf2go -target amd64 -type rule -type counter -type filter_info -type addr_key -type l4_key -type mask -type rl_key filter bpf/filter.bpf.c -- -I../../../bpf/include -O2 -g -Wall -Werror -mcpu=v3
