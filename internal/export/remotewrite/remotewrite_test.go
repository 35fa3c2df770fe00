package remotewrite

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/testutil"
)

var (
	reqs    = metrics.NewCounter("kscope_test_requests_total", "Requests.", "method", "instance")
	temp    = metrics.NewGauge("kscope_test_temp", "A temperature.")
	lat     = metrics.NewHistogram("kscope_test_latency_seconds", "Latency.", "op")
	dropped = metrics.NewGauge("kscope_test_dropped", "Dropped by write_relabel_configs.")
	descs   = []*metrics.Desc{reqs, temp, lat, dropped}
)

// collection is one collection's samples, its values shifted by i.
func collection(i int) []metrics.Sample {
	var e metrics.Emitter
	e.Counter(reqs, float64(3+i), "GET", "")
	e.Counter(reqs, 1, "PUT", "own")
	e.Gauge(temp, 21.5-float64(i))
	e.Histogram(lat, metrics.HistogramValue{Bounds: []float64{0.1, 1}, Counts: []uint64{1, uint64(2 + i), 3}, Sum: 5.5 + float64(i)}, "read")
	e.Gauge(dropped, 1)
	return e.Samples
}

// perCollection is the series each collection sends.
const perCollection = 8

// want is what Prometheus holds after collections at ts[i], shifted by
// shift[i].
func want(ts []time.Time, shift []int) map[string][]testutil.Point {
	w := map[string][]testutil.Point{}
	add := func(series string, v func(i int) float64) {
		for k, t := range ts {
			w[series] = append(w[series], testutil.Point{T: t.UnixMilli(), V: fmt.Sprint(v(shift[k]))})
		}
	}
	ext := `cluster="c1", `
	add(`{__name__="kscope_test_requests_total", `+ext+`instance="host-a", method="GET"}`, func(i int) float64 { return float64(3 + i) })
	add(`{__name__="kscope_test_requests_total", `+ext+`instance="own", method="PUT"}`, func(int) float64 { return 1 })
	add(`{__name__="kscope_test_temp", `+ext+`instance="host-a"}`, func(i int) float64 { return 21.5 - float64(i) })
	h := `{__name__="kscope_test_latency_seconds_%s", ` + ext + `instance="host-a", %sop="read"}`
	add(fmt.Sprintf(h, "bucket", `le="0.1", `), func(int) float64 { return 1 })
	add(fmt.Sprintf(h, "bucket", `le="1", `), func(i int) float64 { return float64(3 + i) })
	add(fmt.Sprintf(h, "bucket", `le="+Inf", `), func(i int) float64 { return float64(6 + i) })
	add(fmt.Sprintf(h, "sum", ""), func(i int) float64 { return 5.5 + float64(i) })
	add(fmt.Sprintf(h, "count", ""), func(i int) float64 { return float64(6 + i) })
	return w
}

// newExporter builds an exporter for url from a kscope configuration, as
// the agent does.
func newExporter(t *testing.T, url, dataDir string) *Exporter {
	t.Helper()
	yml := fmt.Sprintf(`
external_labels:
  instance: host-a
  cluster: c1
remote_write:
  - url: %s
    remote_timeout: 10s
    queue_config:
      max_samples_per_send: 3
      min_backoff: 10ms
      max_backoff: 200ms
    write_relabel_configs:
      - source_labels: [__name__]
        regex: kscope_test_dropped
        action: drop
`, url)
	c, err := config.Parse("kscope.yaml", []byte(yml), nil)
	if err != nil {
		t.Fatal(err)
	}
	x, err := New(Options{Config: c.RemoteWrite[0], ExternalLabels: c.ExternalLabels, DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Stop(context.Background()) })
	return x
}

// selfMetrics is the exporter's self metrics by name (and reason).
func selfMetrics(x *Exporter) map[string]float64 {
	var e metrics.Emitter
	x.Collect(&e)
	out := map[string]float64{}
	for _, s := range e.Samples {
		name := strings.TrimPrefix(s.Desc.Name, "kscope_self_export_")
		if r := s.Label("reason"); r != "" {
			name += "/" + r
		}
		out[name] = s.Value
	}
	return out
}

