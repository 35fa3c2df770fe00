package profile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
)

// Name is the collector's registry name.
const Name = "profile"

// DefaultHz is the sampling frequency New uses: a prime, so the samples do
// not fall in step with periodic work.
const DefaultHz = 19

// MaxHz bounds Options.Hz.
const MaxHz = 10000

// Options selects what is profiled.
type Options struct {
	Hz          int      // samples per second per CPU (0: DefaultHz)
	OffCPU      bool     // also account the time tasks spend blocked
	PIDs        []uint32 // processes (tgid) to profile; empty: all
	IncludeIdle bool     // count samples of the idle task (pid 0)
	// OnNewProcess, when set, is called from a goroutine of the profiler
	// with each process the first time it is sampled (again after an exec
	// or with a reused pid), while it runs: the moment to read its memory
	// map for symbolization. It must not block for long.
	OnNewProcess func(pid uint32, comm string)
}

// Sample is one aggregate: a process and comm with one user stack and one
// kernel stack, leaf first, as raw instruction addresses. OnCPU counts
// on-CPU samples; OffCPUNanos sums the time spent blocked there.
type Sample struct {
	PID         uint32
	Comm        string
	User        []uint64
	Kernel      []uint64
	OnCPU       uint64
	OffCPUNanos uint64
}

// Indexes of the kernel's counters array (enum counter in profile.bpf.c).
const (
	cSamples = iota
	cIdle
	cFiltered
	cCountsFull
	cOffCPUFull
	cStartFull
	cUstackEFAULT
	cUstackEEXIST
	cUstackENOMEM
	cUstackOther
	cKstackEFAULT
	cKstackEEXIST
	cKstackENOMEM
	cKstackOther
	cSwitches
	cNewProcLost
	cMax = 16
)

// Counters are the kernel's cumulative counts of what sampling did.
type Counters struct {
	Samples  uint64 // on-CPU samples counted
	Idle     uint64 // idle-task samples skipped
	Filtered uint64 // samples and switches of processes not profiled
	Switches uint64 // blocking switch-outs recorded (off-CPU)
	// Lost, by reason: oncpu_map_full, offcpu_map_full, blocked_map_full,
	// {user,kernel}_stack_{fault,collision,map_full,other}.
	Lost map[string]uint64
}

var lostReasons = []struct {
	idx    int
	reason string
}{
	{cCountsFull, "oncpu_map_full"},
	{cOffCPUFull, "offcpu_map_full"},
	{cStartFull, "blocked_map_full"},
	{cUstackEFAULT, "user_stack_fault"},
	{cUstackEEXIST, "user_stack_collision"},
	{cUstackENOMEM, "user_stack_map_full"},
	{cUstackOther, "user_stack_other"},
	{cKstackEFAULT, "kernel_stack_fault"},
	{cKstackEEXIST, "kernel_stack_collision"},
	{cKstackENOMEM, "kernel_stack_map_full"},
	{cKstackOther, "kernel_stack_other"},
	{cNewProcLost, "new_process_ring_full"},
}

var (
	descSamples = metrics.NewCounter("kscope_profile_samples_total",
		"On-CPU stack samples counted in the kernel.")
	descLost = metrics.NewCounter("kscope_profile_lost_total",
		"Samples or stacks lost in the kernel, by reason (a full map, a stack that could not be walked, a stack id collision).",
		"reason")
)

// Test knobs (bpfx.ForceHook forces off-CPU from the raw tracepoint).
var (
	forceIoctl bool // attach perf events by ioctl, not BPF links
	// Map sizes; zero keeps the compiled ones.
	countsEntries, stackEntries uint32
)

// Profiler samples stacks. It is a collector.Collector and a metrics.Source.
type Profiler struct {
	*collector.Tracer
	log  *slog.Logger
	opts Options

	mu        sync.Mutex // serializes Read, Collect and Close
	event     string     // the perf event sampled: "cycles" or "cpu-clock"
	perfFDs   []int
	life      collector.Lifecycle
	links     bpfx.Links
	procs     *ringbuf.Reader // new processes, with OnNewProcess
	procsDone chan struct{}
}

// New returns a profiler of every process at DefaultHz, on-CPU only.
func New(cfg collector.Config) (collector.Collector, error) {
	return NewProfiler(cfg, Options{})
}

