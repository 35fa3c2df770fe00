package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/discovery"
)

const goodRules = `groups:
  - name: g
    rules:
      - record: x:y
        expr: sum(kscope_self_build_info)
`

// rule_files: globs relative to the configuration's directory, every
// file checked as Prometheus checks it; alerting in Prometheus's shape.
func TestRuleFiles(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "rules"), 0o700)
	for _, n := range []string{"rules/b.yml", "rules/a.yml", "extra.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(goodRules), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	doc := `
rule_files:
  - rules/*.yml
  - extra.yaml
  - none/*.yml
evaluation_interval: 30s
alerting:
  alert_relabel_configs:
    - regex: team
      action: labeldrop
  alertmanagers:
    - static_configs:
        - targets: [am-1:9093, am-2:9093]
      path_prefix: /am
      timeout: 5s
      basic_auth:
        username: kscope
        password_file: am-password
`
	c, err := Parse(filepath.Join(dir, "kscope.yaml"), []byte(doc), known)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "extra.yaml"), filepath.Join(dir, "rules/a.yml"), filepath.Join(dir, "rules/b.yml")}
	if strings.Join(c.Rules.Files, " ") != strings.Join(want, " ") {
		t.Errorf("files %v, want %v", c.Rules.Files, want)
	}
	if c.Rules.EvaluationInterval != 30*time.Second {
		t.Errorf("evaluation_interval %v", c.Rules.EvaluationInterval)
	}
	ams := c.Rules.Alerting.AlertmanagerConfigs
	if len(ams) != 1 || len(c.Rules.Alerting.AlertRelabelConfigs) != 1 {
		t.Fatalf("alerting %+v", c.Rules.Alerting)
	}
	am := ams[0]
	sc, ok := am.ServiceDiscoveryConfigs[0].(discovery.StaticConfig)
	if !ok || len(sc) != 1 || len(sc[0].Targets) != 2 || string(sc[0].Targets[1]["__address__"]) != "am-2:9093" {
		t.Errorf("static_configs %+v", am.ServiceDiscoveryConfigs)
	}
	if am.PathPrefix != "/am" || time.Duration(am.Timeout) != 5*time.Second || string(am.APIVersion) != "v2" || am.Scheme != "http" {
		t.Errorf("alertmanager %+v", am)
	}
	if am.HTTPClientConfig.BasicAuth.PasswordFile != filepath.Join(dir, "am-password") {
		t.Errorf("password_file %q", am.HTTPClientConfig.BasicAuth.PasswordFile)
	}

	d := Default(known)
	if d.Rules.EvaluationInterval != time.Minute || len(d.Rules.Files) != 0 {
		t.Errorf("defaults %+v", d.Rules)
	}
}

// A mistake in a rule file is reported at its file and line, as the
// configuration's own mistakes are.
func TestRuleFileErrors(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "bad.yml")
	for _, tc := range []struct {
		name, rules, cfg, want string
	}{
		{"bad PromQL", "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: rate(x[5m]\n", "rule_files: [bad.yml]",
			rules + `:5: group "g", rule 1, "A": could not parse expression: 1:11: parse error: unclosed left parenthesis`},
		{"unknown key", "groups:\n  - name: g\n    rules:\n      - record: a\n        exp: x\n", "rule_files: [bad.yml]",
			rules + ":5: invalid rule file: field exp not found in type rulefmt.Rule"},
		{"bad template", "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        annotations:\n          s: '{{ .Nope'\n", "rule_files: [bad.yml]",
			rules + `:4: group "g", rule 1, "A": annotation "s": template: __alert_A:1: unclosed action`},
		{"bad YAML", "groups: [\n", "rule_files: [bad.yml]", rules + ":1: invalid rule file: did not find expected node content"},
		{"missing file", "", "rule_files: [nothere.yml]", filepath.Join(dir, "kscope.yaml") + ":1: rule_files[0]: " + filepath.Join(dir, "nothere.yml") + ": no such file"},
		{"not a list", "", "rule_files: bad.yml", filepath.Join(dir, "kscope.yaml") + ":1: rule_files: want a list of rule files or globs"},
		{"kubernetes discovery", "", "alerting:\n  alertmanagers:\n    - kubernetes_sd_configs: [{role: pod}]\n",
			filepath.Join(dir, "kscope.yaml") + ":3: alerting: field kubernetes_sd_configs not found in type alertmanager"},
		{"unknown alerting key", "", "alerting:\n  alertmanager: []\n", filepath.Join(dir, "kscope.yaml") + ":2: alerting: field alertmanager not found in type alerting"},
		{"short interval", "", "evaluation_interval: 100ms", filepath.Join(dir, "kscope.yaml") + ":1: evaluation_interval: at least 1s, not 100ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(rules, []byte(tc.rules), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Parse(filepath.Join(dir, "kscope.yaml"), []byte(tc.cfg), known)
			if err == nil || err.Error() != tc.want {
				t.Errorf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}

// Any rule file either loads or gets an *Error naming it; nothing panics.
func FuzzCheckRuleFile(f *testing.F) {
	f.Add([]byte(goodRules))
	f.Add([]byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        annotations: {s: '{{ .Nope'}\n"))
	f.Add([]byte("groups: [\n"))
	f.Add([]byte("groups:\n  - name: g\n    rules:\n      - record: a\n        alert: b\n        expr: x\n"))
	f.Add([]byte("groups:\n  - name: g\n  - name: g\n"))
	path := filepath.Join(f.TempDir(), "r.yml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		err := CheckRuleFile(path)
		if err == nil {
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.File != path || e.Line < 0 || e.Msg == "" {
			t.Fatalf("%#v", err)
		}
	})
}
