package policy

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/policy"
	"github.com/kscope/kscope/internal/testutil"
)

// lsmWorks reports whether BPF LSM works here. Where the runner expects it
// (KSCOPE_EXPECT_SUPPORTED names lsm: scripts/test-vm.sh on Debian's
// kernel) it must: the deny tests then assert the LSM path, elsewhere the
// fallback to kill.
func lsmWorks(t *testing.T) bool {
	t.Helper()
	err := bpfx.ProbeFeature(bpfx.FeatLSM)
	if err != nil && slices.Contains(strings.Split(os.Getenv("KSCOPE_EXPECT_SUPPORTED"), ","), "lsm") {
		t.Fatalf("BPF LSM is expected here but does not work: %v", err)
	}
	if err != nil {
		t.Logf("no BPF LSM here (%v): asserting the fallback", err)
	}
	return err == nil
}

// checkDenyPlan checks how a deny rule runs here: through BPF LSM, or
// falling back to kill and saying why.
func checkDenyPlan(t *testing.T, p *policy.Plan, lsm bool) {
	t.Helper()
	switch {
	case lsm:
		if !p.LSM() || p.Action != "deny" || p.Fallback != "" || !strings.Contains(p.Describe(), "action deny: deny via BPF LSM (EPERM) from the ") {
			t.Fatalf("with BPF LSM: %s", p.Describe())
		}
	default:
		if p.LSM() || p.Action != "kill" || !strings.HasPrefix(p.Fallback, "deny of "+p.Rule.On+" needs BPF LSM, which does not work here (") {
			t.Fatalf("without BPF LSM: %s", p.Describe())
		}
	}
}

// wantOutcome is the alert outcome of a deny rule here.
func wantOutcome(lsm bool, mode string) string {
	switch {
	case lsm && mode == "audit":
		return "would deny"
	case lsm:
		return "denied"
	case mode == "audit":
		return "would kill"
	}
	return "killed"
}

func denyRule(on, mode, match string) string {
	return fmt.Sprintf("rules:\n  - name: deny-%s\n    severity: critical\n    on: %s\n    match:\n%s    action: deny\n    mode: %s\n", on, on, match, mode)
}

// TestDenyOpen: an open for writing of a file denied through BPF LSM fails
// with EPERM and the file is untouched (not truncated); in audit mode the
// open goes through with one "would deny" alert. Without BPF LSM the rule
// falls back to kill: the opener dies at the syscall's exit, after the
// truncate. openat2, whose flags are in struct open_how, is held the same.
func TestDenyOpen(t *testing.T) {
	requirePolicy(t)
	lsm := lsmWorks(t)
	exe := testExe(t)
	for _, tc := range []struct{ mode, workload string }{
		{"enforce", "opentrunc"}, {"audit", "opentrunc"}, {"enforce", "openat2trunc"}, {"audit", "openat2trunc"},
	} {
		mode := tc.mode
		t.Run(mode+"/"+tc.workload, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(file, []byte("untouched"), 0o600); err != nil {
				t.Fatal(err)
			}
			// The test binary run by the test: not the test itself.
			plans := rulesOf(t, denyRule("open", mode, fmt.Sprintf(
				"      file: {path: [%s], access: [write]}\n      binary: {path: [%s]}\n      ancestor: {path: [%s]}\n", file, exe, exe)), false)
			checkDenyPlan(t, plans[0], lsm)
			c, sink := start(t, Config{Plans: plans})
			code, sig, _ := runWorkload(t, -1, tc.workload, file)
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case mode == "audit":
				if code != 0 || sig != 0 || len(b) != 0 {
					t.Fatalf("audit: exit %d, signal %v, file %q: want the open (and its truncate) through", code, sig, b)
				}
			case lsm:
				if code != int(syscall.EPERM) || sig != 0 || string(b) != "untouched" {
					t.Fatalf("LSM deny: exit %d, signal %v, file %q: want EPERM and the file untouched", code, sig, b)
				}
			default:
				if sig != syscall.SIGKILL || len(b) != 0 {
					t.Fatalf("kill fallback: exit %d, signal %v, file %q: want SIGKILL after the truncate", code, sig, b)
				}
			}
			alerts := alertsOf(t, sink, "deny-open", 1)
			if len(alerts) != 1 {
				t.Fatalf("want 1 alert, got %d", len(alerts))
			}
			a := alerts[0]
			if a["outcome"] != wantOutcome(lsm, mode) || a["action"] != plans[0].Action || a["mode"] != mode ||
				a["file"] != file || a["binary"] != exe || a["severity"] != "critical" ||
				fmt.Sprint(a["access"]) != "[write truncate]" {
				t.Errorf("alert %v", a)
			}
			checkOffline(t, plans[0].Rule, a, true)
			if got := c.Counts(); got[0] != 1 {
				t.Errorf("matches: got %d, want 1", got[0])
			}
			// The agent's BPF statistics see the LSM hook's program.
			if _, ok := c.Programs()["policy_lsm_file_open"]; ok != lsm {
				t.Errorf("Programs() %v: want policy_lsm_file_open %v", slices.Collect(maps.Keys(c.Programs())), lsm)
			}
		})
	}
}

