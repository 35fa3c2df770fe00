package policy

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/kscope/kscope/internal/policy"
)

// TestThousandRules: 1,000 rules, most naming an exact binary that never
// runs, load and match in the kernel: rule 999 (the mask's last word)
// kills the marker program before its first instruction, rule 130 alerts
// on the same exec and rule 700 on an open; no other rule counts a match.
func TestThousandRules(t *testing.T) {
	requirePolicy(t)
	bin := markerProgram(t)
	file := filepath.Join(t.TempDir(), "watched")
	var y strings.Builder
	y.WriteString("rules:\n")
	for i := range 1000 {
		switch i {
		case 130:
			fmt.Fprintf(&y, "  - {name: r%d, on: exec, action: alert, match: {binary: {prefix: [%s/]}, user: {euid: [0]}}}\n", i, filepath.Dir(bin))
		case 700:
			fmt.Fprintf(&y, "  - {name: r%d, on: open, action: alert, match: {file: {path: [%s]}}}\n", i, file)
		case 999:
			fmt.Fprintf(&y, "  - {name: r%d, on: exec, action: kill, match: {binary: {path: [%s]}}}\n", i, bin)
		default:
			fmt.Fprintf(&y, "  - {name: r%d, on: exec, action: alert, match: {binary: {path: [/nonexistent/r%d]}}}\n", i, i)
		}
	}
	plans := rulesOf(t, y.String(), false)
	if len(plans) != 1000 {
		t.Fatalf("%d plans", len(plans))
	}
	c, sink := start(t, Config{Plans: plans})
	err, ran := runMarker(t, bin)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL || ran {
		t.Fatalf("want killed by SIGKILL before writing the marker, got %v, marker written %v", err, ran)
	}
	if code, sig, _ := runWorkload(t, -1, "read", file); code != 0 || sig != 0 {
		t.Fatalf("read: exit %d signal %v", code, sig)
	}
	kill := alertsOf(t, sink, "r999", 1)
	if len(kill) != 1 || kill[0]["outcome"] != "killed" || kill[0]["binary"] != bin {
		t.Errorf("r999: alerts %v", kill)
	}
	exec130 := alertsOf(t, sink, "r130", 1)
	if len(exec130) != 1 || exec130[0]["outcome"] != "alerted" || exec130[0]["binary"] != bin {
		t.Errorf("r130: alerts %v", exec130)
	}
	open700 := alertsOf(t, sink, "r700", 1)
	if len(open700) != 1 || open700[0]["file"] != file {
		t.Errorf("r700: alerts %v", open700)
	}
	for _, a := range [][]map[string]any{kill, exec130, open700} {
		for _, x := range a {
			checkOffline(t, plans[mustAtoi(t, x["rule"].(string)[1:])].Rule, x, true)
		}
	}
	for i, n := range c.Counts() {
		want := uint64(0)
		if i == 130 || i == 700 || i == 999 {
			want = 1
		}
		if n != want {
			t.Errorf("rule r%d: %d matches, want %d", i, n, want)
		}
	}
}

// TestTooManyRules: more rules than the kernel's masks hold is an error
// before anything loads.
func TestTooManyRules(t *testing.T) {
	plans := make([]*policy.Plan, policy.MaxRules+1)
	for i := range plans {
		plans[i] = &policy.Plan{Rule: &policy.Rule{Name: fmt.Sprint("r", i), On: "exec"}, Stage: "kernel"}
	}
	if _, err := New(Config{Plans: plans}); err == nil || err.Error() != "policy: 1025 rules, at most 1024" {
		t.Errorf("got %v", err)
	}
}
