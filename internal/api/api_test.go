package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/store"
)

var (
	calls = metrics.NewCounter("kscope_test_calls_total", "Calls.", "syscall")
	lat   = metrics.NewHistogram("kscope_test_seconds", "Latency.")
)

type gatherer struct{ e metrics.Emitter }

func (g *gatherer) Gather(context.Context) ([]*metrics.Desc, []metrics.Sample, error) {
	return []*metrics.Desc{calls, lat}, g.e.Samples, nil
}

// fixture: calls{syscall="read"} = 10*i and calls{syscall="write"} = i at
// t0+i*10s for i in 0..6; one histogram; three events.
func fixture(t *testing.T) (*httptest.Server, time.Time) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	m, err := store.OpenMetrics(dir, 24*time.Hour, logger)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := store.OpenEvents(dir, 24*time.Hour, 100, logger)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_700_000_000, 0)
	slots := make([]uint64, 64)
	for i := range 7 {
		var e metrics.Emitter
		e.Counter(calls, float64(10*i), "read")
		e.Counter(calls, float64(i), "write")
		slots[11]++
		e.Histogram(lat, metrics.Log2(slots, uint64(3000*(i+1)), 1e-9, 9, 12))
		if err := m.Append(context.Background(), t0.Add(time.Duration(i)*10*time.Second), e.Samples); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	for i, comm := range []string{"bash", "curl", "bash"} {
		ev.Emit(&event.Exec{Header: event.Header{Time: now.Add(time.Duration(i-3) * time.Second), Type: "exec", PID: uint32(10 + i), Comm: comm, StartNS: 500}, Filename: "/bin/" + comm, Argv: []string{comm}})
	}
	ev.Emit(&event.Exit{Header: event.Header{Time: now, Type: "exit", PID: 10, Comm: "bash", StartNS: 500}, ExitCode: 3})
	// pid 10 again: another process, started later, still running.
	ev.Emit(&event.Exec{Header: event.Header{Time: now, Type: "exec", PID: 10, Comm: "sleep", StartNS: 900}, Filename: "/bin/sleep", Argv: []string{"sleep"}})
	g := &gatherer{}
	g.e.Counter(calls, 42, "read")
	srv := httptest.NewServer((&Server{Storage: m.DB(), Events: ev, Gatherer: g, Logger: logger}).Handler())
	t.Cleanup(func() {
		srv.Close()
		ev.Close()
		m.Close()
	})
	// The event store writes in batches: wait until the events are in.
	deadline := time.Now().Add(5 * time.Second)
	for ev.Stored() < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return srv, t0
}

