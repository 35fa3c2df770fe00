package policy

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/testutil"
)

// run runs a command and returns its pid; its exit status does not
// matter (cat of a file that does not exist fails, after its open).
func run(t *testing.T, name string, args ...string) int {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Run()
	if cmd.Process == nil {
		t.Fatalf("%s %v did not start", name, args)
	}
	return cmd.Process.Pid
}

// runSelf runs the test binary's workload do (which execs cat) and returns
// its pid.
func runSelf(t *testing.T, do, arg string) int {
	t.Helper()
	cmd := exec.Command(testExe(t))
	cmd.Env = append(os.Environ(), "KSCOPE_POLICY_DO="+do, "KSCOPE_POLICY_ARG="+arg)
	cmd.Run()
	if cmd.Process == nil {
		t.Fatalf("workload %s did not start", do)
	}
	return cmd.Process.Pid
}

// waitAlert waits up to a deadline for rule's alert on file: every
// workload's open comes before the last one's in the ring buffer, so once
// the last one's alert is there every alert is.
func waitAlert(t *testing.T, sink *testutil.Capture, rule, file string) {
	t.Helper()
	if len(alertsWhere(t, sink, func(a map[string]any) bool { return a["rule"] == rule && a["file"] == file })) == 0 {
		t.Fatalf("%s: no alert on %s", rule, file)
	}
}

// filesOf maps the files of a rule's alerts so far to the alerts.
func filesOf(t *testing.T, sink *testutil.Capture, rule string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, ev := range sink.Events() {
		if a := fields(t, ev); a["rule"] == rule {
			out[a["file"].(string)] = a
		}
	}
	return out
}

