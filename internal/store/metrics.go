package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/kscope/kscope/internal/metrics"
)

// Metrics is the TSDB that holds every collected sample.
type Metrics struct {
	db *tsdb.DB

	// series written by the previous Append, to mark the vanished stale.
	refs map[string]ref
	gen  uint64
	buf  []byte

	// MaxSeries caps the series in memory: beyond it, samples of new
	// series are refused and counted (Limited) until the head frees some
	// (series that ended leave it at the head's next compaction, within
	// 1.5 head blocks). Zero: no cap.
	MaxSeries uint64

	appended, rejected, limited atomic.Uint64
	// atLimit: the last Append found MaxSeries series in the head.
	atLimit atomic.Bool
}

// DefaultMaxSeries is the head series cap OpenMetrics sets: per-process
// families are bounded by design (metrics.TopK), so an agent holds a few
// thousand series; the cap stops a runaway without cutting into that.
const DefaultMaxSeries = 20000

// DefaultHeadBlock is the span of the head's blocks: every such span the
// oldest one is compacted to disk and series with no sample since (ended
// processes, keys that left a top-K) leave memory, between a half and one
// and a half spans after their last sample. Prometheus uses two hours;
// five minutes keeps a host with many short-lived processes bounded at the
// cost of more, smaller compactions (bench/results/series.md).
const DefaultHeadBlock = 5 * time.Minute

// SelfPrefix starts the names of the agent's own families, which the
// series cap never refuses: they are few (bounded by the collectors, their
// programs and maps) and they are how the cap is seen in dashboards.
const SelfPrefix = "kscope_self_"

// MetricsOptions are the metrics store's settings.
type MetricsOptions struct {
	Retention time.Duration
	// MaxSeries caps the series in memory (0: DefaultMaxSeries).
	MaxSeries uint64
	// HeadBlock is the span of the head's blocks (0: DefaultHeadBlock).
	HeadBlock time.Duration
}

type ref struct {
	ref  storage.SeriesRef
	lset labels.Labels
	gen  uint64
}

// OpenMetrics opens (or creates) the TSDB under dir/metrics, replaying its
// write-ahead log, with the default cap and head block.
func OpenMetrics(dir string, retention time.Duration, logger *slog.Logger) (*Metrics, error) {
	return OpenMetricsWith(dir, MetricsOptions{Retention: retention}, logger)
}

// OpenMetricsWith opens (or creates) the TSDB under dir/metrics with o,
// replaying its write-ahead log.
func OpenMetricsWith(dir string, o MetricsOptions, logger *slog.Logger) (*Metrics, error) {
	retention := o.Retention
	if o.MaxSeries == 0 {
		o.MaxSeries = DefaultMaxSeries
	}
	if o.HeadBlock <= 0 {
		o.HeadBlock = DefaultHeadBlock
	}
	opts := tsdb.DefaultOptions()
	opts.RetentionDuration = retention.Milliseconds()
	// An agent holds thousands of series, not millions: a smaller lock
	// stripe saves megabytes of memory.
	opts.StripeSize = 1024
	// Series that ended (processes, top-K keys) leave memory when the head
	// is compacted into a block: see DefaultHeadBlock.
	opts.MinBlockDuration = o.HeadBlock.Milliseconds()
	// Blocks span at most a tenth of the retention, so retention is
	// honoured to within that.
	opts.MaxBlockDuration = max(min(retention.Milliseconds()/10, opts.MaxBlockDuration), opts.MinBlockDuration)
	db, err := tsdb.Open(filepath.Join(dir, "metrics"), logger, nil, opts, nil)
	if err != nil {
		return nil, fmt.Errorf("opening the metrics store in %s: %w", dir, err)
	}
	m := &Metrics{db: db, refs: map[string]ref{}, MaxSeries: o.MaxSeries}
	return m, nil
}

// DB returns the TSDB, to query it.
func (m *Metrics) DB() *tsdb.DB { return m.db }

// Close flushes and closes the TSDB.
func (m *Metrics) Close() error { return m.db.Close() }

// Appended and Rejected count samples stored and refused (out of order,
// invalid).
func (m *Metrics) Appended() uint64 { return m.appended.Load() }

// Rejected counts samples the TSDB refused.
func (m *Metrics) Rejected() uint64 { return m.rejected.Load() }

