package container

import (
	"context"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/testutil"
)

// waiterSrc is the containers' program: it waits for its stdin to close
// and exits 3, so the test decides when it ends.
const waiterSrc = `#include <unistd.h>
int main(void) { char b[64]; while (read(0, b, sizeof b) > 0) {} return 3; }
`

// TestResolverRealDocker runs a container from an image imported from a
// local tarball and names its process from the Docker Engine API; a rename
// reaches the cache through the daemon's event stream.
func TestResolverRealDocker(t *testing.T) {
	docker := testutil.Docker(t)
	bin := testutil.BuildC(t, "cc", waiterSrc, "-static", "-O2")
	image := testutil.UniqueName("kscope-test-resolver") + ":1"
	testutil.DockerImage(t, docker, image, map[string]string{"/waiter": bin})
	name := testutil.UniqueName("kscope-resolver")
	testutil.DockerRemove(t, docker, name)
	testutil.DockerRemove(t, docker, name+"-renamed")
	run := exec.Command(docker, "run", "-i", "--rm", "--network", "none", "--name", name, image, "/waiter")
	stdin, err := run.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); run.Wait() }()
	pid := waitRunning(t, docker, name)
	id := testutil.DockerInspect(t, docker, name, "{{.Id}}")

	r := New(Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Watch(ctx)
	want := Info{ID: id, Name: name, Image: image, Runtime: "docker"}
	if got := r.Process(pid, 0); got == nil || *got != want {
		t.Fatalf("pid %d:\n got %+v\nwant %+v", pid, got, want)
	}
	if out, err := exec.Command(docker, "rename", name, name+"-renamed").CombinedOutput(); err != nil {
		t.Fatalf("docker rename: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for r.Process(pid, 0).Name != name+"-renamed" {
		if time.Now().After(deadline) {
			t.Fatalf("still %+v after the rename", r.Process(pid, 0))
		}
		time.Sleep(20 * time.Millisecond)
	}
	stdin.Close()
	if err := run.Wait(); err == nil || run.ProcessState.ExitCode() != 3 {
		t.Errorf("the container exited with %v, want status 3", err)
	}
}

// waitRunning waits for container name to run and returns its process's
// host pid.
func waitRunning(t *testing.T, docker, name string) uint32 {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := exec.Command(docker, "inspect", "-f", "{{.State.Pid}}", name).Output()
		if err == nil {
			if pid, _ := strconv.Atoi(string(trim(out))); pid > 0 {
				return uint32(pid)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s not running after 60s: %v", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func trim(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}
