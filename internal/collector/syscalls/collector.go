package syscalls

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/collector/dispatch"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/syscallnames"
)

// Name is the collector's registry name.
const Name = "syscalls"

// An exited process's final counts are emitted by every Collect for
// exitedRetention after the first Collect that found it gone, and for at
// most maxExited processes (the oldest go first).
const (
	exitedRetention = 30 * time.Second
	maxExited       = 4096
)

var (
	descCalls = metrics.NewCounter("kscope_syscalls_total",
		"System calls made, by syscall, counted as they enter: calls still blocked and calls that never return (exit_group) included.",
		"syscall")
	descErrors = metrics.NewCounter("kscope_syscall_errors_total",
		"System calls that returned an error (-4095 to -1), by syscall and errno.",
		"syscall", "errno")
	descDuration = metrics.NewHistogram("kscope_syscall_duration_seconds",
		"Time from system call entry to return, by syscall.",
		"syscall")
	descProcCalls = metrics.NewCounter("kscope_process_syscalls_total",
		"System calls made by a process, by syscall, counted as they enter: the top-K pid and syscall pairs by recent calls among processes that lived across a collection interval, "+
			"then per command name (comm; no pid, no start) for the top-K command and syscall pairs of the rest, the remainder summed in the \"other\" series. "+
			"start is the process's start time (start_ns in its events): a reused pid is another series.",
		"pid", "comm", "syscall", "start")
	descProcErrors = metrics.NewCounter("kscope_process_syscall_errors_total",
		"System calls of a process that returned an error, by syscall, for the pid and syscall pairs of kscope_process_syscalls_total.",
		"pid", "comm", "syscall", "start")
	descDropped = metrics.NewCounter("kscope_syscalls_dropped_total",
		"Updates the syscalls collector's BPF programs dropped, by reason: the errno or per-process map was full, or a thread had no task storage.",
		"reason")
)

// The program variants Start chooses from, best first, by their name for
// bpfx.ChooseHook (and bpfx.ForceHook in tests).
const (
	variantDispatch    = dispatch.Kind // task storage, in the shared dispatcher's slots
	variantTaskStorage = "task_storage"
	variantHash        = "hash" // for kernels without task storage
)

// Test knob: mapSizes overrides max_entries.
var mapSizes map[string]uint32

// procsMapSize sizes the per-process hash, whose entries are (process,
// syscall) pairs, allocated as used: syscallsPerProc pairs for every live
// process of the host (processes) and for endedRoom processes that ended
// since the previous read (reported once more, then deleted), at most one
// per 64 KiB of memory (memBytes, 0: unknown), at least 16384.
func procsMapSize(processes uint32, memBytes uint64) uint32 {
	const (
		endedRoom       = 16384
		syscallsPerProc = 8
		minEntries      = 16384
	)
	n := (uint64(processes) + endedRoom) * syscallsPerProc
	if memBytes > 0 {
		n = min(n, memBytes/(64<<10))
	}
	return uint32(max(n, minEntries))
}

// Collector counts system calls in the kernel. It emits no events.
type Collector struct {
	*collector.Tracer
	cfg collector.Config

	mu     sync.Mutex
	iter   *link.Iter
	refs   []*dispatch.Ref // the dispatcher's hooks, in the dispatch variant
	life   collector.Lifecycle
	ncpu   int
	now    func() time.Time
	topK   *metrics.TopK
	procs  map[procKey]*procState
	gone   map[goneKey]*goneRow
	warned bool
	// Collects whose reads all overlapped moves of threads' cached counts:
	// they may have missed those counts, which the next one has.
	overlapped uint64
	// Called between the hash read and the iterator, by tests.
	afterHashRead func()
	// The kernel lacks lookup-and-delete on hash maps (before 5.14).
	noLookupAndDelete bool
	variant           string

	// Buffers reused by Collect.
	statKeys  []uint32
	stats     []syscallsSysStat
	errKeys   []syscallsErrnoKey
	errVals   []uint64
	procKeys  []syscallsProcKey
	procVals  []syscallsProcVal
	hash      map[procKey]syscallsProcVal
	pending   map[procKey][2]uint64
	alive     map[procID]string
	iterBuf   bytes.Buffer
	dropVals  []uint64
	seqVals   []uint64
	rows      []metrics.Row
	histSlots []uint64
}