// NewProfiler returns a profiler; Start loads and attaches it.
func NewProfiler(cfg collector.Config, opts Options) (*Profiler, error) {
	if opts.Hz == 0 {
		opts.Hz = DefaultHz
	}
	if opts.Hz < 0 || opts.Hz > MaxHz {
		return nil, fmt.Errorf("sampling frequency %d Hz: must be in 1..%d", opts.Hz, MaxHz)
	}
	if len(opts.PIDs) > 1024 {
		return nil, fmt.Errorf("%d processes: at most 1024 can be selected", len(opts.PIDs))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.RingBytes = 4096 // aggregates only: the shared ring buffer stays unused
	opts.PIDs = append([]uint32(nil), opts.PIDs...)
	if cfg.Filter.PID != 0 {
		opts.PIDs = append(opts.PIDs, cfg.Filter.PID)
		cfg.Filter.PID = 0 // applied through the pids map
	}
	return &Profiler{Tracer: collector.NewTracer(Name, cfg), log: cfg.Logger, opts: opts}, nil
}

// Name implements collector.Collector.
func (p *Profiler) Name() string { return Name }

// Event names the perf event sampled, once started: "cycles" where the CPU
// has a PMU, "cpu-clock" otherwise.
func (p *Profiler) Event() string { return p.event }

// Start loads the programs, opens a sampling perf event on every online CPU
// and attaches; the profiler emits no events.
func (p *Profiler) Start(_ context.Context, _ event.Sink) error {
	if err := p.life.Start(Name); err != nil {
		return err
	}
	spec, err := loadProfile()
	if err != nil {
		return err
	}
	vars := map[string]uint8{"pids_on": boolByte(len(p.opts.PIDs) > 0), "include_idle": boolByte(p.opts.IncludeIdle)}
	for name, v := range vars {
		if err := spec.Variables[name].Set(v); err != nil {
			return fmt.Errorf("setting %s: %w", name, err)
		}
	}
	for _, m := range []string{profileMapOncpu, profileMapOffcpu} {
		if countsEntries > 0 {
			spec.Maps[m].MaxEntries = countsEntries
		}
	}
	for _, m := range []string{profileMapUserStacks, profileMapKernelStacks} {
		if stackEntries > 0 {
			spec.Maps[m].MaxEntries = stackEntries
		}
	}
	// Off-CPU: tp_btf where it works, else the raw tracepoint.
	offProg := ""
	if p.opts.OffCPU {
		hook, err := bpfx.ChooseHook(p.log, Name, bpfx.Hook{Kind: bpfx.FeatTpBTF},
			bpfx.Hook{Kind: bpfx.FeatRawTracepoint, What: "off-CPU from raw_tracepoint/sched_switch"})
		if err != nil {
			return err
		}
		offProg = profileProgSchedSwitch
		if hook == bpfx.FeatRawTracepoint {
			offProg = profileProgSchedSwitchRaw
		}
	}
	for _, name := range []string{profileProgSchedSwitch, profileProgSchedSwitchRaw} {
		if name != offProg {
			delete(spec.Programs, name)
		}
	}
	if err := p.Load(spec); err != nil {
		return err
	}
	coll := p.Collection()
	for _, pid := range p.opts.PIDs {
		if err := coll.Maps[profileMapPids].Put(pid, uint8(1)); err != nil {
			return fmt.Errorf("selecting pid %d: %w", pid, err)
		}
	}
	if p.opts.OnNewProcess != nil {
		r, err := ringbuf.NewReader(coll.Maps[profileMapNewProcs])
		if err != nil {
			return fmt.Errorf("reading new processes: %w", err)
		}
		p.procs, p.procsDone = r, make(chan struct{})
		go p.readProcs(r, p.opts.OnNewProcess)
	}
	if offProg != "" {
		var l link.Link
		if offProg == profileProgSchedSwitch {
			l, err = link.AttachTracing(link.TracingOptions{Program: coll.Programs[offProg], AttachType: ebpf.AttachTraceRawTp})
		} else {
			l, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sched_switch", Program: coll.Programs[offProg]})
		}
		if err != nil {
			return fmt.Errorf("attaching %s: %w", offProg, err)
		}
		p.links.Add(l)
	}
	return p.attachPerf(coll.Programs[profileProgOnCpu])
}

// readProcs hands every announced process to fn until the reader closes.
func (p *Profiler) readProcs(r *ringbuf.Reader, fn func(uint32, string)) {
	defer close(p.procsDone)
	var rec ringbuf.Record
	for {
		if err := r.ReadInto(&rec); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			continue
		}
		var k profileProcKey
		if len(rec.RawSample) < int(unsafe.Sizeof(k)) {
			continue
		}
		k = *(*profileProcKey)(unsafe.Pointer(&rec.RawSample[0]))
		fn(k.Pid, commString(k.Comm[:]))
	}
}

