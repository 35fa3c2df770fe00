package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/testutil"
)

// daemon is a server the test started: Debian's Alertmanager or
// Prometheus.
type daemon struct {
	addr string
	log  *testutil.Output
}

// startDaemon runs bin with args (addr is its listen address) and waits
// until GET ready answers 200; the test's cleanup stops it.
func startDaemon(t *testing.T, bin, pkg, ready string, args func(addr string) []string) *daemon {
	t.Helper()
	path, err := exec.LookPath(bin)
	if err != nil {
		testutil.Skip(t, bin+" (Debian package "+pkg+")", err)
	}
	for attempt := 1; ; attempt++ {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		log := &testutil.Output{}
		cmd := exec.Command(path, args(addr)...)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() {
			cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(time.Minute):
				cmd.Process.Kill()
				<-exited
			}
		}
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); {
			select {
			case <-exited:
				deadline = time.Time{}
				continue
			default:
			}
			resp, err := http.Get("http://" + addr + ready)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					t.Cleanup(stop)
					return &daemon{addr: addr, log: log}
				}
			}
			time.Sleep(50 * time.Millisecond) // polling for readiness, with a deadline
		}
		stop()
		if attempt == 5 || !strings.Contains(log.String(), "address already in use") {
			t.Fatalf("%s did not start on %s:\n%s", bin, addr, log.String())
		}
	}
}

// startAlertmanager runs Debian's Alertmanager, alone (no cluster), with
// a route that delivers nowhere: its API lists what it received.
func startAlertmanager(t *testing.T) *daemon {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "alertmanager.yml")
	writeFile(t, conf, "route:\n  receiver: none\nreceivers:\n  - name: none\n")
	return startDaemon(t, "prometheus-alertmanager", "prometheus-alertmanager", "/-/ready", func(addr string) []string {
		return []string{"--config.file=" + conf, "--storage.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr, "--cluster.listen-address="}
	})
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// getJSON decodes the JSON answer of a GET into v.
func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	code, body := getURL(t, u)
	if code != 200 {
		t.Fatalf("GET %s: %d %s", u, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v: %s", u, err, body)
	}
}

// amAlert is an alert as Alertmanager's API v2 lists it.
type amAlert struct {
	Labels       map[string]string
	Annotations  map[string]string
	GeneratorURL string
	Status       struct{ State string }
}

// waitAlerts polls Alertmanager until it holds an alert named name.
func waitAlerts(t *testing.T, am *daemon, name string, timeout time.Duration) amAlert {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var alerts []amAlert
		getJSON(t, "http://"+am.addr+"/api/v2/alerts", &alerts)
		for _, a := range alerts {
			if a.Labels["alertname"] == name {
				return a
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Alertmanager received no %s within %s: %+v", name, timeout, alerts)
		}
		time.Sleep(100 * time.Millisecond) // polling for a condition, with a deadline
	}
}

// rulesAgent starts an agent with only its own metrics, collecting every
// 200ms, configured by doc (with DIR standing for a temporary directory
// holding files), and runs it until the test ends.
func rulesAgent(t *testing.T, doc string, files map[string]string) *Agent {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, name), text)
	}
	cfgFile := filepath.Join(dir, "kscope.yaml")
	writeFile(t, cfgFile, doc)
	cfg, err := config.Load(cfgFile, Sections())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(doc, "data_dir:") {
		cfg.DataDir = t.TempDir()
	}
	cfg.Listen, cfg.Interval = "127.0.0.1:0", 200*time.Millisecond
	for name, cc := range cfg.Collectors {
		if !strings.Contains(doc, "  "+name+":") {
			cc.Enabled = false
			cfg.Collectors[name] = cc
		}
	}
	a, err := StartWith(context.Background(), cfg, Options{}, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		a.Close()
	})
	return a
}

const testRules = `groups:
  - name: kscope-test
    interval: 1s
    rules:
      - record: kscope_test:series_limit:doubled
        expr: kscope_self_tsdb_series_limit * 2
        labels:
          source: rule
      - alert: KscopeTestBuildInfo
        expr: kscope_self_build_info == 1
        labels:
          severity: page
        annotations:
          summary: "kscope {{ $labels.version }} runs; limit {{ with query \"kscope_self_tsdb_series_limit\" }}{{ . | first | value }}{{ end }}"
      - alert: KscopeTestNever
        expr: kscope_self_tsdb_series_limit > 100000
        for: 5m
`

