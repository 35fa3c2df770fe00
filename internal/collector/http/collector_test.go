package http_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	khttp "github.com/kscope/kscope/internal/collector/http"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/testutil"
)

// start runs an http collector with filter f until the test ends.
func start(t *testing.T, f collector.Filter) (collector.Collector, *testutil.Capture) {
	t.Helper()
	testutil.RequireBPF(t)
	c, err := collector.New(khttp.Name, collector.Config{Filter: f, RingBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	sink := testutil.NewCapture()
	if err := c.Start(context.Background(), sink); err != nil {
		c.Close()
		t.Fatalf("starting: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("closing: %v", err)
		}
	})
	return c, sink
}

// byPID returns the http events of pid so far, in the order they ended.
func byPID(sink *testutil.Capture, pid uint32) []event.HTTP {
	var out []event.HTTP
	for _, ev := range sink.Events() {
		if e, ok := ev.(*event.HTTP); ok && e.PID == pid {
			out = append(out, *e)
		}
	}
	return out
}

// waitPID waits up to timeout for n events of pid, and a little longer for
// any surplus.
func waitPID(sink *testutil.Capture, pid uint32, n int, timeout time.Duration) []event.HTTP {
	deadline := time.Now().Add(timeout)
	for {
		evs := byPID(sink, pid)
		if len(evs) >= n || time.Now().After(deadline) {
			time.Sleep(100 * time.Millisecond)
			return byPID(sink, pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const wait = 30 * time.Second // a deadline for conditions; only a failure waits it out

// binaryStart is when the test binary started.
var binaryStart = time.Now()

// requireTool fails the test where every tool must be present (see
// testutil.RequireAll) and skips it elsewhere when a host
// program it runs is missing.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	return testutil.Tool(t, name, "a real HTTP peer")
}

func comm(pid uint32) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/comm")
	return strings.TrimSpace(string(b))
}

// checkPair checks the server's and the client's events of one exchange
// against what the client counted.
func checkPair(t *testing.T, srv, cli event.HTTP, want result, port int, useTLS bool) {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for _, e := range []event.HTTP{srv, cli} {
		if e.Type != "http" || e.Method != want.Method || e.Path != want.Path || int(e.Status) != want.Status || e.TLS != useTLS || e.Host != addr {
			t.Errorf("%s %s %s: got %s %s host %s status %d tls %v, want status %d tls %v",
				e.Role, want.Method, want.Path, e.Method, e.Path, e.Host, e.Status, e.TLS, want.Status, useTLS)
		}
		// The test binary's run brackets every event it causes.
		if e.LatencyNS == 0 || e.LatencyNS > uint64(time.Since(binaryStart)) {
			t.Errorf("%s %s: latency %v, the test binary has run %v", e.Role, want.Path, time.Duration(e.LatencyNS), time.Since(binaryStart))
		}
		testutil.Between(t, e.Role+" "+want.Path+" time", e.Time, binaryStart, time.Now())
	}
	if srv.Role != "server" || srv.LAddr != addr || srv.RAddr != want.LAddr || srv.BytesIn != want.BytesOut || srv.BytesOut != want.BytesIn {
		t.Errorf("server side of %s %s: role %s %s <- %s, in %d out %d; want %s <- %s, in %d out %d",
			want.Method, want.Path, srv.Role, srv.LAddr, srv.RAddr, srv.BytesIn, srv.BytesOut, addr, want.LAddr, want.BytesOut, want.BytesIn)
	}
	if cli.Role != "client" || cli.LAddr != want.LAddr || cli.RAddr != addr || cli.BytesIn != want.BytesIn || cli.BytesOut != want.BytesOut {
		t.Errorf("client side of %s %s: role %s %s -> %s, in %d out %d; want %s -> %s, in %d out %d",
			want.Method, want.Path, cli.Role, cli.LAddr, cli.RAddr, cli.BytesIn, cli.BytesOut, want.LAddr, addr, want.BytesIn, want.BytesOut)
	}
}

// requests is what the Go tests ask, in one kept-alive connection.
var requests = []string{"GET /hello?x=1", "POST /echo 1000", "GET /chunked", "GET /missing", "HEAD /hello", "GET /big", "PUT /echo 70000"}

// goExchanges runs the Go server and client and checks both sides of
// every exchange, and that they saw nothing else.
func goExchanges(t *testing.T, useTLS bool) {
	_, sink := start(t, collector.Filter{})
	srv, port := startServer(t, os.Args[0], useTLS)
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	cpid, rs := runClient(t, os.Args[0], scheme+"://127.0.0.1:"+strconv.Itoa(port), useTLS, 0, requests...)
	if len(rs) != len(requests) {
		t.Fatalf("client made %d requests: %+v", len(rs), rs)
	}
	for i := 1; i < len(rs); i++ {
		if rs[i].LAddr != rs[0].LAddr {
			t.Fatalf("client used more than one connection: %+v", rs)
		}
	}
	sevs := waitPID(sink, srv.pid(), len(rs), wait)
	cevs := waitPID(sink, cpid, len(rs), wait)
	if len(sevs) != len(rs) || len(cevs) != len(rs) {
		t.Fatalf("want %d events each, got server %+v\nclient %+v", len(rs), sevs, cevs)
	}
	for i, r := range rs {
		r.Path = strings.SplitN(r.Path, "?", 2)[0]
		checkPair(t, sevs[i], cevs[i], r, port, useTLS)
	}
	if c := comm(srv.pid()); sevs[0].Comm != c {
		t.Errorf("server comm %q, want %q", sevs[0].Comm, c)
	}
}

func TestGoPlain(t *testing.T) { goExchanges(t, false) }

func TestGoTLS(t *testing.T) { goExchanges(t, true) }

// TestGoTLSUprobes: the same through one uprobe per address, the fallback
// for kernels without uprobe_multi links.
func TestGoTLSUprobes(t *testing.T) {
	defer bpfx.ForceHook(khttp.Name, bpfx.FeatUprobe)()
	goExchanges(t, true)
}

// A client whose binary (a new file) starts after tracing began is traced:
// its crypto/tls is probed when it execs.
func TestGoTLSClientStartedLater(t *testing.T) {
	c, sink := start(t, collector.Filter{})
	srv, port := startServer(t, os.Args[0], true)
	bin := filepath.Join(t.TempDir(), "late-client")
	copyFile(t, os.Args[0], bin)
	cl := startStdinClient(t, bin, "https://127.0.0.1:"+strconv.Itoa(port), "GET /hello", "POST /echo 10")
	// Its exec has it examined and probed before it makes a request.
	waitProbed(t, c, bin, "after its exec")
	cl.connect()
	checkClientAndServer(t, sink, srv.pid(), cl.pid(), port, cl.requests())
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// curl (OpenSSL) against the Go TLS server: curl's side through the libssl
// uprobes, the server's through crypto/tls; each mirrors the other.
func TestCurlOpenSSL(t *testing.T) {
	curl := requireTool(t, "curl")
	_, sink := start(t, collector.Filter{})
	srv, port := startServer(t, os.Args[0], true)
	base := "https://127.0.0.1:" + strconv.Itoa(port)
	// Three requests on one connection, then a POST with a body.
	cmd := exec.Command(curl, "-sk", "--http1.1", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null",
		base+"/hello", base+"/missing", base+"/chunked",
		"--next", "-sk", "--http1.1", "-o", "/dev/null", "--data-binary", strings.Repeat("d", 3000), base+"/echo")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	cpid := uint32(cmd.Process.Pid)
	want := []struct {
		method, path string
		status       int32
	}{{"GET", "/hello", 200}, {"GET", "/missing", 404}, {"GET", "/chunked", 200}, {"POST", "/echo", 201}}
	sevs := waitPID(sink, srv.pid(), len(want), wait)
	cevs := waitPID(sink, cpid, len(want), wait)
	if len(sevs) != len(want) || len(cevs) != len(want) {
		t.Fatalf("want %d events each, got server %+v\ncurl %+v", len(want), sevs, cevs)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for i, w := range want {
		s, c := sevs[i], cevs[i]
		for _, e := range []event.HTTP{s, c} {
			if e.Method != w.method || e.Path != w.path || e.Status != w.status || !e.TLS {
				t.Errorf("%s: got %s %s %d tls %v, want %s %s %d", e.Role, e.Method, e.Path, e.Status, e.TLS, w.method, w.path, w.status)
			}
		}
		if c.Role != "client" || c.Comm != "curl" || c.RAddr != addr || s.LAddr != addr || c.LAddr != s.RAddr {
			t.Errorf("ends: curl %s %s -> %s, server %s <- %s", c.Role, c.LAddr, c.RAddr, s.LAddr, s.RAddr)
		}
		if c.BytesOut != s.BytesIn || c.BytesIn != s.BytesOut || c.BytesOut == 0 || c.BytesIn == 0 {
			t.Errorf("%s %s: curl out %d in %d, server in %d out %d", w.method, w.path, c.BytesOut, c.BytesIn, s.BytesIn, s.BytesOut)
		}
	}
	// curl keeps the connection alive across URLs and --next.
	for _, c := range cevs[1:] {
		if c.LAddr != cevs[0].LAddr {
			t.Errorf("curl used more than one connection: %+v", cevs)
		}
	}
	// The POST's body: 3000 bytes after curl's head.
	if b := cevs[3].BytesOut; b < 3000+50 {
		t.Errorf("POST bytes out %d, want the 3000-byte body and a head", b)
	}
	if b := sevs[3].BytesOut; b < 3000 {
		t.Errorf("echo bytes out %d", b)
	}
}

// Python's http.server behind Python's ssl (OpenSSL's SSL_read_ex and
// SSL_write_ex), with curl as the client; and plain, through recv/send.
func TestPythonServerOpenSSL(t *testing.T) {
	py := requireTool(t, "python3")
	curl := requireTool(t, "curl")
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "tls"}[useTLS], func(t *testing.T) {
			_, sink := start(t, collector.Filter{})
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "file.txt"), []byte(strings.Repeat("f", 5000)), 0o644)
			port, pypid := startPython(t, py, dir, useTLS)
			scheme := map[bool]string{false: "http", true: "https"}[useTLS]
			url := scheme + "://127.0.0.1:" + strconv.Itoa(port)
			cmd := exec.Command(curl, "-sk", "--http1.1", "-o", "/dev/null", "-o", "/dev/null", url+"/file.txt", url+"/nothing")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("curl: %v\n%s", err, out)
			}
			sevs := waitPID(sink, pypid, 2, wait)
			cevs := waitPID(sink, uint32(cmd.Process.Pid), 2, wait)
			if len(sevs) != 2 || len(cevs) != 2 {
				t.Fatalf("want 2 events each, got python %+v\ncurl %+v", sevs, cevs)
			}
			for i, w := range []struct {
				path   string
				status int32
			}{{"/file.txt", 200}, {"/nothing", 404}} {
				s, c := sevs[i], cevs[i]
				if s.Path != w.path || c.Path != w.path || s.Status != w.status || c.Status != w.status || s.TLS != useTLS || c.TLS != useTLS || s.Role != "server" || c.Role != "client" {
					t.Errorf("python %+v\ncurl %+v", s, c)
				}
				if c.BytesOut != s.BytesIn || c.BytesIn != s.BytesOut || c.LAddr != s.RAddr || c.RAddr != s.LAddr {
					t.Errorf("not mirrored:\npython %+v\ncurl %+v", s, c)
				}
			}
			if sevs[0].BytesOut < 5000 {
				t.Errorf("file bytes out %d", sevs[0].BytesOut)
			}
		})
	}
}

