// Package top counts what each process does, in the kernel, for `kscope
// top` and for the agent's procnet collector: on-CPU time (sched_switch),
// system calls (sys_enter), bytes read and written on regular files (the
// read and write syscall exits, the fd checked in the task's file table)
// and bytes received and sent on IPv4/IPv6 sockets.
//
// Network bytes come from the sock_send_length and sock_recv_length
// tracepoints (Linux 6.3+), which see every sock_sendmsg and sock_recvmsg
// whatever the syscall. Without them, the collector counts the exits of
// read, readv, write, writev, sendto, recvfrom, sendmsg, recvmsg,
// sendmmsg and recvmmsg on IPv4/IPv6 sockets; without bpf_task_pt_regs
// (before 5.15), the exits of sendto, recvfrom, sendmsg and recvmsg on
// sockets of any family, and reads and writes count as file I/O on every
// kind of fd. Each fallback is logged.
//
// One hash entry per process, keyed by pid and start time, holds every
// counter. Read returns them all (cumulative); a process that ended is
// reported once more, then its entry is deleted. When the map is full, the
// counts go to Snapshot.Untracked and the misses to Snapshot.Lost.
//
// Focus counts the system calls of one process per syscall number, for the
// detail view; FocusCalls reads them.
//
// New builds the full collector (kscope top); it is not registered. The
// registered procnet collector loads the network hooks only and is a
// metrics.Source:
//
//	kscope_process_net_bytes_total{pid,comm,direction}   direction="received" or "sent";
//	                                                     top-K processes, the rest in pid="other"
//
// A process that ended keeps its final counts in the family for 30 s.
//
// Config.Filter does not apply: the counts are system-wide.
package top
