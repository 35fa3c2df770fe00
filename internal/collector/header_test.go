package collector

import (
	"testing"

	"github.com/kscope/kscope/internal/event"
)

// TestFill: the header carries the process's and its parent's start times,
// the process's converted with the clock of every other time field.
func TestFill(t *testing.T) {
	clk := NewClock()
	r := RawHeader{TsNs: 9_000_000_000, CgroupID: 5, StartNs: 7_000_000_123, PStartNs: 1_000_000_001, PID: 10, TID: 11, PPID: 1, UID: 1000}
	copy(r.Comm[:], "bash")
	var h event.Header
	r.Fill(&h, "exec", clk)
	if h.StartNS != 7_000_000_123 || h.ParentStartNS != 1_000_000_001 {
		t.Errorf("start_ns %d parent_start_ns %d, want 7000000123 1000000001", h.StartNS, h.ParentStartNS)
	}
	if d := h.Time.Sub(h.StartTime); d != 1_999_999_877 {
		t.Errorf("start_time is %v before time, want 1.999999877s", d)
	}
	if h.PID != 10 || h.TID != 11 || h.PPID != 1 || h.UID != 1000 || h.Comm != "bash" || h.CgroupID != 5 || h.Type != "exec" {
		t.Errorf("header %+v", h)
	}
}
