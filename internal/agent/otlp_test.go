package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"

	cprofile "github.com/kscope/kscope/internal/collector/profile"
	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/export"
	"github.com/kscope/kscope/internal/profile"
	"github.com/kscope/kscope/internal/testutil"
)

// An agent configured with otlp sends to a real OpenTelemetry Collector:
// its own series of a collection with the values the TSDB holds for it
// (counters as cumulative monotonic sums), and each exec event of a
// workload as a log record with its fields.
func TestOTLPToOTelCollector(t *testing.T) {
	testutil.RequireBPF(t)
	c := testutil.StartOTelCollector(t)
	cfg, err := config.Parse("kscope.yaml", []byte(fmt.Sprintf("otlp:\n  endpoint: %s\n  insecure: true\n", c.GRPCAddr())), Sections())
	if err != nil {
		t.Fatal(err)
	}
	base := testConfig(t)
	cfg.DataDir, cfg.Listen, cfg.Interval = base.DataDir, base.Listen, base.Interval
	for name := range cfg.Collectors {
		cfg.Collectors[name] = config.Collector{Enabled: name == "exec"}
	}
	a, err := StartWith(context.Background(), cfg, Options{}, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	marker := fmt.Sprintf("otlp-marker-%d", time.Now().UnixNano())
	parent := exec.Command("sh", "-c", `for i in 1 2 3; do /bin/true "$0"; done`, marker)
	if out, err := parent.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	ppid := int64(parent.Process.Pid)
	ingest(t, a, 2)
	last := a.lastIngest

	// The exec events, as log records.
	var records []string
	for deadline := time.Now().Add(time.Minute); ; {
		records = nil
		for _, l := range c.Lines("logs") {
			ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(l)
			if err != nil {
				t.Fatal(err)
			}
			for _, rl := range ld.ResourceLogs().All() {
				for _, sl := range rl.ScopeLogs().All() {
					for _, lr := range sl.LogRecords().All() {
						attrs := lr.Attributes()
						if p, ok := attrs.Get("ppid"); !ok || p.Type() != pcommon.ValueTypeInt || p.Int() != ppid {
							continue
						}
						argv, _ := attrs.Get("argv")
						filename, _ := attrs.Get("filename")
						ret, _ := attrs.Get("ret")
						records = append(records, fmt.Sprintf("%s %s %s ret=%s", lr.EventName(), filename.AsString(), argv.AsString(), ret.AsString()))
					}
				}
			}
		}
		if len(records) >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling the collector's file for a condition, with a deadline
	}
	want := slices.Repeat([]string{fmt.Sprintf(`exec /bin/true ["/bin/true","%s"] ret=0`, marker)}, 3)
	if !slices.Equal(records, want) {
		t.Errorf("log records of the workload's execs\n%q\nwant\n%q", records, want)
	}

	// The agent's own series of the last collection: the collector's data
	// points and the TSDB's values at its time.
	at := pcommon.NewTimestampFromTime(last)
	var got map[string]float64
	for deadline := time.Now().Add(time.Minute); ; {
		got = map[string]float64{}
		for _, l := range c.Lines("metrics") {
			md, err := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(l)
			if err != nil {
				t.Fatal(err)
			}
			for _, rm := range md.ResourceMetrics().All() {
				for _, sm := range rm.ScopeMetrics().All() {
					for _, m := range sm.Metrics().All() {
						if !strings.HasPrefix(m.Name(), "kscope_self_") {
							continue
						}
						var points pmetric.NumberDataPointSlice
						switch m.Type() {
						case pmetric.MetricTypeSum:
							if !m.Sum().IsMonotonic() || m.Sum().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
								t.Errorf("%s: a sum not cumulative and monotonic", m.Name())
							}
							points = m.Sum().DataPoints()
						case pmetric.MetricTypeGauge:
							points = m.Gauge().DataPoints()
						default:
							continue
						}
						for _, dp := range points.All() {
							if dp.Timestamp() != at {
								continue
							}
							var labels, values []string
							dp.Attributes().Range(func(k string, v pcommon.Value) bool {
								labels, values = append(labels, k), append(values, v.AsString())
								return true
							})
							got[seriesKey(m.Name(), labels, values)] = dp.DoubleValue()
						}
					}
				}
			}
		}
		if len(got) > 0 || time.Now().After(deadline) { // a collection is one request: all of it, or none yet
			break
		}
		time.Sleep(100 * time.Millisecond) // polling the collector's file for a condition, with a deadline
	}
	ts := strconv.FormatFloat(float64(last.UnixMilli())/1000, 'f', 3, 64)
	code, body := getURL(t, "http://"+a.Addr().String()+"/api/v1/query?time="+ts+"&query="+url.QueryEscape(`{__name__=~"kscope_self_.+"}`))
	var r struct {
		Data struct{ Result []promSeries }
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || code != 200 {
		t.Fatalf("query: %d %s (%v)", code, body, err)
	}
	inTSDB := map[string]float64{}
	for _, s := range r.Data.Result {
		name := s.Metric["__name__"]
		if strings.HasSuffix(name, "_bucket") || strings.HasSuffix(name, "_sum") || strings.HasSuffix(name, "_count") {
			continue // a histogram's series
		}
		var labels, values []string
		for l, v := range s.Metric {
			if l != "__name__" {
				labels, values = append(labels, l), append(values, v)
			}
		}
		v, err := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
		if err != nil {
			t.Fatal(err)
		}
		inTSDB[seriesKey(name, labels, values)] = v
	}
	if len(got) < 10 {
		t.Fatalf("only %d of the agent's own series received: %v", len(got), got)
	}
	for k, v := range inTSDB {
		if g, ok := got[k]; !ok || g != v && !(math.IsNaN(g) && math.IsNaN(v)) {
			t.Errorf("%s: the TSDB %v, the collector %v (received %v)", k, v, g, ok)
		}
	}
	for k := range got {
		if _, ok := inTSDB[k]; !ok {
			t.Errorf("%s received, not in the TSDB", k)
		}
	}
}

// The agent's CPU profile windows reach the collector as OTLP profiles:
// a window's sample count and its leaf functions are those of the window
// the agent handed its exporters (the stored one: see
// TestExporterGetsWhatIsStored).
func TestOTLPProfilesOTelCollector(t *testing.T) {
	testutil.RequireBPF(t)
	c := testutil.StartOTelCollector(t)
	cfg, err := config.Parse("kscope.yaml", []byte(fmt.Sprintf("otlp:\n  endpoint: %s\n  insecure: true\n", c.GRPCAddr())), Sections())
	if err != nil {
		t.Fatal(err)
	}
	base := testConfig(t)
	cfg.DataDir, cfg.Listen, cfg.Interval = base.DataDir, base.Listen, base.Interval
	for name := range cfg.Collectors {
		cfg.Collectors[name] = config.Collector{}
	}
	cfg.Collectors["profile"] = config.Collector{Enabled: true, Options: cprofile.Settings{Hz: 99, Window: time.Second}}
	rec := &recordingExporter{}
	a, err := StartWith(context.Background(), cfg, Options{Exporters: []export.Exporter{rec}}, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var stop atomic.Bool
	defer stop.Store(true)
	go func() { // something on a CPU in every window
		for n := 0; !stop.Load(); n++ {
		}
	}()

	// The first window with samples the collector received.
	type window struct {
		start    time.Time
		duration time.Duration
		samples  int64
		leaves   []string
	}
	var w *window
	for deadline := time.Now().Add(time.Minute); w == nil; {
		for _, l := range c.Lines("profiles") {
			pd, err := (&pprofile.JSONUnmarshaler{}).UnmarshalProfiles(l)
			if err != nil {
				t.Fatal(err)
			}
			d := pd.Dictionary()
			str := func(i int32) string { return d.StringTable().At(int(i)) }
			for _, rp := range pd.ResourceProfiles().All() {
				for _, sp := range rp.ScopeProfiles().All() {
					for _, p := range sp.Profiles().All() {
						if str(p.SampleType().TypeStrindex()) != "samples" || p.Samples().Len() == 0 || w != nil {
							continue
						}
						w = &window{start: p.Time().AsTime(), duration: time.Duration(p.DurationNano())}
						for _, s := range p.Samples().All() {
							w.samples += s.Values().At(0)
							locs := d.StackTable().At(int(s.StackIndex())).LocationIndices()
							if locs.Len() == 0 {
								continue
							}
							line := d.LocationTable().At(int(locs.At(0))).Lines().At(0)
							w.leaves = append(w.leaves, str(d.FunctionTable().At(int(line.FunctionIndex())).NameStrindex()))
						}
					}
				}
			}
		}
		if w == nil {
			if time.Now().After(deadline) {
				t.Fatal("no profile window with samples received in a minute")
			}
			time.Sleep(100 * time.Millisecond) // polling the collector's file for a condition, with a deadline
		}
	}
	var stored *profile.Profile
	rec.mu.Lock()
	for _, p := range rec.profiles {
		if p.Start.Equal(w.start) && p.Duration == w.duration {
			stored = p
		}
	}
	rec.mu.Unlock()
	if stored == nil {
		t.Fatalf("the window received at %v for %v was not handed to the exporters", w.start, w.duration)
	}
	var leaves []string
	for _, s := range stored.Samples {
		if len(s.Stack) > 0 {
			leaves = append(leaves, s.Stack[0].Name())
		}
	}
	slices.Sort(leaves)
	leaves = slices.Compact(leaves)
	slices.Sort(w.leaves)
	w.leaves = slices.Compact(w.leaves)
	if got, want := w.samples, stored.Total(profile.Samples); got != want || got == 0 {
		t.Errorf("the window at %v: %d samples received, %d handed to the exporters", w.start, got, want)
	}
	if !slices.Equal(w.leaves, leaves) {
		t.Errorf("the window at %v: leaf functions received\n%q\nhanded to the exporters\n%q", w.start, w.leaves, leaves)
	}
}
