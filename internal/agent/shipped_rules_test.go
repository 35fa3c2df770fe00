package agent

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"

	"github.com/kscope/kscope/internal/testutil"
	"github.com/kscope/kscope/rules"
)

// shippedRules is the rule library the packages install.
const shippedRules = "../../rules/kscope.rules.yml"

// promtool, Prometheus's own checker, accepts the shipped rules, and its
// unit tests of them (rules/kscope.rules.test.yml: each alert's hold,
// labels and annotations on given series) pass.
func TestShippedRulesPromtool(t *testing.T) {
	promtool := testutil.Tool(t, "promtool", "checking the shipped rules (Debian package prometheus)")
	out, err := exec.Command(promtool, "check", "rules", shippedRules).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS: 9 rules found") {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	cmd := exec.Command(promtool, "test", "rules", "kscope.rules.test.yml")
	cmd.Dir = filepath.Dir(shippedRules)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// fastRules is the shipped rule file with every group evaluated each
// second and no `for` hold: the expressions as shipped, against what the
// agent stores, without waiting minutes for a hold to pass.
func fastRules(t *testing.T) string {
	t.Helper()
	groups, errs := rulefmt.Parse(rules.Shipped, false, model.UTF8Validation, parser.NewParser(parser.Options{}), quietLogger)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for i := range groups.Groups {
		g := &groups.Groups[i]
		g.Interval = model.Duration(time.Second)
		for j := range g.Rules {
			g.Rules[j].For = 0
		}
	}
	b, err := yaml.Marshal(groups)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// shippedAgent runs an agent with the shipped rules (fastRules) and the
// collectors and settings of doc.
func shippedAgent(t *testing.T, doc string) *Agent {
	t.Helper()
	return rulesAgent(t, "rule_files: [kscope.rules.yml]\n"+doc, map[string]string{"kscope.rules.yml": fastRules(t)})
}

// firing returns the labels of the firing alerts named name.
func firing(t *testing.T, a *Agent, name string) []map[string]string {
	t.Helper()
	var res struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string
				State  string
			}
		}
	}
	getJSON(t, "http://"+a.Addr().String()+"/api/v1/alerts", &res)
	var out []map[string]string
	for _, al := range res.Data.Alerts {
		if al.Labels["alertname"] == name && al.State == "firing" {
			out = append(out, al.Labels)
		}
	}
	return out
}

// waitFiring runs work (if any) until the alert fires or the deadline
// passes, and returns the firing alerts' labels.
func waitFiring(t *testing.T, a *Agent, name string, timeout time.Duration, work func()) []map[string]string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if work != nil {
			work()
		}
		if got := firing(t, a, name); len(got) > 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not fire within %s", name, timeout)
		}
		time.Sleep(100 * time.Millisecond) // polling for a condition, with a deadline
	}
}

// A collector whose hook is missing is down: KscopeCollectorDown names it.
func TestAlertCollectorDown(t *testing.T) {
	testutil.RequireBPF(t)
	a := shippedAgent(t, "collectors:\n  broken: true\n  exit: true\n")
	got := waitFiring(t, a, "KscopeCollectorDown", time.Minute, nil)
	if len(got) != 1 || got[0]["collector"] != "broken" || got[0]["severity"] != "warning" {
		t.Errorf("firing %v", got)
	}
}

// A full disk under the data directory: commits fail, and once there is
// room again the failures are stored: KscopeMetricsStoreWriteFailing.
func TestAlertMetricsStoreWriteFailing(t *testing.T) {
	testutil.RequireBPF(t)
	dir := testutil.Tmpfs(t, 8<<20)
	a := shippedAgent(t, "data_dir: "+dir+"\n")
	waitStored(t, a, "kscope_self_tsdb_commit_failures_total")
	filler := filepath.Join(dir, "filler")
	testutil.Fill(t, filler)
	for deadline := time.Now().Add(time.Minute); gauge(t, a, "kscope_self_tsdb_commit_failures_total") == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no commit failed on a full disk")
		}
		time.Sleep(20 * time.Millisecond) // polling for a condition, with a deadline
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	got := waitFiring(t, a, "KscopeMetricsStoreWriteFailing", time.Minute, nil)
	if len(got) != 1 || got[0]["severity"] != "critical" {
		t.Errorf("firing %v", got)
	}
}

