package process

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// runningNS returns, per tgid, the runtime of the threads on a CPU now
// since they were switched in: the kernel's se.sum_exec_runtime as
// /proc/TGID/task/TID/schedstat shows it (updated at each tick) minus its
// value at the switch-in, at most the time since then. A thread gone
// meanwhile adds nothing.
func (c *Collector) runningNS(slots []processCpuSlot) map[uint32]uint64 {
	running := map[uint32]uint64{}
	var ts unix.Timespec
	if slots == nil || unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return running
	}
	now := uint64(ts.Nano())
	for _, s := range slots {
		if s.Tgid == 0 || s.Tid == 0 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(c.procRoot, strconv.FormatUint(uint64(s.Tgid), 10), "task",
			strconv.FormatUint(uint64(s.Tid), 10), "schedstat"))
		if err != nil {
			continue
		}
		ns, ok := schedstatRuntime(b)
		if ok && ns > s.RuntimeNs && now > s.TsNs {
			running[s.Tgid] += min(ns-s.RuntimeNs, now-s.TsNs)
		}
	}
	return running
}

// schedstatRuntime returns the first field of a /proc/PID/schedstat line
// ("runtime_ns wait_ns timeslices").
func schedstatRuntime(b []byte) (uint64, bool) {
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// resync recounts the live processes in /proc, the way Start does with
// the kernel's fork and exit notes for the processes that raced the read,
// and sets the gauge's base so that it matches the recount. It also deletes
// entries of procs whose process is in neither: a thread that raced its
// process's end on another CPU can leave one behind.
func (c *Collector) resync() error {
	c.resyncAt = time.Now()
	if err := c.clearSeedWindow(); err != nil {
		return err
	}
	if err := c.m.seeding.Put(uint32(0), uint32(1)); err != nil {
		return fmt.Errorf("opening the seed window: %w", err)
	}
	closed := false
	defer func() {
		if !closed {
			c.m.seeding.Put(uint32(0), uint32(0))
		}
	}()
	if err := c.sums.Read(c.m.counts, c.counts); err != nil {
		return fmt.Errorf("reading counts: %w", err)
	}
	before := int64(c.counts[cntLive])
	alive, err := scanProc(c.procRoot)
	if err != nil {
		return fmt.Errorf("counting the processes in %s: %w", c.procRoot, err)
	}
	keys, vals, err := c.readProcs()
	if err != nil {
		return fmt.Errorf("reading procs: %w", err)
	}
	during, err := c.readSeedWindow()
	if err != nil {
		return err
	}
	for i, k := range keys {
		if _, ok := alive[k.Tgid]; ok {
			continue
		}
		if _, ok := during[k.Tgid]; ok {
			continue
		}
		if err := c.m.procs.Delete(k); err != nil {
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				continue // its last switch-out deleted it meanwhile
			}
			return fmt.Errorf("deleting a stale process entry: %w", err)
		}
		// Its totals count as gone, as the kernel would have counted them.
		c.goneSeen[0] -= float64(vals[i].CpuNs) * 1e-9
		c.goneSeen[1] -= float64(vals[i].Nvcsw)
		c.goneSeen[2] -= float64(vals[i].Nivcsw)
		c.Config().Logger.Debug("deleted a stale process entry", "pid", k.Tgid)
	}
	if err := c.m.seeding.Put(uint32(0), uint32(0)); err != nil {
		return fmt.Errorf("closing the seed window: %w", err)
	}
	closed = true
	window, err := c.readSeedWindow()
	if err != nil {
		return err
	}
	base := int64(len(alive)) + seedCorrection(alive, window) - before
	if c.liveBase != base {
		c.Config().Logger.Info("live processes recounted from /proc", "drift", base-c.liveBase)
	}
	c.drift = base - c.liveBase
	c.liveBase = base
	return nil
}

func (c *Collector) readSeedWindow() (map[uint32]uint32, error) {
	window := map[uint32]uint32{}
	var (
		tgid, v uint32
		it      = c.m.seedWindow.Iterate()
	)
	for it.Next(&tgid, &v) {
		window[tgid] = v
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("reading the seed window: %w", err)
	}
	return window, nil
}

func (c *Collector) clearSeedWindow() error {
	window, err := c.readSeedWindow()
	if err != nil {
		return err
	}
	for tgid := range window {
		if err := c.m.seedWindow.Delete(tgid); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("clearing the seed window: %w", err)
		}
	}
	return nil
}
