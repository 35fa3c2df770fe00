package store

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"

	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
)

var logger = slog.New(slog.NewTextHandler(io.Discard, nil))

func exitEvent(t time.Time, pid uint32, comm string, code int32) *event.Exit {
	return &event.Exit{Header: event.Header{Time: t, Type: "exit", PID: pid, Comm: comm}, ExitCode: code}
}

func TestEvents(t *testing.T) {
	dir := t.TempDir()
	e, err := OpenEvents(dir, time.Hour, 1000, logger)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Minute)
	for i := range 10 {
		comm := "bash"
		if i%2 == 1 {
			comm = "zsh"
		}
		e.Emit(exitEvent(base.Add(time.Duration(i)*time.Second), uint32(100+i), comm, int32(i)))
	}
	e.Emit(&event.Exec{Header: event.Header{Time: base, Type: "exec", PID: 1, Comm: "sh"}, Filename: "/bin/sh", Argv: []string{"sh", "-c", "x y"}})
	old := exitEvent(time.Now().Add(-2*time.Hour), 9, "old", 0) // past retention
	e.Emit(old)
	if err := e.Close(); err != nil { // writes what is queued
		t.Fatal(err)
	}
	if e.Stored() != 12 || e.Dropped() != 0 {
		t.Fatalf("stored %d dropped %d", e.Stored(), e.Dropped())
	}
	// Reopening expires the old event and keeps the rest.
	e, err = OpenEvents(dir, time.Hour, 1000, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Expired() != 1 {
		t.Errorf("expired %d, want 1", e.Expired())
	}
	ctx := context.Background()
	for _, tc := range []struct {
		q         Query
		pids      []int
		truncated bool
	}{
		{Query{Type: "exit"}, []int{100, 101, 102, 103, 104, 105, 106, 107, 108, 109}, false},
		{Query{Type: "exit", Limit: 3}, []int{107, 108, 109}, true},
		{Query{Type: "exit", Match: []string{"comm=bash"}}, []int{100, 102, 104, 106, 108}, false},
		{Query{Type: "exit", Match: []string{"comm!=bash", "exit_code=3"}}, []int{103}, false},
		{Query{Type: "exit", Match: []string{"pid=~10[0-2]"}}, []int{100, 101, 102}, false},
		{Query{Type: "exit", Match: []string{"comm!~z.*"}, Limit: 2}, []int{106, 108}, true},
		{Query{Type: "exit", Since: base.Add(3 * time.Second), Until: base.Add(5 * time.Second)}, []int{103, 104, 105}, false},
		{Query{Match: []string{"filename=/bin/sh"}}, []int{1}, false},
		{Query{Type: "connect"}, nil, false},
	} {
		res, err := e.Query(ctx, tc.q)
		if err != nil {
			t.Fatalf("%+v: %v", tc.q, err)
		}
		var pids []int
		for _, ev := range res.Events {
			var m struct{ PID int }
			if err := json.Unmarshal(ev, &m); err != nil {
				t.Fatalf("stored event is not JSON: %s", ev)
			}
			pids = append(pids, m.PID)
		}
		if !equal(pids, tc.pids) || res.Truncated != tc.truncated {
			t.Errorf("%+v: pids %v truncated %v, want %v %v", tc.q, pids, res.Truncated, tc.pids, tc.truncated)
		}
	}
	for _, bad := range []Query{{Match: []string{"comm"}}, {Match: []string{"x y=1"}}, {Match: []string{"a=~("}}, {Limit: MaxLimit + 1}} {
		if _, err := e.Query(ctx, bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A full queue drops and counts; nothing blocks the emitter.
func TestEventsQueueFull(t *testing.T) {
	e, err := OpenEvents(t.TempDir(), time.Hour, 4, logger)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	now := time.Now()
	for i := range n {
		e.Emit(exitEvent(now, uint32(i), "x", 0))
	}
	e.Close()
	if e.Stored()+e.Dropped() != n || e.Dropped() == 0 {
		t.Errorf("stored %d + dropped %d != %d (or nothing dropped)", e.Stored(), e.Dropped(), n)
	}
}

func TestMetricsRestart(t *testing.T) {
	dir := t.TempDir()
	m, err := OpenMetrics(dir, 24*time.Hour, logger)
	if err != nil {
		t.Fatal(err)
	}
	c := metrics.NewCounter("kscope_t_total", "t", "k")
	h := metrics.NewHistogram("kscope_t_seconds", "t")
	t0 := time.Now().Add(-time.Minute)
	slots := make([]uint64, 64)
	slots[10] = 4
	var e metrics.Emitter
	e.Counter(c, 1, "a")
	e.Counter(c, 5, "b")
	e.Histogram(h, metrics.Log2(slots, 4000, 1e-9, 9, 12))
	ctx := context.Background()
	if err := m.Append(ctx, t0, e.Samples); err != nil {
		t.Fatal(err)
	}
	e.Reset()
	e.Counter(c, 2, "a") // b vanished: stale
	if err := m.Append(ctx, t0.Add(time.Second), e.Samples); err != nil {
		t.Fatal(err)
	}
	// First: 2 counters, 4 buckets, +Inf, sum, count; then 1 counter.
	if m.Appended() != 2+4+1+2+1 {
		t.Errorf("appended %d samples, want 10", m.Appended())
	}
	// No Close: the samples must come back from the WAL alone.
	m.db.Close()
	m, err = OpenMetrics(dir, 24*time.Hour, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	q, err := m.DB().Querier(t0.Add(-time.Second).UnixMilli(), t0.Add(time.Minute).UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	got := map[string][]float64{}
	set := q.Select(ctx, false, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", "kscope_t.*"))
	for set.Next() {
		s := set.At()
		it := s.Iterator(nil)
		for it.Next() != 0 {
			_, v := it.At()
			got[s.Labels().String()] = append(got[s.Labels().String()], v)
		}
	}
	if v := got[`{__name__="kscope_t_total", k="a"}`]; len(v) != 2 || v[0] != 1 || v[1] != 2 {
		t.Errorf("a: %v", v)
	}
	if v := got[`{__name__="kscope_t_total", k="b"}`]; len(v) != 2 || v[0] != 5 || !value.IsStaleNaN(v[1]) {
		t.Errorf("b: %v, want [5 StaleNaN]", v)
	}
	if v := got[`{__name__="kscope_t_seconds_bucket", le="4.096e-06"}`]; len(v) < 1 || v[0] != 4 {
		t.Errorf("bucket: %v (series %v)", v, keys(got))
	}
	if v := got[`{__name__="kscope_t_seconds_sum"}`]; len(v) < 1 || math.Abs(v[0]-4e-6) > 1e-12 {
		t.Errorf("sum: %v", v)
	}
}

func keys(m map[string][]float64) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return strings.Join(ks, " ")
}

// Beyond MaxSeries, new series are refused and counted; known ones go on.
func TestMetricsSeriesCap(t *testing.T) {
	m, err := OpenMetrics(t.TempDir(), time.Hour, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.MaxSeries = 3
	c := metrics.NewCounter("kscope_cap_total", "c", "k")
	now := time.Now()
	for round := range 3 {
		var e metrics.Emitter
		for i := range 3 + round {
			e.Counter(c, float64(round), strconv.Itoa(i))
		}
		if err := m.Append(context.Background(), now.Add(time.Duration(round)*time.Second), e.Samples); err != nil {
			t.Fatal(err)
		}
	}
	if m.HeadSeries() != 3 || m.Appended() != 9 || m.Limited() != 1+2 {
		t.Errorf("series %d appended %d limited %d, want 3 9 3", m.HeadSeries(), m.Appended(), m.Limited())
	}
	if !m.LimitReached() {
		t.Error("LimitReached false at the cap")
	}
}

// The cap counts the series one Append creates: a first collection larger
// than the cap is cut at it.
func TestMetricsSeriesCapWithinAppend(t *testing.T) {
	m, err := OpenMetricsWith(t.TempDir(), MetricsOptions{Retention: time.Hour, MaxSeries: 5}, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := metrics.NewCounter("kscope_cap_total", "c", "k")
	var e metrics.Emitter
	for i := range 4 {
		e.Counter(c, 1, strconv.Itoa(i))
	}
	if err := m.Append(context.Background(), time.Now(), e.Samples); err != nil {
		t.Fatal(err)
	}
	if m.LimitReached() || m.HeadSeries() != 4 {
		t.Fatalf("4 of 5 series: LimitReached %v, head %d", m.LimitReached(), m.HeadSeries())
	}
	for i := 4; i < 12; i++ {
		e.Counter(c, 1, strconv.Itoa(i))
	}
	if err := m.Append(context.Background(), time.Now().Add(time.Second), e.Samples); err != nil {
		t.Fatal(err)
	}
	if !m.LimitReached() || m.HeadSeries() != 5 || m.Limited() != 7 {
		t.Errorf("12 series for a cap of 5: LimitReached %v, head %d, limited %d; want true 5 7", m.LimitReached(), m.HeadSeries(), m.Limited())
	}
}

// A label with an empty value is absent, as in Prometheus: a per-command
// series (pid "") has no pid label.
func TestMetricsEmptyLabel(t *testing.T) {
	m, err := OpenMetrics(t.TempDir(), time.Hour, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := metrics.NewCounter("kscope_e_total", "c", "pid", "comm")
	var e metrics.Emitter
	e.Counter(c, 3, "", "make")
	now := time.Now()
	if err := m.Append(context.Background(), now, e.Samples); err != nil {
		t.Fatal(err)
	}
	got := selectAll(t, m, now.Add(-time.Second), now.Add(time.Second), "kscope_e_total")
	if v := got[`{__name__="kscope_e_total", comm="make"}`]; len(v) != 1 || v[0] != 3 {
		t.Errorf("got %v, want the series without pid", got)
	}
}

// selectAll returns the samples of the series named name between from
// and to, by label set.
func selectAll(t *testing.T, m *Metrics, from, to time.Time, name string) map[string][]float64 {
	t.Helper()
	q, err := m.DB().Querier(from.UnixMilli(), to.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	got := map[string][]float64{}
	set := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", name))
	for set.Next() {
		s := set.At()
		it := s.Iterator(nil)
		for it.Next() != 0 {
			_, v := it.At()
			got[s.Labels().String()] = append(got[s.Labels().String()], v)
		}
	}
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// A series that ended leaves the head at the next head compaction, within
// 1.5 head blocks of its last sample, and stays queryable from the block.
func TestMetricsEndedSeriesLeaveHead(t *testing.T) {
	m, err := OpenMetricsWith(t.TempDir(), MetricsOptions{Retention: 24 * time.Hour, HeadBlock: time.Minute}, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := metrics.NewCounter("kscope_gc_total", "c", "pid")
	ctx := context.Background()
	t0 := time.Now().Add(-time.Hour).Truncate(time.Minute)
	step := 10 * time.Second
	appendAt := func(i int, pids ...string) {
		var e metrics.Emitter
		for _, p := range pids {
			e.Counter(c, float64(i), p)
		}
		if err := m.Append(ctx, t0.Add(time.Duration(i)*step), e.Samples); err != nil {
			t.Fatal(err)
		}
	}
	// Process 1 lives for three collections; 2 and 3 for all of them.
	for i := range 3 {
		appendAt(i, "1", "2", "3")
	}
	if m.HeadSeries() != 3 {
		t.Fatalf("head %d series, want 3", m.HeadSeries())
	}
	// Two and a half head blocks later, compaction has run or is running.
	i := 3
	for ; time.Duration(i)*step <= 150*time.Second; i++ {
		appendAt(i, "2", "3")
	}
	deadline := time.Now().Add(time.Minute)
	for m.HeadSeries() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("head still holds %d series, want 2", m.HeadSeries())
		}
		time.Sleep(10 * time.Millisecond)
		appendAt(i, "2", "3") // commits signal the compactor
		i++
	}
	got := selectAll(t, m, t0, t0.Add(time.Hour), "kscope_gc_total")
	if v := got[`{__name__="kscope_gc_total", pid="1"}`]; len(v) != 4 || v[0] != 0 || v[2] != 2 || !value.IsStaleNaN(v[3]) {
		t.Errorf("ended series from its block: %v, want [0 1 2 StaleNaN]", v)
	}
}

// After a restart the head replayed from the WAL is at the cap: the series
// it holds are not new, and their samples are stored.
func TestMetricsSeriesCapAfterRestart(t *testing.T) {
	dir := t.TempDir()
	c := metrics.NewCounter("kscope_cap_total", "c", "k")
	collect := func(n int, v float64) []metrics.Sample {
		var e metrics.Emitter
		for i := range n {
			e.Counter(c, v, strconv.Itoa(i))
		}
		return e.Samples
	}
	now := time.Now()
	m, err := OpenMetrics(dir, time.Hour, logger)
	if err != nil {
		t.Fatal(err)
	}
	m.MaxSeries = 3
	if err := m.Append(context.Background(), now, collect(3, 1)); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if m, err = OpenMetrics(dir, time.Hour, logger); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.MaxSeries = 3
	if err := m.Append(context.Background(), now.Add(time.Second), collect(4, 2)); err != nil {
		t.Fatal(err)
	}
	if m.HeadSeries() != 3 || m.Appended() != 3 || m.Limited() != 1 {
		t.Errorf("after a restart: series %d appended %d limited %d, want 3 3 1", m.HeadSeries(), m.Appended(), m.Limited())
	}
	if !m.LimitReached() {
		t.Error("LimitReached false after a restart at the cap")
	}
}

// The agent's own series are stored at the cap: they show it.
func TestMetricsSeriesCapSparesSelf(t *testing.T) {
	m, err := OpenMetricsWith(t.TempDir(), MetricsOptions{Retention: time.Hour, MaxSeries: 2}, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := metrics.NewCounter("kscope_cap_total", "c", "k")
	self := metrics.NewGauge(SelfPrefix+"cap", "g")
	var e metrics.Emitter
	for i := range 3 {
		e.Counter(c, 1, strconv.Itoa(i))
	}
	e.Gauge(self, 1)
	if err := m.Append(context.Background(), time.Now(), e.Samples); err != nil {
		t.Fatal(err)
	}
	if m.HeadSeries() != 3 || m.Limited() != 1 || !m.LimitReached() {
		t.Errorf("head %d limited %d reached %v, want 3 1 true", m.HeadSeries(), m.Limited(), m.LimitReached())
	}
}
