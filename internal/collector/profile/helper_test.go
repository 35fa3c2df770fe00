package profile

import (
	"bufio"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The helper mode: the test binary re-executed with helperEnv set runs a
// workload, after one byte on stdin, so the profiler can be set up for its
// pid first. Workloads are Go code, so they run where no compiler is.
const helperEnv = "KSCOPE_PROFILE_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	os.Exit(m.Run())
}

var sink uint64

// hotLoop burns CPU without calling anything: the leaf of every sample taken
// while it runs.
//
//go:noinline
func hotLoop(n int) uint64 {
	x := uint64(1)
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

// coldLoop is hotLoop's twin, for a second distinct stack.
//
//go:noinline
func coldLoop(n int) uint64 {
	x := uint64(3)
	for i := 0; i < n; i++ {
		x = x*2862933555777941757 + 3037000493
	}
	return x
}

// recurse runs hotLoop or coldLoop under depth extra frames, for distinct stacks.
//
//go:noinline
func recurse(depth, n int, hot bool) uint64 {
	if depth > 0 {
		return recurse(depth-1, n, hot) + 1
	}
	if hot {
		return hotLoop(n)
	}
	return coldLoop(n)
}

func cpuTime() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// runHelper runs mode: "spin:MS" (MS ms of CPU time in hotLoop; with
// ":wait", then blocked until a second byte or EOF on stdin), "sleep:N:MS"
// (N nanosleeps of MS ms), "mixed:MS" (MS ms of CPU time under varied stacks).
func runHelper(mode string) int {
	_, _ = io.ReadFull(os.Stdin, make([]byte, 1))
	f := strings.Split(mode, ":")
	arg := func(i int) int {
		v, _ := strconv.Atoi(f[i])
		return v
	}
	switch f[0] {
	case "spin":
		end := cpuTime() + time.Duration(arg(1))*time.Millisecond
		for cpuTime() < end {
			sink += hotLoop(1 << 22)
		}
		if len(f) > 2 && f[2] == "wait" { // stay until a second byte
			_, _ = io.ReadFull(os.Stdin, make([]byte, 1))
		}
	case "mixed":
		end := cpuTime() + time.Duration(arg(1))*time.Millisecond
		for i := 0; cpuTime() < end; i++ {
			sink += recurse(i%8, 1<<18, i%2 == 0)
		}
	case "sleep":
		d := unix.NsecToTimespec(int64(arg(2)) * int64(time.Millisecond))
		for i := 0; i < arg(1); i++ {
			for {
				rem := d
				if err := unix.Nanosleep(&d, &rem); err != unix.EINTR {
					break
				}
				d = rem
			}
			d = unix.NsecToTimespec(int64(arg(2)) * int64(time.Millisecond))
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
		return 2
	}
	return 0
}

// workload is a started process waiting for go() to run.
type workload struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	pid   uint32
}

func startCmd(t testing.TB, cmd *exec.Cmd) *workload {
	t.Helper()
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return &workload{cmd: cmd, stdin: in, pid: uint32(cmd.Process.Pid)}
}

// startHelper starts the test binary in helper mode.
func startHelper(t testing.TB, mode string) *workload {
	cmd := exec.Command(os.Args[0])
	// One P: the workloads run on one goroutine, and idle Ps' threads
	// spinning for work would take samples from it (a lot of them under
	// emulation).
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "GOMAXPROCS=1")
	return startCmd(t, cmd)
}

// run lets the workload go and waits for it to end.
func (w *workload) run(t testing.TB) {
	t.Helper()
	if _, err := w.stdin.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	_ = w.stdin.Close()
	if err := w.cmd.Wait(); err != nil {
		t.Fatalf("workload: %v", err)
	}
}

// addrRange is a function's addresses, [lo, hi).
type addrRange struct{ lo, hi uint64 }

func (r addrRange) has(a uint64) bool { return a >= r.lo && a < r.hi }

// elfFunc finds a function symbol's address range in an executable, which
// must not be position independent (so its addresses are the run time's).
func elfFunc(t testing.TB, path, name string) addrRange {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC {
		t.Fatalf("%s is %v, not a fixed-address executable", path, f.Type)
	}
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if s.Name == name && elf.ST_TYPE(s.Info) == elf.STT_FUNC {
			if s.Size == 0 {
				t.Fatalf("%s: symbol %s has no size", path, name)
			}
			return addrRange{s.Value, s.Value + s.Size}
		}
	}
	t.Fatalf("%s: no function symbol %s", path, name)
	return addrRange{}
}

// goFunc finds the address range of a function of this test binary, which
// its helper processes share: the binary must not be position independent.
// (go test strips the symbol table, so the range comes from the runtime's.)
func goFunc(t testing.TB, fn any) addrRange {
	t.Helper()
	f, err := elf.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	typ := f.Type
	f.Close()
	if typ != elf.ET_EXEC {
		t.Fatalf("%s is %v, not a fixed-address executable", os.Args[0], typ)
	}
	entry := reflect.ValueOf(fn).Pointer()
	end := entry
	for end < entry+1<<16 {
		if f := runtime.FuncForPC(end); f == nil || f.Entry() != entry {
			break
		}
		end++
	}
	return addrRange{uint64(entry), uint64(end)}
}

// kallsymsFuncs returns the address ranges of the named kernel functions,
// each from its address to the next symbol's.
func kallsymsFuncs(t testing.TB, names ...string) []addrRange {
	t.Helper()
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []addrRange
	var open *addrRange
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			continue
		}
		a, err := strconv.ParseUint(fields[0], 16, 64)
		if err != nil || a == 0 {
			continue
		}
		if open != nil && a > open.lo {
			open.hi = a
			out = append(out, *open)
			open = nil
		}
		if want[fields[2]] && len(fields) == 3 {
			open = &addrRange{lo: a}
		}
	}
	if len(out) == 0 {
		t.Fatalf("/proc/kallsyms: none of %v (addresses hidden? kptr_restrict)", names)
	}
	return out
}