// procID is a process: a pid reused by a later process is another procID.
type procID struct {
	tgid  uint32
	start uint64
}

type procKey struct {
	procID
	nr uint32
}

// procState is what Collect knows of one process and syscall.
type procState struct {
	row metrics.Row
	// Counts taken out of the kernel map when the process was found gone.
	baseCalls, baseErrors uint64
	exited                time.Time // zero while the process lives
	seen                  bool      // in the kernel map or caches this Collect
	lives                 int       // Collects that found the process alive
}

// goneKey is a command name and syscall.
type goneKey struct {
	comm string
	nr   uint32
}

// goneRow holds, per command name and syscall, the counts of the processes
// that ended before they could get series of their own (seen alive at
// fewer than MinLive Collects): all TopK does with such a process's row is
// add its increases to its command's group, so one row per command and
// syscall does it for all of them, instead of one per process and syscall
// kept for exitedRetention. It is passed to TopK as long as an ended
// process's row would have been (exitedRetention after the last one), so
// the group keeps its members as long.
type goneRow struct {
	row  metrics.Row
	last time.Time // when a process was last folded in
}

// New returns a syscalls collector; Start loads and attaches it.
func New(cfg collector.Config) (collector.Collector, error) {
	// Metric-only: the shared ring buffer is never written.
	cfg.RingBytes = 4096
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.TopK <= 0 {
		cfg.TopK = collector.DefaultTopK
	}
	return &Collector{
		Tracer:  collector.NewTracer(Name, cfg),
		cfg:     cfg,
		now:     time.Now,
		topK:    newTopK(cfg),
		procs:   map[procKey]*procState{},
		gone:    map[goneKey]*goneRow{},
		hash:    map[procKey]syscallsProcVal{},
		alive:   map[procID]string{},
		pending: map[procKey][2]uint64{},
	}, nil
}

// Name implements collector.Collector.
func (c *Collector) Name() string { return Name }