// Limited counts samples of new series refused because MaxSeries series
// were in memory.
func (m *Metrics) Limited() uint64 { return m.limited.Load() }

// LimitReached reports whether the last Append found MaxSeries series in
// memory: samples of new series are being refused.
func (m *Metrics) LimitReached() bool { return m.atLimit.Load() }

// Append stores one collection at time t. Series written last time and
// missing now get a staleness marker, as Prometheus does when a target
// stops exposing a series, so queries do not carry them on for 5 minutes.
// The samples are acknowledged when Append returns: they are in the WAL.
func (m *Metrics) Append(ctx context.Context, t time.Time, samples []metrics.Sample) error {
	ts := t.UnixMilli()
	// Series in the head, counting the ones this Append creates: at
	// MaxSeries, a series the head does not hold is refused.
	inHead := m.db.Head().NumSeries()
	limited := false
	app := m.db.Appender(ctx)
	getRef, _ := app.(storage.GetRef)
	m.gen++
	var errs []error
	add := func(name string, s *metrics.Sample, le string, v float64) {
		key := m.key(name, s, le)
		r, ok := m.refs[string(key)]
		if !ok {
			b := labels.NewScratchBuilder(len(s.Values) + 2)
			b.Add(labels.MetricName, name)
			for i, l := range s.Desc.Labels {
				if s.Values[i] != "" { // empty is absent, as in Prometheus
					b.Add(l, s.Values[i])
				}
			}
			if le != "" {
				b.Add("le", le)
			}
			b.Sort()
			r.lset = b.Labels()
			if m.MaxSeries > 0 && inHead >= m.MaxSeries && !strings.HasPrefix(name, SelfPrefix) {
				// Known to the head (replayed from the WAL, or back
				// after a gap): not new.
				if getRef != nil {
					r.ref, _ = getRef.GetRef(r.lset, r.lset.Hash())
				}
				if r.ref == 0 {
					limited = true
					m.limited.Add(1)
					return
				}
			} else {
				inHead++ // perhaps: the head may hold it already
			}
		}
		ref, err := app.Append(r.ref, r.lset, ts, v)
		if err != nil {
			m.rejected.Add(1)
			if len(errs) < 3 {
				errs = append(errs, fmt.Errorf("%s: %w", r.lset, err))
			}
			return
		}
		m.appended.Add(1)
		r.ref, r.gen = ref, m.gen
		m.refs[string(key)] = r
	}
	var lebuf []byte
	for i := range samples {
		s := &samples[i]
		name := s.Desc.Name
		if s.Hist == nil {
			add(name, s, "", s.Value)
			continue
		}
		var cum uint64
		for b, le := range s.Hist.Bounds {
			cum += s.Hist.Counts[b]
			lebuf = metrics.AppendFloat(lebuf[:0], le)
			add(name+"_bucket", s, string(lebuf), float64(cum))
		}
		cum += s.Hist.Counts[len(s.Hist.Bounds)]
		add(name+"_bucket", s, "+Inf", float64(cum))
		add(name+"_sum", s, "", s.Hist.Sum)
		add(name+"_count", s, "", float64(cum))
	}
	for key, r := range m.refs {
		if r.gen == m.gen {
			continue
		}
		if _, err := app.Append(r.ref, r.lset, ts, math.Float64frombits(value.StaleNaN)); err != nil && !errors.Is(err, storage.ErrOutOfOrderSample) {
			m.rejected.Add(1)
		}
		delete(m.refs, key)
	}
	m.atLimit.Store(limited || m.MaxSeries > 0 && m.db.Head().NumSeries() >= m.MaxSeries)
	if err := app.Commit(); err != nil {
		return fmt.Errorf("committing samples: %w", err)
	}
	return errors.Join(errs...)
}

// key identifies a series by name, label values and le.
func (m *Metrics) key(name string, s *metrics.Sample, le string) []byte {
	b := m.buf[:0]
	b = append(b, name...)
	for _, v := range s.Values {
		b = append(b, 0xff)
		b = append(b, v...)
	}
	if le != "" {
		b = append(b, 0xfe)
		b = append(b, le...)
	}
	m.buf = b
	return b
}

// HeadSeries is the number of series in memory.
func (m *Metrics) HeadSeries() uint64 { return m.db.Head().NumSeries() }
