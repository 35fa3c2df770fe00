package collector

import (
	"time"

	"golang.org/x/sys/unix"
)

// Clock converts the kernel's CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns)
// to wall-clock time, using one reading of both clocks taken at creation.
type Clock struct {
	wall time.Time
	mono int64
}

// NewClock reads both clocks.
func NewClock() Clock {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return Clock{wall: time.Now(), mono: ts.Nano()}
}

// Time returns the wall-clock time of a monotonic timestamp.
func (c Clock) Time(monoNS uint64) time.Time {
	return c.wall.Add(time.Duration(int64(monoNS) - c.mono))
}
