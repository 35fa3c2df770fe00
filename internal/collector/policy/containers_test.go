package policy

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/policy"
	"github.com/kscope/kscope/internal/testutil"
)

func TestContainerHierarchy(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		hier       uint32
		what       string
	}{
		{"hybrid", "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t3\t2\t1\ncpu\t1\t2\t1\nmemory\t4\t13\t1\npids\t8\t2\t1\n", ctrMemory, "cgroup v1 memory"},
		{"no memory", "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t3\t2\t1\ncpu\t1\t2\t1\nmemory\t0\t13\t1\npids\t8\t2\t1\n", ctrPids, "cgroup v1 pids"},
		{"memory disabled", "cpu\t1\t2\t1\nmemory\t4\t13\t0\n", ctrCPU, "cgroup v1 cpu"},
		{"v2", "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t0\t92\t1\ncpu\t0\t92\t1\nmemory\t0\t92\t1\n", ctrDfl, "cgroup v2"},
		{"empty", "", ctrDfl, "cgroup v2"},
		{"malformed", "memory x y z\n#\n\n", ctrDfl, "cgroup v2"},
	} {
		hier, what := ContainerHierarchy([]byte(tc.data))
		if hier != tc.hier || what != tc.what {
			t.Errorf("%s: %d %q, want %d %q", tc.name, hier, what, tc.hier, tc.what)
		}
	}
}

// waiterSrc is a container's main program: it reads its stdin until it
// closes, so the container runs until it is removed.
const waiterSrc = `#include <unistd.h>
int main(void) { char b[64]; while (read(0, b, sizeof b) > 0) {} return 0; }
`

// ctrEnv is a test's Docker setup: an image holding the waiter, and a
// host directory mounted at the same path in every container, which holds
// the marker program, so that it is one binary at one path everywhere.
type ctrEnv struct {
	docker, image, dir, marker string
}

