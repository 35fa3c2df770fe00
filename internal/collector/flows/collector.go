package flows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
)

// Name is the collector's registry name.
const Name = "flows"

// DefaultIdleTimeout is how long a flow may see no packet before it is
// ended as idle (a UDP socket that talks to a peer once and lives on).
const DefaultIdleTimeout = 2 * time.Minute

// SweepEvery is how often the collector reads the kernel's flows, ends
// those that closed and refreshes what Flows returns.
const SweepEvery = time.Second

// Bounds of the kernel's flows map, sized from the host's memory: one
// flow per 64 KiB, allocated as used.
const (
	minFlowsMax = 8192
	maxFlowsMax = 262144
)

// aggIdle is how long a metric key with no open flow keeps its series.
const aggIdle = 10 * time.Minute

// Indexes of the kernel's counters (enum counter in flows.bpf.c).
const (
	cFull = iota
	cFullBytes
	cReleasedFull
	cMax
)

var (
	bytesDesc = metrics.NewCounter("kscope_net_flow_bytes_total",
		"Payload bytes of TCP and UDP flows by command, protocol, remote address and direction (sent, received); the top-K keys plus other.",
		"comm", "proto", "remote", "direction")
	packetsDesc = metrics.NewCounter("kscope_net_flow_packets_total",
		"Packets of TCP and UDP flows by command, protocol, remote address and direction (sent, received); the top-K keys plus other.",
		"comm", "proto", "remote", "direction")
	flowsDesc = metrics.NewGauge("kscope_net_flows",
		"TCP and UDP flows open at the last sweep.")
	endedDesc = metrics.NewCounter("kscope_net_flows_ended_total",
		"Flows ended, by why: closed (TCP), released (the UDP socket closed), idle (evicted after the idle timeout).", "end")
	untrackedDesc = metrics.NewCounter("kscope_net_flow_untracked_packets_total",
		"Packets of flows the full kernel map had no room for (counted in no flow).")
)

// ErrNotStarted is returned by Collect before Start or after Close.
var ErrNotStarted = errors.New("flows collector not running")

// Options are the flows collector's settings (its section of the agent
// configuration).
type Options struct {
	// IdleTimeout ends a flow that saw no packet for this long.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
}

// CheckOption implements config.OptionChecker.
func (o Options) CheckOption(key, text string) error {
	if key == "idle_timeout" && (o.IdleTimeout < 5*time.Second || o.IdleTimeout > time.Hour) {
		return fmt.Errorf("from 5s to 1h, not %q", text)
	}
	return nil
}

// Collector counts TCP and UDP flows in the kernel and reports each as an
// event when it ends.
type Collector struct {
	cfg  collector.Config
	idle time.Duration
	// Cgroup is the cgroup v2 directory whose processes (and descendants')
	// are seen; "" is the cgroup2 root: every process.
	Cgroup string
	// MaxFlows bounds the kernel's flows map; 0 sizes it from memory.
	MaxFlows uint32
	// OnEnd, if set before Start, is called with each ended flow the
	// filter selects, before its event is emitted.
	OnEnd func(*Flow)

	life  collector.Lifecycle
	coll  *ebpf.Collection
	links bpfx.Links
	stop  chan struct{}
	wg    sync.WaitGroup

	mu     sync.Mutex // everything below
	sink   event.Sink
	clock  collector.Clock
	ev     *event.Dynamic
	live   []Flow
	keys   []flowsFlowKey
	vals   []flowsFlow
	rkeys  []uint64
	rvals  []uint64
	aggs   map[aggKey]*agg
	topK   *metrics.TopK
	rows   []metrics.Row
	sums   *bpfx.PerCPUSums
	counts []uint64
	ended  map[string]uint64

	events, filtered atomic.Uint64
	finalLost        uint64
}

// aggKey is what the metric families are labelled by, besides direction.
type aggKey struct{ comm, proto, remote string }

