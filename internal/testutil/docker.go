package testutil

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Docker returns the docker command, with a Docker daemon answering it.
// A daemon that is not running is started as .ci/run starts it (without
// touching the host's network: no bridge, no iptables rules; containers
// run with --network none) and left running for the tests after this one.
// No docker or dockerd skips the test naming it (a failure in CI).
func Docker(t testing.TB) string {
	t.Helper()
	RequireRoot(t, "to run containers")
	docker := Tool(t, "docker", "to run containers")
	if exec.Command(docker, "info").Run() == nil {
		return docker
	}
	dockerd := Tool(t, "dockerd", "to run containers")
	log, err := os.OpenFile(filepath.Join(os.TempDir(), "kscope-dockerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(dockerd, DockerdArgs...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		Skip(t, "dockerd (to run containers)", err)
	}
	// left running on purpose: the daemon outlives this test binary
	_ = cmd.Process.Release()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := exec.Command(docker, "info").Run()
		if err == nil {
			return docker
		}
		if time.Now().After(deadline) {
			Skip(t, "dockerd (to run containers; see "+log.Name()+")", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// DockerdArgs are the flags the tests and .ci/run start dockerd with: no
// bridge and no iptables rules, so that the host's network, which other
// tests change, is left alone.
var DockerdArgs = []string{"--iptables=false", "--ip6tables=false", "--bridge=none"}

// DockerImage imports an image named name (repository:tag) whose root file
// system holds the given files (path in the image → host path, mode kept)
// with `docker import` of a tarball made here: no registry is needed. The
// image is removed when the test ends.
func DockerImage(t testing.TB, docker, name string, files map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for dst, src := range files {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(src)
		if err != nil {
			t.Fatal(err)
		}
		hdr := &tar.Header{Name: strings.TrimPrefix(dst, "/"), Mode: int64(fi.Mode().Perm()), Size: int64(len(data)), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(docker, "import", "-", name)
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(docker, "rmi", "-f", name).CombinedOutput(); err != nil {
			t.Errorf("docker rmi %s: %v\n%s", name, err, out)
		}
	})
}

// DockerRemove removes container name (running or not) when the test ends.
func DockerRemove(t testing.TB, docker, name string) {
	t.Helper()
	t.Cleanup(func() {
		out, err := exec.Command(docker, "rm", "-f", name).CombinedOutput()
		if err != nil && !bytes.Contains(out, []byte("No such container")) {
			t.Errorf("docker rm %s: %v\n%s", name, err, out)
		}
	})
}

// DockerInspect returns a Go template's value for a container, e.g.
// "{{.Id}}".
func DockerInspect(t testing.TB, docker, name, format string) string {
	t.Helper()
	out, err := exec.Command(docker, "inspect", "-f", format, name).Output()
	if err != nil {
		t.Fatalf("docker inspect %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// UniqueName returns prefix with the test process's pid and a counter, for
// names of containers and images that parallel tests must not share.
func UniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), uniq.Add(1))
}

var uniq atomic.Int64
