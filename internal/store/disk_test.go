package store

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/kscope/kscope/internal/metrics"
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
