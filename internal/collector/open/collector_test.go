package open_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/collector"
	kopen "github.com/kscope/kscope/internal/collector/open"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/testutil"
)

// start runs an open collector with filter f until the test ends.
func start(t *testing.T, f collector.Filter) (collector.Collector, *testutil.Capture) {
	t.Helper()
	testutil.RequireBPF(t)
	c, err := collector.New(kopen.Name, collector.Config{Filter: f, RingBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	sink := testutil.NewCapture()
	if err := c.Start(context.Background(), sink); err != nil {
		c.Close()
		t.Fatalf("starting: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("closing: %v", err)
		}
	})
	return c, sink
}

// find returns the first open of path, waiting up to timeout for it.
func find(sink *testutil.Capture, path string, timeout time.Duration) (*event.Open, bool) {
	ev, ok := sink.WaitFor(timeout, func(ev event.Event) bool {
		e, isOpen := ev.(*event.Open)
		return isOpen && e.Path == path
	})
	if !ok {
		return nil, false
	}
	return ev.(*event.Open), true
}

const wait = 2 * time.Second

func TestOpen(t *testing.T) {
	_, s := start(t, collector.Filter{PID: uint32(os.Getpid())})
	dir := t.TempDir()

	created := filepath.Join(dir, "created")
	began := time.Now()
	f, err := os.OpenFile(created, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fd := int32(f.Fd())
	f.Close()
	missing := filepath.Join(dir, "missing")
	if _, err := os.Open(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("opening %s: %v", missing, err)
	}

	e, ok := find(s, created, wait)
	if !ok {
		t.Fatalf("no event for %s", created)
	}
	// Go adds O_CLOEXEC to every open; O_LARGEFILE is 0 on amd64.
	if e.Flags != "O_WRONLY|O_CREAT|O_CLOEXEC" || e.Mode != 0o600 || e.Ret != fd || e.Error != "" {
		t.Errorf("create: flags %q mode %#o ret %d error %q, want O_WRONLY|O_CREAT|O_CLOEXEC 0600 %d \"\"", e.Flags, e.Mode, e.Ret, e.Error, fd)
	}
	if e.Type != "open" || e.PID != uint32(os.Getpid()) || e.UID != uint32(os.Getuid()) || e.TID == 0 || e.Comm == "" || e.CgroupID == 0 {
		t.Errorf("header %+v", e.Header)
	}
	testutil.Between(t, "time", e.Time, began, time.Now())

	e, ok = find(s, missing, wait)
	if !ok {
		t.Fatalf("no event for %s", missing)
	}
	if e.Ret != -2 || e.Error != "ENOENT" || e.Flags != "O_RDONLY|O_CLOEXEC" || e.Mode != 0 {
		t.Errorf("missing: ret %d error %q flags %q mode %#o, want -2 ENOENT O_RDONLY|O_CLOEXEC 0", e.Ret, e.Error, e.Flags, e.Mode)
	}
}

func TestOpenLongPath(t *testing.T) {
	_, s := start(t, collector.Filter{PID: uint32(os.Getpid())})
	dir := t.TempDir()
	long := dir
	for len(long) < 300 {
		long = filepath.Join(long, "0123456789abcdef")
	}
	os.Open(long) // fails: only the event matters
	want := long[:255]
	e, ok := find(s, want, wait)
	if !ok {
		t.Fatalf("no event for the truncated %s", want)
	}
	if !e.PathTruncated {
		t.Error("path_truncated not set")
	}
}

func TestOpenFailedFilter(t *testing.T) {
	c, s := start(t, collector.Filter{PID: uint32(os.Getpid()), Failed: true})
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok")
	if err := os.WriteFile(ok, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	for _, p := range []string{ok, missing} {
		if f, err := os.Open(p); err == nil {
			f.Close()
		}
	}
	if e, found := find(s, missing, wait); !found || e.Error != "ENOENT" {
		t.Fatalf("failed open: found %v, event %+v", found, e)
	}
	if e, found := find(s, ok, 200*time.Millisecond); found {
		t.Errorf("successful open reported with --failed: %+v", e)
	}
	if st := c.Stats(); st.Filtered == 0 {
		t.Errorf("stats %+v: nothing counted as filtered", st)
	}
}

// Another process's opens are excluded by the pid filter and selected by a
// comm filter.
func TestOpenOtherProcess(t *testing.T) {
	testutil.RequireBPF(t)
	cat, err := exec.LookPath("cat")
	if err != nil {
		t.Fatal("no cat:", err)
	}
	target := "/etc/hostname"
	if _, err := os.Stat(target); err != nil {
		target = filepath.Join(t.TempDir(), "hostname")
		if err := os.WriteFile(target, []byte("test\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func() int {
		cmd := exec.Command(cat, target)
		if err := cmd.Run(); err != nil {
			t.Fatalf("running cat: %v", err)
		}
		return cmd.Process.Pid
	}

	t.Run("pid filter excludes", func(t *testing.T) {
		_, s := start(t, collector.Filter{PID: uint32(os.Getpid())})
		run()
		if e, found := find(s, target, 300*time.Millisecond); found {
			t.Errorf("cat's open seen with --pid %d: %+v", os.Getpid(), e)
		}
	})
	t.Run("comm filter selects", func(t *testing.T) {
		c, s := start(t, collector.Filter{Comm: "cat"})
		pid := run()
		e, found := find(s, target, wait)
		if !found {
			t.Fatalf("cat's open of %s not seen with --comm cat", target)
		}
		if e.Comm != "cat" || e.PID != uint32(pid) || e.PPID != uint32(os.Getpid()) || e.Ret < 0 {
			t.Errorf("event %+v, want comm cat pid %d ppid %d ret >= 0", e, pid, os.Getpid())
		}
		if st := c.Stats(); st.Filtered == 0 {
			t.Errorf("stats %+v: our own opens were not filtered", st)
		}
	})
}

// Each of the three syscalls is traced, with flags and mode from where the
// syscall keeps them (openat2: struct open_how).
func TestOpenSyscalls(t *testing.T) {
	_, s := start(t, collector.Filter{PID: uint32(os.Getpid())})
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		open func(path string) (int, error)
	}{
		{"open", func(p string) (int, error) {
			return openSyscall(p, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o640)
		}},
		{"openat", func(p string) (int, error) {
			return unix.Openat(unix.AT_FDCWD, p, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o640)
		}},
		{"openat2", func(p string) (int, error) {
			return unix.Openat2(unix.AT_FDCWD, p, &unix.OpenHow{Flags: unix.O_RDWR | unix.O_CREAT | unix.O_CLOEXEC, Mode: 0o640})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			fd, err := tc.open(path)
			if errors.Is(err, unix.ENOSYS) {
				testutil.Skip(t, tc.name+" system call", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			unix.Close(fd)
			e, ok := find(s, path, wait)
			if !ok {
				t.Fatalf("no event for %s", path)
			}
			if e.Flags != "O_RDWR|O_CREAT|O_CLOEXEC" || e.Mode != 0o640 || e.Ret != int32(fd) {
				t.Errorf("flags %q mode %#o ret %d, want O_RDWR|O_CREAT|O_CLOEXEC 0640 %d", e.Flags, e.Mode, e.Ret, fd)
			}
		})
	}
}

// TestEntryExitVariant runs the tests again on the entry+exit hooks that
// kernels without bpf_task_pt_regs get.
func TestEntryExitVariant(t *testing.T) {
	defer kopen.ForceEntryExit()()
	t.Run("Open", TestOpen)
	t.Run("LongPath", TestOpenLongPath)
	t.Run("FailedFilter", TestOpenFailedFilter)
	t.Run("OtherProcess", TestOpenOtherProcess)
	t.Run("Syscalls", TestOpenSyscalls)
	t.Run("UID", TestOpenUID)
	t.Run("UnreadablePath", TestOpenUnreadablePath)
}

// TestOpenUID checks the uid reported and filtered for another user's opens.
func TestOpenUID(t *testing.T) {
	nobody := uint32(65534)
	c, s := start(t, collector.Filter{UID: &nobody, Comm: "cat"})
	// A file and directory that nobody may read.
	dir, err := os.MkdirTemp("", "kscope-uid-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "readable")
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Open(path) // ours: root and not cat, filtered
	cmd := exec.Command("cat", path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cat as nobody: %v\n%s", err, out)
	}
	e, ok := find(s, path, wait)
	if !ok {
		t.Fatalf("no open of %s by cat as nobody", path)
	}
	if e.UID != nobody || e.Comm != "cat" || e.PID != uint32(cmd.Process.Pid) || e.PPID != uint32(os.Getpid()) {
		t.Errorf("got uid %d comm %q pid %d ppid %d", e.UID, e.Comm, e.PID, e.PPID)
	}
	for _, ev := range s.Events() {
		if ev.Hdr().UID != nobody {
			t.Errorf("event of uid %d passed the filter", ev.Hdr().UID)
		}
	}
	if c.Stats().Filtered == 0 {
		t.Error("nothing counted as filtered")
	}
}

// A path the kernel could not read either (a bad pointer: EFAULT) is
// flagged and counted, not reported as an empty path; one in a page the
// caller never touched is read whole, after the kernel faulted it in.
func TestOpenUnreadablePath(t *testing.T) {
	c, s := start(t, collector.Filter{PID: uint32(os.Getpid())})
	dir := t.TempDir()

	// The path lives in a file mapped but never touched by this process.
	target := filepath.Join(dir, "target")
	pathFile := filepath.Join(dir, "path")
	if err := os.WriteFile(pathFile, append([]byte(target), 0), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(pathFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := unix.Mmap(int(f.Fd()), 0, 4096, unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	_, _, errno := unix.Syscall6(unix.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(&m[0])), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
	if errno != unix.ENOENT {
		t.Fatalf("openat of the mapped path: %v, want ENOENT", errno)
	}
	if e, ok := find(s, target, wait); !ok {
		t.Fatalf("no event for %s", target)
	} else if e.PathUnavailable || e.Error != "ENOENT" {
		t.Errorf("mapped path: unavailable %v error %q", e.PathUnavailable, e.Error)
	}

	// A pointer to nothing.
	_, _, errno = unix.Syscall6(unix.SYS_OPENAT, atFDCWD, 1, unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
	if errno != unix.EFAULT {
		t.Fatalf("openat of a bad pointer: %v, want EFAULT", errno)
	}
	ev, ok := s.WaitFor(wait, func(ev event.Event) bool {
		e, isOpen := ev.(*event.Open)
		return isOpen && e.Ret == -int32(unix.EFAULT)
	})
	if !ok {
		t.Fatal("no event for the EFAULT open")
	}
	if e := ev.(*event.Open); e.Path != "" || !e.PathUnavailable || e.Error != "EFAULT" || e.Flags != "O_RDONLY|O_CLOEXEC" {
		t.Errorf("bad pointer: path %q unavailable %v error %q flags %q", e.Path, e.PathUnavailable, e.Error, e.Flags)
	}
	if st := c.Stats(); st.Unreadable != 1 {
		t.Errorf("unreadable = %d, want 1 (stats %+v)", st.Unreadable, st)
	}
}

// atFDCWD is AT_FDCWD as a raw system call argument.
var atFDCWD = func() uintptr { fd := unix.AT_FDCWD; return uintptr(fd) }()
