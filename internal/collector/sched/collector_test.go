package sched_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/collector/sched"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/testutil"
)

func start(t testing.TB, cfg collector.Config) *sched.Collector {
	t.Helper()
	testutil.RequireBPF(t)
	c, err := collector.New(sched.Name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(context.Background(), testutil.NewCapture()); err != nil {
		t.Fatalf("start: %+v", err)
	}
	return c.(*sched.Collector)
}

func collect(t testing.TB, c *sched.Collector) *metrics.Emitter {
	t.Helper()
	var e metrics.Emitter
	if err := c.Collect(&e); err != nil {
		t.Fatalf("collect: %v", err)
	}
	described := map[*metrics.Desc]bool{}
	for _, d := range c.Describe() {
		described[d] = true
	}
	for _, s := range e.Samples {
		if !described[s.Desc] {
			t.Fatalf("sample of %s, which Describe lacks", s.Desc.Name)
		}
	}
	return &e
}

func value(e *metrics.Emitter, name string, match ...string) float64 {
	v, _ := e.Sum(name, match...)
	return v
}

// both runs f with the tp_btf programs and with the raw tracepoint fallback.
func both(t *testing.T, f func(t *testing.T)) {
	t.Run("tp_btf", f)
	t.Run("raw", func(t *testing.T) {
		defer bpfx.ForceHook(sched.Name, bpfx.FeatRawTracepoint)()
		f(t)
	})
}

// futex(2) operations on a process-private word.
const (
	futexWaitPrivate = 0 | 128 // FUTEX_WAIT | FUTEX_PRIVATE_FLAG
	futexWakePrivate = 1 | 128 // FUTEX_WAKE | FUTEX_PRIVATE_FLAG
)

func futex(addr *uint32, op int, val uint32) (int, error) {
	r, _, errno := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), uintptr(op), uintptr(val), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// abort ends every waitFor on a word.
const abort = ^uint32(0)

// waitFor sleeps in FUTEX_WAIT until *addr == want, or abort.
func waitFor(addr *uint32, want uint32) {
	for {
		v := atomic.LoadUint32(addr)
		if v == want || v == abort {
			return
		}
		futex(addr, futexWaitPrivate, v)
	}
}

// asleepOn reports whether thread tid is blocked in a futex call on addr:
// /proc/PID/task/TID/syscall shows the call of a task that is off its CPU,
// "running" otherwise.
func asleepOn(tid int, addr *uint32) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/syscall", tid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) > 1 && f[0] == strconv.Itoa(unix.SYS_FUTEX) && f[1] == fmt.Sprintf("%#x", uintptr(unsafe.Pointer(addr)))
}

// wake sets *addr to v and wakes thread tid, once it sleeps on addr. It
// reports whether it woke the thread: not when a signal took the thread
// out of its wait meanwhile, which then sees v without sleeping again. It
// gives up at deadline.
func wake(tid int, addr *uint32, v uint32, deadline time.Time) (bool, error) {
	for !asleepOn(tid, addr) {
		if time.Now().After(deadline) {
			return false, fmt.Errorf("thread %d never slept on its futex", tid)
		}
		time.Sleep(10 * time.Microsecond)
	}
	atomic.StoreUint32(addr, v)
	n, err := futex(addr, futexWakePrivate, 1)
	if err != nil {
		return false, fmt.Errorf("FUTEX_WAKE: %w", err)
	}
	return n == 1, nil
}

// pingPong runs n rounds between two threads through two futex words, and
// returns how many times one woke the other from sleep. Each side wakes
// the other only once it sleeps, so that is 2n unless signals interfered:
// as many wakeups of a sleeping thread, waits measured and voluntary
// context switches at least.
func pingPong(t *testing.T, n int) int {
	t.Helper()
	var ping, pong uint32
	var woken atomic.Int64
	deadline := time.Now().Add(60 * time.Second)
	tids := [2]chan int{make(chan int, 1), make(chan int, 1)} // the server's, the client's
	errs := make(chan error, 2)
	side := func(me, peer *uint32, first bool) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		mine, theirs := tids[0], tids[1]
		if !first {
			mine, theirs = theirs, mine
		}
		mine <- unix.Gettid()
		other := <-theirs
		for i := uint32(1); i <= uint32(n); i++ {
			if !first { // the client pings first
				ok, err := wake(other, peer, i, deadline)
				if err != nil {
					errs <- err
					return
				}
				if ok {
					woken.Add(1)
				}
			}
			waitFor(me, i)
			if first { // the server answers
				ok, err := wake(other, peer, i, deadline)
				if err != nil {
					errs <- err
					return
				}
				if ok {
					woken.Add(1)
				}
			}
		}
		errs <- nil
	}
	go side(&ping, &pong, true)  // server: waits for ping i, answers pong i
	go side(&pong, &ping, false) // client: pings i, waits for pong i
	for range 2 {
		if err := <-errs; err != nil {
			// The other side may wait forever now: end it.
			atomic.StoreUint32(&ping, abort)
			atomic.StoreUint32(&pong, abort)
			futex(&ping, futexWakePrivate, 1)
			futex(&pong, futexWakePrivate, 1)
			t.Fatal(err)
		}
	}
	w := int(woken.Load())
	t.Logf("%d rounds, %d wakeups of a sleeping thread", n, w)
	if w < n {
		t.Fatalf("only %d of %d wakeups found the thread asleep", w, 2*n)
	}
	return w
}

