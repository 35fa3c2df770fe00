package metrics

import (
	"bytes"
	"math"
	"strconv"
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

// procRow is a process row of comm with CPU seconds v.
func procRow(pid int, comm string, v float64, live bool) Row {
	p := strconv.Itoa(pid)
	return Row{Key: p, Labels: []string{p, comm}, Values: []float64{v}, Group: []string{"", comm}, Live: live}
}

func labelsOf(rows []Row) []string {
	var out []string
	for _, r := range rows {
		out = append(out, strings.Join(r.Labels, "/")+"="+strconv.FormatFloat(r.Values[0], 'g', -1, 64))
	}
	return out
}

// A process gets its own series only once two Selects saw it alive; one
// that lived less goes to its command, and unique commands to other.
func TestTopKMinLive(t *testing.T) {
	now := time.Unix(1000, 0)
	tk := NewTopK(5)
	tk.MinLive = 2
	tk.now = func() time.Time { now = now.Add(time.Second); return now }

	// Select 1: a long-running process (1) and a short one (2), both live.
	kept, other := tk.Select([]Row{procRow(1, "server", 1, true), procRow(2, "true", 0.5, true)})
	if len(kept) != 0 || other[0] != 1.5 {
		t.Fatalf("select 1: kept %v other %v, want none and 1.5", labelsOf(kept), other)
	}
	// Select 2: 1 is still alive; 2 ended meanwhile (reported one last time).
	kept, other = tk.Select([]Row{procRow(1, "server", 3, true), procRow(2, "true", 0.7, false)})
	if got := labelsOf(kept); len(got) != 1 || got[0] != "1/server=3" || other[0] != 1.7 {
		t.Fatalf("select 2: kept %v other %v, want [1/server=3] and 1.7", got, other)
	}
}

// A storm of unique short-lived commands never gets a series of its own:
// not per pid, not per command. A command that runs again and again does,
// and every increase is counted exactly once.
func TestTopKStorm(t *testing.T) {
	now := time.Unix(1000, 0)
	tk := NewTopK(3)
	tk.MinLive = 2
	tk.now = func() time.Time { now = now.Add(time.Second); return now }
	pid := 100
	var total float64
	var emitted map[string]float64
	for sel := range 20 {
		var rows []Row
		// 50 unique commands, each seen live once (or not at all) and
		// ended at the next Select, as the collectors report them.
		for i := range 50 {
			pid++
			rows = append(rows, procRow(pid, "u"+strconv.Itoa(pid), 0.01, i%2 == 0))
			total += 0.01
		}
		// gcc runs a short process every Select.
		pid++
		rows = append(rows, procRow(pid, "gcc", 0.2, false))
		total += 0.2
		kept, other := tk.Select(rows)
		emitted = map[string]float64{"other": other[0]}
		for _, r := range kept {
			if r.Labels[0] != "" || r.Labels[1] != "gcc" {
				t.Fatalf("select %d: series %v", sel, labelsOf(kept))
			}
			emitted[strings.Join(r.Labels, "/")] = r.Values[0]
		}
		if sel >= 2 && len(kept) != 1 {
			t.Errorf("select %d: kept %v, want the gcc command", sel, labelsOf(kept))
		}
		if len(tk.keys) > 51 || len(tk.groups) > 51 {
			t.Fatalf("select %d: %d keys and %d groups remembered", sel, len(tk.keys), len(tk.groups))
		}
	}
	// gcc's series holds all its seconds (rate-wise: from when it was
	// kept); other holds every unique command's.
	if g := emitted["/gcc"]; math.Abs(g-20*0.2) > 1e-9 {
		t.Errorf("gcc %v, want 4", g)
	}
	if o := emitted["other"]; math.Abs(o-(20*50*0.01+2*0.2)) > 1e-9 {
		t.Errorf("other %v, want %v", o, 20*50*0.01+2*0.2)
	}
	_ = total
}

// A kept command with no process for a while keeps its series for
// GroupLinger, then is forgotten.
func TestTopKGroupLinger(t *testing.T) {
	now := time.Unix(1000, 0)
	tk := NewTopK(3)
	tk.MinLive = 2
	tk.GroupLinger = time.Minute
	tk.now = func() time.Time { return now }
	step := func(rows ...Row) []Row {
		now = now.Add(10 * time.Second)
		kept, _ := tk.Select(rows)
		return kept
	}
	for i := range 3 {
		step(procRow(10+i, "cron", 1, false))
	}
	if got := labelsOf(step()); len(got) != 1 || got[0] != "/cron=3" {
		t.Fatalf("idle kept command: %v, want [/cron=3]", got)
	}
	for range 6 {
		step()
	}
	if got := step(); len(got) != 0 || len(tk.groups) != 0 {
		t.Errorf("after the linger: kept %v, %d groups remembered", labelsOf(got), len(tk.groups))
	}
}

// A new process as busy as the kept ones is kept from its second
// collection: keys rank by recent rate, not by activity accumulated over
// their lives.
func TestTopKNewcomerByRate(t *testing.T) {
	now := time.Unix(1000, 0)
	tk := NewTopK(1)
	tk.MinLive = 2
	tk.now = func() time.Time { return now }
	var old, cpu float64
	for range 60 { // ten minutes at 30% of a CPU
		now = now.Add(10 * time.Second)
		old += 3
		if kept, _ := tk.Select([]Row{procRow(1, "old", old, true)}); len(kept) == 0 && old > 6 {
			t.Fatal("the only settled process is not kept")
		}
	}
	for i := range 2 { // a newcomer at a full CPU
		now = now.Add(10 * time.Second)
		old += 3
		cpu += 10
		kept, _ := tk.Select([]Row{procRow(1, "old", old, true), procRow(2, "new", cpu, true)})
		if got := labelsOf(kept); i == 1 && (len(got) < 1 || got[0] != "2/new=20") {
			t.Errorf("second collection of the newcomer: kept %v, want it first", got)
		}
	}
}
