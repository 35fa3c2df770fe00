package process

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
)

// Name is the collector's registry name.
const Name = "process"

func init() { collector.Register(Name, New) }

// Indexes of the counts array (bpf/process.bpf.c).
const (
	cntExecs = iota
	cntForkProcess
	cntForkThread
	cntLive
	cntUntrackedNS
	cntMax = 8
)

const (
	exitCodes = 256
	exitSlots = exitCodes + 128
	// Lifetimes from below 2^20 ns (about 1 ms, slot 19) to 2^47 ns (39 hours, slot 46).
	lifetimeLo, lifetimeHi = 19, 46
	// DefaultMaxProcs bounds the per-process CPU map: processes seen on a
	// CPU since the last Collect plus those ended since the one before.
	DefaultMaxProcs = 16384
)

var (
	execsDesc = metrics.NewCounter("kscope_process_execs_total",
		"Successful execs (sched_process_exec).")
	forksDesc = metrics.NewCounter("kscope_process_forks_total",
		"Forks by kind: process (a new thread group) or thread (a clone into the parent's thread group).", "kind")
	exitsDesc = metrics.NewCounter("kscope_process_exits_total",
		"Processes ended (their last thread exited). A process that exited has code set to its exit status (0-255) "+
			"and signal empty; one killed by a signal has signal set to its name (SIGKILL) and code empty.", "code", "signal")
	lifetimeDesc = metrics.NewHistogram("kscope_process_lifetime_seconds",
		"Time from a process's start to its end.")
	liveDesc = metrics.NewGauge("kscope_processes",
		"Processes (thread groups, kernel threads included) alive now.")
	cpuDesc = metrics.NewCounter("kscope_process_cpu_seconds_total",
		"On-CPU time, charged at context switches: per process (pid, comm) for the top-K processes by recent CPU use that lived across a collection interval, "+
			"per command name (comm, no pid) for the top-K commands of the rest, and the remainder in pid=\"other\".", "pid", "comm")
)

var (
	kindProcess = []string{"process"}
	kindThread  = []string{"thread"}
	otherLabels = []string{"other", "other"}
	codeLabels  [exitCodes]string
)

func init() {
	for i := range codeLabels {
		codeLabels[i] = strconv.Itoa(i)
	}
}

// ErrNotStarted is returned by Collect before Start or after Close.
var ErrNotStarted = errors.New("process collector not running")

// Collector counts process lifecycle events and per-process CPU time in the
// kernel. It emits no events.
type Collector struct {
	*collector.Tracer
	topK     int
	minLive  int
	maxProcs uint32
	procRoot string

	mu     sync.Mutex
	closed bool
	links  []link.Link
	m      struct{ counts, exits, lifetimes, procs, oncpu, seeding, seedWindow *ebpf.Map }

	seed     map[uint32]struct{} // processes in /proc at start, until the first Collect
	liveBase int64

	sums              *bpfx.PerCPUSums
	exitSums          *bpfx.PerCPUSums
	counts, exitVals  []uint64
	top               *metrics.TopK
	ended             map[processProcKey]bool // ended at the previous Collect
	state             map[processProcKey]*procState
	keys              []processProcKey
	vals              []processProcCpu
	slots             []processCpuSlot
	lifetimes         []processLifetime
	procsBatchMissing bool
}

// New returns a process collector; Start loads and attaches it.
func New(cfg collector.Config) (collector.Collector, error) {
	// Metric-only: the shared ring buffer stays at its smallest.
	cfg.RingBytes = 4096
	return &Collector{
		Tracer:   collector.NewTracer(Name, cfg),
		topK:     cfg.TopK,
		minLive:  cfg.MinLive,
		maxProcs: DefaultMaxProcs,
		procRoot: "/proc",
	}, nil
}

// Name implements collector.Collector.
func (c *Collector) Name() string { return Name }