// A tiny series cap: KscopeSeriesLimitNear.
func TestAlertSeriesLimitNear(t *testing.T) {
	testutil.RequireBPF(t)
	a := shippedAgent(t, "storage:\n  max_series: 20\n")
	if got := waitFiring(t, a, "KscopeSeriesLimitNear", time.Minute, nil); len(got) != 1 {
		t.Errorf("firing %v", got)
	}
}

// A disk budget smaller than what the metrics store's write-ahead log
// holds after a few collections: KscopeDiskBudgetNear, for that store.
func TestAlertDiskBudgetNear(t *testing.T) {
	testutil.RequireBPF(t)
	a := shippedAgent(t, "storage:\n  max_size: 64KB\n")
	got := waitFiring(t, a, "KscopeDiskBudgetNear", time.Minute, nil)
	stores := map[string]bool{}
	for _, l := range got {
		stores[l["store"]] = true
	}
	if !stores["metrics"] {
		t.Errorf("firing %v: want the metrics store among them", got)
	}
}

// Execs of a program that does not exist: KscopeExecFailures.
func TestAlertExecFailures(t *testing.T) {
	testutil.RequireBPF(t)
	a := shippedAgent(t, "collectors:\n  syscalls: true\n")
	missing := filepath.Join(t.TempDir(), "missing")
	waitFiring(t, a, "KscopeExecFailures", 2*time.Minute, func() {
		for range 100 {
			if err := exec.Command(missing).Run(); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("running %s: %v", missing, err)
			}
		}
	})
}

// A ring buffer of one page and a storm of opens: KscopeRingBufferLoss,
// for the open collector.
func TestAlertRingBufferLoss(t *testing.T) {
	testutil.RequireBPF(t)
	defer func(n int) { eventRingBytes = n }(eventRingBytes)
	eventRingBytes = os.Getpagesize()
	a := shippedAgent(t, "collectors:\n  open: true\n")
	got := waitFiring(t, a, "KscopeRingBufferLoss", 2*time.Minute, func() {
		for range 20000 {
			f, err := os.Open("/dev/null")
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
	})
	if len(got) != 1 || got[0]["collector"] != "open" {
		t.Errorf("firing %v", got)
	}
}

// A process over its memory cgroup's limit, killed by the kernel:
// KscopeOOMKill.
func TestAlertOOMKill(t *testing.T) {
	testutil.RequireBPF(t)
	cg := newMemcg(t, 32<<20)
	a := shippedAgent(t, "collectors:\n  oom: true\n")
	waitStored(t, a, "kscope_oom_kills_total")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "KSCOPE_AGENT_TEST_OOM="+filepath.Join(cg, "cgroup.procs"))
	out, _ := cmd.CombinedOutput()
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the memory hog ended with %v, not SIGKILL: %s", ws, out)
	}
	waitFiring(t, a, "KscopeOOMKill", time.Minute, nil)
}

// Many spinning processes on one CPU, at the lowest priority so that
// the machine's other work goes first: each waits for the others' slices,
// and the run queue's 99th percentile passes 50 ms:
// KscopeRunQueueLatencyHigh.
func TestAlertRunQueueLatency(t *testing.T) {
	testutil.RequireBPF(t)
	taskset := testutil.Tool(t, "taskset", "pinning spinners to one CPU (Debian package util-linux)")
	a := shippedAgent(t, "collectors:\n  sched: true\n")
	for range 40 {
		cmd := exec.Command(taskset, "-c", "0", "sh", "-c", "while :; do :; done")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		// Niceness 19, as nice(1) would give it (not everywhere installed).
		if err := unix.Setpriority(unix.PRIO_PROCESS, cmd.Process.Pid, 19); err != nil {
			t.Fatal(err)
		}
	}
	waitFiring(t, a, "KscopeRunQueueLatencyHigh", 2*time.Minute, nil)
}

