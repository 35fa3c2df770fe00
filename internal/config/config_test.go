package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// known mirrors the registry's facts the agent passes in: syscalls with
// its counts_only option, tcp without options, open off by default.
var known = []Section{
	{Name: "syscalls", Default: true, Options: countsOnly{}},
	{Name: "tcp", Default: true},
	{Name: "open", Default: false},
}

type pinDir struct {
	PinDir string `yaml:"pin_dir"`
}

type countsOnly struct {
	CountsOnly bool `yaml:"counts_only"`
}

// profileOptions is shaped as the profile collector's options.
type profileOptions struct {
	Hz     int           `yaml:"hz"`
	OffCPU bool          `yaml:"off_cpu"`
	Window time.Duration `yaml:"window"`
}

const (
	DefaultProfileHz     = 19
	DefaultProfileWindow = 10 * time.Second
)

func (o profileOptions) CheckOption(key, text string) error {
	switch {
	case key == "hz" && o.Hz > 10000:
		return fmt.Errorf("at most %d", 10000)
	case key == "window" && o.Window < time.Second:
		return fmt.Errorf("at least 1s, not %q", text)
	}
	return nil
}

func (c Collector) CountsOnly() bool {
	o, _ := c.Options.(countsOnly)
	return o.CountsOnly
}

func TestCountsOnly(t *testing.T) {
	c, err := Parse("k.yaml", []byte("collectors:\n  syscalls: {counts_only: true}\n"), known)
	if err != nil || !c.Collectors["syscalls"].CountsOnly() || !c.Collectors["syscalls"].Enabled {
		t.Fatalf("%v %+v", err, c.Collectors["syscalls"])
	}
	_, err = Parse("k.yaml", []byte("collectors:\n  tcp: {counts_only: true}\n"), known)
	if err == nil || err.Error() != "k.yaml:2: collectors.tcp.counts_only: unknown key (known: enabled, topk)" {
		t.Errorf("counts_only on tcp: %v", err)
	}
}

// A string option takes a scalar, not a list or a mapping.
func TestStringOption(t *testing.T) {
	known := []Section{{Name: "netfilter", Default: true, Options: pinDir{}}}
	c, err := Parse("k.yaml", []byte("collectors:\n  netfilter: {pin_dir: /sys/fs/bpf/x}\n"), known)
	if err != nil || c.Collectors["netfilter"].Options.(pinDir).PinDir != "/sys/fs/bpf/x" {
		t.Fatalf("%v %+v", err, c.Collectors["netfilter"])
	}
	_, err = Parse("k.yaml", []byte("collectors:\n  netfilter: {pin_dir: [a]}\n"), known)
	if err == nil || err.Error() != "k.yaml:2: collectors.netfilter.pin_dir: want a string" {
		t.Errorf("a list for a string: %v", err)
	}
}

func TestParse(t *testing.T) {
	c, err := Parse("k.yaml", []byte(`
listen: 127.0.0.1:9500
data_dir: /tmp/k
retention: 2d
interval: 15s
topk: 20
event_queue: 100
collectors:
  tcp: false
  open: {topk: 5}
  syscalls: {enabled: true}
storage:
  max_series: 5000
`), known)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9500" || c.DataDir != "/tmp/k" || c.Retention != 48*time.Hour ||
		c.Interval != 15*time.Second || c.TopK != 20 || c.EventQueue != 100 || c.Storage.MaxSeries != 5000 {
		t.Errorf("got %+v", c)
	}
	if got := strings.Join(c.Enabled(), ","); got != "open,syscalls" {
		t.Errorf("enabled %s, want open,syscalls", got)
	}
	if c.Collectors["open"].TopK != 5 {
		t.Errorf("open topk %d", c.Collectors["open"].TopK)
	}
}

