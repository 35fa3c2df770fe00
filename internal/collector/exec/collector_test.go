package exec_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/collector/dispatch"
	kexec "github.com/kscope/kscope/internal/collector/exec"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/testutil"
)

// wantVariant is the variant the test running wants Start to choose; ""
// takes any.
var wantVariant string

// both runs f with the handlers in the syscall dispatcher's slots and on
// their own syscall tracepoints.
func both(t *testing.T, f func(t *testing.T)) {
	for _, v := range []string{dispatch.Kind, kexec.VariantTracepoints} {
		t.Run(v, func(t *testing.T) {
			if v != dispatch.Kind {
				defer bpfx.ForceHook(kexec.Name, v)()
			}
			wantVariant = v
			defer func() { wantVariant = "" }()
			f(t)
		})
	}
}

// checkVariant fails the test when c is not the variant it wants.
func checkVariant(t *testing.T, c collector.Collector) {
	t.Helper()
	if got := c.(*kexec.Collector).Variant(); wantVariant != "" && got != wantVariant {
		t.Fatalf("variant %s, want %s", got, wantVariant)
	}
}

func start(t *testing.T, cfg collector.Config, sink event.Sink) collector.Collector {
	t.Helper()
	testutil.RequireBPF(t)
	c, err := collector.New(kexec.Name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background(), sink); err != nil {
		c.Close()
		t.Fatalf("starting: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	checkVariant(t, c)
	return c
}

func findExec(t *testing.T, c *testutil.Capture, what string, ok func(*event.Exec) bool) *event.Exec {
	t.Helper()
	ev, found := c.WaitFor(5*time.Second, func(ev event.Event) bool {
		e, isExec := ev.(*event.Exec)
		return isExec && ok(e)
	})
	if !found {
		t.Fatalf("no exec event for %s among %d events", what, len(c.Events()))
	}
	return ev.(*event.Exec)
}

func TestExecArgv(t *testing.T) { both(t, testExecArgv) }

func testExecArgv(t *testing.T) {
	sink := testutil.NewCapture()
	start(t, collector.Config{}, sink)

	tag := "kscope-argv-" + strconv.Itoa(os.Getpid())
	args := []string{tag, "two words", "", "ünïcödé", "--flag=1"}
	cmd := exec.Command("/bin/echo", args...)
	began := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	e := findExec(t, sink, "/bin/echo", func(e *event.Exec) bool { return e.PID == uint32(cmd.Process.Pid) })
	arrived := time.Now()
	want := append([]string{"/bin/echo"}, args...)
	if !slices.Equal(e.Argv, want) {
		t.Errorf("argv = %q, want %q", e.Argv, want)
	}
	if e.Filename != "/bin/echo" || e.Ret != 0 || e.Error != "" || e.ArgvTruncated {
		t.Errorf("filename %q ret %d error %q truncated %v", e.Filename, e.Ret, e.Error, e.ArgvTruncated)
	}
	if e.PPID != uint32(os.Getpid()) || e.TID != e.PID || e.Comm != "echo" || e.Type != "exec" {
		t.Errorf("header = %+v", e.Header)
	}
	if e.CgroupID == 0 {
		t.Error("cgroup_id is 0")
	}
	testutil.Between(t, "time", e.Time, began, arrived)
}

func TestExecFailed(t *testing.T) { both(t, testExecFailed) }

func testExecFailed(t *testing.T) {
	sink := testutil.NewCapture()
	start(t, collector.Config{}, sink)

	path := "/nonexistent/kscope-" + strconv.Itoa(os.Getpid())
	if err := exec.Command(path, "x").Run(); err == nil {
		t.Fatal("exec of a missing path succeeded")
	}
	e := findExec(t, sink, path, func(e *event.Exec) bool { return e.Filename == path })
	if e.Ret != -int32(syscall.ENOENT) || e.Error != "ENOENT" {
		t.Errorf("ret %d error %q, want -2 ENOENT", e.Ret, e.Error)
	}
	if !slices.Equal(e.Argv, []string{path, "x"}) {
		t.Errorf("argv = %q", e.Argv)
	}
}

func TestExecTruncated(t *testing.T) { both(t, testExecTruncated) }

func testExecTruncated(t *testing.T) {
	sink := testutil.NewCapture()
	start(t, collector.Config{}, sink)

	many := make([]string, 100)
	for i := range many {
		many[i] = "a" + strconv.Itoa(i)
	}
	long := strings.Repeat("x", 5000)
	c1 := exec.Command("/bin/true", many...)
	c2 := exec.Command("/bin/true", "short", long)
	for _, c := range []*exec.Cmd{c1, c2} {
		if err := c.Run(); err != nil {
			t.Fatal(err)
		}
	}
	e := findExec(t, sink, "100 args", func(e *event.Exec) bool { return e.PID == uint32(c1.Process.Pid) })
	if len(e.Argv) != 64 || !e.ArgvTruncated || e.Argv[63] != "a62" {
		t.Errorf("100 args: got %d (truncated %v), last %q", len(e.Argv), e.ArgvTruncated, e.Argv[len(e.Argv)-1])
	}
	e = findExec(t, sink, "long arg", func(e *event.Exec) bool { return e.PID == uint32(c2.Process.Pid) })
	if !e.ArgvTruncated || len(e.Argv) != 3 || e.Argv[1] != "short" {
		t.Fatalf("long arg: argv %d truncated %v", len(e.Argv), e.ArgvTruncated)
	}
	if total := len(strings.Join(e.Argv, "\x00")); total > 4096 || !strings.HasPrefix(e.Argv[2], "xxxx") {
		t.Errorf("long arg: %d bytes kept, want at most 4096", total)
	}
}

func TestExecFilters(t *testing.T) { both(t, testExecFilters) }

func testExecFilters(t *testing.T) {
	nobody := uint32(65534)
	sink := testutil.NewCapture()
	c := start(t, collector.Config{Filter: collector.Filter{UID: &nobody, Comm: "echo"}}, sink)

	tag := "kscope-filter-" + strconv.Itoa(os.Getpid())
	asNobody := exec.Command("/bin/echo", tag, "nobody")
	asNobody.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: 65534}}
	for _, cmd := range []*exec.Cmd{
		exec.Command("/bin/echo", tag, "root"), // wrong uid
		exec.Command("/bin/true", tag),         // wrong comm
		asNobody,
	} {
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
	}
	findExec(t, sink, "echo as nobody", func(e *event.Exec) bool { return e.PID == uint32(asNobody.Process.Pid) })
	for _, ev := range sink.Events() {
		if e := ev.(*event.Exec); e.UID != nobody || e.Comm != "echo" {
			t.Errorf("filtered event leaked through: uid %d comm %q argv %q", e.UID, e.Comm, e.Argv)
		}
	}
	if st := c.Stats(); st.Filtered < 2 {
		t.Errorf("filtered = %d, want at least 2", st.Filtered)
	}
}

