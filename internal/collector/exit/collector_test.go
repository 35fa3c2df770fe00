package exit_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/collector"
	kexit "github.com/kscope/kscope/internal/collector/exit"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/testutil"
)

// TestMain turns the test binary into a multi-threaded child on request.
func TestMain(m *testing.M) {
	if code := os.Getenv("KSCOPE_TEST_EXIT_CODE"); code != "" {
		n, _ := strconv.Atoi(code)
		runtime.GOMAXPROCS(4)
		for i := 0; i < 8; i++ {
			go func() {
				runtime.LockOSThread()
				for {
					time.Sleep(time.Millisecond)
				}
			}()
		}
		time.Sleep(50 * time.Millisecond)
		os.Exit(n)
	}
	os.Exit(m.Run())
}

func start(t *testing.T, cfg collector.Config) (collector.Collector, *testutil.Capture) {
	t.Helper()
	testutil.RequireBPF(t)
	sink := testutil.NewCapture()
	c, err := collector.New(kexit.Name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background(), sink); err != nil {
		c.Close()
		t.Fatalf("starting: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, sink
}

func waitExit(t *testing.T, sink *testutil.Capture, pid int) *event.Exit {
	t.Helper()
	ev, ok := sink.WaitFor(5*time.Second, func(ev event.Event) bool { return ev.Hdr().PID == uint32(pid) })
	if !ok {
		t.Fatalf("no exit event for pid %d", pid)
	}
	return ev.(*event.Exit)
}

func TestExitCodeAndSignal(t *testing.T) {
	_, sink := start(t, collector.Config{})

	code := exec.Command("/bin/sh", "-c", "sleep 0.1; exit 7")
	began := time.Now()
	code.Run()
	took := time.Since(began)
	e := waitExit(t, sink, code.Process.Pid)
	if e.ExitCode != 7 || e.Signal != 0 || e.CoreDumped {
		t.Errorf("exit 7: got code %d signal %d core %v", e.ExitCode, e.Signal, e.CoreDumped)
	}
	if d := time.Duration(e.DurationNS); d < 100*time.Millisecond || d > took {
		t.Errorf("exit 7: duration %v, want 100ms to %v (the run as timed here)", d, took)
	}
	if e.PPID != uint32(os.Getpid()) || e.Comm != "sh" {
		t.Errorf("exit 7: header %+v", e.Header)
	}

	killed := exec.Command("/bin/sleep", "10")
	if err := killed.Start(); err != nil {
		t.Fatal(err)
	}
	killed.Process.Signal(syscall.SIGKILL)
	killed.Wait()
	e = waitExit(t, sink, killed.Process.Pid)
	if e.ExitCode != 0 || e.Signal != int32(syscall.SIGKILL) {
		t.Errorf("SIGKILL: got code %d signal %d", e.ExitCode, e.Signal)
	}
}

func TestExitOncePerProcess(t *testing.T) {
	_, sink := start(t, collector.Config{})

	child := exec.Command(os.Args[0])
	child.Env = append(os.Environ(), "KSCOPE_TEST_EXIT_CODE=5")
	child.Run()
	e := waitExit(t, sink, child.Process.Pid)
	if e.ExitCode != 5 {
		t.Errorf("exit code %d, want 5", e.ExitCode)
	}
	// Drain to a marker: the ring buffer is read in order, so once the
	// exit of a process started after the child's end is in, any second
	// event of the child would be too.
	marker := exec.Command("/bin/true")
	marker.Run()
	waitExit(t, sink, marker.Process.Pid)
	n := 0
	for _, ev := range sink.Events() {
		if ev.Hdr().PID == uint32(child.Process.Pid) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d exit events for one multi-threaded process, want 1", n)
	}
}

func TestExitFilters(t *testing.T) {
	c, sink := start(t, collector.Config{Filter: collector.Filter{Comm: "sh", Failed: true}})

	ok := exec.Command("/bin/sh", "-c", "exit 0")
	ok.Run()
	other := exec.Command("/bin/sleep", "0") // wrong comm
	other.Run()
	bad := exec.Command("/bin/sh", "-c", "exit 3")
	bad.Run()
	waitExit(t, sink, bad.Process.Pid)
	for _, ev := range sink.Events() {
		if e := ev.(*event.Exit); e.Comm != "sh" || (e.ExitCode == 0 && e.Signal == 0) {
			t.Errorf("filtered exit leaked: %+v", e)
		}
	}
	if st := c.Stats(); st.Filtered < 2 {
		t.Errorf("filtered = %d, want at least 2", st.Filtered)
	}
}

// TestExitPIDReuse: two processes with one pid end with two exit events
// that tell them apart by start time, the kernel's (as /proc has it), and
// each lifetime is its exit time less its start time, exactly.
func TestExitPIDReuse(t *testing.T) {
	_, sink := start(t, collector.Config{})
	var first, second *event.Exit
	for attempt := 0; attempt < 10 && second == nil; attempt++ {
		pid := testutil.FreePID(t)
		var ok bool
		if first, ok = runWithPID(t, sink, pid, nil); !ok {
			continue
		}
		second, _ = runWithPID(t, sink, pid, first) // nil: another fork took the pid in between
	}
	if second == nil {
		t.Fatal("no pid could be reused in 10 attempts: the host forks too fast")
	}
	if first.StartNS == 0 || second.StartNS <= first.StartNS {
		t.Errorf("start_ns %d then %d, want two, the second later", first.StartNS, second.StartNS)
	}
	if first.ParentStartNS != second.ParentStartNS {
		t.Errorf("parent_start_ns %d then %d, want one parent", first.ParentStartNS, second.ParentStartNS)
	}
	testutil.CheckStartNS(t, os.Getpid(), first.ParentStartNS)
	for _, e := range []*event.Exit{first, second} {
		if got := uint64(e.Time.Sub(e.StartTime)); got != e.DurationNS {
			t.Errorf("pid %d start %d: time - start_time = %d ns, duration_ns %d", e.PID, e.StartNS, got, e.DurationNS)
		}
		if e.PPID != uint32(os.Getpid()) {
			t.Errorf("pid %d: parent %d, want %d", e.PID, e.PPID, os.Getpid())
		}
	}
}

// runWithPID runs cat with pid, checks its start against /proc while it
// runs, ends it and returns its exit event (not after's). ok is false when
// another fork took the pid.
func runWithPID(t *testing.T, sink *testutil.Capture, pid int, after *event.Exit) (*event.Exit, bool) {
	t.Helper()
	cmd := exec.Command("/bin/cat")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	ok := testutil.StartWithPID(t, cmd, pid)
	stat, statErr := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	in.Close()
	cmd.Wait()
	if !ok {
		return nil, false
	}
	if statErr != nil {
		t.Fatal(statErr)
	}
	ev, found := sink.WaitFor(5*time.Second, func(ev event.Event) bool {
		e, isExit := ev.(*event.Exit)
		return isExit && e.PID == uint32(pid) && (after == nil || e.StartNS != after.StartNS)
	})
	if !found {
		t.Fatalf("no exit event for pid %d", pid)
	}
	e := ev.(*event.Exit)
	testutil.CheckStartNSStat(t, pid, string(stat), e.StartNS)
	return e, true
}