func TestDefaults(t *testing.T) {
	for _, doc := range []string{"", "# only a comment\n"} {
		c, err := Parse("k.yaml", []byte(doc), known)
		if err != nil {
			t.Fatal(err)
		}
		if c.Listen != DefaultListen || c.Retention != DefaultRetention || c.Interval != DefaultInterval || c.TopK != DefaultTopK ||
			c.Storage.MaxSeries != DefaultMaxSeries {
			t.Errorf("%q: got %+v", doc, c)
		}
		if got := strings.Join(c.Enabled(), ","); got != "syscalls,tcp" {
			t.Errorf("enabled %s", got)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"listen: a:1\nretension: 7d\n", `k.yaml:2: retension: unknown key (known: listen, data_dir, retention, interval, topk, event_queue, query, bpf_stats, collectors, storage, events, profiles, remote_write, external_labels, otlp, containers, policies, alerts, rule_files, evaluation_interval, alerting, probes)`},
		{"storage:\n  max_series: 0\n", `k.yaml:2: storage.max_series: want a positive integer, not "0"`},
		{"storage:\n  max_series: lots\n", `k.yaml:2: storage.max_series: want a positive integer, not "lots"`},
		{"storage:\n  maxseries: 10\n", `k.yaml:2: storage.maxseries: unknown key (known: max_size, retention_size, max_series)`},
		{"storage: 10\n", `k.yaml:1: storage: want a mapping of max_size, retention_size, max_series`},
		{"bpf_stats: {window: 2m, every: 1m}\n", `k.yaml:1: bpf_stats: window (2m0s) must be shorter than every (1m0s)`},
		{"bpf_stats: {window: 1s, period: 1m}\n", `k.yaml:1: bpf_stats.period: unknown key (known: window, every)`},
		{"bpf_stats: sometimes\n", `k.yaml:1: bpf_stats: want true or false, not "sometimes"`},
		{"bpf_stats: {window: 0s}\n", `k.yaml:1: bpf_stats.window: want a duration`},
		{"retention: 7x\n", `k.yaml:1: retention: want a duration like 30s, 15m, 7d: "7x"`},
		{"retention: -1h\n", `k.yaml:1: retention: want a duration`},
		{"topk: 0\n", `k.yaml:1: topk: want a positive integer, not "0"`},
		{"listen: nohost\n", `k.yaml:1: listen: want host:port`},
		{"collectors:\n  tcp: false\n  udp: true\n", `k.yaml:3: collectors.udp: unknown key (known: open, syscalls, tcp)`},
		{"collectors:\n  tcp: maybe\n", `k.yaml:2: collectors.tcp: want true or false, not "maybe"`},
		{"collectors:\n  tcp: {enabled: true, k: 3}\n", `k.yaml:2: collectors.tcp.k: unknown key (known: enabled, topk)`},
		{"collectors:\n  tcp: {topk: many}\n", `k.yaml:2: collectors.tcp.topk: want a positive integer`},
		{"collectors: [tcp]\n", `k.yaml:1: collectors: want a mapping`},
		{"listen: a:1\nlisten: b:2\n", `k.yaml:2: listen: duplicate key`},
		{"listen: [1\n", `k.yaml:1: invalid YAML: did not find expected ',' or ']'`},
		{"- a\n- b\n", `k.yaml:1: want a mapping`},
		{"listen:\n", `k.yaml:1: listen: want a string`},
	} {
		_, err := Parse("k.yaml", []byte(tc.doc), known)
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("%q: error %v is not a config.Error", tc.doc, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q:\n got %s\nwant %s", tc.doc, err, tc.want)
		}
	}
}

// BPF run-time statistics: sampled 1 s a minute unless the file says.
func TestBPFStats(t *testing.T) {
	for _, tc := range []struct {
		doc           string
		window, every time.Duration
	}{
		{"", time.Second, time.Minute},
		{"bpf_stats: {window: 250ms, every: 10s}\n", 250 * time.Millisecond, 10 * time.Second},
		{"bpf_stats: {every: 5m}\n", time.Second, 5 * time.Minute},
		{"bpf_stats: false\n", 0, time.Minute},
		{"bpf_stats: true\n", time.Second, time.Minute},
	} {
		c, err := Parse("k.yaml", []byte(tc.doc), known)
		if err != nil {
			t.Errorf("%q: %v", tc.doc, err)
			continue
		}
		if c.BPFStatsWindow != tc.window || c.BPFStatsEvery != tc.every {
			t.Errorf("%q: window %s every %s, want %s %s", tc.doc, c.BPFStatsWindow, c.BPFStatsEvery, tc.window, tc.every)
		}
	}
}

