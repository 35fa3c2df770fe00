package syscalls_test

import (
	"context"
	"fmt"
	"math"
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

	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/collector/dispatch"
	"github.com/kscope/kscope/internal/collector/syscalls"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/syscallnames"
	"github.com/kscope/kscope/internal/testutil"
)

// childEnv makes the test binary a workload: "MODE N [THREADS]".
const childEnv = "KSCOPE_SYSCALLS_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(child(strings.Fields(mode)))
	}
	if comm := os.Getenv(holdEnv); comm != "" {
		os.Exit(benchHold(comm))
	}
	os.Exit(m.Run())
}

// child runs a workload with raw syscalls only, so the Go runtime adds none
// of the calls it counts.
func child(args []string) int {
	n, _ := strconv.Atoi(args[1])
	switch args[0] {
	case "getppid":
		getppid(n)
	case "alternate": // evicts the cache slot on every call
		for i := 0; i < n; i++ {
			syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
			syscall.RawSyscall(sysNoImpl, 0, 0, 0)
		}
	case "beyond": // numbers past the slots: ENOSYS
		for i := 0; i < n; i++ {
			for _, nr := range beyond {
				syscall.RawSyscall(nr, 0, 0, 0)
			}
		}
	case "fchdir": // EBADF
		for i := 0; i < n; i++ {
			syscall.RawSyscall(syscall.SYS_FCHDIR, ^uintptr(0), 0, 0)
		}
	case "sleep": // 2 ms each
		// A signal (the Go runtime's own preemption signal, on a loaded
		// host) would end a sleep early and the kernel would finish it as
		// restart_syscall: this thread takes none while it sleeps.
		runtime.LockOSThread()
		all := ^uint64(0)
		if _, _, errno := syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, 0 /* SIG_BLOCK */, uintptr(unsafe.Pointer(&all)), 0, 8, 0, 0); errno != 0 {
			fmt.Fprintln(os.Stderr, "blocking signals:", errno)
			return 1
		}
		ts := unix.Timespec{Nsec: 2e6}
		for i := 0; i < n; i++ {
			syscall.Syscall6(unix.SYS_CLOCK_NANOSLEEP, unix.CLOCK_MONOTONIC, 0, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		}
	case "threads": // n getppid calls over args[2] threads, which then end
		threads, _ := strconv.Atoi(args[2])
		onThreads(threads, func(i int) {
			share := n / threads
			if i == 0 {
				share += n % threads
			}
			getppid(share)
		})
	case "distinct": // one call each of n distinct syscalls (n <= len(distinct))
		for _, nr := range distinct[:n] {
			syscall.RawSyscall(nr, 0, 0, 0)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown child mode", args)
		return 2
	}
	return 0
}

// beyond are syscall numbers no architecture has, at and past the number
// of the dispatcher's every-syscall slot.
var beyond = []uintptr{syscalls.NrSlots, syscalls.NrSlots + 1, 1000}

func getppid(n int) {
	for i := 0; i < n; i++ {
		syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
	}
}

// onThreads runs fn(i) on n distinct OS threads at once, which end after.
func onThreads(n int, fn func(i int)) {
	var ready, done sync.WaitGroup
	ready.Add(n)
	done.Add(n)
	start := make(chan struct{})
	tids := make([]int, n)
	for i := 0; i < n; i++ {
		go func() {
			defer done.Done()
			// Never unlocked: the thread ends with the goroutine.
			runtime.LockOSThread()
			tids[i] = unix.Gettid()
			ready.Done()
			<-start
			fn(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	// The runtime ends a locked thread after its goroutine returns: wait
	// until the kernel has reaped each one (its exit has run by then), so
	// a read that follows sees no thread in the middle of exiting.
	for _, tid := range tids {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if _, err := os.Stat("/proc/self/task/" + strconv.Itoa(tid)); os.IsNotExist(err) {
				break
			}
		}
	}
}

// runChild runs the test binary as a workload and returns its pid once it
// has exited and been reaped.
func runChild(t *testing.T, mode string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child %q: %v", mode, err)
	}
	return strconv.Itoa(cmd.Process.Pid)
}

// testComm is the comm of this test binary and of the children it runs
// (as the kernel truncates it).
func testComm() string {
	comm := filepath.Base(os.Args[0])
	return comm[:min(len(comm), 15)]
}

func start(t testing.TB, cfg collector.Config) *syscalls.Collector {
	t.Helper()
	testutil.RequireBPF(t)
	c, err := collector.New(syscalls.Name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(context.Background(), testutil.NewCapture()); err != nil {
		t.Fatalf("start: %+v", err)
	}
	if got := c.(*syscalls.Collector).Variant(); wantVariant != "" && got != wantVariant {
		t.Fatalf("variant %s, want %s", got, wantVariant)
	}
	return c.(*syscalls.Collector)
}

func collect(t *testing.T, c *syscalls.Collector) *metrics.Emitter {
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

// both runs f with the task storage programs in the shared dispatcher's
// slots, attached on their own, and with the fallback.
func both(t *testing.T, f func(t *testing.T)) {
	for _, v := range []string{syscalls.VariantDispatch, syscalls.VariantTaskStorage, syscalls.VariantHash} {
		t.Run(v, func(t *testing.T) {
			if v != syscalls.VariantDispatch {
				defer bpfx.ForceHook(syscalls.Name, v)()
			}
			wantVariant = v
			defer func() { wantVariant = "" }()
			f(t)
		})
	}
}

// wantVariant is the variant the running test wants Start to choose; ""
// takes any.
var wantVariant string

// Calls of numbers past the slots are counted once each, in "other", with
// their ENOSYS: number 512, the dispatcher's every-syscall slot, is not
// dispatched to it again.
func TestBeyondSlots(t *testing.T) {
	both(t, func(t *testing.T) {
		c := start(t, collector.Config{TopK: 1 << 20, Filter: collector.Filter{Comm: testComm()}})
		const n = 1000
		pid := runChild(t, fmt.Sprintf("beyond %d", n))
		e := collect(t, c)
		other := syscallnames.Name(syscalls.NrSlots)
		want := float64(n * len(beyond))
		if got := value(e, "kscope_process_syscalls_total", "pid", pid, "syscall", other); got != want {
			t.Errorf("kscope_process_syscalls_total{pid=%s,syscall=%s} = %v, want %v", pid, other, got, want)
		}
		if got := value(e, "kscope_process_syscall_errors_total", "pid", pid, "syscall", other); got != want {
			t.Errorf("kscope_process_syscall_errors_total{pid=%s,syscall=%s} = %v, want %v", pid, other, got, want)
		}
	})
}

// A process that made exactly N getppid calls and exited is counted
// exactly, until at least the next Collect; the global counter by at least
// N (other processes may call getppid too).
func TestExactCountOfExitedProcess(t *testing.T) {
	both(t, func(t *testing.T) {
		// Every pid and syscall pair kept, however little it calls; only
		// this test binary's processes counted, so that the host's other
		// exits cannot push the child out of the exited processes kept.
		c := start(t, collector.Config{TopK: 1 << 20, Filter: collector.Filter{Comm: testComm()}})
		before := value(collect(t, c), "kscope_syscalls_total", "syscall", "getppid")
		const n = 12345
		pid := runChild(t, fmt.Sprintf("getppid %d", n))

		e := collect(t, c)
		got := value(e, "kscope_process_syscalls_total", "pid", pid, "syscall", "getppid")
		if got != n {
			t.Errorf("kscope_process_syscalls_total{pid=%s,syscall=getppid} = %v, want %d", pid, got, n)
		}
		if s := e.Find("kscope_process_syscalls_total", "pid", pid, "syscall", "getppid"); len(s) == 1 {
			want := filepath.Base(os.Args[0])
			want = want[:min(len(want), 15)]
			if comm := s[0].Label("comm"); comm != want {
				t.Errorf("comm = %q, want %q", comm, want)
			}
		}
		if got := value(e, "kscope_process_syscall_errors_total", "pid", pid, "syscall", "getppid"); got != 0 {
			t.Errorf("getppid errors = %v, want 0", got)
		}
		if d := value(e, "kscope_syscalls_total", "syscall", "getppid") - before; d < n {
			t.Errorf("kscope_syscalls_total{syscall=getppid} grew by %v, want at least %d", d, n)
		}
		// exit_group never returns, but is counted.
		if got := value(e, "kscope_process_syscalls_total", "pid", pid, "syscall", "exit_group"); got != 1 {
			t.Errorf("exit_group calls = %v, want 1", got)
		}

		// The next Collect still has it.
		if got := value(collect(t, c), "kscope_process_syscalls_total", "pid", pid, "syscall", "getppid"); got != n {
			t.Errorf("second Collect: %v, want %d", got, n)
		}
	})
}

// Exited processes are forgotten after the retention time.
func TestExitedRetention(t *testing.T) {
	// Only this test binary's processes: on a busy host the child's ten
	// calls would not make the top K.
	c := start(t, collector.Config{Filter: collector.Filter{Comm: testComm()}})
	now := time.Now()
	syscalls.SetClock(c, func() time.Time { return now })
	pid := runChild(t, "getppid 10")
	if got := value(collect(t, c), "kscope_process_syscalls_total", "pid", pid, "syscall", "getppid"); got != 10 {
		t.Fatalf("got %v, want 10", got)
	}
	now = now.Add(syscalls.ExitedRetention / 2)
	if got := value(collect(t, c), "kscope_process_syscalls_total", "pid", pid, "syscall", "getppid"); got != 10 {
		t.Fatalf("within retention: got %v, want 10", got)
	}
	now = now.Add(syscalls.ExitedRetention)
	if s := collect(t, c).Find("kscope_process_syscalls_total", "pid", pid); len(s) != 0 {
		t.Fatalf("after retention: %d series of pid %s remain", len(s), pid)
	}
}

// A live process's counts are exact too: the iterator reads the counts its
// threads have cached and not flushed. Unbounded top K: on a busy host
// this process might not make it.
func TestExactCountOfLiveProcess(t *testing.T) {
	both(t, func(t *testing.T) {
		c := start(t, collector.Config{TopK: 1 << 20})
		pid := strconv.Itoa(os.Getpid())
		before := value(collect(t, c), "kscope_process_syscalls_total", "pid", pid, "syscall", "getppid")
		const n = 5000
		onThreads(1, func(int) { getppid(n) }) // ends its thread
		onThreads(2, func(int) { getppid(n) })
		// And one on a thread that lives on.
		done := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			getppid(n)
			close(done)
		}()
		<-done
		got := value(collect(t, c), "kscope_process_syscalls_total", "pid", pid, "syscall", "getppid") - before
		if got != 4*n {
			t.Errorf("this process's getppid calls grew by %v, want %d", got, 4*n)
		}
	})
}

// Calls that evict each other from the per-task cache, errors, and threads
// that end: all counted exactly. Every process gets its series (an
// unbounded top K): on a busy host the child's calls might not make it.
func TestCacheEvictionAndErrors(t *testing.T) {
	both(t, func(t *testing.T) {
		c := start(t, collector.Config{TopK: 1 << 20})
		before := value(collect(t, c), "kscope_syscall_errors_total", "syscall", "create_module", "errno", "ENOSYS")
		const n = 3000
		pid := runChild(t, fmt.Sprintf("alternate %d", n))
		tpid := runChild(t, fmt.Sprintf("threads %d 7", n))
		e := collect(t, c)
		for _, tc := range []struct {
			name, pid, sc string
			want          float64
		}{
			{"kscope_process_syscalls_total", pid, "getppid", n},
			{"kscope_process_syscalls_total", pid, "create_module", n},
			{"kscope_process_syscall_errors_total", pid, "create_module", n},
			{"kscope_process_syscall_errors_total", pid, "getppid", 0},
			{"kscope_process_syscalls_total", tpid, "getppid", n},
		} {
			if got := value(e, tc.name, "pid", tc.pid, "syscall", tc.sc); got != tc.want {
				t.Errorf("%s{pid=%s,syscall=%s} = %v, want %v", tc.name, tc.pid, tc.sc, got, tc.want)
			}
		}
		if d := value(e, "kscope_syscall_errors_total", "syscall", "create_module", "errno", "ENOSYS") - before; d < n {
			t.Errorf("create_module ENOSYS grew by %v, want at least %d", d, n)
		}
	})
}

// A child's failing calls are counted by errno; every process gets its
// series (unbounded top K), so the child's are there on a busy host too.
func TestErrno(t *testing.T) {
	c := start(t, collector.Config{TopK: 1 << 20})
	before := value(collect(t, c), "kscope_syscall_errors_total", "syscall", "fchdir", "errno", "EBADF")
	const n = 777
	pid := runChild(t, fmt.Sprintf("fchdir %d", n))
	e := collect(t, c)
	if got := value(e, "kscope_process_syscall_errors_total", "pid", pid, "syscall", "fchdir"); got != n {
		t.Errorf("fchdir errors of the child = %v, want %d", got, n)
	}
	if d := value(e, "kscope_syscall_errors_total", "syscall", "fchdir", "errno", "EBADF") - before; d < n {
		t.Errorf("kscope_syscall_errors_total{fchdir,EBADF} grew by %v, want at least %d", d, n)
	}
}

// Durations land in the right buckets: 2 ms sleeps are above 2 ms. Only
// the child's calls are counted (by its comm, which no other process of
// the host has), so the histogram holds exactly its sleeps, and their sum
// is at most the time the child ran.
func TestDuration(t *testing.T) {
	c := start(t, collector.Config{Filter: collector.Filter{Comm: testComm()}})
	const n = 20
	began := time.Now()
	runChild(t, fmt.Sprintf("sleep %d", n))
	took := time.Since(began)
	s := collect(t, c).Find("kscope_syscall_duration_seconds", "syscall", "clock_nanosleep")
	if len(s) != 1 {
		t.Fatalf("%d clock_nanosleep histograms", len(s))
	}
	h := s[0].Hist
	var count, above uint64
	for i, le := range h.Bounds {
		count += h.Counts[i]
		if le > 0.002 {
			above += h.Counts[i]
		}
	}
	count += h.Counts[len(h.Bounds)]
	above += h.Counts[len(h.Bounds)]
	if count != n || above != n {
		t.Errorf("%d clock_nanosleep calls, %d above 2 ms; want %d and %d", count, above, n, n)
	}
	if h.Sum < n*0.002 || h.Sum > took.Seconds() {
		t.Errorf("clock_nanosleep duration sum %vs, want %vs to %vs", h.Sum, n*0.002, took.Seconds())
	}
	if math.IsNaN(h.Sum) || len(h.Bounds) != metrics.LatencyHi-metrics.LatencyLo+1 {
		t.Errorf("histogram %+v", h)
	}
}

// With K=2 the per-process families have at most two series and "other",
// and other holds the rest.
func TestTopK(t *testing.T) {
	c := start(t, collector.Config{TopK: 2})
	collect(t, c)
	for i := 0; i < 4; i++ {
		runChild(t, "getppid 100")
	}
	e := collect(t, c)
	for _, name := range []string{"kscope_process_syscalls_total", "kscope_process_syscall_errors_total"} {
		ss := e.Find(name)
		if len(ss) != 3 {
			t.Errorf("%s: %d series, want 2 and other", name, len(ss))
		}
		if len(e.Find(name, "pid", "other", "comm", "other", "syscall", "other")) != 1 {
			t.Errorf("%s: no other series", name)
		}
	}
	if v := value(e, "kscope_process_syscalls_total", "pid", "other"); v < 100 {
		t.Errorf("other = %v, want at least 100", v)
	}
}

// A full per-process or errno map is counted, not silent.
func TestMapFull(t *testing.T) {
	both(t, func(t *testing.T) {
		syscalls.SetMapSizes(map[string]uint32{syscalls.MapProcs: 2, syscalls.MapErrnos: 1})
		defer syscalls.SetMapSizes(nil)
		c := start(t, collector.Config{})
		runChild(t, "distinct 12")
		runChild(t, "alternate 10")
		e := collect(t, c)
		for _, reason := range []string{"process_map_full", "errno_map_full"} {
			if v := value(e, "kscope_syscalls_dropped_total", "reason", reason); v == 0 {
				t.Errorf("kscope_syscalls_dropped_total{reason=%s} = 0", reason)
			}
		}
		if v := value(e, "kscope_syscalls_dropped_total", "reason", "no_task_storage"); v != 0 {
			t.Errorf("no_task_storage drops = %v", v)
		}
		if st := c.Stats(); st.Lost == 0 {
			t.Errorf("Stats().Lost = 0")
		}
	})
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

// CountsOnly counts exactly with sys_exit unhooked: no durations, no
// errors.
func TestCountsOnly(t *testing.T) {
	c := start(t, collector.Config{TopK: 1 << 20, CountsOnly: true})
	for name := range c.Collection().Programs {
		if strings.Contains(name, "exit") && !strings.Contains(name, "process_exit") {
			t.Errorf("program %s loaded in counts-only mode", name)
		}
	}
	if enter, exit := dispatch.Attached(); !enter || exit {
		t.Errorf("dispatcher attached to sys_enter: %v, sys_exit: %v; want only sys_enter", enter, exit)
	}
	const n = 4321
	pid := runChild(t, fmt.Sprintf("getppid %d", n))
	e := collect(t, c)
	if got := value(e, "kscope_process_syscalls_total", "pid", pid, "syscall", "getppid"); got != n {
		t.Errorf("kscope_process_syscalls_total{pid=%s,syscall=getppid} = %v, want %d", pid, got, n)
	}
	if d := value(e, "kscope_syscall_duration_seconds", "syscall", "getppid"); d != 0 {
		t.Errorf("%v getppid durations measured in counts-only mode", d)
	}
}

// Threads move their cached counts to the per-process hash when another
// syscall evicts them from their slot, and when they exit, perhaps after
// Collect read the hash and before its iterator reached them: every read
// still has this process's exact total.
func TestExactWhileThreadsExit(t *testing.T) {
	both(t, func(t *testing.T) {
		// This test binary's calls only: other processes' moves do not
		// make it read again.
		c := start(t, collector.Config{TopK: 1 << 20, Filter: collector.Filter{Comm: testComm()}})
		pid := strconv.Itoa(os.Getpid())
		read := func() float64 {
			return value(collect(t, c), "kscope_process_syscalls_total", "pid", pid, "syscall", sysQuietName)
		}
		base := read()
		// sysQuiet shares its cache slot with rt_sigpending: each thread's
		// sysQuiet counts stay in its cache until its rt_sigpending call
		// evicts them, which the first read of a round has its threads
		// make after it read the hash and before its iterator runs. Then
		// the threads end while more reads run: their exit flushes move
		// what they cached since.
		const rounds, threads, calls = 50, 8, 100
		for r := 1; r <= rounds; r++ {
			var called sync.WaitGroup
			called.Add(threads)
			release := make(chan struct{})
			evicted := make(chan struct{}, threads)
			end := make(chan struct{})
			tids := make([]int, threads)
			for i := range threads {
				go func() {
					// Never unlocked: the thread ends with the goroutine.
					runtime.LockOSThread()
					tids[i] = unix.Gettid()
					for range calls {
						syscall.RawSyscall(sysQuiet, 0, 0, 0)
					}
					called.Done()
					<-release
					var set uint64
					syscall.RawSyscall(syscall.SYS_RT_SIGPENDING, uintptr(unsafe.Pointer(&set)), unsafe.Sizeof(set), 0)
					evicted <- struct{}{}
					<-end
				}()
			}
			called.Wait()
			want := float64(r * threads * calls)
			var once sync.Once
			syscalls.SetAfterHashRead(c, func() {
				once.Do(func() {
					close(release)
					for range threads {
						<-evicted
					}
				})
			})
			// Read while the threads evict, then while they end, and once
			// more after.
			if got := read() - base; got != want {
				t.Fatalf("round %d: %s calls %v while threads evicted them, want %v", r, sysQuietName, got, want)
			}
			syscalls.SetAfterHashRead(c, nil)
			close(end)
			for more := true; more; {
				more = anyThread(tids)
				if got := read() - base; got != want {
					t.Fatalf("round %d: %s calls %v while threads end, want %v", r, sysQuietName, got, want)
				}
			}
		}
		t.Logf("reads that overlapped moves %d times in a row: %d", 8, syscalls.Overlapped(c))
	})
}

// anyThread says whether any of this process's threads tids still exists,
// but for the main thread, which the runtime never ends.
func anyThread(tids []int) bool {
	for _, tid := range tids {
		if tid == os.Getpid() {
			continue
		}
		if _, err := os.Stat("/proc/self/task/" + strconv.Itoa(tid)); err == nil {
			return true
		}
	}
	return false
}

// With MinLive 2, a process that ended before two Collects saw it alive
// never gets series of its own: its counts go to its command's series,
// exactly, and the collector keeps no row of it.
func TestShortLivedFolded(t *testing.T) {
	c := start(t, collector.Config{TopK: 1 << 20, MinLive: 2, Filter: collector.Filter{Comm: testComm()}})
	now := time.Now()
	syscalls.SetClock(c, func() time.Time { return now })
	collect(t, c)
	const n = 1000
	var pids []string
	want := 0.0
	var e *metrics.Emitter
	// A command's series appears once it was active at two Collects at
	// least two apart: three children, a Collect after each.
	for i := range 3 {
		pid := runChild(t, fmt.Sprintf("getppid %d", n+i))
		pids = append(pids, pid)
		want += float64(n + i)
		now = now.Add(10 * time.Second)
		e = collect(t, c)
	}
	if got := value(e, "kscope_process_syscalls_total", "pid", "", "comm", testComm(), "syscall", "getppid"); got != want {
		t.Errorf("kscope_process_syscalls_total{pid=\"\",comm=%s,syscall=getppid} = %v, want %v", testComm(), got, want)
	}
	for _, pid := range pids {
		if s := e.Find("kscope_process_syscalls_total", "pid", pid); len(s) != 0 {
			t.Errorf("%d series of pid %s, which never lived across a Collect", len(s), pid)
		}
		p, _ := strconv.Atoi(pid)
		if syscalls.HasRow(c, uint32(p)) {
			t.Errorf("a row of ended pid %s is kept", pid)
		}
	}
	// Its command's series stays while an ended process's would have.
	now = now.Add(syscalls.ExitedRetention / 2)
	if got := value(collect(t, c), "kscope_process_syscalls_total", "pid", "", "comm", testComm(), "syscall", "getppid"); got != want {
		t.Errorf("within retention: %v, want %v", got, want)
	}
}
