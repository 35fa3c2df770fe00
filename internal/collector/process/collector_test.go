package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/testutil"
)

// TestMain turns the test binary into a workload child on request:
// KSCOPE_TEST_PROCESS=exit:CODE[:THREADS], burn:MS, sleep, dfl:SIGNO.
func TestMain(m *testing.M) {
	if mode := os.Getenv("KSCOPE_TEST_PROCESS"); mode != "" {
		os.Exit(child(strings.Split(mode, ":")))
	}
	os.Exit(m.Run())
}

func child(args []string) int {
	arg := func(i int) int {
		if i >= len(args) {
			return 0
		}
		n, _ := strconv.Atoi(args[i])
		return n
	}
	switch args[0] {
	case "exit":
		// Threads that are still running when the process exits.
		for range arg(2) {
			go func() {
				runtime.LockOSThread()
				for {
					time.Sleep(time.Millisecond)
				}
			}()
		}
		time.Sleep(time.Duration(arg(3)) * time.Millisecond)
		return arg(1)
	case "burn":
		// Burn CPU until this process has used MS milliseconds of it.
		want := time.Duration(arg(1)) * time.Millisecond
		for x := 0; ; x++ {
			if x%100000 == 0 {
				var ru syscall.Rusage
				syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
				if time.Duration(ru.Utime.Nano()+ru.Stime.Nano()) >= want {
					return 0
				}
			}
		}
	case "sleep":
		time.Sleep(time.Minute)
	case "dfl":
		// Back to the kernel's default action for the signal, then wait for it.
		var sa [4]uint64 // sa_handler = SIG_DFL, flags, restorer, mask
		syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(arg(1)), uintptr(unsafe.Pointer(&sa)), 0, 8, 0, 0)
		os.Stdout.WriteString("ready\n")
		time.Sleep(time.Minute)
	}
	return 100
}

// testComm is the test binary's comm, as the kernel truncates it.
func testComm() string {
	b := filepath.Base(os.Args[0])
	return b[:min(len(b), 15)]
}

func command(mode string) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "KSCOPE_TEST_PROCESS="+mode)
	return cmd
}

