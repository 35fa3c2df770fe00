package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/testutil"
)

// waiterSrc waits for its stdin to close and exits 3.
const waiterSrc = `#include <unistd.h>
int main(void) { char b[64]; while (read(0, b, sizeof b) > 0) {} return 3; }
`

// kscope trace --container shows the events of that container's processes
// only, with its id, name and image: a process of the same name on the
// host, run first, is not shown.
func TestTraceContainerFilter(t *testing.T) {
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
