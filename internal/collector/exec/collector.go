package exec

import (
	"context"
	"fmt"
	"runtime"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/collector/dispatch"
	"github.com/kscope/kscope/internal/event"
)

// Name is the collector's registry name and the events' type.
const Name = "exec"

// variantTracepoints, the fallback to the dispatcher, names the syscall
// tracepoints for bpfx.ChooseHook (and bpfx.ForceHook in tests).
const variantTracepoints = "tracepoints"

// dispatchSlots are the programs that take the syscall dispatcher's slots
// (the syscall numbers of the architecture kscope is built for) in the
// dispatch variant.
var dispatchSlots = []dispatch.Slot{
	{Hook: dispatch.Enter, Nr: unix.SYS_EXECVE, Prog: execProgRawEnterExecve},
	{Hook: dispatch.Enter, Nr: unix.SYS_EXECVEAT, Prog: execProgRawEnterExecveat},
	{Hook: dispatch.Exit, Nr: unix.SYS_EXECVE, Prog: execProgRawExitExec},
	{Hook: dispatch.Exit, Nr: unix.SYS_EXECVEAT, Prog: execProgRawExitExec},
}

// Collector traces execs.
type Collector struct {
	*collector.Tracer
	dec     decoder
	variant string
}

// New returns an exec collector; Start loads and attaches it.
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
	// Arguments are copied in a bpf_loop callback (Linux 5.17+): the verifiers
	// of older kernels reject a 64-argument loop as too complex.
	if err := features.HaveProgramHelper(ebpf.TracePoint, asm.FnLoop); err != nil {
		return fmt.Errorf("exec tracing needs the bpf_loop helper (Linux 5.17+): %w", err)
	}
	spec, err := loadExec()
	if err != nil {
		return err
	}
	// execveat may be missing on very old kernels; execve never is.
	c.Optional = map[string]bool{execProgSysEnterExecveat: true, execProgSysExitExecveat: true}
	// Execs in flight between syscall entry and exit (or sched_process_exec
	// for a success): a few per CPU at most. Each pending record is 8.5 KiB,
	// preallocated, so size it to the host.
	spec.Maps[execMapPending].MaxEntries = uint32(min(max(32*runtime.NumCPU(), 256), 8192))
	// The syscall dispatcher's slots where the kernel can run it: four
	// syscall tracepoints otherwise, which every syscall then pays for.
	variant, err := bpfx.ChooseHook(c.Config().Logger, Name,
		bpfx.Hook{Kind: dispatch.Kind, Why: func() error {
			if err := dispatch.Why(); err != nil {
				return err
			}
			return features.HaveProgramHelper(ebpf.RawTracepoint, asm.FnLoop)
		}},
		bpfx.Hook{Kind: variantTracepoints, What: "one tracepoint per syscall, not the shared dispatcher's slots"})
	if err != nil {
		return err
	}
	c.variant = variant
	if variant == dispatch.Kind {
		for _, p := range []string{execProgSysEnterExecve, execProgSysEnterExecveat, execProgSysExitExecve, execProgSysExitExecveat} {
			delete(spec.Programs, p)
		}
	} else {
		for _, sl := range dispatchSlots {
			delete(spec.Programs, sl.Prog)
		}
	}
	if err := c.Load(spec); err != nil {
		return err
	}
	if variant == dispatch.Kind {
		if err := c.AttachAll(dispatch.Without(spec, dispatchSlots)); err != nil {
			return err
		}
		set, err := dispatch.Fill(Name, c.Collection(), dispatchSlots)
		if err != nil {
			return err
		}
		c.AddCloser(set)
	} else if err := c.AttachAll(spec); err != nil {
		return err
	}
	return c.Run(ctx, sink, c.dec.decode)
}
