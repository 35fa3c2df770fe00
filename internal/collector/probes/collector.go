package probes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/probe"
	"github.com/kscope/kscope/internal/probe/ast"
	"github.com/kscope/kscope/internal/probe/check"
	"github.com/kscope/kscope/internal/probe/codegen"
	"github.com/kscope/kscope/internal/probe/run"
)

// Collector runs a Set of scripts.
type Collector struct {
	cfg     collector.Config
	logger  *slog.Logger
	scripts []*script

	mu      sync.Mutex // serializes Start, Collect and Close
	started bool

	// The scripts' ring readers emit under sinkMu, never under mu: Close
	// waits for them while holding mu.
	sinkMu sync.Mutex
	sink   event.Sink
	closed bool
	events atomic.Uint64
}

// script is one compiled script and, once started, its session.
type script struct {
	name string
	file string
	src  []byte
	obj  *codegen.Object
	sess *run.Session
	maps map[string]*family // by map name without '@'
}

// family is one map's metric family.
type family struct {
	desc   *metrics.Desc
	kind   check.Kind
	labels int
	bounds []float64 // hist, lhist: the buckets' upper bounds
	native bool      // hist(): also as exponential buckets (a native histogram)
	topk   *metrics.TopK
}

// New compiles every script of set. The error names the script's line
// for a compile error.
func New(cfg collector.Config, set *probe.Set) (*Collector, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if _, err := bpfx.Prepare(); err != nil {
		return nil, err
	}
	c := &Collector{cfg: cfg, logger: logger}
	for _, s := range set.Scripts {
		opts := codegen.Options{Format: run.Formats, Tracepoints: run.ListTracepoints, USDT: run.USDTSites(0),
			BTF: bpfx.KernelTypes, Hook: run.Hook, File: s.File, Source: s.Source, Task: true}
		run.Resolvers(&opts, 0)
		if v, ok := s.Info.Config["max_strlen"].(*ast.IntLit); ok {
			opts.MaxStrlen = int(v.Value)
		}
		if v, ok := s.Info.Config["max_map_keys"].(*ast.IntLit); ok {
			opts.MaxMapKeys = int(v.Value)
		}
		obj, err := codegen.Compile(s.Program, s.Info, opts)
		if err != nil {
			return nil, err
		}
		sc := &script{name: s.Name, file: s.File, src: s.Source, obj: obj, maps: map[string]*family{}}
		for _, m := range obj.Maps {
			if f := newFamily(s.Name, m, c.topK(), logger); f != nil {
				sc.maps[m.Name] = f
			}
		}
		c.scripts = append(c.scripts, sc)
	}
	return c, nil
}

// Families are one script's maps as metric families, as the agent
// exports them: what `kscope run --server` pushes.
type Families struct {
	maps map[string]*family // by map name without '@'
}

// NewFamilies describes the maps of script name's compiled obj, each
// family bounded to topK series (0: 100).
func NewFamilies(name string, obj *codegen.Object, topK int) *Families {
	if topK <= 0 {
		topK = 100
	}
	fs := &Families{maps: map[string]*family{}}
	for _, m := range obj.Maps {
		if f := newFamily(name, m, topK, slog.New(slog.DiscardHandler)); f != nil {
			fs.maps[m.Name] = f
		}
	}
	return fs
}

// Collect emits the families' samples from the maps' contents.
func (fs *Families) Collect(e *metrics.Emitter, data []*run.MapData) {
	for _, md := range data {
		if f := fs.maps[md.Name]; f != nil {
			f.collect(e, md)
		}
	}
}

// newFamily describes map m of script name as a metric family; nil for a
// map that is not exported (strings, stats).
func newFamily(name string, m *codegen.Map, topK int, logger *slog.Logger) *family {
	metric := "kscope_probe_" + name
	if m.Name != "" {
		metric += "_" + probe.MetricPart(m.Name)
	}
	var labels []string
	if m.Keyed {
		if len(m.Keys) == 1 {
			labels = []string{"key"}
		} else {
			for i := range m.Keys {
				labels = append(labels, "key"+strconv.Itoa(i))
			}
		}
	}
	f := &family{kind: m.Value, labels: len(labels), topk: metrics.NewTopK(topK)}
	help := fmt.Sprintf("The map @%s of the agent's script %s.bt", m.Name, name)
	switch {
	case m.ValueRender != nil:
		return nil
	case m.Value == check.Count || m.Value == check.Sum:
		f.desc = metrics.NewCounter(metric+"_total", help+" ("+m.Value.String()+").", labels...)
	case m.Value == check.Int || m.Value == check.Min || m.Value == check.Max || m.Value == check.Avg:
		f.desc = metrics.NewGauge(metric, help+" ("+m.Value.String()+").", labels...)
	case m.Value == check.Hist:
		f.bounds = histBounds(m.Bits)
		f.native = m.Bits == 0
		f.desc = metrics.NewHistogram(metric, help+" (hist(), in the unit of its values).", labels...)
	case m.Value == check.LHist:
		f.bounds = lhistBounds(m.Min, m.Max, m.Step)
		f.desc = metrics.NewHistogram(metric, help+" (lhist(), in the unit of its values).", labels...)
	default:
		logger.Info("probes: map not exported as a metric", "script", name, "map", "@"+m.Name, "value", m.Value.String())
		return nil
	}
	return f
}

