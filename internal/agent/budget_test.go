package agent

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/kscope/kscope/internal/collector/exec"
	_ "github.com/kscope/kscope/internal/collector/open"
	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/store"
	"github.com/kscope/kscope/internal/testutil"
)

// An exec storm beyond the exec type's rate limit: what the collector
// delivered is exactly what the store holds plus what was dropped, and
// the drops over the limit are counted for the collector.
func TestEventRateLimit(t *testing.T) {
	testutil.RequireBPF(t)
	cfg := testConfig(t, "exec")
	const rate, burst = 5, 20
	cfg.Budget.EventTypes["exec"] = config.EventType{Rate: rate, Burst: burst}
	// The bucket starts with the first exec the agent sees (the host's
	// own may come before the storm): time its whole life.
	start := time.Now()
	a, err := Start(context.Background(), cfg, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if len(a.running) != 1 {
		t.Fatalf("running %d collectors: %+v", len(a.running), a.Statuses())
	}
	r := a.running[0]
	const storm = 300
	for range storm {
		if err := exec.Command("true").Run(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for r.c.Stats().Events < storm {
		if time.Now().After(deadline) {
			t.Fatalf("the collector delivered %d of at least %d execs", r.c.Stats().Events, storm)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The rate-limited drops show in the self metrics, per collector.
	_, samples, _ := a.Gather(context.Background())
	var shown float64 = -1
	for _, s := range samples {
		if s.Desc.Name == "kscope_self_events_dropped_total" && s.Values[0] == "rate_limited" && s.Values[1] == "exec" {
			shown = s.Value
		}
	}
	if shown <= 0 {
		t.Errorf(`kscope_self_events_dropped_total{reason="rate_limited",collector="exec"} = %v`, shown)
	}
	// Closing drains the ring buffer and writes the queue: the counts are
	// final then.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	emitted, limited := r.c.Stats().Events, r.limit.Dropped()
	queueFull, failed := a.events.Dropped(), a.events.Failed()
	ev, err := store.OpenEvents(cfg.DataDir, time.Hour, 10, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	res, err := ev.Query(context.Background(), store.Query{Type: "exec", Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	stored := uint64(len(res.Events))
	t.Logf("%d execs delivered in %s: %d stored, %d rate limited, %d queue full, %d failed", emitted, elapsed.Round(time.Millisecond), stored, limited, queueFull, failed)
	if stored+limited+queueFull+failed != emitted {
		t.Errorf("stored %d + rate limited %d + queue full %d + failed %d != %d delivered", stored, limited, queueFull, failed, emitted)
	}
	// The bucket lets the burst through, then the rate.
	if most := burst + uint64(rate*(elapsed.Seconds()+1)); stored < burst || stored > most {
		t.Errorf("stored %d execs in %s, want %d..%d", stored, elapsed, burst, most)
	}
}

// By default the data directory may use a tenth of its filesystem: half
// for the TSDB, 40% for events, 10% for profiles. What the configuration
// sets stays.
func TestDiskBudgetDefault(t *testing.T) {
	testutil.RequireBPF(t)
	const fs = 64 << 20
	for _, tc := range []struct {
		name                      string
		events                    int64
		metrics, evBytes, profile float64
	}{
		{"default", 0, fs / 10 / 2, float64(int64(fs/10)) * 0.4, float64(int64(fs/10)) * 0.1},
		{"events.max_size", 12345, fs / 10 / 2, 12345, float64(int64(fs/10)) * 0.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, "exit")
			cfg.DataDir = testutil.Tmpfs(t, fs)
			cfg.Budget.EventsMaxSize = tc.events
			a, err := Start(context.Background(), cfg, quietLogger)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			_, samples, _ := a.Gather(context.Background())
			got := map[string]float64{}
			for _, s := range samples {
				if s.Desc.Name == "kscope_self_store_max_bytes" {
					got[s.Values[0]] = s.Value
				}
			}
			want := map[string]float64{"metrics": float64(int64(tc.metrics)), "events": float64(int64(tc.evBytes)), "profiles": float64(int64(tc.profile))}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("kscope_self_store_max_bytes{store=%q} = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

// A storm of file opens, as the open collector sees on a busy host: it is
// cut at the open type's rate limit, the event store stays within its
// size budget by deleting the oldest events, and every event the
// collector delivered is accounted for.
func TestOpenStormWithinBudget(t *testing.T) {
	testutil.RequireBPF(t)
	cfg := testConfig(t, "open")
	const maxBytes = 64 << 10
	cfg.Budget.EventsMaxSize = maxBytes
	cfg.Budget.EventTypes["open"] = config.EventType{Rate: 500, Burst: 2000}
	a, err := Start(context.Background(), cfg, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if len(a.running) != 1 {
		t.Fatalf("running %d collectors: %+v", len(a.running), a.Statuses())
	}
	r := a.running[0]
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	const storm = 20000
	for range storm {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	deadline := time.Now().Add(30 * time.Second)
	for r.c.Stats().Events < storm/2 { // the ring buffer may lose some, counted
		if time.Now().After(deadline) {
			t.Fatalf("the collector delivered %d opens", r.c.Stats().Events)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	emitted, limited := r.c.Stats().Events, r.limit.Dropped()
	queueFull, failed, evicted := a.events.Dropped(), a.events.Failed(), a.events.Evicted()
	if a.events.Bytes() > maxBytes {
		t.Errorf("the event store holds %d bytes, over its budget of %d", a.events.Bytes(), maxBytes)
	}
	ev, err := store.OpenEvents(cfg.DataDir, time.Hour, 10, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	res, err := ev.Query(context.Background(), store.Query{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	stored := uint64(len(res.Events))
	t.Logf("%d opens delivered (%d lost in the kernel): %d stored in %d bytes, %d evicted, %d rate limited, %d queue full, %d failed",
		emitted, r.c.Stats().Lost, stored, ev.Bytes(), evicted, limited, queueFull, failed)
	if stored+evicted+limited+queueFull+failed != emitted {
		t.Errorf("stored %d + evicted %d + rate limited %d + queue full %d + failed %d != %d delivered", stored, evicted, limited, queueFull, failed, emitted)
	}
	if limited == 0 || evicted == 0 || ev.Bytes() > maxBytes {
		t.Errorf("rate limited %d, evicted %d, %d bytes kept (budget %d)", limited, evicted, ev.Bytes(), maxBytes)
	}
}