// attachPerf opens a perf event per online CPU and attaches prog to each.
func (p *Profiler) attachPerf(prog *ebpf.Program) error {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return fmt.Errorf("listing online CPUs: %w", err)
	}
	cpus, err := parseCPUList(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("listing online CPUs: %w", err)
	}
	typ, config := uint32(unix.PERF_TYPE_HARDWARE), uint64(unix.PERF_COUNT_HW_CPU_CYCLES)
	p.event = "cycles"
	fd, err := openPerf(typ, config, p.opts.Hz, cpus[0])
	if err != nil {
		if isPermission(err) {
			return permissionError(err)
		}
		p.log.Info("fallback", "what", "on-CPU sampling from the cpu-clock software event", "why", fmt.Sprintf("hardware CPU cycles event: %v", err))
		typ, config = unix.PERF_TYPE_SOFTWARE, unix.PERF_COUNT_SW_CPU_CLOCK
		p.event = "cpu-clock"
		if fd, err = openPerf(typ, config, p.opts.Hz, cpus[0]); err != nil {
			if isPermission(err) {
				return permissionError(err)
			}
			return fmt.Errorf("perf_event_open cpu-clock on CPU %d: %w", cpus[0], err)
		}
	}
	useIoctl := forceIoctl
	for i, cpu := range cpus {
		if i > 0 {
			if fd, err = openPerf(typ, config, p.opts.Hz, cpu); err != nil {
				return fmt.Errorf("perf_event_open %s on CPU %d: %w", p.event, cpu, err)
			}
		}
		p.perfFDs = append(p.perfFDs, fd)
		if !useIoctl {
			l, err := link.AttachRawLink(link.RawLinkOptions{Target: fd, Program: prog, Attach: ebpf.AttachPerfEvent})
			if err == nil {
				p.links.Add(l)
			} else {
				// BPF links for perf events came in 5.15.
				p.log.Info("fallback", "what", "perf event programs attached by ioctl", "why", fmt.Sprintf("BPF link: %v", err))
				useIoctl = true
			}
		}
		if useIoctl {
			if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_SET_BPF, prog.FD()); err != nil {
				return fmt.Errorf("attaching to the perf event of CPU %d: %w", cpu, err)
			}
		}
		if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
			return fmt.Errorf("enabling the perf event of CPU %d: %w", cpu, err)
		}
	}
	return nil
}

// openPerf opens a disabled sampling event of hz samples a second on cpu,
// for every task.
func openPerf(typ uint32, config uint64, hz, cpu int) (int, error) {
	attr := unix.PerfEventAttr{
		Type:   typ,
		Config: config,
		Size:   uint32(unsafeSizeofPerfEventAttr),
		Sample: uint64(hz),
		Bits:   unix.PerfBitFreq | unix.PerfBitDisabled,
	}
	return unix.PerfEventOpen(&attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
}

func isPermission(err error) bool {
	return errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)
}

