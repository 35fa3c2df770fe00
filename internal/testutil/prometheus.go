package testutil

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Prometheus is a real Prometheus (Debian's prometheus) receiving remote
// write (--web.enable-remote-write-receiver), behind a proxy on a port
// that stays the same across its restarts: URL is the endpoint.
type Prometheus struct {
	t     *testing.T
	bin   string
	dir   string
	proxy net.Listener
	args  func(addr, dir string) []string // the server's command line
	ready string                          // what it logs once it serves

	mu      sync.Mutex
	backend string // Prometheus's address; "" while stopped
	cmd     *exec.Cmd
	log     *Output
}

// StartPrometheus starts Prometheus, or skips the test (a failure under
// RequireAll) without it. The test's cleanup stops it.
func StartPrometheus(t *testing.T) *Prometheus {
	t.Helper()
	return startReceiver(t, "prometheus", "Server is ready to receive web requests", func(addr, dir string) []string {
		return []string{"--config.file=/dev/null", "--storage.tsdb.path=" + dir,
			"--web.enable-remote-write-receiver", "--web.listen-address=" + addr,
			"--web.console.templates=", "--web.console.libraries="}
	})
}

// StartVictoriaMetrics starts a single-node VictoriaMetrics (Debian's
// victoria-metrics), which takes remote write at /api/v1/write and
// answers the Prometheus query API, or skips the test (a failure under
// RequireAll) without it. Samples are visible to queries at once
// (-search.latencyOffset=0s).
func StartVictoriaMetrics(t *testing.T) *Prometheus {
	t.Helper()
	return startReceiver(t, "victoria-metrics", "starting http server at", func(addr, dir string) []string {
		return []string{"-httpListenAddr=" + addr, "-storageDataPath=" + dir,
			"-search.latencyOffset=0s", "-search.disableCache", "-retentionPeriod=1d"}
	})
}

func startReceiver(t *testing.T, bin, ready string, args func(addr, dir string) []string) *Prometheus {
	t.Helper()
	path, err := exec.LookPath(bin)
	if err != nil {
		Skip(t, bin+" (Debian package "+bin+")", err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Prometheus{t: t, bin: path, dir: t.TempDir(), proxy: ln, args: args, ready: ready}
	t.Cleanup(func() {
		ln.Close()
		p.Stop()
	})
	go p.serveProxy()
	p.Start()
	return p
}

// URL is the remote-write endpoint.
func (p *Prometheus) URL() string { return "http://" + p.proxy.Addr().String() + "/api/v1/write" }

func (p *Prometheus) serveProxy() {
	for {
		c, err := p.proxy.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			p.mu.Lock()
			backend := p.backend
			p.mu.Unlock()
			if backend == "" {
				return // down: the connection closes unanswered
			}
			b, err := net.Dial("tcp", backend)
			if err != nil {
				return
			}
			defer b.Close()
			go io.Copy(b, c)
			io.Copy(c, b)
		}()
	}
}

// Start runs Prometheus on its data directory, which keeps what it
// received before a stop.
func (p *Prometheus) Start() {
	t := p.t
	t.Helper()
	for attempt := 1; ; attempt++ {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		log := &Output{}
		cmd := exec.Command(p.bin, p.args(addr, filepath.Join(p.dir, "data"))...)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		m := log.WaitFor(regexp.MustCompile(regexp.QuoteMeta(p.ready)+`|address already in use`), 2*time.Minute)
		if m != nil && m[0] == p.ready {
			p.mu.Lock()
			p.backend, p.cmd, p.log = addr, cmd, log
			p.mu.Unlock()
			return
		}
		cmd.Process.Kill()
		cmd.Wait()
		if m == nil || attempt == 5 {
			t.Fatalf("%s did not start on %s:\n%s", p.bin, addr, log.String())
		}
	}
}

// Stop shuts Prometheus down cleanly (its WAL kept); the endpoint then
// refuses every request.
func (p *Prometheus) Stop() {
	p.mu.Lock()
	cmd := p.cmd
	p.backend, p.cmd = "", nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
	}
}

// Point is one sample as Prometheus returns it.
type Point struct {
	T int64 // ms
	V string
}

// Series asks Prometheus for every sample of the series matching sel in
// the hour before at, keyed by their labels (as Prometheus prints them).
func (p *Prometheus) Series(sel string, at time.Time) (map[string][]Point, error) {
	p.mu.Lock()
	backend := p.backend
	p.mu.Unlock()
	if backend == "" {
		return nil, fmt.Errorf("prometheus is stopped")
	}
	return PromSeries("http://"+backend, sel, at)
}

// PromSeries asks the Prometheus API at base (Prometheus's, or the
// agent's) for every sample of the series matching sel in the hour
// before at, keyed by their labels (as Prometheus prints them).
func PromSeries(base, sel string, at time.Time) (map[string][]Point, error) {
	q := url.Values{"query": {sel + "[1h]"}, "time": {strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)}}
	resp, err := http.Get(base + "/api/v1/query?" + q.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Error  string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Values [][2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", sel, r.Error)
	}
	out := map[string][]Point{}
	for _, s := range r.Data.Result {
		var pts []Point
		for _, v := range s.Values {
			f, _ := v[0].(float64)
			str, _ := v[1].(string)
			pts = append(pts, Point{T: int64(f*1000 + 0.5), V: str})
		}
		out[promLabels(s.Metric)] = pts
	}
	return out, nil
}

// promLabels prints labels sorted by name: {a="1", b="2"}.
func promLabels(m map[string]string) string {
	var names []string
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	var parts []string
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%s=%q", k, m[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