// startPython serves dir with Python's http.server (HTTP/1.0, one
// connection per request) and returns the port and pid.
func startPython(t *testing.T, py, dir string, useTLS bool) (int, uint32) {
	t.Helper()
	script := `
import http.server, ssl, sys, os
os.chdir(sys.argv[1])
srv = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
if sys.argv[2] == "tls":
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
`
	cert, key := writeCert(t, dir)
	mode := map[bool]string{false: "plain", true: "tls"}[useTLS]
	cmd := exec.Command(py, "-c", script, dir, mode, cert, key)
	cmd.Stderr = io.Discard
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var port int
	if _, err := fmt.Fscan(out, &port); err != nil {
		t.Fatalf("python server: %v", err)
	}
	return port, uint32(cmd.Process.Pid)
}

// A pid filter keeps the other processes' exchanges out, in the kernel.
func TestFilterPID(t *testing.T) {
	_, port := startServerOnly(t)
	srv := port.srv
	c, sink := start(t, collector.Filter{PID: srv.pid()})
	cpid, rs := runClient(t, os.Args[0], "http://127.0.0.1:"+strconv.Itoa(port.port), false, 0, "GET /hello", "GET /missing")
	if len(rs) != 2 {
		t.Fatalf("client results %+v", rs)
	}
	if evs := waitPID(sink, srv.pid(), 2, wait); len(evs) != 2 {
		t.Fatalf("server events %+v", evs)
	}
	if evs := byPID(sink, cpid); len(evs) != 0 {
		t.Errorf("client events with a pid filter on the server: %+v", evs)
	}
	for _, ev := range sink.Events() {
		if ev.Hdr().PID != srv.pid() {
			t.Errorf("event of pid %d: %+v", ev.Hdr().PID, ev)
		}
	}
	if st := c.Stats(); st.Filtered == 0 || st.Events != 2 {
		t.Errorf("stats %+v: want 2 events and some filtered", st)
	}
}

