package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/probe"
	"github.com/kscope/kscope/internal/store"
	"github.com/kscope/kscope/internal/testutil"
)

// getppidProgram builds a C program that calls getppid(2) as many times
// as its argument says, under a name of its own (its comm).
func getppidProgram(t *testing.T) (path, comm string) {
	t.Helper()
	bin := testutil.BuildC(t, "cc", `#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
	int n = atoi(argv[1]);
	for (int i = 0; i < n; i++)
		syscall(SYS_getppid);
	return 0;
}
`)
	comm = fmt.Sprintf("ksprb%d", time.Now().UnixNano()%1e6)
	path = filepath.Join(filepath.Dir(bin), comm)
	if err := os.Rename(bin, path); err != nil {
		t.Fatal(err)
	}
	return path, comm
}

func writeScript(t *testing.T, file, src string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// promValue waits until the PromQL query q's one series has the value
// want, ingesting a collection before each try.
func promValue(t *testing.T, a *Agent, q string, want float64) {
	t.Helper()
	var got []promSeries
	waitFor(t, fmt.Sprintf("%s == %v", q, want), func() bool {
		time.Sleep(2 * time.Millisecond) // the TSDB takes one sample a millisecond per series
		if err := a.Ingest(context.Background()); err != nil {
			t.Fatal(err)
		}
		got = query(t, a, q)
		if len(got) != 1 {
			return false
		}
		s, _ := got[0].Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		return err == nil && v == want
	})
}

// storedProbeEvents returns the stored probe events of script, once there
// are want of them (or the deadline passed).
func storedProbeEvents(t *testing.T, a *Agent, script string, want int) []map[string]any {
	t.Helper()
	q := store.Query{Type: probe.EventKind.Name, Match: []string{"script=" + script}, Limit: 1000}
	var res *store.Result
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; {
		if res, err = a.events.Query(context.Background(), q); err != nil {
			t.Fatal(err)
		}
		if len(res.Events) >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling the store for a condition, with a deadline
	}
	var out []map[string]any
	for _, raw := range res.Events {
		var e map[string]any
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// The agent tests: scripts of the probes key run in a real agent;
// their maps are metrics in PromQL with the exact counts of a real
// workload, their printf lines stored events; a reload adds a script, and
// one that does not compile is refused with its place while the others
// keep running.
func TestAgentProbesGCC(t *testing.T) {
	testutil.RequireBPF(t)
	prog, comm := getppidProgram(t)
	dir := t.TempDir()
	pred := fmt.Sprintf(`tracepoint:syscalls:sys_enter_getppid /comm == "%s"/`, comm)
	writeScript(t, filepath.Join(dir, "getppid.bt"), pred+" { @calls[comm] = count(); @[comm, 7] = sum(2); }\n")
	writeScript(t, filepath.Join(dir, "hist.bt"), pred+" { @values = hist(42); @linear[comm] = lhist(42, 0, 100, 25); }\n")
	writeScript(t, filepath.Join(dir, "say-it.bt"), pred+` { printf("getppid by %s\n", comm); }`+"\n")

	cfg := testConfig(t)
	cfg.Probes = []string{dir}
	cfg.Collectors[config.ProbesCollector] = config.Collector{Enabled: true, Options: probe.AgentOptions{}}
	var logs syncBuffer
	a, err := Start(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if st := a.Statuses(); len(st) != 1 || st[0].Name != "probes" || st[0].Err != nil {
		t.Fatalf("statuses %+v", st)
	}

	const n = 25
	run := func() int {
		t.Helper()
		cmd := exec.Command(prog, strconv.Itoa(n))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", prog, err, out)
		}
		return cmd.Process.Pid
	}
	pid := run()
	promValue(t, a, fmt.Sprintf(`kscope_probe_getppid_calls_total{key=%q}`, comm), n)
	promValue(t, a, fmt.Sprintf(`kscope_probe_getppid_total{key0=%q,key1="7"}`, comm), 2*n)
	// hist(): a native histogram, 42 in schema 0's bucket (32, 64].
	promValue(t, a, `histogram_count(kscope_probe_hist_values)`, n)
	promValue(t, a, `histogram_fraction(32, 64, kscope_probe_hist_values)`, 1)
	promValue(t, a, `histogram_fraction(0, 32, kscope_probe_hist_values)`, 0)
	promValue(t, a, fmt.Sprintf(`kscope_probe_hist_linear_bucket{key=%q,le="49"}`, comm), n)
	promValue(t, a, fmt.Sprintf(`kscope_probe_hist_linear_bucket{key=%q,le="24"}`, comm), 0)
	promValue(t, a, fmt.Sprintf(`kscope_probe_hist_linear_count{key=%q}`, comm), n)
	promValue(t, a, `histogram_sum(kscope_probe_hist_values)`, 42*n)
	promValue(t, a, fmt.Sprintf(`kscope_probe_hist_linear_sum{key=%q}`, comm), 42*n)
	evs := storedProbeEvents(t, a, "say_it", n)
	if len(evs) != n {
		t.Fatalf("%d probe events stored, want %d", len(evs), n)
	}
	for _, e := range evs {
		if e["text"] != "getppid by "+comm+"\n" || e["probe"] != "tracepoint:syscalls:sys_enter_getppid" || e["type"] != "probe" {
			t.Fatalf("event %v", e)
		}
		// The event names the process that printed it, as every kind does.
		if e["pid"] != float64(pid) || e["tid"] != float64(pid) || e["comm"] != comm || e["uid"] != float64(os.Getuid()) {
			t.Fatalf("event %v: want pid and tid %d, comm %s, uid %d", e, pid, comm, os.Getuid())
		}
	}

	// A reload with one more script starts it.
	writeScript(t, filepath.Join(dir, "added.bt"), pred+" { @ = count(); }\n")
	next := *cfg
	res, err := a.Reload(&next)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Restarted) != 1 || res.Restarted[0] != "probes" {
		t.Fatalf("reload %+v", res)
	}
	run()
	promValue(t, a, `kscope_probe_added_total`, n)
	promValue(t, a, fmt.Sprintf(`kscope_probe_getppid_calls_total{key=%q}`, comm), n) // restarted: counting again

	// A script with a syntax error: refused with its place, the running
	// ones keep counting.
	bad := filepath.Join(dir, "broken.bt")
	writeScript(t, bad, "tracepoint:syscalls:sys_enter_getppid {\n  @x = count(;\n}\n")
	res, err = a.Reload(&next)
	if pe := (ProbesError{}); !errors.As(err, &pe) || !strings.Contains(err.Error(), bad+":2:") {
		t.Fatalf("reload error %v: want one at %s:2:COL", err, bad)
	}
	if len(res.Restarted) != 0 {
		t.Errorf("reload %+v: want probes unchanged", res)
	}
	if !strings.Contains(logs.String(), "keeping the running scripts") || !strings.Contains(logs.String(), bad+":2:") {
		t.Errorf("the log does not report the error:\n%s", logs.String())
	}
	run()
	promValue(t, a, `kscope_probe_added_total`, 2*n)
}

// A script that does not compile stops the agent from starting and makes
// --check fail with its place.
func TestAgentProbesInvalid(t *testing.T) {
	testutil.RequireBPF(t)
	file := filepath.Join(t.TempDir(), "bad.bt")
	writeScript(t, file, "BEGIN { @x = nosuchfunc(1); }\n")
	cfg := testConfig(t)
	cfg.Probes = []string{file}
	cfg.Collectors[config.ProbesCollector] = config.Collector{Enabled: true, Options: probe.AgentOptions{}}
	want := file + ":1:"
	if a, err := Start(context.Background(), cfg, quietLogger); err == nil || !strings.Contains(err.Error(), want) {
		if a != nil {
			a.Close()
		}
		t.Fatalf("start: %v: want an error at %s", err, want)
	}
	_, err := Check(context.Background(), cfg, quietLogger)
	if pe := (ProbesError{}); !errors.As(err, &pe) || !strings.Contains(err.Error(), want) {
		t.Fatalf("check: %v: want a ProbesError at %s", err, want)
	}
}
