package bpfx

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// With CAP_BPF and CAP_PERFMON but not root, tracefs (mode 0700) is
// mounted yet unreadable: Prepare says so, and what to do, instead of
// saying tracefs is not mounted.
func TestTracefsMountedButUnreadable(t *testing.T) {
	if os.Getenv("KSCOPE_TRACEFS_CHILD") == "1" {
		_, err := Prepare()
		fmt.Printf("unreadable=%v notmounted=%v\n%v\n", errors.Is(err, ErrTracefsUnreadable), errors.Is(err, ErrNoTracefs), err)
		return
	}
	// testutil imports bpfx, so its Skip is written out here: a skip
	// fails where everything must be present.
	requireAll := os.Getenv("CI") == "true" || os.Getenv("KSCOPE_REQUIRE_ALL") == "1"
	skip := func(format string, args ...any) {
		t.Helper()
		if requireAll {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	if os.Geteuid() != 0 {
		skip("root (to start a process as another user with CAP_BPF+CAP_PERFMON) missing: running as uid %d", os.Geteuid())
	}
	if _, err := Prepare(); err != nil {
		skip("a usable tracefs missing, even as root: %v", err)
	}
	st, err := os.Stat("/sys/kernel/tracing")
	if err != nil || st.Mode().Perm()&0o005 != 0 {
		skip("tracefs closed to others (mode 0700) missing: here it is %v (%v), so there is nothing to detect", st.Mode(), err)
	}
	// The test binary, where user nobody can run it.
	dir, err := os.MkdirTemp("", "kscope-tracefs")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "bpfx.test")
	copyFile(t, os.Args[0], bin)
	cmd := exec.Command(bin, "-test.run", "^TestTracefsMountedButUnreadable$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KSCOPE_TRACEFS_CHILD=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential:  &syscall.Credential{Uid: 65534, Gid: 65534},
		AmbientCaps: []uintptr{capBPF, capPerfmon},
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{
		"unreadable=true notmounted=false",
		"tracefs is mounted but not readable: /sys/kernel/tracing is mode 0700, owner uid 0: permission denied",
		"run as root, or add CAP_DAC_OVERRIDE to CAP_BPF+CAP_PERFMON",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("child said:\n%s\nwant %q", s, want)
		}
	}
}

// Nothing where tracefs should be: not mounted.
func TestTracefsNotMounted(t *testing.T) {
	saved := TracefsEvents
	defer func() { TracefsEvents = saved }()
	dir := t.TempDir()
	TracefsEvents = []string{filepath.Join(dir, "tracing", "events")}
	if err := TracefsErr(); !errors.Is(err, ErrNoTracefs) || errors.Is(err, ErrTracefsUnreadable) {
		t.Errorf("%v", err)
	}
	os.MkdirAll(TracefsEvents[0], 0o700)
	if err := TracefsErr(); err != nil {
		t.Errorf("present: %v", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
