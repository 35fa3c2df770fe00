package sched

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
)

// Name is the collector's registry name.
const Name = "sched"

// Shared with bpf/sched.bpf.c.
const (
	latLo = 9 // log2 slot of a hist's first slot

	// Indexes of struct counters' n.
	cVoluntary   = 0
	cInvoluntary = 1
	cIdle        = 2
	cWakeup      = 3
	cWakeupNew   = 4
	cMigrate     = 5
	cNoStorage   = 6
	cMapFull     = 7
)

// waitReasons labels the latency histograms, by index.
var waitReasons = [...]string{0: "wakeup", 1: "wakeup_new", 2: "preempted"}

var (
	descLatency = metrics.NewHistogram("kscope_sched_runqueue_latency_seconds",
		"Time tasks waited runnable for a CPU, by why they started waiting: woken (wakeup), new (wakeup_new) or preempted while still runnable (preempted).",
		"reason")
	descSwitches = metrics.NewCounter("kscope_sched_context_switches_total",
		"Context switches, by CPU and kind: voluntary (the task left the CPU to sleep), involuntary (it was preempted or yielded, still runnable) or idle (the CPU's idle task left it).",
		"cpu", "kind")
	descWakeups = metrics.NewCounter("kscope_sched_wakeups_total",
		"Wakeups, by kind: wakeup (sched_wakeup: a task woken, usually from sleep) or wakeup_new (a new task's first).",
		"kind")
	descMigrations = metrics.NewCounter("kscope_sched_migrations_total",
		"Tasks moved from one CPU to another (sched_migrate_task).")
	descDropped = metrics.NewCounter("kscope_sched_dropped_total",
		"Run-queue waits not measured, by reason: the task's storage was missing or its lookup refused on a CPU already inside a task storage operation (no_task_storage), or the fallback's pid map was full (map_full).",
		"reason")
)

// Test knobs (bpfx.ForceHook forces the raw tracepoint fallback):
// skipStorage leaves the tasks that exist at Start without task storage;
// mapSizes overrides max_entries.
var (
	skipStorage bool
	mapSizes    map[string]uint32
)

// Collector measures the scheduler in the kernel. It emits no events and
// is machine-wide: the Filter of its Config does not apply.
type Collector struct {
	*collector.Tracer
	cfg collector.Config

	mu       sync.Mutex
	life     collector.Lifecycle
	links    bpfx.Links
	counters []schedCounters
	hists    []schedHist
	slots    []uint64
}

// New returns a sched collector; Start loads and attaches it.
func New(cfg collector.Config) (collector.Collector, error) {
	// Metric-only: the shared ring buffer is never written.
	cfg.RingBytes = 4096
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Collector{Tracer: collector.NewTracer(Name, cfg), cfg: cfg}, nil
}

// Name implements collector.Collector.
func (c *Collector) Name() string { return Name }

// btfHooks reports whether the tp_btf programs can load, or why not: they
// need task storage (Linux 5.11) and sched_switch's prev_state argument
// (5.18, "sched/tracing: Don't re-read p->state when emitting
// sched_switch event"), which the kernel's BTF shows.
func btfHooks() error {
	if err := bpfx.TaskStorage(); err != nil {
		return err
	}
	kt, err := bpfx.KernelTypes()
	if err != nil {
		return fmt.Errorf("kernel BTF: %w", err)
	}
	var td *btf.Typedef
	if err := kt.TypeByName("btf_trace_sched_switch", &td); err != nil {
		return fmt.Errorf("sched_switch in the kernel's BTF: %w", err)
	}
	ptr, ok := td.Type.(*btf.Pointer)
	if !ok {
		return fmt.Errorf("btf_trace_sched_switch is a %T", td.Type)
	}
	proto, ok := ptr.Target.(*btf.FuncProto)
	if !ok {
		return fmt.Errorf("btf_trace_sched_switch points to a %T", ptr.Target)
	}
	// The tracepoint's context pointer, preempt, prev, next, prev_state.
	if len(proto.Params) < 5 {
		return errors.New("sched_switch has no prev_state argument")
	}
	return nil
}