func TestExecFailedOnly(t *testing.T) { both(t, testExecFailedOnly) }

func testExecFailedOnly(t *testing.T) {
	sink := testutil.NewCapture()
	start(t, collector.Config{Filter: collector.Filter{Failed: true}}, sink)
	ok := exec.Command("/bin/true")
	if err := ok.Run(); err != nil {
		t.Fatal(err)
	}
	path := "/nonexistent/kscope-failed-" + strconv.Itoa(os.Getpid())
	exec.Command(path).Run()
	findExec(t, sink, path, func(e *event.Exec) bool { return e.Filename == path })
	for _, ev := range sink.Events() {
		if e := ev.(*event.Exec); e.Ret >= 0 {
			t.Errorf("successful exec with --failed: %q", e.Argv)
		}
	}
}

// stallSink blocks its first Emit until released, so the ring buffer fills.
type stallSink struct {
	*testutil.Capture
	once    sync.Once
	release chan struct{}
}

func (s *stallSink) Emit(ev event.Event) {
	s.once.Do(func() { <-s.release })
	s.Capture.Emit(ev)
}

func TestExecStormOverflowIsCounted(t *testing.T) {
	sink := &stallSink{Capture: testutil.NewCapture(), release: make(chan struct{})}
	c := start(t, collector.Config{RingBytes: 4096}, sink)

	const n = 200
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/4; i++ {
				exec.Command("/bin/true").Run()
			}
		}()
	}
	wg.Wait()
	close(sink.release)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	t.Logf("stats after %d execs into a 4 KiB ring: %+v", n, st)
	if st.Lost == 0 {
		t.Error("no loss counted although the ring buffer was full")
	}
	if st.Events == 0 {
		t.Error("no events delivered")
	}
	if st.Events+st.Lost < n {
		t.Errorf("events %d + lost %d < %d execs", st.Events, st.Lost, n)
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	c := start(t, collector.Config{}, testutil.NewCapture())
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c.Stats()
}

