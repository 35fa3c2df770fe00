package dispatch_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/collector/connect"
	"github.com/kscope/kscope/internal/collector/dispatch"
	kexec "github.com/kscope/kscope/internal/collector/exec"
	"github.com/kscope/kscope/internal/collector/fileio"
	"github.com/kscope/kscope/internal/collector/syscalls"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/testutil"
)

// childEnv makes the test binary a workload: "FILE N M", N one-byte preads
// of FILE and M getppid calls, raw syscalls only, once it has read a byte
// from stdin (a pipe). It says "ready" on stdout first.
const childEnv = "KSCOPE_DISPATCH_CHILD"

func TestMain(m *testing.M) {
	if args := os.Getenv(childEnv); args != "" {
		os.Exit(child(args))
	}
	os.Exit(m.Run())
}

func child(args string) int {
	var (
		file string
		n, m int
	)
	if _, err := fmt.Sscan(args, &file, &n, &m); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var b [1]byte
	os.Stdout.WriteString("ready\n")
	if _, err := os.Stdin.Read(b[:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fd, err := unix.Open(file, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for i := 0; i < n; i++ {
		if r, err := unix.Pread(fd, b[:], 0); r != 1 || err != nil {
			fmt.Fprintln(os.Stderr, "pread:", r, err)
			return 1
		}
	}
	for i := 0; i < m; i++ {
		syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
	}
	return 0
}

// run starts the workload, calls before once it is ready, lets it work
// and waits for it to end. It returns the child's pid.
func run(t *testing.T, file string, n, m int, before func(pid string)) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GODEBUG=updatemaxprocs=0", fmt.Sprintf("%s=%s %d %d", childEnv, file, n, m))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer in.Close()
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "ready\n" || err != nil {
		t.Fatalf("workload said %q (%v), want ready", line, err)
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	before(pid)
	if _, err := in.Write([]byte("g")); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("workload: %v", err)
	}
	return pid
}

func start(t *testing.T, name string) collector.Collector {
	t.Helper()
	return startWith(t, name, testutil.NewCapture())
}

func startWith(t *testing.T, name string, sink event.Sink) collector.Collector {
	t.Helper()
	testutil.RequireBPF(t)
	if err := dispatch.Why(); err != nil {
		testutil.Skip(t, "syscall dispatcher", err)
	}
	c, err := collector.New(name, collector.Config{TopK: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background(), sink); err != nil {
		c.Close()
		t.Fatalf("starting %s: %+v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func collect(t *testing.T, c collector.Collector) *metrics.Emitter {
	t.Helper()
	var e metrics.Emitter
	if err := c.(metrics.Source).Collect(&e); err != nil {
		t.Fatalf("collecting %s: %v", c.Name(), err)
	}
	return &e
}

func value(e *metrics.Emitter, name string, match ...string) float64 {
	v, _ := e.Sum(name, match...)
	return v
}

func testFile(t *testing.T) string {
	f := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// check asserts the workload's exact counts in the collectors given (nil:
// not running): what each counted of the child from when it was ready to
// when it ended.
func check(t *testing.T, sc, fc collector.Collector, file string, n, m int) (pid string) {
	t.Helper()
	syscallsWant := map[string]int{"pread64": n, "getppid": m}
	// The open of the file, n reads of one byte; stdin and stdout are pipes.
	fileioWant := map[string]int{"kscope_fileio_reads_total": n, "kscope_fileio_read_bytes_total": n, "kscope_fileio_opens_total": 1, "kscope_fileio_writes_total": 0}
	var se, fe *metrics.Emitter
	pid = run(t, file, n, m, func(pid string) {
		if sc != nil {
			se = collect(t, sc)
		}
		if fc != nil {
			fe = collect(t, fc)
		}
	})
	if sc != nil {
		e := collect(t, sc)
		for sys, want := range syscallsWant {
			for _, name := range []string{"kscope_process_syscalls_total", "kscope_process_syscall_errors_total"} {
				got := value(e, name, "pid", pid, "syscall", sys) - value(se, name, "pid", pid, "syscall", sys)
				if name != "kscope_process_syscalls_total" {
					want = 0
				}
				if got != float64(want) {
					t.Errorf("%s{pid=%s,syscall=%s} grew by %v, want %d", name, pid, sys, got, want)
				}
			}
		}
	}
	if fc != nil {
		e := collect(t, fc)
		for name, want := range fileioWant {
			if got := value(e, name, "pid", pid) - value(fe, name, "pid", pid); got != float64(want) {
				t.Errorf("%s{pid=%s} grew by %v, want %d", name, pid, got, want)
			}
		}
	}
	return pid
}

func attached(t *testing.T, enter, exit bool) {
	t.Helper()
	if e, x := dispatch.Attached(); e != enter || x != exit {
		t.Errorf("dispatcher attached to sys_enter: %v, sys_exit: %v; want %v, %v", e, x, enter, exit)
	}
}

// Each collector alone and both together count exactly what they count
// with their own programs; the dispatcher stays attached while either
// runs, whichever stops first.
func TestShared(t *testing.T) {
	file := testFile(t)
	const n, m = 1234, 4321
	t.Run("fileio alone", func(t *testing.T) {
		fc := start(t, fileio.Name)
		attached(t, false, true)
		check(t, nil, fc, file, n, m)
		fc.Close()
		attached(t, false, false)
	})
	t.Run("syscalls alone", func(t *testing.T) {
		sc := start(t, syscalls.Name)
		attached(t, true, true)
		check(t, sc, nil, file, n, m)
		sc.Close()
		attached(t, false, false)
	})
	for _, first := range []string{fileio.Name, syscalls.Name} {
		t.Run("both, "+first+" stops first", func(t *testing.T) {
			sc, fc := start(t, syscalls.Name), start(t, fileio.Name)
			attached(t, true, true)
			check(t, sc, fc, file, n, m)
			if first == fileio.Name {
				fc.Close()
				attached(t, true, true)
				check(t, sc, nil, file, n, m)
			} else {
				sc.Close()
				attached(t, false, true)
				check(t, nil, fc, file, n, m)
			}
		})
	}
	attached(t, false, false)
	// A collector on its own programs next to one in the dispatcher.
	t.Run("syscalls on its own programs, fileio dispatched", func(t *testing.T) {
		defer bpfx.ForceHook(syscalls.Name, "task_storage")() // syscalls.VariantTaskStorage
		sc, fc := start(t, syscalls.Name), start(t, fileio.Name)
		attached(t, false, true)
		check(t, sc, fc, file, n, m)
	})
}

// A slot belongs to the collector that filled it until it lets go.
func TestSlots(t *testing.T) {
	testutil.RequireBPF(t)
	if err := dispatch.Why(); err != nil {
		testutil.Skip(t, "syscall dispatcher", err)
	}
	a, err := dispatch.Acquire("a", dispatch.Exit)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := dispatch.Acquire("b", dispatch.Exit)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	prog := emptyProgram(t)
	if err := a.Put(unix.SYS_GETPPID, prog); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(unix.SYS_GETPPID, prog); err == nil {
		t.Error("b took a slot a holds")
	}
	if err := b.Put(dispatch.Every+1, prog); err == nil {
		t.Error("b took a slot past Every")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	attached(t, false, true)
	if err := b.Put(unix.SYS_GETPPID, prog); err != nil {
		t.Errorf("b could not take a slot a let go: %v", err)
	}
	if err := a.Put(unix.SYS_GETPID, prog); err == nil {
		t.Error("a filled a slot after Close")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	attached(t, false, false)
}

// The default agent's syscall collectors together: no syscall tracepoint
// attached, every count exact, and the workload's exec reported.
func TestAgentCollectors(t *testing.T) {
	file := testFile(t)
	execs := testutil.NewCapture()
	sc, fc := start(t, syscalls.Name), start(t, fileio.Name)
	ec, cc := startWith(t, kexec.Name, execs), start(t, connect.Name)
	attached(t, true, true)
	for _, c := range []collector.Collector{sc, fc, ec, cc} {
		for name, p := range c.(interface{ Collection() *ebpf.Collection }).Collection().Programs {
			if p.Type() == ebpf.TracePoint && (strings.HasPrefix(name, "sys_") || strings.HasPrefix(name, "exit_")) {
				t.Errorf("%s: syscall tracepoint program %s loaded", c.Name(), name)
			}
		}
	}
	pid := check(t, sc, fc, file, 1000, 2000)
	if _, ok := execs.WaitFor(5*time.Second, func(ev event.Event) bool {
		e, ok := ev.(*event.Exec)
		return ok && strconv.Itoa(int(e.PID)) == pid && e.Ret == 0
	}); !ok {
		t.Errorf("no exec event for the workload %s among %d events", pid, len(execs.Events()))
	}
}
