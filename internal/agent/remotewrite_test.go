package agent

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/testutil"
)

// An agent configured with remote_write sends every sample it stores to a
// real Prometheus: what Prometheus holds is what the agent's TSDB holds,
// series for series and value for value, with the external labels added;
// the exporter's self metrics are among them. Prometheus's series are
// printed without the external label to compare them.
func TestRemoteWriteToPrometheus(t *testing.T) {
	testutil.RequireBPF(t)
	p := testutil.StartPrometheus(t)
	cfg, err := config.Parse("kscope.yaml", []byte(fmt.Sprintf(`
external_labels:
  instance: host-a
remote_write:
  - url: %s
    name: central
`, p.URL())), Sections())
	if err != nil {
		t.Fatal(err)
	}
	base := testConfig(t)
	cfg.DataDir, cfg.Listen, cfg.Interval = base.DataDir, base.Listen, base.Interval
	for name := range cfg.Collectors {
		cfg.Collectors[name] = config.Collector{} // the agent's own metrics only
	}
	a, err := StartWith(context.Background(), cfg, Options{}, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	agentAPI := "http://" + a.Addr().String()
	var last time.Time
	for range 3 {
		// Each collection at a millisecond of its own: two samples of a
		// series at one timestamp are one too many for either TSDB.
		for !last.IsZero() && time.Now().UnixMilli() <= last.UnixMilli() {
			time.Sleep(time.Millisecond)
		}
		if err := a.Ingest(context.Background()); err != nil {
			t.Fatal(err)
		}
		last = a.lastIngest
	}
	const sel = `{__name__=~"kscope_self_.*"}`
	stored, err := testutil.PromSeries(agentAPI, sel, last)
	if err != nil {
		t.Fatal(err)
	}
	want := stored
	for _, name := range []string{"kscope_self_export_samples_sent_total", "kscope_self_export_queue_samples", "kscope_self_build_info"} {
		if !strings.Contains(fmt.Sprint(slices.Collect(maps.Keys(want))), `__name__="`+name+`"`) {
			t.Errorf("the agent stored no %s", name)
		}
	}
	var got map[string][]testutil.Point
	for deadline := time.Now().Add(time.Minute); ; {
		received, err := p.Series(sel, last)
		if err != nil {
			t.Fatal(err)
		}
		// Every series has the external label (__name__ sorts first).
		got = map[string][]testutil.Point{}
		for k, v := range received {
			if !strings.Contains(k, `, instance="host-a"`) {
				k = "without the external label: " + k
			}
			got[strings.Replace(k, `, instance="host-a"`, "", 1)] = v
		}
		if maps.EqualFunc(got, want, slices.Equal) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling Prometheus for a condition, with a deadline
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		for k, v := range want {
			if !slices.Equal(got[k], v) {
				t.Errorf("%s: Prometheus %v, the agent %v", k, got[k], v)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("%s: only in Prometheus", k)
			}
		}
	}
}
