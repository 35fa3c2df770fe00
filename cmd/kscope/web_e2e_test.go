package main

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/testutil"
)

// webWorkload execs under a name of its own, makes syscalls, writes and
// reads a file, connects to the agent and burns CPU in webHotLoop until
// killed. With the argument "quick" it exits at once (one more exec),
// with "fail" it exits with code 3.
const webWorkload = `package main

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

//go:noinline
func webHotLoop(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s += i * i % 7
	}
	return s
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "quick" {
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "fail" {
		os.Exit(3)
	}
	agent := os.Args[1]
	file := filepath.Join(filepath.Dir(os.Args[0]), "kscope-webtest.data") // the test's own directory
	buf := make([]byte, 64<<10)
	s := 0
	for n, end := 0, time.Now().Add(5*time.Minute); time.Now().Before(end); n++ {
		s += webHotLoop(1 << 22)
		for i := 0; i < 200; i++ {
			syscall.Getppid()
		}
		os.WriteFile(file, buf, 0o600)
		os.ReadFile(file)
		if n%25 == 0 {
			if c, err := net.Dial("tcp", agent); err == nil {
				c.Close()
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	println(s)
}
`

// webOut is where the UI test leaves its screenshots.
func webOut(t *testing.T) string {
	dir := os.Getenv("KSCOPE_TEST_OUT")
	if dir == "" {
		dir = filepath.Join("..", "..", "out")
	}
	dir, _ = filepath.Abs(filepath.Join(dir, "web-e2e"))
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// webTools finds node and Chromium and makes sure web/node_modules is
// installed (npm ci from package-lock.json).
func webTools(t *testing.T) (node, chromium string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testutil.Skip(t, "node (Node.js, for the web UI's browser test)", err)
	}
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		testutil.Skip(t, "chromium (Debian packages chromium and chromium-driver)", err)
	}
	if _, err := os.Stat("../../web/node_modules/playwright-core"); err != nil {
		t.Log("web/node_modules is missing: running npm ci")
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = "../../web"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in web/ (needs npm and the npm registry): %v\n%s", err, out)
		}
	}
	return node, chromium
}

// TestWebUI runs the agent with known activity and checks every page of
// the web UI in headless Chromium (web/e2e/run.mjs): the workload's
// process in Processes and its page, its exec in the event history and
// the live stream, data in the Overview charts and heatmaps, a query
// charted, the BPF programs listed, and the workload's hot function in
// its flame graph.
// webComm names the workload after this test process, so that a
// TestWebUI running at the same time on the host (another checkout's)
// cannot lend it its processes and events. Pids have at most 7 digits
// (pid_max is at most 2^22), so the name fits a 15-byte comm.
var webComm = fmt.Sprintf("kwebtest%d", os.Getpid())

