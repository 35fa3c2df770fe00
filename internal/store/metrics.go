package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/index"

	"github.com/kscope/kscope/internal/metrics"
)

// Metrics is the TSDB that holds every collected sample.
type Metrics struct {
	db *tsdb.DB

	// series written by the previous Append, to mark the vanished stale.
	refs map[string]ref
	gen  uint64
	buf  []byte
	// replayed holds the label hashes of the series the head had when it
	// was opened (replayed from the WAL): at the cap, they are not new.
	replayed map[uint64]struct{}

	// MaxSeries caps the series in memory: beyond it, samples of new
	// series are refused and counted (Limited) until compaction frees some.
	MaxSeries uint64

	appended, rejected, limited atomic.Uint64
}

// DefaultMaxSeries is the head series cap OpenMetrics sets.
const DefaultMaxSeries = 20000

type ref struct {
	ref  storage.SeriesRef
	lset labels.Labels
	gen  uint64
}

// OpenMetrics opens (or creates) the TSDB under dir/metrics, replaying its
// write-ahead log.
func OpenMetrics(dir string, retention time.Duration, logger *slog.Logger) (*Metrics, error) {
	opts := tsdb.DefaultOptions()
	opts.RetentionDuration = retention.Milliseconds()
	// An agent holds thousands of series, not millions: a smaller lock
	// stripe saves megabytes of memory.
	opts.StripeSize = 1024
	// Series that ended (processes, top-K keys) leave memory when the head
	// is compacted into a block: every half hour rather than every two
	// hours keeps a host with many short-lived processes bounded.
	opts.MinBlockDuration = (30 * time.Minute).Milliseconds()
	// Blocks span at most a tenth of the retention, so retention is
	// honoured to within that.
	opts.MaxBlockDuration = max(min(retention.Milliseconds()/10, opts.MaxBlockDuration), opts.MinBlockDuration)
	db, err := tsdb.Open(filepath.Join(dir, "metrics"), logger, nil, opts, nil)
	if err != nil {
		return nil, fmt.Errorf("opening the metrics store in %s: %w", dir, err)
	}
	m := &Metrics{db: db, refs: map[string]ref{}, MaxSeries: DefaultMaxSeries}
	if m.replayed, err = headSeries(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening the metrics store in %s: %w", dir, err)
	}
	return m, nil
}

// headSeries returns the label hashes of the series in db's head.
func headSeries(db *tsdb.DB) (map[uint64]struct{}, error) {
	ir, err := db.Head().Index()
	if err != nil {
		return nil, err
	}
	defer ir.Close()
	name, value := index.AllPostingsKey()
	p, err := ir.Postings(context.Background(), name, value)
	if err != nil {
		return nil, err
	}
	out := map[uint64]struct{}{}
	var b labels.ScratchBuilder
	for p.Next() {
		if err := ir.Series(p.At(), &b, nil); err != nil {
			continue // removed meanwhile
		}
		out[b.Labels().Hash()] = struct{}{}
	}
	return out, p.Err()
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

// Append stores one collection at time t. Series written last time and
// missing now get a staleness marker, as Prometheus does when a target
// stops exposing a series, so queries do not carry them on for 5 minutes.
// The samples are acknowledged when Append returns: they are in the WAL.
func (m *Metrics) Append(ctx context.Context, t time.Time, samples []metrics.Sample) error {
	ts := t.UnixMilli()
	full := m.MaxSeries > 0 && m.db.Head().NumSeries() >= m.MaxSeries
	app := m.db.Appender(ctx)
	m.gen++
	var errs []error
	add := func(name string, s *metrics.Sample, le string, v float64) {
		key := m.key(name, s, le)
		r, ok := m.refs[string(key)]
		if !ok {
			b := labels.NewScratchBuilder(len(s.Values) + 2)
			b.Add(labels.MetricName, name)
			for i, l := range s.Desc.Labels {
				b.Add(l, s.Values[i])
			}
			if le != "" {
				b.Add("le", le)
			}
			b.Sort()
			r.lset = b.Labels()
			if full {
				if _, old := m.replayed[r.lset.Hash()]; !old {
					m.limited.Add(1)
					return
				}
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
