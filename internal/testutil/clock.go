package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ClockSlack is how far an event's wall-clock time may lie outside the
// interval it happened in: collectors convert the kernel's monotonic clock
// to wall time from one reading of both clocks, a few microseconds apart.
const ClockSlack = 10 * time.Millisecond

// Between fails the test unless got lies between before and after (the
// wall-clock times read just before the workload started and just after
// its event arrived), give or take ClockSlack.
func Between(t testing.TB, what string, got, before, after time.Time) {
	t.Helper()
	if got.Before(before.Add(-ClockSlack)) || got.After(after.Add(ClockSlack)) {
		t.Errorf("%s %v is outside [%v, %v]", what, got.Format(time.RFC3339Nano), before.Format(time.RFC3339Nano), after.Format(time.RFC3339Nano))
	}
}

// OnCPU returns the time the threads of process pid have run, as the
// scheduler counts it (the first field of /proc/PID/task/TID/schedstat,
// in nanoseconds): the kernel's own answer to compare a traced CPU time
// with, whatever the load.
func OnCPU(pid int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tids, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("listing the threads of %d: %w", pid, err)
	}
	var sum time.Duration
	for _, tid := range tids {
		b, err := os.ReadFile(filepath.Join(dir, tid.Name(), "schedstat"))
		if os.IsNotExist(err) {
			continue // the thread ended
		}
		if err != nil {
			return 0, err
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, fmt.Errorf("%s/%s/schedstat: empty", dir, tid.Name())
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s/%s/schedstat: %w", dir, tid.Name(), err)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}