func keys(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestCredentialSelectors: euid, gid, comm's not_name and capability are
// matched in the kernel on processes whose credentials the test binary
// changed before it exec'd cat,
// and each alert carries the credentials the offline matcher agrees with.
func TestCredentialSelectors(t *testing.T) {
	requirePolicy(t)
	cat := testutil.Tool(t, "cat", "as the workload")
	head := testutil.Tool(t, "head", "as the workload")
	dir := "/nonexistent-kscope-" + strconv.Itoa(os.Getpid()) + "/"
	plans := rulesOf(t, fmt.Sprintf(`rules:
  - {name: euid-1234, on: open, action: alert, match: {file: {prefix: [%[1]s]}, user: {euid: [1234]}}}
  - {name: gid-4321, on: open, action: alert, match: {file: {prefix: [%[1]s]}, user: {gid: [4321]}}}
  - {name: euid-1235, on: open, action: alert, match: {file: {prefix: [%[1]s]}, user: {euid: [1235]}}}
  - {name: sys-admin, on: open, action: alert, match: {file: {prefix: [%[1]s]}, capability: [CAP_SYS_ADMIN]}}
  - {name: not-cat, on: open, action: alert, match: {file: {prefix: [%[1]s]}, comm: {not_name: [cat]}}}
`, dir), false)
	c, sink := start(t, Config{Plans: plans})
	// a: real uid 0, effective 1234, gid 4321: root's capabilities are
	// not effective for a non-root euid. b: root with every capability.
	// c: root without CAP_SYS_ADMIN in its bounding set, so not in its
	// effective set. d: head, not cat, as root.
	pa := runSelf(t, "euidcat", dir+"a")
	pb := run(t, cat, dir+"b")
	runSelf(t, "nosysadmincat", dir+"c")
	pd := run(t, head, dir+"d")
	want := map[string][]string{
		"euid-1234": {dir + "a"},
		"gid-4321":  {dir + "a"},
		"euid-1235": nil,
		"sys-admin": {dir + "b", dir + "d"},
		"not-cat":   {dir + "d"},
	}
	// Every rule's alerts are in once not-cat's on d is: the opens ran in
	// order and d's came last.
	waitAlert(t, sink, "not-cat", dir+"d")
	for i, p := range plans {
		got := filesOf(t, sink, p.Rule.Name)
		if !slices.Equal(keys(got), want[p.Rule.Name]) {
			t.Errorf("%s: alerts on %v, want %v", p.Rule.Name, keys(got), want[p.Rule.Name])
		}
		if n := c.Counts()[i]; n != uint64(len(want[p.Rule.Name])) {
			t.Errorf("%s: %d matches, want %d", p.Rule.Name, n, len(want[p.Rule.Name]))
		}
		for _, a := range got {
			checkOffline(t, p.Rule, a, true)
		}
	}
	a := filesOf(t, sink, "euid-1234")[dir+"a"]
	if a == nil || a["pid"] != float64(pa) || a["uid"] != float64(0) || a["euid"] != float64(1234) || a["gid"] != float64(4321) || a["caps"] != nil {
		t.Errorf("euid-1234: alert %v, want pid %d uid 0 euid 1234 gid 4321 and no capabilities", a, pa)
	}
	b := filesOf(t, sink, "sys-admin")[dir+"b"]
	if b == nil || b["pid"] != float64(pb) || b["euid"] != float64(0) || !slices.Contains(asSlice(b["caps"]), any("CAP_SYS_ADMIN")) {
		t.Errorf("sys-admin: alert %v, want pid %d euid 0 with CAP_SYS_ADMIN", b, pb)
	}
	// The rule's negative: c's capabilities, without CAP_SYS_ADMIN.
	d := filesOf(t, sink, "not-cat")[dir+"d"]
	if d == nil || d["pid"] != float64(pd) || d["comm"] != "head" {
		t.Errorf("not-cat: alert %v, want pid %d comm head", d, pd)
	}
}

// TestNamespaceSelector: namespace not_host matches a process in a
// namespace of its own (unshare) and not one in the host's.
func TestNamespaceSelector(t *testing.T) {
	requirePolicy(t)
	unshare := testutil.Tool(t, "unshare", "to start workloads in new namespaces")
	cat := testutil.Tool(t, "cat", "as the workload")
	dir := "/nonexistent-kscope-ns-" + strconv.Itoa(os.Getpid()) + "/"
	plans := rulesOf(t, fmt.Sprintf(`rules:
  - {name: not-host-net, on: open, action: alert, match: {file: {prefix: [%[1]s]}, namespace: {not_host: [net]}}}
  - {name: not-host-pid-or-uts, on: open, action: alert, match: {file: {prefix: [%[1]s]}, namespace: {not_host: [pid, uts]}}}
`, dir), false)
	c, sink := start(t, Config{Plans: plans})
	run(t, cat, dir+"host")
	pn := run(t, unshare, "--net", cat, dir+"net")
	run(t, unshare, "--pid", "--fork", cat, dir+"pid")
	run(t, unshare, "--uts", "--net", cat, dir+"uts-net")
	want := map[string][]string{
		"not-host-net":        {dir + "net", dir + "uts-net"},
		"not-host-pid-or-uts": {dir + "pid", dir + "uts-net"},
	}
	waitAlert(t, sink, "not-host-net", dir+"uts-net")
	for i, p := range plans {
		got := filesOf(t, sink, p.Rule.Name)
		if !slices.Equal(keys(got), want[p.Rule.Name]) {
			t.Errorf("%s: alerts on %v, want %v", p.Rule.Name, keys(got), want[p.Rule.Name])
		}
		if n := c.Counts()[i]; n != uint64(len(want[p.Rule.Name])) {
			t.Errorf("%s: %d matches, want %d", p.Rule.Name, n, len(want[p.Rule.Name]))
		}
		for _, a := range got {
			checkOffline(t, p.Rule, a, true)
		}
	}
	a := filesOf(t, sink, "not-host-net")
	if n := a[dir+"net"]; n == nil || n["pid"] != float64(pn) || fmt.Sprint(n["namespaces"]) != "[net]" {
		t.Errorf("net: alert %v, want pid %d namespaces [net]", n, pn)
	}
	if n := a[dir+"uts-net"]; n == nil || fmt.Sprint(n["namespaces"]) != "[net uts]" {
		t.Errorf("uts-net: alert %v, want namespaces [net uts]", n)
	}
	if p := filesOf(t, sink, "not-host-pid-or-uts")[dir+"pid"]; p == nil || fmt.Sprint(p["namespaces"]) != "[pid]" {
		t.Errorf("pid: alert %v, want namespaces [pid]", p)
	}
}

// TestPortRangeSelector: a connect deny on a port range, with a hole
// (not_ports) and a protocol, in the kernel's port trie. Nothing listens on
// the ports: a connect let through is refused (or, were something to
// listen, succeeds); a denied one gets EPERM.
func TestPortRangeSelector(t *testing.T) {
	requirePolicy(t)
	if err := bpfx.ProbeFeature(bpfx.FeatCgroupSockAddr); err != nil {
		testutil.Skip(t, "cgroup sock_addr programs", err)
	}
	cg, fd := testCgroup(t)
	plans := rulesOf(t, `rules:
  - {name: range, on: connect, action: deny, match: {destination: {cidr: [127.0.0.0/8], ports: [3100-3199], not_ports: [3150-3151], protocol: tcp}}}
  - {name: udp-only, on: connect, action: deny, match: {destination: {ports: [3100-3199], protocol: udp}}}
`, false)
	c, sink := start(t, Config{Plans: plans, Cgroup: cg})
	for _, tc := range []struct {
		port   int
		denied bool
	}{
		{3099, false}, {3100, true}, {3127, true}, {3149, true}, {3150, false}, {3151, false}, {3152, true}, {3199, true}, {3200, false},
	} {
		got := connectIn(t, fd, tc.port)
		if tc.denied && got != unix.EPERM {
			t.Errorf("port %d: errno %d (%v), want EPERM", tc.port, got, got)
		}
		if !tc.denied && got != unix.ECONNREFUSED && got != 0 {
			t.Errorf("port %d: errno %d (%v), want ECONNREFUSED (let through)", tc.port, got, got)
		}
	}
	alerts := alertsOf(t, sink, "range", 5)
	var dests []string
	for _, a := range alerts {
		dests = append(dests, a["destination"].(string))
		if a["outcome"] != "denied" {
			t.Errorf("alert %v: want outcome denied", a)
		}
		checkOffline(t, plans[0].Rule, a, true)
	}
	if want := "[127.0.0.1:3100 127.0.0.1:3127 127.0.0.1:3149 127.0.0.1:3152 127.0.0.1:3199]"; fmt.Sprint(dests) != want {
		t.Errorf("alerts on %v, want %s", dests, want)
	}
	if got := c.Counts(); got[0] != 5 || got[1] != 0 {
		t.Errorf("matches %v, want [5 0]", got)
	}
}

// openerSrc is the container's program: it waits for a line on stdin,
// opens argv[1] (which need not exist), then waits for stdin to close, so
// the process lives while its alert is resolved.
const openerSrc = `#include <fcntl.h>
#include <unistd.h>
int main(int argc, char **argv) {
	char b[64];
	if (argc < 2 || read(0, b, sizeof b) <= 0) return 2;
	open(argv[1], O_RDONLY);
	while (read(0, b, sizeof b) > 0) {}
	return 0;
}
`

// TestContainerSelectorDocker: container: [NAME] and [ID prefix] match a
// process in a Docker container (in the kernel, from its cgroup's name)
// and not a process on the host; each alert names the container (from
// its cgroups and the Docker Engine's name for it).
func TestContainerSelectorDocker(t *testing.T) {
	requirePolicy(t)
	docker := testutil.Docker(t)
	cat := testutil.Tool(t, "cat", "as the host's workload")
	bin := testutil.BuildC(t, "cc", openerSrc, "-static", "-O2")
	image := testutil.UniqueName("kscope-test-policy") + ":1"
	testutil.DockerImage(t, docker, image, map[string]string{"/opener": bin})
	name := testutil.UniqueName("kscope-policy")
	testutil.DockerRemove(t, docker, name)
	dir := "/nonexistent-kscope-ctr-" + strconv.Itoa(os.Getpid()) + "/"
	run := exec.Command(docker, "run", "-i", "--rm", "--network", "none", "--name", name, image, "/opener", dir+"in")
	stdin, err := run.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); run.Wait() }()
	pid := waitContainer(t, docker, name)
	id := testutil.DockerInspect(t, docker, name, "{{.Id}}")
	plans := rulesOf(t, fmt.Sprintf(`rules:
  - {name: by-name, on: open, action: alert, match: {file: {prefix: [%[1]s]}, container: [%[2]s]}}
  - {name: by-id, on: open, action: alert, match: {file: {prefix: [%[1]s]}, container: [other, %[3]s]}}
  - {name: other, on: open, action: alert, match: {file: {prefix: [%[1]s]}, container: [%[2]s-not]}}
`, dir, name, id[:12]), false)
	if plans[0].Stage != "kernel" || !strings.Contains(plans[0].Describe(), "; container: matched in the kernel") {
		t.Errorf("plan: %s", plans[0].Describe())
	}
	c, sink := start(t, Config{Plans: plans})
	run0 := exec.Command(cat, dir+"host")
	run0.Run()
	if _, err := stdin.Write([]byte("open\n")); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, sink, "by-name", dir+"in")
	// by-id's alert comes from the same record as by-name's.
	for i, p := range plans {
		got := filesOf(t, sink, p.Rule.Name)
		want := []string{dir + "in"}
		if p.Rule.Name == "other" {
			want = nil
		}
		if !slices.Equal(keys(got), want) {
			t.Errorf("%s: alerts on %v, want %v", p.Rule.Name, keys(got), want)
		}
		if n := c.Counts()[i]; n != uint64(len(want)) {
			t.Errorf("%s: %d matches, want %d", p.Rule.Name, n, len(want))
		}
		for _, a := range got {
			if a["pid"] != float64(pid) || a["container"] != name || a["container_id"] != id || a["outcome"] != "alerted" {
				t.Errorf("%s: alert %v, want pid %d container %s id %s", p.Rule.Name, a, pid, name, id)
			}
			checkOffline(t, p.Rule, a, true)
			checkOffline(t, plans[2].Rule, a, false)
		}
	}
}

