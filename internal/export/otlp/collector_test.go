package otlp

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/kscope/kscope/internal/testutil"
)

// otelcolBinary is the OpenTelemetry Collector scripts/otelcol.sh builds
// from deploy/otelcol/builder.yaml: KSCOPE_OTELCOL, or its cache path.
func otelcolBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("KSCOPE_OTELCOL"); p != "" {
		return p
	}
	what := "the OpenTelemetry Collector of deploy/otelcol (bash scripts/otelcol.sh builds it; or set KSCOPE_OTELCOL)"
	manifest, err := os.ReadFile("../../../deploy/otelcol/builder.yaml")
	if err != nil {
		testutil.Skip(t, what, err)
	}
	sum := sha256.Sum256(manifest)
	cache, err := os.UserCacheDir()
	if err != nil {
		testutil.Skip(t, what, err)
	}
	p := filepath.Join(cache, "kscope", "otelcol-"+hex.EncodeToString(sum[:8]), "otelcol-kscope")
	if _, err := os.Stat(p); err != nil {
		testutil.Skip(t, what, err)
	}
	return p
}

// proxy holds a loopback port for the test and forwards its connections
// to a backend; without one (down) it closes them unanswered.
type proxy struct {
	ln      net.Listener
	mu      sync.Mutex
	backend string
	conns   map[net.Conn]bool
}

func newProxy(t *testing.T) *proxy {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, conns: map[net.Conn]bool{}}
	t.Cleanup(func() {
		ln.Close()
		p.set("")
	})
	go p.serve()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// set forwards to backend from now on; "" takes the port down, closing
// the connections forwarded so far.
func (p *proxy) set(backend string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.backend = backend
	if backend == "" {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		backend := p.backend
		if backend == "" {
			p.mu.Unlock()
			c.Close()
			continue
		}
		b, err := net.Dial("tcp", backend)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[b] = true, true
		p.mu.Unlock()
		go func() { io.Copy(b, c); b.Close() }()
		go func() { io.Copy(c, b); c.Close() }()
	}
}

// otelcol is a running OpenTelemetry Collector: an otlp receiver (gRPC
// and HTTP, behind proxies holding their ports) and a file exporter per
// signal writing JSON lines.
type otelcol struct {
	t          *testing.T
	dir        string
	grpc, http *proxy
}

func startCollector(t *testing.T) *otelcol {
	t.Helper()
	bin := otelcolBinary(t)
	c := &otelcol{t: t, dir: t.TempDir(), grpc: newProxy(t), http: newProxy(t)}
	var err error
	for range 3 { // a backend port picked by another process in between: again
		if err = c.start(bin); err == nil {
			return c
		}
		t.Log(err)
	}
	t.Fatal(err)
	return nil
}

// freePort is a loopback port free a moment ago.
func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (c *otelcol) start(bin string) error {
	t := c.t
	grpcAddr, httpAddr := freePort(t), freePort(t)
	var files strings.Builder
	for _, sig := range []string{"metrics", "logs", "profiles"} {
		fmt.Fprintf(&files, "  file/%s: {path: %s, flush_interval: 50ms}\n", sig, filepath.Join(c.dir, sig+".json"))
	}
	cfg := fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc: {endpoint: %s}
      http: {endpoint: %s}
exporters:
%sservice:
  telemetry:
    metrics: {level: none}
  pipelines:
    metrics: {receivers: [otlp], exporters: [file/metrics]}
    logs: {receivers: [otlp], exporters: [file/logs]}
    profiles: {receivers: [otlp], exporters: [file/profiles]}
`, grpcAddr, httpAddr, files.String())
	cfgPath := filepath.Join(c.dir, "otelcol.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config=file:"+cfgPath, "--feature-gates=service.profilesSupport")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	var out strings.Builder
	var outMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			outMu.Lock()
			out.WriteString(sc.Text() + "\n")
			outMu.Unlock()
			if !sent && strings.Contains(sc.Text(), "Everything is ready") {
				ready <- true
				sent = true
			}
		}
		if !sent {
			ready <- false
		}
	}()
	stop := func() {
		cmd.Process.Kill()
		cmd.Wait()
	}
	select {
	case ok := <-ready:
		if !ok {
			stop()
			outMu.Lock()
			defer outMu.Unlock()
			return fmt.Errorf("the collector exited before it was ready:\n%s", out.String())
		}
	case <-time.After(2 * time.Minute):
		stop()
		return fmt.Errorf("the collector not ready in 2 minutes")
	}
	t.Cleanup(stop)
	c.grpc.set(grpcAddr)
	c.http.set(httpAddr)
	return nil
}

// lines reads the JSON lines the file exporter wrote for sig.
func (c *otelcol) lines(sig string) [][]byte {
	data, err := os.ReadFile(filepath.Join(c.dir, sig+".json"))
	if err != nil {
		return nil
	}
	var out [][]byte
	for l := range strings.Lines(string(data)) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, []byte(l))
		}
	}
	return out
}

// metrics is every metrics payload the collector received.
func (c *otelcol) metrics() ([]pmetric.Metrics, error) {
	var out []pmetric.Metrics
	for _, l := range c.lines("metrics") {
		m, err := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(l)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func (c *otelcol) logs() ([]plog.Logs, error) {
	var out []plog.Logs
	for _, l := range c.lines("logs") {
		m, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(l)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func (c *otelcol) profiles() ([]pprofile.Profiles, error) {
	var out []pprofile.Profiles
	for _, l := range c.lines("profiles") {
		m, err := (&pprofile.JSONUnmarshaler{}).UnmarshalProfiles(l)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}
