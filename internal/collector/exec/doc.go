// Package exec traces execve and execveat: filename, argv (up to 64
// arguments or 4 KiB) and the result, including failed execs.
//
// A successful exec is reported from sched_process_exec with the new
// program's filename and argv, read from the new image where the kernel has
// just copied them, so they are always readable (for a script, argv is the
// interpreter's: "/bin/sh", "./script", …). A failed exec's filename and
// argv are read from the caller's memory, at entry and again at exit for
// what entry could not read; what still cannot be read is flagged
// (filename_unavailable, argv_unavailable) and counted in Stats.Unreadable.
//
// Hooks: the syscall dispatcher's execve and execveat slots on sys_enter
// and sys_exit (internal/collector/dispatch) where the kernel can run it,
// the four syscall tracepoints otherwise (logged as a fallback); and
// sched_process_exec.
package exec
