package exit

import (
	"testing"
	"unsafe"

	"github.com/kscope/kscope/internal/collector"
)

func TestSplitStatus(t *testing.T) {
	tests := []struct {
		status       int32
		code, signal int32
		core         bool
	}{
		{0, 0, 0, false},
		{7 << 8, 7, 0, false},
		{255 << 8, 255, 0, false},
		{9, 0, 9, false},
		{0x80 | 11, 0, 11, true},
		{15, 0, 15, false},
	}
	for _, tt := range tests {
		code, sig, core := SplitStatus(tt.status)
		if code != tt.code || sig != tt.signal || core != tt.core {
			t.Errorf("SplitStatus(%#x) = %d, %d, %v; want %d, %d, %v", tt.status, code, sig, core, tt.code, tt.signal, tt.core)
		}
	}
}

func TestDecode(t *testing.T) {
	var raw exitExitEvent
	raw.Hdr.Pid, raw.Hdr.Tid = 42, 43
	copy(raw.Hdr.Comm[:], "sleep")
	raw.ExitCode, raw.DurationNs = 9, 1500
	b := unsafe.Slice((*byte)(unsafe.Pointer(&raw)), recordSize)
	d := decoder{clock: collector.NewClock()}
	if _, ok := d.decode(b[:recordSize-1]); ok {
		t.Fatal("short record accepted")
	}
	if _, ok := d.decode(b); !ok {
		t.Fatal("record rejected")
	}
	e := d.ev
	if e.PID != 42 || e.TID != 43 || e.Comm != "sleep" || e.Signal != 9 || e.ExitCode != 0 || e.DurationNS != 1500 || e.Type != "exit" {
		t.Errorf("decoded %+v", e)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(make([]byte, recordSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := decoder{clock: collector.NewClock()}
		if _, ok := d.decode(b); ok != (len(b) >= recordSize) {
			t.Fatalf("ok = %v for %d bytes", ok, len(b))
		}
		if d.ev.Signal > 127 || d.ev.ExitCode > 255 || d.ev.ExitCode < 0 {
			t.Fatalf("out of range: %+v", d.ev)
		}
	})
}
