package otlp

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/export"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/profile"
)

// Defaults of Options.
const (
	// DefaultQueueBytes is the queue's budget in memory: at kscope's
	// default series cap (20000) and interval (10 s) a collection
	// encodes to about 2 MB, so it holds several minutes of an outage.
	DefaultQueueBytes = 64 << 20
	// DefaultMaxEvents bounds the events waiting for the next logs
	// request; past it new events are dropped and counted.
	DefaultMaxEvents  = 16384
	DefaultFlush      = time.Second
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 30 * time.Second
	// eventsPerRequest is how many events fill a logs request before
	// the flush interval.
	eventsPerRequest = 1024
	// requestTimeout bounds one request.
	requestTimeout = 10 * time.Second
)

// Options configure an Exporter.
type Options struct {
	// Config is the agent's otlp section.
	Config *config.OTLP
	// Hostname is the host.name resource attribute ("": os.Hostname).
	Hostname string
	// QueueBytes bounds the queue (0: DefaultQueueBytes).
	QueueBytes int64
	// MaxEvents bounds the events waiting to be encoded (0:
	// DefaultMaxEvents).
	MaxEvents int
	// Flush is how often waiting events are sent (0: DefaultFlush).
	Flush time.Duration
	// MinBackoff and MaxBackoff bound the wait between retries (0: the
	// defaults); it doubles from the one to the other.
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
}

// Exporter sends the agent's metrics, events and profiles to one OTLP
// receiver.
type Exporter struct {
	opts     Options
	cfg      *config.OTLP
	hostname string
	logger   *slog.Logger
	start    time.Time // the start of the counters' cumulation

	q *queue
	t transport

	evMu     sync.Mutex
	events   []export.Event
	evWake   chan struct{}
	evDrop   atomic.Uint64 // events dropped: over MaxEvents
	stopping atomic.Bool
	cancel   context.CancelFunc
	drain    chan struct{} // closed by Stop: send what is queued, then return
	flushed  chan struct{} // closed when the event flusher returns
	exited   chan struct{} // closed when the sender returns

	sent     atomic.Uint64 // samples the receiver accepted
	failed   atomic.Uint64 // requests that failed (retried or not)
	rejected atomic.Uint64 // samples the receiver refused for good
}

var _ export.Exporter = (*Exporter)(nil)

// New returns an exporter for the receiver o.Config names; Start
// connects.
func New(o Options) (*Exporter, error) {
	if o.Config == nil || o.Config.Endpoint == "" {
		return nil, fmt.Errorf("creating an OTLP exporter: no endpoint")
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = DefaultQueueBytes
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = DefaultMaxEvents
	}
	if o.Flush <= 0 {
		o.Flush = DefaultFlush
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("reading the host name: %w", err)
		}
		o.Hostname = h
	}
	return &Exporter{
		opts:     o,
		cfg:      o.Config,
		hostname: o.Hostname,
		logger:   o.Logger.With("exporter", "otlp"),
		evWake:   make(chan struct{}, 1),
	}, nil
}

// Name is otlp.
func (x *Exporter) Name() string { return "otlp" }

// Start prepares the connection (gRPC connects lazily and reconnects by
// itself) and starts sending.
func (x *Exporter) Start(ctx context.Context) error {
	t, err := newTransport(x.cfg)
	if err != nil {
		return fmt.Errorf("configuring the OTLP client: %w", err)
	}
	x.t = t
	x.q = newQueue(x.opts.QueueBytes)
	x.start = time.Now()
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	x.cancel = cancel
	x.drain = make(chan struct{})
	x.flushed = make(chan struct{})
	x.exited = make(chan struct{})
	go x.flushEvents(runCtx)
	go x.send(runCtx)
	x.logger.Info("sending to an OTLP receiver", "endpoint", x.cfg.Endpoint, "protocol", x.cfg.Protocol)
	return nil
}

// Stop sends the waiting events and what is queued until ctx is done;
// what is left is lost.
func (x *Exporter) Stop(ctx context.Context) error {
	if x.q == nil || !x.stopping.CompareAndSwap(false, true) {
		return nil
	}
	close(x.drain)
	select {
	case <-x.exited:
	case <-ctx.Done():
	}
	x.cancel()
	<-x.flushed
	<-x.exited
	if n, _, _, _ := x.q.stats(); n > 0 {
		x.logger.Warn("OTLP exporter stopped with samples unsent", "samples", n)
	}
	return x.t.close()
}

// ReportMetrics encodes a collection and queues it.
func (x *Exporter) ReportMetrics(t time.Time, _ []*metrics.Desc, samples []metrics.Sample) {
	if x.q == nil || x.stopping.Load() {
		return
	}
	for _, r := range x.encodeMetrics(t, samples) {
		x.push(r)
	}
}

