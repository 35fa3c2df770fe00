package exec

import (
	"context"
	"fmt"
	"runtime"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
)

// Name is the collector's registry name and the events' type.
const Name = "exec"

// Collector traces execs.
type Collector struct {
	*collector.Tracer
	dec decoder
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
	if err := c.Load(spec); err != nil {
		return err
	}
	if err := c.AttachAll(spec); err != nil {
		return err
	}
	return c.Run(ctx, sink, c.dec.decode)
}