type agg struct {
	done   [4]float64 // ended flows': bytes sent, received, packets sent, received
	live   [4]float64 // open flows' at the last sweep
	used   time.Time
	open   bool
	key    string
	labels [3]string
	values [5]float64
}

// New returns a flows collector with the default idle timeout.
func New(cfg collector.Config) (collector.Collector, error) {
	return NewWithIdle(cfg, DefaultIdleTimeout)
}

// NewWithIdle returns a flows collector that ends flows idle for idle.
func NewWithIdle(cfg collector.Config, idle time.Duration) (*Collector, error) {
	if idle <= 0 {
		return nil, fmt.Errorf("flows idle timeout %s: must be positive", idle)
	}
	k := cfg.TopK
	if k <= 0 {
		k = collector.DefaultTopK
	}
	return &Collector{cfg: cfg, idle: idle, aggs: map[aggKey]*agg{}, topK: metrics.NewTopK(k),
		ended: map[string]uint64{}, counts: make([]uint64, cMax), ev: event.NewDynamic(Kind)}, nil
}

// Name implements collector.Collector.
func (c *Collector) Name() string { return Name }

// Start loads the programs, attaches them to the cgroup and the TCP state
// tracepoint, and starts sweeping.
func (c *Collector) Start(ctx context.Context, sink event.Sink) error {
	if err := c.life.Start(Name); err != nil {
		return err
	}
	root, err := bpfx.Cgroup2Root()
	if err != nil {
		return err
	}
	if root == "" {
		return errors.New("finding cgroup v2: it is not mounted (the flows collector attaches to it)")
	}
	cg := c.Cgroup
	if cg == "" {
		cg = root
	}
	sums, err := bpfx.NewPerCPUSums(cMax)
	if err != nil {
		return fmt.Errorf("sizing the per-CPU counters: %w", err)
	}
	spec, err := loadFlows()
	if err != nil {
		return err
	}
	size := c.MaxFlows
	if size == 0 {
		size = bpfx.PerMemory(bpfx.HostMemory("/proc"), 64<<10, minFlowsMax, maxFlowsMax)
	}
	spec.Maps["flows"].MaxEntries = size
	spec.Maps["owners"].MaxEntries = size
	coll, err := bpfx.NewCollection(spec)
	if err != nil {
		return bpfx.LoadError(Name, err)
	}
	c.mu.Lock()
	c.coll, c.sums, c.sink, c.clock = coll, sums, sink, collector.NewClock()
	c.mu.Unlock()
	// The owner hooks first, so that sockets made while the rest attaches
	// are known.
	for _, a := range []struct {
		prog string
		typ  ebpf.AttachType
	}{
		{"flows_sock_create", ebpf.AttachCGroupInetSockCreate},
		{"flows_sock_release", ebpf.AttachCgroupInetSockRelease},
		{"flows_connect4", ebpf.AttachCGroupInet4Connect},
		{"flows_connect6", ebpf.AttachCGroupInet6Connect},
		{"flows_sendmsg4", ebpf.AttachCGroupUDP4Sendmsg},
		{"flows_sendmsg6", ebpf.AttachCGroupUDP6Sendmsg},
		{"flows_egress", ebpf.AttachCGroupInetEgress},
		{"flows_ingress", ebpf.AttachCGroupInetIngress},
	} {
		l, err := link.AttachCgroup(link.CgroupOptions{Path: cg, Attach: a.typ, Program: coll.Programs[a.prog]})
		if err != nil {
			return fmt.Errorf("attaching %s to %s: %w", a.prog, cg, err)
		}
		c.links.Add(l)
	}
	// Sockets made before the hooks were attached: a server's listener
	// above all, whose accepted connections take its owner.
	if n, err := seedOwners(coll.Maps["owners"], "/proc", root, int(size)/2); err != nil {
		c.log().Warn("noting the owners of existing sockets", "collector", Name, "err", err)
	} else {
		c.log().Debug("noted the owners of existing sockets", "collector", Name, "sockets", n)
	}
	l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "inet_sock_set_state", Program: coll.Programs["flows_set_state"]})
	if err != nil {
		return fmt.Errorf("attaching inet_sock_set_state: %w", err)
	}
	c.links.Add(l)
	c.stop = make(chan struct{})
	c.wg.Add(1)
	go c.loop()
	return nil
}

