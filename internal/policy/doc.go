// Package policy reads kscope policy files (rules matched against exec,
// open, socket and syscall events), validates them with file:line:col errors,
// compiles their selectors to the sets and prefix tables the kernel side
// loads into BPF maps, plans each rule's enforcement path from the
// kernel's features, and evaluates an event offline with the same
// semantics as the kernel side. It owns the alert event kind, with the
// ancestry every alert carries. It imports no BPF library.
package policy
