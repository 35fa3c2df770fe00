package oom

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/testutil"
)

// TestMain turns the test binary into a memory hog on request:
// KSCOPE_TEST_OOM=PROCS moves itself into the cgroup whose cgroup.procs
// file is PROCS, then touches new memory until it is killed.
func TestMain(m *testing.M) {
	if procs := os.Getenv("KSCOPE_TEST_OOM"); procs != "" {
		os.Exit(hog(procs))
	}
	os.Exit(m.Run())
}

func hog(procs string) int {
	if err := os.WriteFile(procs, []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		fmt.Fprintln(os.Stderr, "joining the cgroup:", err)
		return 2
	}
	os.WriteFile("/proc/self/oom_score_adj", []byte("1000"), 0)
	const chunk = 1 << 20
	for range 1024 {
		b, err := syscall.Mmap(-1, 0, chunk, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mmap:", err)
			return 2
		}
		for i := 0; i < chunk; i += 4096 {
			b[i] = 1
		}
	}
	return 3 // 1 GiB and still alive: the limit did not hold
}

// memcg is a memory cgroup made for a test.
type memcg struct {
	dir string // the cgroup's directory
	v2  bool
}

// newMemcg makes a memory cgroup limited to limit bytes without swap: in
// cgroup v2 where it has the memory controller (mounted here if no cgroup2
// is), else in cgroup v1's memory hierarchy, under this process's cgroup.
// It removes the cgroup, and unmounts what it mounted, at cleanup.
func newMemcg(t *testing.T, limit int) *memcg {
	t.Helper()
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var v2, v1 string
	for _, line := range strings.Split(string(mounts), "\n") {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS ... - FSTYPE SOURCE SUPEROPTS
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 {
			continue
		}
		switch {
		case g[0] == "cgroup2" && v2 == "":
			v2 = f[4]
		case g[0] == "cgroup" && v1 == "" && hasOpt(g[2], "memory"):
			v1 = f[4]
		}
	}
	if v2 == "" && v1 == "" {
		dir := t.TempDir()
		if err := syscall.Mount("cgroup2", dir, "cgroup2", 0, ""); err != nil {
			testutil.Skip(t, "cgroup2", err)
		}
		t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
		v2 = dir
	}
	name := fmt.Sprintf("kscope-oom-test-%d", os.Getpid())
	if ctl, _ := os.ReadFile(filepath.Join(v2, "cgroup.controllers")); v2 != "" && hasOpt(strings.ReplaceAll(strings.TrimSpace(string(ctl)), " ", ","), "memory") {
		// The root's subtree_control may lack memory (a bare cgroup2 mount).
		os.WriteFile(filepath.Join(v2, "cgroup.subtree_control"), []byte("+memory"), 0)
		cg := &memcg{dir: filepath.Join(v2, name), v2: true}
		cg.make(t, map[string]string{"memory.max": strconv.Itoa(limit), "memory.swap.max": "0"})
		return cg
	}
	if v1 == "" {
		testutil.Skip(t, "memory cgroup controller", errors.New("neither cgroup2 nor cgroup v1 has it"))
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	parent := "/"
	for _, line := range strings.Split(string(self), "\n") {
		if f := strings.SplitN(line, ":", 3); len(f) == 3 && hasOpt(f[1], "memory") {
			parent = f[2]
		}
	}
	cg := &memcg{dir: filepath.Join(v1, parent, name)}
	cg.make(t, map[string]string{"memory.limit_in_bytes": strconv.Itoa(limit), "memory.swappiness": "0"})
	return cg
}

func hasOpt(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// make creates the cgroup and writes its settings; a missing file (no swap
// accounting) is skipped.
func (cg *memcg) make(t *testing.T, settings map[string]string) {
	t.Helper()
	os.Remove(cg.dir) // left over from an interrupted run
	if err := os.Mkdir(cg.dir, 0o755); err != nil {
		t.Fatalf("making a memory cgroup: %v", err)
	}
	t.Cleanup(func() {
		for range 50 {
			if err := os.Remove(cg.dir); err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Errorf("removing %s: still busy", cg.dir)
	})
	for k, v := range settings {
		if err := os.WriteFile(filepath.Join(cg.dir, k), []byte(v), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("setting %s: %v", k, err)
		}
	}
}

func (cg *memcg) ino(t *testing.T) uint64 {
	var st syscall.Stat_t
	if err := syscall.Stat(cg.dir, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// capture keeps copies of the OOM events.
type capture struct {
	mu  sync.Mutex
	evs []event.OOM
}

func (c *capture) Emit(ev event.Event) {
	c.mu.Lock()
	c.evs = append(c.evs, *ev.(*event.OOM))
	c.mu.Unlock()
}

func (c *capture) Flush() {}

func (c *capture) of(pid int, wait time.Duration) []event.OOM {
	var out []event.OOM
	for deadline := time.Now().Add(wait); ; time.Sleep(10 * time.Millisecond) {
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

func start(t *testing.T, cfg collector.Config) (*Collector, *capture) {
	t.Helper()
	testutil.RequireBPF(t)
	c, err := collector.New(Name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sink := &capture{}
	if err := c.Start(context.Background(), sink); err != nil {
		c.Close()
		t.Fatalf("starting: %+v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*Collector), sink
}

func kills(t *testing.T, c *Collector) float64 {
	t.Helper()
	var e metrics.Emitter
	if err := c.Collect(&e); err != nil {
		t.Fatalf("collect: %v", err)
	}
	v, ok := e.Sum("kscope_oom_kills_total")
	if !ok {
		t.Fatal("no kscope_oom_kills_total")
	}
	return v
}

// vmstatOOMKills reads the kernel's own count of OOM kills.
func vmstatOOMKills(t *testing.T) int {
	b, err := os.ReadFile("/proc/vmstat")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "oom_kill "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	t.Fatal("no oom_kill in /proc/vmstat")
	return 0
}

// runHog runs a memory hog in cg and returns its pid once it was killed.
func runHog(t *testing.T, cg *memcg) int {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "KSCOPE_TEST_OOM="+filepath.Join(cg.dir, "cgroup.procs"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Run()
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signal() != syscall.SIGKILL {
		t.Fatalf("hog ended with %v, not SIGKILL: %s", ws, stderr.String())
	}
	return cmd.Process.Pid
}

func TestOOMKill(t *testing.T) {
	c, sink := start(t, collector.Config{})
	cg := newMemcg(t, 32<<20)
	before, vmBefore := kills(t, c), vmstatOOMKills(t)

	pid := runHog(t, cg)

	evs := sink.of(pid, 2*time.Second)
	if len(evs) != 1 {
		t.Fatalf("%d events for the hog, want 1: %+v", len(evs), evs)
	}
	e := evs[0]
	t.Logf("event: %+v", e)
	b := filepath.Base(os.Args[0])
	comm := b[:min(len(b), 15)]
	if e.Type != "oom" || e.Comm != comm || e.UID != uint32(os.Getuid()) || e.PPID != uint32(os.Getpid()) ||
		e.TriggerPID != uint32(pid) || e.TriggerComm != comm || e.OOMScoreAdj != 1000 {
		t.Errorf("event %+v", e)
	}
	if e.MemcgID != cg.ino(t) {
		t.Errorf("memcg_id %d, want the cgroup's %d", e.MemcgID, cg.ino(t))
	}
	if cg.v2 && e.CgroupID != cg.ino(t) {
		t.Errorf("cgroup_id %d, want the cgroup's %d", e.CgroupID, cg.ino(t))
	}
	// The record's sizes, where this kernel's tracepoint has them.
	if format, _ := os.ReadFile("/sys/kernel/tracing/events/oom/mark_victim/format"); bytes.Contains(format, []byte("anon_rss")) {
		if e.AnonRSSBytes < 16<<20 || e.AnonRSSBytes > 64<<20 || e.TotalVMBytes < e.AnonRSSBytes || e.PgtablesBytes == 0 {
			t.Errorf("sizes of a hog killed at 32 MiB: %+v", e)
		}
	}

	if d := kills(t, c) - before; d != 1 {
		t.Errorf("kscope_oom_kills_total went up by %v, want 1", d)
	}
	if d := vmstatOOMKills(t) - vmBefore; d != 1 {
		t.Errorf("the kernel counted %d OOM kills, want 1", d)
	}
}

func TestFilterVictim(t *testing.T) {
	c, sink := start(t, collector.Config{Filter: collector.Filter{Comm: "no-such-comm"}})
	cg := newMemcg(t, 32<<20)
	before := kills(t, c)
	pid := runHog(t, cg)
	if evs := sink.of(pid, 200*time.Millisecond); len(evs) != 0 {
		t.Errorf("filtered victim reported: %+v", evs)
	}
	if st := c.Stats(); st.Filtered != 1 {
		t.Errorf("filtered = %d, want 1", st.Filtered)
	}
	if d := kills(t, c) - before; d != 1 {
		t.Errorf("the counter skipped a filtered kill: +%v", d)
	}
}

func TestDescribeCoversCollect(t *testing.T) {
	c, _ := start(t, collector.Config{})
	var e metrics.Emitter
	if err := c.Collect(&e); err != nil {
		t.Fatal(err)
	}
	if len(e.Samples) != 1 || e.Samples[0].Desc != c.Describe()[0] {
		t.Errorf("samples %+v", e.Samples)
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
}

// BenchmarkKill_* send SIGUSR1 to this process (the Go runtime catches it):
// the collector's signal_generate program runs and returns at once.
func killSelf(b *testing.B) {
	pid := syscall.Getpid()
	for range b.N {
		if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKill_Untraced(b *testing.B) { killSelf(b) }

func BenchmarkKill_Traced(b *testing.B) {
	defer testutil.EnableProgStats(b).Close()
	testutil.RequireBPF(b)
	c, err := collector.New(Name, collector.Config{})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Start(b.Context(), &capture{}); err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ResetTimer()
	killSelf(b)
	b.StopTimer()
	testutil.ReportProgStats(b, c.(*Collector).Collection())
}