// taskStorage reports whether the kernel has task local storage and
// bpf_get_current_task_btf (both Linux 5.11), or why not.
func taskStorage() error {
	if err := bpfx.TaskStorage(); err != nil {
		return err
	}
	if err := features.HaveProgramHelper(ebpf.RawTracepoint, asm.FnGetCurrentTaskBtf); err != nil {
		return fmt.Errorf("bpf_get_current_task_btf: %w", err)
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
	c.ncpu = ncpu
	spec, err := loadSyscalls()
	if err != nil {
		return err
	}
	spec.Maps[syscallsMapProcs].MaxEntries = procsMapSize(bpfx.ProcessMapSize("/proc"), bpfx.HostMemory("/proc"))
	for name, n := range mapSizes {
		spec.Maps[name].MaxEntries = n
	}
	// Task storage for the call in flight and the per-process count cache
	// where the kernel has it, run from the shared dispatcher's
	// every-syscall slots where it can; a hash keyed by thread id
	// otherwise.
	iter := syscallsProgDumpTasks
	variant, err := bpfx.ChooseHook(c.cfg.Logger, Name,
		bpfx.Hook{Kind: variantDispatch, Why: func() error {
			if err := taskStorage(); err != nil {
				return err
			}
			return dispatch.Why()
		}},
		bpfx.Hook{Kind: variantTaskStorage, Why: taskStorage, What: "own sys_enter and sys_exit programs, not the shared dispatcher's"},
		bpfx.Hook{Kind: variantHash, What: "entry times in a hash keyed by thread id, one per-process map update per call"})
	if err != nil {
		return err
	}
	c.variant = variant
	drop := []string{syscallsProgSysEnterDispatch, syscallsProgSysExitDispatch}
	switch variant {
	case variantDispatch:
		drop = []string{syscallsProgSysEnter, syscallsProgSysExit, syscallsProgSysEnterHash, syscallsProgSysExitHash, syscallsProgDumpAlive}
		delete(spec.Maps, syscallsMapPending)
	case variantTaskStorage:
		drop = append(drop, syscallsProgSysEnterHash, syscallsProgSysExitHash, syscallsProgDumpAlive)
		delete(spec.Maps, syscallsMapPending)
	default:
		drop = append(drop, syscallsProgSysEnter, syscallsProgSysExit, syscallsProgSchedProcessExit, syscallsProgDumpTasks)
		delete(spec.Maps, syscallsMapTasks)
		iter = syscallsProgDumpAlive
	}
	// Counting alone needs sys_enter only: no durations, no errors, and
	// about 100 ns less per syscall.
	if c.cfg.CountsOnly {
		drop = append(drop, syscallsProgSysExit, syscallsProgSysExitHash, syscallsProgSysExitDispatch)
	}
	for _, p := range drop {
		delete(spec.Programs, p)
	}
	// The dispatcher's hooks this variant fills the every-syscall slot of,
	// by program: their program arrays replace the object's own.
	slots := map[dispatch.Hook]string{}
	if variant == variantDispatch {
		slots[dispatch.Enter] = syscallsProgSysEnterDispatch
		if !c.cfg.CountsOnly {
			slots[dispatch.Exit] = syscallsProgSysExitDispatch
		}
		c.Replace = map[string]*ebpf.Map{}
		for _, h := range []dispatch.Hook{dispatch.Enter, dispatch.Exit} {
			if _, ok := slots[h]; !ok {
				delete(spec.Maps, h.MapName())
				continue
			}
			ref, err := dispatch.Acquire(Name, h)
			if err != nil {
				return err
			}
			c.refs = append(c.refs, ref)
			c.Replace[h.MapName()] = ref.Map()
		}
	} else {
		delete(spec.Maps, dispatch.Enter.MapName())
		delete(spec.Maps, dispatch.Exit.MapName())
	}
	if err := c.Load(spec); err != nil {
		return err
	}
	// The tracepoints through the Tracer, the dispatcher's slots and the
	// iterator here.
	tps := *spec
	tps.Programs = map[string]*ebpf.ProgramSpec{}
	for name, ps := range spec.Programs {
		if strings.HasPrefix(ps.SectionName, "raw_tracepoint/") && name != slots[dispatch.Enter] && name != slots[dispatch.Exit] {
			tps.Programs[name] = ps
		}
	}
	if err := c.AttachAll(&tps); err != nil {
		return err
	}
	for _, ref := range c.refs {
		if err := ref.Put(dispatch.Every, c.Collection().Programs[slots[ref.Hook()]]); err != nil {
			return err
		}
	}
	it, err := link.AttachIter(link.IterOptions{Program: c.Collection().Programs[iter]})
	if err != nil {
		return fmt.Errorf("attaching the task iterator: %w", err)
	}
	c.iter = it

	n := nrSlots + 1
	c.statKeys = make([]uint32, n)
	c.stats = make([]syscallsSysStat, n*ncpu)
	c.errKeys = make([]syscallsErrnoKey, 256)
	c.errVals = make([]uint64, len(c.errKeys)*ncpu)
	c.procKeys = make([]syscallsProcKey, 1024)
	c.procVals = make([]syscallsProcVal, len(c.procKeys))
	c.dropVals = make([]uint64, ncpu)
	c.histSlots = make([]uint64, latLo+len(syscallsSysStat{}.Slots))
	return nil
}

// Close detaches the programs and frees them. It is idempotent.
func (c *Collector) Close() error {
	return c.life.Close(func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		var errs []error
		if c.iter != nil {
			errs = append(errs, c.iter.Close())
		}
		// The dispatcher's slots emptied before the programs go.
		for _, ref := range c.refs {
			errs = append(errs, ref.Close())
		}
		errs = append(errs, c.Tracer.Close())
		return errors.Join(errs...)
	})
}