// TestCloseDeliversPending checks that Close hands over the events still
// waiting in the ring buffer: submissions do not wake the reader, so without
// a drain they would be dropped on shutdown, as when the CLI's context is
// cancelled by SIGINT before Close.
func TestCloseDeliversPending(t *testing.T) {
	testutil.RequireBPF(t)
	sink := testutil.NewCapture()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := collector.New(kexec.Name, collector.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, sink); err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := 0; i < n; i++ {
		if err := exec.Command("/bin/true").Run(); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, ev := range sink.Events() {
		if ev.Hdr().PPID == uint32(os.Getpid()) {
			got++
		}
	}
	if got != n {
		t.Errorf("%d of %d execs delivered after Close (stats %+v)", got, n, c.Stats())
	}
}

// runProg runs the exec test program (testutil.ExecProgram) and returns its
// pid, the parent of every exec it makes.
func runProg(t *testing.T, bin string, args ...string) uint32 {
	t.Helper()
	cmd := exec.Command(bin, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %q: %v\n%s", bin, args, err, out)
	}
	return uint32(cmd.Process.Pid)
}

// childExecs waits until n exec events from children of ppid are captured
// and returns them.
func childExecs(t *testing.T, c *testutil.Capture, ppid uint32, n int) []*event.Exec {
	t.Helper()
	var got []*event.Exec
	deadline := time.Now().Add(30 * time.Second)
	for {
		// The pid may have been an earlier parent's too (pids wrap on a
		// busy host): the children of this run's parent, the latest
		// process with that pid.
		got = got[:0]
		var latest uint64
		for _, ev := range c.Events() {
			if e, ok := ev.(*event.Exec); ok && e.PPID == ppid {
				latest = max(latest, e.ParentStartNS)
			}
		}
		for _, ev := range c.Events() {
			if e, ok := ev.(*event.Exec); ok && e.PPID == ppid && e.ParentStartNS == latest {
				got = append(got, e)
			}
		}
		if len(got) >= n || time.Now().After(deadline) {
			break
		}
		c.WaitFor(time.Second, func(event.Event) bool { return false })
	}
	if len(got) != n {
		t.Fatalf("%d exec events from children of %d, want %d", len(got), ppid, n)
	}
	return got
}

// A forked child's execl of string literals: the child has not mapped the
// literals' pages yet, so reading them from its memory at syscall entry
// fails. Every event must carry the filename and argv all the same.
func TestExecForkedChildArgvGCC(t *testing.T) {
	bin := testutil.BuildC(t, "gcc", testutil.ExecProgram, "-O0")
	sink := testutil.NewCapture()
	c := start(t, collector.Config{}, sink)

	for _, tt := range []struct {
		mode     string
		n        int
		filename string
		argv     []string
		comm     string
	}{
		{"literal", 500, "/bin/true", []string{"exk", "37"}, "true"},
		{"stack", 200, "/bin/true", []string{"exk", "37"}, "true"},
		{"sh", 200, "/bin/sh", []string{"sh", "-c", "exit 0"}, "sh"},
		// Entry sees the thread's id, the new image the process's.
		{"thread", 100, "/bin/true", []string{"exk", "37"}, "true"},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			ppid := runProg(t, bin, tt.mode, strconv.Itoa(tt.n))
			bad := 0
			for _, e := range childExecs(t, sink, ppid, tt.n) {
				if e.Filename != tt.filename || !slices.Equal(e.Argv, tt.argv) || e.Ret != 0 || e.Error != "" ||
					e.ArgvTruncated || e.ArgvUnavailable || e.FilenameUnavailable || e.Comm != tt.comm || e.TID != e.PID {
					if bad++; bad <= 5 {
						t.Errorf("filename %q argv %q ret %d truncated %v unavailable %v/%v comm %q",
							e.Filename, e.Argv, e.Ret, e.ArgvTruncated, e.FilenameUnavailable, e.ArgvUnavailable, e.Comm)
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d events wrong", bad, tt.n)
			}
		})
	}
	if st := c.Stats(); st.Malformed != 0 {
		t.Errorf("stats %+v", st)
	}
}

// Failed execs are read from the caller's memory. What the kernel read
// before failing is resident by syscall exit and reported whole; what
// cannot be read is flagged and counted, not sent as empty strings.
func TestExecFailedUnreadableGCC(t *testing.T) {
	bin := testutil.BuildC(t, "gcc", testutil.ExecProgram, "-O0")
	argvFile := filepath.Join(t.TempDir(), "argv")
	if err := os.WriteFile(argvFile, []byte("exk\x0037\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Only the test program's failed execs: its comm is its file's name.
	sink := testutil.NewCapture()
	c := start(t, collector.Config{Filter: collector.Filter{Comm: "prog", Failed: true}}, sink)

	const n = 20
	for _, tt := range []struct {
		mode        string
		filename    string
		argv        []string
		unavailable bool
		err         string
	}{
		// The kernel read the path (and the literals on its page).
		{"enoent", "/nonexistent/kscope-exk", []string{"exk", "37"}, false, "ENOENT"},
		// argv[1] is a bad pointer: what precedes it is kept.
		{"efault", "/bin/true", []string{"exk"}, true, "EFAULT"},
		// argv is in a page nobody touched, not even the kernel.
		{"unmapped", "/nonexistent/kscope-exk", nil, true, "ENOENT"},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			before := c.Stats().Unreadable
			ppid := runProg(t, bin, tt.mode, strconv.Itoa(n), argvFile)
			for _, e := range childExecs(t, sink, ppid, n) {
				if e.Filename != tt.filename || e.FilenameUnavailable || !slices.Equal(e.Argv, tt.argv) ||
					e.ArgvUnavailable != tt.unavailable || e.ArgvTruncated || e.Error != tt.err {
					t.Fatalf("filename %q (unavailable %v) argv %q (unavailable %v, truncated %v) error %q",
						e.Filename, e.FilenameUnavailable, e.Argv, e.ArgvUnavailable, e.ArgvTruncated, e.Error)
				}
			}
			want := uint64(0)
			if tt.unavailable {
				want = n
			}
			if got := c.Stats().Unreadable - before; got != want {
				t.Errorf("unreadable counted %d times, want %d", got, want)
			}
		})
	}
}
