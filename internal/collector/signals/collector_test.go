package signals

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/testutil"
)

// TestMain turns the test binary into a child waiting for a signal:
// KSCOPE_TEST_SIGNALS=go (the Go runtime's handlers), dfl:SIGNO (the
// kernel's default action for SIGNO) or catch:SIGNO (a handler, then exit 0).
func TestMain(m *testing.M) {
	if mode := os.Getenv("KSCOPE_TEST_SIGNALS"); mode != "" {
		os.Exit(child(mode))
	}
	os.Exit(m.Run())
}

func child(mode string) int {
	name, arg, _ := strings.Cut(mode, ":")
	sig, _ := strconv.Atoi(arg)
	switch name {
	case "dfl":
		var sa [4]uint64 // sa_handler = SIG_DFL, flags, restorer, mask
		syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&sa)), 0, 8, 0, 0)
	case "catch":
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.Signal(sig))
		os.Stdout.WriteString("ready\n")
		<-ch
		return 0
	}
	os.Stdout.WriteString("ready\n")
	time.Sleep(time.Minute)
	return 100
}

// spawn starts a child in mode and waits until it is ready for signals.
func spawn(t *testing.T, mode string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "KSCOPE_TEST_SIGNALS="+mode)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Fatalf("child %s: %q", mode, line)
	}
	return cmd
}

// kill sends sig to cmd and waits for it to end.
func kill(t *testing.T, cmd *exec.Cmd, sig syscall.Signal) syscall.WaitStatus {
	t.Helper()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	return cmd.ProcessState.Sys().(syscall.WaitStatus)
}

// capture keeps copies of the signal events.
type capture struct {
	mu  sync.Mutex
	evs []event.Signal
}

func (c *capture) Emit(ev event.Event) {
	c.mu.Lock()
	c.evs = append(c.evs, *ev.(*event.Signal))
	c.mu.Unlock()
}

func (c *capture) Flush() {}

// of returns the events for target pid, waiting up to a second for the
// first.
func (c *capture) of(pid int) []event.Signal { return c.within(pid, time.Second) }

// within returns the events for target pid, waiting up to d for the first.
func (c *capture) within(pid int, d time.Duration) []event.Signal {
	var out []event.Signal
	for deadline := time.Now().Add(d); ; time.Sleep(10 * time.Millisecond) {
		c.mu.Lock()
		out = out[:0]
		for _, e := range c.evs {
			if e.PID == uint32(pid) {
				out = append(out, e)
			}
		}
		c.mu.Unlock()
		if len(out) > 0 || time.Now().After(deadline) {
			return out
		}
	}
}