// settle lets the workload's last threads get their CPU.
func settle() { time.Sleep(20 * time.Millisecond) }

func histCount(e *metrics.Emitter, match ...string) float64 {
	return value(e, "kscope_sched_runqueue_latency_seconds", match...)
}

// Global counters can not be matched exactly (the whole machine adds to
// them), so the workload's own share is a lower bound: w wakeups of a
// sleeping thread (2 per round of ping-pong) are w wakeups, w waits
// measured after a wakeup and w voluntary switches at least.
func TestPingPong(t *testing.T) {
	both(t, func(t *testing.T) {
		c := start(t, collector.Config{})
		before := collect(t, c)
		w := float64(pingPong(t, 300))
		settle()
		after := collect(t, c)
		for _, tc := range []struct {
			what  string
			delta float64
		}{
			{"waits measured", histCount(after) - histCount(before)},
			{"waits after a wakeup", histCount(after, "reason", "wakeup") - histCount(before, "reason", "wakeup")},
			{"context switches", value(after, "kscope_sched_context_switches_total") - value(before, "kscope_sched_context_switches_total")},
			{"voluntary switches", value(after, "kscope_sched_context_switches_total", "kind", "voluntary") -
				value(before, "kscope_sched_context_switches_total", "kind", "voluntary")},
			{"wakeups", value(after, "kscope_sched_wakeups_total", "kind", "wakeup") - value(before, "kscope_sched_wakeups_total", "kind", "wakeup")},
		} {
			t.Logf("%s grew by %v", tc.what, tc.delta)
			if tc.delta < w {
				t.Errorf("%s grew by %v, want at least %v", tc.what, tc.delta, w)
			}
		}
		// Every CPU that switched has its series, labelled by number.
		ncpu := runtime.NumCPU()
		for _, s := range after.Find("kscope_sched_context_switches_total") {
			if cpu, err := strconv.Atoi(s.Label("cpu")); err != nil || cpu < 0 {
				t.Errorf("cpu label %q", s.Label("cpu"))
			}
		}
		if n := len(after.Find("kscope_sched_context_switches_total", "kind", "voluntary")); n < 1 || n > ncpu {
			t.Errorf("%d CPUs with voluntary switches, on %d CPUs", n, ncpu)
		}
		var sum float64
		for _, s := range after.Find("kscope_sched_runqueue_latency_seconds") {
			sum += s.Hist.Sum
			if len(s.Hist.Bounds) != metrics.LatencyHi-metrics.LatencyLo+1 {
				t.Errorf("%d buckets", len(s.Hist.Bounds))
			}
		}
		if sum <= 0 {
			t.Errorf("latency sum %v", sum)
		}
		// A task storage lookup that would recurse on a CPU fails: rare.
		if v := value(after, "kscope_sched_dropped_total"); v != 0 {
			t.Logf("%v waits dropped", v)
		}
	})
}

// cpus returns two CPUs this process may run on, or skips.
func cpus(t *testing.T) (int, int) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	var ids []int
	for i := 0; i < 1024 && len(ids) < 2; i++ {
		if set.IsSet(i) {
			ids = append(ids, i)
		}
	}
	if len(ids) < 2 {
		testutil.Skip(t, "a second CPU", fmt.Errorf("affinity allows %v", ids))
	}
	return ids[0], ids[1]
}

// onCPU runs fn on a thread of its own pinned to cpu.
func onCPU(cpu int, fn func()) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // the thread ends with the goroutine
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			errc <- err
			return
		}
		fn()
		errc <- nil
	}()
	return <-errc
}

