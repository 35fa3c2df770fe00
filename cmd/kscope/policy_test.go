package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/policy"
	"github.com/kscope/kscope/internal/testutil"
)

func writePolicy(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const cliPolicy = `rules:
  - name: no-tmp-exec
    severity: high
    on: exec
    match:
      binary: {prefix: [/tmp/, /dev/shm/]}
      user: {not_root: true}
    action: kill
  - name: no-metadata
    on: connect
    match:
      destination: {cidr: [169.254.169.254/32], ports: [80, 443], protocol: tcp}
    action: deny
    mode: audit
`

func TestPolicyCheck(t *testing.T) {
	p := writePolicy(t, cliPolicy)
	code, out, stderr := runCLI("policy", "check", p)
	if code != exitOK || !strings.Contains(out, p+":2:5: no-tmp-exec: on exec, runs in kernel; action kill") ||
		!strings.Contains(out, p+":9:5: no-metadata: on connect, runs in kernel; action deny") ||
		!strings.Contains(out, "; audit: reports what") || !strings.HasSuffix(out, "2 rules valid\n") {
		t.Errorf("code %d\n%s\n%s", code, out, stderr)
	}
	bad := writePolicy(t, "rules:\n  - name: a\n    on: connect\n    action: deny\n    match: {destination: {cidr: [300.0.0.0/8]}}\n  - name: b\n    on: exec\n    action: alert\n    match: {binary: {glob: [\"/[\"]}}\n")
	code, out, stderr = runCLI("policy", "check", bad)
	if code != exitUsage || out != "" || !strings.Contains(stderr, bad+`:5:34: match.destination.cidr: "300.0.0.0/8" is not a CIDR`) ||
		!strings.Contains(stderr, bad+`:9:29: match.binary.glob: "/[": bad glob`) {
		t.Errorf("bad policy: code %d\n%s\n%s", code, out, stderr)
	}
	if code, _, stderr := runCLI("policy", "check", filepath.Join(t.TempDir(), "none.yaml")); code != exitUsage || !strings.Contains(stderr, "none.yaml: cannot read") {
		t.Errorf("missing file: %d %s", code, stderr)
	}
	// More exact values than the kernel's table holds.
	var big strings.Builder
	big.WriteString("rules:\n  - name: many\n    on: exec\n    action: alert\n    match:\n      binary:\n        path:\n")
	for i := 0; i <= policy.CapPaths; i++ {
		fmt.Fprintf(&big, "          - /bin/p%d\n", i)
	}
	many := writePolicy(t, big.String())
	if code, _, stderr := runCLI("policy", "check", many); code != exitUsage || !strings.Contains(stderr, many+": the rules name 4097 distinct exact paths: the kernel side holds at most 4096") {
		t.Errorf("capacity: %d %s", code, stderr)
	}
}

// TestPolicyCheckDeny: check says how a deny of open runs here: through
// BPF LSM where it works, else the fallback and why.
func TestPolicyCheckDeny(t *testing.T) {
	testutil.RequireRoot(t, "probing BPF LSM")
	p := writePolicy(t, "rules:\n  - name: no-shadow-write\n    on: open\n    match: {file: {path: [/etc/shadow], access: [write]}}\n    action: deny\n")
	code, out, stderr := runCLI("policy", "check", p)
	want := p + ":2:5: no-shadow-write: on open, runs in kernel; action deny: deny via BPF LSM (EPERM) from the file_open hook"
	if err := bpfx.ProbeFeature(bpfx.FeatLSM); err != nil {
		want = p + ":2:5: no-shadow-write: on open, runs in kernel; action deny -> kill (fallback: deny of open needs BPF LSM, which does not work here (" + err.Error() + "); taking kill instead.)"
	}
	if code != exitOK || !strings.Contains(out, want) {
		t.Errorf("code %d\n%s\n%s\nwant %s", code, out, stderr, want)
	}
}

func TestPolicyTest(t *testing.T) {
	p := writePolicy(t, cliPolicy)
	for _, tc := range []struct {
		event string
		code  int
		out   string
	}{
		{`{"type":"exec","uid":1000,"filename":"/tmp/x"}`, exitOK, "no-tmp-exec: match: kill (enforce, high)\n"},
		{`{"type":"exec","uid":0,"filename":"/tmp/x"}`, exitFailure, "no rule matches\n"},
		{`{"type":"connect","uid":0,"daddr":"169.254.169.254","dport":443,"proto":"tcp"}`, exitOK, "no-metadata: match: deny (audit, medium)\n"},
		{`{"type":"connect","uid":0,"daddr":"169.254.169.254","dport":22,"proto":"tcp"}`, exitFailure, "no rule matches\n"},
		{`{"type":"ptrace","uid":0}`, exitFailure, "no rule matches\n"},
		{`{"type":"fork","uid":0}`, exitUsage, ""},
		{`{"type":"exec"}`, exitUsage, ""},
		{`{`, exitUsage, ""},
	} {
		code, out, stderr := runCLI("policy", "test", p, "--event", tc.event)
		if code != tc.code || out != tc.out {
			t.Errorf("%s: code %d, want %d; out %q, want %q; stderr %s", tc.event, code, tc.code, out, tc.out, stderr)
		}
	}
}

// TestPolicyRun runs kscope policy run as a process: a program started
// from the watched directory is killed, a write to the watched file is
// alerted, alerts are JSON lines, and SIGINT detaches and prints the counts.
func TestPolicyRun(t *testing.T) {
	testutil.RequireRoot(t, "loading BPF programs")
	if err := bpfx.ProbeFeature(bpfx.FeatSendSignal); err != nil {
		testutil.Skip(t, "bpf_send_signal", err)
	}
	bin := kscopeBinary(t)
	dir := t.TempDir()
	prog := filepath.Join(dir, "true")
	data, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prog, data, 0o755); err != nil {
		t.Fatal(err)
	}
	watched := filepath.Join(dir, "watched")
	p := writePolicy(t, fmt.Sprintf(`rules:
  - name: run-exec
    severity: high
    on: exec
    match:
      binary: {prefix: [%[1]s/]}
    action: kill
  - name: run-open
    on: open
    match:
      file: {path: [%[2]s], access: [write]}
    action: alert
`, dir, watched))
	var stdout, stderr testutil.Output
	cmd := exec.Command(bin, "policy", "run", "--json", p)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if stderr.WaitFor(regexp.MustCompile(`2 rules loaded`), time.Minute) == nil {
		t.Fatalf("not started:\n%s", stderr.String())
	}
	err = exec.Command(prog).Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("the program from the watched directory: %v, want killed", err)
	}
	if err := os.WriteFile(watched, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if stdout.WaitFor(regexp.MustCompile(`"rule":"run-open"`), 10*time.Second) == nil ||
		stdout.WaitFor(regexp.MustCompile(`"rule":"run-exec"`), 10*time.Second) == nil {
		t.Fatalf("alerts missing:\n%s\n%s", stdout.String(), stderr.String())
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("kscope policy run: %v\n%s", err, stderr.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var a map[string]any
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		switch a["rule"] {
		case "run-exec":
			if a["type"] != "alert" || a["outcome"] != "killed" || a["binary"] != prog {
				t.Errorf("exec alert %v", a)
			}
		case "run-open":
			if a["file"] != watched || fmt.Sprint(a["access"]) != "[write create truncate]" || a["pid"] != float64(os.Getpid()) {
				t.Errorf("open alert %v", a)
			}
		default:
			t.Errorf("alert %v", a)
		}
	}
	for _, re := range []string{`run-exec +1 matches \(kill\)`, `run-open +1 matches \(alert\)`} {
		if !regexp.MustCompile(re).MatchString(stderr.String()) {
			t.Errorf("stderr lacks %s:\n%s", re, stderr.String())
		}
	}
}
