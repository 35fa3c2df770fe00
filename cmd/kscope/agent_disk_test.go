package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/testutil"
)

// healthz returns /healthz's status and body.
func healthz(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// storedSamples counts the samples of every series stored up to at.
func storedSamples(t *testing.T, base string, at time.Time) float64 {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/label/__name__/values")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct{ Data []string }
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || len(r.Data) == 0 {
		t.Fatalf("metric names: %v %v", err, r.Data)
	}
	var n float64
	for _, name := range r.Data {
		for _, v := range instant(t, base, "sum(count_over_time("+name+"[1h]))", at) {
			n += v
		}
	}
	return n
}

// secondsTime turns a PromQL timestamp() into a time.
func secondsTime(s float64) time.Time { return time.UnixMilli(int64(s*1000 + 0.5)) }

// The data directory's disk fills: commits fail, are counted, and the
// agent says it is unhealthy. Space comes back: the agent acknowledges
// samples again, and after kill -9 and a restart every sample it
// acknowledged is there. Before, the torn WAL record the full disk left
// made the replay discard every sample written after it, and the
// appended counter counted samples that were never committed.
func TestAgentFullDiskThenKill(t *testing.T) {
	testutil.RequireBPF(t)
	disk := testutil.Tmpfs(t, 16<<20)
	dir := filepath.Join(disk, "data")
	args := []string{"--interval", "100ms", "--collectors", "exit"}
	a := startAgent(t, dir, args...)

	// The TSDB writes full head chunks to a preallocated file once a
	// minute; it panics if it cannot create that file (Prometheus's own
	// behaviour). Fill the disk once the file exists.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		ents, err := os.ReadDir(filepath.Join(dir, "metrics", "chunks_head"))
		if err == nil && len(ents) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no head chunk file after 3 minutes (%v)", err)
		}
		time.Sleep(500 * time.Millisecond)
	}

	filler := filepath.Join(disk, "filler")
	testutil.Fill(t, filler)
	eventually(t, "commits fail and the agent says so", func() error {
		m := scrape(t, a.url)
		if m["kscope_self_tsdb_commit_failures_total{}"] == 0 || m[`kscope_self_tsdb_samples_rejected_total{reason="write_failed"}`] == 0 {
			return fmt.Errorf("commit failures %v, samples not written %v", m["kscope_self_tsdb_commit_failures_total{}"], m[`kscope_self_tsdb_samples_rejected_total{reason="write_failed"}`])
		}
		if code, body := healthz(t, a.url); code != http.StatusServiceUnavailable || !strings.Contains(body, "storing samples") {
			return fmt.Errorf("/healthz %d %q", code, body)
		}
		return nil
	})
	// More collections fail while the disk stays full: commits, or the
	// reopening of the TSDB that must come first.
	const notWritten = `kscope_self_tsdb_samples_rejected_total{reason="write_failed"}`
	failed := scrape(t, a.url)[notWritten]
	eventually(t, "more collections fail", func() error {
		if n := scrape(t, a.url)[notWritten]; n < 2*failed {
			return fmt.Errorf("%v samples not written, %v before", n, failed)
		}
		return nil
	})

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the agent is healthy again", func() error {
		if code, body := healthz(t, a.url); code != http.StatusOK {
			return fmt.Errorf("/healthz %d %q", code, body)
		}
		return nil
	})
	recovered := time.Now()
	// Ten collections acknowledged after the recovery.
	var last time.Time
	eventually(t, "collections are stored after the recovery", func() error {
		last = secondsTime(one(t, a.url, "timestamp(kscope_self_build_info)", time.Time{}))
		if n := one(t, a.url, "count_over_time(kscope_self_build_info[1h])", last); last.Before(recovered) || n < 10 {
			return fmt.Errorf("last sample at %s", last)
		}
		since := last.Sub(recovered).Milliseconds()
		if since < 1 {
			return fmt.Errorf("last sample at %s, the recovery at %s", last, recovered)
		}
		after := one(t, a.url, fmt.Sprintf("count_over_time(kscope_self_build_info[%dms])", since), last)
		if after < 10 {
			return fmt.Errorf("%v collections since the recovery", after)
		}
		return nil
	})
	// What the counter says at the last collection is what was committed
	// before it: every sample stored before that instant.
	appended := one(t, a.url, "kscope_self_tsdb_samples_appended_total", last)
	before := last.Add(-time.Millisecond)
	stored := storedSamples(t, a.url, before)
	if appended != stored {
		t.Errorf("kscope_self_tsdb_samples_appended_total is %v at %s, but %v samples are stored before it", appended, last.Format(time.RFC3339Nano), stored)
	}
	acked := one(t, a.url, "count_over_time(kscope_self_build_info[1h])", last)
	m := scrape(t, a.url)
	t.Logf("%v collections (%v samples) acknowledged; %v commits failed, %v samples not written",
		acked, stored, m["kscope_self_tsdb_commit_failures_total{}"], m[notWritten])

	// kill -9 and restart on the same data.
	a.kill()
	b := startAgent(t, dir, args...)
	if got := one(t, b.url, "count_over_time(kscope_self_build_info[1h])", last); got != acked {
		t.Errorf("after kill -9: %v collections stored up to %s, want the %v acknowledged", got, last.Format(time.RFC3339Nano), acked)
	}
	if got := storedSamples(t, b.url, before); got != stored {
		t.Errorf("after kill -9: %v samples stored, want the %v acknowledged", got, stored)
	}
}
