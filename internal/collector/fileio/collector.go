package fileio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/collector/dispatch"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
)

// Name is the collector's registry name.
const Name = "fileio"

// Metric families. Each is per process; sum() over pid gives the system's
// total, the "other" series included. start is the process's start time
// (start_ns in its events): a reused pid is another series.
var (
	descReadBytes = metrics.NewCounter("kscope_fileio_read_bytes_total",
		"Bytes read from regular files by read, pread64, readv, preadv and preadv2, per process.",
		"pid", "comm", "start")
	descWriteBytes = metrics.NewCounter("kscope_fileio_write_bytes_total",
		"Bytes written to regular files by write, pwrite64, writev, pwritev and pwritev2, per process.",
		"pid", "comm", "start")
	descReads = metrics.NewCounter("kscope_fileio_reads_total",
		"Successful read calls on regular files, per process.",
		"pid", "comm", "start")
	descWrites = metrics.NewCounter("kscope_fileio_writes_total",
		"Successful write calls on regular files, per process.",
		"pid", "comm", "start")
	descOpens = metrics.NewCounter("kscope_fileio_opens_total",
		"Successful open, openat and openat2 calls, whatever they opened, per process.",
		"pid", "comm", "start")
	descOpenErrors = metrics.NewCounter("kscope_fileio_open_errors_total",
		"Failed open, openat and openat2 calls per process and errno.",
		"pid", "comm", "errno", "start")
)

// The read and write variants Start chooses from, best first, by their
// name for bpfx.ChooseHook (and bpfx.ForceHook in tests).
const (
	variantDispatch     = dispatch.Kind // regular files, in the shared dispatcher's slots
	variantRegularFiles = "regular_files"
	variantAnyFD        = "any_fd"
)

// Test knobs: map sizes; zero keeps the compiled ones.
var procsEntries, exitedEntries, errsEntries uint32

// Collector aggregates file I/O per process in the kernel.
type Collector struct {
	*collector.Tracer
	log *slog.Logger

	mu         sync.Mutex // serializes Collect and Close
	anyFD      bool       // reads and writes on every kind of fd count
	variant    string
	exits      *dispatch.Ref // the dispatcher's sys_exit, in the dispatch variant
	procTop    *metrics.TopK
	errTop     *metrics.TopK
	orphanErrs uint64 // open errors whose process's counters went to overflow
	life       collector.Lifecycle

	pkeys []uint32
	pvals []fileioProcIo
	xkeys []fileioExitedKey
	xvals []fileioProcIo
	ekeys []fileioErrKey
	evals []uint64
}

// New returns a fileio collector; Start loads and attaches it.
func New(cfg collector.Config) (collector.Collector, error) {
	cfg.RingBytes = 4096 // metrics only: the shared ring buffer stays unused
	return &Collector{
		Tracer:  collector.NewTracer(Name, cfg),
		log:     cfg.Logger,
		procTop: newTopK(cfg),
		errTop:  newTopK(cfg),
	}, nil
}

// Name implements collector.Collector.
func (c *Collector) Name() string { return Name }

// checkedProgs count reads and writes on regular files only; anyFDProgs,
// the fallback, on every fd.
var (
	checkedProgs = []string{
		fileioProgExitRead, fileioProgExitPread64, fileioProgExitReadv, fileioProgExitPreadv, fileioProgExitPreadv2,
		fileioProgExitWrite, fileioProgExitPwrite64, fileioProgExitWritev, fileioProgExitPwritev, fileioProgExitPwritev2,
	}
	anyFDProgs = []string{
		fileioProgExitReadAnyfd, fileioProgExitPread64Anyfd, fileioProgExitReadvAnyfd, fileioProgExitPreadvAnyfd, fileioProgExitPreadv2Anyfd,
		fileioProgExitWriteAnyfd, fileioProgExitPwrite64Anyfd, fileioProgExitWritevAnyfd, fileioProgExitPwritevAnyfd, fileioProgExitPwritev2Anyfd,
	}
	openProgs = []string{fileioProgExitOpen, fileioProgExitOpenat, fileioProgExitOpenat2}
)

// dispatchSlot is a dispatcher's sys_exit slot (a syscall number of the
// architecture kscope is built for) and the program it takes.
type dispatchSlot struct {
	nr   uint32
	prog string
}

