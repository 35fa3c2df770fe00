package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// pidMu keeps this test binary's own forks from racing for a forced pid.
var pidMu sync.Mutex

const (
	nsLastPID = "/proc/sys/kernel/ns_last_pid"
	pidMax    = "/proc/sys/kernel/pid_max"
)

// FreePID returns a pid no process has now, a little above the last one
// the kernel handed out, for StartWithPID.
func FreePID(t testing.TB) int {
	t.Helper()
	last, err := readInt(nsLastPID)
	if err != nil {
		Skip(t, nsLastPID, err)
	}
	limit, err := readInt(pidMax)
	if err != nil {
		t.Fatal(err)
	}
	for p := last + 500; ; p++ {
		if p >= limit-1 {
			p = 1000
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(p)); os.IsNotExist(err) {
			return p
		}
	}
}

// StartWithPID starts cmd so that its process gets pid, as pid reuse on a
// busy host does: it sets the pid namespace's ns_last_pid to pid-1 and
// forks. When another fork took the pid first, cmd runs all the same with
// another pid and ok is false: the caller ends it and tries another pid.
func StartWithPID(t testing.TB, cmd *exec.Cmd, pid int) (ok bool) {
	t.Helper()
	pidMu.Lock()
	err := os.WriteFile(nsLastPID, []byte(strconv.Itoa(pid-1)), 0)
	if err == nil {
		err = cmd.Start()
	}
	pidMu.Unlock()
	if err != nil {
		if os.IsPermission(err) {
			Skip(t, "a writable "+nsLastPID+" (CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE)", err)
		}
		t.Fatalf("starting %v with pid %d: %v", cmd.Args, pid, err)
	}
	return cmd.Process.Pid == pid
}

func readInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", path, err)
	}
	return n, nil
}