// Describe implements metrics.Source.
func (c *Collector) Describe() []*metrics.Desc {
	return []*metrics.Desc{descCalls, descErrors, descDuration, descProcCalls, descProcErrors, descDropped}
}

// Collect implements metrics.Source: it reads the kernel maps and emits
// cumulative values.
func (c *Collector) Collect(e *metrics.Emitter) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.life.Running() || c.Collection() == nil {
		return errors.New("syscalls: collector not running")
	}
	maps := c.Collection().Maps
	if err := c.collectSyscalls(e, maps[syscallsMapSysStats]); err != nil {
		return err
	}
	if err := c.collectErrnos(e, maps[syscallsMapErrnos]); err != nil {
		return err
	}
	if err := c.collectProcs(e, maps[syscallsMapProcs]); err != nil {
		return err
	}
	for i, reason := range dropReasons {
		if err := maps[syscallsMapDrops].Lookup(uint32(i), c.dropVals); err != nil {
			return fmt.Errorf("reading drops: %w", err)
		}
		e.Counter(descDropped, float64(sum(c.dropVals)), reason)
	}
	return nil
}

func sum(vs []uint64) (n uint64) {
	for _, v := range vs {
		n += v
	}
	return n
}

// readAll reads every entry of m in batches of len(keys), calling fn with
// each key and its values: one per CPU for a per-CPU map, so vals holds
// len(keys)*per values.
func readAll[K, V any](m *ebpf.Map, keys []K, vals []V, per int, fn func(*K, []V)) error {
	var cursor ebpf.MapBatchCursor
	for {
		n, err := m.BatchLookup(&cursor, keys, vals, nil)
		for i := 0; i < n; i++ {
			fn(&keys[i], vals[i*per:(i+1)*per])
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) || err == nil && n == 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (c *Collector) collectSyscalls(e *metrics.Emitter, m *ebpf.Map) error {
	n := len(c.statKeys)
	var cursor ebpf.MapBatchCursor
	if _, err := m.BatchLookup(&cursor, c.statKeys, c.stats, nil); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("reading syscall counters: %w", err)
	}
	for idx := 0; idx < n; idx++ {
		var calls, total, sumNs uint64
		clear(c.histSlots)
		for _, s := range c.stats[idx*c.ncpu : (idx+1)*c.ncpu] {
			calls += s.Calls
			sumNs += s.SumNs
			for i, v := range s.Slots {
				c.histSlots[latLo+i] += v
				total += v
			}
		}
		if calls == 0 && total == 0 {
			continue
		}
		name := syscallnames.Name(uint32(c.statKeys[idx]))
		e.Counter(descCalls, float64(calls), name)
		if total > 0 {
			e.Histogram(descDuration, metrics.Log2(c.histSlots, sumNs, 1e-9, metrics.LatencyLo, metrics.LatencyHi), name)
		}
	}
	return nil
}

func (c *Collector) collectErrnos(e *metrics.Emitter, m *ebpf.Map) error {
	err := readAll(m, c.errKeys, c.errVals, c.ncpu, func(k *syscallsErrnoKey, v []uint64) {
		e.Counter(descErrors, float64(sum(v)), syscallnames.Name(k.Nr), event.ErrnoName(-int64(k.Err)))
	})
	if err != nil {
		return fmt.Errorf("reading errno counters: %w", err)
	}
	return nil
}

// collectProcs emits the per-process families. Its counts come from three
// places: the per-process hash, the slots of the threads' task storage not
// flushed to it yet (through the task iterator, which also lists the live
// processes), and the counts of processes found gone, which are taken out
// of the hash. Reading the hash before the caches only ever misses counts
// moving between them at that moment, never counts them twice; emitted
// values never decrease.
func (c *Collector) collectProcs(e *metrics.Emitter, m *ebpf.Map) error {
	now := c.now()
	if err := c.readProcs(m); err != nil {
		return err
	}
	if !c.warned && len(c.alive) > 0 {
		c.warned = true
		if _, ok := c.alive[c.self()]; !ok {
			c.cfg.Logger.Warn("the task iterator does not list this process: per-process syscall counts need the host pid namespace")
		}
	}
	for _, s := range c.procs {
		s.seen = false
	}
	for k, v := range c.hash {
		calls, errs := v.Calls, v.Errors
		comm, live := c.alive[k.procID]
		if live {
			p := c.pending[k]
			calls += p[0]
			errs += p[1]
			delete(c.pending, k)
		} else {
			// Gone: nothing adds to the entry any more (but its last
			// thread's exit flush, which may have come after the read).
			// Take its final value out of the map (and, while the process
			// never lived long enough to get series of its own, into its
			// command's row).
			key := syscallsProcKey{Tgid: k.tgid, Nr: k.nr, StartNs: k.start}
			fin, err := c.takeOut(m, &key)
			if err != nil {
				return err
			}
			if fin != nil {
				v = *fin
				calls, errs = fin.Calls, fin.Errors
			}
			comm = metrics.LabelString(v.Comm[:])
			if s := c.procs[k]; c.foldable(s) {
				c.fold(k, s, comm, calls, errs, now)
				continue
			}
		}
		s := c.state(k, comm)
		if !live {
			s.baseCalls += calls
			s.baseErrors += errs
			calls, errs = 0, 0
			if s.exited.IsZero() {
				s.exited = now
			}
		}
		s.update(s.baseCalls+calls, s.baseErrors+errs)
	}
	// Counts only in the caches: processes whose threads have not flushed yet.
	for k, p := range c.pending {
		s := c.state(k, c.alive[k.procID])
		s.update(s.baseCalls+p[0], s.baseErrors+p[1])
	}
	// Processes gone since their entries were taken out: keep their final
	// counts for a while.
	exited := 0
	for k, s := range c.procs {
		if s.seen {
			continue
		}
		if _, live := c.alive[k.procID]; !live && s.exited.IsZero() {
			if c.foldable(s) {
				c.fold(k, s, s.row.Labels[1], 0, 0, now)
				continue
			}
			s.exited = now
		}
		if !s.exited.IsZero() {
			if now.Sub(s.exited) > exitedRetention {
				delete(c.procs, k)
				continue
			}
			exited++
		}
	}
	if exited > maxExited {
		c.dropOldestExited(exited - maxExited)
	}

	for k, g := range c.gone {
		if now.Sub(g.last) > exitedRetention {
			delete(c.gone, k)
		}
	}

	c.rows = shrink(c.rows[:0], len(c.procs)+len(c.gone))
	for k, s := range c.procs {
		_, s.row.Live = c.alive[k.procID]
		if s.row.Live {
			s.lives++
		}
		c.rows = append(c.rows, s.row)
	}
	for _, g := range c.gone {
		c.rows = append(c.rows, g.row)
	}
	kept, other := c.topK.Select(c.rows)
	if len(c.gone) > maxExited {
		c.dropOldestGone(len(c.gone) - maxExited)
	}
	for _, r := range kept {
		e.Counter(descProcCalls, r.Values[0], r.Labels...)
		e.Counter(descProcErrors, r.Values[1], r.Labels...)
	}
	if other != nil {
		e.Counter(descProcCalls, other[0], "other", "other", "other", "")
		e.Counter(descProcErrors, other[1], "other", "other", "other", "")
	}
	return nil
}

// takeOut returns the value of key and deletes it from m, in one call
// where the kernel can (Linux 5.14), so that nothing added in between is
// lost; nil if it is not there.
func (c *Collector) takeOut(m *ebpf.Map, key *syscallsProcKey) (*syscallsProcVal, error) {
	var v syscallsProcVal
	if !c.noLookupAndDelete {
		err := m.LookupAndDelete(key, &v)
		switch {
		case err == nil:
			return &v, nil
		case errors.Is(err, ebpf.ErrKeyNotExist):
			return nil, nil
		case errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.EINVAL):
			c.noLookupAndDelete = true
		default:
			return nil, fmt.Errorf("taking an exited process's counters out: %w", err)
		}
	}
	found := m.Lookup(key, &v) == nil
	if err := m.Delete(key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil, fmt.Errorf("deleting an exited process's counters: %w", err)
	}
	if !found {
		return nil, nil
	}
	return &v, nil
}

