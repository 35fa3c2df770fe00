package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	cprofile "github.com/kscope/kscope/internal/collector/profile"
	"github.com/kscope/kscope/internal/testutil"
)

const hotGo = `package main

import "time"

//go:noinline
func hotLoop(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s += i * i % 7
	}
	return s
}

func main() {
	end := time.Now().Add(20 * time.Second)
	s := 0
	for time.Now().Before(end) {
		s += hotLoop(1 << 22)
	}
	println(s)
}
`

const hotC = `#include <stdio.h>
#include <time.h>
volatile unsigned long sink;
__attribute__((noinline)) void touch(void) { sink++; }
__attribute__((noinline)) void hot_function(void) {
	for (unsigned long i = 0; i < 50000000UL; i++) sink += i * i % 7;
	touch();
}
int main(void) {
	time_t end = time(NULL) + 20;
	while (time(NULL) < end) hot_function();
	return 0;
}
`

// buildWorkload compiles a workload into dir and starts it; it is killed
// at cleanup.
func startWorkload(t *testing.T, name string, build func(dir, bin string) *exec.Cmd) *exec.Cmd {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, name)
	if out, err := build(dir, bin).CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, out)
	}
	cmd := exec.Command(bin)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

func goWorkload(t *testing.T) *exec.Cmd {
	return startWorkload(t, "hotgo", func(dir, bin string) *exec.Cmd {
		src := filepath.Join(dir, "main.go")
		os.WriteFile(src, []byte(hotGo), 0o600)
		// Stripped: symbols come from the pclntab alone.
		c := exec.Command("go", "build", "-ldflags=-s -w", "-o", bin, src)
		c.Env = append(os.Environ(), "GO111MODULE=off", "GOFLAGS=")
		return c
	})
}

// topShare runs go tool pprof -top on a profile and returns the flat share
// of fn.
func topShare(t *testing.T, file, fn string) float64 {
	t.Helper()
	out, err := exec.Command("go", "tool", "pprof", "-top", "-sample_index=samples", file).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof: %v\n%s", err, out)
	}
	re := regexp.MustCompile(`(?m)^\s*\d+\s+([\d.]+)%.*\s` + regexp.QuoteMeta(fn) + `$`)
	m := re.FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("pprof -top does not name %s:\n%s", fn, out)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func TestProfileGo(t *testing.T) {
	testutil.RequireBPF(t)
	w := goWorkload(t)
	time.Sleep(200 * time.Millisecond)
	dir := t.TempDir()
	pb := filepath.Join(dir, "cpu.pb.gz")
	pid := strconv.Itoa(w.Process.Pid)
	out, err := exec.Command(kscopeBinary(t), "profile", "--pid", pid, "--duration", "2s", "-o", pb).CombinedOutput()
	if err != nil {
		t.Fatalf("kscope profile: %v\n%s", err, out)
	}
	if share := topShare(t, pb, "main.hotLoop"); share < 80 {
		t.Errorf("main.hotLoop has %.1f%% of the samples, want at least 80%%", share)
	}
	// The other formats name it too.
	for _, name := range []string{"cpu.folded", "cpu.svg", "cpu.html"} {
		file := filepath.Join(dir, name)
		if out, err := exec.Command(kscopeBinary(t), "profile", "--pid", pid, "--duration", "500ms", "-o", file).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		b, _ := os.ReadFile(file)
		if !strings.Contains(string(b), "main.hotLoop") {
			t.Errorf("%s does not name main.hotLoop:\n%.400s", name, b)
		}
	}
	folded, _ := os.ReadFile(filepath.Join(dir, "cpu.folded"))
	if !regexp.MustCompile(`(?m)^hotgo;.*main\.hotLoop \d+$`).Match(folded) {
		t.Errorf("folded stacks:\n%s", folded)
	}
}

func TestProfileC(t *testing.T) {
	testutil.RequireBPF(t)
	if _, err := exec.LookPath("gcc"); err != nil {
		testutil.Skip(t, "gcc (to build the C workload)", err)
	}
	w := startWorkload(t, "hotc", func(dir, bin string) *exec.Cmd {
		src := filepath.Join(dir, "hot.c")
		os.WriteFile(src, []byte(hotC), 0o600)
		return exec.Command("gcc", "-O1", "-g", "-fno-omit-frame-pointer", "-o", bin, src)
	})
	time.Sleep(200 * time.Millisecond)
	pb := filepath.Join(t.TempDir(), "cpu.pb.gz")
	out, err := exec.Command(kscopeBinary(t), "profile", "--pid", strconv.Itoa(w.Process.Pid), "--duration", "2s", "-o", pb).CombinedOutput()
	if err != nil {
		t.Fatalf("kscope profile: %v\n%s", err, out)
	}
	if share := topShare(t, pb, "hot_function"); share < 80 {
		t.Errorf("hot_function has %.1f%% of the samples, want at least 80%%", share)
	}
}

