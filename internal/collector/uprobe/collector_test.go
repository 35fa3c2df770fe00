package uprobe_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/collector"
	kuprobe "github.com/kscope/kscope/internal/collector/uprobe"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/testutil"
	"github.com/kscope/kscope/internal/uprobe"
	"github.com/kscope/kscope/internal/usdt"
)

const workloadEnv = "KSCOPE_UPROBE_WORKLOAD"

const self = "github.com/kscope/kscope/internal/collector/uprobe_test."

// TestMain runs the Go workloads when re-executed with workloadEnv set.
func TestMain(m *testing.M) {
	switch os.Getenv(workloadEnv) {
	case "":
		os.Exit(m.Run())
	case "deep":
		os.Exit(deepWorkload())
	case "greet":
		os.Exit(greetWorkload())
	}
	fmt.Fprintln(os.Stderr, "unknown workload", os.Getenv(workloadEnv))
	os.Exit(2)
}

// goDeep recurses n levels with a 512-byte frame and returns n: every
// goroutine starting at depth 200 grows its stack several times, moving
// the frames of calls in progress.
//
//go:noinline
func goDeep(n int, salt int) int {
	var pad [512]byte
	pad[n%len(pad)] = byte(salt)
	if n == 0 {
		return int(pad[0]) - salt&0xff
	}
	return goDeep(n-1, salt) + 1 + int(pad[n%len(pad)]) - salt&0xff
}

const (
	deepGoroutines = 40
	deepDepth      = 200
	deepCalls      = deepGoroutines * (deepDepth + 1)
)

// deepWorkload runs goDeep(deepDepth) on fresh goroutines and prints the
// sum of their results.
func deepWorkload() int {
	results := make(chan int)
	sum := 0
	for i := 0; i < deepGoroutines; i++ {
		go func() { results <- goDeep(deepDepth, i) }()
		sum += <-results
	}
	fmt.Println(sum)
	return 0
}

//go:noinline
func goGreet(s string, n int) int { return len(s)*1000 + n }

func greetWorkload() int {
	sum := 0
	for i := 0; i < 3; i++ {
		sum += goGreet("hello go", i)
	}
	sum += goGreet(strings.Repeat("x", 300), 7)
	fmt.Println(sum)
	return 0
}

// start runs a collector for opts until the test ends.
func start(t *testing.T, opts kuprobe.Options) (*kuprobe.Collector, *testutil.Capture) {
	t.Helper()
	testutil.RequireBPF(t)
	c, err := kuprobe.New(collector.Config{RingBytes: 4 << 20}, opts)
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

// run runs cmd to completion and returns its output.
func run(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	return strings.TrimSpace(string(out))
}

func selfCmd(workload string) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), workloadEnv+"="+workload)
	return cmd
}

