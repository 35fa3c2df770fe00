package process

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
)

// Name is the collector's registry name.
const Name = "process"

// Indexes of the counts array (bpf/process.bpf.c).
const (
	cntExecs = iota
	cntForkProcess
	cntForkThread
	cntLive
	cntGoneNS
	cntGoneNvcsw
	cntGoneNivcsw
	cntDrops
	cntMax = 8
)

const (
	exitCodes = 256
	exitSlots = exitCodes + 128
	// Lifetimes from below 2^20 ns (about 1 ms, slot 19) to 2^47 ns (39 hours, slot 46).
	lifetimeLo, lifetimeHi = 19, 46
	// DefaultResync is how often the live-process gauge is recounted
	// from /proc.
	DefaultResync = time.Minute
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
		"CPU time of the top-K processes by recent CPU use, from the kernel's runtime accounting (se.sum_exec_runtime; "+
			"steal time excluded): per process (pid, comm, start) for the top-K processes by recent CPU use that lived across a "+
			"collection interval, per command name (comm; no pid, no start) for the top-K commands of the rest, and the remainder, "+
			"with the time of processes since they were last reported before they ended, in pid=\"other\". start is the process's start time (start_ns in its events): a reused pid is another series.", "pid", "comm", "start")
	switchesDesc = metrics.NewCounter("kscope_process_context_switches_total",
		"Context switches of the top-K processes by recent CPU use, as /proc/PID/status counts them: kind=\"voluntary\" "+
			"(the thread blocked) or \"involuntary\" (preempted, or yielded). Per process, per command and other as for "+
			"kscope_process_cpu_seconds_total.", "pid", "comm", "start", "kind")
	resyncDesc = metrics.NewGauge("kscope_processes_resync_drift",
		"How far kscope_processes was from the count in /proc at its last periodic recount (recount minus kernel count).")
)

var (
	kindProcess = []string{"process"}
	kindThread  = []string{"thread"}
	otherLabels = []string{"other", "other", ""}
	switchKinds = [2]string{"voluntary", "involuntary"}
	codeLabels  [exitCodes]string
)

func init() {
	for i := range codeLabels {
		codeLabels[i] = strconv.Itoa(i)
	}
}

// The CPU time variants Start chooses from, best first, by their name for
// bpfx.ChooseHook (and bpfx.ForceHook in tests).
const (
	variantTaskStorage = "task_storage"
	variantSlot        = "slot" // the runtime at switch-in, without task storage
)

// ErrNotStarted is returned by Collect before Start or after Close.
var ErrNotStarted = errors.New("process collector not running")

// Collector counts process lifecycle events and per-process CPU time in the
// kernel. It emits no events.
type Collector struct {
	*collector.Tracer
	topK        int
	minLive     int
	maxProcs    uint32 // 0: from pid_max and memory (MapSize)
	procRoot    string
	resyncEvery time.Duration

	mu    sync.Mutex
	life  collector.Lifecycle
	links bpfx.Links
	m     struct{ counts, exits, lifetimes, procs, oncpu, seeding, seedWindow *ebpf.Map }

	seed     map[uint32]struct{} // processes in /proc at start, until the first Collect
	liveBase int64               // live processes = liveBase + counts[cntLive]
	resyncAt time.Time           // when the gauge was last recounted from /proc
	drift    int64               // what the last recount changed

	sums              *bpfx.PerCPUSums
	exitSums          *bpfx.PerCPUSums
	counts, exitVals  []uint64
	top               *metrics.TopK
	state             map[processProcKey]*procState
	goneSeen, goneOut [3]float64 // see collectCPU
	keys              []processProcKey
	vals              []processProcCpu
	lifetimes         []processLifetime
	procsBatchMissing bool
}

// New returns a process collector; Start loads and attaches it.
func New(cfg collector.Config) (collector.Collector, error) {
	// Metric-only: the shared ring buffer stays at its smallest.
	cfg.RingBytes = 4096
	return &Collector{
		Tracer:      collector.NewTracer(Name, cfg),
		topK:        cfg.TopK,
		minLive:     cfg.MinLive,
		procRoot:    "/proc",
		resyncEvery: DefaultResync,
	}, nil
}

// Name implements collector.Collector.
func (c *Collector) Name() string { return Name }

