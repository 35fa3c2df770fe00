// Package topui is kscope top's live view: a full-screen table of
// processes with their CPU, syscall, file and network rates, built with
// Bubble Tea, and the same table as text for batch mode.
//
// Data comes from a Source. CounterSource turns cumulative per-process
// counters (the top collector's kernel map) into rates between two reads
// and counts per syscall for the process in focus; AgentSource asks a
// running agent's PromQL API for the rates of its per-process families.
// ProcFS adds what the kernel maps do not hold (user, threads, command
// line, executable, open files) from /proc, whose root is configurable for
// tests. The package imports no BPF code.
package topui