func (c *Collector) topK() int {
	if c.cfg.TopK > 0 {
		return c.cfg.TopK
	}
	return 100
}

// histBounds are the upper bounds (le) of hist(v, bits)'s buckets, as
// bpftrace numbers them: bucket 0 holds the negative values, then [0, 1),
// [1, 2), [2, 4)… (bits 0); integers, so [lo, hi) is le hi-1.
func histBounds(bits int) []float64 {
	b := []float64{-1}
	if bits == 0 {
		b = append(b, 0)
		for i := 2; i <= 63; i++ {
			b = append(b, float64(int64(1)<<(i-1)-1))
		}
		return b
	}
	for i := 1; i <= 2<<bits; i++ {
		b = append(b, float64(i-1))
	}
	n := 1 << bits
	for i := 2<<bits + 1; ; i++ {
		power := (i >> bits) - 1
		if power >= 62 {
			return b
		}
		hi := (int64(1) << power) * int64(n+i&(n-1))
		b = append(b, float64(hi-1))
	}
}

// lhistBounds are lhist(v, min, max, step)'s: below min, then one bucket
// per step, then max and above (the +Inf bucket).
func lhistBounds(lo, hi, step int64) []float64 {
	b := []float64{float64(lo - 1)}
	for v := lo + step; v <= hi && step > 0; v += step {
		b = append(b, float64(v-1))
	}
	return b
}

// Name implements collector.Collector.
func (c *Collector) Name() string { return Name }

// Start loads and attaches every script; the first that fails stops the
// ones started before it.
func (c *Collector) Start(_ context.Context, sink event.Sink) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return errors.New("probes: started twice")
	}
	c.started = true
	c.sinkMu.Lock()
	c.sink = sink
	c.sinkMu.Unlock()
	for _, s := range c.scripts {
		s := s
		cfg := run.Config{Out: io.Discard, Err: io.Discard, Quiet: true, File: s.file, Source: s.src,
			Printf: func(probeName, text string, t run.Task) { c.emit(s.name, probeName, text, t) }}
		sess, err := run.Start(s.obj, cfg)
		if err != nil {
			c.closeLocked()
			return fmt.Errorf("starting the script %s: %w", s.file, err)
		}
		s.sess = sess
	}
	return nil
}

// emit sends one printf line as a probe event, from the task that printed
// it.
func (c *Collector) emit(scriptName, probeName, text string, t run.Task) {
	e := event.NewDynamic(probe.EventKind)
	e.Header.Time = time.Now()
	e.Header.PID, e.Header.TID, e.Header.UID, e.Header.Comm = t.PID, t.TID, t.UID, t.Comm
	e.Set("script", event.StringValue(scriptName))
	e.Set("probe", event.StringValue(probeName))
	e.Set("text", event.StringValue(text))
	c.sinkMu.Lock()
	defer c.sinkMu.Unlock()
	if c.sink == nil || c.closed {
		return
	}
	c.sink.Emit(e)
	c.events.Add(1)
}

// Stats implements collector.Collector: Lost counts the printf records the
// ring buffers had no room for and the map updates full maps refused.
func (c *Collector) Stats() collector.Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := collector.Stats{Events: c.events.Load()}
	for _, s := range c.scripts {
		if s.sess != nil {
			st.Lost += s.sess.Lost(0) + s.sess.Lost(1)
		}
	}
	return st
}

// Describe implements metrics.Source.
func (c *Collector) Describe() []*metrics.Desc {
	var d []*metrics.Desc
	for _, s := range c.scripts {
		for _, f := range s.maps {
			d = append(d, f.desc)
		}
	}
	sort.Slice(d, func(i, j int) bool { return d[i].Name < d[j].Name })
	return d
}

// Collect implements metrics.Source: every exported map, each bounded to
// the K keys with the largest recent increase (counters, histograms: the
// rest add up in a series whose labels are all "other") or the K largest
// values (gauges: the rest are left out).
func (c *Collector) Collect(e *metrics.Emitter) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, s := range c.scripts {
		if s.sess == nil {
			continue
		}
		data, err := s.sess.ReadMaps()
		if err != nil {
			errs = append(errs, fmt.Errorf("reading the maps of %s: %w", s.file, err))
		}
		for _, md := range data {
			if f := s.maps[md.Name]; f != nil {
				f.collect(e, md)
			}
		}
	}
	return errors.Join(errs...)
}

