package api

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/kscope/kscope/internal/store"
)

// limited is an API server over a real TSDB and event store, with limits.
type limited struct {
	s      *Server
	srv    *httptest.Server
	events *store.Events
	close  func()
}

func newLimited(t *testing.T, l Limits, dir string) *limited {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if dir == "" {
		dir = t.TempDir()
	}
	m, err := store.OpenMetrics(dir, 24*time.Hour, logger)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := store.OpenEvents(dir, 24*time.Hour, 100, logger)
	if err != nil {
		t.Fatal(err)
	}
	prof, err := store.OpenProfiles(dir, 24*time.Hour, logger)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Storage: m.DB(), Events: ev, Profiles: prof, Gatherer: &gatherer{}, Logger: logger, Limits: l}
	srv := httptest.NewServer(s.Handler())
	var once sync.Once
	close := func() {
		once.Do(func() {
			srv.Close()
			ev.Close()
			prof.Close()
			m.Close()
		})
	}
	t.Cleanup(close)
	return &limited{s: s, srv: srv, events: ev, close: close}
}

// apiReply is an answer of the API: its status and error, if any.
type apiReply struct {
	code           int
	Status         string
	ErrorType, Err string
}

func post(t *testing.T, ctx context.Context, base, path string, v url.Values) apiReply {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "POST", base+path, strings.NewReader(v.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return apiReply{Err: err.Error()}
	}
	defer resp.Body.Close()
	var r struct{ Status, ErrorType, Error string }
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %d %q: %v", path, resp.StatusCode, b, err)
	}
	return apiReply{resp.StatusCode, r.Status, r.ErrorType, r.Error}
}

func (s *Server) stats(api string) QueryStats {
	for _, st := range s.QueryStats() {
		if st.API == api {
			return st
		}
	}
	panic(api)
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after a minute", what)
		}
	}
}

// procStatus reads a size field of /proc/self/status, in bytes.
func procStatus(t *testing.T, field string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// The reproductions: a subquery with 8.6 billion steps killed the
// agent (out of memory), one with 86 million took 3.6 GB, and expressions
// of 20,000 and 200,000 terms took minutes. Each is refused before
// evaluation, at once, and the process's peak RSS does not grow.
func TestHostileQueries(t *testing.T) {
	l := newLimited(t, Limits{}, "")
	terms := func(n int) string { return strings.Repeat("1+", n-1) + "1" }
	for _, tc := range []struct {
		name, path, query, want string
	}{
		{"subquery 100d:1ms", "/api/v1/query", "max_over_time(vector(1)[100d:1ms])", "8640000000 points, more than 11000"},
		{"subquery 1d:1ms", "/api/v1/query", "max_over_time(vector(1)[1d:1ms])", "86400000 points, more than 11000"},
		{"subquery 1d:1ms in a range", "/api/v1/query_range", "max_over_time(vector(1)[1d:1ms])", "86400000 points, more than 11000"},
		{"nested subqueries", "/api/v1/query", "max_over_time(max_over_time(vector(1)[11000s:1s])[11000s:1ms])", "11000000 points, more than 11000"},
		{"subquery duration expression", "/api/v1/query", "max_over_time(vector(1)[1d+1d:1ms])", "172800000 points"},
		{"20,000 terms", "/api/v1/query", terms(20000), "more than 10000 tokens"},
		{"200,000 terms", "/api/v1/query", terms(200000), "399999 bytes, at most 65536"},
		{"deep nesting", "/api/v1/query", strings.Repeat("-", 1500) + "vector(1)", "more than 1000 levels"},
		{"deep parentheses", "/api/v1/query", strings.Repeat("(", 1200) + "1" + strings.Repeat(")", 1200), "more than 1000 levels"},
	} {
		if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
			t.Fatalf("resetting the peak RSS: %v", err)
		}
		before := procStatus(t, "VmRSS")
		v := url.Values{"query": {tc.query}}
		if tc.path == "/api/v1/query_range" {
			v.Set("start", "1700000000")
			v.Set("end", "1700086400")
			v.Set("step", "60")
		}
		start := time.Now()
		r := post(t, context.Background(), l.srv.URL, tc.path, v)
		took := time.Since(start)
		peak := procStatus(t, "VmHWM")
		if r.code != 400 || r.ErrorType != "bad_data" || !strings.Contains(r.Err, tc.want) {
			t.Errorf("%s: %d %s %q, want 400 bad_data %q", tc.name, r.code, r.ErrorType, r.Err, tc.want)
		}
		if took > time.Second {
			t.Errorf("%s: answered in %v, want under 1s", tc.name, took)
		}
		if grew := peak - before; grew > 50<<20 {
			t.Errorf("%s: peak RSS grew by %d MiB, want < 50", tc.name, grew>>20)
		}
	}
	st := l.s.stats(APIPromQL)
	if st.Results["bad_data"] != 9 || st.InFlight != 0 {
		t.Errorf("stats %+v", st)
	}
	if r := post(t, context.Background(), l.srv.URL, "/api/v1/query", url.Values{"query": {"1+1"}}); r.code != 200 {
		t.Errorf("after: %+v", r)
	}
}

