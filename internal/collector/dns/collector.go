package dns

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
)

// Name is the collector's registry name.
const Name = "dns"

// DefaultTimeout is how long a query waits for its answer before it is
// reported as unanswered (the C library's resolver waits 5 s per try).
const DefaultTimeout = 5 * time.Second

var (
	requestsDesc = metrics.NewCounter("kscope_dns_requests_total",
		"DNS queries by query type and response code (timeout: unanswered).", "qtype", "rcode")
	durationDesc = metrics.NewHistogram("kscope_dns_request_duration_seconds",
		"Time from a DNS query leaving to its answer arriving.")
)

// durationBounds are the histogram's buckets, in seconds.
var durationBounds = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// ErrNotStarted is returned by Collect before Start or after Close.
var ErrNotStarted = errors.New("dns collector not running")

// Collector pairs DNS queries with answers (UDP and TCP) and reports each as an event.
type Collector struct {
	cfg     collector.Config
	timeout time.Duration
	// Cgroup is the cgroup v2 directory whose processes (and descendants')
	// are seen; "" is the cgroup2 root: every process.
	Cgroup string

	life   collector.Lifecycle
	coll   *ebpf.Collection
	links  bpfx.Links
	reader *bpfx.RingReader
	stop   chan struct{}
	wg     sync.WaitGroup

	mu       sync.Mutex // the tracker, the sink and the metrics
	tr       *tracker
	sink     event.Sink
	raw      dnsDnsEvent
	requests map[[2]string]uint64
	hist     []uint64
	histSum  float64

	events, malformed, filtered atomic.Uint64
	finalLost                   uint64
}

// New returns a dns collector with the default timeout.
func New(cfg collector.Config) (collector.Collector, error) {
	return NewWithTimeout(cfg, DefaultTimeout)
}

// NewWithTimeout returns a dns collector that reports a query unanswered
// after timeout.
func NewWithTimeout(cfg collector.Config, timeout time.Duration) (*Collector, error) {
	if timeout <= 0 {
		return nil, fmt.Errorf("dns timeout %s: must be positive", timeout)
	}
	return &Collector{cfg: cfg, timeout: timeout, requests: map[[2]string]uint64{}, hist: make([]uint64, len(durationBounds)+1)}, nil
}

// Name implements collector.Collector.
func (c *Collector) Name() string { return Name }

// Start loads the programs, attaches them to the cgroup and starts
// reporting to sink.
func (c *Collector) Start(ctx context.Context, sink event.Sink) error {
	if err := c.life.Start(Name); err != nil {
		return err
	}
	cg := c.Cgroup
	if cg == "" {
		root, err := bpfx.Cgroup2Root()
		if err != nil {
			return err
		}
		if root == "" {
			return errors.New("finding cgroup v2: it is not mounted (the dns collector attaches to it)")
		}
		cg = root
	}
	spec, err := loadDns()
	if err != nil {
		return err
	}
	if c.cfg.RingBytes > 0 {
		spec.Maps["events"].MaxEntries = uint32(c.cfg.RingBytes)
	}
	coll, err := bpfx.NewCollection(spec)
	if err != nil {
		return bpfx.LoadError(Name, err)
	}
	c.coll = coll
	attach := map[string]ebpf.AttachType{
		"dns_connect4": ebpf.AttachCGroupInet4Connect, "dns_connect6": ebpf.AttachCGroupInet6Connect,
		"dns_sendmsg4": ebpf.AttachCGroupUDP4Sendmsg, "dns_sendmsg6": ebpf.AttachCGroupUDP6Sendmsg,
		"dns_egress": ebpf.AttachCGroupInetEgress, "dns_ingress": ebpf.AttachCGroupInetIngress,
	}
	for name, typ := range attach {
		l, err := link.AttachCgroup(link.CgroupOptions{Path: cg, Attach: typ, Program: coll.Programs[name]})
		if err != nil {
			return fmt.Errorf("attaching %s to %s: %w", name, cg, err)
		}
		c.links.Add(l)
	}
	c.tr = newTracker(collector.NewClock(), uint64(c.timeout))
	c.sink = sink
	every := c.cfg.Latency
	if every <= 0 {
		every = bpfx.FlushEvery
	}
	rd, err := bpfx.StartRingReaderEvery(coll.Maps["events"], every, c.handle, sink.Flush)
	if err != nil {
		return err
	}
	c.reader = rd
	c.stop = make(chan struct{})
	c.wg.Add(1)
	go c.expireLoop()
	return nil
}

