package block

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
)

// Name is the collector's registry name.
const Name = "block"

// Metric families.
var (
	descDuration = metrics.NewHistogram("kscope_block_io_duration_seconds",
		"Block I/O request latency from issue to the driver to completion, per disk and operation.",
		"device", "op")
	descQueue = metrics.NewHistogram("kscope_block_io_queue_duration_seconds",
		"Time block I/O requests spent from allocation to issue to the driver (plug, I/O scheduler, dispatch), per disk and operation; requests the kernel does not timestamp at allocation are left out.",
		"device", "op")
	descBytes = metrics.NewCounter("kscope_block_io_bytes_total",
		"Bytes of completed block I/O requests, as issued, per disk and operation.",
		"device", "op")
	descOps = metrics.NewCounter("kscope_block_io_operations_total",
		"Completed block I/O requests per disk and operation.",
		"device", "op")
	descErrors = metrics.NewCounter("kscope_block_io_errors_total",
		"Block I/O requests completed with an error, per disk, operation and the errno the kernel maps the block status to.",
		"device", "op", "errno")
)

// opNames are the op label values, indexed by the kernel's enum io_op.
var opNames = [...]string{"read", "write", "flush", "discard", "other"}

func opName(op uint32) string {
	if int(op) < len(opNames) {
		return opNames[op]
	}
	return "other"
}

// Pending requests idle for longer than staleAfter are taken to have
// completed unseen and are dropped, at most once per pruneEvery.
const (
	staleAfter = 10 * time.Minute
	pruneEvery = time.Minute
)

// Test knob (bpfx.ForceHook forces the raw_tracepoint programs):
// inflightEntries is the pending-request map size; 0 keeps the compiled one.
var inflightEntries uint32

// Collector aggregates block I/O per disk and operation in the kernel.
type Collector struct {
	*collector.Tracer
	log *slog.Logger

	mu        sync.Mutex // serializes Collect and Close
	life      collector.Lifecycle
	links     bpfx.Links
	btf       bool // the tp_btf programs are loaded
	topk      *metrics.TopK
	names     *devNames
	lastPrune time.Time

	keys  []blockIoKey
	vals  []blockIoStats
	ekeys []blockErrKey
	evals []uint64
}

// New returns a block collector; Start loads and attaches it.
func New(cfg collector.Config) (collector.Collector, error) {
	cfg.RingBytes = 4096 // metrics only: the shared ring buffer stays unused
	return &Collector{
		Tracer: collector.NewTracer(Name, cfg),
		log:    cfg.Logger,
		topk:   metrics.NewTopK(cfg.TopK),
		names:  newDevNames("/sys", "/proc"),
	}, nil
}

// Name implements collector.Collector.
func (c *Collector) Name() string { return Name }

// Start loads the programs and attaches them; the collector emits no events.
// The tp_btf programs are used where the block tracepoints take the request
// as their first argument; otherwise, or when they fail to load, the
// raw_tracepoint ones with the request's position read from the kernel's BTF.
func (c *Collector) Start(_ context.Context, _ event.Sink) error {
	if err := c.life.Start(Name); err != nil {
		return err
	}
	rqArg, rqErr := requestArg()
	if rqErr != nil {
		rqArg = 0
	}
	hook, err := bpfx.ChooseHook(c.log, Name,
		bpfx.Hook{Kind: bpfx.FeatTpBTF, Why: func() error {
			switch {
			case rqErr != nil:
				return fmt.Errorf("reading the block tracepoints' prototypes: %w (request taken as the first argument)", rqErr)
			case rqArg != 0:
				return errors.New("the block tracepoints pass the request queue first (before Linux 5.11)")
			}
			_, err := c.load(true, 0)
			return err
		}},
		bpfx.Hook{Kind: bpfx.FeatRawTracepoint})
	if err != nil {
		return err
	}
	if hook == bpfx.FeatTpBTF {
		return c.attachBTF()
	}
	spec, err := c.load(false, rqArg)
	if err != nil {
		return err
	}
	return c.AttachAll(spec)
}

