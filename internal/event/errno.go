package event

import (
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrnoName returns the symbolic name of a negative return value ("ENOENT"
// for -2), "" for a non-negative one, and "E<n>" for an unknown errno.
func ErrnoName(ret int64) string {
	if ret >= 0 {
		return ""
	}
	if ret == -512 { // ERESTARTSYS: kernel-internal, seen when a signal interrupts
		return "ERESTARTSYS"
	}
	if name := unix.ErrnoName(syscall.Errno(-ret)); name != "" {
		return name
	}
	return "E" + strconv.FormatInt(-ret, 10)
}
