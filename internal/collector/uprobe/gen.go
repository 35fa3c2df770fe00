package uprobe

// One little-endian x86-64 object: kscope ships for amd64 today, the
// argument registers read from struct pt_regs are x86-64's, and USDT
// argument specs name x86-64 registers. The compiler is pinned in the
// Makefile (BPF2GO_CC): run `make generate`.
//go:generate go tool bpf2go -target amd64 -type uprobe_event -type usdt_spec uprobe bpf/uprobe.bpf.c -- -I../../../bpf/include -O2 -g -Wall -Werror