// maxReads bounds how many times readProcs reads while moves of cached
// counts overlap its reads; the counts a last overlapped read misses are in
// the next.
const maxReads = 8

// readProcs reads the per-process hash into c.hash, then the live processes
// and the counts cached in their threads into c.alive and c.pending, again
// while a move of a thread's cached counts to the hash (its exit flush, or
// a slot another syscall evicted) began before the read ended and was not
// done before it started: such a move could empty a cache after the hash
// was read and before the iterator reached it.
func (c *Collector) readProcs(m *ebpf.Map) error {
	for try := 1; ; try++ {
		// Done before begun: equal, no move was running when begun was read.
		done, err := c.flushSeq(seqDone)
		if err != nil {
			return err
		}
		begun, err := c.flushSeq(seqBegun)
		if err != nil {
			return err
		}
		// A burst of ended processes grows the map; clear keeps its size.
		if len(c.hash) > 4096 {
			c.hash = make(map[procKey]syscallsProcVal, 1024)
		}
		clear(c.hash)
		clear(c.pending)
		clear(c.alive)
		err = readAll(m, c.procKeys, c.procVals, 1, func(k *syscallsProcKey, v []syscallsProcVal) {
			c.hash[procKey{procID{k.Tgid, k.StartNs}, k.Nr}] = v[0]
		})
		if err != nil {
			return fmt.Errorf("reading per-process counters: %w", err)
		}
		if c.afterHashRead != nil {
			c.afterHashRead()
		}
		if err := c.readIter(); err != nil {
			return err
		}
		after, err := c.flushSeq(seqBegun)
		if err != nil {
			return err
		}
		if done == begun && begun == after {
			return nil
		}
		if try == maxReads {
			c.overlapped++
			return nil
		}
	}
}

