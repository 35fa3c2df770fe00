package drops

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
	"github.com/kscope/kscope/internal/symbolize"
)

// Name is the collector's registry name.
const Name = "drops"

// maxReasons is the size of the kernel's per-reason counters (MAX_REASONS
// in drops.bpf.c); the series are bounded by it.
const maxReasons = 256

var dropsDesc = metrics.NewCounter("kscope_packet_drops_total",
	"Packets the kernel dropped (skb:kfree_skb), by the kernel's drop reason.", "reason")

// ErrNotStarted is returned by Collect before Start or after Close.
var ErrNotStarted = errors.New("drops collector not running")

// Collector reports dropped packets as events and counts them per reason.
type Collector struct {
	*collector.Tracer
	dec *decoder

	mu     sync.Mutex
	life   collector.Lifecycle
	counts *ebpf.Map
	sums   *bpfx.PerCPUSums
	buf    []uint64
}

// New returns a drops collector; Start loads and attaches it.
func New(cfg collector.Config) (collector.Collector, error) {
	return &Collector{Tracer: collector.NewTracer(Name, cfg)}, nil
}

// Name implements collector.Collector.
func (c *Collector) Name() string { return Name }

// Start reads the kernel's drop reasons, loads the program, attaches it to
// skb:kfree_skb (raw, for the skb and the reason as arguments) and starts
// streaming to sink.
func (c *Collector) Start(ctx context.Context, sink event.Sink) error {
	if err := c.life.Start(Name); err != nil {
		return err
	}
	reasons, err := KernelReasons()
	if err != nil {
		return err
	}
	sums, err := bpfx.NewPerCPUSums(maxReasons)
	if err != nil {
		return fmt.Errorf("sizing the per-CPU counters: %w", err)
	}
	sym := symbolize.New()
	c.dec = newDecoder(reasons, func(addr uint64) string {
		f := sym.Kernel([]uint64{addr})[0]
		return f.Function
	})
	spec, err := loadDrops()
	if err != nil {
		return err
	}
	if err := c.Load(spec); err != nil {
		return err
	}
	c.mu.Lock()
	c.counts = c.Collection().Maps["reasons"]
	c.sums, c.buf = sums, make([]uint64, maxReasons)
	c.mu.Unlock()
	if err := c.AttachAll(spec); err != nil {
		return err
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
func (c *Collector) Describe() []*metrics.Desc { return []*metrics.Desc{dropsDesc} }

// Collect implements metrics.Source: one series per reason seen since
// Start, at most one per value of the kernel's enum (plus REASON_255 for
// the subsystem reasons above it).
func (c *Collector) Collect(e *metrics.Emitter) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.life.Closed() || c.counts == nil {
		return ErrNotStarted
	}
	if err := c.sums.Read(c.counts, c.buf); err != nil {
		return fmt.Errorf("reading the drop counters: %w", err)
	}
	for r, n := range c.buf {
		if n > 0 {
			e.Counter(dropsDesc, float64(n), c.dec.reasons.Name(uint32(r)))
		}
	}
	return nil
}
