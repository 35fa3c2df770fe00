package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/kscope/kscope/internal/metrics"
)

// A histogram with exponential buckets is one native histogram series,
// with no _bucket, _sum or _count series; it comes back from the WAL, and
// a vanished one gets a stale marker.
func TestMetricsNativeHistogram(t *testing.T) {
	dir := t.TempDir()
	m, err := OpenMetrics(dir, 24*time.Hour, logger)
	if err != nil {
		t.Fatal(err)
	}
	h := metrics.NewHistogram("kscope_n_values", "n", "k")
	// 0, 2, 3 and 100 (bpftrace's buckets 1, 3, 3 and 8).
	native := func(zero uint64) metrics.HistogramValue {
		return metrics.HistogramValue{Bounds: []float64{0}, Counts: []uint64{zero, 3}, Sum: float64(105),
			Native: &metrics.NativeHistogram{ZeroCount: zero, PositiveOffset: 1, Positive: []uint64{0, 2, 0, 0, 0, 0, 1}}}
	}
	var e metrics.Emitter
	e.Histogram(h, native(1), "a")
	e.Histogram(h, native(2), "b")
	t0 := time.Now().Add(-time.Minute)
	ctx := context.Background()
	if err := m.Append(ctx, t0, e.Samples); err != nil {
		t.Fatal(err)
	}
	e.Reset()
	e.Histogram(h, native(4), "a") // b vanished: stale
	if err := m.Append(ctx, t0.Add(time.Second), e.Samples); err != nil {
		t.Fatal(err)
	}
	if m.Appended() != 3 {
		t.Errorf("appended %d samples, want 3", m.Appended())
	}
	m.db.Close() // the samples come back from the WAL alone
	if m, err = OpenMetrics(dir, 24*time.Hour, logger); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	q, err := m.DB().Querier(t0.Add(-time.Second).UnixMilli(), t0.Add(time.Minute).UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var got []string
	set := q.Select(ctx, true, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", "kscope_n.*"))
	for set.Next() {
		s := set.At()
		it := s.Iterator(nil)
		for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
			if vt != chunkenc.ValHistogram {
				_, v := it.At()
				got = append(got, s.Labels().String()+" float "+strings.TrimSpace(string(metrics.AppendFloat(nil, v))))
				continue
			}
			_, hv := it.AtHistogram(nil)
			if value.IsStaleNaN(hv.Sum) {
				got = append(got, s.Labels().String()+" stale")
				continue
			}
			got = append(got, s.Labels().String()+" "+hv.String())
		}
	}
	want := []string{
		`{__name__="kscope_n_values", k="a"} {count:4, sum:105, [-0,0]:1, (2,4]:2, (64,128]:1}`,
		`{__name__="kscope_n_values", k="a"} {count:7, sum:105, [-0,0]:4, (2,4]:2, (64,128]:1}`,
		`{__name__="kscope_n_values", k="b"} {count:5, sum:105, [-0,0]:2, (2,4]:2, (64,128]:1}`,
		`{__name__="kscope_n_values", k="b"} stale`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stored:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
