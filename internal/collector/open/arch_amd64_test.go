package open_test

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// openSyscall calls open(2) itself: Go's os and unix packages open with
// openat.
func openSyscall(path string, flags int, mode uint32) (int, error) {
	b, err := unix.BytePtrFromString(path)
	if err != nil {
		return -1, err
	}
	fd, _, errno := unix.Syscall(unix.SYS_OPEN, uintptr(unsafe.Pointer(b)), uintptr(flags), uintptr(mode))
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}