// waitContainer waits for container name to run and returns its process's
// host pid.
func waitContainer(t *testing.T, docker, name string) int {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := exec.Command(docker, "inspect", "-f", "{{.State.Pid}}", name).Output()
		if err == nil {
			if pid, _ := strconv.Atoi(strings.TrimSpace(string(out))); pid > 0 {
				return pid
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s not running after 60s: %v", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCommSelectorPadded: a comm selector matches a short comm opened
// right after a longer one on the same CPU. The kernel's comms key is all
// 16 bytes, and older kernels' bpf_get_current_comm (Debian's 6.1) leaves
// the per-CPU record's previous bytes after the NUL: without padding, cat
// after the test binary was "cat\0" and the rest of the test binary's name.
func TestCommSelectorPadded(t *testing.T) {
	requirePolicy(t)
	cat := testutil.Tool(t, "cat", "as the workload")
	dir := "/nonexistent-kscope-pad-" + strconv.Itoa(os.Getpid()) + "/"
	plans := rulesOf(t, fmt.Sprintf(`rules:
  - {name: cat, on: open, action: alert, match: {file: {prefix: [%[1]s]}, comm: {name: [cat]}}}
  - {name: not-cat, on: open, action: alert, match: {file: {prefix: [%[1]s]}, comm: {not_name: [cat]}}}
`, dir), false)
	c, sink := start(t, Config{Plans: plans})
	// Both workloads on one CPU: they inherit this thread's affinity.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var orig, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &orig); err != nil {
		t.Fatal(err)
	}
	for cpu := range 1024 {
		if orig.IsSet(cpu) {
			one.Set(cpu)
			break
		}
	}
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		t.Fatal(err)
	}
	defer unix.SchedSetaffinity(0, &orig)
	runWorkload(t, -1, "read", dir+"long")
	pc := run(t, cat, dir+"short")
	waitAlert(t, sink, "cat", dir+"short")
	a := filesOf(t, sink, "cat")[dir+"short"]
	if a["pid"] != float64(pc) || a["comm"] != "cat" {
		t.Errorf("cat: alert %v, want pid %d comm cat", a, pc)
	}
	if got := keys(filesOf(t, sink, "not-cat")); !slices.Equal(got, []string{dir + "long"}) {
		t.Errorf("not-cat: alerts on %v, want [%slong]", got, dir)
	}
	if got := c.Counts(); got[0] != 1 || got[1] != 1 {
		t.Errorf("matches %v, want [1 1]", got)
	}
}