func get(t *testing.T, srv *httptest.Server, path string, params url.Values) (int, string) {
	t.Helper()
	resp, err := http.Get(srv.URL + path + "?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func ts(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func TestQuery(t *testing.T) {
	srv, t0 := fixture(t)
	at := t0.Add(60 * time.Second)
	for _, tc := range []struct {
		name   string
		path   string
		params url.Values
		code   int
		want   string
	}{
		{"instant vector", "/api/v1/query", url.Values{"query": {`kscope_test_calls_total{syscall="read"}`}, "time": {ts(at)}}, 200,
			`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"kscope_test_calls_total","syscall":"read"},"value":[1700000060,"60"]}]}}`},
		{"rate", "/api/v1/query", url.Values{"query": {`sum(rate(kscope_test_calls_total[1m]))`}, "time": {ts(at)}}, 200,
			`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000060,"1.1"]}]}}`},
		{"quantile", "/api/v1/query", url.Values{"query": {`histogram_quantile(1, kscope_test_seconds_bucket)`}, "time": {ts(at)}}, 200,
			`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000060,"0.000004096"]}]}}`},
		{"scalar", "/api/v1/query", url.Values{"query": {`1+1`}, "time": {"1700000000.5"}}, 200,
			`{"status":"success","data":{"resultType":"scalar","result":[1700000000.5,"2"]}}`},
		{"rfc3339 time", "/api/v1/query", url.Values{"query": {`kscope_test_calls_total{syscall="write"}`}, "time": {at.UTC().Format(time.RFC3339)}}, 200,
			`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"kscope_test_calls_total","syscall":"write"},"value":[1700000060,"6"]}]}}`},
		{"range", "/api/v1/query_range", url.Values{"query": {`kscope_test_calls_total{syscall="write"}`}, "start": {ts(t0.Add(30 * time.Second))}, "end": {ts(at)}, "step": {"15s"}}, 200,
			`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"kscope_test_calls_total","syscall":"write"},"values":[[1700000030,"3"],[1700000045,"4"],[1700000060,"6"]]}]}}`},
		{"series", "/api/v1/series", url.Values{"match[]": {`kscope_test_calls_total`}}, 200,
			`{"status":"success","data":[{"__name__":"kscope_test_calls_total","syscall":"read"},{"__name__":"kscope_test_calls_total","syscall":"write"}]}`},
		{"labels", "/api/v1/labels", nil, 200, `{"status":"success","data":["__name__","le","syscall"]}`},
		{"labels matched", "/api/v1/labels", url.Values{"match[]": {`kscope_test_calls_total`}}, 200, `{"status":"success","data":["__name__","syscall"]}`},
		{"label values", "/api/v1/label/syscall/values", nil, 200, `{"status":"success","data":["read","write"]}`},
		{"names", "/api/v1/label/__name__/values", nil, 200,
			`{"status":"success","data":["kscope_test_calls_total","kscope_test_seconds_bucket","kscope_test_seconds_count","kscope_test_seconds_sum"]}`},
		{"metadata", "/api/v1/metadata", url.Values{"metric": {"kscope_test_seconds"}}, 200,
			`{"status":"success","data":{"kscope_test_seconds":[{"type":"histogram","help":"Latency.","unit":""}]}}`},
		{"bad query", "/api/v1/query", url.Values{"query": {`sum(`}}, 400, `"errorType":"bad_data"`},
		{"no query", "/api/v1/query", nil, 400, `{"status":"error","errorType":"bad_data","error":"missing parameter \"query\""}`},
		{"bad time", "/api/v1/query", url.Values{"query": {"1"}, "time": {"yesterday"}}, 400, `cannot parse \"yesterday\" to a valid timestamp`},
		{"bad step", "/api/v1/query_range", url.Values{"query": {"1"}, "start": {"1"}, "end": {"2"}, "step": {"0"}}, 400, `zero or negative query resolution step`},
		{"too many points", "/api/v1/query_range", url.Values{"query": {"1"}, "start": {"0"}, "end": {"100000"}, "step": {"1"}}, 400, `exceeded maximum resolution of 11000 points`},
		{"end before start", "/api/v1/query_range", url.Values{"query": {"1"}, "start": {"10"}, "end": {"2"}, "step": {"1"}}, 400, `end timestamp must not be before start time`},
		{"execution error", "/api/v1/query", url.Values{"query": {`label_replace(kscope_test_calls_total, "syscall", "x", "syscall", ".*")`}, "time": {ts(at)}}, 422, `"errorType":"execution"`},
		{"series needs match", "/api/v1/series", nil, 400, `no match[] parameter provided`},
	} {
		code, body := get(t, srv, tc.path, tc.params)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s\nwant %d %s", tc.name, code, body, tc.code, tc.want)
		}
	}
}

