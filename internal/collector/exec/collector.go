package exec

import (
	"context"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
)

// Name is the collector's registry name and the events' type.
const Name = "exec"

func init() { collector.Register(Name, New) }

// Collector traces execs.
type Collector struct {
	*collector.Tracer
	dec decoder
}

// New returns an exec collector; Start loads and attaches it.
func New(cfg collector.Config) (collector.Collector, error) {
	return &Collector{
		Tracer: collector.NewTracer(Name, cfg),
		// execveat may be missing on very old kernels; execve never is.
		dec: decoder{clock: collector.NewClock()},
	}, nil
}

// Name implements collector.Collector.
func (c *Collector) Name() string { return Name }

// Start loads the programs, attaches them and starts streaming to sink.
func (c *Collector) Start(ctx context.Context, sink event.Sink) error {
	spec, err := loadExec()
	if err != nil {
		return err
	}
	c.Optional = map[string]bool{execProgSysEnterExecveat: true, execProgSysExitExecveat: true}
	if err := c.Load(spec); err != nil {
		return err
	}
	if err := c.AttachAll(spec); err != nil {
		return err
	}
	return c.Run(ctx, sink, c.dec.decode)
}
