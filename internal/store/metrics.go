package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/wlog"
	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/metrics"
)

// Metrics is the TSDB that holds every collected sample.
//
// A commit that fails (a full disk, an I/O error) may leave a torn record
// in the write-ahead log, and replaying a torn WAL discards every record
// after the tear. So after a failed commit, before anything else is
// acknowledged, the TSDB is closed, its WAL is cut back to where the last
// acknowledged commit ended (what follows belongs to failed commits), and
// it is opened again: the opening replays exactly what was acknowledged
// and starts a fresh segment, and what is committed after that survives a
// crash. Until the reopening works, Append fails and acknowledges nothing.
type Metrics struct {
	dir    string
	opts   *tsdb.Options
	logger *slog.Logger

	dbMu sync.RWMutex // guards db: queries read it while Append reopens it
	db   *tsdb.DB
	// broken is the commit error that calls for a reopening, nil when the
	// WAL is sound.
	broken error
	// acked is where the WAL ended after the last acknowledged commit.
	acked walPos
	// lastTs is the timestamp of the last commit, in milliseconds.
	lastTs int64

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
	commitFailures, writeFailed atomic.Uint64
	recoveries                  atomic.Uint64
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
	// Retention is how long samples are kept.
	Retention time.Duration
	// MaxBytes bounds the bytes of the TSDB (blocks, WAL and head chunks),
	// as Prometheus's --storage.tsdb.retention.size: the oldest blocks are
	// deleted first. 0: no bound.
	MaxBytes int64
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
	opts.MaxBytes = o.MaxBytes
	opts.RetentionDuration = retention.Milliseconds()
	// An agent holds thousands of series, not millions: a smaller lock
	// stripe saves megabytes of memory.
	opts.StripeSize = 1024
	// Full head chunks go to disk through this buffer, Prometheus's 4 MiB
	// by default: a few thousand series fill a few KiB a minute.
	opts.HeadChunksWriteBufferSize = 256 << 10
	// Series that ended (processes, top-K keys) leave memory when the head
	// is compacted into a block: see DefaultHeadBlock.
	opts.MinBlockDuration = o.HeadBlock.Milliseconds()
	// Blocks span at most a tenth of the retention, so retention is
	// honoured to within that.
	opts.MaxBlockDuration = max(min(retention.Milliseconds()/10, opts.MaxBlockDuration), opts.MinBlockDuration)
	m := &Metrics{dir: dir, opts: opts, logger: logger, refs: map[string]ref{}, MaxSeries: o.MaxSeries}
	if err := m.open(); err != nil {
		return nil, err
	}
	return m, nil
}

// open opens the TSDB, replaying (and if need be repairing) its WAL.
func (m *Metrics) open() error {
	db, err := tsdb.Open(filepath.Join(m.dir, "metrics"), m.logger, nil, m.opts, nil)
	if err != nil {
		return fmt.Errorf("opening the metrics store in %s: %w", m.dir, err)
	}
	pos, err := m.walEnd()
	if err != nil {
		db.Close()
		return fmt.Errorf("opening the metrics store in %s: %w", m.dir, err)
	}
	m.dbMu.Lock()
	m.db, m.acked = db, pos
	m.dbMu.Unlock()
	return nil
}

// walPos is a position in the WAL: a segment and a byte offset in it.
type walPos struct {
	seg  int
	size int64
}

func (m *Metrics) walDir() string { return filepath.Join(m.dir, "metrics", "wal") }

// walEnd is where the WAL ends now: the last segment and its size. After
// a commit, every byte before it was written to the kernel.
func (m *Metrics) walEnd() (walPos, error) {
	_, last, err := wlog.Segments(m.walDir())
	if err != nil {
		return walPos{}, fmt.Errorf("listing WAL segments: %w", err)
	}
	fi, err := os.Stat(wlog.SegmentName(m.walDir(), last))
	if err != nil {
		return walPos{}, fmt.Errorf("reading the WAL's end: %w", err)
	}
	return walPos{last, fi.Size()}, nil
}

