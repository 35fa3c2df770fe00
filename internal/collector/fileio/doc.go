// Package fileio aggregates file I/O per process in the kernel, like BCC's
// filetop and opensnoop's counts: bytes and calls read and written, opens
// and failed opens by errno.
//
// Families (pid, comm; open errors add errno):
//
//	kscope_fileio_read_bytes_total   bytes read from regular files
//	kscope_fileio_write_bytes_total  bytes written to regular files
//	kscope_fileio_reads_total        successful read calls on regular files
//	kscope_fileio_writes_total       successful write calls on regular files
//	kscope_fileio_opens_total        successful opens, of anything
//	kscope_fileio_open_errors_total  failed opens, by errno
//
// Reads are read, pread64, readv, preadv and preadv2; writes are write,
// pwrite64, writev, pwritev and pwritev2; the byte count is what the call
// returned. Only regular files count (what filetop shows by default; procfs
// and sysfs files are regular files too): sockets, pipes, terminals,
// eventfds and devices do not, so a network server's traffic does not
// drown its disk I/O. Where the kernel lacks bpf_task_pt_regs (before
// 5.15) the fd cannot be looked up at syscall exit and every fd counts,
// which the collector logs as a fallback. Opens are open, openat and
// openat2 (where it exists), whatever they open. sendfile, splice,
// copy_file_range, mmap'd files and io_uring are not seen.
//
// There are no separate system-wide families: every family is per process
// with the K most active processes (cfg.TopK) in their own series and the
// rest in one "other" series (pid, comm and errno "other"), so a total is
// sum(rate(kscope_fileio_read_bytes_total[1m])) and the like. Calls made
// while the per-process map was full count in "other" as well.
//
// comm is the process's name (its thread group leader's, refreshed at
// exec). A process's counts survive its end until the next collection,
// which emits them one last time. Open errors of processes left in "other"
// lose their errno there (errno "other"): sum() over the family is the
// total, sum by (errno) covers the kept processes.
//
// Kernel maps: 8192 live processes, 4096 processes ended since the last
// collection, 4096 (process, errno) pairs; calls that find a map full are
// added to per-CPU overflow counters, emitted in "other", and each counts
// as lost in the collector's Stats. Config.Filter does not apply: the
// families are about every process.
//
// Hooks: where the kernel can run the shared syscall dispatcher
// (internal/collector/dispatch, Linux 5.15+), the handlers take its
// sys_exit slots for the thirteen syscalls: a counted call costs a tail
// call from the one sys_exit program the agent's collectors share, and
// other syscalls nothing more. Otherwise each syscall has its own
// tracepoint (sys_exit_read and so on), which registers the perf handler
// that every syscall then calls; the fallback is logged.
//
// Cost on that fallback, measured on the development host (6.18, one-byte
// preads): the syscall exit tracepoint itself adds about 220 ns to a
// traced call, the per-process update about 60 ns, telling regular files
// apart about 150 ns more.
package fileio
