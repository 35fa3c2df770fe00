package http

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
)

// Name is the collector's registry name and the events' type.
const Name = "http"

// Go struct offsets the kernel side follows from a *tls.Conn to its file
// descriptor: tls.Conn.conn (a net.Conn interface: its data word), the
// *net.TCPConn's conn.fd (*netFD), and netFD.pfd.Sysfd. Unchanged since
// Go 1.12 (TestGoConnOffsets checks them against the running Go).
const (
	goConnDataOff = 8
	goNetFDOff    = 0
	goSysfdOff    = 16
)

// Collector traces HTTP/1.x exchanges. It is also a metrics.Source: RED
// metrics of the exchanges it saw.
type Collector struct {
	cfg collector.Config

	coll   *ebpf.Collection
	links  bpfx.Links
	att    *attacher
	reader *bpfx.RingReader
	tr     *tracker
	sink   event.Sink
	queue  []*chunk // records waiting to be ordered (reader goroutine)
	spare  []*chunk
	swept  uint64 // when idle last swept the connections

	events, malformed, failedOut, execDrops atomic.Uint64
	finalLost, finalFiltered                atomic.Uint64
	closed                                  atomic.Bool
	life                                    collector.Lifecycle

	mu  sync.Mutex // the RED counters below
	red map[redKey]*redVal
}

type redKey struct {
	client         bool
	method, status string
}

type redVal struct {
	count uint64
	slots [64]uint64 // log2 of the latency in ns, responded exchanges only
	sum   uint64
}

// New returns an http collector; Start loads and attaches it.
func New(cfg collector.Config) (collector.Collector, error) {
	return &Collector{cfg: cfg, red: map[redKey]*redVal{}}, nil
}

// Name implements collector.Collector.
func (c *Collector) Name() string { return Name }

// Start loads the programs, attaches the syscall tracepoints and the TLS
// uprobes of every libssl and Go binary in use, and starts streaming.
// sendfile64 is optional; every other hook exists since 4.16.
func (c *Collector) Start(ctx context.Context, sink event.Sink) error {
	if err := c.life.Start(Name); err != nil {
		return err
	}
	spec, err := loadHttp()
	if err != nil {
		return err
	}
	if err := c.cfg.Apply(spec); err != nil {
		return fmt.Errorf("configuring %s: %w", Name, err)
	}
	for name, v := range map[string]uint32{"go_conn_data_off": goConnDataOff, "go_netfd_off": goNetFDOff, "go_sysfd_off": goSysfdOff} {
		if err := spec.Variables[name].Set(v); err != nil {
			return fmt.Errorf("setting %s: %w", name, err)
		}
	}
	// One uprobe_multi link per program and file where the kernel has
	// them (6.6+): detaching per-address uprobes takes a grace period each.
	kind, err := bpfx.ChooseHook(c.cfg.Logger, Name, bpfx.Hook{Kind: bpfx.FeatUprobeMulti},
		bpfx.Hook{Kind: bpfx.FeatUprobe, What: "one uprobe per address (slower to detach)"})
	if err != nil {
		return err
	}
	multi := kind == bpfx.FeatUprobeMulti
	if multi {
		for _, ps := range spec.Programs {
			if strings.HasPrefix(ps.SectionName, "uprobe") || strings.HasPrefix(ps.SectionName, "uretprobe") {
				ps.AttachType = ebpf.AttachTraceUprobeMulti
			}
		}
	}
	coll, err := bpfx.NewCollection(spec)
	if err != nil {
		return bpfx.LoadError(Name, err)
	}
	c.coll = coll
	c.sink = sink
	c.tr = newTracker(collector.NewClock(), c.emit)

	for name, ps := range spec.Programs {
		group, tp, ok := strings.Cut(strings.TrimPrefix(ps.SectionName, "tracepoint/"), "/")
		if !ok || !strings.HasPrefix(ps.SectionName, "tracepoint/") {
			continue
		}
		l, err := link.Tracepoint(group, tp, coll.Programs[name], nil)
		if err != nil {
			if strings.Contains(tp, "sendfile") && errors.Is(err, os.ErrNotExist) {
				c.cfg.Logger.Info("hook missing on this kernel, skipped: sendfile bytes not counted", "program", name)
				continue
			}
			return fmt.Errorf("attaching %s (%s): %w", name, ps.SectionName, err)
		}
		c.links.Add(l)
	}

	c.att = newAttacher(coll, c.cfg.Filter.PID, multi, c.cfg.Logger)
	c.att.scanAll()
	libs, gobins := c.att.counts()
	c.cfg.Logger.Debug("TLS probes", "libssl", libs, "go_binaries", gobins)
	c.att.start()

	every := c.cfg.Latency
	if every <= 0 {
		every = bpfx.FlushEvery
	}
	rd, err := bpfx.StartRingReaderEvery(coll.Maps["events"], every, c.handle, c.idle)
	if err != nil {
		return err
	}
	c.reader = rd
	return nil
}