// ReportEvent keeps the event for the next logs request.
func (x *Exporter) ReportEvent(e export.Event) {
	if x.q == nil || x.stopping.Load() {
		return
	}
	x.evMu.Lock()
	if len(x.events) >= x.opts.MaxEvents {
		x.evMu.Unlock()
		x.evDrop.Add(1)
		return
	}
	x.events = append(x.events, e)
	full := len(x.events) >= eventsPerRequest
	x.evMu.Unlock()
	if full {
		select {
		case x.evWake <- struct{}{}:
		default:
		}
	}
}

// ReportProfile encodes a profile window and queues it.
func (x *Exporter) ReportProfile(p *profile.Profile) {
	if x.q == nil || x.stopping.Load() {
		return
	}
	if r, ok := x.encodeProfile(p); ok {
		x.push(r)
	}
}

func (x *Exporter) push(r request) {
	if n := x.q.push(r); n > 0 {
		x.logger.Warn("OTLP queue over its budget: the oldest samples are dropped", "samples", n)
	}
}

// flushEvents encodes the waiting events into logs requests every
// Options.Flush, or as soon as a request's worth is waiting; after Stop it
// flushes once more and returns.
func (x *Exporter) flushEvents(ctx context.Context) {
	defer close(x.flushed)
	tick := time.NewTicker(x.opts.Flush)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-x.evWake:
		case <-x.drain:
			x.flushOnce()
			return
		case <-ctx.Done():
			return
		}
		x.flushOnce()
	}
}

func (x *Exporter) flushOnce() {
	for {
		x.evMu.Lock()
		n := min(len(x.events), eventsPerRequest)
		batch := x.events[:n:n]
		x.events = x.events[n:]
		if len(x.events) == 0 {
			x.events = nil
		}
		x.evMu.Unlock()
		if n == 0 {
			return
		}
		if r, ok := x.encodeLogs(batch); ok {
			x.push(r)
		}
	}
}

// send sends the queued requests, oldest first, one at a time, retrying
// what may pass later with backoff; after Stop it returns once the
// waiting events are flushed and the queue is empty, or when ctx is
// canceled.
func (x *Exporter) send(ctx context.Context) {
	defer close(x.exited)
	for {
		r, ok := x.q.pop()
		if !ok {
			select {
			case <-x.drain:
				<-x.flushed
				if _, _, reqs, _ := x.q.stats(); reqs == 0 {
					return
				}
			case <-x.q.wake:
			case <-ctx.Done():
				return
			}
			continue
		}
		if !x.sendOne(ctx, r) {
			return
		}
	}
}

// sendOne sends r until it is accepted or refused for good; false: ctx
// ended first.
func (x *Exporter) sendOne(ctx context.Context, r request) bool {
	defer x.q.done()
	backoff := x.opts.MinBackoff
	for {
		rejected, retry, after, err := x.t.export(ctx, r)
		switch {
		case err == nil:
			rejected = min(max(rejected, 0), int64(r.n)) // a count of profiles, for profiles
			x.sent.Add(uint64(int64(r.n) - rejected))
			if rejected > 0 {
				x.rejected.Add(uint64(rejected))
				x.logger.Warn("the OTLP receiver rejected part of a request", "signal", r.sig, "rejected", rejected)
			}
			return true
		case !retry:
			x.failed.Add(1)
			x.rejected.Add(uint64(r.n))
			x.logger.Warn("OTLP request rejected; its samples are dropped", "signal", r.sig, "samples", r.n, "err", err)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		x.failed.Add(1)
		wait := max(backoff, after)
		x.logger.Debug("OTLP request failed; retrying", "signal", r.sig, "in", wait, "err", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return false
		}
		backoff = min(backoff*2, x.opts.MaxBackoff)
	}
}

// Describe lists the exporters' self metrics.
func (x *Exporter) Describe() []*metrics.Desc { return export.SelfMetrics() }

// Collect reports the exporter's queue and counts. The waiting events
// count as queued; those dropped over MaxEvents as queue_full.
func (x *Exporter) Collect(e *metrics.Emitter) error {
	if x.q == nil {
		return nil
	}
	n, bytes, _, dropped := x.q.stats()
	x.evMu.Lock()
	n += len(x.events)
	x.evMu.Unlock()
	name := x.Name()
	e.Gauge(export.QueueSamples, float64(n), name)
	e.Gauge(export.QueueBytes, float64(bytes), name)
	e.Gauge(export.QueueMax, float64(x.q.maxBytes), name)
	e.Counter(export.SentTotal, float64(x.sent.Load()), name)
	e.Counter(export.FailedTotal, float64(x.failed.Load()), name)
	e.Counter(export.DroppedTotal, float64(dropped+x.evDrop.Load()), name, "queue_full")
	e.Counter(export.DroppedTotal, float64(x.rejected.Load()), name, "rejected")
	return nil
}
