package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/policy"
	"github.com/kscope/kscope/internal/store"
	"github.com/kscope/kscope/internal/testutil"
)

// syncBuffer is a log destination tests read while the agent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// hookServer records the alerts posted to it.
type hookServer struct {
	*httptest.Server
	mu     sync.Mutex
	alerts []map[string]any
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a map[string]any
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if r.Header.Get("Authorization") != "Bearer t0k" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		h.mu.Lock()
		h.alerts = append(h.alerts, a)
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) count(outcome string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, a := range h.alerts {
		if a["outcome"] == outcome {
			n++
		}
	}
	return n
}

// matches is kscope_policy_matches_total for the rule and action, or -1
// without the series.
func matches(t *testing.T, a *Agent, file, rule, action string) float64 {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, _, err := a.gatherLocked(); err != nil {
		t.Fatal(err)
	}
	v, ok := a.emitter.Sum("kscope_policy_matches_total", "policy", file, "rule", rule, "action", action, "mode", "enforce")
	if !ok {
		return -1
	}
	return v
}

func failures(t *testing.T, a *Agent) float64 {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gatherLocked()
	v, _ := a.emitter.Sum("kscope_policy_enforcement_failures_total")
	return v
}

// runProgram runs the test binary under path and returns how it ended.
func runProgram(t *testing.T, path string) (killed bool) {
	t.Helper()
	cmd := exec.Command(path)
	cmd.Env = append(os.Environ(), "KSCOPE_AGENT_TEST_EXIT=1")
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true
		}
	}
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return false
}

func storedAlerts(t *testing.T, a *Agent, rule, outcome string, want int) []map[string]any {
	t.Helper()
	q := store.Query{Type: "alert", Match: []string{"rule=" + rule, "outcome=" + outcome}, Limit: 100}
	var res *store.Result
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; {
		if res, err = a.events.Query(context.Background(), q); err != nil {
			t.Fatal(err)
		}
		if len(res.Events) >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling the store for a condition, with a deadline
	}
	var out []map[string]any
	for _, raw := range res.Events {
		var e map[string]any
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// The agent tests: a real agent with a policy file kills a real
// program on exec, stores each alert, posts it to the file's webhook and
// counts the matches exactly; a reload with a changed file makes the rule
// alert only, and the counters carry on; a reload with an invalid file
// keeps the running rules and logs the error with its place.
func TestAgentPolicy(t *testing.T) {
	testutil.RequireBPF(t)
	prog, _ := uniqueProgram(t, "kspol")
	hook := newHookServer(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "p.yaml")
	writePolicy := func(action string) {
		t.Helper()
		body := fmt.Sprintf(`webhook:
  url: %s/alerts
  headers: {Authorization: Bearer t0k}
rules:
  - name: no-prog
    severity: high
    on: exec
    match:
      binary: {path: [%s]}
    action: %s
`, hook.URL, prog, action)
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writePolicy("kill")

	cfg := testConfig(t)
	cfg.Policies = []string{dir}
	cfg.Collectors[config.PolicyCollector] = config.Collector{Enabled: true, Options: policy.AgentOptions{}}
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	a, err := Start(context.Background(), cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if st := a.Statuses(); len(st) != 1 || st[0].Name != "policy" || st[0].Err != nil {
		t.Fatalf("statuses %+v", st)
	}

	const n = 3
	for range n {
		if !runProgram(t, prog) {
			t.Fatalf("%s ran: want it killed on exec", prog)
		}
	}
	waitFor(t, "3 kill matches", func() bool { return matches(t, a, file, "no-prog", "kill") == n })
	alerts := storedAlerts(t, a, "no-prog", "killed", n)
	if len(alerts) != n {
		t.Fatalf("%d killed alerts stored, want %d", len(alerts), n)
	}
	for _, al := range alerts {
		if al["binary"] != prog || al["action"] != "kill" || al["severity"] != "high" || al["mode"] != "enforce" {
			t.Errorf("alert %v", al)
		}
	}
	waitFor(t, "3 alerts at the webhook", func() bool { return hook.count("killed") == n })
	if f := failures(t, a); f != 0 {
		t.Errorf("enforcement failures %v", f)
	}
	if !strings.Contains(logs.String(), "policy alert") || !strings.Contains(logs.String(), "outcome=killed") {
		t.Errorf("no alert in the log:\n%s", logs.String())
	}

	// The same configuration, a changed file: the rule now alerts only.
	writePolicy("alert")
	next := *cfg
	res, err := a.Reload(&next)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Restarted) != 1 || res.Restarted[0] != "policy" {
		t.Fatalf("reload %+v", res)
	}
	if runProgram(t, prog) {
		t.Fatal("killed after the reload to alert")
	}
	waitFor(t, "1 alert match", func() bool { return matches(t, a, file, "no-prog", "alert") == 1 })
	if m := matches(t, a, file, "no-prog", "kill"); m != n {
		t.Errorf("kill matches %v after the reload: want %d, carried over", m, n)
	}
	if al := storedAlerts(t, a, "no-prog", "alerted", 1); len(al) != 1 {
		t.Errorf("%d alerted alerts stored", len(al))
	}
	waitFor(t, "the alert at the webhook", func() bool { return hook.count("alerted") == 1 })

	// An invalid file: the reload reports it and the rule keeps alerting.
	if err := os.WriteFile(file, []byte("rules:\n  - name: broken\n    on: exec\n    bogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err = a.Reload(&next)
	want := file + ":4:5"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("reload error %v: want one at %s", err, want)
	}
	if len(res.Restarted) != 0 {
		t.Errorf("reload %+v: want policy unchanged", res)
	}
	if !strings.Contains(logs.String(), "keeping the running rules") || !strings.Contains(logs.String(), want) {
		t.Errorf("the log does not report the error at %s:\n%s", want, logs.String())
	}
	if runProgram(t, prog) {
		t.Fatal("killed after the invalid reload")
	}
	waitFor(t, "2 alert matches", func() bool { return matches(t, a, file, "no-prog", "alert") == 2 })
	if m := matches(t, a, file, "no-prog", "kill"); m != n {
		t.Errorf("kill matches %v", m)
	}
}

// Invalid policies stop the agent from starting, and --check reports them
// as the policy collector's failure, with their place.
func TestAgentPolicyInvalid(t *testing.T) {
	testutil.RequireBPF(t)
	file := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(file, []byte("rules:\n  - name: x\n    on: teleport\n    match: {comm: [sh]}\n    action: alert\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "exit")
	cfg.Policies = []string{file}
	cfg.Collectors[config.PolicyCollector] = config.Collector{Enabled: true, Options: policy.AgentOptions{}}
	want := file + ":3:9"
	if a, err := Start(context.Background(), cfg, quietLogger); err == nil || !strings.Contains(err.Error(), want) {
		if a != nil {
			a.Close()
		}
		t.Fatalf("start: %v: want an error at %s", err, want)
	}
	st, err := Check(context.Background(), cfg, quietLogger)
	if err == nil || len(st) != 2 || st[0].Name != "exit" || st[0].Err != nil || st[1].Name != "policy" || st[1].Err == nil || !strings.Contains(st[1].Err.Error(), want) {
		t.Fatalf("check: %v %+v", err, st)
	}
}