// A recording rule's series is in the store with its exact value, and an
// alerting rule that fires reaches a real Alertmanager with its labels,
// the rule's labels, the templated annotations and the external labels;
// /api/v1/rules and /api/v1/alerts say so.
func TestRulesAlertmanager(t *testing.T) {
	testutil.RequireBPF(t)
	am := startAlertmanager(t)
	a := rulesAgent(t, fmt.Sprintf(`
external_labels:
  instance: host-a
storage:
  max_series: 1234
rule_files: [rules/*.yml]
alerting:
  alertmanagers:
    - static_configs:
        - targets: [%q]
`, am.addr), map[string]string{"rules/test.yml": testRules})

	got := waitAlerts(t, am, "KscopeTestBuildInfo", 2*time.Minute)
	want := map[string]string{"alertname": "KscopeTestBuildInfo", "severity": "page", "instance": "host-a",
		"version": got.Labels["version"], "goversion": got.Labels["goversion"]}
	if fmt.Sprint(got.Labels) != fmt.Sprint(want) || got.Labels["version"] == "" || !strings.HasPrefix(got.Labels["goversion"], "go") {
		t.Errorf("Alertmanager's alert labels %v, want %v", got.Labels, want)
	}
	if s := got.Annotations["summary"]; s != "kscope "+got.Labels["version"]+" runs; limit 1234" {
		t.Errorf("summary %q", s)
	}
	if got.Status.State != "active" || !strings.HasPrefix(got.GeneratorURL, a.URL()+"/graph?g0.expr=") {
		t.Errorf("state %q, generator URL %q", got.Status.State, got.GeneratorURL)
	}

	// The notifier's counts, as self metrics; the alerts' gauge.
	_, samples, _ := a.Gather(context.Background())
	e := metrics.Emitter{Samples: samples}
	if v, ok := e.Sum("kscope_self_notifications_sent_total", "alertmanager", "http://"+am.addr+"/api/v2/alerts"); !ok || v < 1 {
		t.Errorf("kscope_self_notifications_sent_total %v (%v): %v", v, ok, e.Find("kscope_self_notifications_sent_total"))
	}
	if v, _ := e.Sum("kscope_self_alerts", "state", "firing"); v != 1 {
		t.Errorf("kscope_self_alerts{state=\"firing\"} %v", v)
	}
	if v, _ := e.Sum("kscope_self_notifications_errors_total"); v != 0 {
		t.Errorf("kscope_self_notifications_errors_total %v", v)
	}

	// The recording rule's series, exact.
	var rec []promSeries
	for deadline := time.Now().Add(time.Minute); ; {
		if rec = query(t, a, "kscope_test:series_limit:doubled"); len(rec) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling for a condition, with a deadline
	}
	if len(rec) != 1 || rec[0].Value[1] != "2468" || fmt.Sprint(rec[0].Metric) != "map[__name__:kscope_test:series_limit:doubled source:rule]" {
		t.Errorf("recorded %+v", rec)
	}

	base := "http://" + a.Addr().String()
	var alerts struct {
		Status string
		Data   struct {
			Alerts []struct {
				Labels      map[string]string
				Annotations map[string]string
				State       string
				ActiveAt    time.Time
				Value       string
			}
		}
	}
	getJSON(t, base+"/api/v1/alerts", &alerts)
	if len(alerts.Data.Alerts) != 1 {
		t.Fatalf("/api/v1/alerts: %+v", alerts)
	}
	if al := alerts.Data.Alerts[0]; al.State != "firing" || al.Value != "1e+00" || al.Labels["alertname"] != "KscopeTestBuildInfo" || al.ActiveAt.IsZero() {
		t.Errorf("/api/v1/alerts: %+v", al)
	}
	var rules struct {
		Data struct {
			Groups []struct {
				Name, File string
				Interval   float64
				Rules      []struct {
					Name, Query, Type, Health, State string
					Duration                         float64
				}
			}
		}
	}
	getJSON(t, base+"/api/v1/rules", &rules)
	if g := rules.Data.Groups; len(g) != 1 || g[0].Name != "kscope-test" || !strings.HasSuffix(g[0].File, "/rules/test.yml") || g[0].Interval != 1 || len(g[0].Rules) != 3 {
		t.Fatalf("/api/v1/rules: %+v", rules)
	}
	r := rules.Data.Groups[0].Rules
	if r[0].Type != "recording" || r[0].Health != "ok" || r[0].Query != "kscope_self_tsdb_series_limit * 2" ||
		r[1].Type != "alerting" || r[1].State != "firing" || r[2].State != "inactive" || r[2].Duration != 300 {
		t.Errorf("/api/v1/rules: %+v", r)
	}
	getJSON(t, base+"/api/v1/rules?type=record", &rules)
	if len(rules.Data.Groups[0].Rules) != 1 {
		t.Errorf("type=record: %+v", rules)
	}
}

// normalize replaces what differs between two evaluations of the same
// rules (when they ran, how long they took) with its JSON type.
func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			switch k {
			case "lastEvaluation", "evaluationTime", "activeAt":
				v[k] = fmt.Sprintf("<%T>", x)
			default:
				v[k] = normalize(x)
			}
		}
	case []any:
		for i := range v {
			v[i] = normalize(v[i])
		}
	}
	return v
}

