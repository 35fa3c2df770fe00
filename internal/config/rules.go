package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/model/rulefmt"
	promparser "github.com/prometheus/prometheus/promql/parser"
	yamlv2 "go.yaml.in/yaml/v2"
	"gopkg.in/yaml.v3"
)

// DefaultEvaluationInterval is how often rule groups without their own
// interval are evaluated: Prometheus's global.evaluation_interval default.
const DefaultEvaluationInterval = time.Minute

// MaxRuleFiles bounds the files rule_files may name, globs expanded.
const MaxRuleFiles = 1000

// Rules is what the agent evaluates and where its alerts go: rule_files,
// evaluation_interval and alerting, in the shape of Prometheus's
// configuration.
type Rules struct {
	// Files are the rule files, globs expanded, relative names resolved
	// against the configuration file's directory, sorted. Each was read
	// and checked as Prometheus checks rule files when the configuration
	// loaded.
	Files []string
	// Patterns are rule_files as written (resolved against the
	// configuration file's directory).
	Patterns []string
	// EvaluationInterval is the default interval of the rule groups.
	EvaluationInterval time.Duration
	// Alerting is Prometheus's alerting section: alertmanagers (each with
	// static_configs targets) and alert_relabel_configs.
	Alerting promconfig.AlertingConfig
}

// ruleFiles reads rule_files: a list of file names or globs, each file
// parsed and checked as Prometheus's rule manager and promtool check
// them. An error in a rule file is reported at its own file and line.
func (p *parser) ruleFiles(n *yaml.Node, c *Config) {
	if n.Kind != yaml.SequenceNode {
		p.fail(n, "rule_files", "want a list of rule files or globs")
		return
	}
	dir := filepath.Dir(p.file)
	seen := map[string]bool{}
	c.Rules.Files, c.Rules.Patterns = nil, nil
	for i, item := range n.Content {
		key := fmt.Sprintf("rule_files[%d]", i)
		pat := p.str(item, key)
		if p.err != nil {
			return
		}
		if pat == "" {
			p.fail(item, key, "want a file name or glob")
			return
		}
		if !filepath.IsAbs(pat) {
			pat = filepath.Join(dir, pat)
		}
		if _, err := filepath.Match(pat, ""); err != nil {
			p.fail(item, key, "invalid glob %q: %v", pat, err)
			return
		}
		c.Rules.Patterns = append(c.Rules.Patterns, pat)
		matches, _ := filepath.Glob(pat)
		if len(matches) == 0 && !strings.ContainsAny(pat, "*?[") {
			p.fail(item, key, "%s: no such file", pat)
			return
		}
		for _, m := range matches {
			if !seen[m] {
				seen[m] = true
				c.Rules.Files = append(c.Rules.Files, m)
			}
		}
	}
	if len(c.Rules.Files) > MaxRuleFiles {
		p.fail(n, "rule_files", "%d files: at most %d", len(c.Rules.Files), MaxRuleFiles)
		return
	}
	sort.Strings(c.Rules.Files)
	for _, f := range c.Rules.Files {
		if err := CheckRuleFile(f); err != nil {
			if p.err == nil {
				p.err = err
			}
			return
		}
	}
}

// CheckRuleFile reads a Prometheus rule file and checks it as Prometheus
// does before loading it (promtool check rules): YAML, known keys, rule
// names, PromQL expressions, label and annotation templates. The first
// problem is returned as an *Error at its line in the rule file.
func CheckRuleFile(file string) error {
	fi, err := os.Stat(file)
	if err != nil {
		return &Error{File: file, Msg: "cannot read: " + pathError(err)}
	}
	if !fi.Mode().IsRegular() {
		return &Error{File: file, Msg: "not a regular file"}
	}
	if fi.Size() > MaxFileSize {
		return &Error{File: file, Msg: fmt.Sprintf("larger than %d KiB: not a rule file", MaxFileSize>>10)}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return &Error{File: file, Msg: "cannot read: " + pathError(err)}
	}
	_, errs := rulefmt.Parse(data, false, model.UTF8Validation, promparser.NewParser(promparser.Options{}), slog.New(slog.DiscardHandler))
	if len(errs) == 0 {
		return nil
	}
	e := ruleError(file, errs[0])
	if e.Line == 0 {
		// Template errors carry no position: place them at their rule.
		var re *rulefmt.Error
		if errors.As(errs[0], &re) {
			e.Line = ruleLine(data, re.Group, re.Rule)
		}
	}
	return e
}

