package oom

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
)

// Name is the collector's registry name and the events' type.
const Name = "oom"

var killsDesc = metrics.NewCounter("kscope_oom_kills_total",
	"Processes killed by the out-of-memory killer, system-wide or for a memory cgroup's limit.")

// ErrNotStarted is returned by Collect before Start or after Close.
var ErrNotStarted = errors.New("oom collector not running")

// Collector counts OOM kills and reports each as an event.
type Collector struct {
	*collector.Tracer
	dec decoder

	mu     sync.Mutex
	life   collector.Lifecycle
	counts *ebpf.Map
	perCPU []uint64
}

// New returns an oom collector; Start loads and attaches it.
func New(cfg collector.Config) (collector.Collector, error) {
	return &Collector{
		Tracer: collector.NewTracer(Name, cfg),
		dec:    decoder{clock: collector.NewClock()},
	}, nil
}

// Name implements collector.Collector.
func (c *Collector) Name() string { return Name }

// Start loads the programs, attaches them and starts streaming to sink.
// Both hooks exist on every kernel kscope supports: signal_generate (raw,
// for the victim's task) and oom:mark_victim.
func (c *Collector) Start(ctx context.Context, sink event.Sink) error {
	if err := c.life.Start(Name); err != nil {
		return err
	}
	spec, err := loadOom()
	if err != nil {
		return err
	}
	if err := c.Load(spec); err != nil {
		return err
	}
	c.mu.Lock()
	c.counts = c.Collection().Maps["counts"]
	c.mu.Unlock()
	if err := c.AttachAll(spec); err != nil {
		return err
	}
	if !bpfx.KernelHasMember("trace_event_raw_mark_victim", "total_vm") {
		c.Config().Logger.Info("fallback", "what", "OOM events without the victim's memory sizes (0)",
			"why", "oom:mark_victim has only the victim's pid on this kernel (before Linux 6.9)")
	}
	return c.Run(ctx, sink, c.dec.decode)
}

// Close detaches, delivers what is left and frees everything; it is
// idempotent.
func (c *Collector) Close() error {
	return c.life.Close(func() error {
		c.mu.Lock() // a Collect under way ends first
		defer c.mu.Unlock()
		return c.Tracer.Close()
	})
}

// Describe implements metrics.Source.
func (c *Collector) Describe() []*metrics.Desc { return []*metrics.Desc{killsDesc} }

// Collect implements metrics.Source.
func (c *Collector) Collect(e *metrics.Emitter) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.life.Closed() || c.counts == nil {
		return ErrNotStarted
	}
	if err := c.counts.Lookup(uint32(0), &c.perCPU); err != nil {
		return fmt.Errorf("reading counts: %w", err)
	}
	var n uint64
	for _, v := range c.perCPU {
		n += v
	}
	e.Counter(killsDesc, float64(n))
	return nil
}