// handle decodes one record and feeds it to the tracker.
func (c *Collector) handle(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := Decode(b, &c.raw)
	if !ok {
		c.malformed.Add(1)
		return
	}
	if ev := c.tr.add(&m); ev != nil {
		c.report(ev)
	}
}

// report counts an event and emits it unless filtered; c.mu is held.
func (c *Collector) report(ev *event.Dynamic) {
	v := ev.Values
	rcode := v[fRCode].Str
	if v[fTimeout].Bool {
		rcode = "timeout"
	} else {
		s := float64(v[fLatency].Num) / 1e9
		i := 0
		for i < len(durationBounds) && s > durationBounds[i] {
			i++
		}
		c.hist[i]++
		c.histSum += s
	}
	c.requests[[2]string{boundedType(v[fQType].Str), rcode}]++
	f := c.cfg.Filter
	if f.PID != 0 && ev.PID != f.PID || f.UID != nil && ev.UID != *f.UID || f.Comm != "" && ev.Comm != f.Comm || f.Failed && rcode == "NOERROR" {
		c.filtered.Add(1)
		return
	}
	c.events.Add(1)
	c.sink.Emit(ev)
}

// boundedType keeps the qtype label to the common types and "other".
func boundedType(t string) string {
	switch t {
	case "A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT", "HTTPS", "SVCB", "CAA", "ANY", "DS", "DNSKEY", "NAPTR":
		return t
	}
	return "other"
}

func (c *Collector) expireLoop() {
	defer c.wg.Done()
	t := time.NewTicker(min(c.timeout/4, time.Second))
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		c.mu.Lock()
		c.tr.expire(monoNow(), c.report)
		c.sink.Flush()
		c.mu.Unlock()
	}
}

func monoNow() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

// Stats implements collector.Collector. Lost counts records the ring
// buffer had no room for and queries beyond the pending bound; Malformed
// records miekg/dns could not parse.
func (c *Collector) Stats() collector.Stats {
	s := collector.Stats{Events: c.events.Load(), Malformed: c.malformed.Load(), Filtered: c.filtered.Load()}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tr != nil {
		s.Lost = c.tr.overflow
	}
	if c.life.Closed() {
		s.Lost += c.finalLost
	} else if c.coll != nil {
		s.Lost += c.ringLost()
	}
	return s
}

func (c *Collector) ringLost() uint64 {
	var per []uint64
	if err := c.coll.Maps["lost"].Lookup(uint32(0), &per); err != nil {
		return 0
	}
	var n uint64
	for _, v := range per {
		n += v
	}
	return n
}

// Close detaches, delivers what is left and frees everything; it is
// idempotent. Queries still waiting are not reported.
func (c *Collector) Close() error {
	return c.life.Close(func() error {
		errs := []error{c.links.CloseTogether()}
		if c.reader != nil {
			errs = append(errs, c.reader.Drain())
		}
		if c.stop != nil {
			close(c.stop)
			c.wg.Wait()
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.coll != nil {
			c.finalLost = c.ringLost()
			c.coll.Close()
		}
		return errors.Join(errs...)
	})
}

// Describe implements metrics.Source.
func (c *Collector) Describe() []*metrics.Desc { return []*metrics.Desc{requestsDesc, durationDesc} }

// Collect implements metrics.Source.
func (c *Collector) Collect(e *metrics.Emitter) error {
	if !c.life.Running() {
		return ErrNotStarted
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, n := range c.requests {
		e.Counter(requestsDesc, float64(n), k[0], k[1])
	}
	e.Histogram(durationDesc, metrics.HistogramValue{Bounds: durationBounds, Counts: append([]uint64(nil), c.hist...), Sum: c.histSum})
	return nil
}