// waitEvents waits until n events from pid arrived (or timeout) and
// returns them.
func waitEvents[E event.Event](sink *testutil.Capture, pid, n int, timeout time.Duration) []E {
	deadline := time.Now().Add(timeout)
	for {
		var out []E
		for _, ev := range sink.Events() {
			if e, ok := ev.(E); ok && int(e.Hdr().PID) == pid {
				out = append(out, e)
			}
		}
		if len(out) >= n || time.Now().After(deadline) {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func resolve(t *testing.T, spec string) *uprobe.Target {
	t.Helper()
	tg, err := uprobe.Resolve(spec, 0)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// A Go function traced with return probes through thousands of calls
// whose stacks grow and move: the workload survives with the right
// result, every call is reported once, with its argument and return value.
// The workload starts after attaching.
func TestGoDeepRecursion(t *testing.T) {
	tg := resolve(t, os.Args[0]+":"+self+"goDeep")
	if !tg.Go {
		t.Fatalf("%s is not a Go function", tg)
	}
	c, sink := start(t, kuprobe.Options{Function: tg, Args: 2, Ret: true})
	cmd := selfCmd("deep")
	began := time.Now()
	out := run(t, cmd)
	took := time.Since(began)
	if want := strconv.Itoa(deepGoroutines * deepDepth); out != want {
		t.Fatalf("workload printed %q, want %s", out, want)
	}
	evs := waitEvents[*event.Uprobe](sink, cmd.Process.Pid, deepCalls, 10*time.Second)
	if len(evs) != deepCalls {
		t.Fatalf("%d events, want %d (stats %+v)", len(evs), deepCalls, c.Stats())
	}
	depths := map[int64]int{}
	for _, e := range evs {
		if len(e.Args) != 2 || e.Ret == nil || int64(e.Ret.V) != int64(e.Args[0].V) {
			t.Fatalf("event %+v ret %v: want ret == args[0]", e, e.Ret)
		}
		if e.LatencyNS == 0 || e.LatencyNS > uint64(took) {
			t.Fatalf("latency %d, more than the whole run (%v)", e.LatencyNS, took)
		}
		if e.Probe != tg.String() || e.Type != "uprobe" || e.TID == 0 {
			t.Fatalf("event %+v", e)
		}
		depths[int64(e.Args[0].V)]++
	}
	for d := int64(0); d <= deepDepth; d++ {
		if depths[d] != deepGoroutines {
			t.Fatalf("depth %d: %d calls, want %d", d, depths[d], deepGoroutines)
		}
	}
	if st := c.Stats(); st.Lost != 0 || st.Malformed != 0 {
		t.Errorf("stats %+v", st)
	}
}

// Without return probes each call is reported at entry, once, even when
// it grew the stack.
func TestGoEntryOnly(t *testing.T) {
	tg := resolve(t, os.Args[0]+":"+self+"goDeep")
	_, sink := start(t, kuprobe.Options{Function: tg, Args: 1})
	cmd := selfCmd("deep")
	run(t, cmd)
	waitEvents[*event.Uprobe](sink, cmd.Process.Pid, deepCalls, 10*time.Second)
	// Drain to a marker: events are read in order, so once a later run's
	// first event is in, any extra event of the first run would be too.
	marker := selfCmd("deep")
	run(t, marker)
	if len(waitEvents[*event.Uprobe](sink, marker.Process.Pid, 1, 10*time.Second)) == 0 {
		t.Fatal("no event from the marker run")
	}
	evs := waitEvents[*event.Uprobe](sink, cmd.Process.Pid, deepCalls+1, 0)
	if len(evs) != deepCalls {
		t.Fatalf("%d events, want %d", len(evs), deepCalls)
	}
	if evs[0].Ret != nil {
		t.Errorf("return value without return probes: %v", evs[0].Ret)
	}
}

// A Go string argument: pointer and length in two registers.
func TestGoString(t *testing.T) {
	tg := resolve(t, os.Args[0]+":"+self+"goGreet")
	_, sink := start(t, kuprobe.Options{Function: tg, Args: 3, Str: 1, Ret: true})
	cmd := selfCmd("greet")
	if out := run(t, cmd); out != strconv.Itoa(3*8000+3+300*1000+7) {
		t.Fatalf("workload printed %s", out)
	}
	evs := waitEvents[*event.Uprobe](sink, cmd.Process.Pid, 4, 5*time.Second)
	if len(evs) != 4 {
		t.Fatalf("%d events", len(evs))
	}
	for i, e := range evs[:3] {
		if e.Str == nil || *e.Str != "hello go" || e.StrTruncated || e.Args[1].V != 8 || e.Args[2].V != uint64(i) || e.Ret.V != uint64(8000+i) {
			t.Errorf("call %d: %+v str %v ret %v", i, e, e.Str, e.Ret)
		}
	}
	if e := evs[3]; e.Str == nil || *e.Str != strings.Repeat("x", kuprobe.StrLen) || !e.StrTruncated {
		t.Errorf("long string: %+v", e)
	}
}

func TestOptionsErrors(t *testing.T) {
	tg := resolve(t, os.Args[0]+":"+self+"goGreet")
	for _, o := range []kuprobe.Options{
		{},
		{Function: tg, Args: 10},
		{Function: tg, Str: 9},
		{Function: &uprobe.Target{}, Args: 7},
		{USDT: &usdt.Target{}},
	} {
		if _, err := kuprobe.New(collector.Config{}, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// C: a function with known arguments and results, recursion (return
// probes keyed by stack pointer), and a C string argument.
func TestCFunctionsGCC(t *testing.T) {
	bin := testutil.BuildC(t, "gcc", testutil.USDTProgram, "-O2")
	t.Run("c_add", func(t *testing.T) {
		_, sink := start(t, kuprobe.Options{Function: resolve(t, bin+":c_add"), Args: 2, Ret: true})
		cmd := exec.Command(bin, "5")
		run(t, cmd)
		evs := waitEvents[*event.Uprobe](sink, cmd.Process.Pid, 5, 5*time.Second)
		if len(evs) != 5 {
			t.Fatalf("%d events", len(evs))
		}
		for i, e := range evs {
			if e.Args[0].V != uint64(i) || e.Args[1].V != 100 || e.Ret.V != uint64(i+100) || e.Comm != "prog" {
				t.Errorf("call %d: %+v ret %v", i, e, e.Ret)
			}
		}
	})
	t.Run("c_fib", func(t *testing.T) {
		_, sink := start(t, kuprobe.Options{Function: resolve(t, bin+":c_fib"), Args: 1, Ret: true})
		cmd := exec.Command(bin, "2")
		out := strings.Fields(run(t, cmd))
		calls, _ := strconv.Atoi(out[len(out)-1])
		if calls != 2*177 {
			t.Fatalf("workload printed %q", out)
		}
		evs := waitEvents[*event.Uprobe](sink, cmd.Process.Pid, calls, 5*time.Second)
		if len(evs) != calls {
			t.Fatalf("%d events, want %d", len(evs), calls)
		}
		fib := func(n uint64) uint64 {
			a, b := uint64(0), uint64(1)
			for ; n > 0; n-- {
				a, b = b, a+b
			}
			return a
		}
		for _, e := range evs {
			if e.Ret.V != fib(e.Args[0].V) {
				t.Fatalf("c_fib(%d) = %d", e.Args[0].V, e.Ret.V)
			}
		}
	})
	t.Run("string", func(t *testing.T) {
		_, sink := start(t, kuprobe.Options{Function: resolve(t, bin+":strings"), Args: 2, Str: 1})
		cmd := exec.Command(bin, "1")
		run(t, cmd)
		evs := waitEvents[*event.Uprobe](sink, cmd.Process.Pid, 1, 5*time.Second)
		if len(evs) != 1 || evs[0].Str == nil || *evs[0].Str != "hello usdt" || evs[0].Args[1].V != 10 || evs[0].StrTruncated || evs[0].StrUnavailable {
			t.Fatalf("events %+v", evs)
		}
	})
	// c_add's first argument is an integer, not a string: 0 is NULL, 1 and
	// 2 point nowhere. Each is flagged and counted, never shown as "".
	t.Run("unreadable string", func(t *testing.T) {
		c, sink := start(t, kuprobe.Options{Function: resolve(t, bin+":c_add"), Args: 2, Str: 1})
		cmd := exec.Command(bin, "3")
		run(t, cmd)
		evs := waitEvents[*event.Uprobe](sink, cmd.Process.Pid, 3, 5*time.Second)
		if len(evs) != 3 {
			t.Fatalf("%d events", len(evs))
		}
		for i, e := range evs {
			if e.Args[0].V != uint64(i) || e.Str != nil || !e.StrUnavailable || e.StrTruncated {
				t.Errorf("call %d: args %v str %v unavailable %v", i, e.Args, e.Str, e.StrUnavailable)
			}
		}
		if st := c.Stats(); st.Unreadable != 3 {
			t.Errorf("unreadable = %d, want 3 (stats %+v)", st.Unreadable, st)
		}
	})
}

const cppSrc = `
#include <cstdio>
#include <cstdlib>
namespace ns {
struct Klass {
	long v;
	__attribute__((noinline)) long add(long a) const { return v * 10 + a; }
};
}
int main(int argc, char **argv) {
	ns::Klass k{std::atol(argv[1])};
	std::printf("%ld\n", k.add(7));
	return 0;
}
`

// A C++ method found by its demangled name.
func TestCPlusPlusGCC(t *testing.T) {
	// -O1: -O2 clones add without its this pointer (add(long) const [clone .isra.0]).
	bin := testutil.BuildC(t, "g++", cppSrc, "-O1")
	tg := resolve(t, bin+":ns::Klass::add")
	_, sink := start(t, kuprobe.Options{Function: tg, Args: 2, Ret: true})
	cmd := exec.Command(bin, "4")
	if out := run(t, cmd); out != "47" {
		t.Fatalf("printed %s", out)
	}
	evs := waitEvents[*event.Uprobe](sink, cmd.Process.Pid, 1, 5*time.Second)
	if len(evs) != 1 || evs[0].Args[1].V != 7 || evs[0].Args[0].V == 0 || evs[0].Ret.V != 47 || evs[0].Probe != bin+":ns::Klass::add(long) const" {
		for _, e := range evs {
			t.Logf("%+v ret %v", *e, e.Ret)
		}
		t.Fatal("want one call add(7) returning 47")
	}
}

func usdtTarget(t *testing.T, bin, name string) *usdt.Target {
	t.Helper()
	u, err := usdt.Find(bin, bin, "kscope", name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Every USDT argument kind decodes to the exact value the program passed.
func TestUSDTArgumentsGCC(t *testing.T) {
	bin := testutil.BuildC(t, "gcc", testutil.USDTProgram, "-O2")
	for _, c := range []struct {
		probe string
		str   int
		want  string
	}{
		{"sized", 0, "-5 65000 -100000 -1234567890123 18446744073709551615"},
		{"mem", 0, "-77 1234"},
		{"indexed", 0, "-4"},
		{"str", 1, `* 10 "hello usdt"`},
		{"konst", 0, "5"},
		{"global", 0, "41"},
	} {
		t.Run(c.probe, func(t *testing.T) {
			_, sink := start(t, kuprobe.Options{USDT: usdtTarget(t, bin, c.probe), Str: c.str})
			cmd := exec.Command(bin, "3")
			run(t, cmd)
			evs := waitEvents[*event.USDT](sink, cmd.Process.Pid, 3, 5*time.Second)
			if len(evs) != 3 {
				t.Fatalf("%d events", len(evs))
			}
			for _, e := range evs {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, a.String())
				}
				if e.Str != nil {
					parts = append(parts, strconv.Quote(*e.Str))
				}
				got := strings.Join(parts, " ")
				if c.str != 0 {
					got = "*" + got[strings.IndexByte(got, ' '):] // the pointer varies
				}
				if got != c.want || e.Probe != "kscope:"+c.probe || e.Binary != bin || e.Type != "usdt" {
					t.Errorf("got %s (%+v), want %s", got, e, c.want)
				}
			}
		})
	}
}

// semaphore reads the 2-byte semaphore of p in process pid through
// /proc/PID/mem, at the address its file offset is mapped at.
func semaphore(t *testing.T, pid int, bin string, p usdt.Probe) uint16 {
	t.Helper()
	maps, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(maps), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[5] != bin {
			continue
		}
		var start, end, off uint64
		fmt.Sscanf(f[0], "%x-%x", &start, &end)
		fmt.Sscanf(f[2], "%x", &off)
		if p.SemaphoreOffset < off || p.SemaphoreOffset >= off+(end-start) {
			continue
		}
		mem, err := os.Open("/proc/" + strconv.Itoa(pid) + "/mem")
		if err != nil {
			t.Fatal(err)
		}
		defer mem.Close()
		var b [2]byte
		if _, err := mem.ReadAt(b[:], int64(start+p.SemaphoreOffset-off)); err != nil {
			t.Fatal(err)
		}
		return uint16(b[0]) | uint16(b[1])<<8
	}
	t.Fatalf("semaphore offset %#x not mapped in %d", p.SemaphoreOffset, pid)
	return 0
}

// startProg starts bin with args and waits until it mapped bin.
func startProg(t *testing.T, bin string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 200; i++ {
		if maps, _ := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/maps"); strings.Contains(string(maps), "libc") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cmd
}

// The semaphore is 0 before attaching, non-zero while attached (in a
// running process and in one started later), and 0 again after; the
// guarded probe fires only while attached.
func TestUSDTSemaphoreGCC(t *testing.T) {
	bin := testutil.BuildC(t, "gcc", testutil.USDTProgram, "-O2")
	u := usdtTarget(t, bin, "guarded")
	p := u.Probes[0]
	if p.Semaphore == 0 {
		t.Fatal("guarded has no semaphore")
	}
	early := startProg(t, bin, "100000", "2000")
	if v := semaphore(t, early.Process.Pid, bin, p); v != 0 {
		t.Fatalf("semaphore %d before attaching", v)
	}
	testutil.RequireBPF(t)
	c, err := kuprobe.New(collector.Config{RingBytes: 1 << 20}, kuprobe.Options{USDT: u})
	if err != nil {
		t.Fatal(err)
	}
	sink := testutil.NewCapture()
	if err := c.Start(context.Background(), sink); err != nil {
		c.Close()
		t.Fatal(err)
	}
	if v := semaphore(t, early.Process.Pid, bin, p); v == 0 {
		t.Error("semaphore 0 while attached")
	}
	late := startProg(t, bin, "100000", "2000")
	if v := semaphore(t, late.Process.Pid, bin, p); v == 0 {
		t.Error("semaphore 0 in a process started while attached")
	}
	for _, cmd := range []*exec.Cmd{early, late} {
		evs := waitEvents[*event.USDT](sink, cmd.Process.Pid, 3, 5*time.Second)
		if len(evs) < 3 {
			t.Fatalf("pid %d: %d events", cmd.Process.Pid, len(evs))
		}
		for i := 1; i < len(evs); i++ {
			if evs[i].Args[0].V != evs[i-1].Args[0].V+1 {
				t.Errorf("iterations %d then %d", evs[i-1].Args[0].V, evs[i].Args[0].V)
			}
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []*exec.Cmd{early, late} {
		if v := semaphore(t, cmd.Process.Pid, bin, p); v != 0 {
			t.Errorf("pid %d: semaphore %d after detaching", cmd.Process.Pid, v)
		}
	}
}

// Without attach cookies (before Linux 5.15) a probe whose sites share one
// spec still decodes its arguments; one whose sites differ is refused.
func TestUSDTWithoutCookiesGCC(t *testing.T) {
	bin := testutil.BuildC(t, "gcc", testutil.USDTProgram, "-O2")
	_, sink := start(t, kuprobe.WithoutCookies(kuprobe.Options{USDT: usdtTarget(t, bin, "sized")}))
	cmd := exec.Command(bin, "2")
	run(t, cmd)
	evs := waitEvents[*event.USDT](sink, cmd.Process.Pid, 2, 5*time.Second)
	if len(evs) != 2 || evs[0].Args[0].String() != "-5" || evs[0].Args[4].String() != "18446744073709551615" {
		t.Fatalf("events %+v", evs)
	}
	// Two sites with different specs.
	u := usdtTarget(t, bin, "sized")
	other := usdtTarget(t, bin, "mem").Probes[0]
	other.Name = "sized"
	u.Probes = append(u.Probes, other)
	c, err := kuprobe.New(collector.Config{}, kuprobe.WithoutCookies(kuprobe.Options{USDT: u}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(context.Background(), testutil.NewCapture()); err == nil || !strings.Contains(err.Error(), "attach cookies") {
		t.Errorf("sites with different specs without cookies: %v", err)
	}
}

// With a pid the probe fires in that process only, while another process
// runs the same function.
func TestPIDGCC(t *testing.T) {
	bin := testutil.BuildC(t, "gcc", testutil.USDTProgram, "-O2")
	a := startProg(t, bin, "100000", "5000")
	b := startProg(t, bin, "100000", "5000")
	tg, err := uprobe.Resolve(bin+":c_add", a.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	_, sink := start(t, kuprobe.Options{Function: tg, Args: 2, PID: a.Process.Pid})
	if evs := waitEvents[*event.Uprobe](sink, a.Process.Pid, 5, 5*time.Second); len(evs) < 5 {
		t.Fatalf("%d events from the process asked for", len(evs))
	}
	for _, ev := range sink.Events() {
		if int(ev.Hdr().PID) != a.Process.Pid {
			t.Fatalf("event from pid %d, want only %d (other: %d)", ev.Hdr().PID, a.Process.Pid, b.Process.Pid)
		}
	}
}