// TestDenyExec: an exec denied through BPF LSM fails with EPERM and the
// program never runs (the marker its first instruction would write never
// exists); audit runs it with one alert. Without BPF LSM: killed before
// its first instruction.
func TestDenyExec(t *testing.T) {
	requirePolicy(t)
	lsm := lsmWorks(t)
	for _, mode := range []string{"enforce", "audit"} {
		t.Run(mode, func(t *testing.T) {
			bin := markerProgram(t)
			plans := rulesOf(t, denyRule("exec", mode, fmt.Sprintf("      binary: {path: [%s]}\n", bin)), false)
			checkDenyPlan(t, plans[0], lsm)
			c, sink := start(t, Config{Plans: plans})
			err, marker := runMarker(t, bin)
			var ee *exec.ExitError
			switch {
			case mode == "audit":
				if err != nil || !marker {
					t.Fatalf("audit: err %v, marker written %v: want it to run", err, marker)
				}
			case lsm:
				if !errors.Is(err, syscall.EPERM) || errors.As(err, &ee) || marker {
					t.Fatalf("LSM deny: err %v, marker written %v: want the execve to fail with EPERM", err, marker)
				}
			default:
				if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL || marker {
					t.Fatalf("kill fallback: err %v, marker written %v: want SIGKILL before the first instruction", err, marker)
				}
			}
			alerts := alertsOf(t, sink, "deny-exec", 1)
			if len(alerts) != 1 {
				t.Fatalf("want 1 alert, got %d", len(alerts))
			}
			a := alerts[0]
			if a["outcome"] != wantOutcome(lsm, mode) || a["action"] != plans[0].Action || a["mode"] != mode ||
				a["binary"] != bin || a["on"] != "exec" || a["comm"] != filepath.Base(bin) {
				t.Errorf("alert %v", a)
			}
			checkOffline(t, plans[0].Rule, a, true)
			if got := c.Counts(); got[0] != 1 {
				t.Errorf("matches: got %d, want 1", got[0])
			}
		})
	}
}

