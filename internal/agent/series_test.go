package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/collector/syscalls"
	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/testutil"
)

// recorder is a slog handler that keeps every record's level and message.
type recorder struct {
	mu   sync.Mutex
	recs []string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.recs = append(r.recs, rec.Level.String()+" "+rec.Message)
	r.mu.Unlock()
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// count returns how many records were logged with exactly this level and
// message.
func (r *recorder) count(rec string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.recs {
		if s == rec {
			n++
		}
	}
	return n
}

const capWarning = "WARN the metrics store is at its series cap: samples of new series are refused"

// getURL returns the status and body of a GET.
func getURL(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// promSeries is one series of an instant query's result.
type promSeries struct {
	Metric map[string]string
	Value  [2]any
}

// query runs an instant PromQL query against the agent's API.
func query(t *testing.T, a *Agent, q string) []promSeries {
	t.Helper()
	code, body := getURL(t, "http://"+a.Addr().String()+"/api/v1/query?query="+url.QueryEscape(q))
	var r struct {
		Status string
		Data   struct{ Result []promSeries }
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || code != 200 || r.Status != "success" {
		t.Fatalf("query %s: %d %s (%v)", q, code, body, err)
	}
	return r.Data.Result
}

// gauge returns the value of a self gauge as the agent gathers it now.
func gauge(t *testing.T, a *Agent, name string) float64 {
	t.Helper()
	_, samples, _ := a.Gather(context.Background())
	var e metrics.Emitter
	e.Samples = samples
	v, ok := e.Sum(name)
	if !ok {
		t.Fatalf("no %s", name)
	}
	return v
}

func ingest(t *testing.T, a *Agent, n int) {
	t.Helper()
	for range n {
		// Collections a millisecond apart at least, as the interval keeps
		// them: the TSDB refuses a second sample at the same time.
		time.Sleep(2 * time.Millisecond)
		if err := a.Ingest(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// At the series cap the agent says so: one WARN (rate-limited), /healthz
// degraded with the reason, the gauge at 1, the status; after a restart
// that replays the full head from the WAL it says so again, and with a
// higher cap it is healthy.
func TestSeriesLimitReported(t *testing.T) {
	testutil.RequireBPF(t)
	cfg := testConfig(t, "process")
	cfg.Storage.MaxSeries = 20
	start := func(cfg *config.Config) (*Agent, *recorder) {
		t.Helper()
		rec := &recorder{}
		a, err := Start(context.Background(), cfg, slog.New(rec))
		if err != nil {
			t.Fatal(err)
		}
		return a, rec
	}
	a, rec := start(cfg)
	ingest(t, a, 1)
	if !a.metrics.LimitReached() || a.metrics.HeadSeries() < 20 {
		t.Fatalf("LimitReached %v with %d head series, cap 20", a.metrics.LimitReached(), a.metrics.HeadSeries())
	}
	ingest(t, a, 2)
	check := func(a *Agent, rec *recorder) {
		t.Helper()
		if n := rec.count(capWarning); n != 1 {
			t.Errorf("%d cap warnings, want 1", n)
		}
		if v := gauge(t, a, "kscope_self_tsdb_series_limit_reached"); v != 1 {
			t.Errorf("kscope_self_tsdb_series_limit_reached %v, want 1", v)
		}
		if v := gauge(t, a, "kscope_self_tsdb_series_limit"); v != 20 {
			t.Errorf("kscope_self_tsdb_series_limit %v, want 20", v)
		}
		// The self series are stored at the cap: dashboards see it.
		if r := query(t, a, "kscope_self_tsdb_series_limit_reached"); len(r) != 1 || r[0].Value[1] != "1" {
			t.Errorf("PromQL kscope_self_tsdb_series_limit_reached: %+v, want one series at 1", r)
		}
		head := a.metrics.HeadSeries()
		want := fmt.Sprintf("degraded: series limit reached: the metrics store holds %d series (storage.max_series 20), samples of new series are refused\n", head)
		if code, body := getURL(t, "http://"+a.Addr().String()+"/healthz"); code != 200 || body != want {
			t.Errorf("healthz %d %q, want 200 %q", code, body, want)
		}
		var st struct {
			Data agentStatus
		}
		_, body := getURL(t, "http://"+a.Addr().String()+"/api/v1/status/agent")
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatal(err)
		}
		if h := st.Data.Health; h.Status != "degraded" || len(h.Reasons) != 1 || !strings.HasPrefix(h.Reasons[0], "series limit reached") ||
			!st.Data.TSDB.SeriesLimitReached || st.Data.TSDB.MaxSeries != 20 || st.Data.TSDB.RefusedSamples == 0 {
			t.Errorf("status %+v %+v", h, st.Data.TSDB)
		}
	}
	check(a, rec)
	a.Close()

	// The head comes back from the WAL, full: still at the cap.
	a, rec = start(cfg)
	ingest(t, a, 2)
	check(a, rec)
	a.Close()

	// A higher cap: healthy.
	cfg.Storage.MaxSeries = 100000
	a, rec = start(cfg)
	defer a.Close()
	ingest(t, a, 2)
	if n := rec.count(capWarning); n != 0 {
		t.Errorf("%d cap warnings below the cap", n)
	}
	if v := gauge(t, a, "kscope_self_tsdb_series_limit_reached"); v != 0 {
		t.Errorf("kscope_self_tsdb_series_limit_reached %v, want 0", v)
	}
	if code, body := getURL(t, "http://"+a.Addr().String()+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz %d %q, want 200 ok", code, body)
	}
}

// A storm of unique short-lived commands gets no series of its own, per
// pid or per command, so it cannot fill the head; a long-running process
// started after it is queryable by pid after two collections, with a cap
// the storm would have filled had its processes got series.
func TestForkStormSeries(t *testing.T) {
	testutil.RequireBPF(t)
	shPath, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	// Every collector with per-process families. syscalls counts only:
	// its per-syscall duration histograms (26 series a syscall, not per
	// process) would grow with whatever syscalls the host's other
	// processes make meanwhile.
	cfg := testConfig(t, "process", "syscalls", "fileio", "procnet")
	cfg.Collectors["syscalls"] = config.Collector{Enabled: true, Options: syscalls.Options{CountsOnly: true}}
	a, err := Start(context.Background(), cfg, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// Unique commands: the kernel names a process after the file it execs.
	prefix := fmt.Sprintf("ks%06d", time.Now().UnixNano()%1e6)
	stormOf := func(name string, n int) *exec.Cmd {
		dir := filepath.Join(t.TempDir(), name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			// A script, not a link to true(1): a multi-call binary
			// (busybox) goes by its name. Its process's comm is the
			// script's name.
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s%s%04d", prefix, name, i)), []byte("#!"+shPath+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return exec.Command(shPath, "-c", `for f in "$1"/*; do "$f"; done`, "storm", dir)
	}
	// A small storm first: the syscalls and files such commands use have
	// their (per-syscall, not per-process) series before the cap is set.
	if err := stormOf("w", 50).Run(); err != nil {
		t.Fatal(err)
	}
	ingest(t, a, 3)
	head := a.metrics.HeadSeries()

	const n = 1500
	storm := stormOf("s", n)
	if err := storm.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- storm.Wait() }()
	ticker := time.NewTicker(200 * time.Millisecond) // the collection interval
	defer ticker.Stop()
	collections := 0
wait:
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("storm: %v", err)
			}
			break wait
		case <-ticker.C:
			ingest(t, a, 1)
			collections++
		}
	}
	ingest(t, a, 2) // the storm's last processes are reported and forgotten
	t.Logf("storm of %d processes over %d collections; head %d series, %d before (the host's own processes add theirs)",
		n, collections, a.metrics.HeadSeries(), head)

	// A storm process gets series only if it lived across two
	// collections, which a loaded host can make a few of them do. With a
	// series per process, each collection would add up to K (50) of them
	// to each of 8 per-process families: hundreds.
	r := query(t, a, `last_over_time({comm=~"`+prefix+`.*"}[1h])`)
	pids := map[string]bool{}
	for _, s := range r {
		pids[s.Metric["pid"]] = true
	}
	if len(pids) > n/100 {
		t.Errorf("%d of the storm's %d processes have series: %+v", len(pids), n, r)
	} else if len(pids) > 0 {
		t.Logf("%d storm processes lived across two collections: %v", len(pids), pids)
	}

	// A long-running busy process, named uniquely too.
	long := filepath.Join(t.TempDir(), prefix+"L")
	if err := os.WriteFile(long, []byte("#!"+shPath+"\nwhile :; do :; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	busy := exec.Command(long)
	if err := busy.Start(); err != nil {
		t.Fatal(err)
	}
	defer busy.Wait()
	defer busy.Process.Kill()
	// The kernel charges CPU time when a task leaves a CPU: wait until it
	// has once (on a loaded host it may not have run yet), then two
	// collections, an interval apart.
	switched(t, busy.Process.Pid)
	for range 2 {
		<-ticker.C
		ingest(t, a, 1)
	}
	pid := strconv.Itoa(busy.Process.Pid)
	r = query(t, a, `kscope_process_cpu_seconds_total{pid="`+pid+`"}`)
	if len(r) != 1 || r[0].Metric["comm"] != prefix+"L" {
		t.Fatalf("long-running process %s after two collections: %+v", pid, r)
	}
}

// switched waits until the process pid has left a CPU at least once.
func switched(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) == 2 && strings.HasSuffix(f[0], "ctxt_switches:") {
				v, _ := strconv.Atoi(f[1])
				n += v
			}
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d never left a CPU", pid)
		}
	}
}