func TestLoad(t *testing.T) {
	f := filepath.Join(t.TempDir(), "kscope.yaml")
	os.WriteFile(f, []byte("topk: 3\n"), 0o600)
	c, err := Load(f, known)
	if err != nil || c.TopK != 3 {
		t.Fatalf("%v %+v", err, c)
	}
	var ce *Error
	if _, err := Load(f+".missing", known); !errors.As(err, &ce) || err.Error() != f+".missing: cannot read: no such file or directory" {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Load(t.TempDir(), known); !errors.As(err, &ce) || !strings.HasSuffix(err.Error(), ": cannot read: is a directory") {
		t.Errorf("directory: %v", err)
	}
	// An endless file is read up to the cap, then refused.
	if _, err := Load("/dev/zero", known); !errors.As(err, &ce) || err.Error() != "/dev/zero: larger than 1024 KiB: not a kscope configuration" {
		t.Errorf("/dev/zero: %v", err)
	}
	big := filepath.Join(t.TempDir(), "big.yaml")
	os.WriteFile(big, []byte("topk: 3\n"+strings.Repeat("#\n", MaxFileSize/2)), 0o600)
	if _, err := Load(big, known); err == nil {
		t.Errorf("%s: no error", big)
	}
}

func TestQuery(t *testing.T) {
	c, err := Parse("k.yaml", nil, known)
	if err != nil || c.Query != (Query{Timeout: 2 * time.Minute, MaxSamples: 50_000_000, MaxConcurrency: 20}) {
		t.Fatalf("defaults: %v %+v", err, c.Query)
	}
	c, err = Parse("k.yaml", []byte("query:\n  timeout: 30s\n  max_samples: 1000000\n  max_concurrency: 4\n"), known)
	if err != nil || c.Query != (Query{Timeout: 30 * time.Second, MaxSamples: 1_000_000, MaxConcurrency: 4}) {
		t.Fatalf("%v %+v", err, c.Query)
	}
}

// Bounds that keep a configuration from hurting the agent.
func TestBounds(t *testing.T) {
	for doc, want := range map[string]string{
		"interval: 10ms\n":                   `k.yaml:1: interval: want 100ms to 5m0s, not 10ms`,
		"interval: 1h\n":                     `k.yaml:1: interval: want 100ms to 5m0s, not 1h0m0s`,
		"topk: 1000000\n":                    `k.yaml:1: topk: want 1 to 1000, not 1000000`,
		"collectors:\n  tcp: {topk: 5000}\n": `k.yaml:2: collectors.tcp.topk: want 1 to 1000, not 5000`,
		"event_queue: 1000000000\n":          `k.yaml:1: event_queue: at most 1048576`,
		"query:\n  timeout: 0s\n":            `k.yaml:2: query.timeout: want a duration like 30s, 15m, 7d: "0s"`,
		"query:\n  max_samples: -1\n":        `k.yaml:2: query.max_samples: want a positive integer, not "-1"`,
		"query:\n  max_concurrency: 5000\n":  `k.yaml:2: query.max_concurrency: at most 1000`,
		"query:\n  timout: 1m\n":             `k.yaml:2: query.timout: unknown key (known: timeout, max_samples, max_concurrency)`,
	} {
		if _, err := Parse("k.yaml", []byte(doc), known); err == nil || err.Error() != want {
			t.Errorf("%q: %v, want %s", doc, err, want)
		}
	}
	for _, doc := range []string{"interval: 100ms\n", "interval: 5m\n", "topk: 1000\n"} {
		if _, err := Parse("k.yaml", []byte(doc), known); err != nil {
			t.Errorf("%q: %v", doc, err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "1h30m": 90 * time.Minute, "1.5s": 1500 * time.Millisecond, "2w": 14 * 24 * time.Hour} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, in := range []string{"", "0s", "-5m", "7x", "d"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("listen: 127.0.0.1:1\ncollectors:\n  tcp: {topk: 3}\n"))
	f.Add([]byte("retention: 7d\ninterval: [x]\n"))
	f.Add([]byte("storage: {max_size: 1GB}\nevents: {types: {open: {share: 25%}}}\n"))
	f.Add([]byte("collectors:\n  syscalls: {counts_only: true}\n  profile: {hz: 99, off_cpu: yes, window: 1m}\n"))
	sections := append(slices.Clone(known), Section{Name: "profile", Options: profileOptions{Hz: DefaultProfileHz, Window: DefaultProfileWindow}})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data, sections)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Fatalf("error without place: %v", err)
			}
			return
		}
		if CheckTopK(c.TopK) != nil || c.Retention <= 0 || CheckInterval(c.Interval) != nil || c.Listen == "" ||
			c.Query.Timeout <= 0 || c.Query.MaxSamples <= 0 || c.Query.MaxConcurrency <= 0 || c.Query.MaxConcurrency > MaxQueryConcurrency {
			t.Fatalf("invalid config accepted: %+v", c)
		}
		if p := c.Collectors["profile"].profile(); p.Hz < 1 || p.Hz > 10000 || p.Window < time.Second {
			t.Fatalf("invalid profile options accepted: %+v", p)
		}
	})
}