// TestDenyModuleLoad: finit_module of a file that is no module, denied
// through BPF LSM, fails with EPERM before the kernel reads the file; in
// audit mode the loader gets it and refuses it (ENOEXEC), with one alert.
// Without BPF LSM the deny falls back to kill (and on a kernel without
// modules the rule cannot match: the call fails with ENOSYS, no alert).
func TestDenyModuleLoad(t *testing.T) {
	requirePolicy(t)
	lsm := lsmWorks(t)
	exe := testExe(t)
	garbage := filepath.Join(t.TempDir(), "not-a-module.ko")
	if err := os.WriteFile(garbage, []byte("kscope: not an ELF file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"enforce", "audit"} {
		t.Run(mode, func(t *testing.T) {
			plans := rulesOf(t, denyRule("module_load", mode, fmt.Sprintf(
				"      binary: {path: [%s]}\n      ancestor: {path: [%s]}\n", exe, exe)), false)
			checkDenyPlan(t, plans[0], lsm)
			noModules := len(plans[0].Missing) == len(policy.SyscallNames["module_load"])
			c, sink := start(t, Config{Plans: plans})
			code, sig, out := runWorkload(t, -1, "finit", garbage)
			if !lsm && noModules {
				if code != int(syscall.ENOSYS) || sig != 0 {
					t.Fatalf("no modules: exit %d, signal %v: want ENOSYS", code, sig)
				}
				if got := c.Counts(); got[0] != 0 {
					t.Errorf("no modules: matches %d, want 0", got[0])
				}
				return
			}
			switch {
			case mode == "audit":
				if code != int(syscall.ENOEXEC) || sig != 0 {
					t.Fatalf("audit: exit %d, signal %v: want the loader's ENOEXEC", code, sig)
				}
			case lsm:
				if code != int(syscall.EPERM) || sig != 0 {
					t.Fatalf("LSM deny: exit %d, signal %v: want EPERM", code, sig)
				}
			default:
				if sig != syscall.SIGKILL {
					t.Fatalf("kill fallback: exit %d, signal %v: want SIGKILL", code, sig)
				}
			}
			lines := strings.Fields(out)
			if len(lines) != 2 {
				t.Fatalf("workload output %q", out)
			}
			fd := mustAtoi(t, lines[1])
			alerts := alertsOf(t, sink, "deny-module_load", 1)
			if len(alerts) != 1 {
				t.Fatalf("want 1 alert, got %d", len(alerts))
			}
			a := alerts[0]
			if a["outcome"] != wantOutcome(lsm, mode) || a["action"] != plans[0].Action || a["mode"] != mode ||
				a["syscall"] != "finit_module" || a["detail"] != fmt.Sprintf(`fd %d, flags 0x0, params ""`, fd) ||
				a["binary"] != exe || a["pid"] != float64(mustAtoi(t, lines[0])) {
				t.Errorf("alert %v", a)
			}
			checkOffline(t, plans[0].Rule, a, true)
			if got := c.Counts(); got[0] != 1 {
				t.Errorf("matches: got %d, want 1", got[0])
			}
		})
	}
}

// TestDenyPtraceMountBPF: PTRACE_SEIZE, a mount and a BPF_PROG_LOAD by the
// test binary run by the test, denied through BPF LSM, fail with EPERM
// before anything is done (the mount's file system does not even exist:
// ENODEV untraced) and alert "denied" with the syscall's details. Without
// BPF LSM: killed.
func TestDenyPtraceMountBPF(t *testing.T) {
	requirePolicy(t)
	lsm := lsmWorks(t)
	exe := testExe(t)
	sleep := testutil.Tool(t, "sleep", "as a process to ptrace")
	dir := t.TempDir()
	args := map[string]string{"ptrace": sleep, "mount": dir}
	// bpf: the workload's start-up map (cilium/ebpf's rlimit probe) is
	// matched too: denied, or the kill ends the workload there.
	wantCount := map[string]uint64{"ptrace": 1, "mount": 1, "bpf": 2}
	for _, on := range []string{"ptrace", "mount", "bpf"} {
		t.Run(on, func(t *testing.T) {
			plans := rulesOf(t, denyRule(on, "enforce", fmt.Sprintf("      binary: {path: [%s]}\n      ancestor: {path: [%s]}\n", exe, exe)), false)
			checkDenyPlan(t, plans[0], lsm)
			c, sink := start(t, Config{Plans: plans})
			code, sig, out := runWorkload(t, -1, on, args[on])
			lines := strings.Fields(out)
			if !lsm {
				if sig != syscall.SIGKILL {
					t.Fatalf("kill fallback: exit %d, signal %v: want SIGKILL", code, sig)
				}
				if a := alertsOf(t, sink, "deny-"+on, 1); len(a) != 1 || a[0]["outcome"] != "killed" {
					t.Fatalf("kill fallback: alerts %v", a)
				}
				return
			}
			if code != int(syscall.EPERM) || sig != 0 || len(lines) == 0 {
				t.Fatalf("LSM deny: exit %d, signal %v, output %q: want EPERM", code, sig, out)
			}
			pid := float64(mustAtoi(t, lines[0]))
			detail := map[string]string{"mount": `type "kscope-nofs", flags 0x0`, "bpf": "BPF_PROG_LOAD"}[on]
			if on == "ptrace" {
				detail = "PTRACE_SEIZE pid " + lines[1]
			}
			a := alertsWhere(t, sink, func(x map[string]any) bool {
				return x["rule"] == "deny-"+on && x["pid"] == pid && x["detail"] == detail
			})
			if len(a) != 1 {
				t.Fatalf("%d alerts of pid %v with detail %q, want 1", len(a), pid, detail)
			}
			if a[0]["outcome"] != "denied" || a[0]["action"] != "deny" || a[0]["binary"] != exe ||
				(on == "mount" && a[0]["file"] != dir) {
				t.Errorf("alert %v", a[0])
			}
			checkOffline(t, plans[0].Rule, a[0], true)
			if got := c.Counts(); got[0] != wantCount[on] {
				t.Errorf("matches: got %d, want %d", got[0], wantCount[on])
			}
		})
	}
}

// TestDenyOpenSelectors: the LSM hook matches on the same rule masks and
// selectors as the tracepoint path: the deny rule is the 80th (in the
// masks' second word), selects on euid, gid and a capability the opener
// has, and two deny rules on the same file that the opener fails by euid
// and by namespace (it is in the host's) never act. Without BPF LSM the
// rule falls back to kill.
func TestDenyOpenSelectors(t *testing.T) {
	requirePolicy(t)
	lsm := lsmWorks(t)
	exe := testExe(t)
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte("untouched"), 0o600); err != nil {
		t.Fatal(err)
	}
	var y strings.Builder
	y.WriteString("rules:\n")
	for i := range 77 {
		fmt.Fprintf(&y, "  - name: other-%d\n    on: open\n    match: {file: {path: [/nonexistent/%d]}}\n    action: deny\n", i, i)
	}
	fmt.Fprintf(&y, "  - name: by-euid\n    on: open\n    match: {file: {path: [%s]}, user: {euid: [4242]}}\n    action: deny\n", file)
	fmt.Fprintf(&y, "  - name: by-ns\n    on: open\n    match: {file: {path: [%s]}, namespace: {not_host: [pid]}}\n    action: deny\n", file)
	fmt.Fprintf(&y, "  - name: deny-open\n    severity: critical\n    on: open\n    match:\n      file: {path: [%s], access: [write]}\n      binary: {path: [%s]}\n      ancestor: {path: [%s]}\n      user: {euid: [0], gid: [0]}\n      capability: [CAP_DAC_OVERRIDE]\n    action: deny\n", file, exe, exe)
	plans := rulesOf(t, y.String(), false)
	const last = 79
	if len(plans) != last+1 {
		t.Fatalf("%d plans", len(plans))
	}
	for _, p := range plans {
		checkDenyPlan(t, p, lsm)
	}
	c, sink := start(t, Config{Plans: plans})
	code, sig, _ := runWorkload(t, -1, "opentrunc", file)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if lsm {
		if code != int(syscall.EPERM) || sig != 0 || string(b) != "untouched" {
			t.Fatalf("LSM deny: exit %d, signal %v, file %q: want EPERM and the file untouched", code, sig, b)
		}
	} else if sig != syscall.SIGKILL || len(b) != 0 {
		t.Fatalf("kill fallback: exit %d, signal %v, file %q: want SIGKILL after the truncate", code, sig, b)
	}
	alerts := alertsOf(t, sink, "deny-open", 1)
	if len(alerts) != 1 {
		t.Fatalf("want 1 alert, got %d", len(alerts))
	}
	if a := alerts[0]; a["outcome"] != wantOutcome(lsm, "enforce") || a["file"] != file || a["binary"] != exe {
		t.Errorf("alert %v", alerts[0])
	}
	got := c.Counts()
	for i, n := range got {
		want := uint64(0)
		if i == last {
			want = 1
		}
		if n != want {
			t.Errorf("rule %d (%s): %d matches, want %d", i, plans[i].Rule.Name, n, want)
		}
	}
}
