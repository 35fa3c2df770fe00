package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// LoopDevice attaches a loop block device over a new sparse file of size
// bytes and returns its path (/dev/loopN); it is detached at cleanup. A
// loop device is a block device of the test's own: its I/O is exactly the
// test's.
func LoopDevice(t testing.TB, size int64) string {
	t.Helper()
	backing := filepath.Join(t.TempDir(), "loop.img")
	f, err := os.Create(backing)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		Skip(t, "loop block devices (/dev/loop-control)", err)
	}
	defer ctl.Close()
	for range 10 {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			t.Fatalf("LOOP_CTL_GET_FREE: %v", err)
		}
		path := fmt.Sprintf("/dev/loop%d", n)
		if _, err := os.Stat(path); os.IsNotExist(err) {
			// No devtmpfs node yet (a minimal guest): make one.
			unix.Mknod(path, unix.S_IFBLK|0o600, int(unix.Mkdev(7, uint32(n))))
		}
		dev, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatalf("opening %s: %v", path, err)
		}
		err = unix.IoctlSetInt(int(dev.Fd()), unix.LOOP_SET_FD, int(f.Fd()))
		if err == unix.EBUSY { // taken by someone else meanwhile
			dev.Close()
			continue
		}
		if err != nil {
			dev.Close()
			t.Fatalf("LOOP_SET_FD %s: %v", path, err)
		}
		t.Cleanup(func() {
			unix.IoctlSetInt(int(dev.Fd()), unix.LOOP_CLR_FD, 0)
			dev.Close()
		})
		return path
	}
	t.Fatal("no free loop device")
	return ""
}

// DirectReads reads n blocks of size bytes from path with O_DIRECT, one
// at a time, so each is one block I/O request.
func DirectReads(path string, n, size int) error {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	// O_DIRECT needs a buffer aligned to the logical block size.
	raw := make([]byte, size+4096)
	off := 4096 - int(uintptr(unsafe.Pointer(&raw[0]))&4095)
	buf := raw[off : off+size]
	for i := range n {
		if _, err := f.ReadAt(buf, int64(i*size)); err != nil {
			return fmt.Errorf("direct read %d of %s: %w", i, path, err)
		}
	}
	return nil
}