// Start loads the programs, attaches them and counts the processes alive.
// The hooks exist on every kernel kscope supports: sched_switch and
// sched_process_fork (tp_btf, 5.5+), sched_process_exec and
// sched_process_exit.
func (c *Collector) Start(_ context.Context, _ event.Sink) error {
	spec, err := loadProcess()
	if err != nil {
		return err
	}
	spec.Maps["procs"].MaxEntries = c.maxProcs
	if err := c.Load(spec); err != nil {
		return err
	}
	coll := c.Collection()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m.counts, c.m.exits, c.m.lifetimes = coll.Maps["counts"], coll.Maps["exits"], coll.Maps["lifetimes"]
	c.m.procs, c.m.oncpu = coll.Maps["procs"], coll.Maps["oncpu"]
	c.m.seeding, c.m.seedWindow = coll.Maps["seeding"], coll.Maps["seed_window"]
	if c.sums, err = bpfx.NewPerCPUSums(cntMax); err != nil {
		return err
	}
	if c.exitSums, err = bpfx.NewPerCPUSums(exitSlots); err != nil {
		return err
	}
	c.counts, c.exitVals = make([]uint64, cntMax), make([]uint64, exitSlots)
	c.top = metrics.NewTopK(c.topK)
	c.top.MinLive = c.minLive
	c.ended, c.state = map[processProcKey]bool{}, map[processProcKey]*procState{}

	if err := c.m.seeding.Put(uint32(0), uint32(1)); err != nil {
		return fmt.Errorf("opening the seed window: %w", err)
	}
	if err := c.attach(spec); err != nil {
		return err
	}
	if !bpfx.KernelHasMember("trace_event_raw_sched_process_exit", "group_dead") {
		c.Config().Logger.Info("fallback", "what", "process ends found from signal->live, deduplicated in a map",
			"why", "sched_process_exit has no group_dead on this kernel")
	}
	alive, err := scanProc(c.procRoot)
	if err := c.m.seeding.Put(uint32(0), uint32(0)); err != nil {
		return fmt.Errorf("closing the seed window: %w", err)
	}
	if err != nil {
		return fmt.Errorf("counting the processes in %s: %w", c.procRoot, err)
	}
	c.seed = alive
	return nil
}

// attach attaches the tp_btf programs itself (Tracer.AttachAll knows
// tracepoint and raw_tracepoint sections) and the others with AttachAll.
func (c *Collector) attach(spec *ebpf.CollectionSpec) error {
	rest := spec.Copy()
	for name, ps := range spec.Programs {
		if !strings.HasPrefix(ps.SectionName, "tp_btf/") {
			continue
		}
		delete(rest.Programs, name)
		l, err := link.AttachTracing(link.TracingOptions{Program: c.Collection().Programs[name]})
		if err != nil {
			return fmt.Errorf("attaching %s (%s): %w", name, ps.SectionName, err)
		}
		c.links = append(c.links, l)
	}
	return c.AttachAll(rest)
}

// Close detaches and frees everything; it is idempotent.
func (c *Collector) Close() error {
	c.mu.Lock()
	c.closed = true
	for _, l := range c.links {
		l.Close()
	}
	c.links = nil
	c.mu.Unlock()
	return c.Tracer.Close()
}

// Describe implements metrics.Source.
func (c *Collector) Describe() []*metrics.Desc {
	return []*metrics.Desc{execsDesc, forksDesc, exitsDesc, lifetimeDesc, liveDesc, cpuDesc}
}

// Collect implements metrics.Source.
func (c *Collector) Collect(e *metrics.Emitter) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.m.counts == nil {
		return ErrNotStarted
	}
	if c.seed != nil {
		if err := c.applySeed(); err != nil {
			return err
		}
	}
	if err := c.sums.Read(c.m.counts, c.counts); err != nil {
		return fmt.Errorf("reading counts: %w", err)
	}
	if err := c.exitSums.Read(c.m.exits, c.exitVals); err != nil {
		return fmt.Errorf("reading exits: %w", err)
	}
	e.Counter(execsDesc, float64(c.counts[cntExecs]))
	e.Counter(forksDesc, float64(c.counts[cntForkProcess]), kindProcess...)
	e.Counter(forksDesc, float64(c.counts[cntForkThread]), kindThread...)
	e.Gauge(liveDesc, float64(c.liveBase+int64(c.counts[cntLive])))
	for i, v := range c.exitVals {
		if v == 0 {
			continue
		}
		if i < exitCodes {
			e.Counter(exitsDesc, float64(v), codeLabels[i], "")
		} else {
			e.Counter(exitsDesc, float64(v), "", event.SignalName(int32(i-exitCodes)))
		}
	}
	if err := c.collectLifetime(e); err != nil {
		return err
	}
	return c.collectCPU(e, float64(c.counts[cntUntrackedNS])*1e-9)
}

// applySeed turns the /proc count taken at Start into the gauge's base.
func (c *Collector) applySeed() error {
	window := map[uint32]uint32{}
	var (
		tgid, v uint32
		it      = c.m.seedWindow.Iterate()
	)
	for it.Next(&tgid, &v) {
		window[tgid] = v
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading the seed window: %w", err)
	}
	c.liveBase = int64(len(c.seed)) + seedCorrection(c.seed, window)
	c.seed = nil
	return nil
}