type serverAt struct {
	srv  *helper
	port int
}

func startServerOnly(t *testing.T) (*helper, serverAt) {
	srv, port := startServer(t, os.Args[0], false)
	return srv, serverAt{srv, port}
}

// The agent's view: RED counters and latency histograms by method and
// status, server and client apart.
func TestMetrics(t *testing.T) {
	c, sink := start(t, collector.Filter{})
	srv, port := startServer(t, os.Args[0], false)
	cpid, rs := runClient(t, os.Args[0], "http://127.0.0.1:"+strconv.Itoa(port), false, 0,
		"GET /hello", "GET /hello", "GET /missing", "POST /echo 5", "BREW /hello")
	if len(rs) != 5 {
		t.Fatalf("client results %+v", rs)
	}
	waitPID(sink, srv.pid(), 5, wait)
	waitPID(sink, cpid, 5, wait)
	src := c.(metrics.Source)
	described := map[*metrics.Desc]bool{}
	for _, d := range src.Describe() {
		described[d] = true
	}
	var e metrics.Emitter
	if err := src.Collect(&e); err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	var hists []string
	for _, s := range e.Samples {
		if !described[s.Desc] {
			t.Errorf("sample of undescribed %s", s.Desc.Name)
		}
		key := s.Desc.Name + "{" + strings.Join(s.Values, ",") + "}"
		if s.Hist != nil {
			hists = append(hists, fmt.Sprintf("%s count=%d", key, s.Hist.Count()))
			continue
		}
		counts[key] = s.Value
	}
	// Other processes may make requests meanwhile: at least ours.
	for key, n := range map[string]float64{
		"kscope_http_requests_total{GET,200}":          2,
		"kscope_http_requests_total{GET,404}":          1,
		"kscope_http_requests_total{POST,201}":         1,
		"kscope_http_requests_total{other,200}":        1,
		"kscope_http_client_requests_total{GET,200}":   2,
		"kscope_http_client_requests_total{other,200}": 1,
	} {
		if counts[key] < n {
			t.Errorf("%s = %v, want at least %v", key, counts[key], n)
		}
	}
	sort.Strings(hists)
	found := false
	for _, h := range hists {
		if strings.HasPrefix(h, "kscope_http_request_duration_seconds{GET}") {
			found = true
		}
	}
	if !found {
		t.Errorf("no GET latency histogram: %v", hists)
	}
}