func (c *Collector) loop() {
	defer c.wg.Done()
	t := time.NewTicker(SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		if err := c.Sweep(); err != nil && !errors.Is(err, ErrNotStarted) {
			c.log().Warn("sweeping flows", "collector", Name, "err", err)
		}
	}
}

func (c *Collector) log() *slog.Logger {
	if c.cfg.Logger != nil {
		return c.cfg.Logger
	}
	return slog.Default()
}

// Sweep reads the kernel's flows now: it reports and removes those that
// ended and keeps the open ones for Flows. The collector sweeps every
// SweepEvery; a caller that wants the latest counts may sweep itself.
func (c *Collector) Sweep() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.coll == nil || c.life.Closed() {
		return ErrNotStarted
	}
	return c.sweep(time.Now())
}

// sweep does Sweep's work at now; c.mu is held.
func (c *Collector) sweep(now time.Time) error {
	fm, rm := c.coll.Maps["flows"], c.coll.Maps["released"]
	var err error
	// Released sockets first: their flows are in the map already.
	c.rkeys, c.rvals, err = bpfx.Dump(rm, c.rkeys, c.rvals)
	if err != nil {
		return fmt.Errorf("reading released sockets: %w", err)
	}
	released := make(map[uint64]uint64, len(c.rkeys))
	for i, k := range c.rkeys {
		released[k] = c.rvals[i]
	}
	c.keys, c.vals, err = bpfx.Dump(fm, c.keys, c.vals)
	if err != nil {
		return fmt.Errorf("reading flows: %w", err)
	}
	for _, a := range c.aggs {
		a.live, a.open = [4]float64{}, false
	}
	c.live = c.live[:0]
	for i := range c.keys {
		k, v := &c.keys[i], &c.vals[i]
		f, ok := decodeFlow(k, v, c.clock)
		if !ok {
			_ = fm.Delete(k)
			continue
		}
		if f.End == "" && k.Proto == 17 {
			if at, ok := released[v.Cookie]; ok {
				f.End, f.EndTime = "released", c.clock.Time(at)
			}
		}
		if f.End == "" && now.Sub(f.Last) >= c.idle {
			f.End, f.EndTime = "idle", f.Last
		}
		a := c.aggFor(&f, now)
		if f.End == "" {
			a.live[0] += float64(f.BytesSent)
			a.live[1] += float64(f.BytesReceived)
			a.live[2] += float64(f.PacketsSent)
			a.live[3] += float64(f.PacketsRecv)
			a.open = true
			c.live = append(c.live, f)
			continue
		}
		if err := fm.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("removing an ended flow: %w", err)
		}
		a.done[0] += float64(f.BytesSent)
		a.done[1] += float64(f.BytesReceived)
		a.done[2] += float64(f.PacketsSent)
		a.done[3] += float64(f.PacketsRecv)
		c.ended[f.End]++
		c.report(&f)
	}
	for _, k := range c.rkeys {
		_ = rm.Delete(k)
	}
	for k, a := range c.aggs {
		if !a.open && now.Sub(a.used) > aggIdle {
			delete(c.aggs, k)
		}
	}
	if c.sink != nil {
		c.sink.Flush()
	}
	return nil
}

func (c *Collector) aggFor(f *Flow, now time.Time) *agg {
	k := aggKey{comm: f.Comm, proto: f.Proto, remote: f.Remote.Addr().Unmap().String()}
	if f.Comm == "" {
		k.comm = "unknown"
	}
	a := c.aggs[k]
	if a == nil {
		a = &agg{key: k.comm + "\xff" + k.proto + "\xff" + k.remote, labels: [3]string{k.comm, k.proto, k.remote}}
		c.aggs[k] = a
	}
	a.used = now
	return a
}

