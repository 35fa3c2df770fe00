package profile

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/symbolize"
	"github.com/kscope/kscope/internal/testutil"
	"golang.org/x/sys/unix"
)

// start builds and starts a profiler, closed at cleanup.
func start(t testing.TB, opts Options) *Profiler {
	t.Helper()
	testutil.RequireBPF(t)
	p, err := NewProfiler(collector.Config{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if err := p.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return p
}

func read(t testing.TB, p *Profiler, reset bool) []Sample {
	t.Helper()
	s, err := p.Read(reset)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ofPID keeps the samples of pid.
func ofPID(ss []Sample, pid uint32) []Sample {
	var out []Sample
	for _, s := range ss {
		if s.PID == pid {
			out = append(out, s)
		}
	}
	return out
}

// leafShare is the share of on-CPU samples whose user stack's leaf is in
// fn (and, with caller set, whose next frame is in caller), and the total.
func leafShare(ss []Sample, fn addrRange, caller *addrRange) (float64, uint64) {
	var in, total uint64
	for _, s := range ss {
		total += s.OnCPU
		if len(s.User) == 0 || !fn.has(s.User[0]) {
			continue
		}
		if caller != nil && (len(s.User) < 2 || !caller.has(s.User[1])) {
			continue
		}
		in += s.OnCPU
	}
	if total == 0 {
		return 0, 0
	}
	return float64(in) / float64(total), total
}

func TestOnCPUGoLeaf(t *testing.T) {
	w := startHelper(t, "spin:1500")
	p := start(t, Options{Hz: 99, PIDs: []uint32{w.pid}})
	t.Logf("event: %s", p.Event())
	w.run(t)
	ss := read(t, p, false)
	for _, s := range ss {
		if s.PID != w.pid {
			t.Fatalf("sample of pid %d, only %d was asked for", s.PID, w.pid)
		}
	}
	fn := goFunc(t, hotLoop)
	share, total := leafShare(ss, fn, nil)
	t.Logf("%d samples, %.1f%% with the leaf in hotLoop [%#x, %#x)", total, 100*share, fn.lo, fn.hi)
	if total < 100 {
		t.Errorf("%d on-CPU samples for 1.5 s of CPU at 99 Hz, want at least 100", total)
	}
	// The rest is the Go runtime's own threads (sysmon, timers), which an
	// emulated or overloaded CPU makes costlier: 70% still leaves no room
	// for a leaf put in the wrong function.
	if share < 0.7 {
		t.Errorf("%.1f%% of samples in hotLoop, want at least 70%%", 100*share)
		for _, s := range ss {
			if len(s.User) == 0 || !fn.has(s.User[0]) {
				t.Logf("elsewhere: %d samples, comm %s, user %x, kernel %x", s.OnCPU, s.Comm, s.User, s.Kernel)
			}
		}
	}
	c, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c.Samples < total {
		t.Errorf("counters: %d samples, Read found %d", c.Samples, total)
	}
}

// gcc builds a C workload. The test VM has no gcc: scripts/test-vm.sh
// leaves the C tests out there (the Go workloads cover the same ground).
func gcc(t *testing.T, src string) string {
	t.Helper()
	cc, err := exec.LookPath("gcc")
	if err != nil {
		testutil.Skip(t, "gcc (to build the C workload)", err)
	}
	dir := t.TempDir()
	c := filepath.Join(dir, "work.c")
	bin := filepath.Join(dir, "work")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(cc, "-O1", "-fno-omit-frame-pointer", "-no-pie", "-o", bin, c).CombinedOutput()
	if err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	return bin
}

const hotC = `
#include <stdio.h>
#include <time.h>

volatile unsigned long sink;

__attribute__((noinline)) void touch(unsigned long x)
{
	sink ^= x;
}

/*
 * Not a leaf (it calls touch): gcc keeps no frame pointer in leaf functions
 * at -O1 whatever the flags say, and the kernel's frame-pointer walk would
 * then skip the caller.
 */
__attribute__((noinline)) unsigned long hot_function(unsigned long n)
{
	unsigned long x = 1;
	for (unsigned long i = 0; i < n; i++)
		x = x * 6364136223846793005UL + 1442695040888963407UL + sink;
	touch(x);
	return x + 1;
}

static double cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
	getchar();
	double end = cpu_seconds() + 1.5;
	while (cpu_seconds() < end)
		sink += hot_function(1UL << 20);
	return 0;
}
`

func TestOnCPUCLeaf(t *testing.T) {
	bin := gcc(t, hotC)
	w := startCmd(t, exec.Command(bin))
	p := start(t, Options{Hz: 99, PIDs: []uint32{w.pid}})
	w.run(t)
	ss := ofPID(read(t, p, false), w.pid)
	hot := elfFunc(t, bin, "hot_function")
	main := elfFunc(t, bin, "main")
	leaf, total := leafShare(ss, hot, nil)
	both, _ := leafShare(ss, hot, &main)
	t.Logf("%d samples: %.1f%% leaf in hot_function, %.1f%% also called from main", total, 100*leaf, 100*both)
	if total < 100 {
		t.Errorf("%d on-CPU samples for 1.5 s of CPU at 99 Hz, want at least 100", total)
	}
	if both < 0.8 {
		t.Errorf("%.1f%% of samples in hot_function called from main, want at least 80%%", 100*both)
	}
}

func TestOffCPU(t *testing.T) {
	w := startHelper(t, "sleep:20:50")
	p := start(t, Options{Hz: 99, OffCPU: true, PIDs: []uint32{w.pid}})
	w.run(t)
	ss := ofPID(read(t, p, false), w.pid)
	sleeps := kallsymsFuncs(t, "do_nanosleep")
	var total, inSleep uint64
	var biggest Sample
	for _, s := range ss {
		total += s.OffCPUNanos
		if s.OffCPUNanos > biggest.OffCPUNanos {
			biggest = s
		}
		for _, a := range s.Kernel {
			if inAny(sleeps, a) {
				inSleep += s.OffCPUNanos
				break
			}
		}
	}
	t.Logf("off-CPU %.3f s in %d entries, %.3f s under do_nanosleep; biggest %.3f s, kernel stack %d frames",
		float64(total)/1e9, len(ss), float64(inSleep)/1e9, float64(biggest.OffCPUNanos)/1e9, len(biggest.Kernel))
	if inSleep < 800_000_000 {
		t.Errorf("%d ns off-CPU under do_nanosleep, want at least 0.8 s of the 1 s slept", inSleep)
	}
	if len(biggest.Kernel) == 0 {
		t.Errorf("biggest off-CPU entry has no kernel stack")
	}
	sched := kallsymsFuncs(t, "schedule", "__schedule", "do_nanosleep")
	found := false
	for _, a := range biggest.Kernel {
		found = found || inAny(sched, a)
	}
	if !found {
		t.Errorf("biggest off-CPU entry's kernel stack %x has neither schedule nor do_nanosleep", biggest.Kernel)
	}
}

func TestOffCPURawTracepoint(t *testing.T) {
	defer bpfx.ForceHook(Name, bpfx.FeatRawTracepoint)()
	w := startHelper(t, "sleep:5:40")
	p := start(t, Options{OffCPU: true, PIDs: []uint32{w.pid}})
	w.run(t)
	var total uint64
	for _, s := range ofPID(read(t, p, false), w.pid) {
		total += s.OffCPUNanos
	}
	if total < 160_000_000 {
		t.Errorf("%d ns off-CPU, want at least 0.16 s of the 0.2 s slept", total)
	}
}

func inAny(rs []addrRange, a uint64) bool {
	for _, r := range rs {
		if r.has(a) {
			return true
		}
	}
	return false
}

func TestReadReset(t *testing.T) {
	w1 := startHelper(t, "spin:300")
	w2 := startHelper(t, "spin:300")
	p := start(t, Options{Hz: 99, PIDs: []uint32{w1.pid, w2.pid}})
	w1.run(t)
	first := read(t, p, true)
	if n := len(ofPID(first, w1.pid)); n == 0 {
		t.Fatalf("no samples of the first workload")
	}
	if again := read(t, p, false); len(again) != 0 {
		t.Fatalf("after a reset, %d entries remain: %+v", len(again), again)
	}
	w2.run(t)
	second := read(t, p, false)
	if n := len(ofPID(second, w1.pid)); n != 0 {
		t.Errorf("%d entries of the first workload after the reset", n)
	}
	// The stacks of what was sampled after the reset are there.
	share, total := leafShare(ofPID(second, w2.pid), goFunc(t, hotLoop), nil)
	if total < 10 {
		t.Errorf("%d samples of the second workload, want at least 10", total)
	}
	if share < 0.5 {
		t.Errorf("%.1f%% of the second workload's samples in hotLoop after the reset, want most", 100*share)
	}
}

func TestIoctlAttach(t *testing.T) {
	forceIoctl = true
	defer func() { forceIoctl = false }()
	w := startHelper(t, "spin:300")
	p := start(t, Options{Hz: 99, PIDs: []uint32{w.pid}})
	w.run(t)
	var total uint64
	for _, s := range read(t, p, false) {
		total += s.OnCPU
	}
	if total < 10 {
		t.Errorf("%d samples for 0.3 s at 99 Hz, want at least 10", total)
	}
}

func TestMapFullCounted(t *testing.T) {
	countsEntries, stackEntries = 1, 1
	defer func() { countsEntries, stackEntries = 0, 0 }()
	w := startHelper(t, "mixed:500")
	p := start(t, Options{Hz: 999, PIDs: []uint32{w.pid}})
	w.run(t)
	ss := read(t, p, false)
	if len(ss) > 1 {
		t.Errorf("%d entries in a map of 1", len(ss))
	}
	c, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("counters: %+v", c)
	if c.Lost["oncpu_map_full"] == 0 {
		t.Errorf("full count map not counted: %+v", c)
	}
	if c.Lost["user_stack_collision"]+c.Lost["user_stack_map_full"] == 0 {
		t.Errorf("full stack map not counted: %+v", c)
	}
	var e metrics.Emitter
	if err := p.Collect(&e); err != nil {
		t.Fatal(err)
	}
	if v, _ := e.Sum("kscope_profile_lost_total", "reason", "oncpu_map_full"); v != float64(c.Lost["oncpu_map_full"]) {
		t.Errorf("kscope_profile_lost_total{reason=oncpu_map_full} = %v, want %d", v, c.Lost["oncpu_map_full"])
	}
	described := map[string]bool{}
	for _, d := range p.Describe() {
		described[d.Name] = true
	}
	for _, s := range e.Samples {
		if !described[s.Desc.Name] {
			t.Errorf("%s emitted but not described", s.Desc.Name)
		}
	}
}

func TestRegistryAndClose(t *testing.T) {
	testutil.RequireBPF(t)
	c, err := collector.New(Name, collector.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	p := c.(*Windows).Profiler
	if p.opts.Hz != DefaultHz || len(p.opts.PIDs) != 0 {
		t.Errorf("defaults: %+v", p.opts)
	}
	if _, err := p.Read(false); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := p.Read(false); err == nil || !strings.Contains(err.Error(), "not started") {
		t.Errorf("Read after Close: %v", err)
	}
}

func TestOptionsValidated(t *testing.T) {
	for _, hz := range []int{-1, MaxHz + 1} {
		if _, err := NewProfiler(collector.Config{}, Options{Hz: hz}); err == nil {
			t.Errorf("Hz %d accepted", hz)
		}
	}
}

// A process that exits before the counts are read still symbolizes: it was
// announced, and remembered, at its first sample.
func TestNewProcessSymbolizesAfterExit(t *testing.T) {
	sym := symbolize.New()
	var mu sync.Mutex
	announced := map[uint32]string{}
	// The process spins, then stays until its announcement has been
	// handled (its symbols read), then exits before the samples are
	// symbolized.
	w := startHelper(t, "spin:300:wait")
	p := start(t, Options{Hz: 99, OnNewProcess: func(pid uint32, comm string) {
		sym.Remember(pid)
		mu.Lock()
		announced[pid] = comm
		mu.Unlock()
	}})
	if _, err := w.stdin.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	var comm string
	for deadline := time.Now().Add(30 * time.Second); comm == ""; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		comm = announced[w.pid]
		mu.Unlock()
		if comm == "" && time.Now().After(deadline) {
			t.Fatalf("pid %d was never announced", w.pid)
		}
	}
	w.run(t) // it has exited when run returns
	ss := ofPID(read(t, p, false), w.pid)
	if len(ss) == 0 || ss[0].Comm != comm {
		t.Fatalf("%d samples of pid %d; announced as %q", len(ss), w.pid, comm)
	}
	prof := Build(sym, ss, 99, false, time.Now(), time.Second)
	// Every user frame of the exited process is named, and hotLoop is the
	// leaf of more samples than any other function (the Go runtime's own
	// threads take a share of the samples, a large one on a slow CPU).
	var named, unnamed, hot int64
	leaves := map[string]int64{}
	for _, s := range prof.Samples {
		for i, f := range s.Stack {
			if f.Kernel || f.Module == "[vdso]" {
				continue
			}
			if f.Function == "" {
				unnamed += s.Values[0]
				t.Logf("unnamed user frame %d of a %d-sample stack: %s", i, s.Values[0], f.Name())
				break
			}
			if i == 0 {
				leaves[f.Function] += s.Values[0]
				if strings.HasSuffix(f.Function, ".hotLoop") {
					hot += s.Values[0]
				}
			}
		}
		named += s.Values[0]
	}
	for fn, n := range leaves {
		if n > hot && !strings.HasSuffix(fn, ".hotLoop") {
			t.Errorf("%s is the leaf of %d samples, hotLoop of %d", fn, n, hot)
		}
	}
	if unnamed > 0 || named == 0 || hot == 0 {
		t.Errorf("exited process: %d samples with an unnamed user frame, %d with hotLoop as the leaf, of %d", unnamed, hot, named)
	}
}

// A wait in progress counts when read: a task blocked for the whole read
// interval shows its time then, and a reset read consumes it.
func TestOffCPUInProgress(t *testing.T) {
	w := startHelper(t, "sleep:1:600000") // killed at cleanup
	p := start(t, Options{Hz: 99, OffCPU: true, PIDs: []uint32{w.pid}})
	began := time.Now()
	if _, err := w.stdin.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	asleep := waitSyscall(t, int(w.pid), unix.SYS_NANOSLEEP)
	sleeping := func(ss []Sample) (ns uint64) {
		sleeps := kallsymsFuncs(t, "do_nanosleep")
		for _, s := range ss {
			for _, a := range s.Kernel {
				if inAny(sleeps, a) {
					ns += s.OffCPUNanos
					break
				}
			}
		}
		return ns
	}
	// The sleep began between began and asleep; each read happens between
	// the clock readings around it. Time passes in between (a sleep here
	// is the workload's duration, not synchronization).
	time.Sleep(time.Second)
	before1 := time.Now()
	first := time.Duration(sleeping(ofPID(read(t, p, true), w.pid)))
	after1 := time.Now()
	time.Sleep(time.Second)
	before2 := time.Now()
	second := time.Duration(sleeping(ofPID(read(t, p, true), w.pid)))
	after2 := time.Now()
	t.Logf("asleep: %v in the first read, %v in the second", first, second)
	slack := testutil.ClockSlack
	if lo, hi := before1.Sub(asleep), after1.Sub(began); first < lo-slack || first > hi+slack {
		t.Errorf("first read: asleep %v, want %v to %v", first, lo, hi)
	}
	if lo, hi := before2.Sub(after1), after2.Sub(before1); second < lo-slack || second > hi+slack {
		t.Errorf("second read: asleep %v, want %v to %v", second, lo, hi)
	}
}

// waitSyscall waits until a thread of process pid is in system call nr
// and returns the time it saw it there.
func waitSyscall(t *testing.T, pid, nr int) time.Time {
	t.Helper()
	want := strconv.Itoa(nr) + " "
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/syscall", pid))
		for _, f := range tasks {
			if b, err := os.ReadFile(f); err == nil && strings.HasPrefix(string(b), want) {
				return time.Now()
			}
		}
	}
	t.Fatalf("process %d never entered system call %d", pid, nr)
	return time.Time{}
}
