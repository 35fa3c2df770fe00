package store

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/profile"
	"github.com/kscope/kscope/internal/testutil"
)

// collection is one interval's samples: n series of a counter, all with
// value v, so each commit is a WAL record of a few kilobytes.
func collection(n int, v float64) []metrics.Sample {
	c := metrics.NewCounter("kscope_disk_total", "d", "k")
	var e metrics.Emitter
	for i := range n {
		e.Counter(c, v, strconv.Itoa(i))
	}
	return e.Samples
}

// storedTimes returns the timestamps stored for kscope_disk_total{k="0"}.
func storedTimes(t *testing.T, m *Metrics) []int64 {
	t.Helper()
	q, err := m.Querier(0, time.Now().Add(time.Hour).UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	set := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "kscope_disk_total"), labels.MustNewMatcher(labels.MatchEqual, "k", "0"))
	var ts []int64
	for set.Next() {
		it := set.At().Iterator(nil)
		for it.Next() != 0 {
			t, _ := it.At()
			ts = append(ts, t)
		}
	}
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	return ts
}

// A full disk makes commits fail; they are counted and not acknowledged.
// Once space is back, the store reopens and acknowledges again, and a
// crash then (the data directory as the kernel holds it, without a
// close) loses nothing acknowledged: before, the torn record the full disk
// left made the replay discard every record after it.
func TestMetricsFullDiskThenCrash(t *testing.T) {
	dir := testutil.Tmpfs(t, 4<<20)
	m, err := OpenMetrics(dir, 24*time.Hour, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { m.Close() }()
	const series = 300
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	step := 0
	var acked []int64
	appendOne := func() error {
		ts := t0.Add(time.Duration(step) * time.Second)
		step++
		err := m.Append(context.Background(), ts, collection(series, float64(step)))
		if err == nil {
			acked = append(acked, ts.UnixMilli())
		}
		return err
	}
	for range 20 {
		if err := appendOne(); err != nil {
			t.Fatal(err)
		}
	}

	// Fill the disk: commits fail (the WAL page in memory takes a few).
	filler := filepath.Join(dir, "filler")
	testutil.Fill(t, filler)
	failed := 0
	for i := 0; failed < 50; i++ {
		if i == 2000 {
			t.Fatalf("no commit failed on a full disk (%d acknowledged)", len(acked))
		}
		if appendOne() != nil {
			failed++
		}
	}
	if m.Broken() == nil {
		t.Error("the store does not say it is broken on a full disk")
	}
	if m.CommitFailures() == 0 || m.CommitFailures() > uint64(failed) {
		t.Errorf("commit failures %d, want 1..%d", m.CommitFailures(), failed)
	}
	if m.Appended() != uint64(len(acked)*series) {
		t.Errorf("appended %d, want %d: only committed samples count", m.Appended(), len(acked)*series)
	}
	if m.WriteFailed() != uint64(failed*series) {
		t.Errorf("write failed %d, want %d", m.WriteFailed(), failed*series)
	}

	// Space is back: the next appends are acknowledged again.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for range 30 {
		if err := appendOne(); err != nil {
			t.Fatalf("appending after space came back: %v", err)
		}
	}
	if m.Recoveries() == 0 || m.Broken() != nil {
		t.Errorf("recoveries %d, broken %v", m.Recoveries(), m.Broken())
	}
	if got := storedTimes(t, m); !slices.Equal(got, acked) {
		t.Fatalf("before the crash: %d samples stored, want the %d acknowledged", len(got), len(acked))
	}

	// Crash: copy what the kernel holds, as kill -9 would leave it.
	crash := t.TempDir()
	if out, err := exec.Command("cp", "-a", filepath.Join(dir, "metrics"), crash).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	os.Remove(filepath.Join(crash, "metrics", "lock"))
	m2, err := OpenMetrics(crash, 24*time.Hour, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if got := storedTimes(t, m2); !slices.Equal(got, acked) {
		t.Errorf("after the crash: %d samples, want the %d acknowledged (%d before the disk filled)", len(got), len(acked), 20)
	}
}

// Beyond its budget the event store deletes the oldest events first: a
// type with a share keeps at most its share, the other types share the
// rest. What is left is exactly the newest events that fit.
func TestEventsBudget(t *testing.T) {
	dir := t.TempDir()
	e, err := OpenEvents(dir, time.Hour, 10000, logger)
	if err != nil {
		t.Fatal(err)
	}
	const maxBytes = 40000
	e.SetBudget(EventBudget{MaxBytes: maxBytes, Shares: map[string]float64{"exec": 0.25}})
	base := time.Now().Add(-30 * time.Minute)
	var execs, others []event.Event
	for i := range 600 {
		ts := base.Add(time.Duration(i) * time.Millisecond)
		var ev event.Event
		switch i % 3 {
		case 0:
			ev = &event.Exec{Header: event.Header{Time: ts, Type: "exec", PID: uint32(i), Comm: "sh"}, Filename: "/bin/sh", Argv: []string{"sh", "-c", strings.Repeat("x", i%50)}}
			execs = append(execs, ev)
		case 1:
			ev = exitEvent(ts, uint32(i), "bash", int32(i%7))
			others = append(others, ev)
		default:
			ev = &event.Connect{Header: event.Header{Time: ts, Type: "connect", PID: uint32(i), Comm: "curl"}, Family: "ipv4", DAddr: "10.0.0.1", DPort: uint16(i)}
			others = append(others, ev)
		}
		e.Emit(ev)
		if i%100 == 99 {
			waitStored(t, e, uint64(i+1)) // several batches, several evictions
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// The newest events of each group whose bytes fit its limit.
	newest := func(evs []event.Event, limit int64) (pids []int, bytes int64) {
		for i := len(evs) - 1; i >= 0; i-- {
			n := int64(len(event.AppendJSON(nil, evs[i]))) + RowOverhead
			if bytes+n > limit {
				break
			}
			bytes += n
			pids = append([]int{int(evs[i].Hdr().PID)}, pids...)
		}
		return pids, bytes
	}
	wantExec, execBytes := newest(execs, maxBytes/4)
	wantOther, otherBytes := newest(others, maxBytes-maxBytes/4)
	if len(wantExec) == len(execs) || len(wantOther) == len(others) {
		t.Fatalf("the test emits too little: %d of %d execs and %d of %d others fit", len(wantExec), len(execs), len(wantOther), len(others))
	}
	if got := e.Evicted(); got != uint64(600-len(wantExec)-len(wantOther)) {
		t.Errorf("evicted %d, want %d", got, 600-len(wantExec)-len(wantOther))
	}
	if got := e.Bytes(); got != execBytes+otherBytes {
		t.Errorf("bytes %d, want %d", got, execBytes+otherBytes)
	}

	// Reopened, the store counts the same bytes, and keeps exactly those.
	e, err = OpenEvents(dir, time.Hour, 10000, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if got := e.Bytes(); got != execBytes+otherBytes {
		t.Errorf("bytes after reopening %d, want %d", got, execBytes+otherBytes)
	}
	pidsOf := func(q Query) []int {
		q.Limit = MaxLimit
		res, err := e.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		var pids []int
		for _, ev := range res.Events {
			var m struct{ PID int }
			json.Unmarshal(ev, &m)
			pids = append(pids, m.PID)
		}
		return pids
	}
	if got := pidsOf(Query{Type: "exec"}); !slices.Equal(got, wantExec) {
		t.Errorf("exec events kept %v, want %v", got, wantExec)
	}
	var got []int
	for _, pid := range pidsOf(Query{}) {
		if pid%3 != 0 {
			got = append(got, pid)
		}
	}
	if !slices.Equal(got, wantOther) {
		t.Errorf("other events kept %v, want %v", got, wantOther)
	}
}

func waitStored(t *testing.T, e *Events, n uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for e.Stored()+e.Dropped()+e.Failed() < n {
		if time.Now().After(deadline) {
			t.Fatalf("stored %d of %d", e.Stored(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The profile store keeps within its budget by deleting the oldest
// windows first.
func TestProfilesBudget(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p, err := OpenProfiles(dir, time.Hour, logger)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-30 * time.Minute).Truncate(time.Second)
	put := func(i int) int64 {
		before := p.Bytes()
		var ss []profile.Sample
		for j := range i + 1 {
			ss = append(ss, stack(uint32(j+1), "w"+strconv.Itoa(j), int64(i+1), "f"+strconv.Itoa(i), "main"))
		}
		if err := p.Put(ctx, window(t0.Add(time.Duration(i)*10*time.Second), ss...)); err != nil {
			t.Fatal(err)
		}
		return int64(p.Bytes() - before)
	}
	var sizes []int64
	for i := range 10 {
		sizes = append(sizes, put(i))
	}
	var keep int64
	for _, n := range sizes[6:] {
		keep += n
	}
	// Windows 6 to 9 fit, 5 does not.
	p.SetMaxBytes(keep + sizes[5]/2)
	sizes = append(sizes, put(10))
	keep += sizes[10] - sizes[6]
	// Now 7 to 10: the budget then holds them (sizes grow with i).
	if p.Evicted() != 7 || p.Size() != keep {
		t.Errorf("evicted %d windows, size %d; want 7, %d", p.Evicted(), p.Size(), keep)
	}
	p.Close()
	if p, err = OpenProfiles(dir, time.Hour, logger); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Size() != keep {
		t.Errorf("size after reopening %d, want %d", p.Size(), keep)
	}
	var starts []int64
	rows, err := p.db.Query("SELECT start FROM windows ORDER BY start")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s int64
		rows.Scan(&s)
		starts = append(starts, (s-t0.UnixNano())/int64(10*time.Second))
	}
	rows.Close()
	if !slices.Equal(starts, []int64{7, 8, 9, 10}) {
		t.Errorf("windows kept %v, want [7 8 9 10]", starts)
	}
}

// With a size budget the TSDB deletes its oldest blocks until blocks,
// WAL and head chunks fit, as Prometheus's --storage.tsdb.retention.size.
func TestMetricsRetentionSize(t *testing.T) {
	t0 := time.Now().Add(-12 * time.Hour).Truncate(time.Hour)
	fill := func(maxBytes int64) *Metrics {
		m, err := OpenMetricsWith(t.TempDir(), MetricsOptions{Retention: 30 * 24 * time.Hour, MaxBytes: maxBytes}, logger)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		for i := range 12 * 60 {
			if err := m.Append(context.Background(), t0.Add(time.Duration(i)*time.Minute), collection(100, float64(i))); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.DB().Compact(context.Background()); err != nil {
			t.Fatal(err)
		}
		return m
	}
	span := func(m *Metrics) (n int, blocks, mint, maxt int64) {
		bs := m.DB().Blocks()
		mint = math.MaxInt64
		for _, b := range bs {
			blocks += b.Size()
			mint, maxt = min(mint, b.Meta().MinTime), max(maxt, b.Meta().MaxTime)
		}
		return len(bs), blocks, mint, maxt
	}
	free := fill(0)
	n, blocks, mint, maxt := span(free)
	if n < 2 {
		t.Fatalf("%d blocks: the test needs several", n)
	}
	budget := free.DB().Head().Size() + blocks/2
	m := fill(budget)
	n2, blocks2, mint2, maxt2 := span(m)
	if n2 == 0 || n2 >= n || blocks2 >= blocks || mint2 <= mint || maxt2 != maxt {
		t.Errorf("with a budget of %d bytes: %d blocks of %d bytes from %d to %d; without: %d blocks of %d bytes from %d to %d",
			budget, n2, blocks2, mint2, maxt2, n, blocks, mint, maxt)
	}
	if m.Size() > budget || m.MaxBytes() != budget {
		t.Errorf("size %d, max %d, want at most %d", m.Size(), m.MaxBytes(), budget)
	}
	// The oldest samples are gone, the newest are there.
	if got := storedTimes(t, m); len(got) == 0 || got[0] < mint2 || got[len(got)-1] != t0.Add(12*60*time.Minute-time.Minute).UnixMilli() {
		t.Errorf("stored samples span %d..%d, want %d..", got[0], got[len(got)-1], mint2)
	}
}

// Two collections in the same millisecond are both stored: the second a
// millisecond later. Before, the TSDB dropped the second's samples equal
// to the first's while the appended counter counted them.
func TestMetricsSameMillisecond(t *testing.T) {
	m, err := OpenMetrics(t.TempDir(), time.Hour, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	now := time.Now().Truncate(time.Millisecond)
	for range 3 {
		if err := m.Append(context.Background(), now, collection(5, 1)); err != nil {
			t.Fatal(err)
		}
	}
	want := []int64{now.UnixMilli(), now.UnixMilli() + 1, now.UnixMilli() + 2}
	if got := storedTimes(t, m); !slices.Equal(got, want) || m.Appended() != 15 {
		t.Errorf("stored at %v, appended %d; want %v, 15", got, m.Appended(), want)
	}
}