func newCtrEnv(t *testing.T) *ctrEnv {
	t.Helper()
	requirePolicy(t)
	if runtime.GOARCH != "amd64" {
		testutil.Skip(t, "an x86-64 host (the marker program)", fmt.Errorf("GOARCH %s", runtime.GOARCH))
	}
	e := &ctrEnv{docker: testutil.Docker(t)}
	waiter := testutil.BuildC(t, "cc", waiterSrc, "-static", "-O2")
	e.image = testutil.UniqueName("kscope-test-polctr") + ":1"
	testutil.DockerImage(t, e.docker, e.image, map[string]string{"/waiter": waiter})
	e.dir = t.TempDir()
	if err := os.Chmod(e.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e.marker = filepath.Join(e.dir, "marker-prog")
	b, err := os.ReadFile(markerProgram(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.marker, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return e
}

// create makes a container (started when start is true) and returns its id.
func (e *ctrEnv) create(t *testing.T, name string, start bool) string {
	t.Helper()
	testutil.DockerRemove(t, e.docker, name)
	args := []string{"create", "-i", "--network", "none", "--name", name, "-v", e.dir + ":" + e.dir, e.image, "/waiter"}
	if out, err := exec.Command(e.docker, args...).CombinedOutput(); err != nil {
		t.Fatalf("docker create %s: %v\n%s", name, err, out)
	}
	if start {
		e.start(t, name)
	}
	return testutil.DockerInspect(t, e.docker, name, "{{.Id}}")
}

func (e *ctrEnv) start(t *testing.T, name string) {
	t.Helper()
	if out, err := exec.Command(e.docker, "start", name).CombinedOutput(); err != nil {
		t.Fatalf("docker start %s: %v\n%s", name, err, out)
	}
	waitContainer(t, e.docker, name)
}

// exec runs the marker program in container name (on the host for ""),
// in a new directory of the shared one, and reports whether it was
// killed by SIGKILL and whether it wrote its marker.
func (e *ctrEnv) exec(t *testing.T, name string) (killed, marker bool) {
	t.Helper()
	wd, err := os.MkdirTemp(e.dir, "wd-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(wd, 0o777); err != nil {
		t.Fatal(err)
	}
	var cmd *exec.Cmd
	if name == "" {
		cmd = exec.Command(e.marker)
		cmd.Dir = wd
	} else {
		cmd = exec.Command(e.docker, "exec", "-w", wd, name, e.marker)
	}
	out, err := cmd.CombinedOutput()
	code := cmd.ProcessState.ExitCode()
	_, serr := os.Stat(filepath.Join(wd, "marker"))
	if name == "" {
		killed = cmd.ProcessState.String() == "signal: killed"
	} else {
		// docker exec exits 128 + the signal that ended the program.
		killed = code == 137
		if err != nil && code != 137 {
			t.Fatalf("docker exec in %s: %v\n%s", name, err, out)
		}
	}
	return killed, serr == nil
}

// TestContainerKillDocker: kill rules on exec with container selectors
// run in the kernel: the marker program exec'd in a container the rule
// names (by name, by id prefix, by the id of a container created before
// the policy and started after, by the name of a container created after
// it) dies before its first instruction, while the same binary on the host
// and in a container of an audit rule runs, and the audit rule alerts
// once.
func TestContainerKillDocker(t *testing.T) {
	e := newCtrEnv(t)
	a, b, c := testutil.UniqueName("kscope-polctr-a"), testutil.UniqueName("kscope-polctr-b"), testutil.UniqueName("kscope-polctr-c")
	d, late := testutil.UniqueName("kscope-polctr-d"), testutil.UniqueName("kscope-polctr-late")
	e.create(t, a, true)
	idB := e.create(t, b, true)
	e.create(t, c, true)
	idD := e.create(t, d, false)
	plans := rulesOf(t, fmt.Sprintf(`rules:
  - {name: by-name, on: exec, action: kill, match: {container: [%[2]s], binary: {path: [%[1]s]}}}
  - {name: by-id, on: exec, action: kill, match: {container: [%[3]s], binary: {path: [%[1]s]}}}
  - {name: audit, on: exec, action: kill, mode: audit, match: {container: [%[4]s], binary: {path: [%[1]s]}}}
  - {name: later-id, on: exec, action: kill, match: {container: [%[5]s], binary: {path: [%[1]s]}}}
  - {name: later-name, on: exec, action: kill, match: {container: [%[6]s], binary: {path: [%[1]s]}}}
`, e.marker, a, idB[:12], c, idD, late), false)
	for _, p := range plans {
		if p.Stage != "kernel" || (p.Enforce && p.Action != "kill") {
			t.Fatalf("plan: %s", p.Describe())
		}
	}
	col, sink := start(t, Config{Plans: plans})

	check := func(name, where string, wantKilled bool) {
		t.Helper()
		killed, marker := e.exec(t, name)
		if killed != wantKilled || marker == wantKilled {
			t.Errorf("%s: killed %v, marker written %v; want killed %v", where, killed, marker, wantKilled)
		}
	}
	check("", "on the host", false)
	check(a, "in the container named by name", true)
	check(b, "in the container named by id prefix", true)
	check(c, "in the audit rule's container", false)
	// A container created before the policy, started after it: its id
	// was in the kernel's table from the start.
	e.start(t, d)
	check(d, "in the container started after the policy", true)
	// A container created after the policy: its name resolves to its id
	// on Docker's create event (or the next poll).
	idLate := e.create(t, late, true)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, ok := col.containerEntries()[idLate]; ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s (%s) not in the kernel's table after 30s: %v", late, idLate, col.containerEntries())
		}
		time.Sleep(20 * time.Millisecond)
	}
	check(late, "in the container created after the policy", true)

	want := map[string]string{"by-name": "killed", "by-id": "killed", "audit": "would kill", "later-id": "killed", "later-name": "killed"}
	for i, p := range plans {
		alerts := alertsOf(t, sink, p.Rule.Name, 1)
		if len(alerts) != 1 {
			t.Errorf("%s: %d alerts, want 1: %v", p.Rule.Name, len(alerts), alerts)
			continue
		}
		if al := alerts[0]; al["outcome"] != want[p.Rule.Name] || al["binary"] != e.marker || al["action"] != "kill" {
			t.Errorf("%s: alert %v, want outcome %q on %s", p.Rule.Name, al, want[p.Rule.Name], e.marker)
		}
		if n := col.Counts()[i]; n != 1 {
			t.Errorf("%s: %d matches, want 1", p.Rule.Name, n)
		}
	}
	if n := col.ContainersDropped(); n != 0 {
		t.Errorf("%d containers dropped", n)
	}
	for _, ev := range sink.Events() {
		if f := fields(t, ev); want[fmt.Sprint(f["rule"])] == "" {
			t.Errorf("unexpected alert %v", f)
		}
	}
}

// TestContainerTableDocker: the kernel's table holds the selectors' ids
// and prefixes as given and the resolved ids of the named containers,
// each with its rules, and a removed container's entry goes.
func TestContainerTableDocker(t *testing.T) {
	e := newCtrEnv(t)
	a := testutil.UniqueName("kscope-polctr-t")
	id := e.create(t, a, true)
	plans := rulesOf(t, fmt.Sprintf(`rules:
  - {name: n, on: exec, action: alert, match: {container: [%[1]s]}}
  - {name: p, on: exec, action: alert, match: {container: [%[2]s, 0123456789ab]}}
`, a, id[:16]), false)
	col, _ := start(t, Config{Plans: plans})
	var n, p policy.Bits
	n.Set(0)
	p.Set(1)
	got := col.containerEntries()
	want := map[string]policy.Masks{id: {Pos: n.Or(p)}, id[:16]: {Pos: p}, "0123456789ab": {Pos: p}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("table %v, want %v", got, want)
	}
	if out, err := exec.Command(e.docker, "rm", "-f", a).CombinedOutput(); err != nil {
		t.Fatalf("docker rm: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, ok := col.containerEntries()[id]; !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("removed container %s still in the table after 30s", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := col.containerEntries(); len(got) != 2 {
		t.Errorf("after the removal: %v, want the two prefixes", got)
	}
}

// ctrHierarchyDir returns the mount of the hierarchy whose cgroup names
// container selectors read on this host, as ContainerHierarchy picks it.
func ctrHierarchyDir(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("/proc/cgroups")
	if err != nil {
		t.Fatal(err)
	}
	hier, what := ContainerHierarchy(data)
	if hier == ctrDfl {
		root := CgroupRoot()
		if root == "" {
			testutil.Skip(t, "a cgroup hierarchy", errors.New("no cgroup2 mount and no v1 controller"))
		}
		return root
	}
	ctrl := strings.TrimPrefix(what, "cgroup v1 ")
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mi), "\n") {
		// ID PARENT MAJ:MIN ROOT MOUNT OPTS [TAGS…] - TYPE SOURCE SUPEROPTS
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 || g[0] != "cgroup" || f[3] != "/" {
			continue
		}
		if slices.Contains(strings.Split(g[2], ","), ctrl) {
			return f[4]
		}
	}
	testutil.Skip(t, "a mount of the cgroup v1 "+ctrl+" hierarchy", errors.New("not in mountinfo"))
	return ""
}