func (c *Collector) collectLifetime(e *metrics.Emitter) error {
	if err := c.m.lifetimes.Lookup(uint32(0), &c.lifetimes); err != nil {
		return fmt.Errorf("reading lifetimes: %w", err)
	}
	var slots [64]uint64
	var sum uint64
	for _, l := range c.lifetimes {
		for i, n := range l.Slots {
			slots[i] += n
		}
		sum += l.SumNs
	}
	h := metrics.Log2(slots[:], sum, 1e-9, lifetimeLo, lifetimeHi)
	e.Histogram(lifetimeDesc, h)
	return nil
}

// collectCPU reports CPU time per process: the time charged in the kernel
// plus, for a process on a CPU now, the time since it was switched in.
// Processes that ended before the previous Collect are deleted after this
// one has reported them a last time.
func (c *Collector) collectCPU(e *metrics.Emitter, untracked float64) error {
	keys, vals, err := c.readProcs()
	if err != nil {
		return fmt.Errorf("reading procs: %w", err)
	}
	running := map[uint32]uint64{}
	var ts unix.Timespec
	if err := c.m.oncpu.Lookup(uint32(0), &c.slots); err == nil && unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) == nil {
		now := uint64(ts.Nano())
		for _, s := range c.slots {
			if s.Tgid != 0 && s.TsNs != 0 && now > s.TsNs {
				running[s.Tgid] += now - s.TsNs
			}
		}
	}
	rows := make([]metrics.Row, 0, len(keys))
	seen := make(map[processProcKey]bool, len(keys))
	ended := map[processProcKey]bool{}
	var gone []processProcKey
	for i, k := range keys {
		if seen[k] {
			continue // a batch read of a changing hash may return a key twice
		}
		seen[k] = true
		v := vals[i]
		if v.ExitNs != 0 {
			if c.ended[k] {
				gone = append(gone, k)
			} else {
				ended[k] = true
			}
		}
		st := c.state[k]
		if st == nil || st.comm != v.Comm {
			pid := strconv.FormatUint(uint64(k.Tgid), 10)
			st = &procState{
				comm:   v.Comm,
				key:    pid + ":" + strconv.FormatUint(k.StartNs, 10),
				labels: []string{pid, metrics.LabelString(v.Comm[:])},
				last:   stateLast(st),
			}
			if comm := metrics.LabelString(v.Comm[:]); comm != "" {
				st.group = []string{"", comm}
			}
			c.state[k] = st
		}
		// The time on a CPU now is an estimate until the next switch:
		// never report less than before.
		st.last = max(float64(v.CpuNs+running[k.Tgid])*1e-9, st.last)
		rows = append(rows, metrics.Row{Key: st.key, Labels: st.labels, Values: []float64{st.last}, Group: st.group, Live: v.ExitNs == 0})
	}
	for k := range c.state {
		if !seen[k] {
			delete(c.state, k)
		}
	}
	kept, other := c.top.Select(rows)
	for _, r := range kept {
		e.Counter(cpuDesc, r.Values[0], r.Labels...)
	}
	if other != nil || untracked > 0 {
		o := untracked
		if other != nil {
			o += other[0]
		}
		e.Counter(cpuDesc, o, otherLabels...)
	}
	c.ended = ended
	for _, k := range gone {
		delete(c.state, k)
		if err := c.m.procs.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("deleting an ended process: %w", err)
		}
	}
	return nil
}

// procState is what Collect keeps per process between calls.
type procState struct {
	comm   [16]uint8
	key    string   // TopK key: pid and start time
	labels []string // pid, comm
	group  []string // "", comm: the per-command series
	last   float64  // CPU seconds last reported
}

func stateLast(st *procState) float64 {
	if st == nil {
		return 0
	}
	return st.last
}

// readProcs returns every entry of procs, by batches where the kernel has
// them.
func (c *Collector) readProcs() ([]processProcKey, []processProcCpu, error) {
	const chunk = 1024
	if len(c.keys) < chunk {
		c.keys, c.vals = make([]processProcKey, chunk), make([]processProcCpu, chunk)
	}
	var keys []processProcKey
	var vals []processProcCpu
	if !c.procsBatchMissing {
		var cursor ebpf.MapBatchCursor
		for {
			n, err := c.m.procs.BatchLookup(&cursor, c.keys[:chunk], c.vals[:chunk], nil)
			keys = append(keys, c.keys[:n]...)
			vals = append(vals, c.vals[:n]...)
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				return keys, vals, nil
			}
			if errors.Is(err, ebpf.ErrNotSupported) {
				c.procsBatchMissing = true
				break
			}
			if err != nil {
				return nil, nil, err
			}
		}
		keys, vals = keys[:0], vals[:0]
	}
	var (
		k  processProcKey
		v  processProcCpu
		it = c.m.procs.Iterate()
	)
	for it.Next(&k, &v) {
		keys = append(keys, k)
		vals = append(vals, v)
	}
	return keys, vals, it.Err()
}