// Start loads the programs, attaches them and counts the processes alive.
// The hooks exist on every kernel kscope supports: sched_switch and
// sched_process_fork (tp_btf, 5.5+), sched_process_exec and
// sched_process_exit.
func (c *Collector) Start(_ context.Context, _ event.Sink) error {
	if err := c.life.Start(Name); err != nil {
		return err
	}
	spec, err := loadProcess()
	if err != nil {
		return err
	}
	if c.maxProcs == 0 {
		c.maxProcs = HostMapSize(c.procRoot)
	}
	spec.Maps["procs"].MaxEntries = c.maxProcs
	// Each thread's charged runtime in task storage where the kernel has
	// it; from the runtime at switch-in on the same CPU otherwise.
	variant, err := bpfx.ChooseHook(c.Config().Logger, Name,
		bpfx.Hook{Kind: variantTaskStorage, Why: bpfx.TaskStorage},
		bpfx.Hook{Kind: variantSlot, What: "CPU time from each thread's runtime at its switch-in (a missed switch-in loses a slice)"})
	if err != nil {
		return err
	}
	if variant == variantTaskStorage {
		delete(spec.Programs, processProgSchedSwitchSlot)
	} else {
		for _, p := range []string{processProgSchedSwitch, processProgChargedFork, processProgChargedIter} {
			delete(spec.Programs, p)
		}
		delete(spec.Maps, processMapCharged)
	}
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
	c.state = map[processProcKey]*procState{}

	if err := c.m.seeding.Put(uint32(0), uint32(1)); err != nil {
		return fmt.Errorf("opening the seed window: %w", err)
	}
	if err := c.attach(spec); err != nil {
		return err
	}
	if it := coll.Programs[processProgChargedIter]; it != nil {
		if err := bpfx.RunIter(it); err != nil {
			return err
		}
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
	c.resyncAt = time.Now()
	return nil
}

// attach attaches the tp_btf programs itself (Tracer.AttachAll knows
// tracepoint and raw_tracepoint sections) and the others with AttachAll.
func (c *Collector) attach(spec *ebpf.CollectionSpec) error {
	rest := spec.Copy()
	delete(rest.Programs, processProgChargedIter) // run once by Start
	for name, ps := range spec.Programs {
		if !strings.HasPrefix(ps.SectionName, "tp_btf/") {
			continue
		}
		delete(rest.Programs, name)
		l, err := link.AttachTracing(link.TracingOptions{Program: c.Collection().Programs[name]})
		if err != nil {
			return fmt.Errorf("attaching %s (%s): %w", name, ps.SectionName, err)
		}
		c.links.Add(l)
	}
	return c.AttachAll(rest)
}

// Close detaches and frees everything; it is idempotent.
func (c *Collector) Close() error {
	return c.life.Close(func() error {
		c.mu.Lock()
		err := c.links.Close()
		c.mu.Unlock()
		return errors.Join(err, c.Tracer.Close())
	})
}

// Describe implements metrics.Source.
func (c *Collector) Describe() []*metrics.Desc {
	return []*metrics.Desc{execsDesc, forksDesc, exitsDesc, lifetimeDesc, liveDesc, resyncDesc, cpuDesc, switchesDesc,
		metrics.MapDrops}
}

// Collect implements metrics.Source.
func (c *Collector) Collect(e *metrics.Emitter) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.life.Closed() || c.m.counts == nil {
		return ErrNotStarted
	}
	if c.seed != nil {
		if err := c.applySeed(); err != nil {
			return err
		}
	} else if c.resyncEvery > 0 && time.Since(c.resyncAt) >= c.resyncEvery {
		if err := c.resync(); err != nil {
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
	e.Gauge(resyncDesc, float64(c.drift))
	e.Counter(metrics.MapDrops, float64(c.counts[cntDrops]), Name, "procs")
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
	return c.collectCPU(e)
}

// applySeed turns the /proc count taken at Start into the gauge's base.
func (c *Collector) applySeed() error {
	window, err := c.readSeedWindow()
	if err != nil {
		return err
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

// oncpuSlots reads what each CPU runs into buf (nil when unreadable).
func (c *Collector) oncpuSlots(buf []processCpuSlot) []processCpuSlot {
	if err := c.m.oncpu.Lookup(uint32(0), &buf); err != nil {
		return nil
	}
	return buf
}

// collectCPU reports CPU time and context switches per process: what the
// kernel charged at switch-outs plus, for a process on a CPU now, its
// runtime since it was switched in (from /proc/PID/task/TID/schedstat,
// the same se.sum_exec_runtime).
//
// The kernel deletes a process's entry at its last switch-out and adds its
// totals to the gone counters, which also hold what had no entry. What was
// reported of a process before it vanished is in goneSeen; the rest of the
// gone counters (goneOut, kept monotonic) goes to the other series. The
// counts were read before procs, so a process that ended in between shows
// in goneOut by the next Collect.
func (c *Collector) collectCPU(e *metrics.Emitter) error {
	gone := [3]float64{float64(c.counts[cntGoneNS]) * 1e-9, float64(c.counts[cntGoneNvcsw]), float64(c.counts[cntGoneNivcsw])}
	// A switch between reading procs and reading what each CPU runs
	// would lose or double the stint it ends: read the CPUs before and
	// after procs, and again while they differ.
	var keys []processProcKey
	var vals []processProcCpu
	var slots []processCpuSlot
	for try := 0; ; try++ {
		before := c.oncpuSlots(nil)
		var err error
		if keys, vals, err = c.readProcs(); err != nil {
			return fmt.Errorf("reading procs: %w", err)
		}
		slots = c.oncpuSlots(slots)
		if slices.Equal(before, slots) || try == 4 {
			break
		}
	}
	running := c.runningNS(slots)
	rows := make([]metrics.Row, 0, len(keys))
	seen := make(map[processProcKey]bool, len(keys))
	byKey := make(map[string]*procState, len(keys))
	for i, k := range keys {
		if seen[k] {
			continue // a batch read of a changing hash may return a key twice
		}
		seen[k] = true
		v := vals[i]
		st := c.state[k]
		if st == nil || st.comm != v.Comm {
			pid := strconv.FormatUint(uint64(k.Tgid), 10)
			comm := metrics.LabelString(v.Comm[:])
			start := strconv.FormatUint(k.StartNs, 10)
			st = &procState{
				comm:   v.Comm,
				key:    pid + ":" + strconv.FormatUint(k.StartNs, 10),
				labels: []string{pid, comm, start},
				vol:    []string{pid, comm, start, switchKinds[0]},
				invol:  []string{pid, comm, start, switchKinds[1]},
				last:   stateLast(st),
			}
			if comm := metrics.LabelString(v.Comm[:]); comm != "" {
				st.group = []string{"", comm, ""}
			}
			c.state[k] = st
		}
		// The time on a CPU now is only counted up to the kernel's last
		// update of it: never report less than before.
		now := [3]float64{float64(v.CpuNs+running[k.Tgid]) * 1e-9, float64(v.Nvcsw), float64(v.Nivcsw)}
		for j := range now {
			st.last[j] = max(st.last[j], now[j])
		}
		byKey[st.key] = st
		// Its map holds live processes only (an ended one's entry goes at
		// its last switch-out).
		rows = append(rows, metrics.Row{Key: st.key, Labels: st.labels, Values: st.last[:], Group: st.group, Live: true})
	}
	for k, st := range c.state {
		if !seen[k] {
			for j := range st.last {
				c.goneSeen[j] += st.last[j]
			}
			delete(c.state, k)
		}
	}
	kept, other := c.top.Select(rows)
	for _, r := range kept {
		e.Counter(cpuDesc, r.Values[0], r.Labels...)
		if st := byKey[r.Key]; st != nil {
			e.Counter(switchesDesc, r.Values[1], st.vol...)
			e.Counter(switchesDesc, r.Values[2], st.invol...)
			continue
		}
		// A command's series (no pid).
		e.Counter(switchesDesc, r.Values[1], append(r.Labels[:len(r.Labels):len(r.Labels)], switchKinds[0])...)
		e.Counter(switchesDesc, r.Values[2], append(r.Labels[:len(r.Labels):len(r.Labels)], switchKinds[1])...)
	}
	var o [3]float64
	for j := range o {
		c.goneOut[j] = max(c.goneOut[j], gone[j]-c.goneSeen[j])
		o[j] = c.goneOut[j]
		if j < len(other) {
			o[j] += other[j]
		}
	}
	e.Counter(cpuDesc, o[0], otherLabels...)
	e.Counter(switchesDesc, o[1], "other", "other", "", switchKinds[0])
	e.Counter(switchesDesc, o[2], "other", "other", "", switchKinds[1])
	return nil
}

// procState is what Collect keeps per process between calls.
type procState struct {
	comm       [16]uint8
	key        string     // TopK key: pid and start time
	labels     []string   // pid, comm, start
	vol, invol []string   // pid, comm, start, kind
	group      []string   // "", comm, "": the per-command series
	last       [3]float64 // CPU seconds, voluntary and involuntary switches last reported
}

func stateLast(st *procState) [3]float64 {
	if st == nil {
		return [3]float64{}
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
