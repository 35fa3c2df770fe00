package agent

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/testutil"
)

func (a *Agent) collectorsByName() map[string]collector.Collector {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]collector.Collector{}
	for _, r := range a.running {
		out[r.name] = r.c
	}
	return out
}

func hasFamily(t *testing.T, a *Agent, name string) bool {
	t.Helper()
	descs, _, err := a.Gather(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range descs {
		if d.Name == name {
			return true
		}
	}
	return false
}

// Reload starts, stops and restarts exactly the collectors whose settings
// changed, keeps the others' very objects, and applies retention and
// interval; listen only applies at start.
func TestReload(t *testing.T) {
	testutil.RequireBPF(t)
	cfg := testConfig(t, "exit", "process")
	a, err := Start(context.Background(), cfg, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	before := a.collectorsByName()
	if len(before) != 2 {
		t.Fatalf("running %v", slices.Collect(maps.Keys(before)))
	}
	// What the HTTP side reads goes on during the reloads (go test -race).
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			a.Gather(context.Background())
			a.healthy()
			a.statusJSON()
		}
	})
	defer func() { close(stop); readers.Wait() }()

	next := *cfg
	next.Collectors = maps.Clone(cfg.Collectors)
	next.Collectors["process"] = config.Collector{Enabled: true, TopK: 7}
	next.Collectors["signals"] = config.Collector{Enabled: true}
	next.Interval = 2 * time.Second
	next.Retention = 48 * time.Hour
	next.Listen = "127.0.0.1:1"
	next.ExternalLabels = labels.FromStrings("cluster", "c2")                    // the exporters keep theirs
	next.OTLP = &config.OTLP{Endpoint: "127.0.0.1:1", Protocol: config.OTLPGRPC} // and so does the agent: none
	res, err := a.Reload(&next)
	if err != nil {
		t.Fatal(err)
	}
	want := Reloaded{Started: []string{"signals"}, Restarted: []string{"process"}, Unchanged: []string{"exit"}, Ignored: []string{"listen", "otlp", "external_labels"}}
	if !slices.Equal(res.Started, want.Started) || !slices.Equal(res.Restarted, want.Restarted) ||
		!slices.Equal(res.Unchanged, want.Unchanged) || !slices.Equal(res.Ignored, want.Ignored) || len(res.Stopped) != 0 {
		t.Errorf("reloaded %+v, want %+v", res, want)
	}
	after := a.collectorsByName()
	if after["exit"] != before["exit"] {
		t.Error("exit was restarted though its settings did not change")
	}
	if after["process"] == before["process"] || after["process"] == nil {
		t.Error("process was not restarted with its new topk")
	}
	if after["signals"] == nil {
		t.Error("signals did not start")
	}
	if a.interval() != 2*time.Second || a.cfg.Retention != 48*time.Hour || a.cfg.Listen != cfg.Listen {
		t.Errorf("interval %v, retention %v, listen %s", a.interval(), a.cfg.Retention, a.cfg.Listen)
	}
	if !hasFamily(t, a, "kscope_signals_total") {
		t.Error("the new collector's families are not gathered")
	}
	if err := a.Ingest(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Disable signals again: it stops, the rest stays.
	next2 := next
	next2.Collectors = maps.Clone(next.Collectors)
	next2.Collectors["signals"] = config.Collector{}
	res, err = a.Reload(&next2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Stopped, []string{"signals"}) || !slices.Equal(res.Unchanged, []string{"exit", "process"}) || len(res.Started)+len(res.Restarted) != 0 {
		t.Errorf("reloaded %+v", res)
	}
	final := a.collectorsByName()
	if final["exit"] != before["exit"] || final["process"] != after["process"] || final["signals"] != nil {
		t.Errorf("collectors after disabling signals: %v", slices.Collect(maps.Keys(final)))
	}
	if hasFamily(t, a, "kscope_signals_total") {
		t.Error("a stopped collector's families are still gathered")
	}
	st := a.Statuses()
	if len(st) != 2 || st[0].Name != "exit" || st[1].Name != "process" {
		t.Errorf("statuses %+v", st)
	}

	// New budgets apply to the stores and the rate limits at once, and
	// restart no collector.
	next3 := next2
	next3.Budget.MaxSize = 64 << 20
	next3.Budget.RetentionSize = 16 << 20
	next3.Budget.EventRate = 5
	res, err = a.Reload(&next3)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Started)+len(res.Restarted)+len(res.Stopped) != 0 {
		t.Errorf("a budget change restarted collectors: %+v", res)
	}
	want3 := config.Sizes{Total: 64 << 20, Metrics: 16 << 20, Events: 26843545, Profiles: 6710886} // 40% and 10% of 64 MiB
	if a.sizes != want3 || a.profiles.MaxBytes() != want3.Profiles {
		t.Errorf("sizes after reload %+v, profiles %d", a.sizes, a.profiles.MaxBytes())
	}
	for _, r := range a.running {
		if r.limit != nil && r.limit.budget.EventRate != 5 {
			t.Errorf("%s: event rate %v after reload, want 5", r.name, r.limit.budget.EventRate)
		}
	}
}
