package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"

	"github.com/kscope/kscope/internal/testutil"
)

// kscope run --server pushes the maps, on exit, to an agent behind TLS and
// basic auth, where PromQL finds them as kscope_probe_NAME_MAP series;
// unreachable or refusing, the local output still prints and the error
// says why. A hostile push is refused and counted.
func TestRunServerPush(t *testing.T) {
	url, dir := secureAgent(t)
	good := filepath.Join(dir, "client.yml")
	writeFile(t, good, "basic_auth:\n  username: alice\n  password: secret\ntls_config:\n  ca_file: ca.crt\n")
	noAuth := filepath.Join(dir, "noauth.yml")
	writeFile(t, noAuth, "tls_config:\n  ca_file: ca.crt\n")
	t.Setenv("KSCOPE_HTTP_CONFIG_FILE", "")
	prog := `BEGIN { @calls["a"] = count(); @calls["a"] = count(); @calls["b"] = count(); @lat = hist(5); @lat = hist(100); @last = 42; exit(); }`
	const local = "@calls[b]: 1\n@calls[a]: 2\n"

	code, stdout, stderr := runKscope(t, "-q", "--server", url, "--http.config.file", good, "--name", "pushed", "-e", prog)
	if code != 0 || !strings.Contains(stdout, local) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	for q, want := range map[string]string{
		`kscope_probe_pushed_calls_total{key="a"}`:      "2",
		`kscope_probe_pushed_calls_total{key="b"}`:      "1",
		`histogram_count(kscope_probe_pushed_lat)`:      "2",
		`histogram_sum(kscope_probe_pushed_lat)`:        "105",
		`absent(kscope_probe_pushed_lat_bucket)`:        "1",
		`kscope_probe_pushed_last`:                      "42",
		`count(kscope_probe_pushed_last{instance!=""})`: "1",
	} {
		out := strings.Fields(cli(t, "query", "--server", url, "--http.config.file", good, q))
		if len(out) == 0 || out[len(out)-1] != want {
			t.Errorf("%s = %q, want %s", q, out, want)
		}
	}
	if got, want := queryHist(t, url, good, "kscope_probe_pushed_lat"), "{count:2, sum:105, (4,8]:1, (64,128]:1}"; got != want {
		t.Errorf("kscope_probe_pushed_lat = %s, want %s", got, want)
	}

	// Refused for want of credentials, or unreachable: the maps print.
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--server", url, "--http.config.file", noAuth}, "pushing to " + url + "/api/v1/write: the agent answered 401 Unauthorized"},
		{[]string{"--server", "http://127.0.0.1:1"}, "pushing to http://127.0.0.1:1/api/v1/write: Post \"http://127.0.0.1:1/api/v1/write\": dial tcp 127.0.0.1:1: connect: connection refused (the output above is complete; the maps were not stored in the agent)"},
	} {
		code, stdout, stderr := runKscope(t, append(append([]string{"-q"}, tc.args...), "-e", prog)...)
		if code != exitFailure || !strings.Contains(stdout, local) || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d, the maps and %q", tc.args, code, stdout, stderr, exitFailure, tc.msg)
		}
	}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--server", "127.0.0.1:9464"}, `--server: server "127.0.0.1:9464": want a URL like`},
		{[]string{"--name", "x"}, "--name goes with --server"},
		{[]string{"--push-interval", "1s"}, "--push-interval goes with --server"},
		{[]string{"--server", url, "--push-interval", "-1s"}, "--push-interval takes a duration of 0 or more, not -1s"},
		{[]string{"--server", url, "--name", "a-b"}, `--name takes letters, digits and '_', not "a-b"`},
	} {
		code, _, stderr := runKscope(t, append(tc.args, "-e", prog)...)
		if code != exitUsage || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%v: exit %d %q, want %d %q", tc.args, code, stderr, exitUsage, tc.msg)
		}
	}

	// Another family than kscope_probe_*: refused whole, counted.
	data, err := (&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "up"}},
		Samples: []prompb.Sample{{Value: 1, Timestamp: time.Now().UnixMilli()}},
	}}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	c, err := agentAPI(url, good, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Write(t.Context(), snappy.Encode(nil, data))
	if want := `the agent answered 400 Bad Request: series 0: metric name "up": the agent takes only kscope_probe_* series`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("pushing up: %v, want %q", err, want)
	}
	eventually(t, "the refusal counted", func() error {
		out := strings.Fields(cli(t, "query", "--server", url, "--http.config.file", good, `kscope_self_push_refused_total{reason="invalid"}`))
		if len(out) == 0 || out[len(out)-1] != "1" {
			return errorString(strings.Join(out, " "))
		}
		return nil
	})
}

type errorString string

func (e errorString) Error() string { return "got " + string(e) }

