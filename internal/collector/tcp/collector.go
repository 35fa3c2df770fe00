package tcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
)

// Name is the collector's registry name.
const Name = "tcp"

// Map sizes, from the host's memory within these bounds (both maps are
// allocated as used). A conns entry lives as long as its connection: one
// per 16 KiB of memory, well below what a socket costs the kernel. An
// endpoints entry lives until Go prunes it (see pruneIdle): one per 128 KiB.
const (
	minConnsMax, maxConnsMax         = 65536, 1 << 21
	minEndpointsMax, maxEndpointsMax = 8192, 1 << 18
)

// hostMapSizes returns the sizes of the conns and endpoints maps for a
// host with memBytes of memory (0: unknown).
func hostMapSizes(memBytes uint64) (conns, endpoints uint32) {
	return bpfx.PerMemory(memBytes, 16<<10, minConnsMax, maxConnsMax),
		bpfx.PerMemory(memBytes, 128<<10, minEndpointsMax, maxEndpointsMax)
}

// defaultWalkEvery bounds how often Collect walks the sockets, whose cost
// grows with their number: collections closer together than this reuse
// the last walk (byte counters then lag by up to this much).
const defaultWalkEvery = time.Second

// Indexes of totals.C, as enum counter in tcp.bpf.c.
const (
	cOpenActive = iota
	cOpenPassive
	cClosed
	cRetrans
	cRstSent
	cRstRecv
	cSent
	cRecv
	cFullConns
	cFullEndpoints
)

// Duration buckets: log2 slots 14 (32.8 µs) to 42 (2.44 h) of nanoseconds.
const durationLo, durationHi = 14, 42

// ErrClosed is returned by Collect after Close, or before Start succeeded.
var ErrClosed = errors.New("tcp collector closed")

var (
	descOpened = metrics.NewCounter("kscope_tcp_connections_opened_total",
		"TCP connections established, by the side that opened them: active (connect) or passive (accept).",
		"direction")
	descClosed = metrics.NewCounter("kscope_tcp_connections_closed_total",
		"Established TCP connections that closed.")
	descFailed = metrics.NewCounter("kscope_tcp_connections_failed_total",
		"Active TCP opens that ended before they were established, by the socket error (ECONNREFUSED, ETIMEDOUT...; none when the application closed the socket first).",
		"errno")
	descDuration = metrics.NewHistogram("kscope_tcp_connection_duration_seconds",
		"How long closed TCP connections were established, for those opened while the collector ran.")
	descSent = metrics.NewCounter("kscope_tcp_sent_bytes_total",
		"TCP data bytes sent and acknowledged by the peer, by closed and open connections.")
	descReceived = metrics.NewCounter("kscope_tcp_received_bytes_total",
		"TCP data bytes received, by closed and open connections.")
	descRetransmits = metrics.NewCounter("kscope_tcp_retransmits_total",
		"TCP segments retransmitted.")
	descResets = metrics.NewCounter("kscope_tcp_resets_total",
		"TCP resets (RST) sent and received.",
		"direction")
	descStates = metrics.NewGauge("kscope_tcp_connections",
		"TCP sockets by state at the last collection; listen counts listening sockets, syn_recv includes pending handshakes.",
		"state")
	descEndpointConns = metrics.NewCounter("kscope_tcp_endpoint_connections_total",
		"TCP connections established per endpoint: the remote address and port of active opens (lport empty), the local address and port of passive ones with the client address (rport empty); the top-K endpoints and other.",
		"laddr", "lport", "raddr", "rport")
	descEndpointSent = metrics.NewCounter("kscope_tcp_endpoint_sent_bytes_total",
		"TCP data bytes sent and acknowledged per endpoint (see kscope_tcp_endpoint_connections_total).",
		"laddr", "lport", "raddr", "rport")
	descEndpointReceived = metrics.NewCounter("kscope_tcp_endpoint_received_bytes_total",
		"TCP data bytes received per endpoint (see kscope_tcp_endpoint_connections_total).",
		"laddr", "lport", "raddr", "rport")
	descDropped = metrics.NewCounter("kscope_tcp_dropped_total",
		"Updates the tcp collector's BPF programs could not make, by reason: the connections map was full (the connection's duration is not measured, its bytes are counted at close) or the endpoints map was full (the update went to other).",
		"reason")
)