func TestWebUI(t *testing.T) {
	testutil.RequireBPF(t)
	node, chromium := webTools(t)
	out := webOut(t)

	dir := t.TempDir()
	bin := filepath.Join(dir, webComm)
	src := filepath.Join(dir, "main.go")
	os.WriteFile(src, []byte(webWorkload), 0o600)
	build := exec.Command("go", "build", "-o", bin, src)
	build.Env = append(os.Environ(), "GO111MODULE=off", "GOFLAGS=")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the workload: %v\n%s", err, b)
	}

	// Profiles in 2 s windows, on- and off-CPU, so the flame graphs have
	// data within seconds.
	cfg := filepath.Join(dir, "kscope.yaml")
	os.WriteFile(cfg, []byte("collectors:\n  profile: {hz: 99, window: 2s, off_cpu: true}\nrule_files: [rules.yml]\nprobes: [webtest.bt]\n"), 0o600)
	// An always-on script, for the kscope page's Scripts panel.
	os.WriteFile(filepath.Join(dir, "webtest.bt"), []byte("tracepoint:syscalls:sys_enter_getppid { @calls[comm] = count(); }\n"), 0o600)
	// A rule that always fires, for the Alerts page.
	os.WriteFile(filepath.Join(dir, "rules.yml"), []byte(`groups:
  - name: kscope-webtest
    interval: 1s
    rules:
      - record: kscope_webtest:build_info
        expr: count(kscope_self_build_info)
      - alert: KscopeWebTestAlert
        expr: kscope_self_build_info == 1
        labels: {severity: info}
        annotations: {summary: "the web test's alert"}
`), 0o600)
	a := startAgent(t, t.TempDir(), "--config", cfg, "--topk", "1000", "--collectors", "syscalls,process,sched,block,tcp,fileio,exec,exit,connect,profile,probes")
	addr := strings.TrimPrefix(a.url, "http://")

	// A shell forks and the child execs the workload: an exec event with
	// a parent that has one too.
	w := exec.Command("/bin/sh", "-c", bin+" "+addr+"; true")
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	var pid string
	t.Cleanup(func() {
		// The workload (the shell's child, by the pid its exec reported),
		// then the shell.
		if n, err := strconv.Atoi(pid); err == nil {
			syscall.Kill(n, syscall.SIGKILL)
		}
		w.Process.Kill()
		w.Wait()
	})
	eventually(t, "the workload's exec is stored", func() error {
		body, err := httpGet(a.url + "/api/v1/events?type=exec&match=comm=" + webComm + "&limit=1")
		if err != nil {
			return err
		}
		i := strings.Index(body, `"pid":`)
		if i < 0 {
			return fmt.Errorf("no exec yet: %.200s", body)
		}
		rest := body[i+6:]
		pid = rest[:strings.IndexAny(rest, ",}")]
		return nil
	})
	eventually(t, "the workload's CPU time is stored", func() error {
		res := instant(t, a.url, `rate(kscope_process_cpu_seconds_total{pid="`+pid+`"}[5s])`, time.Time{})
		for _, v := range res {
			if v > 0 {
				return nil
			}
		}
		return fmt.Errorf("pid %s: %v", pid, res)
	})
	var reused string
	const hot = "webHotLoop"
	eventually(t, "the workload's hot function is in a stored profile", func() error {
		body, err := httpGet(a.url + "/api/v1/profile?format=folded&since=1m&pid=" + pid)
		if err != nil {
			return err
		}
		if !strings.Contains(body, hot) {
			return fmt.Errorf("no %s in the profile yet: %.300s", hot, body)
		}
		return nil
	})

	// Two processes with one pid, for the process page's identity.
	r := startReusedPID(t, a.url, 100, 200)
	var parentStart uint64
	eventually(t, "the reused pid's execs are stored", func() error {
		evs, err := apiEvents(t, a.url, url.Values{"type": {"exec"}, "pid": {strconv.Itoa(r.pid)}})
		if err != nil {
			return err
		}
		if len(evs) != 2 {
			return fmt.Errorf("%d execs of pid %d, want 2", len(evs), r.pid)
		}
		reused = fmt.Sprintf("%d/%d/%d/%d", r.pid, evs[0].StartNS, evs[1].StartNS, evs[1].ParentStartNS)
		parentStart = evs[1].ParentStartNS
		return nil
	})
	if parentStart == 0 {
		t.Fatal("no parent_start_ns")
	}

	// A shell's $PATH search: two directories without the program, then
	// the one with it; Notable events shows it as one entry.
	searchAt := time.Now()
	search := exec.Command("/bin/sh", "-c", "exec "+webComm+" quick")
	search.Env = append(os.Environ(), "PATH=/nonexistent/a:/nonexistent/b:"+dir)
	if out, err := search.CombinedOutput(); err != nil {
		t.Fatalf("the $PATH search: %v %s", err, out)
	}
	eventually(t, "the $PATH search's execs are stored", func() error {
		evs, err := apiEvents(t, a.url, url.Values{"type": {"exec"}, "pid": {strconv.Itoa(search.Process.Pid)}})
		if err != nil {
			return err
		}
		// The pid may have been another process's before: select ours by
		// its start.
		var start uint64
		for _, e := range evs {
			if e.Filename == bin {
				start = e.StartNS
			}
		}
		n := 0
		for _, e := range evs {
			if e.StartNS == start {
				n++
			}
		}
		if start == 0 || n != 4 { // sh, then two failures and the program
			return fmt.Errorf("%d execs of pid %d and the program's start, want 4: %+v", n, search.Process.Pid, evs)
		}
		return nil
	})

	// A process that fails, for the Overview's notable events.
	failing := exec.Command(bin, "fail")
	if err := failing.Run(); err == nil {
		t.Fatal("the workload's fail mode exited 0")
	}
	eventually(t, "the failed exit is stored", func() error {
		body, err := httpGet(a.url + "/api/v1/events?type=exit&match=comm=" + webComm + "&match=exit_code=3")
		if err != nil || !strings.Contains(body, `"exit_code":3`) {
			return fmt.Errorf("%v %.200s", err, body)
		}
		return nil
	})
	// Its exec comes from another collector's ring buffer: stored in its
	// own time, maybe after the exit.
	eventually(t, "the failing process's exec is stored", func() error {
		body, err := httpGet(a.url + "/api/v1/events?type=exec&match=pid=" + strconv.Itoa(failing.Process.Pid))
		if err != nil || !strings.Contains(body, `"type":"exec"`) {
			return fmt.Errorf("%v %.200s", err, body)
		}
		return nil
	})

	// The event history must count every stored exec of the workload's
	// command, as the store holds them now (the trigger runs later).
	body, err := httpGet(a.url + "/api/v1/events?type=exec&since=15m&limit=100000&match=comm=" + webComm)
	if err != nil {
		t.Fatal(err)
	}
	execs := strings.Count(body, `"type":"exec"`)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "e2e/run.mjs")
	cmd.Dir = "../../web"
	cmd.Env = append(os.Environ(),
		"KSCOPE_URL="+a.url, "KSCOPE_OUT="+out, "KSCOPE_COMM="+webComm, "KSCOPE_PID="+pid,
		"KSCOPE_TRIGGER="+bin+" quick", "KSCOPE_EXECS="+strconv.Itoa(execs), "KSCOPE_HOT="+hot, "CHROMIUM="+chromium,
		"KSCOPE_REUSED="+reused, "KSCOPE_SEARCH="+webComm+" quick  ("+bin+")  after 2 failed tries (ENOENT)", "KSCOPE_SEARCH_AT="+strconv.FormatInt(searchAt.UnixMilli(), 10),
		"PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var failed []string
	for sc.Scan() {
		line := sc.Text()
		t.Log(line)
		if strings.HasPrefix(line, "FAIL") {
			failed = append(failed, line)
		}
	}
	err = cmd.Wait()
	t.Logf("browser checks took %s; screenshots in %s", time.Since(start).Round(time.Millisecond), out)
	if err != nil || len(failed) > 0 {
		t.Fatalf("web UI checks failed (%v):\n%s\nagent log:\n%s", err, strings.Join(failed, "\n"), lastLines(a.stderr.String(), 20))
	}
	for _, name := range []string{"overview-1280", "processes-1280", "process-1280", "events-live-1280", "events-history-1280", "query-1280", "kscope-1280", "profiles-1280", "overview-390", "events-390"} {
		if fi, err := os.Stat(filepath.Join(out, name+".png")); err != nil || fi.Size() < 10000 {
			t.Errorf("screenshot %s: %v", name, err)
		}
	}
}
