package otlp

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/container"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/export"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/profile"
	"github.com/kscope/kscope/internal/version"
)

var (
	execs = metrics.NewCounter("kscope_test_execs_total", "Execs.", append([]string{"comm"}, container.Fields...)...)
	temp  = metrics.NewGauge("kscope_test_temp", "A temperature.")
	lat   = metrics.NewHistogram("kscope_test_latency_seconds", "Latency.", "op")
	descs = []*metrics.Desc{execs, temp, lat}
)

// collection is one collection's samples, its values shifted by i: a
// counter of a container's process and of a unit's, a gauge, a histogram.
func collection(i int) []metrics.Sample {
	var e metrics.Emitter
	e.Counter(execs, float64(42+i), "nginx", "abc123", "web", "nginx:1.25", "web-0", "prod", "")
	e.Counter(execs, 7, "cron", "", "", "", "", "", "cron.service")
	e.Gauge(temp, 21.5-float64(i))
	e.Histogram(lat, metrics.HistogramValue{Bounds: []float64{0.1, 1}, Counts: []uint64{1, uint64(2 + i), 3}, Sum: 5.5 + float64(i)}, "read")
	return e.Samples
}

// perCollection is the data points each collection sends.
const perCollection = 4

const (
	hostRes = "host.name=test-host service.name=kscope service.version=" + "VERSION"
	webRes  = hostRes + " container.id=abc123 container.name=web container.image.name=nginx:1.25 k8s.pod.name=web-0 k8s.namespace.name=prod"
)

// wantPoints is what collections at ts, shifted by shift, send: one line
// per data point, as pointLines writes them.
func wantPoints(start time.Time, ts []time.Time, shift []int) []string {
	var out []string
	for k, t := range ts {
		i := shift[k]
		at := fmt.Sprintf("@%d", t.UnixNano())
		from := fmt.Sprintf("%d", start.UnixNano())
		out = append(out,
			fmt.Sprintf("%s | kscope_test_execs_total sum monotonic cumulative from %s {comm=nginx} %s = %v", webRes, from, at, 42+i),
			fmt.Sprintf("%s | kscope_test_execs_total sum monotonic cumulative from %s {comm=cron systemd_unit=cron.service} %s = 7", hostRes, from, at),
			fmt.Sprintf("%s | kscope_test_temp gauge {} %s = %v", hostRes, at, 21.5-float64(i)),
			fmt.Sprintf("%s | kscope_test_latency_seconds histogram cumulative from %s {op=read} %s = bounds [0.1 1] counts [1 %d 3] sum %v count %d", hostRes, from, at, 2+i, 5.5+float64(i), 6+i),
		)
	}
	slices.Sort(out)
	return out
}

// attrLine writes attributes as k=v in their order.
func attrLine(m pcommon.Map) string {
	var parts []string
	m.Range(func(k string, v pcommon.Value) bool {
		parts = append(parts, k+"="+v.AsString())
		return true
	})
	return strings.Join(parts, " ")
}