func TestProfileSettings(t *testing.T) {
	k := []Section{{Name: "profile", Default: true, Options: profileOptions{Hz: DefaultProfileHz, Window: DefaultProfileWindow}}, {Name: "tcp", Default: true}}
	c, err := Parse("k.yaml", []byte("collectors:\n  tcp: true\n"), k)
	if p := c.Collectors["profile"].profile(); err != nil || p.Hz != DefaultProfileHz || p.Window != DefaultProfileWindow || p.OffCPU || !p.Enabled {
		t.Fatalf("defaults: %v %+v", err, p)
	}
	c, err = Parse("k.yaml", []byte("collectors:\n  profile: {hz: 49, off_cpu: true, window: 30s}\n"), k)
	if p := c.Collectors["profile"].profile(); err != nil || p.Hz != 49 || p.Window != 30*time.Second || !p.OffCPU {
		t.Fatalf("%v %+v", err, p)
	}
	for src, want := range map[string]string{
		"collectors:\n  profile: {hz: 0}\n":          `k.yaml:2: collectors.profile.hz: want a positive integer, not "0"`,
		"collectors:\n  profile: {hz: 20000}\n":      `k.yaml:2: collectors.profile.hz: at most 10000`,
		"collectors:\n  profile: {window: 100ms}\n":  `k.yaml:2: collectors.profile.window: at least 1s, not "100ms"`,
		"collectors:\n  tcp: {hz: 9}\n":              `k.yaml:2: collectors.tcp.hz: unknown key (known: enabled, topk)`,
		"collectors:\n  profile: {off_cpu: maybe}\n": `k.yaml:2: collectors.profile.off_cpu: want true or false, not "maybe"`,
		"collectors:\n  profile: {window: often}\n":  `k.yaml:2: collectors.profile.window: want a duration like 30s, 15m, 7d: "often"`,
	} {
		if _, err := Parse("k.yaml", []byte(src), k); err == nil || err.Error() != want {
			t.Errorf("%q: %v, want %s", src, err, want)
		}
	}
}

// profile is the profile options with the section's enabled.
func (c Collector) profile() struct {
	profileOptions
	Enabled bool
} {
	o, _ := c.Options.(profileOptions)
	return struct {
		profileOptions
		Enabled bool
	}{o, c.Enabled}
}
