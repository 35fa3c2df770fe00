package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
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

// ppidProgram builds a C program calling getppid(2) as many times as its
// argument says, under a comm of its own.
func ppidProgram(t *testing.T) (path, comm string) {
	t.Helper()
	bin := testutil.BuildC(t, "cc", "#include <stdlib.h>\n#include <unistd.h>\n#include <sys/syscall.h>\n"+
		"int main(int argc, char **argv) { for (int i = 0; i < atoi(argv[1]); i++) syscall(SYS_getppid); return 0; }\n")
	comm = fmt.Sprintf("ksprbh%d", time.Now().UnixNano()%1e6)
	path = filepath.Join(filepath.Dir(bin), comm)
	if err := os.Rename(bin, path); err != nil {
		t.Fatal(err)
	}
	return path, comm
}

// SIGHUP rereads the agent's scripts: a new one starts counting, one
// with a syntax error is logged with its place and the running ones keep
// counting.
func TestAgentProbesSIGHUP(t *testing.T) {
	testutil.RequireBPF(t)
	prog, comm := ppidProgram(t)
	dir := t.TempDir()
	scripts := filepath.Join(dir, "probes.d")
	if err := os.Mkdir(scripts, 0o755); err != nil {
		t.Fatal(err)
	}
	pred := fmt.Sprintf(`tracepoint:syscalls:sys_enter_getppid /comm == "%s"/`, comm)
	writePolicyFile(t, filepath.Join(scripts, "calls.bt"), pred+" { @[comm] = count(); }\n")
	conf := filepath.Join(dir, "kscope.yaml")
	writePolicyFile(t, conf, "probes: probes.d\n")
	a := startAgent(t, t.TempDir(), "--config", conf, "--collectors", "probes")

	const n = 40
	run := func() {
		t.Helper()
		if out, err := exec.Command(prog, strconv.Itoa(n)).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", prog, err, out)
		}
	}
	value := func(q string, want float64) {
		t.Helper()
		eventually(t, fmt.Sprintf("%s == %v", q, want), func() error {
			res := instant(t, a.url, q, time.Time{})
			if len(res) != 1 {
				return fmt.Errorf("%d series: %v", len(res), res)
			}
			for _, v := range res {
				if v != want {
					return fmt.Errorf("%v", v)
				}
			}
			return nil
		})
	}
	run()
	value(fmt.Sprintf(`kscope_probe_calls_total{key=%q}`, comm), n)

	writePolicyFile(t, filepath.Join(scripts, "more.bt"), pred+" { @hits = count(); }\n")
	a.cmd.Process.Signal(syscall.SIGHUP)
	if a.stderr.WaitFor(regexp.MustCompile(`(?s)configuration reloaded.*restarted=probes`), 30*time.Second) == nil {
		t.Fatalf("no reload:\n%s", a.stderr)
	}
	run()
	value(`kscope_probe_more_hits_total`, n)

	bad := filepath.Join(scripts, "typo.bt")
	writePolicyFile(t, bad, "tracepoint:syscalls:sys_enter_getppid { @x = count(; }\n")
	a.cmd.Process.Signal(syscall.SIGHUP)
	if a.stderr.WaitFor(regexp.MustCompile(`keeping the running scripts.*`+regexp.QuoteMeta(bad)+`:1:\d+`), 30*time.Second) == nil {
		t.Fatalf("the script with a syntax error is not reported:\n%s", a.stderr)
	}
	run()
	value(`kscope_probe_more_hits_total`, 2*n)
}

// A script with an error: --check and the agent exit 2 with its place.
func TestAgentProbesCheck(t *testing.T) {
	testutil.RequireBPF(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.bt")
	writePolicyFile(t, bad, "BEGIN {\n  printf(\"%d\\n\", nosuch);\n}\n")
	conf := filepath.Join(dir, "kscope.yaml")
	writePolicyFile(t, conf, "probes: bad.bt\n")
	for _, args := range [][]string{
		{"agent", "--check", "--config", conf},
		{"agent", "--config", conf, "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0"},
	} {
		out, err := exec.Command(kscopeBinary(t), args...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), bad+":2:") {
			t.Errorf("%v: %v, want exit 2 and the error at %s:2:COL:\n%s", args, err, bad, out)
		}
	}
}

