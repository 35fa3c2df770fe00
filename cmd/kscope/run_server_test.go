package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
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
		`kscope_probe_pushed_lat_count`:                 "2",
		`kscope_probe_pushed_lat_sum`:                   "105",
		`kscope_probe_pushed_lat_bucket{le="7"}`:        "1",
		`kscope_probe_pushed_last`:                      "42",
		`count(kscope_probe_pushed_last{instance!=""})`: "1",
	} {
		out := strings.Fields(cli(t, "query", "--server", url, "--http.config.file", good, q))
		if len(out) == 0 || out[len(out)-1] != want {
			t.Errorf("%s = %q, want %s", q, out, want)
		}
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