// Grafana posts its queries as forms.
func TestQueryPOST(t *testing.T) {
	srv, t0 := fixture(t)
	resp, err := http.PostForm(srv.URL+"/api/v1/query", url.Values{"query": {`kscope_test_calls_total{syscall="read"}`}, "time": {ts(t0)}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Data   struct {
			Result []struct{ Value []any }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" || len(r.Data.Result) != 1 || r.Data.Result[0].Value[1] != "0" {
		t.Errorf("%v %+v", err, r)
	}
}

func TestEvents(t *testing.T) {
	srv, _ := fixture(t)
	type resp struct {
		Status string
		Data   struct {
			Events    []map[string]any
			Truncated bool
		}
	}
	for _, tc := range []struct {
		params    url.Values
		pids      string
		truncated bool
	}{
		{url.Values{"type": {"exec"}}, "10 11 12 10/sleep", false},
		{url.Values{"type": {"exec"}, "match": {"comm=bash"}}, "10 12", false},
		{url.Values{"type": {"exec"}, "limit": {"1"}}, "10/sleep", true},
		{url.Values{"since": {"10m"}, "match": {"pid=10"}}, "10 10 10/sleep", false},
		{url.Values{"type": {"exit"}, "match": {"exit_code=3"}}, "10", false},
		{url.Values{"type": {"exec"}, "until": {"1h"}}, "", false},
		// A process is its pid and its start time.
		{url.Values{"pid": {"10"}}, "10 10 10/sleep", false},
		{url.Values{"pid": {"10"}, "start": {"500"}}, "10 10", false},
		{url.Values{"pid": {"10"}, "start": {"900"}}, "10/sleep", false},
		{url.Values{"pid": {"10"}, "start": {"900"}, "type": {"exit"}}, "", false},
		{url.Values{"pid": {"11"}, "start": {"900"}}, "", false},
	} {
		code, body := get(t, srv, "/api/v1/events", tc.params)
		var r resp
		if err := json.Unmarshal([]byte(body), &r); err != nil || code != 200 {
			t.Fatalf("%v: %d %s", tc.params, code, body)
		}
		var pids []string
		for _, ev := range r.Data.Events {
			p := strconv.Itoa(int(ev["pid"].(float64)))
			if ev["comm"] == "sleep" {
				p += "/sleep"
			}
			pids = append(pids, p)
		}
		if got := strings.Join(pids, " "); got != tc.pids || r.Data.Truncated != tc.truncated {
			t.Errorf("%v: pids %q truncated %v, want %q %v", tc.params, got, r.Data.Truncated, tc.pids, tc.truncated)
		}
	}
	for _, bad := range []url.Values{{"type": {"nope"}}, {"limit": {"0"}}, {"since": {"soon"}}, {"match": {"comm"}}, {"pid": {"x"}}, {"pid": {"0"}}, {"start": {"-1"}}, {"start": {"1.5"}}} {
		if code, body := get(t, srv, "/api/v1/events", bad); code != 400 || !strings.Contains(body, `"errorType":"bad_data"`) {
			t.Errorf("%v: %d %s", bad, code, body)
		}
	}
}

func TestMetricsAndHealth(t *testing.T) {
	srv, _ := fixture(t)
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != metrics.ContentType {
		t.Errorf("content type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v := fams["kscope_test_calls_total"].GetMetric()[0].GetCounter().GetValue(); v != 42 {
		t.Errorf("counter %v", v)
	}
	if code, body := get(t, srv, "/healthz", nil); code != 200 || body != "ok" {
		t.Errorf("healthz %d %s", code, body)
	}
	if code, body := get(t, srv, "/api/v1/status/buildinfo", nil); code != 200 || !strings.Contains(body, `"version":`) {
		t.Errorf("buildinfo %d %s", code, body)
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\s\n\r\t\x01<>&", "ünï", "bad\xff", "\u2028\u2029"} {
		var got string
		if err := json.Unmarshal(event.AppendString(nil, s), &got); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		want, _ := json.Marshal(s)
		var w string
		json.Unmarshal(want, &w)
		if got != w {
			t.Errorf("%q: got %q want %q", s, got, w)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	f.Add("a\"\\\x00\xff\u2028")
	f.Fuzz(func(t *testing.T, s string) {
		var got string
		if err := json.Unmarshal(event.AppendString(nil, s), &got); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		want, _ := json.Marshal(s)
		var w string
		json.Unmarshal(want, &w)
		if got != w {
			t.Fatalf("%q: got %q want %q", s, got, w)
		}
	})
}

func TestEventRate(t *testing.T) {
	srv, _ := fixture(t)
	type series struct {
		Metric map[string]string
		Total  int
		Values [][2]any
	}
	type resp struct {
		Status string
		Data   struct {
			ResultType string
			Result     []series
		}
	}
	now := time.Now()
	since := strconv.FormatInt(now.Add(-10*time.Minute).Unix(), 10)
	until := strconv.FormatInt(now.Add(time.Minute).Unix(), 10)
	for _, tc := range []struct {
		params url.Values
		want   string // type:total …
	}{
		{url.Values{}, "exec:4 exit:1"},
		{url.Values{"type": {"exec"}}, "exec:4"},
		{url.Values{"pid": {"10"}, "start": {"500"}}, "exec:1 exit:1"},
		{url.Values{"match": {"comm=bash"}}, "exec:2 exit:1"},
		{url.Values{"match": {"comm=~cu.*"}}, "exec:1"},
		{url.Values{"q": {"CURL"}}, "exec:1"},
		{url.Values{"type": {"oom"}}, ""},
	} {
		tc.params.Set("since", since)
		tc.params.Set("until", until)
		tc.params.Set("step", "60")
		code, body := get(t, srv, "/api/v1/events/rate", tc.params)
		var r resp
		if err := json.Unmarshal([]byte(body), &r); err != nil || code != 200 || r.Data.ResultType != "matrix" {
			t.Fatalf("%v: %d %s", tc.params, code, body)
		}
		var got []string
		for _, s := range r.Data.Result {
			got = append(got, s.Metric["type"]+":"+strconv.Itoa(s.Total))
			if len(s.Values) != 11 {
				t.Errorf("%v: %s: %d points, want one per step (11)", tc.params, s.Metric["type"], len(s.Values))
			}
			// The rates times the step add up to the total.
			var sum float64
			for _, v := range s.Values {
				f, err := strconv.ParseFloat(v[1].(string), 64)
				if err != nil {
					t.Fatal(err)
				}
				sum += f * 60
			}
			if int(math.Round(sum)) != s.Total {
				t.Errorf("%v: %s: rates add up to %v events, total %d", tc.params, s.Metric["type"], sum, s.Total)
			}
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("%v: %q, want %q", tc.params, g, tc.want)
		}
	}
	for _, bad := range []url.Values{
		{"type": {"nope"}},
		{"step": {"0"}},
		{"step": {"1ms"}},
		{"since": {"1m"}, "until": {"2m"}},
		{"match": {"comm"}},
	} {
		if code, body := get(t, srv, "/api/v1/events/rate", bad); code != 400 || !strings.Contains(body, `"errorType":"bad_data"`) {
			t.Errorf("%v: %d %s", bad, code, body)
		}
	}
	// The text filter applies to the events list too.
	code, body := get(t, srv, "/api/v1/events", url.Values{"q": {"curl"}})
	if code != 200 || strings.Count(body, `"pid":`) != 1 {
		t.Errorf("q=curl: %d %s", code, body)
	}
}

// A time in seconds names its millisecond, even when the float is just
// below it.
func TestParseTimeMilliseconds(t *testing.T) {
	for s, want := range map[string]int64{
		"1796523810.646": 1796523810646,
		"1700000000.123": 1700000000123,
		"1700000000":     1700000000000,
		"1700000000.5":   1700000000500,
	} {
		got, err := parseTime(s)
		if err != nil || got.UnixMilli() != want || got.Nanosecond()%1e6 != 0 {
			t.Errorf("%s: %v (%d ms), want %d ms", s, got, got.UnixMilli(), want)
		}
	}
}

// /healthz: 200 ok; 200 and one "degraded: " line a reason while degraded;
// 503 and the reason while unhealthy, whatever else.
func TestHealthz(t *testing.T) {
	var unhealthy error
	var degraded []string
	s := &Server{
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Healthy:  func() error { return unhealthy },
		Degraded: func() []string { return degraded },
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for _, tc := range []struct {
		unhealthy error
		degraded  []string
		code      int
		body      string
	}{
		{nil, nil, 200, "ok"},
		{nil, []string{"series limit reached: x", "y"}, 200, "degraded: series limit reached: x\ndegraded: y"},
		{errors.New("no collection for 1m"), []string{"y"}, 503, "no collection for 1m"},
	} {
		unhealthy, degraded = tc.unhealthy, tc.degraded
		if code, body := get(t, srv, "/healthz", nil); code != tc.code || body != tc.body {
			t.Errorf("healthz %d %q, want %d %q", code, body, tc.code, tc.body)
		}
	}
}
