package main

import (
	"context"
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
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/container"
	"github.com/kscope/kscope/internal/testutil"
)

// e2eExitCode is what the "exitcode" workload exits with: a code no other
// test of the suite uses, since kscope_process_exits_total counts the whole
// host's exits and other packages' tests run beside this one.
const e2eExitCode = 197

// TestMain turns the test binary into a workload on request.
func TestMain(m *testing.M) {
	switch os.Getenv("KSCOPE_WORKLOAD") {
	case "":
		// trace and profile's kernel type cache: the tests' own, not the
		// host's.
		dir, err := os.MkdirTemp("", "kscope-btf-")
		if err == nil {
			os.Setenv("KSCOPE_BTF_CACHE", dir)
		}
		code := m.Run()
		if err == nil {
			os.RemoveAll(dir)
		}
		os.Exit(code)
	case "getppid":
		n, _ := strconv.Atoi(os.Getenv("KSCOPE_N"))
		for range n {
			syscall.Getppid()
		}
		// Wait to be told to exit, so the count is read while alive too.
		io.ReadAll(os.Stdin)
		code, _ := strconv.Atoi(os.Getenv("KSCOPE_EXIT"))
		os.Exit(code)
	case "exit3":
		os.Exit(3)
	case "spin-exit":
		// Busy for a fixed wall-clock time, however loaded the host, then
		// exit: a process that ends in the middle of a profile.
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		}
		os.Exit(0)
	case "exitcode":
		os.Exit(e2eExitCode)
	case "spin", "getppid-storm", "tcp-send":
		topWorkload(os.Getenv("KSCOPE_WORKLOAD"))
	}
	os.Exit(99)
}

// agentProc is a kscope agent started by a test.
type agentProc struct {
	cmd    *exec.Cmd
	url    string
	dir    string
	stderr *testutil.Output
}

// servingRE finds the address in the agent's "kscope agent serving" line.
var servingRE = regexp.MustCompile(`kscope agent serving"? addr=(http://[^ \n]+)`)

// startAgent runs kscope agent on a port of the kernel's choosing over dir
// (no port is picked, freed and hoped free) and waits until it serves.
func startAgent(t *testing.T, dir string, args ...string) *agentProc {
	t.Helper()
	testutil.RequireBPF(t)
	a := &agentProc{dir: dir, stderr: &testutil.Output{}}
	a.cmd = exec.Command(kscopeBinary(t), append([]string{"agent", "--data-dir", dir, "--listen", "127.0.0.1:0", "--interval", "1s"}, args...)...)
	a.cmd.Stderr = a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.kill() })
	m := a.stderr.WaitFor(servingRE, 30*time.Second)
	if m == nil {
		a.kill()
		t.Fatalf("agent did not say where it serves:\n%s", a.stderr)
	}
	a.url = m[1]
	addr := strings.TrimPrefix(a.url, "http://")
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(a.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return a
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.kill()
	t.Fatalf("agent did not come up on %s:\n%s", addr, a.stderr)
	return nil
}

