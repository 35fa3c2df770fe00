package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/testutil"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// kscopeBinary builds kscope once into a directory anyone can read, so it
// can also run as nobody.
func kscopeBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kscope-bin-")
		if err != nil {
			binErr = err
			return
		}
		os.Chmod(dir, 0o755)
		binPath = filepath.Join(dir, "kscope")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = err
			binPath = string(out)
		}
	})
	if binErr != nil {
		t.Fatalf("building kscope: %v\n%s", binErr, binPath)
	}
	return binPath
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

// runCLIThen runs kscope in this process with -v and, once the tracer
// says it attached, runs then (the workload) beside it.
func runCLIThen(then func(), args ...string) (code int, stdout, stderr string) {
	var o bytes.Buffer
	e := &attachWatch{then: then, done: make(chan struct{})}
	code = run(append(args, "-v"), &o, e)
	if e.started.Load() {
		<-e.done
	}
	return code, o.String(), e.String()
}

// attachWatch collects kscope's stderr and starts then once it says
// "attached".
type attachWatch struct {
	testutil.Output
	then    func()
	started atomic.Bool
	done    chan struct{}
}

func (w *attachWatch) Write(p []byte) (int, error) {
	n, err := w.Output.Write(p)
	if strings.Contains(w.String(), "msg=attached") && w.started.CompareAndSwap(false, true) {
		go func() { defer close(w.done); w.then() }()
	}
	return n, err
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"trace"}, "trace needs a kind"},
		{[]string{"trace", "bogus"}, `unknown kind "bogus"`},
		{[]string{"trace", "exec", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"trace", "exec", "--pid", "abc"}, "invalid argument"},
		{[]string{"trace", "exec", "--pid", "-5"}, "not a process id"},
		{[]string{"trace", "open", "--uid", "-7"}, "not a user id"},
		{[]string{"trace", "exec", "--comm", "0123456789abcdef"}, "at most 15 bytes"},
		{[]string{"trace", "exec", "--count", "-1"}, "must not be negative"},
		{[]string{"trace", "exec", "--duration", "soon"}, "invalid argument"},
		{[]string{"trace", "exec", "--buffer-size", "3M"}, "power of two"},
		{[]string{"trace", "exec", "extra"}, "takes no arguments"},
		{[]string{"bogus"}, "unknown command"},
		{[]string{"version", "x"}, "takes no arguments"},
		{[]string{"events", "--start", "5"}, "--start needs --pid"},
		{[]string{"events", "--pid", "-1"}, "invalid argument"},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(tt.args...)
		if code != exitUsage || !strings.Contains(stderr, tt.msg) {
			t.Errorf("kscope %s: exit %d, stderr %q; want 2 and %q", strings.Join(tt.args, " "), code, stderr, tt.msg)
		}
	}
}

func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"trace", "--help"}, {"trace", "exec", "--help"}, {"trace", "connect", "--help"}, {"doctor", "--help"}, {"version", "--help"}} {
		code, stdout, stderr := runCLI(args...)
		if code != 0 || !strings.Contains(stdout, "Usage:") {
			t.Errorf("kscope %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
		}
	}
	code, stdout, _ := runCLI("version")
	if code != 0 || !strings.HasPrefix(stdout, "kscope ") {
		t.Errorf("version: exit %d, %q", code, stdout)
	}
}

func TestTraceNeedsPrivileges(t *testing.T) {
	testutil.RequireRoot(t, "to drop to nobody")
	testutil.Tool(t, "setpriv", "to drop privileges")
	bin := kscopeBinary(t)
	cmd := exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", bin, "trace", "exec")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("as nobody: %v, want exit 1\n%s", err, out)
	}
	if !strings.Contains(string(out), "needs root or CAP_BPF+CAP_PERFMON (missing CAP_BPF, CAP_PERFMON)") {
		t.Errorf("message does not name what is missing: %s", out)
	}
}

func errorsAs(err error, ee **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	*ee = e
	return ok
}

// startTrace runs kscope trace with -v and waits until it has attached.
func startTrace(t *testing.T, args ...string) (*traced, *testutil.Output, *syncBuffer) {
	t.Helper()
	testutil.RequireBPF(t)
	bin := kscopeBinary(t)
	cmd := exec.Command(bin, append([]string{"trace", args[0], "-v"}, args[1:]...)...)
	stdout := &testutil.Output{}
	stderr := &syncBuffer{}
	cmd.Stdout = stdout
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	attached, drained := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(drained)
		sc := bufio.NewScanner(pr)
		once := sync.Once{}
		for sc.Scan() {
			stderr.WriteLine(sc.Text())
			if strings.Contains(sc.Text(), "msg=attached") {
				once.Do(func() { close(attached) })
			}
		}
	}()
	tr := &traced{Cmd: cmd, done: make(chan struct{})}
	// Done once the process has exited and its last stderr line is in
	// stderr: the scanner may hold it a moment after the pipe took it.
	go func() { cmd.Wait(); pw.Close(); <-drained; close(tr.done) }()
	select {
	case <-attached:
	case <-tr.done:
		t.Fatalf("kscope trace %v exited: %s", args, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("kscope trace %v did not attach: %s", args, stderr.String())
	}
	return tr, stdout, stderr
}

