// Package policy is the kernel side of kscope policy: it loads the rules
// internal/policy compiles into BPF maps and constants, attaches the exec
// and open tracepoints and the cgroup connect programs, and turns each
// match into an alert event, with the outcome of the kill or deny the
// kernel carried out. Rules with user-space selectors are finished here
// with internal/policy's matcher.
package policy