// dispatchSlots are the slots of the dispatch variant: the syscalls every
// architecture has, and open where there is one (archSlots).
var dispatchSlots = append([]dispatchSlot{
	{unix.SYS_READ, fileioProgRawExitRead},
	{unix.SYS_PREAD64, fileioProgRawExitPread64},
	{unix.SYS_READV, fileioProgRawExitReadv},
	{unix.SYS_PREADV, fileioProgRawExitPreadv},
	{unix.SYS_PREADV2, fileioProgRawExitPreadv2},
	{unix.SYS_WRITE, fileioProgRawExitWrite},
	{unix.SYS_PWRITE64, fileioProgRawExitPwrite64},
	{unix.SYS_WRITEV, fileioProgRawExitWritev},
	{unix.SYS_PWRITEV, fileioProgRawExitPwritev},
	{unix.SYS_PWRITEV2, fileioProgRawExitPwritev2},
	{unix.SYS_OPENAT, fileioProgRawExitOpen},
	{unix.SYS_OPENAT2, fileioProgRawExitOpen},
}, archSlots...)

// Start loads the programs and attaches them; the collector emits no events.
func (c *Collector) Start(_ context.Context, _ event.Sink) error {
	if err := c.life.Start(Name); err != nil {
		return err
	}
	spec, err := loadFileio()
	if err != nil {
		return err
	}
	// Telling a regular file from the fd at syscall exit needs the saved
	// user registers (bpf_task_pt_regs, 5.15+) and the task's BTF pointer
	// (bpf_get_current_task_btf, 5.11+). Where the dispatcher runs (it
	// needs the same), the handlers take its slots; one tracepoint per
	// syscall otherwise.
	variant, err := bpfx.ChooseHook(c.log, Name,
		bpfx.Hook{Kind: variantDispatch, Why: dispatch.Why},
		bpfx.Hook{Kind: variantRegularFiles, What: "one tracepoint per syscall, not the shared dispatcher's slots", Why: func() error {
			regs := bpfx.TaskPtRegs()
			task := features.HaveProgramHelper(ebpf.TracePoint, asm.FnGetCurrentTaskBtf)
			if regs != nil || task != nil {
				return fmt.Errorf("%v; bpf_get_current_task_btf: %v", regs, task)
			}
			return nil
		}},
		bpfx.Hook{Kind: variantAnyFD, What: "reads and writes counted on every kind of fd, not only regular files"})
	if err != nil {
		return err
	}
	c.variant = variant
	c.anyFD = variant == variantAnyFD
	var drop []string
	switch variant {
	case variantDispatch:
		drop = append(append(append(drop, checkedProgs...), anyFDProgs...), openProgs...)
	case variantRegularFiles:
		drop = anyFDProgs
	default:
		drop = checkedProgs
	}
	if variant != variantDispatch {
		for _, sl := range dispatchSlots {
			drop = append(drop, sl.prog)
		}
	}
	for _, p := range drop {
		delete(spec.Programs, p)
	}
	// openat is everywhere; open is missing on arm64 and other new
	// architectures, openat2 before 5.6.
	c.Optional = map[string]bool{fileioProgExitOpen: true, fileioProgExitOpenat2: true}
	for m, n := range map[string]uint32{fileioMapProcs: procsEntries, fileioMapExited: exitedEntries, fileioMapErrs: errsEntries} {
		if n > 0 {
			spec.Maps[m].MaxEntries = n
		}
	}
	if err := c.Load(spec); err != nil {
		return err
	}
	if variant != variantDispatch {
		return c.AttachAll(spec)
	}
	// The sched tracepoints through the Tracer, the handlers into the
	// dispatcher's slots.
	tps := *spec
	tps.Programs = map[string]*ebpf.ProgramSpec{}
	for name, ps := range spec.Programs {
		if ps.SectionName != "raw_tracepoint/sys_exit" {
			tps.Programs[name] = ps
		}
	}
	if err := c.AttachAll(&tps); err != nil {
		return err
	}
	ref, err := dispatch.Acquire(Name, dispatch.Exit)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.exits = ref
	c.mu.Unlock()
	for _, sl := range dispatchSlots {
		if err := ref.Put(sl.nr, c.Collection().Programs[sl.prog]); err != nil {
			return err
		}
	}
	return nil
}

