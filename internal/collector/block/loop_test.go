package block_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/testutil"
)

// loopDev is a loop block device over a file in a tmpfs where there is one,
// detached and removed when the test ends.
type loopDev struct {
	path string
	dev  uint32 // as the kernel numbers it: major << 20 | minor
	name string // loopN
}

// tmpfsDir returns a directory on a tmpfs for the backing file, so that the
// loop device's reads touch no other block device.
func tmpfsDir(t testing.TB) string {
	for _, d := range []string{os.TempDir(), "/dev/shm"} {
		var st unix.Statfs_t
		if unix.Statfs(d, &st) == nil && st.Type == unix.TMPFS_MAGIC {
			dir, err := os.MkdirTemp(d, "kscope-block-")
			if err != nil {
				continue
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

// newLoop attaches a loop device to a new file of size bytes (LOOP_CTL_GET_FREE,
// LOOP_SET_FD: buffered, no direct I/O to the backing file, no partition scan).
func newLoop(t testing.TB, size int) *loopDev {
	t.Helper()
	return newLoopWith(t, make([]byte, size), false)
}

// newPartitionedLoop attaches a loop device to a file of size bytes and
// adds one partition from 1 MiB to the end with BLKPG_ADD_PARTITION (no
// partition table: kernels may lack every parser), after allowing
// partitions with LO_FLAGS_PARTSCAN. It returns the disk and the path of
// its partition's node.
func newPartitionedLoop(t testing.TB, size int) (*loopDev, string) {
	t.Helper()
	loop := newLoopWith(t, make([]byte, size), true)
	f, err := os.OpenFile(loop.path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := unix.BlkpgPartition{Start: 1 << 20, Length: int64(size) - 1<<20, Pno: 1}
	arg := unix.BlkpgIoctlArg{Op: unix.BLKPG_ADD_PARTITION, Datalen: int32(unsafe.Sizeof(p)), Data: (*byte)(unsafe.Pointer(&p))}
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKPG, uintptr(unsafe.Pointer(&arg))); errno != 0 {
		t.Fatalf("BLKPG_ADD_PARTITION on %s: %v", loop.path, errno)
	}
	part := loop.path + "p1"
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(part); err == nil {
			return loop, part
		} else if time.Now().After(deadline) {
			t.Fatalf("partition %s did not appear: %v", part, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newLoopWith(t testing.TB, data []byte, partscan bool) *loopDev {
	t.Helper()
	backing := filepath.Join(tmpfsDir(t), "backing")
	if err := os.WriteFile(backing, data, 0o600); err != nil {
		t.Fatal(err)
	}
	bf, err := os.OpenFile(backing, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer bf.Close()
	return attachLoop(t, bf, partscan)
}

// newFailingLoop attaches a loop device to a memfd of size bytes and then
// seals the memfd against writes: the device's writes are issued and fail
// in the loop driver (EPERM from the memfd, completed as BLK_STS_IOERR).
func newFailingLoop(t testing.TB, size int) *loopDev {
	t.Helper()
	fd, err := unix.MemfdCreate("kscope-block-test", unix.MFD_ALLOW_SEALING|unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatalf("memfd_create: %v", err)
	}
	mf := os.NewFile(uintptr(fd), "memfd")
	defer mf.Close()
	if err := mf.Truncate(int64(size)); err != nil {
		t.Fatal(err)
	}
	loop := attachLoop(t, mf, false)
	if _, err := unix.FcntlInt(mf.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_WRITE|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW); err != nil {
		t.Fatalf("sealing the memfd: %v", err)
	}
	return loop
}

// attachLoop attaches a free loop device to the backing file.
func attachLoop(t testing.TB, bf *os.File, partscan bool) *loopDev {
	t.Helper()
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		testutil.Skip(t, "loop block devices (CONFIG_BLK_DEV_LOOP: /dev/loop-control)", err)
	}
	defer ctl.Close()
	for attempt := 0; attempt < 20; attempt++ {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			t.Fatalf("LOOP_CTL_GET_FREE: %v", err)
		}
		path := fmt.Sprintf("/dev/loop%d", n)
		lf, err := openNode(path)
		if err != nil {
			t.Fatal(err)
		}
		err = unix.IoctlSetInt(int(lf.Fd()), unix.LOOP_SET_FD, int(bf.Fd()))
		if errors.Is(err, unix.EBUSY) { // another process took it first
			lf.Close()
			continue
		}
		if err != nil {
			lf.Close()
			t.Fatalf("LOOP_SET_FD %s: %v", path, err)
		}
		t.Cleanup(func() {
			if err := unix.IoctlSetInt(int(lf.Fd()), unix.LOOP_CLR_FD, 0); err != nil {
				t.Errorf("LOOP_CLR_FD %s: %v", path, err)
			}
			lf.Close()
		})
		if partscan {
			info := unix.LoopInfo64{Flags: unix.LO_FLAGS_PARTSCAN}
			if err := unix.IoctlLoopSetStatus64(int(lf.Fd()), &info); err != nil {
				t.Fatalf("LOOP_SET_STATUS64 %s with LO_FLAGS_PARTSCAN: %v", path, err)
			}
		}
		var st unix.Stat_t
		if err := unix.Stat(path, &st); err != nil {
			t.Fatal(err)
		}
		return &loopDev{path: path, dev: unix.Major(st.Rdev)<<20 | unix.Minor(st.Rdev), name: filepath.Base(path)}
	}
	t.Fatal("no free loop device after 20 attempts")
	return nil
}

// openNode opens a block device node, waiting briefly for devtmpfs to
// create it.
func openNode(path string) (*os.File, error) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err == nil || !errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
			return f, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// directReader reads 4096-byte blocks with O_DIRECT through a page-aligned
// buffer, one request at a time.
type directReader struct {
	fd  int
	buf []byte
}

func newDirectReader(t testing.TB, path string) *directReader {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("opening %s with O_DIRECT: %v", path, err)
	}
	buf, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Close(fd)
		unix.Munmap(buf)
	})
	return &directReader{fd: fd, buf: buf}
}

// read reads block i and fails unless it got 4096 bytes.
func (r *directReader) read(t testing.TB, i int) {
	n, err := unix.Pread(r.fd, r.buf, int64(i)*4096)
	if err != nil || n != 4096 {
		t.Fatalf("O_DIRECT read of block %d: %d bytes, %v", i, n, err)
	}
}