// waitSelf waits for the exporter's self metric name to reach v.
func waitSelf(t *testing.T, x *Exporter, name string, v float64) {
	t.Helper()
	eventually(t, name, 2*time.Minute, func() error {
		if got := selfMetrics(x); got[name] != v {
			return fmt.Errorf("%s is %v, want %v (%v)", name, got[name], v, got)
		}
		return nil
	})
}

func checkPrometheus(t *testing.T, p *testutil.Prometheus, at time.Time, w map[string][]testutil.Point) {
	t.Helper()
	got, err := p.Series(`{__name__=~"kscope_test_.*"}`, at)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(got, w, slices.Equal) {
		t.Errorf("Prometheus holds\n%s\nwant\n%s", dump(got), dump(w))
	}
}

func dump(m map[string][]testutil.Point) string {
	var lines []string
	for k, v := range m {
		lines = append(lines, fmt.Sprintf("%s %v", k, v))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// Two collections reach a real Prometheus with their exact values, the
// external labels (a series' own instance wins) and write_relabel_configs
// applied, histograms as classic buckets; a collection older than what it
// holds is rejected (400) and counted, not retried.
func TestSendsToPrometheus(t *testing.T) {
	p := testutil.StartPrometheus(t)
	x := newExporter(t, p.URL(), t.TempDir())
	t0 := time.Now().Truncate(time.Second)
	ts := []time.Time{t0, t0.Add(time.Second)}
	for i, at := range ts {
		x.ReportMetrics(at, descs, collection(i))
	}
	waitSelf(t, x, "samples_sent_total", 2*perCollection)
	checkPrometheus(t, p, ts[1], want(ts, []int{0, 1}))

	x.ReportMetrics(t0.Add(-time.Second), descs, collection(5))
	waitSelf(t, x, "samples_dropped_total/rejected", perCollection)
	got := selfMetrics(x)
	wantSelf := map[string]float64{
		"queue_samples": 0, "queue_bytes": 0, "queue_max_bytes": DefaultQueueBytes,
		"samples_sent_total": 2 * perCollection, "requests_failed_total": 3, // 8 series, 3 a request
		"samples_dropped_total/queue_full": 0, "samples_dropped_total/rejected": perCollection,
	}
	if !maps.Equal(got, wantSelf) {
		t.Errorf("self metrics %v, want %v", got, wantSelf)
	}
	checkPrometheus(t, p, ts[1], want(ts, []int{0, 1}))
}

// Prometheus goes down, the agent collects and restarts in the middle of
// the outage, Prometheus comes back: every collection arrives, in order,
// with its exact values.
func TestOutageAndRestart(t *testing.T) { outageAndRestart(t, testutil.StartPrometheus) }

// The same with VictoriaMetrics.
func TestOutageAndRestartVictoriaMetrics(t *testing.T) {
	outageAndRestart(t, testutil.StartVictoriaMetrics)
}

// Two collections reach VictoriaMetrics with their exact values.
func TestSendsToVictoriaMetrics(t *testing.T) {
	p := testutil.StartVictoriaMetrics(t)
	x := newExporter(t, p.URL(), t.TempDir())
	t0 := time.Now().Truncate(time.Second)
	ts := []time.Time{t0, t0.Add(time.Second)}
	for i, at := range ts {
		x.ReportMetrics(at, descs, collection(i))
	}
	waitSelf(t, x, "samples_sent_total", 2*perCollection)
	checkEventually(t, p, ts[1], want(ts, []int{0, 1}))
}

// checkEventually is checkPrometheus for a receiver that makes what it
// received visible to queries a little later (VictoriaMetrics).
func checkEventually(t *testing.T, p *testutil.Prometheus, at time.Time, w map[string][]testutil.Point) {
	t.Helper()
	eventually(t, "the receiver holds what was sent", time.Minute, func() error {
		got, err := p.Series(`{__name__=~"kscope_test_.*"}`, at)
		if err != nil {
			return err
		}
		if !maps.EqualFunc(got, w, slices.Equal) {
			return fmt.Errorf("the receiver holds\n%s\nwant\n%s", dump(got), dump(w))
		}
		return nil
	})
}

func outageAndRestart(t *testing.T, start func(*testing.T) *testutil.Prometheus) {
	p := start(t)
	dataDir := t.TempDir()
	x := newExporter(t, p.URL(), dataDir)
	t0 := time.Now().Truncate(time.Second)
	var ts []time.Time
	var shift []int
	report := func(x *Exporter) {
		i := len(ts)
		at := t0.Add(time.Duration(i) * time.Second)
		x.ReportMetrics(at, descs, collection(i))
		ts, shift = append(ts, at), append(shift, i)
	}
	report(x)
	waitSelf(t, x, "samples_sent_total", perCollection)

	p.Stop()
	for range 5 {
		report(x)
	}
	eventually(t, "a failed request", time.Minute, func() error {
		if got := selfMetrics(x); got["requests_failed_total"] == 0 {
			return fmt.Errorf("no request failed yet: %v", got)
		}
		return nil
	})
	if got := selfMetrics(x)["queue_samples"]; got != 5*perCollection {
		t.Fatalf("%v samples queued during the outage, want %d", got, 5*perCollection)
	}
	// The agent stops in the middle of the outage: Stop gives up on the
	// unreachable endpoint, and what is queued stays on disk.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	x.Stop(ctx)
	cancel()

	x = newExporter(t, p.URL(), dataDir)
	if got := selfMetrics(x)["queue_samples"]; got != 5*perCollection {
		t.Fatalf("%v samples queued after the restart, want %d", got, 5*perCollection)
	}
	report(x)
	p.Start()
	waitSelf(t, x, "samples_sent_total", 6*perCollection)
	checkEventually(t, p, ts[len(ts)-1], want(ts, shift))
	if got := selfMetrics(x); got["samples_dropped_total/queue_full"] != 0 || got["samples_dropped_total/rejected"] != 0 || got["queue_samples"] != 0 {
		t.Errorf("self metrics after the outage: %v", got)
	}
}

// While Prometheus is down, a queue with room for two collections keeps
// two of the five collected and counts the other three's samples as
// dropped; once it is back it receives exactly the collections kept,
// the newest among them.
func TestQueueFullDropsOldest(t *testing.T) {
	p := testutil.StartPrometheus(t)
	c, err := config.Parse("kscope.yaml", []byte(fmt.Sprintf(`
external_labels: {instance: host-a, cluster: c1}
remote_write:
  - url: %s
    queue_config: {max_samples_per_send: 100, min_backoff: 10ms, max_backoff: 100ms}
    write_relabel_configs:
      - {source_labels: [__name__], regex: kscope_test_dropped, action: drop}
`, p.URL())), nil)
	if err != nil {
		t.Fatal(err)
	}
	x, err := New(Options{Config: c.RemoteWrite[0], ExternalLabels: c.ExternalLabels, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer x.Stop(context.Background())
	t0 := time.Now().Truncate(time.Second)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	x.ReportMetrics(at(0), descs, collection(0))
	waitSelf(t, x, "samples_sent_total", perCollection)

	p.Stop()
	x.ReportMetrics(at(1), descs, collection(1))
	one := selfMetrics(x)["queue_bytes"] // one collection's request
	x.q.mu.Lock()
	x.q.maxBytes = int64(one * 5 / 2) // room for two
	x.q.mu.Unlock()
	for i := 2; i <= 5; i++ {
		x.ReportMetrics(at(i), descs, collection(i))
	}
	got := selfMetrics(x)
	if got["queue_samples"] != 2*perCollection || got["samples_dropped_total/queue_full"] != 3*perCollection {
		t.Fatalf("self metrics during the outage: %v", got)
	}
	p.Start()
	waitSelf(t, x, "samples_sent_total", 3*perCollection)
	held, err := p.Series(`kscope_test_temp`, at(5))
	if err != nil {
		t.Fatal(err)
	}
	pts := held[`{__name__="kscope_test_temp", cluster="c1", instance="host-a"}`]
	if len(pts) != 3 || pts[0].T != at(0).UnixMilli() || pts[2].T != at(5).UnixMilli() || pts[2].V != "16.5" {
		t.Errorf("Prometheus holds %v: want collection 0, one of 1 to 4, and 5 (16.5)", held)
	}
}