func start(t testing.TB, cfg collector.Config, opts ...func(*Collector)) *Collector {
	t.Helper()
	testutil.RequireBPF(t)
	c, err := collector.New(Name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	pc := c.(*Collector)
	for _, o := range opts {
		o(pc)
	}
	if err := c.Start(context.Background(), nil); err != nil {
		c.Close()
		t.Fatalf("starting: %+v", err)
	}
	t.Cleanup(func() { c.Close() })
	return pc
}

func collect(t testing.TB, c *Collector) *metrics.Emitter {
	t.Helper()
	var e metrics.Emitter
	if err := c.Collect(&e); err != nil {
		t.Fatalf("collect: %v", err)
	}
	return &e
}

func value(e *metrics.Emitter, name string, match ...string) float64 {
	v, _ := e.Sum(name, match...)
	return v
}

func TestExitCodesAndSignals(t *testing.T) {
	c := start(t, collector.Config{})
	before := collect(t, c)

	// Exit code 3 once, 213 three times from processes with 8 threads
	// each (one series per process, not per thread), one killed by SIGUSR2.
	if err := command("exit:3").Run(); err == nil {
		t.Fatal("child exited 0")
	}
	for range 3 {
		command("exit:213:8:20").Run()
	}
	killed := command("dfl:12")
	out, _ := killed.StdoutPipe()
	if err := killed.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	out.Read(buf)
	killed.Process.Signal(syscall.SIGUSR2)
	killed.Wait()
	if ws := killed.ProcessState.Sys().(syscall.WaitStatus); ws.Signal() != syscall.SIGUSR2 {
		t.Fatalf("child ended with %v", ws)
	}

	after := collect(t, c)
	for _, tt := range []struct {
		code, signal string
		want         float64
	}{{"3", "", 1}, {"213", "", 3}, {"", "SIGUSR2", 1}} {
		got := value(after, "kscope_process_exits_total", "code", tt.code, "signal", tt.signal) -
			value(before, "kscope_process_exits_total", "code", tt.code, "signal", tt.signal)
		if got != tt.want {
			t.Errorf("exits{code=%q,signal=%q} went up by %v, want %v", tt.code, tt.signal, got, tt.want)
		}
	}
	for _, s := range after.Find("kscope_process_exits_total") {
		if (s.Label("code") == "") == (s.Label("signal") == "") {
			t.Errorf("exit series with both or neither of code and signal: %v", s.Values)
		}
	}
}

func TestForksExecsAndLifetime(t *testing.T) {
	c := start(t, collector.Config{})
	before := collect(t, c)
	for range 5 {
		command("exit:0").Run()
	}
	command("exit:0:8:300").Run() // lives 300 ms, with 8 more threads
	after := collect(t, c)

	delta := func(name string, match ...string) float64 {
		return value(after, name, match...) - value(before, name, match...)
	}
	if d := delta("kscope_process_execs_total"); d < 6 {
		t.Errorf("execs went up by %v, want at least 6", d)
	}
	if d := delta("kscope_process_forks_total", "kind", "process"); d < 6 {
		t.Errorf("process forks went up by %v, want at least 6", d)
	}
	if d := delta("kscope_process_forks_total", "kind", "thread"); d < 8 {
		t.Errorf("thread forks went up by %v, want at least 8", d)
	}
	// One more process lived at least 300 ms.
	long := func(e *metrics.Emitter) uint64 {
		h := e.Find("kscope_process_lifetime_seconds")[0].Hist
		var n uint64
		for i, b := range h.Bounds {
			if b > 0.3 {
				n += h.Counts[i]
			}
		}
		return n + h.Counts[len(h.Bounds)]
	}
	if long(after) < long(before)+1 {
		t.Errorf("no new lifetime above 300 ms: %d then %d", long(before), long(after))
	}
	if d := delta("kscope_process_lifetime_seconds"); d < 6 {
		t.Errorf("lifetime count went up by %v, want at least 6", d)
	}
}

func TestCPUTime(t *testing.T) {
	c := start(t, collector.Config{TopK: 100000})
	burn := command("burn:300")
	if err := burn.Run(); err != nil {
		t.Fatal(err)
	}
	used := burn.ProcessState.UserTime() + burn.ProcessState.SystemTime()
	pid := strconv.Itoa(burn.Process.Pid)

	// The child's last switch may come just after its parent woke up.
	var got float64
	for range 20 {
		e := collect(t, c)
		ss := e.Find("kscope_process_cpu_seconds_total", "pid", pid)
		if len(ss) == 1 {
			got = ss[0].Value
			if comm := ss[0].Label("comm"); comm != testComm() {
				t.Errorf("comm %q, want %q", comm, testComm())
			}
			if got >= used.Seconds()*0.9 {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("cpu seconds: traced %.4f, kernel's rusage %.4f", got, used.Seconds())
	if got < 0.25 || got > 0.6 {
		t.Errorf("cpu seconds %v, want about 0.3", got)
	}
	if d := got - used.Seconds(); d < -0.1*used.Seconds() || d > 0.1*used.Seconds()+0.02 {
		t.Errorf("cpu seconds %v, rusage says %v", got, used.Seconds())
	}

	// The ended process is reported by this Collect and the next, then
	// dropped.
	collect(t, c)
	e := collect(t, c)
	if ss := e.Find("kscope_process_cpu_seconds_total", "pid", pid); len(ss) != 0 {
		t.Errorf("ended process still reported after two collections: %v", ss)
	}
}

func TestCPUTimeOfRunningProcess(t *testing.T) {
	c := start(t, collector.Config{TopK: 100000})
	burn := command("burn:600000")
	if err := burn.Start(); err != nil {
		t.Fatal(err)
	}
	defer burn.Wait()
	defer burn.Process.Kill()
	pid := strconv.Itoa(burn.Process.Pid)
	onCPU := func() time.Duration {
		t.Helper()
		d, err := testutil.OnCPU(burn.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	var prev float64
	var prevLo, prevHi time.Duration
	for i := range 5 {
		// Let the burner run 20 ms more, by the scheduler's count.
		for want, deadline := onCPU()+20*time.Millisecond, time.Now().Add(time.Minute); onCPU() < want; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("read %d: the burner did not run 20 ms in a minute", i)
			}
		}
		lo := onCPU()
		ss := collect(t, c).Find("kscope_process_cpu_seconds_total", "pid", pid)
		hi := onCPU()
		if len(ss) != 1 {
			t.Fatalf("no series for the running burner")
		}
		if ss[0].Value <= prev {
			t.Errorf("read %d: counter %v after %v, though the burner ran 20 ms more", i, ss[0].Value, prev)
		}
		// The traced clock counts interrupt time the scheduler may leave
		// out: allow 5% and a millisecond. The process's start, before the
		// exec, may be counted apart: compare what each read adds.
		if got := ss[0].Value; got > (hi + hi/20 + time.Millisecond).Seconds() {
			t.Errorf("read %d: %v cpu seconds, the scheduler counted at most %v", i, got, hi)
		}
		if i > 0 {
			d, lo, hi := ss[0].Value-prev, lo-prevHi, hi-prevLo
			if d < (lo-time.Millisecond).Seconds() || d > (hi+hi/20+time.Millisecond).Seconds() {
				t.Errorf("read %d: cpu seconds grew by %v, the scheduler's count by %v to %v", i, d, lo, hi)
			}
		}
		prev, prevLo, prevHi = ss[0].Value, lo, hi
	}
}

// liveMatches waits for a quiet moment (no fork or exit counted between
// two collections) when the gauge equals the number of live processes in
// /proc, read between them. Tests of other packages fork and exit beside
// this one: when no such moment comes in ten seconds, /proc must still lie
// within what the gauge and the forks and exits counted meanwhile allow
// (give or take one process caught between its fork and its tracepoint).
func liveMatches(t *testing.T, c *Collector) {
	t.Helper()
	var last string
	inBounds := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		e1 := collect(t, c)
		alive, err := scanProc("/proc")
		if err != nil {
			t.Fatal(err)
		}
		e2 := collect(t, c)
		g1, g2 := value(e1, "kscope_processes"), value(e2, "kscope_processes")
		forks := value(e2, "kscope_process_forks_total", "kind", "process") - value(e1, "kscope_process_forks_total", "kind", "process")
		exits := value(e2, "kscope_process_exits_total") - value(e1, "kscope_process_exits_total")
		n := float64(len(alive))
		if forks == 0 && exits == 0 && g1 == g2 && g1 == n {
			return
		}
		inBounds = n >= g1-exits-1 && n <= g1+forks+1
		last = fmt.Sprintf("kscope_processes %v, then %v forks and %v exits; /proc has %v live processes", g1, forks, exits, n)
	}
	if !inBounds {
		t.Errorf("%s", last)
		return
	}
	t.Logf("no quiet moment in 10 s; last: %s", last)
}

func TestLiveProcesses(t *testing.T) {
	c := start(t, collector.Config{})
	liveMatches(t, c)

	// A storm: many processes, some with threads, exiting together.
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			command("exit:0:" + strconv.Itoa(i%4*3)).Run()
		}()
	}
	sleepers := make([]*exec.Cmd, 20)
	for i := range sleepers {
		sleepers[i] = command("sleep")
		if err := sleepers[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	before := value(collect(t, c), "kscope_processes")
	liveMatches(t, c)
	for _, s := range sleepers {
		s.Process.Kill()
		s.Wait()
	}
	after := value(collect(t, c), "kscope_processes")
	t.Logf("live processes: %v with 20 sleepers, %v without", before, after)
	liveMatches(t, c)
}

func TestTopK(t *testing.T) {
	c := start(t, collector.Config{TopK: 2})
	for range 4 {
		command("burn:20").Run()
	}
	e := collect(t, c)
	ss := e.Find("kscope_process_cpu_seconds_total")
	if len(ss) > 3 {
		t.Errorf("%d cpu series with K=2, want at most 3", len(ss))
	}
	other := e.Find("kscope_process_cpu_seconds_total", "pid", "other", "comm", "other")
	if len(other) != 1 || other[0].Value <= 0 {
		t.Errorf("no other series: %v", ss)
	}
	// other only grows.
	for range 3 {
		command("burn:10").Run()
		o := collect(t, c).Find("kscope_process_cpu_seconds_total", "pid", "other")
		if len(o) != 1 || o[0].Value < other[0].Value {
			t.Fatalf("other went from %v to %v", other[0].Value, o)
		}
		other = o
	}
}

func TestMapFullCounted(t *testing.T) {
	c := start(t, collector.Config{TopK: 100000}, func(c *Collector) { c.maxProcs = 4 })
	for range 8 {
		command("burn:10").Run()
	}
	e := collect(t, c)
	if st := c.Stats(); st.Lost == 0 {
		t.Errorf("a full map lost nothing: %+v", st)
	}
	if ss := e.Find("kscope_process_cpu_seconds_total"); len(ss) > 5 {
		t.Errorf("%d series from a 4-entry map", len(ss))
	}
	if v := value(e, "kscope_process_cpu_seconds_total", "pid", "other"); v <= 0 {
		t.Errorf("untracked CPU time not in other: %v", v)
	}
}

func TestDescribeCoversCollect(t *testing.T) {
	c := start(t, collector.Config{TopK: 3})
	command("exit:7").Run()
	e := collect(t, c)
	described := map[*metrics.Desc]bool{}
	for _, d := range c.Describe() {
		described[d] = true
	}
	names := map[string]bool{}
	for _, s := range e.Samples {
		if !described[s.Desc] {
			t.Errorf("sample of undescribed %s", s.Desc.Name)
		}
		names[s.Desc.Name] = true
	}
	for d := range described {
		if !names[d.Name] {
			t.Errorf("%s described but not collected", d.Name)
		}
	}
	var sb strings.Builder
	if err := metrics.WriteText(&sb, c.Describe(), e.Samples); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sb.String(), `kscope_process_exits_total{code="7",signal=""}`) {
		t.Errorf("exposition lacks the exit 7 series:\n%s", sb.String())
	}
}

func TestCloseIdempotent(t *testing.T) {
	c := start(t, collector.Config{})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	var e metrics.Emitter
	if err := c.Collect(&e); !errors.Is(err, ErrNotStarted) {
		t.Errorf("collect after close: %v", err)
	}
	unstarted, _ := collector.New(Name, collector.Config{})
	if err := unstarted.Close(); err != nil {
		t.Errorf("close before start: %v", err)
	}
}
