package open

import (
	"context"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
)

// Name is the collector's registry name and the events' type.
const Name = "open"

// Collector traces opens.
type Collector struct {
	*collector.Tracer
	dec decoder
}

// The hook variants Start chooses from, best first, by their name for
// bpfx.ChooseHook (and bpfx.ForceHook in tests).
const (
	variantExitOnly  = "exit_only"
	variantEntryExit = "entry_exit"
)

// New returns an open collector; Start loads and attaches it.
func New(cfg collector.Config) (collector.Collector, error) {
	return &Collector{
		Tracer: collector.NewTracer(Name, cfg),
		dec:    decoder{clock: collector.NewClock()},
	}, nil
}

// Name implements collector.Collector.
func (c *Collector) Name() string { return Name }

// Start loads the programs, attaches them and starts streaming to sink.
func (c *Collector) Start(ctx context.Context, sink event.Sink) error {
	spec, err := loadOpen()
	if err != nil {
		return err
	}
	// openat is everywhere; open is missing on arm64 and other new
	// architectures, openat2 before 5.6.
	c.Optional = map[string]bool{
		openProgSysEnterOpen: true, openProgSysExitOpen: true,
		openProgSysEnterOpenat2: true, openProgSysExitOpenat2: true,
		openProgExitOpenRegs: true, openProgExitOpenat2Regs: true,
	}
	// One hook per syscall where the kernel lets programs read the saved
	// user registers (bpf_task_pt_regs, 5.15+); entry and exit hooks with a
	// per-thread map otherwise.
	variant, err := bpfx.ChooseHook(c.Config().Logger, Name,
		bpfx.Hook{Kind: variantExitOnly, Why: bpfx.TaskPtRegs},
		bpfx.Hook{Kind: variantEntryExit, What: "entry and exit hooks, the arguments kept in a per-thread map"})
	if err != nil {
		return err
	}
	if variant == variantExitOnly {
		for _, p := range []string{openProgSysEnterOpen, openProgSysEnterOpenat, openProgSysEnterOpenat2,
			openProgSysExitOpen, openProgSysExitOpenat, openProgSysExitOpenat2} {
			delete(spec.Programs, p)
		}
		delete(spec.Maps, openMapPending)
	} else {
		for _, p := range []string{openProgExitOpenRegs, openProgExitOpenatRegs, openProgExitOpenat2Regs} {
			delete(spec.Programs, p)
		}
	}
	if err := c.Load(spec); err != nil {
		return err
	}
	if err := c.AttachAll(spec); err != nil {
		return err
	}
	return c.Run(ctx, sink, c.dec.decode)
}