// pushWorkload calls observe(v) for 0, 1, 1, 3 and 100 once a first line
// comes on its standard input, then for 5, 7 and 1000 once a second one
// does, and exits.
const pushWorkload = `#include <stdio.h>
__attribute__((noinline, noipa)) void observe(long v) { __asm__ volatile("" :: "r"(v)); }
int main(void) {
	char line[16];
	static const long one[] = {0, 1, 1, 3, 100}, two[] = {5, 7, 1000};
	if (!fgets(line, sizeof line, stdin)) return 1;
	for (unsigned i = 0; i < sizeof one / sizeof one[0]; i++) observe(one[i]);
	if (!fgets(line, sizeof line, stdin)) return 1;
	for (unsigned i = 0; i < sizeof two / sizeof two[0]; i++) observe(two[i]);
	return 0;
}
`

// kscope run --server pushes every --push-interval while the script runs:
// the agent's PromQL has the exact counts of the workload's first phase
// before the script ends, and, after Ctrl-C, the final counts. The
// script's own output is untouched by the pushes.
func TestRunServerPushWhileRunning(t *testing.T) {
	url, dir := secureAgent(t)
	good := filepath.Join(dir, "client.yml")
	writeFile(t, good, "basic_auth:\n  username: alice\n  password: secret\ntls_config:\n  ca_file: ca.crt\n")
	bin := kscopeBinary(t)
	wl := testutil.BuildC(t, "cc", pushWorkload, "-O1")

	w := exec.Command(wl)
	in, err := w.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); w.Process.Kill(); w.Wait() })

	prog := `uprobe:` + wl + `:observe /pid == $1/ { @calls = count(); @v = hist(arg0); @total = sum(arg0); printf("%d\n", arg0); }`
	k := exec.Command(bin, "run", "-v", "--server", url, "--http.config.file", good, "--push-interval", "300ms", "--name", "live", "-e", prog, strconv.Itoa(w.Process.Pid))
	var stdout, stderr testutil.Output
	k.Stdout, k.Stderr = &stdout, &stderr
	if err := k.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { k.Wait(); close(done) }()
	t.Cleanup(func() { k.Process.Kill(); <-done })
	if stderr.WaitFor(regexp.MustCompile(`Attaching 1 probe\.\.\.`), time.Minute) == nil {
		t.Fatalf("not attached: %s", stderr.String())
	}

	query := func(q string) string {
		out := strings.Fields(cli(t, "query", "--server", url, "--http.config.file", good, q))
		if len(out) == 0 {
			return ""
		}
		return out[len(out)-1]
	}
	check := func(want map[string]string) error {
		for q, v := range want {
			if got := query(q); got != v {
				return fmt.Errorf("%s = %q, want %s", q, got, v)
			}
		}
		return nil
	}

	// Phase one: 0, 1, 1, 3, 100.
	io.WriteString(in, "1\n")
	eventually(t, "the first phase's counts pushed while the script runs", func() error {
		select {
		case <-done:
			t.Fatalf("kscope run exited: %s", stderr.String())
		default:
		}
		if err := check(map[string]string{
			`kscope_probe_live_calls_total`:                 "5",
			`kscope_probe_live_total_total`:                 "105",
			`histogram_count(kscope_probe_live_v)`:          "5",
			`histogram_sum(kscope_probe_live_v)`:            "105",
			`histogram_fraction(0, 4, kscope_probe_live_v)`: "0.8",
		}); err != nil {
			return err
		}
		// bpftrace's buckets [0,1) [1,2) [2,4) [64,128) are schema 0's.
		if got, want := queryHist(t, url, good, "kscope_probe_live_v"), "{count:5, sum:105, [-0,0]:1, (1,2]:2, (2,4]:1, (64,128]:1}"; got != want {
			return fmt.Errorf("kscope_probe_live_v = %s, want %s", got, want)
		}
		return nil
	})
	if q := queryFloat(t, url, good, `histogram_quantile(0.99, kscope_probe_live_v)`); !(q > 64 && q <= 128) {
		t.Errorf("p99 %v, want in (64, 128]", q)
	}

	// Phase two: 5, 7, 1000; then Ctrl-C.
	io.WriteString(in, "2\n")
	if err := w.Wait(); err != nil {
		t.Fatalf("workload: %v", err)
	}
	k.Process.Signal(os.Interrupt)
	select {
	case <-done:
	case <-time.After(2 * time.Minute): // a hang detector only
		t.Fatalf("kscope run did not exit on SIGINT: %s", stderr.String())
	}
	if code := k.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("kscope run exit %d: %s", code, stderr.String())
	}
	if err := check(map[string]string{
		`kscope_probe_live_calls_total`:        "8",
		`kscope_probe_live_total_total`:        "1117",
		`histogram_count(kscope_probe_live_v)`: "8",
		`histogram_sum(kscope_probe_live_v)`:   "1117",
		`absent(kscope_probe_live_v_bucket)`:   "1",
	}); err != nil {
		t.Errorf("after exit: %v", err)
	}
	if got, want := queryHist(t, url, good, "kscope_probe_live_v"), "{count:8, sum:1117, [-0,0]:1, (1,2]:2, (2,4]:1, (4,8]:2, (64,128]:1, (512,1024]:1}"; got != want {
		t.Errorf("after exit: kscope_probe_live_v = %s, want %s", got, want)
	}
	// The second phase's 5, 7 and 1000, or all eight: the top 1% is 1000.
	if q := queryFloat(t, url, good, `histogram_quantile(0.99, rate(kscope_probe_live_v[5m]))`); !(q > 512 && q <= 1024) {
		t.Errorf("p99 of the rate %v, want in (512, 1024]", q)
	}
	// The output is the script's alone: printf lines, then the maps.
	if out, want := stdout.String(), "0\n1\n1\n3\n100\n5\n7\n1000\n\n\n"; !strings.HasPrefix(out, want) || !strings.Contains(out, "@calls: 8\n") || !strings.Contains(out, "@total: 1117\n") {
		t.Errorf("stdout %q, want %q then the maps", out, want)
	}
	m := regexp.MustCompile(`(?m)^pushes to ` + regexp.QuoteMeta(url) + `: (\d+) stored, 0 failed$`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no push report: %s", stderr.String())
	}
	// At least the push seen while running, and the final one.
	if n, _ := strconv.Atoi(m[1]); n < 2 {
		t.Errorf("%s pushes stored, want 2 or more", m[1])
	}
}