// Collector aggregates TCP connection metrics in the kernel.
type Collector struct {
	*collector.Tracer
	log *slog.Logger

	// Set before Start by tests in this package.
	netns        uint32 // count only the network namespace with this inode; 0: all
	connsMax     uint32
	endpointsMax uint32
	noIter       bool          // do without the socket iterator even where it exists
	walkEvery    time.Duration // the least time between two walks

	mu        sync.Mutex // Collect, walks, Close
	walked    time.Time
	states    [nStates]uint64 // as of the last walk
	life      collector.Lifecycle
	links     bpfx.Links
	iter      *link.Iter
	walker    *nsWalker
	counters  *ebpf.Map
	failed    *ebpf.Map
	endpoints *ebpf.Map
	eps       endpointTable
}

// New returns a tcp collector; Start loads and attaches it. TCP state
// changes mostly happen in softirq context, where the current process is
// not the socket's owner, so the process filters do not apply.
func New(cfg collector.Config) (collector.Collector, error) {
	f := cfg.Filter
	if f.PID != 0 || f.UID != nil || f.Comm != "" || f.Failed {
		return nil, fmt.Errorf("tcp: process filters do not apply to TCP connections")
	}
	// Metric-only: the shared events ring buffer stays at one page.
	cfg.RingBytes = 4096
	connsMax, endpointsMax := hostMapSizes(bpfx.HostMemory("/proc"))
	return &Collector{
		Tracer:       collector.NewTracer(Name, cfg),
		log:          cfg.Logger,
		connsMax:     connsMax,
		endpointsMax: endpointsMax,
		walkEvery:    defaultWalkEvery,
		eps:          newEndpointTable(cfg.TopK),
	}, nil
}

// Name implements collector.Collector.
func (c *Collector) Name() string { return Name }

// hook is one kernel tracepoint and the programs for it.
type hook struct {
	group, tracepoint string
	btfProg, rawProg  string // the tp_btf and raw_tracepoint flavours
	optional          bool
}

var hooks = []hook{
	{"sock", "inet_sock_set_state", "btf_set_state", "raw_set_state", false},
	{"tcp", "tcp_retransmit_skb", "btf_retransmit", "raw_retransmit", false},
	{"tcp", "tcp_send_reset", "btf_send_reset", "raw_send_reset", false},
	{"tcp", "tcp_receive_reset", "btf_receive_reset", "raw_receive_reset", false},
	// A safety net for entries whose close was missed; older kernels lack it.
	{"tcp", "tcp_destroy_sock", "btf_destroy_sock", "raw_destroy_sock", true},
}

// hasTracepoint looks for a tracepoint in the kernel's BTF (every kernel
// with tp_btf) and in tracefs (older ones).
func hasTracepoint(kernel *btf.Spec, group, name string) bool {
	if hasType(kernel, "btf_trace_"+name) {
		return true
	}
	for _, dir := range []string{"/sys/kernel/tracing/events/", "/sys/kernel/debug/tracing/events/"} {
		if _, err := os.Stat(dir + group + "/" + name); err == nil {
			return true
		}
	}
	return false
}

