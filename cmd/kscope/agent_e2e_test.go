package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/testutil"
)

// expectation is a series the workloads own and its exact value.
type expectation struct {
	series string // as seriesKey builds it, for /metrics
	query  string // PromQL selecting it alone
	want   float64
}

// TestAgentEndToEnd runs known work under the agent and reads the exact
// numbers back through /metrics, PromQL, the event store, the CLI clients,
// after a kill -9 and restart, and through a real Prometheus scraping it.
func TestAgentEndToEnd(t *testing.T) {
	dir := t.TempDir()
	// Every process keeps its series, however busy the host is.
	a := startAgent(t, dir, "--topk", "1000")
	var exp []expectation

	// N getppid calls by one process.
	const calls = 25000
	child := workload(t, "getppid", "KSCOPE_N="+strconv.Itoa(calls))
	stdin, _ := child.StdinPipe()
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	pid := strconv.Itoa(child.Process.Pid)
	exp = append(exp, expectation{
		series: fmt.Sprintf(`kscope_process_syscalls_total{comm=%q,pid=%q,start=%q,syscall="getppid"}`, comm(t, child.Process.Pid), pid, procStart(t, a.url, child.Process.Pid)),
		query:  `kscope_process_syscalls_total{pid="` + pid + `",syscall="getppid"}`,
		want:   calls,
	})
	eventually(t, "the getppid storm is counted while the process runs", func() error {
		return check(scrape(t, a.url), exp)
	})
	// It stays alive, so its series stays in /metrics until Prometheus has
	// scraped it (an exited process's counts are kept for 30 s only).
	defer func() {
		stdin.Close()
		child.Wait()
	}()

	// A process exiting with a code of its own.
	code := strconv.Itoa(e2eExitCode)
	before := scrape(t, a.url)[`kscope_process_exits_total{code="`+code+`",signal=""}`]
	exit3 := workload(t, "exitcode")
	exit3.Run()
	if exit3.ProcessState.ExitCode() != e2eExitCode {
		t.Fatalf("workload exited %d", exit3.ProcessState.ExitCode())
	}
	exp = append(exp, expectation{`kscope_process_exits_total{code="` + code + `",signal=""}`, `kscope_process_exits_total{code="` + code + `"}`, before + 1})

	// A loopback TCP connection sending exactly K bytes.
	const k = 123457
	port := tcpTransfer(t, k)
	exp = append(exp,
		expectation{fmt.Sprintf(`kscope_tcp_endpoint_sent_bytes_total{laddr="127.0.0.1",lport="",raddr="127.0.0.1",rport="%d"}`, port), fmt.Sprintf(`kscope_tcp_endpoint_sent_bytes_total{rport="%d"}`, port), k},
		expectation{fmt.Sprintf(`kscope_tcp_endpoint_received_bytes_total{laddr="127.0.0.1",lport="%d",raddr="127.0.0.1",rport=""}`, port), fmt.Sprintf(`kscope_tcp_endpoint_received_bytes_total{lport="%d"}`, port), k},
	)

	// Direct-I/O reads of a block device of the test's own.
	const reads = 64
	loop := testutil.LoopDevice(t, 4<<20)
	dev := filepath.Base(loop)
	// Another test (of this host) may have used the device's name while
	// the agent ran: count from what it shows now that the device is ours.
	ops := `kscope_block_io_operations_total{device="` + dev + `",op="read"}`
	byts := `kscope_block_io_bytes_total{device="` + dev + `",op="read"}`
	prior := scrape(t, a.url)
	if err := testutil.DirectReads(loop, reads, 4096); err != nil {
		t.Fatal(err)
	}
	exp = append(exp,
		expectation{ops, ops, prior[ops] + reads},
		expectation{byts, byts, prior[byts] + reads*4096},
	)

	eventually(t, "exact counters in /metrics", func() error { return check(scrape(t, a.url), exp) })
	// The next collection stores them; PromQL then returns the same.
	eventually(t, "exact counters through PromQL", func() error { return checkQueries(t, a.url, exp, time.Time{}) })
	stored := time.Now()

	// The exit and its exec are in the event store, and the clients show them.
	eventually(t, "the exit event is stored", func() error {
		out := cli(t, "events", "--server", a.url, "--type", "exit", "--match", "pid="+strconv.Itoa(exit3.Process.Pid), "--json")
		var ev struct {
			ExitCode int `json:"exit_code"`
			PID      int `json:"pid"`
		}
		if err := json.Unmarshal([]byte(out), &ev); err != nil || ev.ExitCode != e2eExitCode {
			return fmt.Errorf("events: %q (%v)", out, err)
		}
		return nil
	})
	// The connect came after the exit: that the exit is stored says
	// nothing of it.
	eventually(t, "the connect event is shown", func() error {
		if out := cli(t, "events", "--server", a.url, "--type", "connect", "--match", "dport="+strconv.Itoa(port)); !strings.Contains(out, "dport="+strconv.Itoa(port)) {
			return fmt.Errorf("connect event not shown:\n%s", out)
		}
		return nil
	})
	if out := cli(t, "query", "--server", a.url, exp[0].query); !strings.Contains(out, strconv.Itoa(calls)) {
		t.Errorf("kscope query: %s", out)
	}
	if out := cli(t, "query", "--server", a.url, exp[0].query, "--range", "1m", "--step", "5s"); !strings.Contains(out, strconv.Itoa(calls)) {
		t.Errorf("kscope query --range: %s", out)
	}
	// bottomk prints in the engine's order (by value), not by label.
	q := `bottomk(2, {__name__=~"kscope_block_io_(bytes|operations)_total",device="` + dev + `",op="read"})`
	out := strings.Split(strings.TrimSpace(cli(t, "query", "--server", a.url, q)), "\n")
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	if len(out) != 2 || !strings.HasPrefix(out[0], "kscope_block_io_operations_total{") || !strings.HasSuffix(out[0], " "+num(prior[ops]+reads)) ||
		!strings.HasPrefix(out[1], "kscope_block_io_bytes_total{") || !strings.HasSuffix(out[1], " "+num(prior[byts]+reads*4096)) {
		t.Errorf("kscope query %s:\n%s", q, strings.Join(out, "\n"))
	}

	docsListEveryFamily(t, a.url)
	promtoolCheck(t, a.url)
	prometheusScrapes(t, a.url, exp)

	// kill -9 loses nothing the WAL acknowledged: the same series at the
	// same time come back after a restart.
	a.cmd.Process.Signal(syscall.SIGKILL)
	a.cmd.Wait()
	b := startAgent(t, dir, "--topk", "1000")
	if err := checkQueries(t, b.url, exp, stored); err != nil {
		t.Errorf("after kill -9 and restart: %v", err)
	}
	b.stop(t)
}