// cutWAL removes what follows pos in the closed WAL: the records of
// failed commits, torn or whole. Truncating and removing need no space.
func (m *Metrics) cutWAL(pos walPos) error {
	ents, err := os.ReadDir(m.walDir())
	if err != nil {
		return fmt.Errorf("cutting the WAL back: %w", err)
	}
	for _, e := range ents {
		i, err := strconv.Atoi(e.Name())
		if err != nil || i <= pos.seg {
			continue
		}
		if err := os.Remove(filepath.Join(m.walDir(), e.Name())); err != nil {
			return fmt.Errorf("cutting the WAL back: %w", err)
		}
	}
	err = os.Truncate(wlog.SegmentName(m.walDir(), pos.seg), pos.size)
	if err != nil && !errors.Is(err, fs.ErrNotExist) { // removed by a checkpoint meanwhile
		return fmt.Errorf("cutting the WAL back: %w", err)
	}
	return nil
}

// minFreeToRecover is the free space a reopening waits for. Closing the
// TSDB writes the WAL's last page (32 KiB), and a close that fails leaves
// the segment's file open: on a full disk the broken TSDB stays open
// (queries go on), and nothing is written to it.
const minFreeToRecover = 1 << 20

// recover closes the TSDB after a failed commit, cuts its WAL back to the
// end of the last acknowledged commit and opens it again.
func (m *Metrics) recover() error {
	var st unix.Statfs_t
	if err := unix.Statfs(m.dir, &st); err == nil {
		if free := int64(st.Bavail) * st.Bsize; free < minFreeToRecover {
			return fmt.Errorf("the filesystem holding %s is full (%d bytes free)", m.dir, free)
		}
	}
	m.dbMu.Lock()
	old := m.db
	m.db = nil
	m.dbMu.Unlock()
	if old != nil {
		// Closing writes the WAL's last page if it can: cut below.
		if err := old.Close(); err != nil {
			m.logger.Debug("closing the metrics store after a failed write", "err", err)
		}
	}
	if m.acked.seg >= 0 {
		if err := m.cutWAL(m.acked); err != nil {
			return err
		}
	}
	if err := m.open(); err != nil {
		return err
	}
	// Series references belong to the closed head: look them up again,
	// keeping the label sets so vanished series still get their marker.
	for k, r := range m.refs {
		r.ref = 0
		m.refs[k] = r
	}
	m.broken = nil
	m.recoveries.Add(1)
	m.logger.Warn("metrics store reopened after a failed write; samples are acknowledged again")
	return nil
}

// DB returns the TSDB, to query it. It changes when the TSDB is reopened
// after a failed write: query through Metrics itself (a
// storage.Queryable) to follow it.
func (m *Metrics) DB() *tsdb.DB {
	m.dbMu.RLock()
	defer m.dbMu.RUnlock()
	return m.db
}

// errClosed is what queries get while the TSDB could not be reopened.
var errClosed = errors.New("the metrics store is being reopened after a failed write")

// Querier implements storage.Queryable over the current TSDB.
func (m *Metrics) Querier(mint, maxt int64) (storage.Querier, error) {
	m.dbMu.RLock()
	defer m.dbMu.RUnlock()
	if m.db == nil {
		return nil, errClosed
	}
	return m.db.Querier(mint, maxt)
}

// Close flushes and closes the TSDB.
func (m *Metrics) Close() error {
	m.dbMu.Lock()
	defer m.dbMu.Unlock()
	if m.db == nil {
		return nil
	}
	return m.db.Close()
}

// Appended counts samples committed to the TSDB: acknowledged.
func (m *Metrics) Appended() uint64 { return m.appended.Load() }

// CommitFailures counts commits that failed (their samples are counted
// in WriteFailed).
func (m *Metrics) CommitFailures() uint64 { return m.commitFailures.Load() }

// WriteFailed counts samples not stored because their commit failed or
// the TSDB was being reopened after a failed commit.
func (m *Metrics) WriteFailed() uint64 { return m.writeFailed.Load() }

// Recoveries counts reopenings of the TSDB after a failed commit.
func (m *Metrics) Recoveries() uint64 { return m.recoveries.Load() }

