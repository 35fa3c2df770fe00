package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// procKB reads a field of /proc/PID/status (VmRSS, VmHWM), in bytes.
func procKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// The reproductions against the kscope binary: a subquery of 8.6
// billion steps killed the agent, one of 86 million took 3.6 GB, 20,000
// terms took 34 s, 2,000 event matches answered 500, and SIGTERM during a
// long query took 7 s. Each now answers an error at once, the agent's peak
// RSS grows by less than 50 MB, it stays healthy, and SIGTERM during a
// long query stops it cleanly.
func TestAgentHostileQueriesBinary(t *testing.T) {
	a := startAgent(t, t.TempDir(), "--collectors", "oom", "--query.timeout", "1h")
	pid := a.cmd.Process.Pid
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Fatalf("resetting the agent's peak RSS: %v", err)
	}
	before := procKB(t, pid, "VmRSS")
	matches := url.Values{}
	for i := range 2000 {
		matches.Add("match", "pid!="+strconv.Itoa(i))
	}
	for _, tc := range []struct {
		path string
		v    url.Values
	}{
		{"/api/v1/query", url.Values{"query": {"max_over_time(vector(1)[100d:1ms])"}}},
		{"/api/v1/query", url.Values{"query": {"max_over_time(vector(1)[1d:1ms])"}}},
		{"/api/v1/query", url.Values{"query": {strings.Repeat("1+", 19999) + "1"}}},
		{"/api/v1/query", url.Values{"query": {strings.Repeat("1+", 199999) + "1"}}},
		{"/api/v1/events", matches},
	} {
		start := time.Now()
		resp, err := http.PostForm(a.url+tc.path, tc.v)
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.path, err, a.stderr)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		t.Logf("%s %.40s: %d in %v", tc.path, tc.v.Encode(), resp.StatusCode, took)
		if resp.StatusCode != 400 || !strings.Contains(string(b), `"errorType":"bad_data"`) || took > time.Second {
			t.Errorf("%s %.40s: %d %.200s in %v, want 400 bad_data under 1s", tc.path, tc.v.Encode(), resp.StatusCode, b, took)
		}
	}
	grew := procKB(t, pid, "VmHWM") - before
	t.Logf("the agent's peak RSS grew by %d KiB", grew>>10)
	if grew > 50<<20 {
		t.Errorf("the agent's peak RSS grew by %d MiB, want < 50", grew>>20)
	}
	if resp, err := http.Get(a.url + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	m := scrape(t, a.url)
	if m[`kscope_self_queries_total{api="promql",result="bad_data"}`] != 4 || m[`kscope_self_queries_total{api="events",result="bad_data"}`] != 1 {
		t.Errorf("query counts: promql %v, events %v", m[`kscope_self_queries_total{api="promql",result="bad_data"}`], m[`kscope_self_queries_total{api="events",result="bad_data"}`])
	}

	// Minutes of work within every limit; SIGTERM stops it.
	heavy := url.Values{
		"query": {strings.TrimSuffix(strings.Repeat("quantile_over_time(0.5, vector(1)[1000s:1s])+", 150), "+")},
		"start": {"1700000000"}, "end": {"1700011000"}, "step": {"1"},
	}
	go func() {
		if resp, err := http.PostForm(a.url+"/api/v1/query_range", heavy); err == nil {
			resp.Body.Close()
		}
	}()
	for deadline := time.Now().Add(time.Minute); scrape(t, a.url)[`kscope_self_queries_in_flight{api="promql"}`] != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the heavy query is not running")
		}
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	if err := a.cmd.Wait(); err != nil {
		t.Fatalf("agent exited with %v:\n%s", err, a.stderr)
	}
	// A shutdown held past its grace logs "closing" with the deadline.
	if s := a.stderr.String(); strings.Contains(s, "level=WARN msg=closing") || !strings.Contains(s, "kscope agent stopped") {
		t.Errorf("shutdown:\n%s", s)
	}
}
