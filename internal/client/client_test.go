package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/crypto/bcrypt"

	"github.com/kscope/kscope/internal/api"
	"github.com/kscope/kscope/internal/client"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/profile"
	"github.com/kscope/kscope/internal/store"
	"github.com/kscope/kscope/internal/testutil"
)

var (
	calls  = metrics.NewCounter("kscope_test_calls_total", "Calls.", "syscall")
	logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	t0     = time.Unix(1_700_000_000, 0)
)

type gatherer struct{}

func (gatherer) Gather(context.Context) ([]*metrics.Desc, []metrics.Sample, error) {
	return nil, nil, nil
}

// live is an api.Live that hands each subscription to the test, which
// feeds it.
type live struct {
	got chan *sub
}

type sub struct {
	f       api.LiveFilter
	ch      chan []byte
	dropped uint64
	mu      sync.Mutex
}

func (l *live) Subscribe(f api.LiveFilter) (api.LiveSubscription, error) {
	s := &sub{f: f, ch: make(chan []byte, 16)}
	l.got <- s
	return s, nil
}

func (s *sub) Events() <-chan []byte { return s.ch }
func (s *sub) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}
func (s *sub) Close() {}

// agent is the API of an agent over real stores in a temp dir:
// kscope_test_calls_total{syscall="read"} = 10*i and {syscall="write"} = i
// at t0+i*10s for i in 0..6; four events; six profile windows.
type agent struct {
	handler http.Handler
	live    *live
	now     time.Time
}