// Start loads the programs and attaches them; sink is not used.
func (c *Collector) Start(_ context.Context, _ event.Sink) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.life.Start(Name); err != nil {
		return err
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return fmt.Errorf("counting CPUs: %w", err)
	}
	c.counters = make([]schedCounters, ncpu)
	c.hists = make([]schedHist, ncpu)
	c.slots = make([]uint64, latLo+len(schedHist{}.Slots))

	spec, err := loadSched()
	if err != nil {
		return err
	}
	hook, err := bpfx.ChooseHook(c.cfg.Logger, Name,
		bpfx.Hook{Kind: bpfx.FeatTpBTF, Why: btfHooks},
		bpfx.Hook{Kind: bpfx.FeatRawTracepoint, What: "raw tracepoints, wait timestamps in a hash keyed by pid"})
	if err != nil {
		return err
	}
	useBTF := hook == bpfx.FeatTpBTF
	for name, ps := range spec.Programs {
		raw := strings.HasPrefix(ps.SectionName, "raw_tracepoint/")
		if raw == useBTF {
			delete(spec.Programs, name)
		}
	}
	if useBTF {
		delete(spec.Maps, schedMapWaitsHash)
	} else {
		delete(spec.Maps, schedMapWaits)
	}
	for name, n := range mapSizes {
		if m, ok := spec.Maps[name]; ok {
			m.MaxEntries = n
		}
	}
	if err := c.Load(spec); err != nil {
		return err
	}
	if !useBTF {
		return c.AttachAll(spec)
	}

	// New tasks get storage from the fork hook, then every task that
	// exists from the iterator; only then do the measuring hooks attach.
	progs := c.Collection().Programs
	if err := c.attachTracing(progs[schedProgSchedProcessFork]); err != nil {
		return err
	}
	if !skipStorage {
		if err := bpfx.RunIter(progs[schedProgMakeStorage]); err != nil {
			return err
		}
	}
	for _, name := range []string{schedProgSchedWakeup, schedProgSchedWakeupNew, schedProgSchedSwitch, schedProgSchedMigrateTask} {
		if err := c.attachTracing(progs[name]); err != nil {
			return err
		}
	}
	return nil
}

func (c *Collector) attachTracing(prog *ebpf.Program) error {
	l, err := link.AttachTracing(link.TracingOptions{Program: prog, AttachType: ebpf.AttachTraceRawTp})
	if err != nil {
		return fmt.Errorf("attaching %s: %w", prog, err)
	}
	c.links.Add(l)
	return nil
}

// Close detaches the programs and frees them. It is idempotent.
func (c *Collector) Close() error {
	return c.life.Close(func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		return errors.Join(c.links.Close(), c.Tracer.Close())
	})
}

// Describe implements metrics.Source.
func (c *Collector) Describe() []*metrics.Desc {
	return []*metrics.Desc{descLatency, descSwitches, descWakeups, descMigrations, descDropped}
}

// Collect implements metrics.Source: it reads the per-CPU counters and
// histograms and emits cumulative values.
func (c *Collector) Collect(e *metrics.Emitter) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.life.Running() || c.Collection() == nil {
		return errors.New("sched: collector not running")
	}
	maps := c.Collection().Maps
	if err := maps[schedMapCounts].Lookup(uint32(0), c.counters); err != nil {
		return fmt.Errorf("reading counters: %w", err)
	}
	var total schedCounters
	for cpu, v := range c.counters {
		for i, n := range v.N {
			total.N[i] += n
		}
		if v.N[cVoluntary]+v.N[cInvoluntary]+v.N[cIdle] == 0 {
			continue // offline, or never switched
		}
		label := strconv.Itoa(cpu)
		e.Counter(descSwitches, float64(v.N[cVoluntary]), label, "voluntary")
		e.Counter(descSwitches, float64(v.N[cInvoluntary]), label, "involuntary")
		e.Counter(descSwitches, float64(v.N[cIdle]), label, "idle")
	}
	e.Counter(descWakeups, float64(total.N[cWakeup]), "wakeup")
	e.Counter(descWakeups, float64(total.N[cWakeupNew]), "wakeup_new")
	e.Counter(descMigrations, float64(total.N[cMigrate]))
	e.Counter(descDropped, float64(total.N[cNoStorage]), "no_task_storage")
	e.Counter(descDropped, float64(total.N[cMapFull]), "map_full")

	for r, reason := range waitReasons {
		if err := maps[schedMapLatency].Lookup(uint32(r), c.hists); err != nil {
			return fmt.Errorf("reading the %s latency histogram: %w", reason, err)
		}
		clear(c.slots)
		var sum uint64
		for _, h := range c.hists {
			sum += h.SumNs
			for i, n := range h.Slots {
				c.slots[latLo+i] += n
			}
		}
		e.Histogram(descLatency, metrics.Log2(c.slots, sum, 1e-9, metrics.LatencyLo, metrics.LatencyHi), reason)
	}
	return nil
}
