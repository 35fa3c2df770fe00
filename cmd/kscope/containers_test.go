package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/testutil"
)

// waiterSrc waits for its stdin to close and exits 3.
const waiterSrc = `#include <unistd.h>
int main(void) { char b[64]; while (read(0, b, sizeof b) > 0) {} return 3; }
`

// spinnerSrc runs, busy, until its stdin closes, then exits 3.
const spinnerSrc = `#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
int main(void) {
	char b[64];
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	for (;;) {
		ssize_t n = read(0, b, sizeof b);
		if (n == 0) return 3;
		if (n < 0 && errno != EAGAIN) return 4;
	}
}
`

// runContainer runs program (a static binary) as /prog in a new container
// of an image imported for it, and returns the container's name and its
// process's host pid. The container ends when the test does.
func runContainer(t *testing.T, docker, program string) (name string, pid int) {
	t.Helper()
	image := testutil.UniqueName("kscope-test-cli") + ":1"
	testutil.DockerImage(t, docker, image, map[string]string{"/prog": program})
	name = testutil.UniqueName("kscope-cli")
	testutil.DockerRemove(t, docker, name)
	run := exec.Command(docker, "run", "-i", "--rm", "--network", "none", "--name", name, image, "/prog")
	stdin, err := run.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); run.Wait() })
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out, err := exec.Command(docker, "inspect", "-f", "{{.State.Pid}}", name).Output()
		if pid, _ = strconv.Atoi(strings.TrimSpace(string(out))); err == nil && pid > 0 {
			return name, pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s not running after 60s: %v", name, err)
		}
	}
}

// topRows returns the rows of kscope top --once's table.
func topRows(out string) [][]string {
	var rows [][]string
	table := false
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if table {
			rows = append(rows, strings.Fields(l))
		}
		table = table || columnTitles.MatchString(l)
	}
	return rows
}

// kscope top --container shows the container's process only: standalone,
// from /proc, and through an agent, from its series' labels.
func TestTopContainerFilterDocker(t *testing.T) {
	testutil.RequireBPF(t)
	docker := testutil.Docker(t)
	bin := testutil.BuildC(t, "cc", spinnerSrc, "-static", "-O2")
	name, pid := runContainer(t, docker, bin)
	want := func(out string) error {
		rows := topRows(out)
		if len(rows) != 1 || len(rows[0]) < 4 || rows[0][0] != strconv.Itoa(pid) || rows[0][3] != "prog" {
			return fmt.Errorf("want one row, pid %d comm prog:\n%s", pid, out)
		}
		return nil
	}
	code, out, errOut := topCLI(t, []string{"KSCOPE_SERVER="}, "--once", "--interval", "500ms", "--container", name)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if err := want(out); err != nil {
		t.Errorf("standalone: %v", err)
	}
	if code, out, _ := topCLI(t, []string{"KSCOPE_SERVER="}, "--once", "--interval", "500ms", "--container", name+"-not"); code != 0 || len(topRows(out)) != 0 {
		t.Errorf("standalone, another container: exit %d, want no rows:\n%s", code, out)
	}

	a := startAgent(t, t.TempDir())
	eventually(t, "the container's process through the agent", func() error {
		code, out, errOut := topCLI(t, nil, "--once", "--server", a.url, "--container", name)
		if code != 0 {
			return fmt.Errorf("exit %d: %s", code, errOut)
		}
		return want(out)
	})
	a.stop(t)
}

// kscope trace --container shows the events of that container's processes
// only, with its id, name and image: a process of the same name on the
// host, run first, is not shown.
func TestTraceContainerFilterDocker(t *testing.T) {
	docker := testutil.Docker(t)
	bin := testutil.BuildC(t, "cc", waiterSrc, "-static", "-O2")
	image := testutil.UniqueName("kscope-test-trace") + ":1"
	testutil.DockerImage(t, docker, image, map[string]string{"/waiter": bin})
	name := testutil.UniqueName("kscope-trace")
	testutil.DockerRemove(t, docker, name)

	cmd, stdout, stderr := startTrace(t, "exec", "--json", "--comm", "waiter", "--container", name, "--count", "1")
	// the host's waiter: its stdin is empty, it exits at once
	hostWaiter := filepath.Join(filepath.Dir(bin), "waiter")
	if out, err := exec.Command("cp", bin, hostWaiter).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	if err := exec.Command(hostWaiter).Run(); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("the host's waiter: %v, want exit status 3", err)
	}
	run := exec.Command(docker, "run", "-i", "--rm", "--network", "none", "--name", name, image, "/waiter")
	stdin, err := run.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); run.Wait() }()
	waitExit(t, cmd, stderr)
	id := testutil.DockerInspect(t, docker, name, "{{.Id}}")

	var ev map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(stdout.String())), &ev); err != nil {
		t.Fatalf("not one JSON object: %q: %v", stdout.String(), err)
	}
	if ev["filename"] != "/waiter" || ev["container_id"] != id || ev["container_name"] != name || ev["image"] != image {
		t.Errorf("event %v, want the exec of /waiter in container %s (%s, image %s)", ev, name, id, image)
	}
	if !strings.Contains(stderr.String(), "1 events shown") || !regexp.MustCompile(`\n[1-9][0-9]* events of other containers, pods or units not shown`).MatchString(stderr.String()) {
		t.Errorf("summary: want 1 shown and the host's exec not shown: %s", stderr.String())
	}
}