// What the checker lets through evaluates as before, right at the limits.
func TestQueryLimitsAllow(t *testing.T) {
	l := newLimited(t, Limits{SubqueryStep: 10 * time.Second}, "")
	at := url.Values{"time": {"1700000000"}}
	for _, tc := range []struct{ query, want string }{
		{"count_over_time(vector(1)[11s:1ms])", `[1700000000,"11000"]`},
		{"count_over_time(vector(1)[5m:])", `[1700000000,"30"]`},      // the default step
		{strings.Repeat("-", 997) + "vector(1)", `[1700000000,"-1"]`}, // 999 deep
		{strings.Repeat("1+", 999) + "1", `[1700000000,"1000"]`},
	} {
		v := url.Values{"query": {tc.query}, "time": at["time"]}
		code, body := get(t, l.srv, "/api/v1/query", v)
		if code != 200 || !strings.Contains(body, tc.want) {
			t.Errorf("%.40s: %d %s, want %s", tc.query, code, body, tc.want)
		}
	}
	// 11,000 points of a range query, each over a subquery of 11,000 steps.
	v := url.Values{"query": {"count_over_time(vector(1)[11000s:1s])"}, "start": {"1700000000"}, "end": {"1700011000"}, "step": {"1"}}
	if code, body := get(t, l.srv, "/api/v1/query_range", v); code != 200 || !strings.Contains(body, `[1700011000,"11000"]]`) {
		t.Errorf("range: %d %.200s", code, body)
	}
	// 182 of them are more subquery steps than the engine may track.
	terms := strings.TrimSuffix(strings.Repeat("count_over_time(vector(1)[11000s:1s])+", 91), "+")
	v.Set("query", terms)
	if code, body := get(t, l.srv, "/api/v1/query_range", v); code != 400 || !strings.Contains(body, "more than 2000000 steps in all") {
		t.Errorf("many subqueries: %d %.200s", code, body)
	}
}

// heavyQuery takes over a minute to evaluate within every limit: 150
// quantiles, at each of 11,000 steps, over 1,000 points. The engine checks
// for cancellation between them.
var heavyQuery = url.Values{
	"query": {strings.TrimSuffix(strings.Repeat("quantile_over_time(0.5, vector(1)[1000s:1s])+", 150), "+")},
	"start": {"1700000000"}, "end": {"1700011000"}, "step": {"1"},
}