// flushSeq sums flush_seq's per-CPU counts at i.
func (c *Collector) flushSeq(i uint32) (uint64, error) {
	if err := c.Collection().Maps[syscallsMapFlushSeq].Lookup(i, &c.seqVals); err != nil {
		return 0, fmt.Errorf("reading the cached counts' move count: %w", err)
	}
	var n uint64
	for _, v := range c.seqVals {
		n += v
	}
	return n, nil
}

// self is this process as the iterator reports it.
func (c *Collector) self() procID {
	for id := range c.alive {
		if id.tgid == uint32(os.Getpid()) {
			return id
		}
	}
	return procID{}
}

// readIter runs the task iterator: c.alive gets the live processes, and
// c.pending the counts their threads have cached.
func (c *Collector) readIter() error {
	rd, err := c.iter.Open()
	if err != nil {
		return fmt.Errorf("opening the task iterator: %w", err)
	}
	c.iterBuf.Reset()
	_, err = c.iterBuf.ReadFrom(rd)
	if cerr := rd.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("reading the task iterator: %w", err)
	}
	return decodeRecords(c.iterBuf.Bytes(), func(r *syscallsProcRec) {
		id := procID{r.Tgid, r.StartNs}
		if r.Nr == recAlive {
			c.alive[id] = metrics.LabelString(r.Comm[:])
			return
		}
		k := procKey{id, r.Nr}
		p := c.pending[k]
		p[0] += r.Calls
		p[1] += r.Errors
		c.pending[k] = p
	})
}