// report emits an ended flow unless the filter rejects it; c.mu is held.
func (c *Collector) report(f *Flow) {
	fl := c.cfg.Filter
	if fl.PID != 0 && f.PID != fl.PID || fl.UID != nil && f.UID != *fl.UID || fl.Comm != "" && f.Comm != fl.Comm {
		c.filtered.Add(1)
		return
	}
	if c.OnEnd != nil {
		c.OnEnd(f)
	}
	if c.sink == nil {
		return
	}
	fill(c.ev, f)
	c.events.Add(1)
	c.sink.Emit(c.ev)
}

// Flows returns the flows open at the last sweep, most bytes first.
func (c *Collector) Flows() []Flow {
	c.mu.Lock()
	out := append([]Flow(nil), c.live...)
	c.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].BytesSent+out[i].BytesReceived > out[j].BytesSent+out[j].BytesReceived
	})
	return out
}

// Stats implements collector.Collector. Lost counts packets of flows the
// full kernel map had no room for.
func (c *Collector) Stats() collector.Stats {
	s := collector.Stats{Events: c.events.Load(), Filtered: c.filtered.Load()}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.life.Closed() {
		s.Lost = c.finalLost
	} else if c.coll != nil && c.sums.Read(c.coll.Maps["counters"], c.counts) == nil {
		s.Lost = c.counts[cFull]
	}
	return s
}

// Close detaches and frees everything; it is idempotent. Flows still open
// are not reported.
func (c *Collector) Close() error {
	return c.life.Close(func() error {
		err := c.links.CloseTogether()
		if c.stop != nil {
			close(c.stop)
			c.wg.Wait()
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.coll != nil {
			if c.sums.Read(c.coll.Maps["counters"], c.counts) == nil {
				c.finalLost = c.counts[cFull]
			}
			c.coll.Close()
		}
		return err
	})
}

// Describe implements metrics.Source.
func (c *Collector) Describe() []*metrics.Desc {
	return []*metrics.Desc{bytesDesc, packetsDesc, flowsDesc, endedDesc, untrackedDesc}
}

// Collect implements metrics.Source: the flow families as of the last
// sweep, bounded to the top-K keys (by bytes) plus "other".
func (c *Collector) Collect(e *metrics.Emitter) error {
	if !c.life.Running() {
		return ErrNotStarted
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.coll == nil {
		return ErrNotStarted
	}
	c.rows = c.rows[:0]
	for _, a := range c.aggs {
		var t [4]float64
		for i := range t {
			t[i] = a.done[i] + a.live[i]
		}
		a.values = [5]float64{t[0] + t[1], t[0], t[1], t[2], t[3]}
		c.rows = append(c.rows, metrics.Row{Key: a.key, Labels: a.labels[:], Values: a.values[:]})
	}
	kept, other := c.topK.Select(c.rows)
	emit := func(labels []string, v []float64) {
		e.Counter(bytesDesc, v[1], append(labels[:3:3], "sent")...)
		e.Counter(bytesDesc, v[2], append(labels[:3:3], "received")...)
		e.Counter(packetsDesc, v[3], append(labels[:3:3], "sent")...)
		e.Counter(packetsDesc, v[4], append(labels[:3:3], "received")...)
	}
	for _, r := range kept {
		emit(r.Labels, r.Values)
	}
	if other != nil {
		var o [5]float64
		copy(o[:], other)
		emit([]string{"other", "other", "other"}, o[:])
	}
	e.Gauge(flowsDesc, float64(len(c.live)))
	for _, end := range []string{"closed", "released", "idle"} {
		e.Counter(endedDesc, float64(c.ended[end]), end)
	}
	if err := c.sums.Read(c.coll.Maps["counters"], c.counts); err != nil {
		return fmt.Errorf("reading the flow counters: %w", err)
	}
	e.Counter(untrackedDesc, float64(c.counts[cFull]))
	return nil
}