// A push that fails is counted, not queued: the next push sends the maps
// as they are then. -v prints the count, which is the number of requests
// the agent answered with an error; the final push's failure is the
// error kscope exits with, after the script's output.
func TestRunServerPushFailures(t *testing.T) {
	testutil.RequireBPF(t)
	bin := kscopeBinary(t)
	var (
		mu   sync.Mutex
		reqs int
		k    *exec.Cmd
	)
	started := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-started
		mu.Lock()
		reqs++
		if reqs == 3 {
			k.Process.Signal(os.Interrupt)
		}
		mu.Unlock()
		http.Error(w, "the metrics store is being reopened", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	k = exec.Command(bin, "run", "-v", "--server", srv.URL, "--push-interval", "100ms", "-e", `BEGIN { @x = 7; } interval:s:600 { exit(); }`)
	var stdout, stderr testutil.Output
	k.Stdout, k.Stderr = &stdout, &stderr
	if err := k.Start(); err != nil {
		t.Fatal(err)
	}
	close(started)
	err := k.Wait()
	mu.Lock()
	n := reqs
	mu.Unlock()
	if code := k.ProcessState.ExitCode(); code != exitFailure {
		t.Fatalf("exit %v, want %d: %s", err, exitFailure, stderr.String())
	}
	if !strings.Contains(stdout.String(), "@x: 7\n") {
		t.Errorf("stdout %q, want the maps", stdout.String())
	}
	want := fmt.Sprintf("pushes to %s: 0 stored, %d failed (the last: pushing to %s/api/v1/write: the agent answered 503 Service Unavailable: the metrics store is being reopened)", srv.URL, n, srv.URL)
	if n < 4 || !strings.Contains(stderr.String(), want) {
		t.Errorf("%d requests; stderr:\n%s\nwant %q", n, stderr.String(), want)
	}
	if want := "(the output above is complete; the maps were not stored in the agent)"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
}

// queryHist returns the native histogram PromQL expression q answers at the
// agent at url, as Prometheus prints it; "" for none.
func queryHist(t *testing.T, url, httpConfig, q string) string {
	t.Helper()
	vec := queryVector(t, url, httpConfig, q)
	if len(vec) != 1 || vec[0].Histogram == nil {
		return fmt.Sprint(vec)
	}
	h := vec[0].Histogram
	var b strings.Builder
	fmt.Fprintf(&b, "{count:%v, sum:%v", h.Count, h.Sum)
	for _, bk := range h.Buckets {
		l, r := "(", "]"
		switch bk.Boundaries {
		case 1:
			l, r = "[", ")"
		case 2:
			l, r = "(", ")"
		case 3:
			l, r = "[", "]"
		}
		lower := fmt.Sprint(bk.Lower)
		if bk.Lower == 0 && bk.Upper == 0 {
			lower = "-0"
		}
		fmt.Fprintf(&b, ", %s%s,%v%s:%v", l, lower, bk.Upper, r, bk.Count)
	}
	return b.String() + "}"
}

// queryFloat returns the one value PromQL expression q answers.
func queryFloat(t *testing.T, url, httpConfig, q string) float64 {
	t.Helper()
	vec := queryVector(t, url, httpConfig, q)
	if len(vec) != 1 {
		t.Fatalf("%s = %v, want one value", q, vec)
	}
	return float64(vec[0].Value)
}

func queryVector(t *testing.T, url, httpConfig, q string) model.Vector {
	t.Helper()
	c, err := agentAPI(url, httpConfig, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Query(t.Context(), q, time.Time{})
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	vec, err := r.Vector()
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return vec
}
