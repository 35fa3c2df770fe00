package policy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/policy"
	"github.com/kscope/kscope/internal/testutil"
)

// monoNS is CLOCK_MONOTONIC in ns, comparable across processes.
func monoNS() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// benchStart loads the rules for a benchmark.
func benchStart(b *testing.B, yaml string) *Collector {
	b.Helper()
	rules, err := parseBench(yaml)
	if err != nil {
		b.Fatal(err)
	}
	c, err := New(Config{Plans: rules})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Start(b.Context(), testutil.NewCapture()); err != nil {
		b.Fatalf("%+v", err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func parseBench(yaml string) ([]*policy.Plan, error) {
	rules, err := policy.Parse("bench.yaml", []byte(yaml))
	if err != nil {
		return nil, err
	}
	return policy.PlanRules(rules, Probe, false)
}

// openRules are n deny (or kill) rules on opens for writing of n files
// in dir by the test binary; file 0 is the one the benchmarks violate.
func openRules(dir, action string, n int) string {
	var y strings.Builder
	y.WriteString("rules:\n")
	for i := range n {
		fmt.Fprintf(&y, "  - name: r%d\n    on: open\n    match:\n      file: {path: [%s/f%d], access: [write]}\n      binary: {path: [%s]}\n    action: %s\n",
			i, dir, i, mustExe(), action)
	}
	return y.String()
}

func mustExe() string {
	exe, _ := os.Executable()
	return exe
}

// BenchmarkViolationToEnforcement: from the moment an offending open is
// issued until it is stopped. deny (BPF LSM): the open returns EPERM in the
// offending process, which measures it. kill: the process writes the time
// just before its open and dies at the syscall's exit; the time is taken
// when its parent sees it exited (pidfd readable), so it includes the exit
// and the wake-up. Reported as ns/enforcement; indicative only.
func BenchmarkViolationToEnforcement(b *testing.B) {
	testutil.RequireRoot(b, "loading BPF programs")
	dir := b.TempDir()
	for _, action := range []string{"deny", "kill"} {
		b.Run(action, func(b *testing.B) {
			if err := bpfx.ProbeFeature(bpfx.FeatLSM); action == "deny" && err != nil {
				testutil.Skip(b, "BPF LSM (deny's own path: here deny is kill)", err)
			}
			defer testutil.EnableProgStats(b).Close()
			c := benchStart(b, openRules(dir, action, 1))
			if action == "deny" && c.lsmRules.IsZero() {
				b.Fatal("the deny rule is not an LSM one")
			}
			target := filepath.Join(dir, "f0")
			var total int64
			b.ResetTimer()
			for range b.N {
				if action == "deny" {
					t0 := monoNS()
					_, err := unix.Open(target, unix.O_WRONLY|unix.O_CREAT, 0o600)
					total += monoNS() - t0
					if err != unix.EPERM {
						b.Fatalf("open: %v, want EPERM", err)
					}
					continue
				}
				total += killOnce(b, target)
			}
			b.ReportMetric(float64(total)/float64(b.N), "ns/enforcement")
			reportProgs(b, c)
		})
	}
}

// killOnce runs the "timedopen" workload and returns the time from just
// before its open to its parent seeing it gone.
func killOnce(b *testing.B, target string) int64 {
	cmd := exec.Command(mustExe())
	cmd.Env = append(os.Environ(), "KSCOPE_POLICY_DO=timedopen", "KSCOPE_POLICY_ARG="+target)
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	w.Close()
	pidfd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(pidfd)
	buf := make([]byte, 32)
	n, _ := r.Read(buf)
	r.Close()
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != unix.EINTR {
			break
		}
	}
	t1 := monoNS()
	if err := cmd.Wait(); err == nil {
		b.Fatal("the workload was not killed")
	}
	t0, err := strconv.ParseInt(strings.TrimSpace(string(buf[:n])), 10, 64)
	if err != nil {
		b.Fatalf("workload time %q", buf[:n])
	}
	return t1 - t0
}

// timedOpen is the "timedopen" workload: it writes the time to fd 3 and
// opens arg for writing.
func timedOpen(arg string) int {
	f := os.NewFile(3, "time")
	t0 := monoNS()
	fmt.Fprintln(f, t0)
	fd, err := unix.Open(arg, unix.O_WRONLY|unix.O_CREAT, 0o600)
	if err != nil {
		return 1
	}
	unix.Close(fd)
	return 0
}

// BenchmarkOpenStorm: opens that match no rule (/dev/null for reading),
// untraced and with 64 open rules denied in BPF LSM or killed on the
// tracepoint path: the cost every open pays.
func BenchmarkOpenStorm(b *testing.B) {
	testutil.RequireRoot(b, "loading BPF programs")
	dir := b.TempDir()
	for _, tc := range []struct{ name, action string }{{"untraced", ""}, {"lsm-deny-64-rules", "deny"}, {"tracepoint-kill-64-rules", "kill"}} {
		b.Run(tc.name, func(b *testing.B) {
			if err := bpfx.ProbeFeature(bpfx.FeatLSM); tc.action == "deny" && err != nil {
				testutil.Skip(b, "BPF LSM (deny's own path: here deny is kill)", err)
			}
			defer testutil.EnableProgStats(b).Close()
			var c *Collector
			if tc.action != "" {
				c = benchStart(b, openRules(dir, tc.action, 64))
			}
			b.ResetTimer()
			for range b.N {
				fd, err := unix.Open("/dev/null", unix.O_RDONLY, 0)
				if err != nil {
					b.Fatal(err)
				}
				unix.Close(fd)
			}
			if c != nil {
				reportProgs(b, c)
			}
		})
	}
}

// reportProgs reports the open programs' run time: the LSM hook's, or the
// tracepoints' (for a kill).
func reportProgs(b *testing.B, c *Collector) {
	b.Helper()
	for _, coll := range []*ebpf.Collection{c.Collection(), c.lsm} {
		if coll == nil {
			continue
		}
		progs := map[string]*ebpf.Program{}
		for name, p := range coll.Programs {
			if strings.Contains(name, "open") {
				progs[name] = p
			}
		}
		testutil.ReportProgStats(b, &ebpf.Collection{Programs: progs})
	}
}