// A client that goes away stops its query: the engine returns canceled
// and the slot is free, long before the query could have finished.
func TestQueryStopsWhenClientLeaves(t *testing.T) {
	l := newLimited(t, Limits{Timeout: time.Hour}, "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan apiReply)
	go func() { done <- post(t, ctx, l.srv.URL, "/api/v1/query_range", heavyQuery) }()
	waitFor(t, "running", func() bool { return l.s.stats(APIPromQL).InFlight == 1 })
	cancel()
	<-done
	waitFor(t, "canceled", func() bool {
		st := l.s.stats(APIPromQL)
		return st.InFlight == 0 && st.Results["canceled"] == 1
	})
	if st := l.s.stats(APIPromQL); st.Results["success"] != 0 {
		t.Errorf("stats %+v", st)
	}
}

// The configured timeout stops a query the same way, with 503 timeout.
func TestQueryTimeout(t *testing.T) {
	l := newLimited(t, Limits{Timeout: 300 * time.Millisecond}, "")
	r := post(t, context.Background(), l.srv.URL, "/api/v1/query_range", heavyQuery)
	if r.code != 503 || r.ErrorType != "timeout" {
		t.Errorf("%+v", r)
	}
	// A request's timeout can shorten the configured one, not lengthen it.
	l = newLimited(t, Limits{Timeout: time.Hour}, "")
	v := url.Values{"timeout": {"200ms"}}
	for k, vs := range heavyQuery {
		v[k] = vs
	}
	if r := post(t, context.Background(), l.srv.URL, "/api/v1/query_range", v); r.code != 503 || r.ErrorType != "timeout" {
		t.Errorf("timeout parameter: %+v", r)
	}
	if st := l.s.stats(APIPromQL); st.Results["timeout"] != 1 || st.InFlight != 0 {
		t.Errorf("stats %+v", st)
	}
}

// With every slot taken, queries wait in a bounded queue; beyond it they
// are refused at once with 503, and the waiting ones run once slots free.
func TestQueryQueue(t *testing.T) {
	l := newLimited(t, Limits{MaxConcurrency: 1}, "")
	for _, tc := range []struct {
		api, path string
		g         *gate
		v         url.Values
	}{
		{APIPromQL, "/api/v1/query", l.s.promGate, url.Values{"query": {"1+1"}}},
		{APIEvents, "/api/v1/events", l.s.evGate, url.Values{"type": {"exec"}}},
		{APIProfile, "/api/v1/profile", l.s.profGate, url.Values{"format": {"json"}}},
	} {
		if e := tc.g.enter(context.Background()); e != nil {
			t.Fatal(e.err)
		}
		// A query that cannot get a slot in its time is told so.
		v := url.Values{"timeout": {"50ms"}}
		for k, vs := range tc.v {
			v[k] = vs
		}
		if r := post(t, context.Background(), l.srv.URL, tc.path, v); r.code != 503 || r.ErrorType != "timeout" {
			t.Errorf("%s: waiting past the timeout: %+v", tc.api, r)
		}
		var wg sync.WaitGroup
		replies := make([]apiReply, QueueFactor)
		for i := range replies {
			wg.Go(func() { replies[i] = post(t, context.Background(), l.srv.URL, tc.path, tc.v) })
		}
		waitFor(t, "queued", func() bool { return l.s.stats(tc.api).Queued == QueueFactor })
		if r := post(t, context.Background(), l.srv.URL, tc.path, tc.v); r.code != 503 || r.ErrorType != "unavailable" || !strings.Contains(r.Err, "1 running and 4 waiting") {
			t.Errorf("%s: queue full: %+v", tc.api, r)
		}
		tc.g.leave()
		wg.Wait()
		for i, r := range replies {
			if r.code != 200 {
				t.Errorf("%s: queued query %d: %+v", tc.api, i, r)
			}
		}
		st := l.s.stats(tc.api)
		if st.InFlight != 0 || st.Queued != 0 || st.Results["success"] != QueueFactor || st.Results["unavailable"] != 1 || st.Results["timeout"] != 1 {
			t.Errorf("%s: stats %+v", tc.api, st)
		}
	}
	if code, body := get(t, l.srv, "/healthz", nil); code != 200 || body != "ok" {
		t.Errorf("healthz %d %s", code, body)
	}
}

// 2,000 match conditions made SQLite fail (500); they are refused (400).
func TestEventsMatchLimits(t *testing.T) {
	l := newLimited(t, Limits{}, "")
	many := url.Values{}
	for i := range 2000 {
		many.Add("match", "pid!="+strconv.Itoa(i))
	}
	for _, tc := range []struct {
		v    url.Values
		want string
	}{
		{many, "2000 conditions, at most 32"},
		{url.Values{"match": {"comm=~" + strings.Repeat("a|", 600) + "a"}}, "a condition of 1207 bytes, at most 1024"},
	} {
		if r := post(t, context.Background(), l.srv.URL, "/api/v1/events", tc.v); r.code != 400 || r.ErrorType != "bad_data" || !strings.Contains(r.Err, tc.want) {
			t.Errorf("%+v, want 400 bad_data %q", r, tc.want)
		}
	}
	v := url.Values{}
	for i := range MaxMatches {
		v.Add("match", "pid!="+strconv.Itoa(i))
	}
	if r := post(t, context.Background(), l.srv.URL, "/api/v1/events", v); r.code != 200 {
		t.Errorf("%d conditions: %+v", MaxMatches, r)
	}
}

// bigEventStore writes n exec events to dir/events.db in one statement,
// before the store's indexes exist (OpenEvents builds them).
func bigEventStore(t *testing.T, dir string, n int) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	_, err = db.Exec(`PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;
CREATE TABLE events (ts INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL);
INSERT INTO events (ts, type, data)
WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x+1 FROM n WHERE x+1 < ?)
SELECT ? - x*1000000, 'exec', '{"type":"exec","pid":' || (x % 32768 + 1) || ',"comm":"bash","filename":"/usr/bin/bash","argv":["bash","-c","true"]}' FROM n`,
		n, time.Now().UnixNano())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d events in %v", n, time.Since(start))
}

