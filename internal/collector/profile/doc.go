// Package profile samples stacks in the kernel: on-CPU samples from a perf
// event on every CPU, and off-CPU (blocked) time from sched_switch, both
// counted per {process, user stack, kernel stack, comm} in BPF maps. Read
// returns the aggregates with raw stack addresses; symbolizing them is left
// to the caller.
package profile
