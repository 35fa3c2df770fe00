package signals

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

// Name is the collector's registry name; EventType its events' type.
const (
	Name      = "signals"
	EventType = "signal"
)

// DefaultMaxEventsPerSec bounds the events sent, over all CPUs; the others
// count as lost. The counters count every signal.
const DefaultMaxEventsPerSec = 1000

const (
	nsig      = 64  // generated: signals 1-64, index 0 for anything else
	fatalSigs = 128 // fatal: the wait status's 7-bit signal
)

var (
	generatedDesc = metrics.NewCounter("kscope_signals_total",
		"Signals generated and queued to their target (signal_generate, delivered), by signal.", "signal")
	fatalDesc = metrics.NewCounter("kscope_fatal_signals_total",
		"Processes killed by a signal (their last thread exited with it), by signal.", "signal")
)

// ErrNotStarted is returned by Collect before Start or after Close.
var ErrNotStarted = errors.New("signal collector not running")

// Collector counts signals and reports the fatal ones as events.
type Collector struct {
	*collector.Tracer
	dec          *decoder
	maxPerSecond uint32

	mu                  sync.Mutex
	life                collector.Lifecycle
	generated, fatal    *ebpf.Map
	genSums, fatalSums  *bpfx.PerCPUSums
	genVals, fatalVals  []uint64
	genLabels, fatalLbl [][]string
}

// New returns a signal collector; Start loads and attaches it.
func New(cfg collector.Config) (collector.Collector, error) {
	c := &Collector{
		Tracer:       collector.NewTracer(Name, cfg),
		dec:          newDecoder(),
		maxPerSecond: DefaultMaxEventsPerSec,
		genVals:      make([]uint64, nsig+1),
		fatalVals:    make([]uint64, fatalSigs),
	}
	c.genLabels = make([][]string, nsig+1)
	c.genLabels[0] = []string{"other"}
	for i := 1; i <= nsig; i++ {
		c.genLabels[i] = []string{event.SignalName(int32(i))}
	}
	c.fatalLbl = make([][]string, fatalSigs)
	for i := range c.fatalLbl {
		c.fatalLbl[i] = []string{event.SignalName(int32(i))}
	}
	return c, nil
}

// Name implements collector.Collector.
func (c *Collector) Name() string { return Name }

// Start loads the programs, attaches them and starts streaming fatal
// signals to sink. Both hooks exist on every kernel kscope supports:
// signal_generate (raw, for the target task) and sched_process_exit.
func (c *Collector) Start(ctx context.Context, sink event.Sink) error {
	if err := c.life.Start(Name); err != nil {
		return err
	}
	spec, err := loadSignals()
	if err != nil {
		return err
	}
	if err := spec.Variables["max_events_per_sec"].Set(c.maxPerSecond); err != nil {
		return fmt.Errorf("setting the event rate: %w", err)
	}
	if err := c.Load(spec); err != nil {
		return err
	}
	c.mu.Lock()
	coll := c.Collection()
	c.generated, c.fatal = coll.Maps["generated"], coll.Maps["fatal"]
	if c.genSums, err = bpfx.NewPerCPUSums(nsig + 1); err == nil {
		c.fatalSums, err = bpfx.NewPerCPUSums(fatalSigs)
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if err := c.AttachAll(spec); err != nil {
		return err
	}
	if !bpfx.KernelHasMember("trace_event_raw_sched_process_exit", "group_dead") {
		c.Config().Logger.Info("fallback", "what", "process ends found from signal->live, deduplicated in a map",
			"why", "sched_process_exit has no group_dead on this kernel")
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
func (c *Collector) Describe() []*metrics.Desc {
	return []*metrics.Desc{generatedDesc, fatalDesc}
}

// Collect implements metrics.Source. Only signals seen at least once have
// a series.
func (c *Collector) Collect(e *metrics.Emitter) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.life.Closed() || c.generated == nil || c.fatalSums == nil {
		return ErrNotStarted
	}
	if err := c.genSums.Read(c.generated, c.genVals); err != nil {
		return fmt.Errorf("reading generated signals: %w", err)
	}
	if err := c.fatalSums.Read(c.fatal, c.fatalVals); err != nil {
		return fmt.Errorf("reading fatal signals: %w", err)
	}
	for i, v := range c.genVals {
		if v != 0 {
			e.Counter(generatedDesc, float64(v), c.genLabels[i]...)
		}
	}
	for i, v := range c.fatalVals {
		if v != 0 {
			e.Counter(fatalDesc, float64(v), c.fatalLbl[i]...)
		}
	}
	return nil
}
