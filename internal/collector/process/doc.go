// Package process counts the life of processes in the kernel: successful
// execs, forks of processes and threads, process ends by exit code or
// signal with their lifetimes, the processes alive now, and on-CPU time per
// process (top-K bounded). It is a metric-only collector.
//
// Metrics:
//
//	kscope_process_execs_total                  successful execs
//	kscope_process_forks_total{kind}            kind="process" (a new thread group) or "thread"
//	kscope_process_exits_total{code,signal}     one per process, when its last thread exits:
//	                                            code="0".."255", signal="" when it exited;
//	                                            code="", signal="SIGKILL" (etc.) when a signal killed it
//	kscope_process_lifetime_seconds             histogram, start to end, ~1 ms to 39 h
//	kscope_processes                            processes alive now (thread groups, kernel
//	                                            threads included, zombies not)
//	kscope_process_cpu_seconds_total{pid,comm}  on-CPU time of the top-K processes, the rest in
//	                                            pid="other",comm="other"
//
// The gauge is the count of live processes in /proc at Start plus the
// processes forked since minus those ended since, both counted in the
// kernel; forks and ends that race with the /proc read are noted by tgid and
// set right at the first Collect. /proc must be the host's (the agent runs
// in the host's pid namespace).
//
// CPU time is charged at each context switch to the process of the task
// switched out, for the time since it was switched in; Collect adds the
// time of processes on a CPU now. A process's counter is kept until the
// Collect after the one that saw it end, so its last value is reported.
// When the per-process map is full, the CPU time of processes without an
// entry goes to the "other" series and the misses count as lost
// (collector.Stats).
//
// Hooks: sched_switch and sched_process_fork as tp_btf programs (they run
// often: typed arguments, direct loads), sched_process_exec and
// sched_process_exit as tracepoints. Where sched_process_exit lacks
// group_dead, a process's end is found from signal->live (logged as a
// fallback). Config.Filter does not apply: the counts are system-wide.
package process