// Start loads the programs, attaches them and walks the open connections
// once, so that counting starts from what they have moved so far. The sink
// is not used: the collector only aggregates.
func (c *Collector) Start(_ context.Context, _ event.Sink) error {
	if err := c.life.Start(Name); err != nil {
		return err
	}
	spec, err := loadTcp()
	if err != nil {
		return err
	}
	kernel, err := bpfx.KernelTypes()
	if err != nil {
		return fmt.Errorf("loading kernel BTF: %w", err)
	}

	// tp_btf where it works, else raw_tracepoint: the same code either way.
	hook, err := bpfx.ChooseHook(c.log, Name, bpfx.Hook{Kind: bpfx.FeatTpBTF}, bpfx.Hook{Kind: bpfx.FeatRawTracepoint})
	if err != nil {
		return err
	}
	raw := hook == bpfx.FeatRawTracepoint
	type attachment struct{ tracepoint, prog string }
	var attach []attachment
	for _, h := range hooks {
		keep, drop := h.btfProg, h.rawProg
		if raw {
			keep, drop = drop, keep
		}
		delete(spec.Programs, drop)
		if !hasTracepoint(kernel, h.group, h.tracepoint) {
			if !h.optional {
				return fmt.Errorf("tracepoint %s/%s: not in this kernel", h.group, h.tracepoint)
			}
			c.log.Info("fallback", "what", "no "+h.tracepoint+" hook", "why", "tracepoint not in this kernel")
			delete(spec.Programs, keep)
			continue
		}
		attach = append(attach, attachment{h.tracepoint, keep})
	}
	hasErr, err := retransmitHasErr(kernel)
	if err != nil {
		return err
	}
	// The socket iterator (Linux 5.9+) counts the bytes of open connections.
	walk := hasType(kernel, "bpf_iter_tcp") && !c.noIter
	if !walk {
		why := "no TCP socket iterator (bpf_iter_tcp) in this kernel"
		if c.noIter {
			why = "socket iterator disabled"
		}
		c.log.Info("fallback", "what", "bytes counted when connections close, no state gauge", "why", why)
		delete(spec.Programs, "walk")
	}
	vars := map[string]any{"netns_ino": c.netns, "retrans_has_err": boolByte(hasErr)}
	for name, v := range vars {
		if err := spec.Variables[name].Set(v); err != nil {
			return fmt.Errorf("setting %s: %w", name, err)
		}
	}
	spec.Maps["conns"].MaxEntries = c.connsMax
	spec.Maps["endpoints"].MaxEntries = c.endpointsMax

	if err := c.Load(spec); err != nil {
		return err
	}
	coll := c.Collection()
	c.counters, c.failed, c.endpoints = coll.Maps["counters"], coll.Maps["failed"], coll.Maps["endpoints"]
	// The overflow entry, all zero, for updates a full map has no room for.
	if err := c.endpoints.Update(tcpEndpointKey{}, tcpEndpointValue{}, ebpf.UpdateNoExist); err != nil {
		return fmt.Errorf("adding the overflow endpoint: %w", err)
	}
	for _, a := range attach {
		prog := coll.Programs[a.prog]
		var l link.Link
		if raw {
			l, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: a.tracepoint, Program: prog})
		} else {
			l, err = link.AttachTracing(link.TracingOptions{Program: prog})
		}
		if err != nil {
			return fmt.Errorf("attaching %s: %w", a.tracepoint, err)
		}
		c.links.Add(l)
	}
	if walk {
		c.iter, err = link.AttachIter(link.IterOptions{Program: coll.Programs["walk"]})
		if err != nil {
			return fmt.Errorf("attaching the TCP socket iterator: %w", err)
		}
		c.walker, err = newNSWalker(c.netns, c.log)
		if err != nil {
			return err
		}
		// The first walk enters every namespace: connections open now get
		// their entry, and count from here on.
		c.mu.Lock()
		err = c.walk(true)
		c.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func hasType(spec *btf.Spec, name string) bool {
	_, err := spec.AnyTypeByName(name)
	return err == nil
}

// retransmitHasErr reports whether tcp_retransmit_skb has the err argument
// (sk, skb, err): its BTF prototype has the context and three parameters.
// Kernels without the prototype predate the argument.
func retransmitHasErr(spec *btf.Spec) (bool, error) {
	var td *btf.Typedef
	if err := spec.TypeByName("btf_trace_tcp_retransmit_skb", &td); err != nil {
		return false, nil
	}
	ptr, ok := btf.UnderlyingType(td).(*btf.Pointer)
	if !ok {
		return false, fmt.Errorf("tcp_retransmit_skb's prototype is a %T", td.Type)
	}
	proto, ok := ptr.Target.(*btf.FuncProto)
	if !ok {
		return false, fmt.Errorf("tcp_retransmit_skb's prototype points to a %T", ptr.Target)
	}
	return len(proto.Params) >= 4, nil
}

// walk runs the socket iterator in the network namespaces (see nsWalker)
// and keeps the sockets by state. Callers hold c.mu.
func (c *Collector) walk(all bool) error {
	states, err := c.walker.walk(c.iter, all)
	c.states, c.walked = states, time.Now()
	return err
}

// Describe implements metrics.Source.
func (c *Collector) Describe() []*metrics.Desc {
	return []*metrics.Desc{descOpened, descClosed, descFailed, descDuration, descSent, descReceived,
		descRetransmits, descResets, descStates, descEndpointConns, descEndpointSent,
		descEndpointReceived, descDropped, metrics.MapDrops}
}

// Collect implements metrics.Source: it walks the open connections, which
// adds what they moved since the previous walk, then reads the maps.
func (c *Collector) Collect(e *metrics.Emitter) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.life.Closed() || c.counters == nil {
		return ErrClosed
	}
	var walkErr error
	if c.iter != nil && time.Since(c.walked) >= c.walkEvery {
		walkErr = c.walk(false)
	}

	var perCPU []tcpTotals
	if err := c.counters.Lookup(uint32(0), &perCPU); err != nil {
		return fmt.Errorf("reading counters: %w", err)
	}
	var t tcpTotals
	for _, p := range perCPU {
		for i := range t.C {
			t.C[i] += p.C[i]
		}
		for i := range t.Duration {
			t.Duration[i] += p.Duration[i]
		}
		t.DurationSum += p.DurationSum
	}
	e.Counter(descOpened, float64(t.C[cOpenActive]), "active")
	e.Counter(descOpened, float64(t.C[cOpenPassive]), "passive")
	e.Counter(descClosed, float64(t.C[cClosed]))
	e.Histogram(descDuration, metrics.Log2(t.Duration[:], t.DurationSum, 1e-9, durationLo, durationHi))
	e.Counter(descSent, float64(t.C[cSent]))
	e.Counter(descReceived, float64(t.C[cRecv]))
	e.Counter(descRetransmits, float64(t.C[cRetrans]))
	e.Counter(descResets, float64(t.C[cRstSent]), "sent")
	e.Counter(descResets, float64(t.C[cRstRecv]), "received")
	e.Counter(descDropped, float64(t.C[cFullConns]), "connections_map_full")
	e.Counter(descDropped, float64(t.C[cFullEndpoints]), "endpoints_map_full")
	e.Counter(metrics.MapDrops, float64(t.C[cFullConns]), Name, "conns")
	e.Counter(metrics.MapDrops, float64(t.C[cFullEndpoints]), Name, "endpoints")
	if c.iter != nil {
		for i, n := range foldStates(c.states) {
			e.Gauge(descStates, float64(n), stateNames[i])
		}
	}

	var (
		errno uint32
		n     uint64
	)
	it := c.failed.Iterate()
	for it.Next(&errno, &n) {
		e.Counter(descFailed, float64(n), errnoLabel(errno))
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading failed connects: %w", err)
	}

	if err := c.eps.collect(c.endpoints, e, time.Now()); err != nil {
		return err
	}
	return walkErr
}

// Close detaches the programs and frees the maps. It is idempotent.
func (c *Collector) Close() error {
	return c.life.Close(func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		errs := []error{c.links.Close()}
		if c.iter != nil {
			errs = append(errs, c.iter.Close())
		}
		if c.walker != nil {
			errs = append(errs, c.walker.Close())
		}
		errs = append(errs, c.Tracer.Close())
		return errors.Join(errs...)
	})
}