func permissionError(err error) error {
	paranoid := "unknown"
	if b, e := os.ReadFile("/proc/sys/kernel/perf_event_paranoid"); e == nil {
		paranoid = strings.TrimSpace(string(b))
	}
	return fmt.Errorf("perf_event_open for every task on a CPU: %w: needs root or CAP_PERFMON (or CAP_SYS_ADMIN), or kernel.perf_event_paranoid <= 0 (it is %s)", err, paranoid)
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// stackCache resolves stack ids of one stack map, each once.
type stackCache struct {
	m    *ebpf.Map
	seen map[int32][]uint64
	buf  []uint64
}

func (c *stackCache) get(id int32) ([]uint64, bool) {
	if id < 0 {
		return nil, true
	}
	if s, ok := c.seen[id]; ok {
		return s, s != nil
	}
	if c.buf == nil {
		c.buf = make([]uint64, c.m.ValueSize()/8)
	}
	var s []uint64
	if err := c.m.Lookup(uint32(id), &c.buf); err == nil {
		n := 0
		for n < len(c.buf) && c.buf[n] != 0 {
			n++
		}
		s = append([]uint64(nil), c.buf[:n]...)
	}
	c.seen[id] = s
	return s, s != nil
}

// Read returns the aggregates counted so far, with their stacks resolved to
// addresses. With reset, what was read is cleared, counts and stacks
// together, so that the next Read shows only what was sampled since; stacks
// still referenced by a task blocked right now are kept.
//
// A sample taken between the clearing of the counts and that of the stacks
// can lose its stack: such a sample is returned with a nil stack.
func (p *Profiler) Read(reset bool) ([]Sample, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	coll := p.Collection()
	if coll == nil || p.life.Closed() {
		return nil, errors.New("profiler not started")
	}
	type skey = profileSampleKey
	agg := map[skey]*Sample{}
	var order []skey
	users := &stackCache{m: coll.Maps[profileMapUserStacks], seen: map[int32][]uint64{}}
	kernels := &stackCache{m: coll.Maps[profileMapKernelStacks], seen: map[int32][]uint64{}}
	for _, m := range []struct {
		name string
		on   bool
	}{{profileMapOncpu, true}, {profileMapOffcpu, false}} {
		mp := coll.Maps[m.name]
		var (
			keys []skey
			k    skey
			v    uint64
		)
		it := mp.Iterate()
		for it.Next(&k, &v) {
			keys = append(keys, k)
		}
		if err := it.Err(); err != nil {
			return nil, fmt.Errorf("reading %s: %w", m.name, err)
		}
		for _, k := range keys {
			var err error
			if reset {
				err = mp.LookupAndDelete(&k, &v)
			} else {
				err = mp.Lookup(&k, &v)
			}
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", m.name, err)
			}
			s := agg[k]
			if s == nil {
				s = &Sample{PID: k.Pid, Comm: commString(k.Comm[:])}
				s.User, _ = users.get(k.Ustack)
				s.Kernel, _ = kernels.get(k.Kstack)
				agg[k] = s
				order = append(order, k)
			}
			if m.on {
				s.OnCPU += v
			} else {
				s.OffCPUNanos += v
			}
		}
	}
	// Tasks blocked right now: the time so far counts, so a long wait shows
	// in the reads it spans, not all in the one after it ends. With reset,
	// the counted part is consumed by moving the wait's start to now.
	if m := coll.Maps[profileMapStarts]; m != nil {
		var (
			tid uint32
			b   profileBlocked
			ts  unix.Timespec
		)
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err == nil {
			now := uint64(ts.Nano()) // bpf_ktime_get_ns's clock
			type wait struct {
				tid uint32
				b   profileBlocked
			}
			var waits []wait
			it := m.Iterate()
			for it.Next(&tid, &b) {
				waits = append(waits, wait{tid, b})
			}
			for _, w := range waits {
				if w.b.Ts >= now {
					continue
				}
				if reset {
					nb := w.b
					nb.Ts = now
					// The task woke meanwhile: its switch-in counted it all.
					if m.Update(w.tid, nb, ebpf.UpdateExist) != nil {
						continue
					}
				}
				s := agg[w.b.Key]
				if s == nil {
					s = &Sample{PID: w.b.Key.Pid, Comm: commString(w.b.Key.Comm[:])}
					s.User, _ = users.get(w.b.Key.Ustack)
					s.Kernel, _ = kernels.get(w.b.Key.Kstack)
					agg[w.b.Key] = s
					order = append(order, w.b.Key)
				}
				s.OffCPUNanos += now - w.b.Ts
			}
		}
	}
	out := make([]Sample, 0, len(order))
	for _, k := range order {
		out = append(out, *agg[k])
	}
	if reset {
		if err := p.clearStacks(coll); err != nil {
			return out, err
		}
	}
	return out, nil
}

