// Package netfilter holds `kscope net filter` files: the YAML filters and
// rules (parsed with file:line:col errors and validated), and their
// compilation into the kernel's tables — longest-prefix tries for the
// source and destination addresses and the protocol/port, each mapping a
// prefix to the set of rules (one bit per rule, in file order) that a
// packet falling in it satisfies. Match evaluates those tables as the
// kernel does and Rule.Matches evaluates a rule directly, so tests and
// fuzzing check the compiler against the rules' meaning. The package is
// pure: the BPF side is internal/collector/netfilter.
package netfilter