// Close detaches and frees everything; it is idempotent.
func (c *Collector) Close() error {
	return c.life.Close(func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		var errs []error
		// The dispatcher's slots emptied before the programs go.
		if c.exits != nil {
			errs = append(errs, c.exits.Close())
		}
		return errors.Join(append(errs, c.Tracer.Close())...)
	})
}

// Describe implements metrics.Source.
func (c *Collector) Describe() []*metrics.Desc {
	return []*metrics.Desc{descReadBytes, descWriteBytes, descReads, descWrites, descOpens, descOpenErrors}
}

// ident is a process's identity: pids are reused, (tgid, start) are not.
type ident struct {
	tgid  uint32
	start uint64
}

func (id ident) key() string {
	return strconv.FormatUint(uint64(id.tgid), 10) + ":" + strconv.FormatUint(id.start, 10)
}

// Row values of the per-process families: the activity TopK ranks by
// (bytes and calls together), then what is emitted.
const (
	vActivity = iota
	vReadBytes
	vWriteBytes
	vReads
	vWrites
	vOpens
	vLen
)

// Collect implements metrics.Source: the K most active processes and
// "other" in each family. Processes that ended since the last collection
// are emitted one last time, then forgotten.
func (c *Collector) Collect(e *metrics.Emitter) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	coll := c.Collection()
	if coll == nil || c.life.Closed() {
		return nil
	}
	// Errors first: every error entry read then has its process in procs
	// or, if it ended meanwhile, in exited, both read after.
	var err error
	errsMap, procsMap, exitedMap := coll.Maps[fileioMapErrs], coll.Maps[fileioMapProcs], coll.Maps[fileioMapExited]
	if c.ekeys, c.evals, err = bpfx.Dump(errsMap, c.ekeys, c.evals); err != nil {
		return fmt.Errorf("reading open errors: %w", err)
	}
	if c.pkeys, c.pvals, err = bpfx.Dump(procsMap, c.pkeys, c.pvals); err != nil {
		return fmt.Errorf("reading process counters: %w", err)
	}
	if c.xkeys, c.xvals, err = bpfx.Dump(exitedMap, c.xkeys, c.xvals); err != nil {
		return fmt.Errorf("reading ended processes' counters: %w", err)
	}
	var over []fileioProcIo
	if err := coll.Maps[fileioMapOverflow].Lookup(uint32(0), &over); err != nil {
		return fmt.Errorf("reading overflow counters: %w", err)
	}

	// A process that ended between the two reads is in both: the exited
	// entry is the later one.
	procs := make(map[ident]*fileioProcIo, len(c.pkeys)+len(c.xkeys))
	for i, tgid := range c.pkeys {
		procs[ident{tgid, c.pvals[i].StartNs}] = &c.pvals[i]
	}
	ended := make(map[ident]bool, len(c.xkeys))
	for i, k := range c.xkeys {
		id := ident{k.Tgid, k.StartNs}
		procs[id] = &c.xvals[i]
		ended[id] = true
	}
	c.emitProcs(e, procs, ended, over)
	stale := c.emitErrors(e, procs, ended, over)

	// Forget ended processes: their last counts are out.
	if err := deleteKeys(exitedMap, c.xkeys); err != nil {
		return fmt.Errorf("deleting ended processes: %w", err)
	}
	if err := deleteKeys(errsMap, stale); err != nil {
		return fmt.Errorf("deleting ended processes' open errors: %w", err)
	}
	return nil
}

