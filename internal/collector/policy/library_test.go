package policy

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/policy"
	"github.com/kscope/kscope/internal/testutil"
	"github.com/kscope/kscope/policies"
)

// workloadPID runs a workload and returns its pid (its first output line)
// and exit status.
func workloadPID(t *testing.T, fd int, do, arg string) (int, int) {
	t.Helper()
	code, sig, out := runWorkload(t, fd, do, arg)
	if sig != 0 {
		t.Fatalf("%s: signal %v", do, sig)
	}
	lines := strings.Fields(out)
	if len(lines) == 0 {
		t.Fatalf("%s: no pid in %q", do, out)
	}
	return mustAtoi(t, lines[0]), code
}

// containerCgroup creates ROOT/docker/kscope-test-PID, a cgroup named as
// Docker names its containers', and removes it (and docker/ when the test
// made it) after.
func containerCgroup(t *testing.T) (string, int) {
	t.Helper()
	root := CgroupRoot()
	if root == "" {
		testutil.Skip(t, "cgroup v2", errors.New("no cgroup2 mount"))
	}
	parent := filepath.Join(root, "docker")
	made := false
	if err := os.Mkdir(parent, 0o755); err == nil {
		made = true
	} else if !errors.Is(err, os.ErrExist) {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "kscope-test-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Close(fd)
		if err := os.Remove(dir); err != nil {
			t.Errorf("removing %s: %v", dir, err)
		}
		if made {
			os.Remove(parent)
		}
	})
	return dir, fd
}

