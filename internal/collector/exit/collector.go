package exit

import (
	"context"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
)

// Name is the collector's registry name and the events' type.
const Name = "exit"

// Collector traces process exits.
type Collector struct {
	*collector.Tracer
	dec decoder
}

// New returns an exit collector; Start loads and attaches it.
func New(cfg collector.Config) (collector.Collector, error) {
	return &Collector{Tracer: collector.NewTracer(Name, cfg), dec: decoder{clock: collector.NewClock()}}, nil
}

// Name implements collector.Collector.
func (c *Collector) Name() string { return Name }

// Start loads the program, attaches it and starts streaming to sink.
func (c *Collector) Start(ctx context.Context, sink event.Sink) error {
	spec, err := loadExit()
	if err != nil {
		return err
	}
	if err := c.Load(spec); err != nil {
		return err
	}
	if err := c.AttachAll(spec); err != nil {
		return err
	}
	return c.Run(ctx, sink, c.dec.decode)
}
