package agent

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/container"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/export"
	"github.com/kscope/kscope/internal/export/otlp"
	"github.com/kscope/kscope/internal/export/remotewrite"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/profile"
	"github.com/kscope/kscope/internal/store"
)

// sinks is the agent's path from the collectors to what keeps or sends
// their output. Events go, per collector,
//
//	collector → limiter (the budget's event rates) → enrichment → encoder
//	          → event store, live stream, exporters
//
// and are encoded to JSON once, in the encoder, for all three. The
// collectors fill the process identity (pid, start_ns, parent_start_ns,
// cgroup_id) in the kernel; the enrichment stage (enrich.go) adds what
// only user space knows: the container, pod and unit of the process
// (package container). Metric samples go to the TSDB and the exporters at
// every collection, the per-process families with the same container
// labels; profile windows to the profile store and the exporters.
type sinks struct {
	events    *store.Events // nil under --check: nothing is kept
	live      *live
	exporters atomic.Pointer[[]export.Exporter] // the started ones; nil once stopped

	containers *container.Resolver // nil: no enrichment (--check, or disabled)
	stopWatch  context.CancelFunc
	descMu     sync.Mutex
	descs      map[*metrics.Desc]*metrics.Desc // per-process families with container labels
}

// chain is a collector's event sink: events are limited to the budget's
// rates, encoded once and handed on. Under --check, it discards.
func (s *sinks) chain(b config.Budget) (eventSink, *limiter) {
	if s == nil || s.events == nil {
		return discard{}, nil
	}
	l := newLimiter(s.enrich(&encoder{s: s}), b)
	return l, l
}

// enrich is the enrichment stage: container, pod and unit fields.
func (s *sinks) enrich(next eventSink) eventSink {
	if s.containers == nil {
		return next
	}
	return container.NewSink(s.containers, container.Filter{}, next)
}

// encoder encodes each event once and hands the bytes to the store, the
// live stream and the exporters. A collector's events reach it from its
// reader goroutine; the lock keeps the buffer safe regardless.
type encoder struct {
	s   *sinks
	mu  sync.Mutex
	buf []byte
}

func (e *encoder) Emit(ev event.Event) {
	e.mu.Lock()
	e.buf = event.AppendJSON(e.buf[:0], ev)
	data := append([]byte(nil), e.buf...)
	e.mu.Unlock()
	h := ev.Hdr()
	e.s.events.Put(h, data)
	e.s.live.publishJSON(h, data)
	if xs := e.s.exporters.Load(); xs != nil {
		for _, x := range *xs {
			x.ReportEvent(export.Event{Header: *h, JSON: data})
		}
	}
}

func (e *encoder) Flush() { e.s.events.Flush() }

// startExporters starts every exporter; one that fails is logged and left
// out, the agent runs on.
func (s *sinks) startExporters(ctx context.Context, xs []export.Exporter, a *Agent) {
	var started []export.Exporter
	for _, x := range xs {
		if err := x.Start(ctx); err != nil {
			a.logger.Warn("exporter not started; the agent runs without it", "exporter", x.Name(), "err", err)
			continue
		}
		started = append(started, x)
	}
	s.exporters.Store(&started)
}

// exportSources are the sources of the sink chain's self metrics: the
// container resolver's and the started exporters' that report some.
func (s *sinks) exportSources() []metrics.Source {
	var out []metrics.Source
	if s.containers != nil {
		out = append(out, newContainerStats(s.containers))
	}
	if xs := s.exporters.Load(); xs != nil {
		for _, x := range *xs {
			if src, ok := x.(metrics.Source); ok {
				out = append(out, src)
			}
		}
	}
	return out
}

// remoteWriters builds an exporter for each remote_write endpoint of cfg,
// its queue in the data directory, and one for the otlp receiver.
func remoteWriters(cfg *config.Config, logger *slog.Logger) ([]export.Exporter, error) {
	var xs []export.Exporter
	for _, rw := range cfg.RemoteWrite {
		x, err := remotewrite.New(remotewrite.Options{Config: rw, ExternalLabels: cfg.ExternalLabels, DataDir: cfg.DataDir, Logger: logger})
		if err != nil {
			return nil, err
		}
		xs = append(xs, x)
	}
	if cfg.OTLP != nil {
		x, err := otlp.New(otlp.Options{Config: cfg.OTLP, Logger: logger})
		if err != nil {
			return nil, err
		}
		xs = append(xs, x)
	}
	return xs, nil
}

// stopExporters stops the exporters, allowing them exportStopWait to send
// what they hold.
func (s *sinks) stopExporters() error {
	if s == nil {
		return nil
	}
	xs := s.exporters.Swap(nil)
	if xs == nil {
		return nil
	}
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), exportStopWait)
	defer cancel()
	for _, x := range *xs {
		errs = append(errs, x.Stop(ctx))
	}
	return errors.Join(errs...)
}

// exportStopWait bounds how long the exporters may take to stop.
const exportStopWait = 5 * time.Second

func (s *sinks) reportMetrics(t time.Time, descs []*metrics.Desc, samples []metrics.Sample) {
	if s == nil {
		return
	}
	if xs := s.exporters.Load(); xs != nil {
		for _, x := range *xs {
			x.ReportMetrics(t, descs, samples)
		}
	}
}

func (s *sinks) reportProfile(p *profile.Profile) {
	if s == nil {
		return
	}
	if xs := s.exporters.Load(); xs != nil {
		for _, x := range *xs {
			x.ReportProfile(p)
		}
	}
}