// A regular expression scan of 1.85M events took a minute; the timeout
// now stops it (503 timeout), so does the client leaving, and the store
// goes on answering.
func TestEventsScanStops(t *testing.T) {
	dir := t.TempDir()
	bigEventStore(t, dir, 1_850_000)
	const timeout = 500 * time.Millisecond
	l := newLimited(t, Limits{Timeout: timeout}, dir)
	scan := url.Values{"match": {"filename=~.*/zsh"}}
	start := time.Now()
	r := post(t, context.Background(), l.srv.URL, "/api/v1/events", scan)
	took := time.Since(start)
	t.Logf("regex scan of 1.85M events answered %d %s in %v (timeout %v)", r.code, r.ErrorType, took, timeout)
	if r.code != 503 || r.ErrorType != "timeout" {
		t.Errorf("regex scan: %+v", r)
	}
	if took > timeout+time.Second {
		t.Errorf("regex scan answered in %v, want about %v", took, timeout)
	}
	if st := l.s.stats(APIEvents); st.InFlight != 0 || st.Results["timeout"] != 1 {
		t.Errorf("stats %+v", st)
	}

	scan.Set("timeout", "1h") // the configured timeout still applies
	if r := post(t, context.Background(), l.srv.URL, "/api/v1/events", scan); r.code != 503 || r.ErrorType != "timeout" {
		t.Errorf("regex scan, timeout=1h: %+v", r)
	}
	l.close()
	l = newLimited(t, Limits{Timeout: time.Hour}, dir)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan apiReply)
	go func() { done <- post(t, ctx, l.srv.URL, "/api/v1/events", scan) }()
	waitFor(t, "running", func() bool { return l.s.stats(APIEvents).InFlight == 1 })
	cancel()
	<-done
	waitFor(t, "canceled", func() bool {
		st := l.s.stats(APIEvents)
		return st.InFlight == 0 && st.Results["canceled"] == 1
	})
	if r := post(t, context.Background(), l.srv.URL, "/api/v1/events", url.Values{"limit": {"3"}}); r.code != 200 {
		t.Errorf("after: %+v", r)
	}
}