func newAgent(t *testing.T) *agent {
	t.Helper()
	dir := t.TempDir()
	m, err := store.OpenMetrics(dir, 24*time.Hour, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	ev, err := store.OpenEvents(dir, 24*time.Hour, 100, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ev.Close() })
	prof, err := store.OpenProfiles(dir, 24*time.Hour, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 7 {
		var e metrics.Emitter
		e.Counter(calls, float64(10*i), "read")
		e.Counter(calls, float64(i), "write")
		if err := m.Append(ctx, t0.Add(time.Duration(i)*10*time.Second), e.Samples); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	for i, comm := range []string{"bash", "curl", "bash"} {
		ev.Emit(&event.Exec{Header: event.Header{Time: now.Add(time.Duration(i-3) * time.Second), Type: "exec", PID: uint32(10 + i), Comm: comm, StartNS: 500}, Filename: "/bin/" + comm, Argv: []string{comm}})
	}
	ev.Emit(&event.Exit{Header: event.Header{Time: now, Type: "exit", PID: 10, Comm: "bash", StartNS: 500}, ExitCode: 3})
	start := now.Add(-30 * time.Minute).Truncate(time.Second)
	for i := range 6 {
		w := &profile.Profile{
			Types:    []profile.ValueType{profile.Samples, profile.CPU},
			Period:   int64(time.Second / 19),
			Start:    start.Add(time.Duration(i) * 10 * time.Second),
			Duration: 10 * time.Second,
			Samples: []profile.Sample{{PID: 1, Comm: "web", Values: []int64{2, 2 * int64(time.Second/19)},
				Stack: []profile.Frame{{Function: "handle", Module: "/bin/web"}, {Function: "main", Module: "/bin/web"}}}},
		}
		if err := prof.Put(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	a := &agent{live: &live{got: make(chan *sub, 1)}, now: now}
	s := &api.Server{Storage: m.DB(), Events: ev, Profiles: prof, Gatherer: gatherer{}, Logger: logger,
		UI: api.UI{Live: a.live, Status: func() ([]byte, error) { return []byte(`{"collectors":["exec"]}`), nil }}}
	a.handler = s.Handler()
	t.Cleanup(s.CancelQueries)
	// The event store writes in batches: wait until the events are in.
	deadline := time.Now().Add(10 * time.Second)
	for ev.Stored() < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if ev.Stored() != 4 {
		t.Fatalf("%d events stored, want 4", ev.Stored())
	}
	return a
}

// serve serves the agent over plain HTTP and returns a client of it.
func (a *agent) serve(t *testing.T) *client.Client {
	t.Helper()
	srv := httptest.NewServer(a.handler)
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, client.Options{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestQuery(t *testing.T) {
	c := newAgent(t).serve(t)
	ctx := context.Background()
	r, err := c.Query(ctx, `kscope_test_calls_total`, t0.Add(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	vec, err := r.Vector()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, s := range vec {
		got[string(s.Metric["syscall"])] = float64(s.Value)
		if s.Timestamp.Time() != t0.Add(60*time.Second) {
			t.Errorf("%v: time %v", s.Metric, s.Timestamp.Time())
		}
	}
	if len(vec) != 2 || got["read"] != 60 || got["write"] != 6 {
		t.Errorf("instant query: %v", vec)
	}
	if !bytes.HasPrefix(r.Data, []byte(`{"resultType":"vector","result":[`)) {
		t.Errorf("raw data %s", r.Data)
	}

	r, err = c.QueryRange(ctx, `kscope_test_calls_total{syscall="write"}`, t0, t0.Add(60*time.Second), 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	v, err := r.Value()
	if err != nil {
		t.Fatal(err)
	}
	m, ok := v.(model.Matrix)
	if !ok || len(m) != 1 {
		t.Fatalf("range query: %v", v)
	}
	var pts []float64
	for _, p := range m[0].Values {
		pts = append(pts, float64(p.Value))
	}
	if !slices.Equal(pts, []float64{0, 2, 4, 6}) {
		t.Errorf("range query points %v, want [0 2 4 6]", pts)
	}
	if _, err := r.Vector(); err == nil || !strings.Contains(err.Error(), `query answered a "matrix", want a vector`) {
		t.Errorf("Vector of a matrix: %v", err)
	}

	r, err = c.Query(ctx, `scalar(kscope_test_calls_total{syscall="read"}) * 2`, t0.Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := r.Value(); err != nil || v.(*model.Scalar).Value != 60 {
		t.Errorf("scalar: %v %v", v, err)
	}
}

func TestSeriesAndLabels(t *testing.T) {
	c := newAgent(t).serve(t)
	ctx := context.Background()
	from, to := t0, t0.Add(time.Minute)
	series, err := c.Series(ctx, []string{`kscope_test_calls_total`}, from, to)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range series {
		names = append(names, s.String())
	}
	slices.Sort(names)
	if want := []string{`{__name__="kscope_test_calls_total", syscall="read"}`, `{__name__="kscope_test_calls_total", syscall="write"}`}; !slices.Equal(names, want) {
		t.Errorf("series %q, want %q", names, want)
	}
	if got, err := c.LabelNames(ctx, nil, from, to); err != nil || !slices.Equal(got, []string{"__name__", "syscall"}) {
		t.Errorf("label names %q %v", got, err)
	}
	if got, err := c.LabelValues(ctx, "syscall", []string{`kscope_test_calls_total`}, from, to); err != nil || !slices.Equal(got, []string{"read", "write"}) {
		t.Errorf("label values %q %v", got, err)
	}
}

// Answers in the Prometheus API's error shape become *client.Error with
// the status, the type and the message.
func TestErrorShape(t *testing.T) {
	c := newAgent(t).serve(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		call func() error
		code int
		typ  string
		msg  string
	}{
		{"promql", func() error { _, err := c.Query(ctx, "sum(", time.Time{}); return err }, 400, "bad_data", "invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis"},
		{"series", func() error { _, err := c.Series(ctx, nil, time.Time{}, time.Time{}); return err }, 400, "bad_data", "no match[] parameter provided"},
		{"events", func() error { _, err := c.Events(ctx, client.EventsQuery{Type: "nope"}); return err }, 400, "bad_data", `invalid parameter "type": unknown event type "nope"`},
		{"profile", func() error { _, err := c.Profile(ctx, client.ProfileQuery{Format: "svg"}); return err }, 400, "bad_data", `invalid parameter "format": want pprof, folded, flamegraph or json, not "svg"`},
		{"stream", func() error { _, err := c.Stream(ctx, client.StreamFilter{PID: 0, Type: "nope"}); return err }, 400, "bad_data", `invalid parameter "type": unknown event type "nope"`},
	} {
		err := tc.call()
		var e *client.Error
		if !errors.As(err, &e) {
			t.Errorf("%s: %v (%T), want *client.Error", tc.name, err, err)
			continue
		}
		if e.StatusCode != tc.code || e.Type != tc.typ || e.Msg != tc.msg || e.Error() != tc.typ+": "+tc.msg {
			t.Errorf("%s: %+v, want %d %s %q", tc.name, e, tc.code, tc.typ, tc.msg)
		}
	}
	// The web UI answers every other path, and only GET: not the API.
	if _, err := c.Do(ctx, "/api/v1/nothing", nil); !errors.Is(err, client.ErrNotAgent) || !strings.Contains(err.Error(), "/api/v1/nothing answered 405 Method Not Allowed, not the kscope API: \"method not allowed\\n\"") {
		t.Errorf("not the API: %v", err)
	}
}

func TestEvents(t *testing.T) {
	c := newAgent(t).serve(t)
	for _, tc := range []struct {
		q         client.EventsQuery
		want      string
		truncated bool
	}{
		{client.EventsQuery{Type: "exec"}, "exec 10 bash, exec 11 curl, exec 12 bash", false},
		{client.EventsQuery{Match: []string{"comm=bash"}, Since: "10m"}, "exec 10 bash, exec 12 bash, exit 10 bash", false},
		{client.EventsQuery{Type: "exec", Limit: 1}, "exec 12 bash", true},
		{client.EventsQuery{PID: 10, Start: 500, Type: "exit"}, "exit 10 bash", false},
		{client.EventsQuery{Text: "CURL"}, "exec 11 curl", false},
		{client.EventsQuery{Type: "exec", Until: "1h"}, "", false},
	} {
		got, err := c.Events(context.Background(), tc.q)
		if err != nil {
			t.Fatalf("%+v: %v", tc.q, err)
		}
		var evs []string
		for _, raw := range got.Events {
			var e struct {
				Type string
				PID  int
				Comm string
			}
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatal(err)
			}
			evs = append(evs, e.Type+" "+strconv.Itoa(e.PID)+" "+e.Comm)
		}
		if s := strings.Join(evs, ", "); s != tc.want || got.Truncated != tc.truncated {
			t.Errorf("%+v: %q truncated %v, want %q %v", tc.q, s, got.Truncated, tc.want, tc.truncated)
		}
	}
}

// The live stream delivers each event, the subscriber's dropped count and
// the agent's end.
func TestStream(t *testing.T) {
	a := newAgent(t)
	c := a.serve(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := c.Stream(ctx, client.StreamFilter{Type: "exec", PID: 7, Comm: "sh", Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sub := <-a.live.got
	if want := (api.LiveFilter{Type: "exec", PID: 7, Comm: "sh", Text: "x"}); sub.f != want {
		t.Errorf("filter %+v, want %+v", sub.f, want)
	}
	sub.ch <- []byte(`{"type":"exec","pid":7}`)
	sub.ch <- []byte(`{"type":"exec","pid":8}`)
	for _, want := range []string{`{"type":"exec","pid":7}`, `{"type":"exec","pid":8}`} {
		if ev, err := s.Next(); err != nil || string(ev) != want {
			t.Fatalf("Next: %s %v, want %s", ev, err, want)
		}
	}
	// The agent reports drops once a second: wait for the report, then
	// the next event.
	sub.mu.Lock()
	sub.dropped = 5
	sub.mu.Unlock()
	next := make(chan string, 1)
	go func() {
		ev, err := s.Next()
		if err != nil {
			next <- err.Error()
			return
		}
		next <- string(ev)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for s.Dropped() != 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s.Dropped() != 5 {
		t.Fatalf("dropped %d, want 5", s.Dropped())
	}
	sub.ch <- []byte(`{"type":"exec","pid":9}`)
	if got := <-next; got != `{"type":"exec","pid":9}` {
		t.Errorf("after the drop report: %s", got)
	}
	close(sub.ch)
	if _, err := s.Next(); !errors.Is(err, client.ErrStreamEnded) {
		t.Errorf("at the end: %v, want ErrStreamEnded", err)
	}
}

func TestProfileAndStatus(t *testing.T) {
	c := newAgent(t).serve(t)
	ctx := context.Background()
	folded, err := c.Profile(ctx, client.ProfileQuery{PID: 1, Format: "folded", Type: "samples"})
	if err != nil || string(folded) != "web;main;handle 12\n" {
		t.Errorf("folded: %q %v", folded, err)
	}
	tree, err := c.Profile(ctx, client.ProfileQuery{Comm: "web", Format: "json", Type: "samples"})
	var d struct {
		Type  string
		Total int64
	}
	if err != nil || json.Unmarshal(tree, &d) != nil || d.Type != "samples" || d.Total != 12 {
		t.Errorf("json: %s %v", tree, err)
	}
	pprof, err := c.Profile(ctx, client.ProfileQuery{})
	if err != nil || !bytes.HasPrefix(pprof, []byte{0x1f, 0x8b}) {
		t.Errorf("pprof: %.20q %v", pprof, err)
	}
	if st, err := c.Status(ctx); err != nil || string(st) != `{"collectors":["exec"]}` {
		t.Errorf("status: %s %v", st, err)
	}
	if bi, err := c.BuildInfo(ctx); err != nil || !bytes.Contains(bi, []byte(`"version":`)) {
		t.Errorf("buildinfo: %s %v", bi, err)
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:9464", true},
		{"http://localhost:9464/", true},
		{"https://user:pass@metrics.example.com", true},
		{"127.0.0.1:9464", false},
		{"ftp://x", false},
		{"http://", false},
		{"", false},
	} {
		c, err := client.New(tc.url, client.Options{})
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok=%v", tc.url, err, tc.ok)
		}
		if err == nil && c.URL() != strings.TrimRight(tc.url, "/") {
			t.Errorf("%q: URL %q", tc.url, c.URL())
		}
	}
	dir := t.TempDir()
	for _, tc := range []struct{ name, content, msg string }{
		{"absent.yml", "", "reading " + filepath.Join(dir, "absent.yml")},
		{"broken.yml", "basic_auth:\n  username: a\n  password: a\n  password_file: p\n", "at most one of basic_auth password, password_file & password_ref must be configured"},
		{"unknown.yml", "basic_auth:\n  user: a\n", "field user not found"},
	} {
		path := filepath.Join(dir, tc.name)
		if tc.content != "" {
			writeFile(t, path, tc.content)
		}
		_, err := client.New("http://127.0.0.1:9464", client.Options{HTTPConfigFile: path})
		var ce *client.ConfigError
		if !errors.As(err, &ce) || ce.File != path || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want a ConfigError saying %q", tc.name, err, tc.msg)
		}
	}
}

// An agent that is not there, and one that does not answer in time.
func TestUnreachableAndTimeout(t *testing.T) {
	addr := "http://127.0.0.1:" + strconv.Itoa(testutil.ClosedPort(t))
	c, _ := client.New(addr, client.Options{})
	if _, err := c.Query(context.Background(), "1", time.Time{}); err == nil || !strings.Contains(err.Error(), "cannot reach the kscope agent at "+addr+" (is 'kscope agent' running? set --server or KSCOPE_SERVER): ") {
		t.Errorf("nothing listening: %v", err)
	}

	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(stuck.Close)
	c, _ = client.New(stuck.URL, client.Options{Timeout: 100 * time.Millisecond})
	if _, err := c.Events(context.Background(), client.EventsQuery{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("an agent that does not answer: %v, want the deadline", err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// An agent behind its web configuration (TLS, basic auth), as the agent
// serves it: with the credentials of an HTTP client configuration file
// the client gets answers; without them it gets errors that say why.
func TestAuth(t *testing.T) {
	a := newAgent(t)
	dir := t.TempDir()
	testutil.TLSCert(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web.yml")
	writeFile(t, webConfig, "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  alice: "+string(hash)+"\n")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: api.HostAllowList("127.0.0.1:0", ln.Addr(), a.handler), ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
	systemd := false
	flags := &web.FlagConfig{WebListenAddresses: &[]string{ln.Addr().String()}, WebSystemdSocket: &systemd, WebConfigFile: &webConfig}
	done := make(chan struct{})
	go func() { web.Serve(ln, srv, flags, logger); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done })
	url := "https://" + ln.Addr().String()

	writeFile(t, filepath.Join(dir, "password"), "secret\n")
	config := func(name, content string) string {
		path := filepath.Join(dir, name)
		writeFile(t, path, content)
		return path
	}
	good := config("good.yml", "basic_auth:\n  username: alice\n  password_file: password\ntls_config:\n  ca_file: ca.crt\n")
	noAuth := config("noauth.yml", "tls_config:\n  ca_file: ca.crt\n")
	wrong := config("wrong.yml", "basic_auth:\n  username: alice\n  password: guess\ntls_config:\n  ca_file: ca.crt\n")

	ctx := context.Background()
	newClient := func(server, file string) *client.Client {
		c, err := client.New(server, client.Options{HTTPConfigFile: file, Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ok := newClient(url, good)
	if r, err := ok.Query(ctx, "vector(42)", time.Time{}); err != nil {
		t.Errorf("with credentials: %v", err)
	} else if v, err := r.Vector(); err != nil || len(v) != 1 || v[0].Value != 42 {
		t.Errorf("with credentials: %v %v", v, err)
	}
	if evs, err := ok.Events(ctx, client.EventsQuery{Type: "exit"}); err != nil || len(evs.Events) != 1 {
		t.Errorf("events with credentials: %v %v", evs, err)
	}

	for _, tc := range []struct {
		name   string
		c      *client.Client
		is     error
		msg    string
		stream bool
	}{
		{"no CA", newClient(url, ""), nil, "the kscope agent at " + url + " has a certificate this client does not trust: give its CA as tls_config.ca_file in a client configuration file (--http.config.file or $KSCOPE_HTTP_CONFIG_FILE): tls: failed to verify certificate: x509: certificate signed by unknown authority", false},
		{"no credentials", newClient(url, noAuth), client.ErrUnauthorized, "the kscope agent at " + url + " requires authentication and refused this request (401 Unauthorized): give credentials in a client configuration file with --http.config.file or $KSCOPE_HTTP_CONFIG_FILE", false},
		{"wrong password", newClient(url, wrong), client.ErrUnauthorized, "(401 Unauthorized)", false},
		{"stream without credentials", newClient(url, noAuth), client.ErrUnauthorized, "(401 Unauthorized)", true},
	} {
		var err error
		if tc.stream {
			_, err = tc.c.Stream(ctx, client.StreamFilter{})
		} else {
			_, err = tc.c.Query(ctx, "vector(1)", time.Time{})
		}
		if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want %v saying %q", tc.name, err, tc.is, tc.msg)
		}
	}
	// The Host allow-list's 421, over plain HTTP through the proxy: the
	// agent's TLS listener refuses that before HostAllowList sees it, so
	// serve the same handler without TLS for this one.
	plain := httptest.NewServer(api.HostAllowList("127.0.0.1:0", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, a.handler))
	t.Cleanup(plain.Close)
	// Through a proxy, the request names a Host the agent does not serve.
	misdirected := config("misdirected.yml", "proxy_url: "+plain.URL+"\n")
	_, err = newClient("http://agent.example:9464", misdirected).Query(ctx, "vector(1)", time.Time{})
	var re *client.RefusedError
	if !errors.As(err, &re) || re.StatusCode != http.StatusMisdirectedRequest || !strings.Contains(err.Error(), `the kscope agent at http://agent.example:9464 refused this request (421 Misdirected Request): kscope agent: Host "agent.example:9464" is not served`) {
		t.Errorf("misdirected: %v", err)
	}
}
