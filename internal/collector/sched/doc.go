// Package sched measures the scheduler machine-wide, in the kernel: how long
// runnable tasks wait for a CPU (run-queue latency, by why they waited),
// context switches per CPU (voluntary, involuntary, from idle), wakeups and
// migrations. It emits metrics only (metrics.Source), no events.
//
// Hooks: tp_btf sched_wakeup, sched_wakeup_new, sched_switch and
// sched_migrate_task, with each task's wait timestamp in task storage made
// at sched_process_fork and, for the tasks that exist at Start, by a task
// iterator. Fallback, where task storage or sched_switch's prev_state
// argument is missing (before 5.11 / 5.18): the same tracepoints as raw
// tracepoints, timestamps in a hash keyed by pid.
package sched
