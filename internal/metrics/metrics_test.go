package metrics

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestLog2(t *testing.T) {
	slots := make([]uint64, 64)
	slots[0] = 1  // 0 or 1 ns
	slots[9] = 2  // 512..1023 ns: first bucket
	slots[10] = 3 // 1024..2047 ns: le 2.048µs
	slots[33] = 4 // le 17.18s
	slots[40] = 5 // above hi: +Inf
	h := Log2(slots, 123456, 1e-9, LatencyLo, LatencyHi)
	if len(h.Bounds) != LatencyHi-LatencyLo+1 || len(h.Counts) != len(h.Bounds)+1 {
		t.Fatalf("got %d bounds, %d counts", len(h.Bounds), len(h.Counts))
	}
	if h.Bounds[0] != 1024e-9 || h.Bounds[1] != 2048e-9 {
		t.Errorf("bounds start %v %v, want 1.024e-06 2.048e-06", h.Bounds[0], h.Bounds[1])
	}
	want := map[int]uint64{0: 3, 1: 3, len(h.Bounds) - 1: 4, len(h.Bounds): 5}
	for i, c := range h.Counts {
		if c != want[i] {
			t.Errorf("bucket %d: %d, want %d", i, c, want[i])
		}
	}
	if h.Count() != 15 || math.Abs(h.Sum-123456e-9) > 1e-15 {
		t.Errorf("count %d sum %v", h.Count(), h.Sum)
	}
}

func TestTopK(t *testing.T) {
	now := time.Unix(1000, 0)
	tk := NewTopK(2)
	tk.now = func() time.Time { return now }
	rows := func(vals ...float64) []Row {
		var rs []Row
		for i, v := range vals {
			k := string(rune('a' + i))
			rs = append(rs, Row{Key: k, Labels: []string{k}, Values: []float64{v, 2 * v}})
		}
		return rs
	}
	kept, other := tk.Select(rows(10, 5, 1, 1))
	if len(kept) != 2 || kept[0].Key != "a" || kept[1].Key != "b" {
		t.Fatalf("kept %+v", kept)
	}
	if other[0] != 2 || other[1] != 4 {
		t.Fatalf("other %v, want [2 4]", other)
	}
	// d becomes the busiest; a is idle. other only grows.
	now = now.Add(10 * time.Second)
	kept, other = tk.Select(rows(10, 6, 1, 100))
	if len(kept) != 2 || kept[0].Key != "d" || kept[1].Key != "a" {
		t.Fatalf("kept %+v", kept)
	}
	// b's increase (1) and c's (0) go to other.
	if other[0] != 3 {
		t.Fatalf("other %v, want 3", other)
	}
	// A key that went away is forgotten; one that comes back lower was reset.
	now = now.Add(10 * time.Minute)
	kept, other = tk.Select(rows(0, 7))
	if len(tk.keys) != 2 {
		t.Errorf("%d keys remembered, want 2", len(tk.keys))
	}
	if len(kept) != 2 || other[0] != 3 {
		t.Errorf("kept %v other %v", kept, other)
	}
}

func TestWriteTextParses(t *testing.T) {
	c := NewCounter("kscope_test_total", "A counter\nwith \\ two lines.", "comm", "pid")
	g := NewGauge("kscope_test_gauge", "A gauge.")
	h := NewHistogram("kscope_test_seconds", "A histogram.", "op")
	idle := NewGauge("kscope_test_idle", "Described, never emitted.")
	var e Emitter
	e.Counter(c, 3, "we\"ird\\\nname", "42")
	e.Counter(c, 1, "bash", "7")
	e.Gauge(g, math.Inf(1))
	slots := make([]uint64, 64)
	slots[12], slots[20] = 2, 1
	e.Histogram(h, Log2(slots, 5000, 1e-9, LatencyLo, LatencyHi), "read")
	var buf bytes.Buffer
	if err := WriteText(&buf, []*Desc{h, c, g, idle}, e.Samples); err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatalf("exposition does not parse: %v\n%s", err, buf.String())
	}
	if got := fams["kscope_test_total"].GetMetric(); len(got) != 2 || got[1].GetLabel()[0].GetValue() != "we\"ird\\\nname" {
		t.Errorf("counter: %v", got)
	}
	if fams["kscope_test_total"].GetHelp() != "A counter\nwith \\ two lines." {
		t.Errorf("help %q", fams["kscope_test_total"].GetHelp())
	}
	hist := fams["kscope_test_seconds"].GetMetric()[0].GetHistogram()
	if hist.GetSampleCount() != 3 || hist.GetSampleSum() != 5e-6 || len(hist.GetBucket()) != LatencyHi-LatencyLo+2 {
		t.Errorf("histogram: count %d sum %v buckets %d", hist.GetSampleCount(), hist.GetSampleSum(), len(hist.GetBucket()))
	}
	if !strings.Contains(buf.String(), "# TYPE kscope_test_idle gauge\n") {
		t.Error("a described family without samples has no HELP/TYPE")
	}
	if v := fams["kscope_test_gauge"].GetMetric()[0].GetGauge().GetValue(); !math.IsInf(v, 1) {
		t.Errorf("gauge %v", v)
	}
}

func TestEmitterChecks(t *testing.T) {
	c := NewCounter("kscope_x_total", "x", "a")
	for name, f := range map[string]func(){
		"wrong label count": func() { new(Emitter).Counter(c, 1) },
		"wrong type":        func() { new(Emitter).Gauge(c, 1, "v") },
		"counter name":      func() { NewCounter("kscope_x", "x") },
		"bad label":         func() { NewGauge("kscope_y", "y", "le") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestLabelString(t *testing.T) {
	for in, want := range map[string]string{
		"bash\x00\x00junk": "bash",
		"full-fifteen-ch":  "full-fifteen-ch",
		"bad\xffutf8\x00":  "bad\uFFFDutf8",
	} {
		if got := LabelString([]byte(in)); got != want {
			t.Errorf("LabelString(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzWriteText(f *testing.F) {
	f.Add("bash", 1.5)
	f.Add("a\"b\\c\nd\xff", math.NaN())
	d := NewGauge("kscope_fuzz", "fuzz", "v")
	f.Fuzz(func(t *testing.T, label string, v float64) {
		var e Emitter
		e.Gauge(d, v, LabelString([]byte(label)))
		var buf bytes.Buffer
		if err := WriteText(&buf, []*Desc{d}, e.Samples); err != nil {
			t.Fatal(err)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(&buf)
		if err != nil {
			t.Fatalf("%q: %v", buf.String(), err)
		}
		m := fams["kscope_fuzz"].GetMetric()[0]
		if got := m.GetLabel()[0].GetValue(); got != LabelString([]byte(label)) {
			t.Fatalf("label %q came back %q", label, got)
		}
		if got := m.GetGauge().GetValue(); got != v && !(math.IsNaN(v) && math.IsNaN(got)) {
			t.Fatalf("value %v came back %v", v, got)
		}
	})
}
