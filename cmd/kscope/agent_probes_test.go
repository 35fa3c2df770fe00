package main

import (
	"errors"
	"fmt"
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