// /api/v1/probes lists the running scripts, each program's probes (a
// block shared by two probes is a program for each), its runs and ns per run
// from the bpf_stats windows, and the losses.
func TestAgentProbesAPI(t *testing.T) {
	testutil.RequireBPF(t)
	prog, comm := ppidProgram(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "calls.bt")
	writePolicyFile(t, script, fmt.Sprintf("tracepoint:syscalls:sys_enter_getppid /comm == \"%s\"/ { @ = count(); }\n", comm)+
		"tracepoint:syscalls:sys_enter_getpgid,tracepoint:syscalls:sys_enter_getsid { @other = count(); }\n")
	conf := filepath.Join(dir, "kscope.yaml")
	writePolicyFile(t, conf, "probes: ["+script+"]\nbpf_stats: {window: 1s, every: 2s}\n")
	a := startAgent(t, t.TempDir(), "--config", conf, "--collectors", "probes")

	type probeJSON struct {
		Probes     []string `json:"probes"`
		Program    string   `json:"program"`
		Runs       *uint64  `json:"runs"`
		RunSeconds *float64 `json:"run_seconds"`
		NsPerRun   *float64 `json:"ns_per_run"`
	}
	var got struct {
		Data struct {
			Scripts []struct {
				Name           string      `json:"name"`
				File           string      `json:"file"`
				Probes         []probeJSON `json:"probes"`
				LostRecords    *uint64     `json:"lost_records"`
				LostMapUpdates *uint64     `json:"lost_map_updates"`
			} `json:"scripts"`
			BPFStats *struct {
				SampledSeconds float64 `json:"sampled_seconds"`
				Windows        uint64  `json:"windows"`
			} `json:"bpf_stats"`
		} `json:"data"`
	}
	// Runs count only inside the sampling windows: the workload runs
	// until one has seen it.
	eventually(t, "the getppid probe's runs", func() error {
		if out, err := exec.Command(prog, "200").CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", prog, err, out)
		}
		body, err := httpGet(a.url + "/api/v1/probes")
		if err != nil {
			return err
		}
		got.Data.Scripts = nil
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			return fmt.Errorf("%v: %s", err, body)
		}
		if len(got.Data.Scripts) != 1 || len(got.Data.Scripts[0].Probes) != 3 {
			return fmt.Errorf("%s", body)
		}
		if p := got.Data.Scripts[0].Probes[0]; p.Runs == nil || *p.Runs == 0 || p.NsPerRun == nil {
			return fmt.Errorf("no runs yet: %s", body)
		}
		return nil
	})
	s := got.Data.Scripts[0]
	if s.Name != "calls" || s.File != script || s.LostRecords == nil || *s.LostRecords != 0 || s.LostMapUpdates == nil || *s.LostMapUpdates != 0 {
		t.Errorf("script %+v", s)
	}
	want := []probeJSON{
		{Probes: []string{"tracepoint:syscalls:sys_enter_getppid"}, Program: "calls:tracepoint:syscalls:sys_enter_getppid"},
		{Probes: []string{"tracepoint:syscalls:sys_enter_getpgid"}, Program: "calls:tracepoint:syscalls:sys_enter_getpgid"},
		{Probes: []string{"tracepoint:syscalls:sys_enter_getsid"}, Program: "calls:tracepoint:syscalls:sys_enter_getsid"},
	}
	for i, p := range s.Probes {
		if strings.Join(p.Probes, ",") != strings.Join(want[i].Probes, ",") || p.Program != want[i].Program {
			t.Errorf("probe %d: %v %s, want %v %s", i, p.Probes, p.Program, want[i].Probes, want[i].Program)
		}
	}
	p := s.Probes[0]
	if ns := *p.RunSeconds * 1e9 / float64(*p.Runs); math.Abs(ns-*p.NsPerRun) > 1e-6*ns {
		t.Errorf("ns_per_run %v, want run_seconds/runs %v", *p.NsPerRun, ns)
	}
	if got.Data.BPFStats == nil || got.Data.BPFStats.Windows == 0 {
		t.Errorf("bpf_stats %+v", got.Data.BPFStats)
	}
	// The same runs are the agent's bpf_stats metrics.
	eventually(t, "the probe's bpf_stats metric", func() error {
		res := instant(t, a.url, `kscope_self_bpf_program_runs_total{collector="probes",program="calls:tracepoint:syscalls:sys_enter_getppid"}`, time.Time{})
		for _, v := range res {
			if v > 0 {
				return nil
			}
		}
		return fmt.Errorf("%v", res)
	})
}
