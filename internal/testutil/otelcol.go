package testutil

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
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
)

// OTelCollectorBinary is the OpenTelemetry Collector scripts/otelcol.sh
// builds from deploy/otelcol/builder.yaml: $KSCOPE_OTELCOL, or its cache
// path. Without it the test skips (a failure under RequireAll).
func OTelCollectorBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("KSCOPE_OTELCOL"); p != "" {
		return p
	}
	what := "the OpenTelemetry Collector of deploy/otelcol (bash scripts/otelcol.sh builds it; or set KSCOPE_OTELCOL)"
	root, err := repoRoot()
	if err != nil {
		Skip(t, what, err)
	}
	manifest, err := os.ReadFile(filepath.Join(root, "deploy/otelcol/builder.yaml"))
	if err != nil {
		Skip(t, what, err)
	}
	sum := sha256.Sum256(manifest)
	cache, err := os.UserCacheDir()
	if err != nil {
		Skip(t, what, err)
	}
	p := filepath.Join(cache, "kscope", "otelcol-"+hex.EncodeToString(sum[:8]), "otelcol-kscope")
	if _, err := os.Stat(p); err != nil {
		Skip(t, what, err)
	}
	return p
}

// repoRoot is the directory of kscope's go.mod, above the working
// directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(data), "module github.com/kscope/kscope\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("kscope's go.mod not found above the working directory")
		}
		dir = parent
	}
}

// OTelCollector is a running OpenTelemetry Collector: an otlp receiver,
// gRPC and HTTP, behind loopback ports the test holds (Down and Up take
// them down and back), and a file exporter per signal writing the JSON
// of what it received, a line per payload.
type OTelCollector struct {
	t          testing.TB
	dir        string
	grpc, http *portProxy
	grpcAddr   string
	httpAddr   string
}

// StartOTelCollector starts a collector for the test, stopped at its end.
func StartOTelCollector(t testing.TB) *OTelCollector {
	t.Helper()
	bin := OTelCollectorBinary(t)
	c := &OTelCollector{t: t, dir: t.TempDir(), grpc: newPortProxy(t), http: newPortProxy(t)}
	var err error
	for range 3 { // a backend port taken by another process in between: again
		if err = c.start(bin); err == nil {
			return c
		}
		t.Log(err)
	}
	t.Fatal(err)
	return nil
}

// GRPCAddr is the receiver's gRPC host:port.
func (c *OTelCollector) GRPCAddr() string { return c.grpc.addr() }

// HTTPAddr is the receiver's HTTP host:port.
func (c *OTelCollector) HTTPAddr() string { return c.http.addr() }

// Down takes the receiver's ports down: connections are closed
// unanswered, the open ones too.
func (c *OTelCollector) Down() {
	c.grpc.set("")
	c.http.set("")
}

// Up brings the ports back.
func (c *OTelCollector) Up() {
	c.grpc.set(c.grpcAddr)
	c.http.set(c.httpAddr)
}

// Lines returns the JSON lines the file exporter wrote so far for signal
// (metrics, logs or profiles).
func (c *OTelCollector) Lines(signal string) [][]byte {
	data, err := os.ReadFile(filepath.Join(c.dir, signal+".json"))
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

func freeLoopbackPort(t testing.TB) string {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (c *OTelCollector) start(bin string) error {
	t := c.t
	c.grpcAddr, c.httpAddr = freeLoopbackPort(t), freeLoopbackPort(t)
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
`, c.grpcAddr, c.httpAddr, files.String())
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
		return errors.New("the collector was not ready in 2 minutes")
	}
	t.Cleanup(stop)
	c.Up()
	return nil
}

// portProxy holds a loopback port for the test and forwards its
// connections to a backend; without one (down) it closes them unanswered.
type portProxy struct {
	ln      net.Listener
	mu      sync.Mutex
	backend string
	conns   map[net.Conn]bool
}

func newPortProxy(t testing.TB) *portProxy {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &portProxy{ln: ln, conns: map[net.Conn]bool{}}
	t.Cleanup(func() {
		ln.Close()
		p.set("")
	})
	go p.serve()
	return p
}

func (p *portProxy) addr() string { return p.ln.Addr().String() }

// set forwards to backend from now on; "" takes the port down, closing
// the connections forwarded so far.
func (p *portProxy) set(backend string) {
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

func (p *portProxy) serve() {
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
