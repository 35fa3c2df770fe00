package topui

import (
	"context"
	"sort"
	"time"
)

// ProcCounters is one process's cumulative counters, as a kernel map
// holds them.
type ProcCounters struct {
	PID        uint32
	Start      uint64 // start time: with PID, the process's identity
	Comm       string
	CPUNs      uint64
	Syscalls   uint64
	ReadBytes  uint64
	WriteBytes uint64
	RxBytes    uint64
	TxBytes    uint64
	Exited     bool
}

// Counters is one read of every process's counters.
type Counters struct {
	At        time.Time
	Procs     []ProcCounters
	Untracked ProcCounters // counts no process entry had room for
	Lost      uint64
}

// SyscallTotal is the cumulative calls of one syscall by the process in
// focus.
type SyscallTotal struct {
	Name  string
	Calls uint64
}

// CounterFuncs is what a CounterSource reads from.
type CounterFuncs struct {
	Describe string
	Notes    []string // shown under the header: fallbacks taken
	Read     func() (Counters, error)
	// Focus starts counting pid's calls per syscall, from zero.
	Focus func(pid uint32) error
	// FocusCalls returns the calls counted since Focus, busiest first.
	FocusCalls func() (pid uint32, calls []SyscallTotal, err error)
	Close      func() error
}

// CounterSource turns cumulative counters into frames of rates: each
// frame holds what happened between two reads.
type CounterSource struct {
	f    CounterFuncs
	proc *ProcFS

	prev   map[procID]ProcCounters
	prevAt time.Time
	prevU  ProcCounters

	focus     uint32
	focusPrev map[string]uint64
	focusAt   time.Time
	focusFrom time.Time
}

type procID struct {
	pid   uint32
	start uint64
}

// NewCounterSource returns a source over f; proc (may be nil) adds users,
// threads, host load and the detail view's /proc fields.
func NewCounterSource(f CounterFuncs, proc *ProcFS) *CounterSource {
	return &CounterSource{f: f, proc: proc}
}

// Describe implements Source.
func (s *CounterSource) Describe() string { return s.f.Describe }

// Close implements Source.
func (s *CounterSource) Close() error {
	if s.f.Close == nil {
		return nil
	}
	return s.f.Close()
}

// Frame implements Source: the rates since the previous call, nil on the
// first.
func (s *CounterSource) Frame(_ context.Context) (*Frame, error) {
	c, err := s.f.Read()
	if err != nil {
		return nil, err
	}
	f := s.next(c)
	if f != nil && s.proc != nil {
		s.proc.Enrich(f.Rows)
		s.proc.Host(&f.Host)
	}
	if f != nil {
		f.Host.Notes = append(f.Host.Notes, s.f.Notes...)
	}
	return f, nil
}

// next computes the frame between the previous counters and c.
func (s *CounterSource) next(c Counters) *Frame {
	cur := make(map[procID]ProcCounters, len(c.Procs))
	for _, p := range c.Procs {
		cur[procID{p.PID, p.Start}] = p
	}
	prev, prevAt, prevU := s.prev, s.prevAt, s.prevU
	s.prev, s.prevAt, s.prevU = cur, c.At, c.Untracked
	if prev == nil {
		return nil
	}
	secs := c.At.Sub(prevAt).Seconds()
	if secs <= 0 {
		secs = 1e-9
	}
	f := &Frame{At: c.At, Interval: c.At.Sub(prevAt), Rows: make([]Row, 0, len(c.Procs))}
	h := &f.Host
	for _, p := range c.Procs {
		// A process not in the previous read started counting since.
		was := prev[procID{p.PID, p.Start}]
		r := Row{
			PID:      p.PID,
			Comm:     p.Comm,
			CPU:      delta(p.CPUNs, was.CPUNs) / 1e9 / secs,
			Syscalls: delta(p.Syscalls, was.Syscalls) / secs,
			Read:     delta(p.ReadBytes, was.ReadBytes) / secs,
			Write:    delta(p.WriteBytes, was.WriteBytes) / secs,
			Rx:       delta(p.RxBytes, was.RxBytes) / secs,
			Tx:       delta(p.TxBytes, was.TxBytes) / secs,
			Exited:   p.Exited,
		}
		f.Rows = append(f.Rows, r)
		h.CPU += r.CPU
		h.Syscalls += r.Syscalls
		h.Read += r.Read
		h.Write += r.Write
		h.Rx += r.Rx
		h.Tx += r.Tx
	}
	u := c.Untracked
	h.CPU += delta(u.CPUNs, prevU.CPUNs) / 1e9 / secs
	h.Syscalls += delta(u.Syscalls, prevU.Syscalls) / secs
	h.Read += delta(u.ReadBytes, prevU.ReadBytes) / secs
	h.Write += delta(u.WriteBytes, prevU.WriteBytes) / secs
	h.Rx += delta(u.RxBytes, prevU.RxBytes) / secs
	h.Tx += delta(u.TxBytes, prevU.TxBytes) / secs
	// The map also holds processes reported once more after they ended;
	// ProcFS.Host counts /proc instead where it can.
	for i := range f.Rows {
		if !f.Rows[i].Exited {
			h.Procs++
		}
	}
	h.Lost = c.Lost
	h.RunqP99 = -1
	return f
}

// delta is the increase from was to now; a counter that went back (an
// entry deleted and made again) counts from zero.
func delta(now, was uint64) float64 {
	if now < was {
		return float64(now)
	}
	return float64(now - was)
}

// Detail implements Source: /proc, and the calls per syscall since the
// process came into focus, with their rates since the previous call.
func (s *CounterSource) Detail(_ context.Context, pid uint32) (*Detail, error) {
	d := &Detail{PID: pid, OpenFiles: -1}
	for id, p := range s.prev {
		if id.pid == pid {
			d.Comm = p.Comm
		}
	}
	if s.proc != nil {
		s.proc.Detail(pid, d)
	}
	if s.f.Focus == nil || s.f.FocusCalls == nil {
		return d, nil
	}
	now := time.Now()
	if s.focus != pid {
		if err := s.f.Focus(pid); err != nil {
			return d, err
		}
		s.focus, s.focusPrev, s.focusAt, s.focusFrom = pid, map[string]uint64{}, now, now
	}
	_, calls, err := s.f.FocusCalls()
	if err != nil {
		return d, err
	}
	secs := now.Sub(s.focusAt).Seconds()
	cur := make(map[string]uint64, len(calls))
	for _, c := range calls {
		cur[c.Name] = c.Calls
		r := SyscallRate{Name: c.Name, Total: float64(c.Calls)}
		if secs > 0 {
			r.Rate = delta(c.Calls, s.focusPrev[c.Name]) / secs
		}
		d.Syscalls = append(d.Syscalls, r)
	}
	sort.SliceStable(d.Syscalls, func(i, j int) bool {
		a, b := d.Syscalls[i], d.Syscalls[j]
		if a.Rate != b.Rate {
			return a.Rate > b.Rate
		}
		return a.Total > b.Total
	})
	s.focusPrev, s.focusAt = cur, now
	d.SyscallsSince = "since " + s.focusFrom.Format("15:04:05")
	return d, nil
}

// Unfocus stops per-syscall counting.
func (s *CounterSource) Unfocus() error {
	if s.focus == 0 || s.f.Focus == nil {
		return nil
	}
	s.focus = 0
	return s.f.Focus(0)
}