func TestProfileOffCPU(t *testing.T) {
	testutil.RequireBPF(t)
	// Ten 100 ms sleeps: each wait is counted off-CPU when it ends, under
	// the stack it slept in. The sleep command runs under a name of its
	// own, so that no other process's sleeps count.
	name := "offcpu" + strconv.Itoa(os.Getpid())
	name = name[:min(len(name), 15)]
	sleep := filepath.Join(t.TempDir(), name)
	if b, err := os.ReadFile("/bin/sleep"); err != nil || os.WriteFile(sleep, b, 0o755) != nil {
		t.Fatalf("copying /bin/sleep: %v", err)
	}
	prof := exec.Command(kscopeBinary(t), "profile", "--all", "--off-cpu", "--duration", "5m", "--format", "folded", "-v")
	var buf strings.Builder
	prof.Stdout = &buf
	log := &testutil.Output{}
	prof.Stderr = log
	if err := prof.Start(); err != nil {
		t.Fatal(err)
	}
	defer prof.Process.Kill()
	if log.WaitFor(regexp.MustCompile(`msg=sampling`), time.Minute) == nil {
		t.Fatalf("kscope profile did not start sampling:\n%s", log)
	}
	began := time.Now()
	if err := exec.Command("sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do "+sleep+" 0.1; done").Run(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	// Every wait has ended, so it is counted: stop.
	prof.Process.Signal(syscall.SIGINT)
	if err := prof.Wait(); err != nil {
		t.Fatalf("kscope profile --all --off-cpu: %v\n%s", err, log)
	}
	out := buf.String()
	var slept int64
	for _, line := range strings.Split(out, "\n") {
		// The leaf is where the sampling program ran; kernel functions
		// such as perf_event_detach_bpf_prog may appear lower down.
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			leaf := line[strings.LastIndexByte(line[:i], ';')+1 : i]
			if cprofile.IsBPFFrame(strings.TrimSuffix(leaf, "_[k]")) {
				t.Errorf("the sampling program's own frame %s tops a stack: %s", leaf, line)
			}
		}
		if strings.HasPrefix(line, name+";") && strings.Contains(line, "nanosleep") {
			i := strings.LastIndexByte(line, ' ')
			v, _ := strconv.ParseInt(line[i+1:], 10, 64)
			slept += v
		}
	}
	// Each sleep lasts at least 100 ms, and all of them within took.
	if d := time.Duration(slept); d < time.Second || d > took {
		t.Errorf("the sleeps spent %v off-CPU in a nanosleep stack, want 1s to %v:\n%s", d, took, lastLines(out, 20))
	}
}

// TestProfileOffCPUTop: the flat top of an off-CPU profile is in seconds
// and ranks where the process blocked, not the sampler's frames or the
// switch (__traceiter_sched_switch, __schedule, schedule).
func TestProfileOffCPUTop(t *testing.T) {
	testutil.RequireBPF(t)
	// A shell that waits for its children all the time: in do_wait.
	sh := exec.Command("sh", "-c", "while :; do sleep 0.05; done")
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sh.Process.Kill(); sh.Wait() }()
	prof := exec.Command(kscopeBinary(t), "profile", "--pid", strconv.Itoa(sh.Process.Pid), "--off-cpu", "--duration", "2s", "--format", "top")
	out, err := prof.Output()
	if err != nil {
		t.Fatalf("kscope profile --off-cpu --format top: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 3 || !strings.HasSuffix(lines[0], " s off-CPU in total") || !strings.Contains(lines[1], "flat (s)") {
		t.Fatalf("top output:\n%s", out)
	}
	var first string
	for _, l := range lines[2:] {
		f := strings.Fields(l)
		if len(f) != 3 || !strings.HasSuffix(f[1], "%") {
			t.Fatalf("top line %q", l)
		}
		if secs, err := strconv.ParseFloat(f[0], 64); err != nil || secs > 3 {
			t.Errorf("top line %q: flat is not seconds of a 2 s profile", l)
		}
		if cprofile.IsBPFFrame(f[2]) || cprofile.IsSwitchFrame(f[2]) {
			t.Errorf("the sampler's or the switch's frame %s in the flat top:\n%s", f[2], out)
		}
		if first == "" {
			first = f[2]
		}
	}
	if first != "do_wait" {
		t.Errorf("a shell waiting for children: flat top led by %s, want do_wait:\n%s", first, out)
	}
}

func TestProfileBadInput(t *testing.T) {
	testutil.RequireBPF(t)
	for _, tt := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"profile"}, exitUsage, "needs --pid N or --all"},
		{[]string{"profile", "--pid", "1", "--all"}, exitUsage, "needs --pid N or --all"},
		{[]string{"profile", "--all", "--hz", "0"}, exitUsage, "--hz 0: want 1 to"},
		{[]string{"profile", "--all", "-o", "x.bin"}, exitUsage, "cannot tell the format"},
		{[]string{"profile", "--all", "--format", "gif"}, exitUsage, `--format "gif"`},
		{[]string{"profile", "--pid", "4000000"}, exitFailure, "--pid 4000000: no such process"},
		{[]string{"profile", "--all", "-o", "/nonexistent/dir/cpu.pb.gz"}, exitFailure, "output: open /nonexistent/dir/cpu.pb.gz"},
	} {
		code, _, stderr := runCLI(tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.msg) {
			t.Errorf("kscope %s: exit %d, stderr %q; want %d and %q", strings.Join(tt.args, " "), code, stderr, tt.code, tt.msg)
		}
	}
	// A process that exits mid-profile: its samples stay, and it is said.
	short := exec.Command(os.Args[0])
	short.Env = append(os.Environ(), "KSCOPE_WORKLOAD=spin-exit")
	if err := short.Start(); err != nil {
		t.Fatal(err)
	}
	pid := strconv.Itoa(short.Process.Pid)
	go short.Wait()
	code, stdout, stderr := runCLI("profile", "--pid", pid, "--duration", "6s")
	if code != 0 || !strings.Contains(stderr, "process "+pid+" exited during the profile") || !strings.Contains(stdout, "samples in total") {
		t.Errorf("exiting pid: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
}
