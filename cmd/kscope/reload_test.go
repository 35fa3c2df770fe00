package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/agent"
)

// reloadExitCode marks the test's processes: nothing else on the host
// exits with it.
const reloadExitCode = 117

// agentConfigFile writes an agent configuration running exactly the
// collectors in on.
func agentConfigFile(t *testing.T, path, retention string, on ...string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "retention: %s\ncollectors:\n", retention)
	for _, n := range sortedKeys(agent.DefaultCollectors()) {
		fmt.Fprintf(&b, "  %s: %v\n", n, slices.Contains(on, n))
	}
	writeFile(t, path, b.String())
}

// bpfIDs lists the BPF programs and links process pid holds, from its
// file descriptors: the kernel's view, not the agent's.
func bpfIDs(t *testing.T, pid int) (progs, links []int) {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err != nil || (target != "anon_inode:bpf-prog" && target != "anon_inode:bpf_link") {
			continue
		}
		info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(info), "\n") {
			k, v, _ := strings.Cut(line, ":")
			id, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				continue
			}
			switch {
			case k == "prog_id" && target == "anon_inode:bpf-prog":
				progs = append(progs, id)
			case k == "link_id":
				links = append(links, id)
			}
		}
	}
	slices.Sort(progs)
	links = slices.Compact(slices.Sorted(slices.Values(links)))
	return progs, links
}

// exitWith runs a shell that exits with reloadExitCode; it returns its pid.
func exitWith(t *testing.T) int {
	t.Helper()
	c := exec.Command("/bin/sh", "-c", "exit "+strconv.Itoa(reloadExitCode))
	if err := c.Run(); c.ProcessState == nil || c.ProcessState.ExitCode() != reloadExitCode {
		t.Fatalf("sh: %v", err)
	}
	return c.Process.Pid
}

// storedEvents counts the events of type typ stored for pid.
func storedEvents(t *testing.T, base, typ string, pid int) int {
	t.Helper()
	out := cli(t, "events", "--server", base, "--type", typ, "--match", "pid="+strconv.Itoa(pid), "--json")
	return strings.Count(out, "\n")
}

func agentStatus(t *testing.T, base string) (collectors []string, retention float64) {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/status/agent")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			RetentionSeconds float64 `json:"retention_seconds"`
			Collectors       []struct {
				Name    string
				Running bool
			}
		}
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("status: %v: %s", err, b)
	}
	for _, c := range r.Data.Collectors {
		if c.Running {
			collectors = append(collectors, c.Name)
		}
	}
	return collectors, r.Data.RetentionSeconds
}

// SIGHUP reloads the configuration file: the agent keeps running, a
// collector disabled stops, the unchanged ones keep their BPF programs
// and links, retention changes, and no count or event is lost across it.
func TestAgentReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "kscope.yml")
	agentConfigFile(t, conf, "7d", "exec", "exit", "process")
	a := startAgent(t, filepath.Join(dir, "data"), "--config", conf)
	pid := a.cmd.Process.Pid
	series := fmt.Sprintf(`kscope_process_exits_total{code="%d",signal=""}`, reloadExitCode)
	query := fmt.Sprintf(`kscope_process_exits_total{code="%d"}`, reloadExitCode)

	const n = 5
	var before []int
	for range n {
		before = append(before, exitWith(t))
	}
	eventually(t, "the exits before the reload are counted and stored", func() error {
		if err := check(scrape(t, a.url), []expectation{{series: series, want: n}}); err != nil {
			return err
		}
		for _, p := range before {
			if storedEvents(t, a.url, "exit", p) != 1 || storedEvents(t, a.url, "exec", p) != 1 {
				return fmt.Errorf("pid %d: exit and exec events not stored yet", p)
			}
		}
		return nil
	})
	if running, ret := agentStatus(t, a.url); !slices.Equal(running, []string{"exec", "exit", "process"}) || ret != 7*86400 {
		t.Fatalf("before the reload: running %v, retention %v", running, ret)
	}
	// The status starts the doctor's probes in the background (they load
	// programs of their own for a moment): wait for the report.
	if resp, err := http.Get(a.url + "/api/v1/doctor"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	progs0, links0 := bpfIDs(t, pid)

	// exec off, retention 2d; exit and process unchanged.
	agentConfigFile(t, conf, "2d", "exit", "process")
	if err := a.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the reload is applied", func() error {
		if running, ret := agentStatus(t, a.url); !slices.Equal(running, []string{"exit", "process"}) || ret != 2*86400 {
			return fmt.Errorf("running %v, retention %v", running, ret)
		}
		return nil
	})
	progs1, links1 := bpfIDs(t, pid)
	t.Logf("BPF programs %v -> %v, links %v -> %v", progs0, progs1, links0, links1)
	// The unchanged collectors' programs and links are the very same
	// kernel objects; exec's are gone.
	if len(progs1) == 0 || len(progs1) >= len(progs0) || !subset(progs1, progs0) {
		t.Errorf("programs before %v, after %v: want a strict subset", progs0, progs1)
	}
	if len(links0) > 0 && (len(links1) == 0 || len(links1) >= len(links0) || !subset(links1, links0)) {
		t.Errorf("links before %v, after %v: want a strict subset", links0, links1)
	}
	if _, ok := scrape(t, a.url)[`kscope_self_collector_up{collector="exec"}`]; ok {
		t.Error("exec still reported after it was disabled")
	}

	var after []int
	for range n {
		after = append(after, exitWith(t))
	}
	exp := []expectation{{series, query, 2 * n}}
	eventually(t, "every exit counted, before and after the reload", func() error { return check(scrape(t, a.url), exp) })
	eventually(t, "and stored", func() error { return checkQueries(t, a.url, exp, time.Time{}) })
	// Events reach their store in batches of their own, after the counts.
	eventually(t, "one exit event stored per process", func() error {
		for _, p := range append(slices.Clone(before), after...) {
			if got := storedEvents(t, a.url, "exit", p); got != 1 {
				return fmt.Errorf("pid %d: %d exit events stored, want 1", p, got)
			}
		}
		return nil
	})
	for _, p := range after {
		if got := storedEvents(t, a.url, "exec", p); got != 0 {
			t.Errorf("pid %d: exec event stored with exec disabled", p)
		}
	}
	if a.cmd.ProcessState != nil {
		t.Fatalf("the agent exited: %v\n%s", a.cmd.ProcessState, a.stderr)
	}
	if !strings.Contains(a.stderr.String(), "configuration reloaded") || !strings.Contains(a.stderr.String(), "stopped=exec") {
		t.Errorf("no reload logged:\n%s", lastLines(a.stderr.String(), 20))
	}
	for _, l := range strings.Split(a.stderr.String(), "\n") {
		if strings.Contains(l, "configuration reloaded") {
			t.Log(l)
		}
	}

	// A configuration that does not load keeps the running one.
	writeFile(t, conf, "collectors:\n  bogus: true\n")
	a.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, "the bad configuration is reported", func() error {
		if !strings.Contains(a.stderr.String(), "keeping the running one") {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if running, _ := agentStatus(t, a.url); !slices.Equal(running, []string{"exit", "process"}) {
		t.Errorf("after a bad configuration: running %v", running)
	}
	if p2, _ := bpfIDs(t, pid); !slices.Equal(p2, progs1) {
		t.Errorf("programs changed after a bad configuration: %v, were %v", p2, progs1)
	}
	a.stop(t)
}

func subset(a, b []int) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
