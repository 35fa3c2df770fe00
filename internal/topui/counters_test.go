package topui

import (
	"context"
	"math"
	"testing"
	"time"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// reads returns a Read function that hands out cs in turn.
func reads(cs ...Counters) func() (Counters, error) {
	i := 0
	return func() (Counters, error) {
		c := cs[min(i, len(cs)-1)]
		i++
		return c, nil
	}
}

func TestCounterSourceRates(t *testing.T) {
	t0 := time.Unix(1000, 0)
	first := Counters{At: t0, Procs: []ProcCounters{
		{PID: 1, Start: 10, Comm: "a", CPUNs: 1e9, Syscalls: 100, ReadBytes: 1000, WriteBytes: 10, RxBytes: 5, TxBytes: 7},
		{PID: 2, Start: 20, Comm: "b", CPUNs: 5e8, Syscalls: 10},
		{PID: 3, Start: 30, Comm: "old", Syscalls: 1000}, // pid 3 is reused below
	}, Untracked: ProcCounters{Syscalls: 40}, Lost: 2}
	second := Counters{At: t0.Add(2 * time.Second), Procs: []ProcCounters{
		{PID: 1, Start: 10, Comm: "a2", CPUNs: 2e9, Syscalls: 300, ReadBytes: 5000, WriteBytes: 10, RxBytes: 1005, TxBytes: 2007},
		{PID: 2, Start: 20, Comm: "b", CPUNs: 5e8, Syscalls: 10, Exited: true},
		{PID: 3, Start: 31, Comm: "new", Syscalls: 50},             // a new process with the same pid
		{PID: 4, Start: 40, Comm: "born", CPUNs: 1e8, Syscalls: 8}, // counted since the first read
	}, Untracked: ProcCounters{Syscalls: 60, CPUNs: 2e8}, Lost: 5}
	s := NewCounterSource(CounterFuncs{Describe: "test", Read: reads(first, second), Notes: []string{"n"}}, nil)
	if f, err := s.Frame(context.Background()); f != nil || err != nil {
		t.Fatalf("first frame: %v, %v; want nothing yet", f, err)
	}
	f, err := s.Frame(context.Background())
	if err != nil || f == nil {
		t.Fatalf("second frame: %v, %v", f, err)
	}
	want := map[uint32]Row{
		1: {PID: 1, Comm: "a2", CPU: 0.5, Syscalls: 100, Read: 2000, Write: 0, Rx: 500, Tx: 1000},
		2: {PID: 2, Comm: "b", Exited: true},
		3: {PID: 3, Comm: "new", Syscalls: 25},
		4: {PID: 4, Comm: "born", CPU: 0.05, Syscalls: 4},
	}
	if len(f.Rows) != len(want) || f.Interval != 2*time.Second {
		t.Fatalf("rows %+v over %v", f.Rows, f.Interval)
	}
	for _, r := range f.Rows {
		w := want[r.PID]
		if r.Comm != w.Comm || r.Exited != w.Exited || !near(r.CPU, w.CPU) || !near(r.Syscalls, w.Syscalls) ||
			!near(r.Read, w.Read) || !near(r.Write, w.Write) || !near(r.Rx, w.Rx) || !near(r.Tx, w.Tx) {
			t.Errorf("pid %d: %+v, want %+v", r.PID, r, w)
		}
	}
	h := f.Host
	// Host totals: the rows plus the untracked counts.
	if !near(h.CPU, 0.5+0.05+0.1) || !near(h.Syscalls, 100+25+4+10) || !near(h.Read, 2000) || !near(h.Rx, 500) || !near(h.Tx, 1000) ||
		h.Lost != 5 || h.Procs != 3 /* pid 2 ended */ || h.RunqP99 >= 0 || len(h.Notes) != 1 {
		t.Errorf("host: %+v", h)
	}
}

func TestDelta(t *testing.T) {
	if delta(10, 4) != 6 || delta(3, 10) != 3 || delta(5, 5) != 0 {
		t.Errorf("delta: %v %v %v", delta(10, 4), delta(3, 10), delta(5, 5))
	}
}

func TestCounterSourceFocus(t *testing.T) {
	var focused []uint32
	calls := []SyscallTotal{{"read", 10}, {"write", 4}}
	s := NewCounterSource(CounterFuncs{
		Read:       reads(Counters{At: time.Now()}),
		Focus:      func(pid uint32) error { focused = append(focused, pid); return nil },
		FocusCalls: func() (uint32, []SyscallTotal, error) { return 7, calls, nil },
	}, nil)
	d, err := s.Detail(context.Background(), 7)
	if err != nil || len(focused) != 1 || focused[0] != 7 {
		t.Fatalf("first detail: %v, focus calls %v", err, focused)
	}
	if len(d.Syscalls) != 2 || d.Syscalls[0].Name != "read" || d.Syscalls[0].Total != 10 || d.SyscallsSince == "" {
		t.Errorf("first detail syscalls: %+v", d.Syscalls)
	}
	// The same pid again: no new focus; rates from the increase.
	calls = []SyscallTotal{{"write", 104}, {"read", 12}, {"close", 1}}
	time.Sleep(20 * time.Millisecond)
	d, _ = s.Detail(context.Background(), 7)
	if len(focused) != 1 {
		t.Errorf("refocused: %v", focused)
	}
	if len(d.Syscalls) != 3 || d.Syscalls[0].Name != "write" || d.Syscalls[0].Rate <= d.Syscalls[1].Rate || d.Syscalls[0].Total != 104 {
		t.Errorf("second detail syscalls: %+v", d.Syscalls)
	}
	if err := s.Unfocus(); err != nil || len(focused) != 2 || focused[1] != 0 {
		t.Errorf("unfocus: %v %v", err, focused)
	}
	// Another pid: a new focus.
	s.Detail(context.Background(), 9)
	if len(focused) != 3 || focused[2] != 9 {
		t.Errorf("focus on 9: %v", focused)
	}
}
