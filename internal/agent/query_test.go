package agent

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/testutil"
)

// vmKB reads a field of /proc/self/status (VmRSS, VmHWM), in bytes.
func vmKB(t *testing.T, field string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
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
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

func httpGet(t *testing.T, ctx context.Context, u string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// metricLine returns the /metrics line of a series, or "".
func metricLine(t *testing.T, base, series string) string {
	t.Helper()
	_, body, err := httpGet(t, context.Background(), base+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, series+" ") {
			return l
		}
	}
	return ""
}

// The hostile queries against a running agent: each answers 400
// at once without growing the agent's memory, the agent stays healthy and
// counts them; a query running when the agent stops is canceled, so the
// shutdown is not held.
func TestAgentHostileQueries(t *testing.T) {
	testutil.RequireBPF(t)
	cfg := testConfig(t)
	cfg.Query.Timeout = time.Hour
	a, err := Start(context.Background(), cfg, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			a.Close()
		}
	}()
	base := "http://" + a.Addr().String()
	hostile := []string{
		"max_over_time(vector(1)[100d:1ms])",
		"max_over_time(vector(1)[1d:1ms])",
		strings.Repeat("1+", 19999) + "1",
	}
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Fatalf("resetting the peak RSS: %v", err)
	}
	before := vmKB(t, "VmRSS")
	for _, q := range hostile {
		start := time.Now()
		resp, err := http.PostForm(base+"/api/v1/query", url.Values{"query": {q}})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if took := time.Since(start); resp.StatusCode != 400 || !strings.Contains(string(b), `"errorType":"bad_data"`) || took > time.Second {
			t.Errorf("%.40s: %d %s in %v, want 400 bad_data under 1s", q, resp.StatusCode, b, took)
		}
	}
	if grew := vmKB(t, "VmHWM") - before; grew > 50<<20 {
		t.Errorf("peak RSS grew by %d MiB, want < 50", grew>>20)
	}
	if code, body, err := httpGet(t, context.Background(), base+"/healthz"); err != nil || code != 200 {
		t.Errorf("healthz: %d %s %v", code, body, err)
	}
	if l := metricLine(t, base, `kscope_self_queries_total{api="promql",result="bad_data"}`); !strings.HasSuffix(l, " 3") {
		t.Errorf("bad_data count: %q", l)
	}

	// Minutes of work within every limit, stopped by the shutdown.
	heavy := url.Values{
		"query": {strings.TrimSuffix(strings.Repeat("quantile_over_time(0.5, vector(1)[1000s:1s])+", 150), "+")},
		"start": {"1700000000"}, "end": {"1700011000"}, "step": {"1"},
	}
	done := make(chan int)
	go func() {
		code, _, _ := httpGet(t, context.Background(), base+"/api/v1/query_range?"+heavy.Encode())
		done <- code
	}()
	for deadline := time.Now().Add(time.Minute); metricLine(t, base, `kscope_self_queries_in_flight{api="promql"}`) != `kscope_self_queries_in_flight{api="promql"} 1`; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the heavy query is not running")
		}
	}
	// Close gives in-flight requests 5 s and fails past them.
	if err := a.Close(); err != nil {
		t.Errorf("closing with a query running: %v", err)
	}
	closed = true
	if code := <-done; code != 499 && code != 0 {
		t.Errorf("the heavy query answered %d", code)
	}
	st := a.api.QueryStats()[0]
	if st.API != "promql" || st.InFlight != 0 || st.Results["canceled"] != 1 || st.Results["success"] != 0 {
		t.Errorf("stats %+v", st)
	}
}
