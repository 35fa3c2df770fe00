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
//	kscope_process_cpu_seconds_total{pid,comm}  CPU time of the top-K processes, the rest in
//	                                            pid="other",comm="other"
//	kscope_process_context_switches_total{pid,comm,kind}
//	                                            kind="voluntary" or "involuntary", as
//	                                            /proc/PID/status counts them; same top-K
//	kscope_processes_resync_drift               what the last recount from /proc changed
//	kscope_self_map_drops_total{collector="process",map="procs"}
//	                                            switch-outs with no room in the map
//
// The gauge is the count of live processes in /proc at Start plus the
// processes forked since minus those ended since, both counted in the
// kernel; forks and ends that race with the /proc read are noted by tgid and
// set right at the first Collect. Every minute (DefaultResync) Collect
// recounts /proc the same way and rebases the gauge on it, so that an end
// the kernel count missed cannot make it drift; the change is the drift
// gauge. /proc must be the host's (the agent runs in the host's pid
// namespace).
//
// CPU time is the kernel's own runtime accounting (se.sum_exec_runtime,
// which /proc/PID/stat's utime+stime add up to and which excludes steal
// time): at each switch-out the process is charged what the thread ran
// since its last one, from the thread's task storage (Linux 5.11+; before,
// from its runtime at its switch-in on the same CPU). Collect adds, for a
// thread on a CPU now, its runtime since its switch-in as
// /proc/PID/task/TID/schedstat shows it. The switch also counts as
// voluntary (the thread blocked) or involuntary (preempted or yielding).
//
// The per-process map holds live processes only: the last switch-out of a
// process deletes its entry and adds its totals to counters that Collect
// reports in the other series, less what it had reported of the process
// before. Its size is the smaller of pid_max and memory/32 KiB
// (HostMapSize), allocated as used. When it is full, the time and
// switches go to other and the misses to kscope_self_map_drops_total. The
// /proc recount also deletes any entry whose process is gone.
//
// Hooks: sched_switch and sched_process_fork as tp_btf programs (they run
// often: typed arguments, direct loads), sched_process_exec and
// sched_process_exit as tracepoints. Where sched_process_exit lacks
// group_dead, a process's end is found from signal->live (logged as a
// fallback). Config.Filter does not apply: the counts are system-wide.
package process
