// Package netfilter is the kernel side of `kscope net filter`: it loads a
// compiled filter (internal/netfilter) as an XDP program or a TC program
// (a tcx link where the kernel has tcx, else a clsact qdisc's bpf filter),
// pins the program, its maps and its link under
// /sys/fs/bpf/kscope/filter/NAME so the filter outlives kscope, replaces a
// filter's program atomically when a file is applied again, removes it
// completely, and reads its per-rule counters. Its `netfilter` collector
// exports the counters of every pinned filter to the agent.
package netfilter