type traced struct {
	*exec.Cmd
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) WriteLine(l string) { s.mu.Lock(); s.b.WriteString(l + "\n"); s.mu.Unlock() }
func (s *syncBuffer) String() string     { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func waitExit(t *testing.T, cmd *traced, stderr *syncBuffer) {
	t.Helper()
	select {
	case <-cmd.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("kscope did not exit: %s", stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("kscope exit %d: %s", code, stderr.String())
	}
}

func TestTraceExecJSON(t *testing.T) {
	cmd, stdout, stderr := startTrace(t, "exec", "--json", "--comm", "echo", "--count", "1")
	tag := "kscope-cli-" + strconv.Itoa(os.Getpid())
	echo := exec.Command("/bin/echo", tag, "second arg")
	echo.Run()
	waitExit(t, cmd, stderr)

	var ev map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &ev); err != nil {
		t.Fatalf("not one JSON object: %q: %v", stdout.String(), err)
	}
	for _, k := range []string{"time", "type", "pid", "tid", "ppid", "uid", "comm", "cgroup_id", "start_ns", "start_time", "parent_start_ns", "filename", "argv", "argv_truncated", "ret"} {
		if _, ok := ev[k]; !ok {
			t.Errorf("field %s missing in %v", k, ev)
		}
	}
	if ts, _ := ev["time"].(string); ts == "" {
		t.Error("no time")
	} else if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		t.Errorf("time %q: %v", ts, err)
	}
	argv, _ := ev["argv"].([]any)
	if ev["type"] != "exec" || ev["comm"] != "echo" || len(argv) != 3 || argv[1] != tag || argv[2] != "second arg" {
		t.Errorf("event %v", ev)
	}
	if ev["pid"].(float64) != float64(echo.Process.Pid) {
		t.Errorf("pid %v, want %d", ev["pid"], echo.Process.Pid)
	}
	if !strings.Contains(stderr.String(), "1 events shown, 0 lost (buffer full), ") {
		t.Errorf("no summary line: %s", stderr.String())
	}
}

func TestTraceTableAndSIGINT(t *testing.T) {
	cmd, stdout, stderr := startTrace(t, "exit", "--comm", "sh")
	sh := exec.Command("/bin/sh", "-c", "exit 7")
	sh.Run()
	// The row appears (the reader flushes every 50ms), then SIGINT ends
	// the trace.
	row := regexp.MustCompile(`(?m)^\S+[ \t]+\S+[ \t]+` + strconv.Itoa(sh.Process.Pid) + `[ \t]+\S+[ \t]+\S+[ \t]+7\b`)
	if stdout.WaitFor(row, 30*time.Second) == nil {
		t.Errorf("no row for pid %d with code 7:\n%s", sh.Process.Pid, stdout.String())
	}
	cmd.Process.Signal(syscall.SIGINT)
	waitExit(t, cmd, stderr)

	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "TIME") || !strings.Contains(lines[0], "CODE") {
		t.Fatalf("no table: %q", stdout.String())
	}
	if !strings.Contains(stderr.String(), "events shown,") {
		t.Errorf("no summary: %s", stderr.String())
	}
}

func TestTraceDuration(t *testing.T) {
	cmd, _, stderr := startTrace(t, "exit", "--duration", "300ms")
	waitExit(t, cmd, stderr)
}

// A failed exec's row names the filename that failed, which is not argv[0]
// when a shell searches $PATH.
func TestTraceExecFailedText(t *testing.T) {
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	cmd, stdout, stderr := startTrace(t, "exec", "--failed", "--comm", strings.TrimSpace(string(comm)), "--count", "1")
	path := "/nonexistent/kscope-failed-" + strconv.Itoa(os.Getpid())
	failing := exec.Command(path, "-l")
	failing.Args[0] = "lsx"
	if err := failing.Run(); err == nil {
		t.Fatal("exec of a missing path succeeded")
	}
	waitExit(t, cmd, stderr)
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("want a header and one row: %q", stdout.String())
	}
	if want := "lsx -l  [ENOENT: " + path + "]"; !strings.HasSuffix(lines[1], want) {
		t.Errorf("row %q does not end in %q", lines[1], want)
	}
}