func (a *agentProc) kill() {
	if a.cmd.Process != nil && a.cmd.ProcessState == nil {
		a.cmd.Process.Kill()
		a.cmd.Wait()
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (a *agentProc) stop(t *testing.T) {
	t.Helper()
	a.cmd.Process.Signal(syscall.SIGTERM)
	if err := a.cmd.Wait(); err != nil {
		t.Errorf("agent exited with %v:\n%s", err, a.stderr)
	}
}

// scrape reads /metrics into name{sorted labels} -> value.
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			ls := map[string]string{}
			for _, l := range m.GetLabel() {
				ls[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Counter != nil:
				out[seriesKey(name, ls)] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[seriesKey(name, ls)] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[seriesKey(name+"_count", ls)] = float64(m.GetHistogram().GetSampleCount())
				out[seriesKey(name+"_sum", ls)] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

// seriesKey names a series by its labels, sorted. The container labels
// of a per-process series are left out: the expectations name the process
// (a process has one container and unit), not where it runs, which differs
// from host to host (a CI runner's session scope or service).
func seriesKey(name string, ls map[string]string) string {
	keys := make([]string, 0, len(ls))
	for k := range ls {
		if k != "__name__" && !slices.Contains(container.Fields, k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(name + "{")
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, ls[k])
	}
	b.WriteByte('}')
	return b.String()
}

// instant runs a PromQL query at t (zero: now) against a Prometheus API
// (kscope's or Prometheus's) and returns series key -> value.
func instant(t *testing.T, base, query string, at time.Time) map[string]float64 {
	t.Helper()
	params := url.Values{"query": {query}}
	if !at.IsZero() {
		params.Set("time", strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', -1, 64))
	}
	resp, err := http.PostForm(base+"/api/v1/query", params)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Error  string
		Data   struct {
			ResultType string
			Result     []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
		t.Fatalf("%s: query %s: %v %s", base, query, err, r.Error)
	}
	out := map[string]float64{}
	for _, s := range r.Data.Result {
		v, _ := strconv.ParseFloat(s.Value[1].(string), 64)
		out[seriesKey(s.Metric["__name__"], s.Metric)] = v
	}
	return out
}

// one returns the only value of a query, failing when there is not exactly one.
func one(t *testing.T, base, query string, at time.Time) float64 {
	t.Helper()
	res := instant(t, base, query, at)
	if len(res) != 1 {
		t.Fatalf("%s: %s returned %d series, want 1: %v", base, query, len(res), res)
	}
	for _, v := range res {
		return v
	}
	return 0
}

// eventually retries f until it returns nil or the deadline passes.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	// Only a hang detector: on a host loaded many times over, collections
	// and stores fall seconds behind.
	deadline := time.Now().Add(2 * time.Minute)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}

func workload(t *testing.T, mode string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), append([]string{"KSCOPE_WORKLOAD=" + mode}, env...)...)
	return cmd
}

func TestAgentUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("listen: 127.0.0.1:1\ncollectors:\n  tcp: {enabled: true}\n  bogus: true\n"), 0o600)
	unknown := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknown, []byte("retention: 7d\nretension: 2d\n"), 0o600)
	broken := filepath.Join(dir, "broken.yaml")
	os.WriteFile(broken, []byte("listen: [127.0.0.1\n"), 0o600)
	// A rule file with a bad expression, named by a configuration: the
	// agent and --check refuse it at the rule file's line.
	badRules := filepath.Join(dir, "bad.rules.yml")
	os.WriteFile(badRules, []byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: rate(x[5m]\n"), 0o600)
	withRules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(withRules, []byte("rule_files: [bad.rules.yml]\n"), 0o600)
	for _, tt := range []struct {
		args []string
		msg  string
	}{
		{[]string{"agent", "--config", bad}, bad + ":4: collectors.bogus: unknown key"},
		{[]string{"agent", "--config", unknown}, unknown + ":2: retension: unknown key"},
		{[]string{"agent", "--config", broken}, broken + ":1: invalid YAML"},
		{[]string{"agent", "--config", withRules}, badRules + `:5: group "g", rule 1, "A": could not parse expression`},
		{[]string{"agent", "--check", "--config", withRules}, badRules + `:5: group "g", rule 1, "A": could not parse expression`},
		{[]string{"agent", "--retention", "forever"}, `--retention "forever": want a duration`},
		{[]string{"agent", "--collectors", "syscalls,bogus"}, `--collectors: unknown collector "bogus"`},
		{[]string{"agent", "--disable", "nope"}, `--disable: unknown collector "nope"`},
		{[]string{"agent", "--topk", "-1"}, "--topk -1: must be positive"},
		{[]string{"query"}, "exactly one PromQL expression"},
		{[]string{"query", "up", "--range", "soon"}, `--range "soon"`},
		{[]string{"query", "up", "--step", "1s"}, "--step needs --range"},
		{[]string{"events", "--limit", "0"}, "--limit 0: must be positive"},
	} {
		code, _, stderr := runCLI(tt.args...)
		if code != exitUsage || !strings.Contains(stderr, tt.msg) {
			t.Errorf("kscope %s: exit %d, stderr %q; want 2 and %q", strings.Join(tt.args, " "), code, stderr, tt.msg)
		}
	}
	missing := filepath.Join(dir, "missing.yaml")
	unreadable := filepath.Join(dir, "unreadable.yaml")
	os.Mkdir(unreadable, 0o700)
	for _, tt := range []struct {
		args []string
		msg  string
	}{
		{[]string{"agent", "--config", missing}, missing + ": cannot read: no such file or directory"},
		{[]string{"agent", "--config", unreadable}, unreadable + ": cannot read: is a directory"},
		{[]string{"agent", "--config", "/dev/zero"}, "/dev/zero: larger than 1024 KiB"},
		{[]string{"agent", "--interval", "10ms"}, "--interval 10ms: want 100ms to 5m0s"},
		{[]string{"agent", "--topk", "5000"}, "--topk 5000: want 1 to 1000"},
		{[]string{"agent", "--query.timeout", "never"}, `--query.timeout "never": want a duration`},
		{[]string{"agent", "--query.max-concurrency", "100000"}, "--query.max-concurrency 100000: want 1 to 1000"},
		{[]string{"agent", "--query.max-samples", "-5"}, "--query.max-samples -5: want 1 to"},
	} {
		if code, _, stderr := runCLI(tt.args...); code != exitUsage || !strings.Contains(stderr, tt.msg) {
			t.Errorf("kscope %s: exit %d, stderr %q; want 2 and %q", strings.Join(tt.args, " "), code, stderr, tt.msg)
		}
	}
	// A client with no agent to talk to says so.
	port := testutil.ClosedPort(t)
	code, _, stderr := runCLI("query", "up", "--server", "http://127.0.0.1:"+strconv.Itoa(port))
	if code != exitFailure || !strings.Contains(stderr, "cannot reach the kscope agent") {
		t.Errorf("query without agent: exit %d %q", code, stderr)
	}
}

func TestAgentPortInUse(t *testing.T) {
	testutil.RequireBPF(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cmd := exec.Command(kscopeBinary(t), "agent", "--data-dir", t.TempDir(), "--listen", ln.Addr().String())
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != exitFailure || !strings.Contains(string(out), "is already in use") {
		t.Errorf("exit %d (%v): %s", cmd.ProcessState.ExitCode(), err, out)
	}
}

func TestAgentNeedsPrivileges(t *testing.T) {
	testutil.RequireBPF(t)
	bin := kscopeBinary(t)
	cmd := exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all", bin, "agent", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0")
	out, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != exitFailure || !strings.Contains(string(out), "needs root or CAP_BPF+CAP_PERFMON") {
		t.Errorf("as nobody: exit %d: %s", cmd.ProcessState.ExitCode(), out)
	}
}

func TestAgentCheck(t *testing.T) {
	testutil.RequireBPF(t)
	out, err := exec.Command(kscopeBinary(t), "agent", "--check").CombinedOutput()
	if err != nil {
		t.Fatalf("agent --check: %v\n%s", err, out)
	}
	for _, name := range []string{"exec", "exit", "connect"} {
		if !strings.Contains(string(out), "\n"+name+" ") || !strings.Contains(string(out), "attached") {
			t.Errorf("--check does not report %s attached:\n%s", name, out)
		}
	}
	if strings.Contains(string(out), "\nopen ") {
		t.Errorf("--check reports open, which is off by default:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err = exec.CommandContext(ctx, kscopeBinary(t), "agent", "--check", "--collectors", "open").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "open") {
		t.Errorf("--check --collectors open: %v\n%s", err, out)
	}
}

// --check lists every collector the registry runs by default, and only
// those: the list it printed before the registry, read from it now.
func TestAgentCheckListsRegistry(t *testing.T) {
	testutil.RequireBPF(t)
	out, err := exec.Command(kscopeBinary(t), "agent", "--check").Output()
	if err != nil {
		t.Fatalf("agent --check: %v\n%s", err, out)
	}
	var listed []string
	for i, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if i == 0 {
			if strings.Join(f, " ") != "COLLECTOR STATUS TOOK DETAILS" {
				t.Fatalf("header %q", line)
			}
			continue
		}
		if len(f) < 2 || f[1] != "attached" {
			t.Errorf("row %q", line)
		}
		listed = append(listed, f[0])
	}
	var want []string
	for _, s := range collector.Agent() {
		if s.Default {
			want = append(want, s.Name)
		}
	}
	if got := strings.Join(listed, " "); got != strings.Join(want, " ") ||
		got != "block connect exec exit fileio netfilter oom process procnet profile sched signals syscalls tcp" {
		t.Errorf("--check lists %s, the registry's defaults are %s", got, strings.Join(want, " "))
	}
}