// Broken returns the write error the TSDB has not recovered from, or nil.
// Append must not run concurrently.
func (m *Metrics) Broken() error { return m.broken }

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
// The samples are acknowledged when Append returns nil: they are in the
// WAL. After a failed commit, Append first reopens the TSDB (see Metrics);
// while that fails it returns the error and stores nothing.
func (m *Metrics) Append(ctx context.Context, t time.Time, samples []metrics.Sample) error {
	if m.broken != nil {
		if err := m.recover(); err != nil {
			m.writeFailed.Add(uint64(countSamples(samples)))
			return fmt.Errorf("reopening the metrics store after a failed write (%v): %w", m.broken, err)
		}
	}
	ts := t.UnixMilli()
	// A collection that ran late is followed at once by the next, and two
	// can fall in one millisecond: the TSDB would drop the second's
	// samples that equal the first's without a word. Keep timestamps
	// increasing (a clock stepped back further makes the samples out of
	// order: refused and counted).
	if ts <= m.lastTs && m.lastTs-ts < 1000 {
		ts = m.lastTs + 1
	}
	// Series in the head, counting the ones this Append creates: at
	// MaxSeries, a series the head does not hold is refused.
	inHead := m.db.Head().NumSeries()
	limited := false
	app := m.db.Appender(ctx)
	getRef, _ := app.(storage.GetRef)
	m.gen++
	var (
		errs    []error
		pending uint64 // samples added to app, counted once committed
	)
	// add appends v, or h when it is set (a native histogram).
	add := func(name string, s *metrics.Sample, le string, v float64, h *histogram.Histogram) {
		key := m.key(name, s, le)
		r, ok := m.refs[string(key)]
		if !ok {
			b := labels.NewScratchBuilder(len(s.Values) + 2)
			b.Add(model.MetricNameLabel, name)
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
		var (
			ref storage.SeriesRef
			err error
		)
		if h != nil {
			ref, err = app.AppendHistogram(r.ref, r.lset, ts, h, nil)
		} else {
			ref, err = app.Append(r.ref, r.lset, ts, v)
		}
		if err != nil {
			m.rejected.Add(1)
			if len(errs) < 3 {
				errs = append(errs, fmt.Errorf("%s: %w", r.lset, err))
			}
			return
		}
		pending++
		r.ref, r.gen = ref, m.gen
		m.refs[string(key)] = r
	}
	var lebuf []byte
	for i := range samples {
		s := &samples[i]
		name := s.Desc.Name
		switch {
		case s.Hist == nil:
			add(name, s, "", s.Value, nil)
			continue
		case s.Hist.Native != nil:
			add(name, s, "", 0, s.Hist.Native.Prometheus(s.Hist.Sum))
			continue
		}
		var cum uint64
		for b, le := range s.Hist.Bounds {
			cum += s.Hist.Counts[b]
			lebuf = metrics.AppendFloat(lebuf[:0], le)
			add(name+"_bucket", s, string(lebuf), float64(cum), nil)
		}
		cum += s.Hist.Counts[len(s.Hist.Bounds)]
		add(name+"_bucket", s, "+Inf", float64(cum), nil)
		add(name+"_sum", s, "", s.Hist.Sum, nil)
		add(name+"_count", s, "", float64(cum), nil)
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
		// The WAL may hold a torn record now: reopen before acknowledging
		// anything again.
		m.broken = err
		m.commitFailures.Add(1)
		m.writeFailed.Add(pending)
		return fmt.Errorf("committing samples: %w", err)
	}
	m.appended.Add(pending)
	m.lastTs = ts
	if pos, err := m.walEnd(); err == nil {
		m.acked = pos
	} else {
		// Unknown: a reopening must not cut acknowledged records.
		m.acked = walPos{seg: -1}
		m.logger.Warn("reading the WAL's end", "err", err)
	}
	return errors.Join(errs...)
}

// countSamples is the number of TSDB samples a collection makes.
func countSamples(samples []metrics.Sample) int {
	n := 0
	for i := range samples {
		if h := samples[i].Hist; h != nil && h.Native == nil {
			n += len(h.Bounds) + 3
		} else {
			n++
		}
	}
	return n
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

// Size is the TSDB's bytes on disk as its size retention counts them:
// blocks, WAL and head chunks.
func (m *Metrics) Size() int64 {
	m.dbMu.RLock()
	defer m.dbMu.RUnlock()
	if m.db == nil {
		return 0
	}
	n := m.db.Head().Size()
	for _, b := range m.db.Blocks() {
		n += b.Size()
	}
	return n
}

// MaxBytes is the TSDB's size budget (0: none).
func (m *Metrics) MaxBytes() int64 { return m.opts.MaxBytes }

// HeadSeries is the number of series in memory.
func (m *Metrics) HeadSeries() uint64 {
	m.dbMu.RLock()
	defer m.dbMu.RUnlock()
	if m.db == nil {
		return 0
	}
	return m.db.Head().NumSeries()
}
