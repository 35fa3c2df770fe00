package netfilter

import (
	"context"
	"fmt"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
)

// Name is the collector's registry name.
const Name = "netfilter"

var (
	packetsDesc = metrics.NewCounter("kscope_net_filter_packets_total",
		"Packets a pinned kscope net filter's rule matched, by what happened to them: action pass, drop, or would_drop (audit mode). rule=\"default\" is the packets no rule matched.",
		"filter", "rule", "action")
	bytesDesc = metrics.NewCounter("kscope_net_filter_bytes_total",
		"Bytes of the packets a pinned kscope net filter's rule matched, by what happened to them, as kscope_net_filter_packets_total.",
		"filter", "rule", "action")
	rulesDesc = metrics.NewGauge("kscope_net_filter_rules",
		"Rules of each pinned kscope net filter, with where it is attached.",
		"filter", "interface", "hook", "attach", "mode", "default")
)

// Collector exports the counters of every filter pinned under a root:
// filters live in the kernel on their own, so it loads nothing and reads
// the pinned maps at each collection.
type Collector struct {
	root string
	life collector.Lifecycle
}

// New returns a collector of the filters pinned under DefaultRoot.
func New(collector.Config) (collector.Collector, error) { return &Collector{root: DefaultRoot}, nil }

// NewAt returns a collector of the filters pinned under root.
func NewAt(root string) *Collector { return &Collector{root: root} }

// Name implements collector.Collector.
func (c *Collector) Name() string { return Name }

// Start implements collector.Collector: there is nothing to load.
func (c *Collector) Start(context.Context, event.Sink) error {
	return c.life.Start(Name)
}

// Stats implements collector.Collector: the collector has no events.
func (c *Collector) Stats() collector.Stats { return collector.Stats{} }

// Close implements collector.Collector.
func (c *Collector) Close() error { return c.life.Close(func() error { return nil }) }

// Describe implements metrics.Source.
func (c *Collector) Describe() []*metrics.Desc {
	return []*metrics.Desc{packetsDesc, bytesDesc, rulesDesc}
}

// Collect implements metrics.Source: per filter and rule, the packets and
// bytes passed and dropped (series that are still zero are left out, so a
// filter of many rules costs only the rules that match).
func (c *Collector) Collect(e *metrics.Emitter) error {
	sts, err := List(c.root)
	if err != nil {
		return fmt.Errorf("reading the pinned filters: %w", err)
	}
	for _, st := range sts {
		e.Gauge(rulesDesc, float64(len(st.Rules)-1), st.Name, st.Interface, st.Hook, st.Attach, st.Mode, st.Default)
		dropped := "drop"
		if st.Mode == "audit" {
			dropped = "would_drop"
		}
		for _, r := range st.Rules {
			if n := r.Packets - r.Dropped; n > 0 {
				e.Counter(packetsDesc, float64(n), st.Name, r.Name, "pass")
				e.Counter(bytesDesc, float64(r.Bytes-r.DroppedBytes), st.Name, r.Name, "pass")
			}
			if r.Dropped > 0 {
				e.Counter(packetsDesc, float64(r.Dropped), st.Name, r.Name, dropped)
				e.Counter(bytesDesc, float64(r.DroppedBytes), st.Name, r.Name, dropped)
			}
		}
	}
	return nil
}
