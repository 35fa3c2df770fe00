package syscalls_test

import "syscall"

// sysNoImpl has no implementation on x86-64 (create_module: ENOSYS) and
// shares getppid's slot in the per-task cache (110 + 64).
const sysNoImpl = 174

// sysQuiet (getpgrp, 111) takes no arguments and shares its cache slot with
// rt_sigpending (127) and with no call a Go thread makes from its start to
// its end.
const (
	sysQuiet     = syscall.SYS_GETPGRP
	sysQuietName = "getpgrp"
)

// distinct are syscalls without side effects that take no arguments.
var distinct = []uintptr{
	syscall.SYS_GETPPID, syscall.SYS_GETPGRP, syscall.SYS_GETUID, syscall.SYS_GETGID,
	syscall.SYS_GETEUID, syscall.SYS_GETEGID, syscall.SYS_GETPID, syscall.SYS_GETTID,
	syscall.SYS_SETSID, syscall.SYS_SCHED_YIELD, syscall.SYS_SYNC, syscall.SYS_VHANGUP,
}
