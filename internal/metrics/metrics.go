package metrics

import (
	"fmt"
	"strings"
)

// Type is a metric family's type.
type Type uint8

// Family types, as in the Prometheus exposition format.
const (
	Counter Type = iota + 1
	Gauge
	Histogram
)

func (t Type) String() string {
	switch t {
	case Counter:
		return "counter"
	case Gauge:
		return "gauge"
	case Histogram:
		return "histogram"
	}
	return "untyped"
}

// Desc describes a metric family: its full name (counters end in _total),
// help text, type and label names.
type Desc struct {
	Name   string
	Help   string
	Type   Type
	Labels []string
}

// NewCounter describes a counter family; name must end in _total.
func NewCounter(name, help string, labels ...string) *Desc {
	if !strings.HasSuffix(name, "_total") {
		panic("metrics: counter " + name + " does not end in _total")
	}
	return newDesc(name, help, Counter, labels)
}

// NewGauge describes a gauge family.
func NewGauge(name, help string, labels ...string) *Desc {
	return newDesc(name, help, Gauge, labels)
}

// NewHistogram describes a histogram family; the exposition adds the
// _bucket, _sum and _count series.
func NewHistogram(name, help string, labels ...string) *Desc {
	return newDesc(name, help, Histogram, labels)
}

func newDesc(name, help string, t Type, labels []string) *Desc {
	if !validName(name) {
		panic("metrics: invalid metric name " + name)
	}
	for _, l := range labels {
		if !validName(l) || strings.HasPrefix(l, "__") || l == "le" {
			panic("metrics: invalid label name " + l + " on " + name)
		}
	}
	return &Desc{Name: name, Help: help, Type: t, Labels: labels}
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// HistogramValue is one histogram sample.
type HistogramValue struct {
	// Bounds are the buckets' upper bounds (le), ascending; +Inf is implied.
	Bounds []float64
	// Counts has one count per bucket, not cumulative, and one more for the
	// observations above the highest bound: len(Bounds)+1.
	Counts []uint64
	Sum    float64
	// Native, when set, holds the same observations in exponential
	// buckets: the metrics store keeps the series as one Prometheus native
	// histogram instead of _bucket, _sum and _count series (the text
	// exposition and the exporters still use Bounds and Counts).
	Native *NativeHistogram
}

// Count is the number of observations.
func (h *HistogramValue) Count() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Sample is one series' value at collection time.
type Sample struct {
	Desc   *Desc
	Values []string // label values, in Desc.Labels order
	Value  float64  // counters and gauges
	Hist   *HistogramValue
}

// Source is implemented by collectors that aggregate into metrics.
type Source interface {
	// Describe returns every family the source may emit.
	Describe() []*Desc
	// Collect emits the current value of every series. It is called from
	// one goroutine at a time.
	Collect(e *Emitter) error
}

// Emitter gathers the samples of one collection.
type Emitter struct {
	Samples []Sample
}

// Counter emits a counter sample.
func (e *Emitter) Counter(d *Desc, v float64, values ...string) {
	e.add(d, Counter, Sample{Desc: d, Values: values, Value: v})
}

// Gauge emits a gauge sample.
func (e *Emitter) Gauge(d *Desc, v float64, values ...string) {
	e.add(d, Gauge, Sample{Desc: d, Values: values, Value: v})
}

// Histogram emits a histogram sample.
func (e *Emitter) Histogram(d *Desc, h HistogramValue, values ...string) {
	if len(h.Counts) != len(h.Bounds)+1 {
		panic(fmt.Sprintf("metrics: %s: %d counts for %d bounds", d.Name, len(h.Counts), len(h.Bounds)))
	}
	e.add(d, Histogram, Sample{Desc: d, Values: values, Hist: &h})
}

func (e *Emitter) add(d *Desc, t Type, s Sample) {
	if d.Type != t {
		panic("metrics: " + d.Name + " is a " + d.Type.String() + ", emitted as a " + t.String())
	}
	if len(s.Values) != len(d.Labels) {
		panic(fmt.Sprintf("metrics: %s: %d label values for labels %v", d.Name, len(s.Values), d.Labels))
	}
	e.Samples = append(e.Samples, s)
}

// Reset empties the emitter, keeping its storage.
func (e *Emitter) Reset() { e.Samples = e.Samples[:0] }