// reorderNS is how long records wait to be put in the order their calls
// happened: threads report the calls of one connection in the ring buffer
// in the order they returned, which for a write and the read of its
// answer on another thread may be the wrong one.
const reorderNS = 20e6

// handle decodes one record on the reader goroutine and queues it.
func (c *Collector) handle(raw []byte) {
	var ch *chunk
	if n := len(c.spare); n > 0 {
		ch, c.spare = c.spare[n-1], c.spare[:n-1]
	} else {
		ch = &chunk{own: make([]byte, 0, 1024)}
	}
	if !decodeChunk(raw, ch) {
		c.malformed.Add(1)
		c.spare = append(c.spare, ch)
		return
	}
	if ch.kind == kindExec {
		if !c.att.exec(ch.hdr.PID) {
			c.execDrops.Add(1)
		}
		c.spare = append(c.spare, ch)
		return
	}
	wholeTail := len(ch.tail) > 0 && len(ch.data) > 0 && &ch.tail[0] == &ch.data[0]
	ch.data = append(ch.own[:0], ch.data...)
	ch.own = ch.data[:0]
	if wholeTail {
		ch.tail = ch.data
	}
	c.queue = append(c.queue, ch)
	if len(c.queue) >= 4096 {
		c.process(ch.began - reorderNS)
	}
}

// process hands the queued records that began by limit to the tracker, in
// the order they began.
func (c *Collector) process(limit uint64) {
	q := c.queue
	if !slices.IsSortedFunc(q, byBegan) {
		slices.SortStableFunc(q, byBegan)
	}
	n := 0
	for ; n < len(q) && q[n].began <= limit; n++ {
		c.tr.add(q[n])
		c.spare = append(c.spare, q[n])
	}
	c.queue = append(q[:0], q[n:]...)
}

func byBegan(a, b *chunk) int { return cmp.Compare(a.began, b.began) }

// sweepNS is how often idle looks for responses that stopped: a look
// visits every connection, and the ring buffer is drained thousands of
// times a second under load.
const sweepNS = 100e6

// idle runs when the ring buffer is drained: finish responses that
// stopped, then flush the sink.
func (c *Collector) idle() {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) == nil {
		now := uint64(ts.Nano())
		c.process(now - reorderNS)
		if now-c.swept >= sweepNS {
			c.tr.sweep(now)
			c.swept = now
		}
	}
	c.sink.Flush()
}

// emit counts an exchange and passes it on, unless --failed leaves out
// answered requests below 400.
func (c *Collector) emit(e *event.HTTP) {
	k := redKey{client: e.Role == "client", method: methodLabel(e.Method), status: statusLabel(e.Status)}
	c.mu.Lock()
	v := c.red[k]
	if v == nil {
		v = &redVal{}
		c.red[k] = v
	}
	v.count++
	if e.Status != 0 {
		v.slots[bits.Len64(e.LatencyNS|1)-1]++
		v.sum += e.LatencyNS
	}
	c.mu.Unlock()
	if c.cfg.Filter.Failed && e.Status != 0 && e.Status < 400 {
		c.failedOut.Add(1)
		return
	}
	c.events.Add(1)
	c.sink.Emit(e)
}