// A TCP stream through a link that drops a quarter of its segments:
// KscopeTCPRetransmitsHigh.
func TestAlertTCPRetransmitsNetns(t *testing.T) {
	testutil.RequireBPF(t)
	nft := testutil.Tool(t, "nft", "dropping packets (Debian package nftables)")
	p := testutil.NewNetPair(t)
	testutil.Run(t, "ip", "netns", "exec", p.B, nft, "add table inet kscope; add chain inet kscope in { type filter hook input priority 0; }; add rule inet kscope in tcp dport 5001 numgen random mod 4 == 0 drop")
	var ln net.Listener
	if err := testutil.In(p.B, func() (err error) {
		ln, err = net.Listen("tcp4", p.BAddr+":5001")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	var conn net.Conn
	if err := testutil.In(p.A, func() (err error) {
		conn, err = net.Dial("tcp4", p.BAddr+":5001")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	a := shippedAgent(t, "collectors:\n  tcp: true\n")
	buf := make([]byte, 64<<10)
	waitFiring(t, a, "KscopeTCPRetransmitsHigh", 2*time.Minute, func() {
		conn.SetWriteDeadline(time.Now().Add(time.Second))
		for range 32 {
			if _, err := conn.Write(buf); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal(err)
			}
		}
	})
}

// waitStored waits until the agent's store has a sample of name.
func waitStored(t *testing.T, a *Agent, name string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); len(query(t, a, name)) == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no %s stored", name)
		}
		time.Sleep(50 * time.Millisecond) // polling for a condition, with a deadline
	}
}

// hog joins the cgroup whose cgroup.procs file is procs and touches new
// memory until the kernel kills it.
func hog(procs string) int {
	if err := os.WriteFile(procs, []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		fmt.Fprintln(os.Stderr, "joining the cgroup:", err)
		return 2
	}
	os.WriteFile("/proc/self/oom_score_adj", []byte("1000"), 0)
	const chunk = 1 << 20
	for range 1024 {
		b, err := syscall.Mmap(-1, 0, chunk, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mmap:", err)
			return 2
		}
		for i := 0; i < chunk; i += 4096 {
			b[i] = 1
		}
	}
	return 3 // 1 GiB and still alive: the limit did not hold
}

// newMemcg makes a memory cgroup limited to limit bytes without swap, in
// cgroup v2 where it has the memory controller, else in cgroup v1's
// memory hierarchy, and returns its directory; the cleanup removes it.
func newMemcg(t *testing.T, limit int) string {
	t.Helper()
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var v2, v1 string
	for _, line := range strings.Split(string(mounts), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 {
			continue
		}
		switch {
		case g[0] == "cgroup2" && v2 == "":
			v2 = f[4]
		case g[0] == "cgroup" && v1 == "" && hasOpt(g[2], "memory"):
			v1 = f[4]
		}
	}
	name := fmt.Sprintf("kscope-rules-test-%d", os.Getpid())
	var dir string
	var settings map[string]string
	if ctl, _ := os.ReadFile(filepath.Join(v2, "cgroup.controllers")); v2 != "" && hasOpt(strings.ReplaceAll(strings.TrimSpace(string(ctl)), " ", ","), "memory") {
		os.WriteFile(filepath.Join(v2, "cgroup.subtree_control"), []byte("+memory"), 0)
		dir, settings = filepath.Join(v2, name), map[string]string{"memory.max": strconv.Itoa(limit), "memory.swap.max": "0"}
	} else if v1 != "" {
		dir, settings = filepath.Join(v1, name), map[string]string{"memory.limit_in_bytes": strconv.Itoa(limit), "memory.swappiness": "0"}
	} else {
		testutil.Skip(t, "memory cgroup controller", errors.New("neither cgroup2 nor cgroup v1 has it"))
	}
	os.Remove(dir) // left over from an interrupted run
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("making a memory cgroup: %v", err)
	}
	t.Cleanup(func() {
		for deadline := time.Now().Add(10 * time.Second); ; {
			err := os.Remove(dir)
			if err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("removing %s: %v", dir, err)
				return
			}
			time.Sleep(20 * time.Millisecond) // the killed hog leaves the cgroup
		}
	})
	for k, v := range settings {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("setting %s: %v", k, err)
		}
	}
	return dir
}

func hasOpt(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}