// load loads one variant of the programs and returns its spec.
func (c *Collector) load(useBTF bool, rqArg uint32) (*ebpf.CollectionSpec, error) {
	spec, err := loadBlock()
	if err != nil {
		return nil, err
	}
	drop := []string{blockProgBtfRqIssue, blockProgBtfRqComplete}
	if useBTF {
		drop = []string{blockProgRawRqIssue, blockProgRawRqComplete}
	}
	for _, p := range drop {
		delete(spec.Programs, p)
	}
	if err := spec.Variables[blockVarRqArg].Set(rqArg); err != nil {
		return nil, fmt.Errorf("setting rq_arg: %w", err)
	}
	if inflightEntries > 0 {
		spec.Maps[blockMapInflight].MaxEntries = inflightEntries
	}
	if err := c.Load(spec); err != nil {
		return nil, err
	}
	c.btf = useBTF
	return spec, nil
}

func (c *Collector) attachBTF() error {
	coll := c.Collection()
	for _, name := range []string{blockProgBtfRqIssue, blockProgBtfRqComplete} {
		l, err := link.AttachTracing(link.TracingOptions{Program: coll.Programs[name], AttachType: ebpf.AttachTraceRawTp})
		if err != nil {
			return fmt.Errorf("attaching %s: %w", name, err)
		}
		c.links.Add(l)
	}
	return nil
}

// requestArg returns the position of the struct request pointer among the
// arguments of block_rq_issue and block_rq_complete, from the typedefs the
// kernel's BTF has for every tracepoint (btf_trace_<name>, whose first
// parameter is the tracepoint's own data pointer).
func requestArg() (uint32, error) {
	spec, err := bpfx.KernelTypes()
	if err != nil {
		return 0, err
	}
	pos := -1
	for _, tp := range []string{"block_rq_issue", "block_rq_complete"} {
		var td *btf.Typedef
		if err := spec.TypeByName("btf_trace_"+tp, &td); err != nil {
			return 0, err
		}
		ptr, ok := td.Type.(*btf.Pointer)
		if !ok {
			return 0, fmt.Errorf("btf_trace_%s: %s is no function pointer", tp, td.Type)
		}
		fp, ok := ptr.Target.(*btf.FuncProto)
		if !ok || len(fp.Params) < 2 {
			return 0, fmt.Errorf("btf_trace_%s: %s is no tracepoint prototype", tp, ptr.Target)
		}
		i := requestParam(fp.Params[1:])
		if i < 0 || i > 1 || (pos >= 0 && i != pos) {
			return 0, fmt.Errorf("btf_trace_%s: struct request * at argument %d", tp, i)
		}
		pos = i
	}
	return uint32(pos), nil
}

func requestParam(params []btf.FuncParam) int {
	for i, p := range params {
		ptr, ok := btf.UnderlyingType(p.Type).(*btf.Pointer)
		if !ok {
			continue
		}
		if s, ok := btf.UnderlyingType(ptr.Target).(*btf.Struct); ok && s.Name == "request" {
			return i
		}
	}
	return -1
}

// Close detaches and frees everything; it is idempotent.
func (c *Collector) Close() error {
	return c.life.Close(func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		return errors.Join(c.links.Close(), c.Tracer.Close())
	})
}

// Describe implements metrics.Source.
func (c *Collector) Describe() []*metrics.Desc {
	return []*metrics.Desc{descDuration, descQueue, descBytes, descOps, descErrors}
}

// Row values: completed requests (the activity TopK ranks by), bytes, the
// two duration sums, then the two histograms' slots.
const (
	vOps = iota
	vBytes
	vDurSum
	vQueueSum
	vDurSlots
	vQueueSlots = vDurSlots + ioSlots
	vLen        = vQueueSlots + ioSlots
)

// ioSlots is IO_SLOTS of the BPF program.
const ioSlots = len(blockIoStats{}.DurSlots)

