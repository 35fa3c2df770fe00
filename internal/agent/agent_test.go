package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os/exec"
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
	collector.Register("broken", func(cfg collector.Config) (collector.Collector, error) {
		cfg.Logger.Info("fallback: none")
		return broken{}, nil
	})
}

func testConfig(t *testing.T, names ...string) *config.Config {
	cfg := config.Default(map[string]bool{})
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

// The self metrics report BPF run counts once programs ran.
func TestSelfMetrics(t *testing.T) {
	testutil.RequireBPF(t)
	a, err := Start(context.Background(), testConfig(t, "exit"), quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// exit's program runs on every exit; make some.
	for range 3 {
		if err := exec.Command("true").Run(); err != nil {
			t.Fatal(err)
		}
	}
	_, samples, _ := a.Gather(context.Background())
	got := map[string]float64{}
	for _, s := range samples {
		got[s.Desc.Name] += s.Value
	}
	if _, stats := a.stats.(io.Closer); stats && got["kscope_self_bpf_program_runs_total"] < 3 {
		t.Errorf("program runs %v, want at least 3", got["kscope_self_bpf_program_runs_total"])
	}
	for _, name := range []string{"kscope_self_resident_memory_bytes", "kscope_self_cpu_seconds_total", "kscope_self_build_info"} {
		if got[name] <= 0 {
			t.Errorf("%s = %v", name, got[name])
		}
	}
}