// fakeID is a container id no runtime has: 64 hex digits from the test's
// pid and n.
func fakeID(n int) string {
	return fmt.Sprintf("%08x%02x", os.Getpid(), n) + strings.Repeat("e", 54)
}

// TestContainerCgroupKill: without a container runtime, in cgroups the
// test makes and names as runtimes do (in the hierarchy container
// selectors read): the marker program exec'd in docker-<id>.scope and in a
// bare <id> dies before its first instruction (or, where BPF LSM works,
// a deny rule fails its execve with EPERM); in crio-conmon-<id>.scope (a
// runtime's monitor, not a container) and in the test's own cgroup it runs.
func TestContainerCgroupKill(t *testing.T) {
	requirePolicy(t)
	if runtime.GOARCH != "amd64" {
		testutil.Skip(t, "an x86-64 host (the marker program)", fmt.Errorf("GOARCH %s", runtime.GOARCH))
	}
	base := filepath.Join(ctrHierarchyDir(t), testutil.UniqueName("kscope-test-ctr"))
	if err := os.Mkdir(base, 0o755); err != nil {
		t.Fatal(err)
	}
	scope, bare, conmon := fakeID(1), fakeID(2), fakeID(3)
	dirs := map[string]string{
		"scope":  filepath.Join(base, "docker-"+scope+".scope"),
		"bare":   filepath.Join(base, "docker", bare),
		"conmon": filepath.Join(base, "crio-conmon-"+conmon+".scope"),
	}
	t.Cleanup(func() {
		for _, d := range []string{dirs["scope"], dirs["bare"], filepath.Dir(dirs["bare"]), dirs["conmon"], base} {
			// A cgroup whose last process has just been reaped can be
			// busy for a moment.
			deadline := time.Now().Add(10 * time.Second)
			for err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist); err = os.Remove(d) {
				if time.Now().After(deadline) {
					t.Errorf("removing %s: %v", d, err)
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	for _, d := range []string{dirs["scope"], dirs["bare"], dirs["conmon"]} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	marker := markerProgram(t)
	for _, action := range []string{"kill", "deny"} {
		t.Run(action, func(t *testing.T) {
			plans := rulesOf(t, fmt.Sprintf(`rules:
  - {name: scope, on: exec, action: %[1]s, match: {container: [%[3]s], binary: {path: [%[2]s]}}}
  - {name: bare, on: exec, action: %[1]s, match: {container: [%[4]s], binary: {path: [%[2]s]}}}
  - {name: conmon, on: exec, action: %[1]s, match: {container: [%[5]s], binary: {path: [%[2]s]}}}
`, action, marker, scope[:12], bare, conmon), false)
			lsm := plans[0].LSM()
			col, sink := start(t, Config{Plans: plans})
			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			runIn := func(dir string) (code int, sig syscall.Signal, marked bool) {
				t.Helper()
				wd := t.TempDir()
				cmd := exec.Command(marker)
				if dir != "" {
					cmd = exec.Command(exe)
					cmd.Env = append(os.Environ(), "KSCOPE_POLICY_DO=cgexec", "KSCOPE_POLICY_ARG="+filepath.Join(dir, "cgroup.procs")+"|"+marker)
				}
				cmd.Dir = wd
				err := cmd.Run()
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
						sig = ws.Signal()
					}
					code = ee.ExitCode()
				} else if err != nil {
					t.Fatal(err)
				}
				_, serr := os.Stat(filepath.Join(wd, "marker"))
				return code, sig, serr == nil
			}
			for _, tc := range []struct {
				where, dir string
				stopped    bool
			}{{"host", "", false}, {"scope", dirs["scope"], true}, {"bare", dirs["bare"], true}, {"conmon", dirs["conmon"], false}} {
				code, sig, marked := runIn(tc.dir)
				switch {
				case !tc.stopped && (code != 0 || sig != 0 || !marked):
					t.Errorf("%s: exit %d signal %v marker %v; want it to run", tc.where, code, sig, marked)
				case tc.stopped && lsm && (code != int(unix.EPERM) || marked):
					t.Errorf("%s: exit %d signal %v marker %v; want the execve to fail with EPERM", tc.where, code, sig, marked)
				case tc.stopped && !lsm && (sig != syscall.SIGKILL || marked):
					t.Errorf("%s: exit %d signal %v marker %v; want SIGKILL before the first instruction", tc.where, code, sig, marked)
				}
			}
			want := "killed"
			if lsm {
				want = "denied"
			}
			for i, p := range plans {
				n := 1
				if p.Rule.Name == "conmon" {
					n = 0
				}
				alerts := alertsOf(t, sink, p.Rule.Name, n)
				if len(alerts) != n || n == 1 && (alerts[0]["outcome"] != want || alerts[0]["binary"] != marker) {
					t.Errorf("%s: alerts %v, want %d with outcome %s", p.Rule.Name, alerts, n, want)
				}
				if got := col.Counts()[i]; got != uint64(n) {
					t.Errorf("%s: %d matches, want %d", p.Rule.Name, got, n)
				}
			}
		})
	}
}
