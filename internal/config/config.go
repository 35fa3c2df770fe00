package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	"gopkg.in/yaml.v3"
)

// Config is the agent's configuration.
type Config struct {
	// Listen is the HTTP address: /metrics, the Prometheus API, events.
	Listen string
	// DataDir holds the TSDB (metrics/) and the event store (events.db).
	DataDir string
	// Retention is how long metrics and events are kept.
	Retention time.Duration
	// Interval is how often collectors are read into the TSDB.
	Interval time.Duration
	// TopK bounds per-process and per-endpoint series (plus "other").
	TopK int
	// EventQueue is how many events may wait for the event store before
	// new ones are dropped (and counted).
	EventQueue int
	// BPFStatsWindow and BPFStatsEvery: the kernel's per-program run count
	// and run time (BPF_ENABLE_STATS) are switched on for BPFStatsWindow
	// once every BPFStatsEvery, not for the agent's whole life: while on,
	// every BPF program on the host pays two clock reads per run.
	// BPFStatsWindow 0: never.
	BPFStatsWindow time.Duration
	BPFStatsEvery  time.Duration
	// Collectors maps every known collector name to its settings.
	Collectors map[string]Collector
	// Budget bounds disk use and event rates (budget.go).
	Budget Budget
	// Query bounds the queries the agent answers.
	Query Query
	// Storage holds the metrics store's limits.
	Storage Storage
	// RemoteWrite lists the Prometheus remote-write endpoints the agent
	// sends its samples to, in Prometheus's own shape (remote.go).
	RemoteWrite []*promconfig.RemoteWriteConfig
	// ExternalLabels are added to every series sent to the endpoints,
	// as Prometheus's global.external_labels: a series' own label of
	// the same name wins.
	ExternalLabels labels.Labels
	// OTLP is the OTLP receiver the agent sends to; nil: none (otlp.go).
	OTLP *OTLP
	// Rules holds rule_files, evaluation_interval and alerting (rules.go).
	Rules Rules
	// Containers names the processes' containers, pods and units
	// (containers.go).
	Containers Containers
	// Policies lists the policy files and directories the policy
	// collector enforces (policies.go).
	Policies []string
	// Probes lists the bpftrace scripts and directories of them the
	// probes collector runs (probes.go).
	Probes []string
	// Alerts is where policy alerts go besides the event store.
	Alerts Alerts
}

// Storage is the metrics store's settings (the storage section, with the
// size budget in Budget).
type Storage struct {
	// MaxSeries caps the series in the TSDB's in-memory head: at the cap,
	// samples of new series are refused, counted and reported (WARN,
	// /healthz degraded, kscope_self_tsdb_series_limit_reached).
	MaxSeries int
}

// Query bounds the queries the agent answers (PromQL, events, profiles),
// as Prometheus's --query.* flags bound its own.
type Query struct {
	// Timeout bounds a query, its wait for a slot included.
	Timeout time.Duration
	// MaxSamples bounds the samples a PromQL query holds at once.
	MaxSamples int
	// MaxConcurrency bounds the PromQL queries evaluated at once.
	MaxConcurrency int
}

// Collector is one collector's settings.
type Collector struct {
	Enabled bool
	TopK    int // 0: the global TopK
	// Options is the collector's own settings: a value of its Section's
	// Options type, decoded from the keys of its section after enabled
	// and topk; nil for a collector without options.
	Options any
}

// Section is what the configuration knows of one collector, from the
// collector registry (cmd passes it in; this package imports no
// collector): its name, whether it runs by default, and its options.
type Section struct {
	Name    string
	Default bool
	// Options is the value of the collector's options struct holding its
	// defaults (nil: the section has enabled and topk only). Each field
	// tagged `yaml:"key"` is one more key of the section, decoded by its
	// type: bool (true or false), int (a positive integer) or
	// time.Duration (30s, 15m, 7d). If the type implements OptionChecker,
	// each value is checked as it is read.
	Options any
}

// OptionChecker bounds a collector's options as they are read: key is the
// option just set and text its value as written. The error's text follows
// the file:line: collectors.<name>.<key>: prefix.
type OptionChecker interface {
	CheckOption(key, text string) error
}

