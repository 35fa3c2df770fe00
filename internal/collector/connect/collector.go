package connect

import (
	"context"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
)

// Name is the collector's registry name and the events' type.
const Name = "connect"

// Collector traces connects.
type Collector struct {
	*collector.Tracer
	dec decoder
}

// New returns a connect collector; Start loads and attaches it.
func New(cfg collector.Config) (collector.Collector, error) {
	return &Collector{
		Tracer: collector.NewTracer(Name, cfg),
		dec:    decoder{clock: collector.NewClock()},
	}, nil
}

// Name implements collector.Collector.
func (c *Collector) Name() string { return Name }

// Start loads the programs, attaches them and starts streaming to sink.
// Every hook is required: sys_enter/exit_connect and
// sock/inet_sock_set_state exist since 4.16.
func (c *Collector) Start(ctx context.Context, sink event.Sink) error {
	spec, err := loadConnect()
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