func comm(t *testing.T, pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func check(got map[string]float64, exp []expectation) error {
	for _, e := range exp {
		if v, ok := got[e.series]; !ok || v != e.want {
			return fmt.Errorf("%s = %v (present %v), want %v", e.series, v, ok, e.want)
		}
	}
	return nil
}

func checkQueries(t *testing.T, base string, exp []expectation, at time.Time) error {
	for _, e := range exp {
		res := instant(t, base, e.query, at)
		if len(res) != 1 {
			return fmt.Errorf("%s: %d series %v, want 1", e.query, len(res), res)
		}
		for _, v := range res {
			if v != e.want {
				return fmt.Errorf("%s = %v, want %v", e.query, v, e.want)
			}
		}
	}
	return nil
}

func cli(t *testing.T, args ...string) string {
	t.Helper()
	code, out, stderr := runCLI(args...)
	if code != 0 {
		t.Fatalf("kscope %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	return out
}

// tcpTransfer connects to a loopback server and sends exactly n bytes; it
// returns the server's port.
func tcpTransfer(t *testing.T, n int) int {
	t.Helper()
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(t.Context(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		m, _ := io.Copy(io.Discard, c)
		got <- m
	}()
	d := net.Dialer{}
	d.SetMultipathTCP(false)
	c, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if m := <-got; m != int64(n) {
		t.Fatalf("server received %d bytes, want %d", m, n)
	}
	return ln.Addr().(*net.TCPAddr).Port
}

// promtoolCheck runs promtool check metrics on the exposition.
func promtoolCheck(t *testing.T, base string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		testutil.Skip(t, "promtool (Debian package prometheus)", err)
	}
	resp, err := httpGet(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(resp)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// prometheusScrapes starts a real Prometheus that scrapes the agent and
// checks it returns the same values through its own API.
func prometheusScrapes(t *testing.T, base string, exp []expectation) {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		testutil.Skip(t, "prometheus (Debian package prometheus)", err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	target := strings.TrimPrefix(base, "http://")
	os.WriteFile(cfg, []byte(fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: kscope\n    static_configs:\n      - targets: [%q]\n", target)), 0o600)
	// Prometheus binds its own port and cannot be handed a listener: when
	// another process takes the port between our pick and its bind, it
	// says so and exits, and it is started again on another.
	var addr string
	var log *testutil.Output
	for attempt := 1; ; attempt++ {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr().String()
		ln.Close()
		log = &testutil.Output{}
		cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
			"--web.listen-address="+addr, "--web.console.templates=", "--web.console.libraries=")
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cmd.Process.Kill()
			cmd.Wait()
		}()
		m := log.WaitFor(regexp.MustCompile(`Listening on|address already in use`), time.Minute)
		if m != nil && m[0] == "Listening on" {
			break
		}
		if m == nil || attempt == 5 {
			t.Fatalf("Prometheus did not listen on %s:\n%s", addr, lastLines(log.String(), 20))
		}
	}
	prom := "http://" + addr
	eventually(t, "Prometheus scrapes kscope", func() error {
		if _, err := httpGet(prom + "/-/ready"); err != nil {
			return err
		}
		up := instant(t, prom, `up{job="kscope"}`, time.Time{})
		if len(up) != 1 {
			return fmt.Errorf("up: %v", up)
		}
		for _, v := range up {
			if v != 1 {
				return fmt.Errorf("target down: %s", lastLines(log.String(), 5))
			}
		}
		return checkQueries(t, prom, exp, time.Time{})
	})
}

func httpGet(u string) (string, error) {
	resp, err := httpClient.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("%s: %s", u, resp.Status)
	}
	return string(b), err
}

func lastLines(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// docsListEveryFamily checks docs/agent.md names every family the agent
// describes.
func docsListEveryFamily(t *testing.T, base string) {
	t.Helper()
	doc, err := os.ReadFile("../../docs/agent.md")
	if err != nil {
		t.Fatal(err)
	}
	body, err := httpGet(base + "/api/v1/metadata")
	if err != nil {
		t.Fatal(err)
	}
	var r struct{ Data map[string]any }
	if err := json.Unmarshal([]byte(body), &r); err != nil || len(r.Data) < 20 {
		t.Fatalf("metadata: %v %.300s", err, body)
	}
	for name := range r.Data {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/agent.md does not list %s", name)
		}
	}
}