// Defaults. DataDir depends on who runs the agent: see DefaultDataDir.
const (
	DefaultListen     = "127.0.0.1:9464"
	DefaultRetention  = 7 * 24 * time.Hour
	DefaultInterval   = 10 * time.Second
	DefaultTopK       = 50
	DefaultEventQueue = 8192
	DefaultMaxSeries  = 20000
	// BPF run-time statistics are sampled 1 s a minute.
	DefaultBPFStatsWindow = time.Second
	DefaultBPFStatsEvery  = time.Minute
	// Query bounds: Prometheus's defaults.
	DefaultQueryTimeout        = 2 * time.Minute
	DefaultQueryMaxSamples     = 50_000_000
	DefaultQueryMaxConcurrency = 20
)

// Bounds. The interval is at most the PromQL lookback (5m), beyond which
// instant queries find no samples; TopK is per family, and the in-memory
// series of the TSDB are shared by all.
const (
	MinInterval         = 100 * time.Millisecond
	MaxInterval         = 5 * time.Minute
	MaxTopK             = 1000
	MaxEventQueue       = 1 << 20
	MaxQueryConcurrency = 1000
	MaxFileSize         = 1 << 20 // bytes of a configuration file
)

// DefaultDataDir is /var/lib/kscope for root and ./kscope-data otherwise.
func DefaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/kscope"
	}
	return "kscope-data"
}

// Default returns the configuration used when there is no file: every
// collector of sections with its default state and options.
func Default(sections []Section) *Config {
	c := &Config{
		Listen:     DefaultListen,
		DataDir:    DefaultDataDir(),
		Retention:  DefaultRetention,
		Interval:   DefaultInterval,
		TopK:       DefaultTopK,
		EventQueue: DefaultEventQueue,
		Collectors: map[string]Collector{},
		Budget:     DefaultBudget(),
		Query: Query{
			Timeout:        DefaultQueryTimeout,
			MaxSamples:     DefaultQueryMaxSamples,
			MaxConcurrency: DefaultQueryMaxConcurrency,
		},
		Storage:    Storage{MaxSeries: DefaultMaxSeries},
		Containers: DefaultContainers(),
		Alerts:     Alerts{Queue: DefaultAlertQueue},
		Rules:      Rules{EvaluationInterval: DefaultEvaluationInterval},

		BPFStatsWindow: DefaultBPFStatsWindow,
		BPFStatsEvery:  DefaultBPFStatsEvery,
	}
	for _, s := range sections {
		c.Collectors[s.Name] = Collector{Enabled: s.Default, Options: s.Options}
	}
	return c
}