// A thread that moves between two CPUs m times migrates m times at least.
func TestMigrations(t *testing.T) {
	both(t, func(t *testing.T) {
		a, b := cpus(t)
		c := start(t, collector.Config{})
		before := value(collect(t, c), "kscope_sched_migrations_total")
		const m = 40
		err := onCPU(a, func() {
			for i := 0; i < m; i++ {
				var set unix.CPUSet
				set.Set([]int{b, a}[i%2])
				if err := unix.SchedSetaffinity(0, &set); err != nil {
					t.Error(err)
					return
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if d := value(collect(t, c), "kscope_sched_migrations_total") - before; d < m {
			t.Errorf("migrations grew by %v, want at least %d", d, m)
		}
	})
}

// busy runs n threads pinned to cpu, busy for d.
func busy(t *testing.T, cpu, n int, d time.Duration) {
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := onCPU(cpu, func() {
				for time.Now().Before(deadline) {
				}
			}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

// Two busy threads pinned to one CPU preempt each other: involuntary
// switches on that CPU, and waits after a preemption.
func TestPreemption(t *testing.T) {
	both(t, func(t *testing.T) {
		_, cpu := cpus(t)
		c := start(t, collector.Config{})
		label := strconv.Itoa(cpu)
		before := collect(t, c)
		busy(t, cpu, 2, 300*time.Millisecond)
		settle()
		after := collect(t, c)
		const least = 10
		if d := value(after, "kscope_sched_context_switches_total", "cpu", label, "kind", "involuntary") -
			value(before, "kscope_sched_context_switches_total", "cpu", label, "kind", "involuntary"); d < least {
			t.Errorf("involuntary switches on CPU %d grew by %v, want at least %d", cpu, d, least)
		}
		if d := histCount(after, "reason", "preempted") - histCount(before, "reason", "preempted"); d < least {
			t.Errorf("waits after preemption grew by %v, want at least %d", d, least)
		}
	})
}

// Each new process's first wait is measured as a wakeup_new.
func TestWakeupNew(t *testing.T) {
	both(t, func(t *testing.T) {
		c := start(t, collector.Config{})
		before := collect(t, c)
		const k = 5
		for range k {
			if err := exec.Command(os.Args[0], "-test.run=^$").Run(); err != nil {
				t.Fatal(err)
			}
		}
		settle()
		after := collect(t, c)
		if d := value(after, "kscope_sched_wakeups_total", "kind", "wakeup_new") -
			value(before, "kscope_sched_wakeups_total", "kind", "wakeup_new"); d < k {
			t.Errorf("wakeup_new grew by %v, want at least %d", d, k)
		}
		if d := histCount(after, "reason", "wakeup_new") - histCount(before, "reason", "wakeup_new"); d < k {
			t.Errorf("waits of new tasks grew by %v, want at least %d", d, k)
		}
	})
}

// Waits that can not be measured are counted: tasks without task storage,
// a full pid map in the fallback.
func TestDropped(t *testing.T) {
	t.Run("no_task_storage", func(t *testing.T) {
		sched.SetSkipStorage(true)
		defer sched.SetSkipStorage(false)
		c := start(t, collector.Config{})
		pingPong(t, 10) // threads that existed before Start
		if v := value(collect(t, c), "kscope_sched_dropped_total", "reason", "no_task_storage"); v == 0 {
			t.Error("no waits dropped for tasks without storage")
		}
	})
	t.Run("map_full", func(t *testing.T) {
		_, cpu := cpus(t)
		defer bpfx.ForceHook(sched.Name, bpfx.FeatRawTracepoint)()
		sched.SetMapSizes(map[string]uint32{sched.MapWaitsHash: 1})
		defer sched.SetMapSizes(nil)
		c := start(t, collector.Config{})
		busy(t, cpu, 3, 100*time.Millisecond) // two of them wait at any time
		if v := value(collect(t, c), "kscope_sched_dropped_total", "reason", "map_full"); v == 0 {
			t.Error("no waits dropped with a one-entry map")
		}
	})
}

// The latency slots of bpf/sched.bpf.c (as the compiled object carries
// them) agree with Go's and with the metric buckets.
func TestLayout(t *testing.T) {
	if lo, err := sched.ObjectLatLo(); err != nil || lo != uint32(sched.LatLo) {
		t.Errorf("the BPF object's lat_lo %d (%v), Go's latLo %d", lo, err, sched.LatLo)
	}
	if sched.LatLo != metrics.LatencyLo || sched.LatSlots != metrics.LatencyHi-metrics.LatencyLo+2 {
		t.Errorf("kernel latency slots %d from %d, want %d from %d", sched.LatSlots, sched.LatLo,
			metrics.LatencyHi-metrics.LatencyLo+2, metrics.LatencyLo)
	}
}

func TestCloseIdempotent(t *testing.T) {
	c := start(t, collector.Config{})
	collect(t, c)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	var e metrics.Emitter
	if err := c.Collect(&e); err == nil {
		t.Fatal("Collect after Close succeeded")
	}
}
