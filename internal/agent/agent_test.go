package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/collector"
	_ "github.com/kscope/kscope/internal/collector/exit"
	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/testutil"
)

// broken is a collector that cannot start, as one needing a hook this
// kernel lacks.
type broken struct{}

var errNoHook = errors.New("tracepoint foo/bar: missing on this kernel")

func (broken) Name() string                            { return "broken" }
func (broken) Start(context.Context, event.Sink) error { return errNoHook }
func (broken) Stats() collector.Stats                  { return collector.Stats{} }
func (broken) Close() error                            { return nil }

func init() {
	collector.Register(collector.Spec{Name: "broken", Doc: "A collector whose hook is missing", Default: true,
		New: collector.Plain(func(cfg collector.Config) (collector.Collector, error) {
			cfg.Logger.Info("fallback: none")
			return broken{}, nil
		})})
}

func testConfig(t *testing.T, names ...string) *config.Config {
	cfg := config.Default(nil)
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Interval = time.Second
	for _, n := range names {
		cfg.Collectors[n] = config.Collector{Enabled: true}
	}
	return cfg
}

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// A collector that cannot start is reported; the others run.
func TestStartSkipsBrokenCollector(t *testing.T) {
	testutil.RequireBPF(t)
	a, err := Start(context.Background(), testConfig(t, "exit", "broken"), quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	st := a.Statuses()
	if len(st) != 2 || st[0].Name != "broken" || !errors.Is(st[0].Err, errNoHook) || st[1].Name != "exit" || st[1].Err != nil {
		t.Fatalf("statuses %+v", st)
	}
	if len(st[0].Notes) != 1 || st[0].Notes[0] != "fallback: none" {
		t.Errorf("notes %q", st[0].Notes)
	}
	_, samples, err := a.Gather(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	up := map[string]float64{}
	for _, s := range samples {
		if s.Desc.Name == "kscope_self_collector_up" {
			up[s.Values[0]] = s.Value
		}
	}
	if up["broken"] != 0 || up["exit"] != 1 || len(up) != 2 {
		t.Errorf("collector_up %v", up)
	}
	if err := a.Ingest(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.healthy(); err != nil {
		t.Errorf("healthy: %v", err)
	}
}

func TestCheck(t *testing.T) {
	testutil.RequireBPF(t)
	st, err := Check(context.Background(), testConfig(t, "exit"), quietLogger)
	if err != nil || len(st) != 1 || st[0].Err != nil {
		t.Fatalf("%v %+v", err, st)
	}
	st, err = Check(context.Background(), testConfig(t, "exit", "broken"), quietLogger)
	if err == nil || !strings.Contains(err.Error(), "1 of 2 collectors failed: [broken]") || len(st) != 2 {
		t.Errorf("%v %+v", err, st)
	}
}

// The self metrics report the agent's own cost, and BPF run counts from
// the sampling windows: the first window opens when the agent starts.
func TestSelfMetrics(t *testing.T) {
	testutil.RequireBPF(t)
	cfg := testConfig(t, "exit")
	cfg.BPFStatsWindow, cfg.BPFStatsEvery = 200*time.Millisecond, time.Hour
	a, err := Start(context.Background(), cfg, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// Wait for the first window to end.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, windows, err := a.stats.snapshot(func(statKey, statTotal) {})
		if err != nil {
			testutil.Skip(t, "BPF_ENABLE_STATS", err)
		}
		if windows > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no BPF statistics window ended in 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, samples, _ := a.Gather(context.Background())
	got := map[string]float64{}
	series := map[string]int{}
	for _, s := range samples {
		got[s.Desc.Name] += s.Value
		series[s.Desc.Name]++
	}
	if w := got["kscope_self_bpf_stats_window_seconds_total"]; w < 0.2 || w > 30 {
		t.Errorf("window seconds %v, want one window of at least 0.2 s", w)
	}
	if r := got["kscope_self_bpf_stats_sampled_ratio"]; r != 0.2/3600 {
		t.Errorf("sampled ratio %v, want %v", r, 0.2/3600)
	}
	progs := len(a.running[0].c.(collectioner).Collection().Programs)
	for _, name := range []string{"kscope_self_bpf_program_runs_total", "kscope_self_bpf_program_run_seconds_total", "kscope_self_bpf_program_recursion_misses_total"} {
		if series[name] != progs {
			t.Errorf("%s: %d series, want one per program (%d)", name, series[name], progs)
		}
	}
	for _, name := range []string{"kscope_self_resident_memory_bytes", "kscope_self_cpu_seconds_total", "kscope_self_build_info"} {
		if got[name] <= 0 {
			t.Errorf("%s = %v", name, got[name])
		}
	}
}

// bpf_stats: false: the statistics are never switched on and their
// series are not exported.
func TestBPFStatsOff(t *testing.T) {
	testutil.RequireBPF(t)
	cfg := testConfig(t, "exit")
	cfg.BPFStatsWindow = 0
	a, err := Start(context.Background(), cfg, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.stats != nil {
		t.Fatal("sampling BPF statistics with bpf_stats off")
	}
	_, samples, _ := a.Gather(context.Background())
	for _, s := range samples {
		switch s.Desc.Name {
		case "kscope_self_bpf_program_runs_total", "kscope_self_bpf_program_run_seconds_total",
			"kscope_self_bpf_stats_window_seconds_total", "kscope_self_bpf_stats_sampled_ratio":
			t.Errorf("%s exported with bpf_stats off", s.Desc.Name)
		}
	}
}
