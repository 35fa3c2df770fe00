package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/testutil"
)

func TestUprobeUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"trace", "uprobe"}, "needs one BINARY:FUNCTION"},
		{[]string{"trace", "uprobe", "/nonexistent/prog:main"}, "binary not found"},
		{[]string{"trace", "uprobe", "libnosuchlib:foo"}, "no library in /etc/ld.so.cache"},
		{[]string{"trace", "uprobe", "nocolon"}, "want BINARY:SYMBOL"},
		{[]string{"trace", "usdt", "/nonexistent:p:n"}, "binary not found"},
		{[]string{"trace", "usdt", "p:n"}, "PROVIDER:NAME with --pid"},
		{[]string{"usdt"}, "needs a subcommand"},
		{[]string{"usdt", "list"}, "needs a BINARY or --pid"},
		{[]string{"usdt", "list", "/nonexistent"}, "binary not found"},
	} {
		code, _, stderr := runCLI(c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.msg)
		}
	}
}

func TestUprobeCLIGCC(t *testing.T) {
	bin := testutil.BuildC(t, "gcc", testutil.USDTProgram, "-O2")
	code, _, stderr := runCLI("trace", "uprobe", bin+":c_ad")
	if code != exitUsage || !strings.Contains(stderr, `did you mean "c_add"?`) {
		t.Errorf("missing symbol: exit %d, %q", code, stderr)
	}
	code, _, stderr = runCLI("trace", "uprobe", bin+":c_add", "--args", "7")
	if code != exitUsage || !strings.Contains(stderr, "at most 6") {
		t.Errorf("--args 7: exit %d, %q", code, stderr)
	}
	code, _, stderr = runCLI("trace", "usdt", bin+":kscope:nope")
	if code != exitUsage || !strings.Contains(stderr, "kscope:sized") {
		t.Errorf("missing probe: exit %d, %q", code, stderr)
	}

	code, stdout, stderr := runCLI("usdt", "list", bin)
	if code != 0 || !strings.Contains(stdout, "kscope    guarded") || !strings.Contains(stdout, "-1@%dil 2@%si -4@%edx -8@%rcx 8@%r8") || !strings.Contains(stderr, "7 probe sites in "+bin+"\n") {
		t.Errorf("usdt list: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI("usdt", "list", bin, "--json")
	if code != 0 {
		t.Errorf("usdt list --json: exit %d\n%s", code, stderr)
	}
	var p struct {
		Binary, Provider, Name, Args string
		Semaphore                    uint64
	}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatal(err)
		}
		if p.Binary != bin || p.Provider != "kscope" || (p.Name == "guarded") != (p.Semaphore != 0) {
			t.Errorf("usdt list --json: %+v", p)
		}
	}

	// With --pid: the process's executable and its libraries.
	cmd := exec.Command(bin, "100000", "10000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitExec(t, cmd.Process.Pid, bin)
	code, stdout, stderr = runCLI("usdt", "list", "--pid", strconv.Itoa(cmd.Process.Pid))
	cmd.Process.Kill()
	cmd.Wait()
	if code != 0 || !strings.Contains(stdout, bin) || !strings.Contains(stderr, "files") {
		t.Errorf("usdt list --pid: exit %d\n%s%s", code, stdout, stderr)
	}

	testutil.RequireBPF(t)
	// A traced run: the workload starts after kscope attached.
	code, stdout, stderr = runCLIThen(func() { exec.Command(bin, "3").Run() },
		"trace", "uprobe", bin+":c_add", "--args", "2", "--ret", "--json", "--count", "3", "--duration", "60s")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || len(lines) != 3 || !strings.Contains(stderr, "tracing "+bin+":c_add\n") {
		t.Fatalf("trace uprobe: exit %d\n%s%s", code, stdout, stderr)
	}
	for i, l := range lines {
		var e struct {
			Type, Probe string
			Args        []int64
			Ret         int64
			LatencyNS   uint64 `json:"latency_ns"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		if e.Type != "uprobe" || e.Probe != bin+":c_add" || len(e.Args) != 2 || e.Args[0] != int64(i) || e.Args[1] != 100 || e.Ret != int64(i)+100 || e.LatencyNS == 0 {
			t.Errorf("event %d: %s", i, l)
		}
	}
	code, stdout, stderr = runCLIThen(func() { exec.Command(bin, "2").Run() },
		"trace", "usdt", bin+":kscope:str", "--str", "1", "--count", "2", "--duration", "60s")
	if code != 0 || strings.Count(stdout, `10 "hello usdt"`) != 2 || !strings.HasPrefix(stdout, "TIME") || !strings.Contains(stderr, "tracing "+bin+":kscope:str (1 site)\n") {
		t.Errorf("trace usdt: exit %d\n%s%s", code, stdout, stderr)
	}
}

// waitExec waits until process pid runs bin (its exec is done).
func waitExec(t *testing.T, pid int, bin string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		if exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); exe == bin {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d never ran %s", pid, bin)
		}
	}
}