func (f *family) collect(e *metrics.Emitter, md *run.MapData) {
	rows := make([]metrics.Row, 0, len(md.Entries))
	for _, en := range md.Entries {
		labels := make([]string, f.labels)
		for i := range labels {
			if i < len(en.Keys) {
				labels[i] = keyString(en.Keys[i])
			}
		}
		r := metrics.Row{Key: strings.Join(labels, "\x00"), Labels: labels}
		switch f.kind {
		case check.Hist, check.LHist:
			r.Values = make([]float64, len(f.bounds)+3) // count, the buckets, then the sum
			for b, n := range en.Buckets {
				i := min(max(b, 0), len(f.bounds))
				r.Values[1+i] += float64(n)
				r.Values[0] += float64(n)
			}
			r.Values[len(r.Values)-1] = float64(en.Total)
		case check.Avg:
			v := 0.0
			if en.Count > 0 {
				v = float64(en.Total / en.Count)
			}
			r.Values = []float64{v}
		default:
			r.Values = []float64{float64(en.Int)}
		}
		rows = append(rows, r)
	}
	other := make([]string, f.labels)
	for i := range other {
		other[i] = "other"
	}
	switch f.desc.Type {
	case metrics.Gauge:
		sort.SliceStable(rows, func(i, j int) bool { return math.Abs(rows[i].Values[0]) > math.Abs(rows[j].Values[0]) })
		if k := f.topk.K; len(rows) > k {
			rows = rows[:k]
		}
		for _, r := range rows {
			e.Gauge(f.desc, r.Values[0], r.Labels...)
		}
	case metrics.Counter:
		kept, rest := f.topk.Select(rows)
		for _, r := range kept {
			e.Counter(f.desc, r.Values[0], r.Labels...)
		}
		if rest != nil {
			e.Counter(f.desc, rest[0], other...)
		}
	case metrics.Histogram:
		kept, rest := f.topk.Select(rows)
		for _, r := range kept {
			e.Histogram(f.desc, f.hist(r.Values), r.Labels...)
		}
		if rest != nil {
			e.Histogram(f.desc, f.hist(rest), other...)
		}
	}
}

// hist makes a row's values (count, the buckets, then the sum) a
// histogram.
func (f *family) hist(v []float64) metrics.HistogramValue {
	h := metrics.HistogramValue{Bounds: f.bounds, Counts: make([]uint64, len(f.bounds)+1), Sum: v[len(v)-1]}
	for i := range h.Counts {
		h.Counts[i] = uint64(v[1+i])
	}
	if f.native {
		h.Native = log2Native(h.Counts)
	}
	return h
}

// log2Native makes the counts of hist()'s buckets, as bpftrace numbers
// them, a native histogram of schema 0, whose bucket i is (2^(i-1), 2^i]:
// bpftrace's bucket k >= 2, [2^(k-2), 2^(k-1)), has the same bounds and
// becomes bucket k-1; bucket 1, the value 0, is the zero bucket; bucket
// 0, the negative values, becomes negative bucket 0, [-1, -0.5), the one
// that holds -1.
func log2Native(counts []uint64) *metrics.NativeHistogram {
	n := &metrics.NativeHistogram{Schema: 0, PositiveOffset: 1}
	if len(counts) > 0 && counts[0] > 0 {
		n.Negative = []uint64{counts[0]}
	}
	if len(counts) > 1 {
		n.ZeroCount = counts[1]
	}
	if len(counts) > 2 {
		n.Positive = counts[2:]
	}
	return n
}

func keyString(k any) string {
	switch v := k.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	default:
		return fmt.Sprint(v)
	}
}

// Programs returns the running scripts' programs by their names in the
// agent's bpf_stats: SCRIPT:FIRST_PROBE.
func (c *Collector) Programs() map[string]*ebpf.Program {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]*ebpf.Program{}
	for _, s := range c.scripts {
		if s.sess == nil {
			continue
		}
		for _, p := range s.sess.Probes() {
			out[s.name+":"+p.Names[0]] = p.Program
		}
	}
	return out
}

// Scripts describes the running scripts: their probes and losses.
func (c *Collector) Scripts() []probe.ScriptStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []probe.ScriptStatus
	for _, s := range c.scripts {
		if s.sess == nil {
			continue
		}
		st := probe.ScriptStatus{Name: s.name, File: s.file, LostRecords: s.sess.Lost(0), LostMapUpdates: s.sess.Lost(1)}
		for _, p := range s.sess.Probes() {
			st.Probes = append(st.Probes, probe.ProbeStatus{Names: p.Names, Program: s.name + ":" + p.Names[0]})
		}
		out = append(out, st)
	}
	return out
}

// Close detaches and unloads every script. Idempotent.
func (c *Collector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked()
	return nil
}

func (c *Collector) closeLocked() {
	c.sinkMu.Lock()
	c.closed = true
	c.sinkMu.Unlock()
	for _, s := range c.scripts {
		if s.sess != nil {
			s.sess.Close()
			s.sess = nil
		}
	}
}