// pointLines writes every data point of ms as one line: its resource, its
// metric, its type, its attributes, its time and its value.
func pointLines(ms []pmetric.Metrics) []string {
	var out []string
	for _, md := range ms {
		for _, rm := range md.ResourceMetrics().All() {
			res := strings.ReplaceAll(attrLine(rm.Resource().Attributes()), version.Version, "VERSION")
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					head := res + " | " + m.Name()
					switch m.Type() {
					case pmetric.MetricTypeSum:
						s := m.Sum()
						for _, dp := range s.DataPoints().All() {
							out = append(out, fmt.Sprintf("%s sum %s %s from %d {%s} @%d = %v", head, map[bool]string{true: "monotonic", false: "non-monotonic"}[s.IsMonotonic()],
								strings.ToLower(s.AggregationTemporality().String()), dp.StartTimestamp(), attrLine(dp.Attributes()), dp.Timestamp(), dp.DoubleValue()))
						}
					case pmetric.MetricTypeGauge:
						for _, dp := range m.Gauge().DataPoints().All() {
							out = append(out, fmt.Sprintf("%s gauge {%s} @%d = %v", head, attrLine(dp.Attributes()), dp.Timestamp(), dp.DoubleValue()))
						}
					case pmetric.MetricTypeHistogram:
						h := m.Histogram()
						for _, dp := range h.DataPoints().All() {
							out = append(out, fmt.Sprintf("%s histogram %s from %d {%s} @%d = bounds %v counts %v sum %v count %d", head,
								strings.ToLower(h.AggregationTemporality().String()), dp.StartTimestamp(), attrLine(dp.Attributes()), dp.Timestamp(),
								dp.ExplicitBounds().AsRaw(), dp.BucketCounts().AsRaw(), dp.Sum(), dp.Count()))
						}
					default:
						out = append(out, head+" "+m.Type().String())
					}
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// execEvent is an exec event of a container's process as the agent's
// encoder hands it on: its JSON with the container's fields after its
// own.
func execEvent(t time.Time) export.Event {
	ev := &event.Exec{
		Header:   event.Header{Time: t, Type: "exec", PID: 4242, TID: 4242, PPID: 1, Comm: "nginx", CgroupID: 77, StartNS: 123456789},
		Filename: "/usr/sbin/nginx",
		Argv:     []string{"nginx", "-g", "daemon off;"},
	}
	b := event.AppendJSON(nil, ev)
	info := &container.Info{ID: "abc123", Name: "web", Image: "nginx:1.25", Pod: "web-0", Namespace: "prod"}
	b = append(info.AppendJSON(b[:len(b)-1]), '}')
	return export.Event{Header: ev.Header, JSON: b}
}

// wantRecord is what execEvent(t) becomes.
func wantRecord(t time.Time, body string) string {
	return fmt.Sprintf("%s | exec @%d {type=exec pid=4242 tid=4242 ppid=1 uid=0 comm=nginx cgroup_id=77 start_ns=123456789 start_time=0001-01-01T00:00:00Z parent_start_ns=0 filename=/usr/sbin/nginx filename_unavailable=false argv=[\"nginx\",\"-g\",\"daemon off;\"] argv_truncated=false argv_unavailable=false ret=0} %s",
		webRes, t.UnixNano(), body)
}

// recordLines writes every log record of ls as one line.
func recordLines(ls []plog.Logs) []string {
	var out []string
	for _, ld := range ls {
		for _, rl := range ld.ResourceLogs().All() {
			res := strings.ReplaceAll(attrLine(rl.Resource().Attributes()), version.Version, "VERSION")
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					out = append(out, fmt.Sprintf("%s | %s @%d {%s} %s", res, lr.EventName(), lr.Timestamp(), attrLine(lr.Attributes()), lr.Body().AsString()))
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// cpuProfile is a 10 s window of two processes' stacks, one of them
// without symbols.
func cpuProfile(start time.Time) *profile.Profile {
	return &profile.Profile{
		Types:    []profile.ValueType{profile.Samples, profile.CPU},
		Period:   10_000_000,
		Start:    start,
		Duration: 10 * time.Second,
		Samples: []profile.Sample{
			{PID: 7, Comm: "busy", Stack: []profile.Frame{
				{Function: "spin", File: "busy.c", Line: 12, Module: "/usr/bin/busy", Address: 0x401000},
				{Function: "main", File: "busy.c", Line: 30, Module: "/usr/bin/busy", Address: 0x401100},
			}, Values: []int64{3, 30_000_000}},
			{PID: 8, Comm: "idle", Stack: []profile.Frame{
				{Module: "/lib/x86_64-linux-gnu/libc.so.6", Address: 0x7f0000001234, Offset: 0x1234},
			}, Values: []int64{1, 10_000_000}},
		},
	}
}

// perProfile is the profile samples cpuProfile sends (2 types × 2).
const perProfile = 4

// wantProfile is what cpuProfile(start) becomes.
func wantProfile(start time.Time) []string {
	var out []string
	for _, typ := range []string{"samples/count", "cpu/nanoseconds"} {
		v := map[string][2]int64{"samples/count": {3, 1}, "cpu/nanoseconds": {30_000_000, 10_000_000}}[typ]
		head := fmt.Sprintf("%s | %s @%d for 10000000000 period cpu/nanoseconds 10000000", hostRes, typ, start.UnixNano())
		out = append(out,
			fmt.Sprintf("%s {process.pid=7 process.executable.name=busy} [spin busy.c:12 /usr/bin/busy;main busy.c:30 /usr/bin/busy] %d", head, v[0]),
			fmt.Sprintf("%s {process.pid=8 process.executable.name=idle} [libc.so.6+0x1234 :0 /lib/x86_64-linux-gnu/libc.so.6] %d", head, v[1]),
		)
	}
	slices.Sort(out)
	return out
}

// sampleLines writes every profile sample of ps as one line, its stack
// resolved through the dictionary, leaf first.
func sampleLines(ps []pprofile.Profiles) []string {
	var out []string
	for _, pd := range ps {
		d := pd.Dictionary()
		str := func(i int32) string { return d.StringTable().At(int(i)) }
		vt := func(v pprofile.ValueType) string { return str(v.TypeStrindex()) + "/" + str(v.UnitStrindex()) }
		for _, rp := range pd.ResourceProfiles().All() {
			res := strings.ReplaceAll(attrLine(rp.Resource().Attributes()), version.Version, "VERSION")
			for _, sp := range rp.ScopeProfiles().All() {
				for _, p := range sp.Profiles().All() {
					head := fmt.Sprintf("%s | %s @%d for %d period %s %d", res, vt(p.SampleType()), p.Time(), p.DurationNano(), vt(p.PeriodType()), p.Period())
					for _, s := range p.Samples().All() {
						var attrs, frames []string
						for _, a := range s.AttributeIndices().All() {
							kv := d.AttributeTable().At(int(a))
							attrs = append(attrs, str(kv.KeyStrindex())+"="+kv.Value().AsString())
						}
						for _, li := range d.StackTable().At(int(s.StackIndex())).LocationIndices().All() {
							loc := d.LocationTable().At(int(li))
							line := loc.Lines().At(0)
							fn := d.FunctionTable().At(int(line.FunctionIndex()))
							frames = append(frames, fmt.Sprintf("%s %s:%d %s", str(fn.NameStrindex()), str(fn.FilenameStrindex()), line.Line(),
								str(d.MappingTable().At(int(loc.MappingIndex())).FilenameStrindex())))
						}
						out = append(out, fmt.Sprintf("%s {%s} [%s] %s", head, strings.Join(attrs, " "), strings.Join(frames, ";"), strings.Trim(fmt.Sprint(s.Values().AsRaw()), "[]")))
					}
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// newExporter makes and starts an exporter for endpoint over protocol,
// with short waits for tests.
func newExporter(t *testing.T, protocol, endpoint string, o Options) *Exporter {
	t.Helper()
	o.Config = &config.OTLP{Endpoint: endpoint, Protocol: protocol, Insecure: true, Headers: map[string]string{"x-scope-orgid": "kscope-test"}}
	o.Hostname = "test-host"
	if o.Flush == 0 {
		o.Flush = 20 * time.Millisecond
	}
	if o.MinBackoff == 0 {
		o.MinBackoff, o.MaxBackoff = 10*time.Millisecond, 200*time.Millisecond
	}
	x, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second) // the receiver may be down
		defer cancel()
		x.Stop(ctx)
	})
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

// eventually polls check until it returns nil or the deadline passes.
func eventually(t *testing.T, what string, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
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

// waitLines waits for lines() to equal want.
func waitLines(t *testing.T, what string, lines func() ([]string, error), want []string) {
	t.Helper()
	eventually(t, what, time.Minute, func() error {
		got, err := lines()
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("the collector holds\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		return nil
	})
}

func checkSelf(t *testing.T, x *Exporter, want map[string]float64) {
	t.Helper()
	if got := selfMetrics(x); !maps.Equal(got, want) {
		t.Errorf("self metrics %v, want %v", got, want)
	}
}
