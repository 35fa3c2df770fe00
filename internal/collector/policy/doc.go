// Package policy is the kernel side of kscope policy: it loads the rules
// internal/policy compiles into BPF maps and constants, keeps a process
// table with each process's ancestry in the kernel (fork, exec, exit, seeded
// from /proc), attaches the exec and open tracepoints, the syscall entry
// tracepoints of the syscall events and the cgroup connect, bind and
// sendmsg programs, and turns each match into an alert event with the
// outcome of the kill or deny the kernel carried out and the process's
// ancestors. Rules with user-space selectors are finished here with
// internal/policy's matcher.
package policy