// Stats implements collector.Collector.
func (c *Collector) Stats() collector.Stats {
	s := collector.Stats{Events: c.events.Load(), Malformed: c.malformed.Load(), Filtered: c.failedOut.Load()}
	if c.closed.Load() {
		s.Lost, s.Filtered = c.finalLost.Load(), s.Filtered+c.finalFiltered.Load()
	} else if c.coll != nil {
		lost, filtered, _ := bpfx.Counters(c.coll.Maps["stats"])
		s.Lost, s.Filtered = lost, s.Filtered+filtered
	}
	return s
}

// Close detaches the probes, drains the ring buffer, reports the
// exchanges still open and frees everything. It is idempotent.
func (c *Collector) Close() error {
	return c.life.Close(func() error {
		var errs []error
		if c.att != nil {
			errs = append(errs, c.att.close())
		}
		errs = append(errs, c.links.CloseTogether())
		if c.reader != nil {
			errs = append(errs, c.reader.Drain())
			// Exchanges whose response was under way are reported as
			// they stand.
			c.process(^uint64(0))
			c.tr.sweep(^uint64(0))
			c.sink.Flush()
		}
		if c.coll != nil {
			lost, filtered, _ := bpfx.Counters(c.coll.Maps["stats"])
			c.finalLost.Store(lost)
			c.finalFiltered.Store(filtered)
			c.closed.Store(true)
			c.coll.Close()
		}
		return errors.Join(errs...)
	})
}

// The metric families: server-side exchanges under the RED names, the
// client side apart, so that a request between two traced processes
// counts once in each.
var (
	descRequests       = metrics.NewCounter("kscope_http_requests_total", "HTTP/1.x requests served by processes on this host (role server), by method and status (\"none\": closed before a response).", "method", "status")
	descDuration       = metrics.NewHistogram("kscope_http_request_duration_seconds", "Time from a served request's first bytes read to its response's last bytes written.", "method")
	descClientRequests = metrics.NewCounter("kscope_http_client_requests_total", "HTTP/1.x requests made by processes on this host (role client), by method and status.", "method", "status")
	descClientDuration = metrics.NewHistogram("kscope_http_client_request_duration_seconds", "Time from a request's first bytes written to its response's last bytes read, on the client.", "method")
	descProbed         = metrics.NewGauge("kscope_http_tls_files_probed", "Files carrying TLS uprobes, by kind: openssl (libssl) or go (binaries with crypto/tls).", "kind")
)

// Describe implements metrics.Source.
func (c *Collector) Describe() []*metrics.Desc {
	return []*metrics.Desc{descRequests, descDuration, descClientRequests, descClientDuration, descProbed}
}

// Collect implements metrics.Source.
func (c *Collector) Collect(e *metrics.Emitter) error {
	type hist struct {
		slots [64]uint64
		sum   uint64
	}
	hists := map[redKey]*hist{}
	c.mu.Lock()
	for k, v := range c.red {
		d := descRequests
		if k.client {
			d = descClientRequests
		}
		e.Counter(d, float64(v.count), k.method, k.status)
		hk := redKey{client: k.client, method: k.method}
		h := hists[hk]
		if h == nil {
			h = &hist{}
			hists[hk] = h
		}
		for i, n := range v.slots {
			h.slots[i] += n
		}
		h.sum += v.sum
	}
	c.mu.Unlock()
	for k, h := range hists {
		d := descDuration
		if k.client {
			d = descClientDuration
		}
		e.Histogram(d, metrics.Log2(h.slots[:], h.sum, 1e-9, metrics.LatencyLo, metrics.LatencyHi), k.method)
	}
	if c.att != nil {
		libs, gobins := c.att.counts()
		e.Gauge(descProbed, float64(libs), "openssl")
		e.Gauge(descProbed, float64(gobins), "go")
	}
	return nil
}
