package syscalls_test

import "syscall"

// sysNoImpl has no implementation on arm64 (253, in the range the generic
// table leaves to architectures, which arm64 does not use: ENOSYS) and
// shares getppid's slot in the per-task cache (173 + 80).
const sysNoImpl = 253

// sysQuiet (getcpu(NULL, NULL, NULL), 168: arm64 has no getpgrp) shares
// its cache slot with rt_sigpending (136) and with no call a Go thread
// makes from its start to its end.
const (
	sysQuiet     = syscall.SYS_GETCPU
	sysQuietName = "getcpu"
)

// distinct are syscalls without side effects that take no arguments (or
// zeros).
var distinct = []uintptr{
	syscall.SYS_GETPPID, syscall.SYS_GETPGID, syscall.SYS_GETUID, syscall.SYS_GETGID,
	syscall.SYS_GETEUID, syscall.SYS_GETEGID, syscall.SYS_GETPID, syscall.SYS_GETTID,
	syscall.SYS_SETSID, syscall.SYS_SCHED_YIELD, syscall.SYS_SYNC, syscall.SYS_VHANGUP,
}
