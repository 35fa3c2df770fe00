package connect

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/collector/dispatch"
	"github.com/kscope/kscope/internal/event"
)

// Name is the collector's registry name and the events' type.
const Name = "connect"

// variantTracepoints, the fallback to the dispatcher, names the syscall
// tracepoints for bpfx.ChooseHook (and bpfx.ForceHook in tests).
const variantTracepoints = "tracepoints"

// dispatchSlots are the programs that take the syscall dispatcher's slots
// (the syscall numbers of the architecture kscope is built for) in the
// dispatch variant.
var dispatchSlots = []dispatch.Slot{
	{Hook: dispatch.Enter, Nr: unix.SYS_CONNECT, Prog: connectProgRawEnterConnect},
	{Hook: dispatch.Exit, Nr: unix.SYS_CONNECT, Prog: connectProgRawExitConnect},
}

// Collector traces connects.
type Collector struct {
	*collector.Tracer
	dec     decoder
	variant string
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
// Every hook is required: sys_enter/exit_connect (or the dispatcher's
// slots) and sock/inet_sock_set_state exist since 4.16.
func (c *Collector) Start(ctx context.Context, sink event.Sink) error {
	spec, err := loadConnect()
	if err != nil {
		return err
	}
	// The syscall dispatcher's slots where the kernel can run it: two
	// syscall tracepoints otherwise, which every syscall then pays for.
	variant, err := bpfx.ChooseHook(c.Config().Logger, Name,
		bpfx.Hook{Kind: dispatch.Kind, Why: dispatch.Why},
		bpfx.Hook{Kind: variantTracepoints, What: "one tracepoint per syscall, not the shared dispatcher's slots"})
	if err != nil {
		return err
	}
	c.variant = variant
	if variant == dispatch.Kind {
		delete(spec.Programs, connectProgSysEnterConnect)
		delete(spec.Programs, connectProgSysExitConnect)
	} else {
		for _, sl := range dispatchSlots {
			delete(spec.Programs, sl.Prog)
		}
	}
	if err := c.Load(spec); err != nil {
		return err
	}
	if variant != dispatch.Kind {
		if err := c.AttachAll(spec); err != nil {
			return err
		}
		return c.Run(ctx, sink, c.dec.decode)
	}
	if err := c.AttachAll(dispatch.Without(spec, dispatchSlots)); err != nil {
		return err
	}
	set, err := dispatch.Fill(Name, c.Collection(), dispatchSlots)
	if err != nil {
		return err
	}
	c.AddCloser(set)
	return c.Run(ctx, sink, c.dec.decode)
}