// state returns the state of k, made on first sight, with comm as its label.
func (c *Collector) state(k procKey, comm string) *procState {
	s, ok := c.procs[k]
	if !ok {
		pid := strconv.FormatUint(uint64(k.tgid), 10)
		s = &procState{row: metrics.Row{
			Key:    pid + "/" + strconv.FormatUint(k.start, 10) + "/" + strconv.FormatUint(uint64(k.nr), 10),
			Labels: []string{pid, comm, syscallnames.Name(k.nr), strconv.FormatUint(k.start, 10)},
			Values: make([]float64, 2),
			Group:  commGroup(comm, syscallnames.Name(k.nr)),
		}}
		c.procs[k] = s
	}
	if comm != "" && s.row.Labels[1] != comm {
		// A new slice: TopK may hold on to the old row's labels.
		s.row.Labels = []string{s.row.Labels[0], comm, s.row.Labels[2], s.row.Labels[3]}
		s.row.Group = commGroup(comm, s.row.Labels[2])
	}
	s.seen = true
	return s
}

// update raises the emitted values to calls and errors; they never decrease.
func (s *procState) update(calls, errors uint64) {
	s.row.Values[0] = max(s.row.Values[0], float64(calls))
	s.row.Values[1] = max(s.row.Values[1], float64(errors))
}

func (c *Collector) dropOldestExited(n int) {
	var ks []procKey
	for k, s := range c.procs {
		if !s.exited.IsZero() && !s.seen {
			ks = append(ks, k)
		}
	}
	sort.Slice(ks, func(i, j int) bool { return c.procs[ks[i]].exited.Before(c.procs[ks[j]].exited) })
	for _, k := range ks[:min(n, len(ks))] {
		delete(c.procs, k)
	}
}

// foldable says whether the counts of s, a process found gone, may go to
// its command's row: whether it can never get series of its own. It never
// can once gone if TopK has not seen it alive at MinLive Selects (nil: at
// none). With MinLive 0 or 1 every process keeps its own row.
func (c *Collector) foldable(s *procState) bool {
	if c.topK.MinLive <= 1 {
		return false
	}
	return s == nil || s.lives < c.topK.MinLive
}

// fold moves the process's row k (s, nil if it had none yet) to its
// command's: the increase of its totals (its counts found in the kernel
// map now, calls and errs, added to those taken out before) over what its
// row reported goes to that row, and its own row is forgotten.
func (c *Collector) fold(k procKey, s *procState, comm string, calls, errs uint64, now time.Time) {
	dc, de := float64(calls), float64(errs)
	if s != nil {
		dc = max(0, float64(s.baseCalls+calls)-s.row.Values[0])
		de = max(0, float64(s.baseErrors+errs)-s.row.Values[1])
		delete(c.procs, k)
	}
	gk := goneKey{comm, k.nr}
	g, ok := c.gone[gk]
	if !ok {
		name := syscallnames.Name(k.nr)
		g = &goneRow{row: metrics.Row{
			// Never a process's key: those start with a digit.
			Key:    "gone/" + comm + "/" + strconv.FormatUint(uint64(k.nr), 10),
			Labels: []string{"", comm, name, ""},
			Values: make([]float64, 2),
			Group:  commGroup(comm, name),
		}}
		c.gone[gk] = g
	}
	g.row.Values[0] += dc
	g.row.Values[1] += de
	g.last = now
}

func (c *Collector) dropOldestGone(n int) {
	ks := make([]goneKey, 0, len(c.gone))
	for k := range c.gone {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return c.gone[ks[i]].last.Before(c.gone[ks[j]].last) })
	for _, k := range ks[:n] {
		delete(c.gone, k)
	}
}

// shrink returns s, or a smaller slice when s has room for many more than
// want elements: a burst of processes does not keep its buffers for good.
func shrink[T any](s []T, want int) []T {
	if cap(s) > 1024 && cap(s) > 4*want {
		return make([]T, 0, 2*want)
	}
	return s
}

func newTopK(cfg collector.Config) *metrics.TopK {
	t := metrics.NewTopK(cfg.TopK)
	t.MinLive = cfg.MinLive
	return t
}

// commGroup is the per-command row of a process's syscall: nil (counts go
// to "other") while its command name is unknown.
func commGroup(comm, syscall string) []string {
	if comm == "" {
		return nil
	}
	return []string{"", comm, syscall, ""}
}