func TestCheckQuery(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	step := func(int64) int64 { return 60_000 }
	instant := evalRange{1_700_000_000_000, 1_700_000_000_000, 0}
	for _, tc := range []struct {
		q    string
		r    evalRange
		want string // "" accepted
	}{
		{"up", instant, ""},
		{"rate(up[5m])", instant, ""},
		{"max_over_time(up[11000m:1m])", instant, ""},
		{"max_over_time(up[11001m:1m])", instant, "11001 points, more than 11000"},
		{"max_over_time(up[1w:])", instant, ""}, // 10080 default steps
		{"max_over_time(up[2w:])", instant, "20160 points"},
		{"max_over_time(up[1h:1s] @ 100)", evalRange{0, 11000 * 3600_000, 3600_000}, ""}, // evaluated once
		{"max_over_time(up[1h:1s])", evalRange{0, 11000 * 3600_000, 3600_000}, "more than 2000000 steps"},
		{"max_over_time(up[1h:1s] offset 1d)", evalRange{0, 1000 * 60_000, 60_000}, ""},
		{"sum(", instant, "unclosed left parenthesis"},
		{"", instant, "no expression found"},
		{strings.Repeat("a", MaxQueryBytes+1), instant, "65537 bytes"},
		{strings.Repeat("up+", 6000) + "up", instant, "more than 10000 tokens"},
		{"sum(" + strings.Repeat("up,", 0) + "up)", instant, ""},
		{strings.Repeat("abs(", 1000) + "up" + strings.Repeat(")", 1000), instant, "more than 1000 levels"},
		{strings.Repeat("abs(", 999) + "up" + strings.Repeat(")", 999), instant, ""},
	} {
		err := checkQuery(p, tc.q, tc.r, step)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%.50s: %v, want %q", tc.q, err, tc.want)
		}
	}
}

// FuzzCheckQuery: the checker never panics, and what it accepts is within
// the limits.
func FuzzCheckQuery(f *testing.F) {
	for _, s := range []string{
		"up", "max_over_time(vector(1)[100d:1ms])", "rate(x[5m:])[1h:1s] @ start()",
		"sum by (a) (rate(x{a=~\"b.*\"}[5m] offset -1h))", "x[1m+step():1s]", "((((1))))", "-(-(-1))",
		"max_over_time(max_over_time(up[1h:1s])[1h:1s])", "histogram_quantile(0.9, x)", "{__name__=~\".+\"}",
	} {
		f.Add(s, int64(1_700_000_000_000), int64(3600_000), int64(15_000))
	}
	p := parser.NewParser(parser.Options{})
	f.Fuzz(func(t *testing.T, q string, start, span, step int64) {
		start %= 1 << 50
		span = max(span%(1<<40), 0)
		step = max(step%(1<<30), 1)
		if span/step > MaxPoints {
			step = span/MaxPoints + 1
		}
		r := evalRange{start, start + span, step}
		if checkQuery(p, q, r, func(int64) int64 { return 60_000 }) != nil {
			return
		}
		if len(q) > MaxQueryBytes {
			t.Fatalf("accepted %d bytes", len(q))
		}
		expr, err := p.ParseExpr(q)
		if err != nil {
			t.Fatalf("accepted what does not parse: %v", err)
		}
		var nodes, depth int
		var walk func(n parser.Node, d int)
		walk = func(n parser.Node, d int) {
			nodes++
			depth = max(depth, d)
			if sq, ok := n.(*parser.SubqueryExpr); ok && sq.Step > 0 && sq.Range/sq.Step > MaxPoints {
				t.Fatalf("accepted a subquery of %d steps", sq.Range/sq.Step)
			}
			for c := range parser.ChildrenIter(n) {
				walk(c, d+1)
			}
		}
		walk(expr, 1)
		if nodes > MaxQueryNodes || depth > MaxQueryDepth {
			t.Fatalf("accepted %d nodes, %d deep", nodes, depth)
		}
	})
}