// Enabled returns the names of the enabled collectors, sorted.
func (c *Config) Enabled() []string {
	var names []string
	for n, cc := range c.Collectors {
		if cc.Enabled {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Error is a configuration error at a place in a file.
type Error struct {
	File string
	Line int
	Key  string // dotted path, e.g. collectors.tcp.topk
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads file over the defaults. A file that cannot be read or is
// larger than MaxFileSize is an *Error too.
func Load(file string, sections []Section) (*Config, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, &Error{File: file, Msg: "cannot read: " + pathError(err)}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, &Error{File: file, Msg: "cannot read: " + pathError(err)}
	}
	if len(data) > MaxFileSize {
		return nil, &Error{File: file, Msg: fmt.Sprintf("larger than %d KiB: not a kscope configuration", MaxFileSize>>10)}
	}
	return Parse(file, data, sections)
}

// pathError drops the file name from an *fs.PathError: Error names it.
func pathError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// CheckInterval bounds the collection interval.
func CheckInterval(d time.Duration) error {
	if d < MinInterval || d > MaxInterval {
		return fmt.Errorf("want %v to %v, not %v", MinInterval, MaxInterval, d)
	}
	return nil
}

// CheckTopK bounds a top K.
func CheckTopK(n int) error {
	if n < 1 || n > MaxTopK {
		return fmt.Errorf("want 1 to %d, not %d", MaxTopK, n)
	}
	return nil
}

// Parse reads data (named file in errors) over the defaults.
func Parse(file string, data []byte, sections []Section) (*Config, error) {
	c := Default(sections)
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(file, err)
	}
	if len(doc.Content) == 0 {
		return c, nil // empty file
	}
	p := parser{file: file, sections: sections}
	p.top(doc.Content[0], c)
	if p.err != nil {
		return nil, p.err
	}
	enablePolicy(doc.Content[0], c)
	enableProbes(doc.Content[0], c)
	return c, nil
}

// yamlError turns "yaml: line 3: did not find expected key" into an Error.
func yamlError(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, tail, ok := strings.Cut(rest, ": "); ok {
			if l, err := strconv.Atoi(n); err == nil {
				line, msg = l, tail
			}
		}
	}
	return &Error{File: file, Line: line, Msg: "invalid YAML: " + msg}
}

type parser struct {
	file     string
	sections []Section
	err      error
}

func (p *parser) fail(n *yaml.Node, key, format string, a ...any) {
	if p.err == nil {
		p.err = &Error{File: p.file, Line: n.Line, Key: key, Msg: fmt.Sprintf(format, a...)}
	}
}

// mapping walks a mapping node, calling set for each key; unknown keys fail.
func (p *parser) mapping(n *yaml.Node, path string, keys []string, set func(key string, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.fail(n, path, "want a mapping of %s", strings.Join(keys, ", "))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		full := join(path, k.Value)
		if !slices.Contains(keys, k.Value) {
			p.fail(k, full, "unknown key (known: %s)", strings.Join(keys, ", "))
			return
		}
		if seen[k.Value] {
			p.fail(k, full, "duplicate key")
			return
		}
		seen[k.Value] = true
		set(k.Value, v)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (p *parser) top(n *yaml.Node, c *Config) {
	keys := []string{"listen", "data_dir", "retention", "interval", "topk", "event_queue", "query", "bpf_stats", "collectors", "storage", "events", "profiles", "remote_write", "external_labels", "otlp", "containers", "policies", "alerts", "rule_files", "evaluation_interval", "alerting", "probes"}
	p.mapping(n, "", keys, func(key string, v *yaml.Node) {
		switch key {
		case "listen":
			if s := p.str(v, key); s != "" {
				if _, _, err := net.SplitHostPort(s); err != nil {
					p.fail(v, key, "want host:port: %v", err)
				}
				c.Listen = s
			}
		case "data_dir":
			if s := p.str(v, key); s != "" {
				c.DataDir = s
			}
		case "retention":
			c.Retention = p.duration(v, key)
		case "interval":
			c.Interval = p.duration(v, key)
			p.check(v, key, CheckInterval(c.Interval))
		case "topk":
			c.TopK = p.positive(v, key)
			p.check(v, key, CheckTopK(c.TopK))
		case "event_queue":
			if c.EventQueue = p.positive(v, key); c.EventQueue > MaxEventQueue {
				p.fail(v, key, "at most %d", MaxEventQueue)
			}
		case "query":
			p.query(v, c)
		case "bpf_stats":
			p.bpfStats(v, c)
		case "collectors":
			p.collectors(v, c)
		case "storage":
			p.storage(v, c)
		case "events":
			p.events(v, c)
		case "profiles":
			p.profiles(v, c)
		case "remote_write":
			p.remoteWrite(v, c)
		case "external_labels":
			p.externalLabels(v, c)
		case "otlp":
			p.otlp(v, c)
		case "rule_files":
			p.ruleFiles(v, c)
		case "evaluation_interval":
			p.evaluationInterval(v, c)
		case "alerting":
			p.alerting(v, c)
		case "containers":
			p.containers(v, c)
		case "policies":
			p.policies(v, c)
		case "probes":
			p.probes(v, c)
		case "alerts":
			p.alerts(v, c)
		}
	})
}

func (p *parser) query(n *yaml.Node, c *Config) {
	keys := []string{"timeout", "max_samples", "max_concurrency"}
	p.mapping(n, "query", keys, func(key string, v *yaml.Node) {
		path := "query." + key
		switch key {
		case "timeout":
			c.Query.Timeout = p.duration(v, path)
		case "max_samples":
			c.Query.MaxSamples = p.positive(v, path)
		case "max_concurrency":
			if c.Query.MaxConcurrency = p.positive(v, path); c.Query.MaxConcurrency > MaxQueryConcurrency {
				p.fail(v, path, "at most %d", MaxQueryConcurrency)
			}
		}
	})
}

func (p *parser) bpfStats(n *yaml.Node, c *Config) {
	if n.Kind == yaml.ScalarNode {
		if p.boolean(n, "bpf_stats") {
			c.BPFStatsWindow, c.BPFStatsEvery = DefaultBPFStatsWindow, DefaultBPFStatsEvery
		} else {
			c.BPFStatsWindow = 0
		}
		return
	}
	p.mapping(n, "bpf_stats", []string{"window", "every"}, func(key string, v *yaml.Node) {
		switch key {
		case "window":
			c.BPFStatsWindow = p.duration(v, "bpf_stats.window")
		case "every":
			c.BPFStatsEvery = p.duration(v, "bpf_stats.every")
		}
	})
	if p.err == nil && c.BPFStatsWindow >= c.BPFStatsEvery {
		p.fail(n, "bpf_stats", "window (%s) must be shorter than every (%s)", c.BPFStatsWindow, c.BPFStatsEvery)
	}
}

func (p *parser) collectors(n *yaml.Node, c *Config) {
	names := make([]string, 0, len(p.sections))
	byName := make(map[string]Section, len(p.sections))
	for _, s := range p.sections {
		names = append(names, s.Name)
		byName[s.Name] = s
	}
	sort.Strings(names)
	p.mapping(n, "collectors", names, func(name string, v *yaml.Node) {
		path := "collectors." + name
		cc := c.Collectors[name]
		switch v.Kind {
		case yaml.ScalarNode: // collectors: {tcp: false}
			cc.Enabled = p.boolean(v, path)
		default:
			cc.Enabled = true // a settings block enables unless it says otherwise
			opts := newOptions(byName[name].Options)
			keys := append([]string{"enabled", "topk"}, opts.keys()...)
			p.mapping(v, path, keys, func(key string, v *yaml.Node) {
				switch key {
				case "enabled":
					cc.Enabled = p.boolean(v, path+".enabled")
				case "topk":
					cc.TopK = p.positive(v, path+".topk")
					p.check(v, path+".topk", CheckTopK(cc.TopK))
				default:
					p.option(opts, key, v, path+"."+key)
				}
			})
			cc.Options = opts.value()
		}
		c.Collectors[name] = cc
	})
}

func (p *parser) str(v *yaml.Node, key string) string {
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		p.fail(v, key, "want a string")
		return ""
	}
	return v.Value
}

func (p *parser) boolean(v *yaml.Node, key string) bool {
	var b bool
	if v.Kind != yaml.ScalarNode || v.Decode(&b) != nil {
		p.fail(v, key, "want true or false, not %q", v.Value)
	}
	return b
}

func (p *parser) positive(v *yaml.Node, key string) int {
	n, err := strconv.Atoi(v.Value)
	if v.Kind != yaml.ScalarNode || err != nil || n <= 0 {
		p.fail(v, key, "want a positive integer, not %q", v.Value)
	}
	return n
}

func (p *parser) duration(v *yaml.Node, key string) time.Duration {
	d, err := ParseDuration(v.Value)
	if v.Kind != yaml.ScalarNode || err != nil {
		p.fail(v, key, "want a duration like 30s, 15m, 7d: %q", v.Value)
	}
	return d
}

// ParseDuration parses Prometheus durations (7d, 1h30m, 15s) and Go's.
func ParseDuration(s string) (time.Duration, error) {
	if d, err := model.ParseDuration(s); err == nil {
		if d <= 0 {
			return 0, errors.New("must be positive")
		}
		return time.Duration(d), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, errors.New("must be positive")
	}
	return d, nil
}

// check fails with err, if any, at v.
func (p *parser) check(v *yaml.Node, key string, err error) {
	if err != nil && p.err == nil {
		p.fail(v, key, "%v", err)
	}
}