// The agent's /api/v1/rules and /api/v1/alerts answer as a real
// Prometheus (Debian's) does with the same rule file over the same data
// (the agent's remote write): the same fields with the same values, but
// for the times of evaluation.
func TestRulesAPIMatchesPrometheus(t *testing.T) {
	testutil.RequireBPF(t)
	dir := t.TempDir()
	ruleFile := filepath.Join(dir, "test.yml")
	writeFile(t, ruleFile, testRules)
	promConf := filepath.Join(dir, "prometheus.yml")
	writeFile(t, promConf, "global:\n  evaluation_interval: 1s\nrule_files: ["+ruleFile+"]\n")
	prom := startDaemon(t, "prometheus", "prometheus", "/-/ready", func(addr string) []string {
		return []string{"--config.file=" + promConf, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--web.enable-remote-write-receiver", "--web.listen-address=" + addr,
			"--web.console.templates=", "--web.console.libraries="}
	})
	a := rulesAgent(t, fmt.Sprintf(`
storage:
  max_series: 1234
rule_files: [%s]
remote_write:
  - url: http://%s/api/v1/write
`, ruleFile, prom.addr), nil)

	servers := map[string]string{"kscope": "http://" + a.Addr().String(), "prometheus": "http://" + prom.addr}
	answers := map[string]map[string]any{}
	for deadline := time.Now().Add(2 * time.Minute); ; {
		ready := true
		for name, base := range servers {
			for _, path := range []string{"/api/v1/rules", "/api/v1/alerts"} {
				var v map[string]any
				getJSON(t, base+path, &v)
				answers[name+path] = v
			}
			// Ready: the alert fires and every rule was evaluated.
			body, _ := json.Marshal(answers[name+"/api/v1/rules"])
			ready = ready && strings.Count(string(body), `"health":"ok"`) == 3 && strings.Contains(string(body), `"state":"firing"`)
		}
		if ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rules were not all evaluated and firing within 2m: %v", answers)
		}
		time.Sleep(200 * time.Millisecond) // polling for a condition, with a deadline
	}
	for _, path := range []string{"/api/v1/rules", "/api/v1/alerts"} {
		got, _ := json.MarshalIndent(normalize(answers["kscope"+path]), "", "  ")
		want, _ := json.MarshalIndent(normalize(answers["prometheus"+path]), "", "  ")
		if string(got) != string(want) {
			t.Errorf("%s: kscope answers\n%s\nPrometheus answers\n%s", path, got, want)
		}
	}
}

// A reload reads the rule files again: a new rule is evaluated, a removed
// one is gone, and a rule file that no longer loads keeps the running
// rules.
func TestRulesReload(t *testing.T) {
	testutil.RequireBPF(t)
	dir := t.TempDir()
	ruleFile, cfgFile := filepath.Join(dir, "r.yml"), filepath.Join(dir, "kscope.yaml")
	writeFile(t, ruleFile, "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - record: kscope_test:one\n        expr: vector(1)\n")
	writeFile(t, cfgFile, "rule_files: ["+ruleFile+"]\n")
	a := rulesAgent(t, "rule_files: ["+ruleFile+"]\n", nil)
	names := func() string {
		var res struct {
			Data struct {
				Groups []struct {
					Rules []struct{ Name string }
				}
			}
		}
		getJSON(t, "http://"+a.Addr().String()+"/api/v1/rules", &res)
		var out []string
		for _, g := range res.Data.Groups {
			for _, r := range g.Rules {
				out = append(out, r.Name)
			}
		}
		return strings.Join(out, ",")
	}
	if got := names(); got != "kscope_test:one" {
		t.Fatalf("rules %q", got)
	}
	reload := func() error {
		cfg, err := config.Load(cfgFile, Sections())
		if err != nil {
			return err
		}
		cfg.DataDir, cfg.Listen, cfg.Interval = a.cfg.DataDir, a.cfg.Listen, a.cfg.Interval
		cfg.Collectors = a.cfg.Collectors
		_, err = a.Reload(cfg)
		return err
	}
	writeFile(t, ruleFile, "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - record: kscope_test:two\n        expr: vector(2)\n")
	if err := reload(); err != nil {
		t.Fatal(err)
	}
	if got := names(); got != "kscope_test:two" {
		t.Fatalf("after the reload, rules %q", got)
	}
	waitStored(t, a, "kscope_test:two")
	if v := query(t, a, "kscope_test:two"); len(v) != 1 || v[0].Value[1] != "2" {
		t.Errorf("kscope_test:two = %+v", v)
	}
	writeFile(t, ruleFile, "groups:\n  - name: g\n    rules:\n      - record: bad\n        expr: rate(\n")
	if err := reload(); err == nil || !strings.Contains(err.Error(), ruleFile+":5: ") {
		t.Errorf("reloading a broken rule file: %v", err)
	}
	if got := names(); got != "kscope_test:two" {
		t.Errorf("after a failed reload, rules %q", got)
	}
}