func start(t testing.TB, cfg collector.Config, opts ...func(*Collector)) (*Collector, *capture) {
	t.Helper()
	testutil.RequireBPF(t)
	c, err := collector.New(Name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sc := c.(*Collector)
	for _, o := range opts {
		o(sc)
	}
	sink := &capture{}
	if err := c.Start(context.Background(), sink); err != nil {
		c.Close()
		t.Fatalf("starting: %+v", err)
	}
	t.Cleanup(func() { c.Close() })
	return sc, sink
}

func collect(t *testing.T, c *Collector) *metrics.Emitter {
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

func testComm() string {
	b := filepath.Base(os.Args[0])
	return b[:min(len(b), 15)]
}

func TestFatalSignals(t *testing.T) {
	c, sink := start(t, collector.Config{})
	before := collect(t, c)

	cases := []struct {
		mode string
		sig  syscall.Signal
	}{
		{"go", syscall.SIGKILL},
		{"dfl:15", syscall.SIGTERM},
		// The Go runtime catches SIGTERM, then raises it again to die of it:
		// the sender is still the test.
		{"go", syscall.SIGTERM},
		{"dfl:12", syscall.SIGUSR2},
		{"dfl:12", syscall.SIGUSR2},
		{"dfl:12", syscall.SIGUSR2},
	}
	for _, tt := range cases {
		cmd := spawn(t, tt.mode)
		if ws := kill(t, cmd, tt.sig); ws.Signal() != tt.sig {
			t.Fatalf("%s child killed with %v ended with %v", tt.mode, tt.sig, ws)
		}
		evs := sink.of(cmd.Process.Pid)
		if len(evs) != 1 {
			t.Errorf("%s child killed with %v: %d events, want 1: %+v", tt.mode, tt.sig, len(evs), evs)
			continue
		}
		e := evs[0]
		if e.Type != "signal" || e.Signo != int32(tt.sig) || e.Signal != event.SignalName(int32(tt.sig)) || !e.Fatal || e.CoreDumped ||
			e.Code != 0 /* SI_USER */ || e.SenderPID != uint32(os.Getpid()) || e.SenderComm != testComm() ||
			e.SenderUID != uint32(os.Getuid()) || e.Comm != testComm() || e.PPID != uint32(os.Getpid()) {
			t.Errorf("%s child killed with %v: %+v", tt.mode, tt.sig, e)
		}
	}

	// A caught signal is not fatal: the child handles it and exits 0.
	caught := spawn(t, "catch:10")
	if ws := kill(t, caught, syscall.SIGUSR1); ws.Signaled() || ws.ExitStatus() != 0 {
		t.Fatalf("SIGUSR1 catcher ended with %v", ws)
	}
	if evs := sink.within(caught.Process.Pid, 100*time.Millisecond); len(evs) != 0 {
		t.Errorf("events for a caught signal: %+v", evs)
	}

	after := collect(t, c)
	delta := func(name, sig string) float64 {
		return value(after, name, "signal", sig) - value(before, name, "signal", sig)
	}
	for _, tt := range []struct {
		name, sig string
		min, max  float64
	}{
		{"kscope_signals_total", "SIGUSR2", 3, 3},
		{"kscope_fatal_signals_total", "SIGUSR2", 3, 3},
		{"kscope_signals_total", "SIGUSR1", 1, 1e9},
		{"kscope_fatal_signals_total", "SIGKILL", 1, 1e9},
		{"kscope_fatal_signals_total", "SIGTERM", 2, 1e9},
		{"kscope_signals_total", "SIGTERM", 3, 1e9}, // two sent, one raised again
	} {
		if d := delta(tt.name, tt.sig); d < tt.min || d > tt.max {
			t.Errorf("%s{signal=%q} went up by %v, want %v..%v", tt.name, tt.sig, d, tt.min, tt.max)
		}
	}
	if st := c.Stats(); st.Malformed != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestFilterPID(t *testing.T) {
	other := spawn(t, "dfl:12")
	wanted := spawn(t, "dfl:12")
	c, sink := start(t, collector.Config{Filter: collector.Filter{PID: uint32(wanted.Process.Pid)}})
	kill(t, other, syscall.SIGUSR2)
	kill(t, wanted, syscall.SIGUSR2)
	if evs := sink.of(wanted.Process.Pid); len(evs) != 1 {
		t.Errorf("%d events for the wanted pid", len(evs))
	}
	sink.mu.Lock()
	for _, e := range sink.evs {
		if e.PID != uint32(wanted.Process.Pid) {
			t.Errorf("filtered event leaked: %+v", e)
		}
	}
	sink.mu.Unlock()
	if st := c.Stats(); st.Filtered < 1 {
		t.Errorf("filtered = %d, want at least 1", st.Filtered)
	}
	// The counters count every signal.
	if v := value(collect(t, c), "kscope_fatal_signals_total", "signal", "SIGUSR2"); v < 2 {
		t.Errorf("fatal SIGUSR2 = %v, want 2", v)
	}
}

func TestEventRateLimited(t *testing.T) {
	const n = 5
	kids := make([]*exec.Cmd, n)
	for i := range kids {
		kids[i] = spawn(t, "dfl:12")
	}
	c, sink := start(t, collector.Config{}, func(c *Collector) { c.maxPerSecond = 1 })
	for _, k := range kids {
		kill(t, k, syscall.SIGUSR2)
	}
	got := 0
	for i, k := range kids {
		wait := 10 * time.Millisecond
		if i == 0 {
			wait = 500 * time.Millisecond // the first one is likely sent
		}
		got += len(sink.within(k.Process.Pid, wait))
	}
	// One per second: the kills take well under a second, so at most two
	// windows (another process killed meanwhile may take their place).
	if got > 2 {
		t.Errorf("%d events at one per second", got)
	}
	if st := c.Stats(); st.Lost < uint64(n-got) {
		t.Errorf("lost = %d, want at least %d", st.Lost, n-got)
	}
	if v := value(collect(t, c), "kscope_fatal_signals_total", "signal", "SIGUSR2"); v < n {
		t.Errorf("fatal SIGUSR2 = %v, want %d: counters are not rate-limited", v, n)
	}
}

func TestDescribeCoversCollect(t *testing.T) {
	c, _ := start(t, collector.Config{})
	kill(t, spawn(t, "dfl:12"), syscall.SIGUSR2)
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
	// Bounded: one series per signal number at most.
	if n := len(e.Find("kscope_signals_total")); n > nsig+1 {
		t.Errorf("%d series", n)
	}
}

func TestCloseIdempotent(t *testing.T) {
	c, _ := start(t, collector.Config{})
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
