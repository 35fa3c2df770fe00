// Package syscalls counts every system call in the kernel: calls per
// syscall name, errors by errno, a log2 histogram of durations, and calls
// and errors per process, bounded to the top K pid and syscall pairs plus an
// "other" series. It emits metrics only (metrics.Source), no events.
//
// Hooks: raw_tracepoint sys_enter (a call is counted as it enters) and
// sys_exit (duration and error), run from the every-syscall slots of the
// shared syscall dispatcher (internal/collector/dispatch) where the kernel
// can run it (Linux 5.15+), attached on their own otherwise;
// sched_process_exit (a thread's cached per-process counts are flushed);
// and a task iterator Collect runs. Where
// task storage is missing (before Linux 5.11) the entry records live in an
// LRU hash keyed by thread id and per-process counts go to their hash on
// every call.
//
// Exactness: kscope_process_syscalls_total counts the calls a process
// entered, exactly, live or exited: Collect adds the counts its threads
// cache in task storage (read through the task iterator) to those already
// flushed to the per-process hash. An exited process's counts are taken
// out of the kernel map by the first Collect that finds it gone, which
// emits them, and are emitted again by every Collect for 30 seconds after.
// A thread moves its cached counts to the hash when it exits and when
// another syscall evicts them from their slot, perhaps after Collect read
// the hash and before the iterator reached the thread: the moves are
// counted per CPU (flush_seq), and Collect reads again, up to 8 times,
// while one overlapped its read.
//
// Memory: with MinLive set (the agent sets 2), a process that ended before
// MinLive Collects saw it alive can never get series of its own, and all
// TopK does with its rows is add their increases to its command's: such
// processes keep no row of their own, their counts go to one row per
// command and syscall, kept as long as an ended process's would have been.
// The per-process hash, allocated as used, holds (process, syscall) pairs:
// room for 8 per live process of the host (the smaller of pid_max and
// memory / 32 KiB) and per process ended since the last Collect (16,384),
// at most one per 64 KiB of memory. A full map counts in
// kscope_syscalls_dropped_total{reason="process_map_full"}.
// Per-process counts need the agent in the host's pid namespace: the
// iterator lists the processes of its own.
//
// Syscall names come from names.go, generated from the x86-64 UAPI header
// (go generate); a number it lacks is named sys_<nr>, and numbers above 511
// (x32 calls, the -1 of a call skipped by ptrace) count as
// sys_out_of_range.
package syscalls