func (c *Collector) emitProcs(e *metrics.Emitter, procs map[ident]*fileioProcIo, ended map[ident]bool, over []fileioProcIo) {
	rows := make([]metrics.Row, 0, len(procs))
	for id, p := range procs {
		v := make([]float64, vLen)
		v[vReadBytes] = float64(p.ReadBytes)
		v[vWriteBytes] = float64(p.WriteBytes)
		v[vReads] = float64(p.Reads)
		v[vWrites] = float64(p.Writes)
		v[vOpens] = float64(p.Opens)
		v[vActivity] = v[vReadBytes] + v[vWriteBytes] + v[vReads] + v[vWrites] + v[vOpens]
		rows = append(rows, metrics.Row{
			Key:    id.key(),
			Labels: []string{strconv.FormatUint(uint64(id.tgid), 10), metrics.LabelString(p.Comm[:]), strconv.FormatUint(id.start, 10)},
			Values: v,
			Group:  commGroup(metrics.LabelString(p.Comm[:])),
			Live:   !ended[id],
		})
	}
	kept, other := c.procTop.Select(rows)
	for _, r := range kept {
		emitProc(e, r.Values, r.Labels...)
	}
	// Calls that found the per-process map full belong to "other" too.
	o := make([]float64, vLen)
	copy(o, other)
	for _, p := range over {
		o[vReadBytes] += float64(p.ReadBytes)
		o[vWriteBytes] += float64(p.WriteBytes)
		o[vReads] += float64(p.Reads)
		o[vWrites] += float64(p.Writes)
		o[vOpens] += float64(p.Opens)
	}
	if other != nil || o[vReadBytes]+o[vWriteBytes]+o[vReads]+o[vWrites]+o[vOpens] > 0 {
		emitProc(e, o, "other", "other", "")
	}
}

func emitProc(e *metrics.Emitter, v []float64, labels ...string) {
	e.Counter(descReadBytes, v[vReadBytes], labels...)
	e.Counter(descWriteBytes, v[vWriteBytes], labels...)
	e.Counter(descReads, v[vReads], labels...)
	e.Counter(descWrites, v[vWrites], labels...)
	e.Counter(descOpens, v[vOpens], labels...)
}

// emitErrors emits the open errors and returns the error entries to
// delete: those of ended processes, and those whose process is gone from
// both maps (its counters went to overflow when it ended), which count in
// "other" from now on.
func (c *Collector) emitErrors(e *metrics.Emitter, procs map[ident]*fileioProcIo, ended map[ident]bool, over []fileioProcIo) []fileioErrKey {
	var stale []fileioErrKey
	rows := make([]metrics.Row, 0, len(c.ekeys))
	for i, k := range c.ekeys {
		id := ident{k.Tgid, k.StartNs}
		p, ok := procs[id]
		if !ok {
			c.orphanErrs += c.evals[i]
			stale = append(stale, k)
			continue
		}
		if ended[id] {
			stale = append(stale, k)
		}
		errno := event.ErrnoName(-int64(k.Err))
		rows = append(rows, metrics.Row{
			Key:    id.key() + ":" + errno,
			Labels: []string{strconv.FormatUint(uint64(id.tgid), 10), metrics.LabelString(p.Comm[:]), errno, strconv.FormatUint(id.start, 10)},
			Values: []float64{float64(c.evals[i])},
			Group:  commGroup(metrics.LabelString(p.Comm[:]), errno),
			Live:   !ended[id],
		})
	}
	kept, other := c.errTop.Select(rows)
	for _, r := range kept {
		e.Counter(descOpenErrors, r.Values[0], r.Labels...)
	}
	o := float64(c.orphanErrs)
	if other != nil {
		o += other[0]
	}
	for _, p := range over {
		o += float64(p.OpenErrors)
	}
	if other != nil || o > 0 {
		e.Counter(descOpenErrors, o, "other", "other", "other", "")
	}
	return stale
}

// deleteKeys deletes keys from m: in one batch where the kernel can (5.6+).
func deleteKeys[K any](m *ebpf.Map, keys []K) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := m.BatchDelete(keys, nil)
	if err == nil || !errors.Is(err, ebpf.ErrNotSupported) && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return err
	}
	// One at a time: the kernel lacks batches, or a batch stopped at a
	// key someone else deleted.
	for _, k := range keys {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return err
		}
	}
	return nil
}

func newTopK(cfg collector.Config) *metrics.TopK {
	t := metrics.NewTopK(cfg.TopK)
	t.MinLive = cfg.MinLive
	return t
}

// commGroup is the per-command row of a process: nil (counts go to
// "other") while its command name is unknown.
func commGroup(comm string, more ...string) []string {
	if comm == "" {
		return nil
	}
	return append(append([]string{"", comm}, more...), "") // no pid, no start
}