// ruleLine is the line of the rule-th (from 1) rule of group in a rule
// file, 0 if it is not found.
func ruleLine(data []byte, group string, rule int) int {
	var doc struct {
		Groups []struct {
			Name  string      `yaml:"name"`
			Rules []yaml.Node `yaml:"rules"`
		} `yaml:"groups"`
	}
	if yaml.Unmarshal(data, &doc) != nil {
		return 0
	}
	for _, g := range doc.Groups {
		if g.Name == group && rule >= 1 && rule <= len(g.Rules) {
			return g.Rules[rule-1].Line
		}
	}
	return 0
}

var (
	// "12:7: group "x", rule 1, "y": …" (rulefmt.Error), "12:7: …"
	rulePosRE = regexp.MustCompile(`^(\d+):\d+: (?:\d+:\d+: )?`)
	// "yaml: line 12: …", "yaml: unmarshal errors:\n  line 12: …"
	ruleYAMLRE = regexp.MustCompile(`line (\d+): `)
)

// ruleError places a rulefmt error at its line in file.
func ruleError(file string, err error) *Error {
	msg := err.Error()
	line := 0
	if m := rulePosRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	} else if m := ruleYAMLRE.FindStringSubmatchIndex(msg); m != nil {
		line, _ = strconv.Atoi(msg[m[2]:m[3]])
		msg = "invalid rule file: " + msg[m[1]:]
	}
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return &Error{File: file, Line: line, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

// alerting reads alerting: Prometheus's alerting section (alertmanagers
// with static_configs, api_version, path_prefix, scheme, timeout,
// basic_auth, tls_config, relabel_configs; alert_relabel_configs), decoded
// and checked by Prometheus's own types. Service discovery other than
// static_configs is not built into kscope: such keys are unknown.
func (p *parser) alerting(n *yaml.Node, c *Config) {
	if n.Kind != yaml.MappingNode {
		p.fail(n, "alerting", "want a mapping of alertmanagers and alert_relabel_configs")
		return
	}
	text, err := yaml.Marshal(n)
	if err != nil {
		p.fail(n, "alerting", "%v", err)
		return
	}
	var ac promconfig.AlertingConfig
	if err := yamlv2.UnmarshalStrict(text, &ac); err != nil {
		line, msg := v2Error(err)
		msg = strings.ReplaceAll(msg, "remote_write", "alerting")
		msg = strings.ReplaceAll(msg, "config.AlertmanagerConfig", "alertmanager")
		p.err = &Error{File: p.file, Line: n.Line + max(line-1, 0), Key: "alerting", Msg: msg}
		return
	}
	if err := ac.Validate(model.UTF8Validation); err != nil {
		p.fail(n, "alerting", "%v", err)
		return
	}
	dir := filepath.Dir(p.file)
	for i, am := range ac.AlertmanagerConfigs {
		if am == nil {
			p.fail(n, fmt.Sprintf("alerting.alertmanagers[%d]", i), "empty")
			return
		}
		for _, sd := range am.ServiceDiscoveryConfigs {
			if _, ok := sd.(discovery.StaticConfig); !ok {
				p.fail(n, fmt.Sprintf("alerting.alertmanagers[%d]", i), "%s_sd_configs: only static_configs are supported", sd.Name())
				return
			}
		}
		am.SetDirectory(dir)
	}
	c.Rules.Alerting = ac
}

// evaluationInterval reads evaluation_interval.
func (p *parser) evaluationInterval(v *yaml.Node, c *Config) {
	d := p.duration(v, "evaluation_interval")
	if p.err == nil && d < time.Second {
		p.fail(v, "evaluation_interval", "at least 1s, not %v", d)
	}
	c.Rules.EvaluationInterval = d
}