// TestLibrary: every rule of policies/ is triggered by a real workload and
// alerts (or denies) with the exact process. Two rules need a program the
// test host may not have as their parent or ancestor (netcat, a web
// server): the test binary stands in, added to their lists.
func TestLibrary(t *testing.T) {
	requirePolicy(t)
	if err := bpfx.ProbeFeature(bpfx.FeatCgroupSockAddr); err != nil {
		testutil.Skip(t, "cgroup sock_addr programs", err)
	}
	ents, err := policies.Files.ReadDir(".")
	if err != nil || len(ents) == 0 {
		t.Fatalf("no policies: %v", err)
	}
	var rules []*policy.Rule
	for _, e := range ents {
		data, err := policies.Files.ReadFile(e.Name())
		if err != nil {
			t.Fatal(err)
		}
		rs, err := policy.Parse("policies/"+e.Name(), data)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, rs...)
	}
	exe := testExe(t)
	byName := map[string]*policy.Rule{}
	for _, r := range rules {
		byName[r.Name] = r
	}
	byName["shell-from-netcat"].Match.Parent.Path = append(byName["shell-from-netcat"].Match.Parent.Path, exe)
	// Without bash (the VM runner's busybox), the test binary's connect
	// stands in for bash's /dev/tcp.
	bash, bashErr := exec.LookPath("bash")
	if bashErr != nil {
		byName["shell-connects-out"].Match.Binary.Path = append(byName["shell-connects-out"].Match.Binary.Path, exe)
	}
	byName["webserver-runs-setuid"].Match.Ancestor.Path = append(byName["webserver-runs-setuid"].Match.Ancestor.Path, exe)
	plans, err := policy.PlanRules(rules, Probe, false)
	if err != nil {
		t.Fatal(err)
	}
	cg, fd := testCgroup(t)
	_, dfd := containerCgroup(t)
	_, sink := start(t, Config{Plans: plans, Cgroup: cg})
	tested := map[string]bool{}
	check := func(rule string, pid int, want func(a map[string]any) bool) {
		t.Helper()
		tested[rule] = true
		if a := alertsWhere(t, sink, func(f map[string]any) bool {
			return f["rule"] == rule && f["pid"] == float64(pid) && want(f)
		}); len(a) == 0 {
			var got []map[string]any
			for _, ev := range sink.Events() {
				if f := fields(t, ev); f["rule"] == rule && f["pid"] == float64(pid) {
					got = append(got, f)
				}
			}
			t.Errorf("%s: no such alert from pid %d: %v", rule, pid, got)
		}
	}
	run := func(cmd *exec.Cmd) int {
		t.Helper()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		return cmd.Process.Pid
	}
	sh := testutil.Tool(t, "sh", "as the shell netcat starts")

	t.Run("shell-connects-out", func(t *testing.T) {
		port := listen(t)
		shell := bash
		cmd := exec.Command(bash, "-c", "exec 3<>/dev/tcp/127.0.0.1/"+strconv.Itoa(port))
		if bashErr != nil {
			shell = exe
			cmd = exec.Command(exe)
			cmd.Env = append(os.Environ(), "KSCOPE_POLICY_CONNECT=127.0.0.1:"+strconv.Itoa(port))
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
		pid := run(cmd)
		check("shell-connects-out", pid, func(a map[string]any) bool {
			return a["binary"] == shell && a["destination"] == "127.0.0.1:"+strconv.Itoa(port) && a["outcome"] == "alerted"
		})
	})
	t.Run("shell-from-netcat", func(t *testing.T) {
		pid, code := workloadPID(t, -1, "spawn", sh)
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		// The alert is the shell's: its parent is the workload.
		tested["shell-from-netcat"] = true
		deadline := time.Now().Add(10 * time.Second)
		for {
			var hit map[string]any
			for _, ev := range sink.Events() {
				if f := fields(t, ev); f["rule"] == "shell-from-netcat" && f["ppid"] == float64(pid) {
					hit = f
				}
			}
			if hit != nil {
				if hit["binary"] != sh || asSlice(hit["ancestors"])[0] != exe {
					t.Errorf("alert %v", hit)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no alert")
			}
			sink.WaitFor(50*time.Millisecond, func(event.Event) bool { return false })
		}
	})
	t.Run("passwd-shadow-sudoers-writes", func(t *testing.T) {
		before, err := os.ReadFile("/etc/passwd")
		if errors.Is(err, os.ErrNotExist) {
			// A host without one (the VM runner's): the workload creates it.
			defer os.Remove("/etc/passwd")
		} else if err != nil {
			t.Fatal(err)
		}
		pid, code := workloadPID(t, -1, "openw", "/etc/passwd")
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		check("passwd-shadow-sudoers-writes", pid, func(a map[string]any) bool {
			return a["file"] == "/etc/passwd" && a["binary"] == exe
		})
		if after, _ := os.ReadFile("/etc/passwd"); !bytes.Equal(before, after) {
			t.Error("/etc/passwd changed")
		}
	})
	t.Run("authorized-keys-writes", func(t *testing.T) {
		home := filepath.Join("/home", "kscope-test-"+strconv.Itoa(os.Getpid()))
		if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(home)
		keys := filepath.Join(home, ".ssh", "authorized_keys")
		pid, code := workloadPID(t, -1, "openw", keys)
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		check("authorized-keys-writes", pid, func(a map[string]any) bool {
			return a["file"] == keys && strings.Join(toStrings(a["access"]), ",") == "write,create"
		})
	})
	t.Run("shadow-readers", func(t *testing.T) {
		cat := testutil.Tool(t, "cat", "to read /etc/shadow")
		cmd := exec.Command(cat, "/etc/shadow")
		pid := run(cmd)
		check("shadow-readers", pid, func(a map[string]any) bool { return a["binary"] == cat && a["file"] == "/etc/shadow" })
	})
	t.Run("exec-from-tmp", func(t *testing.T) {
		marker := markerProgram(t)
		for _, dir := range []string{"/tmp", "/dev/shm"} {
			d, err := os.MkdirTemp(dir, "kscope-test-")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(d)
			prog := filepath.Join(d, "prog")
			b, _ := os.ReadFile(marker)
			if err := os.WriteFile(prog, b, 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(prog)
			cmd.Dir = d
			pid := run(cmd)
			check("exec-from-tmp", pid, func(a map[string]any) bool { return a["binary"] == prog })
		}
		// Fileless: the program from a memfd, exec'd by descriptor.
		cwd := t.TempDir()
		exe := testExe(t)
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), "KSCOPE_POLICY_DO=memfd", "KSCOPE_POLICY_ARG="+marker)
		cmd.Dir = cwd
		out, _ := cmd.Output()
		lines := strings.Fields(string(out))
		if len(lines) == 0 {
			t.Fatalf("memfd: output %q", out)
		}
		if _, err := os.Stat(filepath.Join(cwd, "marker")); err != nil {
			t.Errorf("memfd: the program did not run: %v", err)
		}
		check("exec-from-tmp", mustAtoi(t, lines[0]), func(a map[string]any) bool {
			return strings.HasPrefix(a["binary"].(string), "/dev/fd/")
		})
	})
	t.Run("ptrace-attach", func(t *testing.T) {
		pid, _ := workloadPID(t, -1, "ptrace", testutil.Tool(t, "sleep", "to ptrace"))
		check("ptrace-attach", pid, func(a map[string]any) bool { return a["binary"] == exe && a["syscall"] == "ptrace" })
	})
	t.Run("kernel-module-load", func(t *testing.T) {
		tested["kernel-module-load"] = true
		for _, p := range plans {
			if p.Rule.Name == "kernel-module-load" && len(p.Missing) == 2 {
				// A kernel without modules: the rule cannot match, and
				// policy check says so; the VM runner's kernel runs it.
				if d := p.Describe(); !strings.Contains(d, "(the rule cannot match here)") {
					t.Errorf("kernel-module-load's plan on a kernel without init_module and finit_module reads %q", d)
				}
				return
			}
		}
		pid, _ := workloadPID(t, -1, "module_load", "")
		check("kernel-module-load", pid, func(a map[string]any) bool { return a["syscall"] == "finit_module" })
	})
	t.Run("bpf-load", func(t *testing.T) {
		pid, _ := workloadPID(t, -1, "bpf", "")
		check("bpf-load", pid, func(a map[string]any) bool { return a["binary"] == exe })
	})
	t.Run("no-metadata", func(t *testing.T) {
		// The connect workload as nobody, from a copy of the test binary
		// that nobody can run.
		dir, err := os.MkdirTemp("", "kscope-test-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		b, err := os.ReadFile(exe)
		if err != nil {
			t.Fatal(err)
		}
		cp := filepath.Join(dir, "connect")
		if err := os.WriteFile(cp, b, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(cp)
		cmd.Env = append(os.Environ(), "KSCOPE_POLICY_CONNECT=169.254.169.254:80")
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd, Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		pid := run(cmd)
		if code := cmd.ProcessState.ExitCode(); unix.Errno(code) != unix.EPERM {
			t.Errorf("connect as nobody: exit %d, want EPERM", code)
		}
		check("no-metadata", pid, func(a map[string]any) bool {
			return a["outcome"] == "denied" && a["destination"] == "169.254.169.254:80" && a["uid"] == float64(65534)
		})
	})
	t.Run("webserver-runs-setuid", func(t *testing.T) {
		var tool string
		for _, p := range byName["webserver-runs-setuid"].Match.Binary.Path {
			if _, err := os.Stat(p); err == nil {
				tool = p
				break
			}
		}
		if tool == "" {
			testutil.Skip(t, "a setuid-root tool", errors.New("none of the rule's is installed"))
		}
		pid := run(exec.Command(tool, "--version"))
		check("webserver-runs-setuid", pid, func(a map[string]any) bool { return a["binary"] == tool })
	})
	t.Run("nsenter-in-container", func(t *testing.T) {
		nsenter := testutil.Tool(t, "nsenter", "as the container escape")
		// Outside a container, then in one: the alerts come in order, so
		// once the second has come the first would have.
		outside := run(exec.Command(nsenter, "--version"))
		cmd := exec.Command(nsenter, "--version")
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: dfd}
		pid := run(cmd)
		check("nsenter-in-container", pid, func(a map[string]any) bool { return a["binary"] == nsenter })
		for _, ev := range sink.Events() {
			if f := fields(t, ev); f["rule"] == "nsenter-in-container" && f["pid"] == float64(outside) {
				t.Errorf("outside a container: %v", f)
			}
		}
	})
	t.Run("mount-in-container", func(t *testing.T) {
		pid, code := workloadPID(t, dfd, "mount", t.TempDir())
		if code != int(unix.ENODEV) {
			t.Errorf("exit %d, want ENODEV", code)
		}
		check("mount-in-container", pid, func(a map[string]any) bool { return a["syscall"] == "mount" })
	})
	for _, r := range rules {
		if !tested[r.Name] {
			t.Errorf("rule %s has no test", r.Name)
		}
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range asSlice(v) {
		out = append(out, x.(string))
	}
	return out
}
