package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
)

// Limits bound the queries the API evaluates: PromQL, events and
// profiles. Zero fields take the defaults, which are Prometheus's.
type Limits struct {
	// Timeout bounds a query from its arrival to its answer, the wait for
	// a slot included (query.timeout). A request's timeout parameter can
	// only shorten it.
	Timeout time.Duration
	// MaxSamples bounds the samples a PromQL query holds in memory at once
	// (query.max_samples).
	MaxSamples int
	// MaxConcurrency bounds the PromQL queries evaluated at once
	// (query.max_concurrency). Events and profile queries run at most
	// min(MaxConcurrency, MaxStoreConcurrency) at once each.
	MaxConcurrency int
	// SubqueryStep is the step of a subquery that gives none ([5m:]).
	SubqueryStep time.Duration
}

// Defaults, as Prometheus's --query.timeout, --query.max-samples and
// --query.max-concurrency; a subquery without a step takes Prometheus's
// default evaluation interval.
const (
	DefaultTimeout        = 2 * time.Minute
	DefaultMaxSamples     = 50_000_000
	DefaultMaxConcurrency = 20
	DefaultSubqueryStep   = time.Minute
	// MaxStoreConcurrency caps the events and the profile queries running
	// at once: each SQLite store keeps the rest of its connections for
	// its writer and its retention.
	MaxStoreConcurrency = 2
	// QueueFactor: beyond QueueFactor times its concurrency of queries
	// waiting for a slot, an API answers 503 at once.
	QueueFactor = 4
)

func (l Limits) withDefaults() Limits {
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	if l.MaxSamples <= 0 {
		l.MaxSamples = DefaultMaxSamples
	}
	if l.MaxConcurrency <= 0 {
		l.MaxConcurrency = DefaultMaxConcurrency
	}
	if l.SubqueryStep <= 0 {
		l.SubqueryStep = DefaultSubqueryStep
	}
	return l
}

// Query APIs, as kscope_self_queries_* label them.
const (
	APIPromQL  = "promql"
	APIEvents  = "events"
	APIProfile = "profile"
)

// Results a query can have: success or the Prometheus API's error type.
var Results = []string{"success", "bad_data", "execution", "timeout", "canceled", "unavailable", "internal"}

// gate admits at most cap(slots) queries at once, and up to maxQueue more
// waiting for a slot; the others are refused at once. It counts what
// became of every query.
type gate struct {
	api      string
	slots    chan struct{}
	maxQueue int64
	queued   atomic.Int64
	results  map[string]*atomic.Uint64 // read-only after newGate
}

func newGate(api string, n int) *gate {
	g := &gate{api: api, slots: make(chan struct{}, n), maxQueue: int64(QueueFactor * n), results: map[string]*atomic.Uint64{}}
	for _, r := range Results {
		g.results[r] = new(atomic.Uint64)
	}
	return g
}

// enter takes a slot, waiting while ctx lasts; release it with leave.
func (g *gate) enter(ctx context.Context) *apiError {
	select {
	case g.slots <- struct{}{}:
		return nil
	default:
	}
	if g.queued.Add(1) > g.maxQueue {
		g.queued.Add(-1)
		return &apiError{"unavailable", http.StatusServiceUnavailable,
			fmt.Errorf("too many %s queries: %d running and %d waiting, try again later", g.api, cap(g.slots), g.maxQueue)}
	}
	defer g.queued.Add(-1)
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return contextError(ctx, "waiting for a query slot")
	}
}

func (g *gate) leave() { <-g.slots }

// QueryStats is one API's query accounting.
type QueryStats struct {
	API              string // APIPromQL, APIEvents, APIProfile
	InFlight, Queued int
	// Results counts the queries answered, by result (see Results).
	Results map[string]uint64
}

func (g *gate) stats() QueryStats {
	st := QueryStats{API: g.api, InFlight: len(g.slots), Queued: int(g.queued.Load()), Results: map[string]uint64{}}
	for r, n := range g.results {
		st.Results[r] = n.Load()
	}
	return st
}

// contextError answers a query stopped by its context: the timeout (503)
// or the client gone (499, as Prometheus).
func contextError(ctx context.Context, during string) *apiError {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &apiError{"timeout", http.StatusServiceUnavailable, fmt.Errorf("query timed out %s", during)}
	}
	return &apiError{"canceled", 499, fmt.Errorf("query canceled %s", during)}
}

// queryContext bounds a query by the configured timeout, shortened by the
// request's timeout parameter, by the client's connection and by
// CancelQueries.
func (s *Server) queryContext(r *http.Request) (context.Context, context.CancelFunc, *apiError) {
	d := s.limits.Timeout
	if v := r.Form.Get("timeout"); v != "" {
		t, err := parseDuration(v)
		if err != nil || t <= 0 {
			return nil, nil, badData("invalid parameter \"timeout\": want a positive duration, not %q", v)
		}
		d = min(d, t)
	}
	ctx, cancel := context.WithTimeout(r.Context(), d)
	stop := context.AfterFunc(s.stopping, cancel)
	return ctx, func() { stop(); cancel() }, nil
}

// CancelQueries stops every query running or waiting, as the client
// leaving would: for a shutdown that is not held by a long query.
func (s *Server) CancelQueries() { s.stop() }

// recorder notes the result of the query it answers.
type recorder struct {
	http.ResponseWriter
	result string
}

// Flush lets streaming answers through.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// counted runs h as a query of g's API and counts its result.
func counted(g *gate, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w, result: "success"}
		h(rec, r)
		if c := g.results[rec.result]; c != nil {
			c.Add(1)
		}
	}
}