// clearStacks empties the stack maps but for the stacks of blocked tasks.
func (p *Profiler) clearStacks(coll *ebpf.Collection) error {
	keepU, keepK := map[int32]bool{}, map[int32]bool{}
	if m := coll.Maps[profileMapStarts]; m != nil {
		var (
			tid uint32
			b   profileBlocked
		)
		it := m.Iterate()
		for it.Next(&tid, &b) {
			keepU[b.Key.Ustack], keepK[b.Key.Kstack] = true, true
		}
	}
	for _, s := range []struct {
		m    *ebpf.Map
		keep map[int32]bool
	}{{coll.Maps[profileMapUserStacks], keepU}, {coll.Maps[profileMapKernelStacks], keepK}} {
		var ids []uint32
		var prev any // nil: the first key
		for {
			var id uint32
			if err := s.m.NextKey(prev, &id); err != nil {
				if errors.Is(err, ebpf.ErrKeyNotExist) {
					break
				}
				return fmt.Errorf("clearing stacks: %w", err)
			}
			if !s.keep[int32(id)] {
				ids = append(ids, id)
			}
			prev = id
		}
		for _, id := range ids {
			if err := s.m.Delete(id); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return fmt.Errorf("clearing stack %d: %w", id, err)
			}
		}
	}
	return nil
}

func commString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// Counters reads the kernel's counters.
func (p *Profiler) Counters() (Counters, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	coll := p.Collection()
	if coll == nil || p.life.Closed() {
		return Counters{}, errors.New("profiler not started")
	}
	return readCounters(coll.Maps[profileMapCounters])
}

func readCounters(m *ebpf.Map) (Counters, error) {
	var n [cMax]uint64
	for i := range n {
		var per []uint64
		if err := m.Lookup(uint32(i), &per); err != nil {
			return Counters{}, fmt.Errorf("reading counter %d: %w", i, err)
		}
		for _, v := range per {
			n[i] += v
		}
	}
	c := Counters{Samples: n[cSamples], Idle: n[cIdle], Filtered: n[cFiltered], Switches: n[cSwitches], Lost: map[string]uint64{}}
	for _, r := range lostReasons {
		c.Lost[r.reason] = n[r.idx]
	}
	return c, nil
}

// Describe implements metrics.Source.
func (p *Profiler) Describe() []*metrics.Desc { return []*metrics.Desc{descSamples, descLost} }

// Collect implements metrics.Source.
func (p *Profiler) Collect(e *metrics.Emitter) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	coll := p.Collection()
	if coll == nil || p.life.Closed() {
		return nil
	}
	c, err := readCounters(coll.Maps[profileMapCounters])
	if err != nil {
		return err
	}
	e.Counter(descSamples, float64(c.Samples))
	for _, r := range lostReasons {
		e.Counter(descLost, float64(c.Lost[r.reason]), r.reason)
	}
	return nil
}

// Close detaches the programs, closes the perf events and frees the maps.
// It is idempotent.
func (p *Profiler) Close() error {
	return p.life.Close(func() error {
		// Under the lock: a Read or Collect that began before Close ends
		// first, and the ones after see Closed.
		p.mu.Lock()
		errs := []error{p.links.Close()}
		for _, fd := range p.perfFDs {
			errs = append(errs, unix.Close(fd))
		}
		p.mu.Unlock()
		if p.procs != nil {
			errs = append(errs, p.procs.Close())
			<-p.procsDone
		}
		errs = append(errs, p.Tracer.Close())
		return errors.Join(errs...)
	})
}

// PIDs returns the processes with samples counted since the last Read
// with reset, reading only the maps' keys: cheap enough to call often, so
// that a process can be remembered for symbolization before it exits.
func (p *Profiler) PIDs() ([]uint32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	coll := p.Collection()
	if coll == nil || p.life.Closed() {
		return nil, errors.New("profiler not started")
	}
	seen := map[uint32]bool{}
	var out []uint32
	for _, name := range []string{profileMapOncpu, profileMapOffcpu} {
		m := coll.Maps[name]
		if m == nil {
			continue
		}
		var prev any // nil: the first key
		for {
			var k profileSampleKey
			if err := m.NextKey(prev, &k); err != nil {
				if errors.Is(err, ebpf.ErrKeyNotExist) {
					break
				}
				return out, fmt.Errorf("listing %s: %w", name, err)
			}
			if !seen[k.Pid] {
				seen[k.Pid] = true
				out = append(out, k.Pid)
			}
			prev = k
		}
	}
	return out, nil
}