// Collect implements metrics.Source: one series per disk and operation of
// the K disk-operation pairs with the most requests lately, and "other".
func (c *Collector) Collect(e *metrics.Emitter) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	coll := c.Collection()
	if coll == nil || c.life.Closed() {
		return nil
	}
	var err error
	c.keys, c.vals, err = bpfx.Dump(coll.Maps[blockMapIo], c.keys, c.vals)
	if err != nil {
		return fmt.Errorf("reading block I/O counters: %w", err)
	}
	// One row per (name, op): two device numbers with one name (a device
	// removed and added back) add up.
	rows := make([]metrics.Row, 0, len(c.keys))
	index := make(map[string]int, len(c.keys))
	for i, k := range c.keys {
		dev, op := c.names.name(k.Dev), opName(k.Op)
		key := dev + "/" + op
		j, ok := index[key]
		if !ok {
			j = len(rows)
			index[key] = j
			rows = append(rows, metrics.Row{Key: key, Labels: []string{dev, op}, Values: make([]float64, vLen)})
		}
		addStats(rows[j].Values, &c.vals[i])
	}
	kept, other := c.topk.Select(rows)
	for _, r := range kept {
		emitRow(e, r.Values, r.Labels...)
	}
	if other != nil {
		emitRow(e, other, "other", "other")
	}
	if err := c.collectErrors(e); err != nil {
		return err
	}
	c.prune(coll.Maps[blockMapInflight])
	return nil
}

func addStats(v []float64, s *blockIoStats) {
	v[vBytes] += float64(s.Bytes)
	v[vDurSum] += float64(s.DurSum)
	v[vQueueSum] += float64(s.QueueSum)
	for i := range ioSlots {
		v[vOps] += float64(s.DurSlots[i])
		v[vDurSlots+i] += float64(s.DurSlots[i])
		v[vQueueSlots+i] += float64(s.QueueSlots[i])
	}
}

func emitRow(e *metrics.Emitter, v []float64, labels ...string) {
	e.Counter(descOps, v[vOps], labels...)
	e.Counter(descBytes, v[vBytes], labels...)
	e.Histogram(descDuration, hist(v[vDurSlots:vDurSlots+ioSlots], v[vDurSum]), labels...)
	e.Histogram(descQueue, hist(v[vQueueSlots:vQueueSlots+ioSlots], v[vQueueSum]), labels...)
}

func hist(slots []float64, sum float64) metrics.HistogramValue {
	var s [ioSlots]uint64
	for i, c := range slots {
		s[i] = uint64(c)
	}
	return metrics.Log2(s[:], uint64(sum), 1e-9, metrics.LatencyLo, metrics.LatencyHi)
}

// collectErrors emits the error counters, bounded by the kernel map.
func (c *Collector) collectErrors(e *metrics.Emitter) error {
	var err error
	c.ekeys, c.evals, err = bpfx.Dump(c.Collection().Maps[blockMapErrs], c.ekeys, c.evals)
	if err != nil {
		return fmt.Errorf("reading block I/O errors: %w", err)
	}
	type labels struct{ dev, op, errno string }
	sums := make(map[labels]uint64, len(c.ekeys))
	for i, k := range c.ekeys {
		sums[labels{c.names.name(k.Dev), opName(uint32(k.Op)), statusName(k.Status)}] += c.evals[i]
	}
	for l, n := range sums {
		e.Counter(descErrors, float64(n), l.dev, l.op, l.errno)
	}
	return nil
}

// prune drops pending requests older than staleAfter: completions the
// kernel ended without the tracepoint would otherwise hold their entries
// until the same request is issued again.
func (c *Collector) prune(m *ebpf.Map) {
	now := time.Now()
	if now.Sub(c.lastPrune) < pruneEvery {
		return
	}
	c.lastPrune = now
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return
	}
	mono := uint64(ts.Nano())
	keys, vals, err := bpfx.Dump[uint64, blockPending](m, nil, nil)
	if err != nil {
		c.log.Debug("reading pending requests", "err", err)
		return
	}
	var stale []uint64
	for i, v := range vals {
		if v.IssueNs+uint64(staleAfter) < mono {
			stale = append(stale, keys[i])
		}
	}
	for _, k := range stale {
		m.Delete(k)
	}
	if len(stale) > 0 {
		c.log.Debug("dropped stale pending requests", "count", len(stale))
	}
}
