package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
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

// CheckStartNS compares start, a process's start_ns (CLOCK_MONOTONIC ns),
// with the start time /proc/PID/stat has (field 22: clock ticks since boot
// on CLOCK_BOOTTIME). The kernel reads the two clocks one after the other
// at fork and the offset between them is read here now, so the two agree
// to within a tick (and a millisecond for the reads).
func CheckStartNS(t testing.TB, pid int, start uint64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	CheckStartNSStat(t, pid, string(b), start)
}

// CheckStartNSStat is CheckStartNS with the process's /proc/PID/stat read
// before (while it ran).
func CheckStartNSStat(t testing.TB, pid int, s string, start uint64) {
	t.Helper()
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ticks, err := strconv.ParseUint(f[19], 10, 64) // field 22; f[0] is field 3
	if err != nil {
		t.Fatal(err)
	}
	var mono, boot unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono)
	unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot)
	const tick = 1e9 / 100 // USER_HZ
	bootNS := float64(start) + float64(boot.Nano()-mono.Nano())
	if d := bootNS - float64(ticks)*tick; d < -1e6 || d > tick+1e6 {
		t.Errorf("pid %d: start_ns %d is %.0f ns on CLOCK_BOOTTIME, /proc says tick %d (%.0f ns): %.0f ns apart",
			pid, start, bootNS, ticks, float64(ticks)*tick, d)
	}
}
