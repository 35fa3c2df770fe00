package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/testutil"
)

// policyProgram is a program of a name of its own (a symbolic link to
// /bin/true) for a policy's binary selector.
func policyProgram(t *testing.T, dir, prefix string) string {
	t.Helper()
	p := filepath.Join(dir, fmt.Sprintf("%s%d", prefix, time.Now().UnixNano()%1e6))
	if err := os.Symlink("/bin/true", p); err != nil {
		t.Fatal(err)
	}
	return p
}

// runPolicyProgram runs p and reports whether SIGKILL ended it.
func runPolicyProgram(t *testing.T, p string) (killed bool) {
	t.Helper()
	err := exec.Command(p).Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true
		}
	}
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return false
}

func writePolicyFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// alertEvents returns the stored alerts of rule with outcome.
func alertEvents(t *testing.T, base, rule, outcome string) ([]map[string]any, error) {
	body, err := httpGet(base + "/api/v1/events?" + url.Values{"type": {"alert"}, "since": {"15m"}, "match": {"rule=" + rule, "outcome=" + outcome}}.Encode())
	if err != nil {
		return nil, err
	}
	var res struct {
		Data struct {
			Events []map[string]any `json:"events"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		return nil, err
	}
	return res.Data.Events, nil
}

// matchesMetric is kscope_policy_matches_total's value for the rule and
// action on /metrics, or -1.
func matchesMetric(t *testing.T, base, rule, action string) float64 {
	body, err := httpGet(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "kscope_policy_matches_total{") && strings.Contains(l, `rule="`+rule+`"`) && strings.Contains(l, `action="`+action+`"`) {
			v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

const policyRule = `rules:
  - name: %s
    severity: %s
    on: exec
    match:
      binary: {path: [%s]}
    action: %s
`

// SIGHUP rereads the agent's policy files: a kill rule changed to alert
// lets the program run, and an invalid file keeps the running rules and
// logs the error with its place.
func TestAgentPolicySIGHUP(t *testing.T) {
	dir := t.TempDir()
	prog := policyProgram(t, dir, "kspolhup")
	pol := filepath.Join(dir, "p.yaml")
	writePolicyFile(t, pol, fmt.Sprintf(policyRule, "hup-prog", "high", prog, "kill"))
	conf := filepath.Join(dir, "kscope.yaml")
	writePolicyFile(t, conf, "policies: [p.yaml]\n")
	a := startAgent(t, t.TempDir(), "--config", conf, "--collectors", "policy")

	if !runPolicyProgram(t, prog) {
		t.Fatal("the program ran: want it killed on exec")
	}
	eventually(t, "the kill is counted", func() error {
		if v := matchesMetric(t, a.url, "hup-prog", "kill"); v != 1 {
			return fmt.Errorf("kill matches %v", v)
		}
		return nil
	})

	writePolicyFile(t, pol, fmt.Sprintf(policyRule, "hup-prog", "high", prog, "alert"))
	reloaded := regexp.MustCompile(`(?s)configuration reloaded.*restarted=policy`)
	a.cmd.Process.Signal(syscall.SIGHUP)
	if a.stderr.WaitFor(reloaded, 30*time.Second) == nil {
		t.Fatalf("no reload:\n%s", a.stderr)
	}
	if runPolicyProgram(t, prog) {
		t.Fatal("killed after the reload to alert")
	}
	eventually(t, "the alert is stored and counted", func() error {
		evs, err := alertEvents(t, a.url, "hup-prog", "alerted")
		if err != nil || len(evs) != 1 {
			return fmt.Errorf("%v: %d alerted", err, len(evs))
		}
		if v, k := matchesMetric(t, a.url, "hup-prog", "alert"), matchesMetric(t, a.url, "hup-prog", "kill"); v != 1 || k != 1 {
			return fmt.Errorf("alert matches %v, kill matches %v", v, k)
		}
		return nil
	})

	writePolicyFile(t, pol, "rules:\n  - name: hup-prog\n    on: exec\n    nope: 1\n")
	a.cmd.Process.Signal(syscall.SIGHUP)
	kept := regexp.MustCompile(`keeping the running rules.*` + regexp.QuoteMeta(pol) + `:4:5`)
	if a.stderr.WaitFor(kept, 30*time.Second) == nil {
		t.Fatalf("the invalid file is not reported:\n%s", a.stderr)
	}
	if runPolicyProgram(t, prog) {
		t.Fatal("killed after the invalid reload")
	}
	eventually(t, "the second alert is stored", func() error {
		if evs, err := alertEvents(t, a.url, "hup-prog", "alerted"); err != nil || len(evs) != 2 {
			return fmt.Errorf("%v: %d alerted", err, len(evs))
		}
		return nil
	})
}

// The Security page with a real agent and real alerts: a kill and an
// alert, each listed with its outcome, filtered by rule and severity, the
// pid linking to the process.
func TestWebSecurity(t *testing.T) {
	node, chromium := webTools(t)
	out := os.Getenv("KSCOPE_TEST_OUT")
	if out == "" {
		out = filepath.Join("..", "..", "out")
	}
	out, _ = filepath.Abs(filepath.Join(out, "web-security"))
	os.RemoveAll(out)
	dir := t.TempDir()
	killProg := policyProgram(t, dir, "ksseckill")
	alertProg := policyProgram(t, dir, "kssecalert")
	pol := filepath.Join(dir, "p.yaml")
	writePolicyFile(t, pol, fmt.Sprintf(policyRule, "sec-kill", "high", killProg, "kill")+
		strings.TrimPrefix(fmt.Sprintf(policyRule, "sec-alert", "low", alertProg, "alert"), "rules:\n"))
	conf := filepath.Join(dir, "kscope.yaml")
	writePolicyFile(t, conf, "policies: [p.yaml]\n")
	a := startAgent(t, t.TempDir(), "--config", conf, "--collectors", "policy,exec")

	if !runPolicyProgram(t, killProg) {
		t.Fatal("the program ran: want it killed on exec")
	}
	if runPolicyProgram(t, alertProg) {
		t.Fatal("the alert-only program was killed")
	}
	eventually(t, "both alerts are stored", func() error {
		if k, err := alertEvents(t, a.url, "sec-kill", "killed"); err != nil || len(k) != 1 {
			return fmt.Errorf("%v: %d killed", err, len(k))
		}
		if al, err := alertEvents(t, a.url, "sec-alert", "alerted"); err != nil || len(al) != 1 {
			return fmt.Errorf("%v: %d alerted", err, len(al))
		}
		return nil
	})
	// The killed process's pid and start, as text: start_ns is beyond a
	// float64's exact integers.
	body, err := httpGet(a.url + "/api/v1/events?type=alert&since=15m&match=rule=sec-kill")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`"pid":(\d+).*?"start_ns":(\d+)`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no pid and start_ns in %s", body)
	}
	kill := "sec-kill/" + m[1] + "/" + m[2]

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "e2e/security.mjs")
	cmd.Dir = "../../web"
	cmd.Env = append(os.Environ(), "KSCOPE_URL="+a.url, "KSCOPE_OUT="+out, "KSCOPE_KILL="+kill, "KSCOPE_ALERT=sec-alert",
		"KSCOPE_ANCESTOR="+filepath.Base(os.Args[0]), "CHROMIUM="+chromium, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1")
	b, err := cmd.CombinedOutput()
	t.Logf("%s", b)
	if err != nil {
		t.Fatalf("Security page checks failed: %v\nagent log:\n%s", err, lastLines(a.stderr.String(), 20))
	}
}

// A policy file with errors: --check reports each with its place as the
// policy collector's failure (exit 1), and the agent does not start (exit
// 2, a configuration error).
func TestAgentPolicyCheck(t *testing.T) {
	testutil.RequireBPF(t)
	dir := t.TempDir()
	pol := filepath.Join(dir, "bad.yaml")
	writePolicyFile(t, pol, "rules:\n  - name: a\n    on: teleport\n    match: {comm: [sh]}\n    action: alert\n  - name: b\n    on: exec\n    match: {comm: [sh]}\n    action: explode\n")
	conf := filepath.Join(dir, "kscope.yaml")
	writePolicyFile(t, conf, "policies: "+pol+"\n")
	out, err := exec.Command(kscopeBinary(t), "agent", "--check", "--config", conf, "--collectors", "exit,policy").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("--check: %v, want exit 1", err)
	}
	for _, want := range []string{"policy", "FAILED", pol + ":3:9", pol + ":9:13", "exit"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--check does not say %q:\n%s", want, out)
		}
	}

	out, err = exec.Command(kscopeBinary(t), "agent", "--config", conf, "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--collectors", "policy").CombinedOutput()
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), pol+":3:9") {
		t.Errorf("agent: %v, want exit 2 and the error at %s:3:9:\n%s", err, pol, out)
	}
}
