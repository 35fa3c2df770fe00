package oom

import (
	"testing"
	"unsafe"

	"github.com/kscope/kscope/internal/collector"
)

func TestDecode(t *testing.T) {
	var raw oomOomEvent
	raw.Hdr.Pid, raw.Hdr.Tid, raw.Hdr.Uid, raw.Hdr.CgroupId = 42, 43, 1000, 77
	copy(raw.Hdr.Comm[:], "hog")
	raw.MemcgId = 78
	raw.TotalVmKb, raw.AnonRssKb, raw.FileRssKb, raw.ShmemRssKb, raw.PgtablesKb = 1<<20, 32768, 4, 0, 128
	raw.TriggerPid, raw.OomScoreAdj = 44, -17
	copy(raw.TriggerComm[:], "kswapd0")
	b := unsafe.Slice((*byte)(unsafe.Pointer(&raw)), recordSize)
	d := decoder{clock: collector.NewClock()}
	if _, ok := d.decode(b[:recordSize-1]); ok {
		t.Fatal("short record accepted")
	}
	if _, ok := d.decode(b); !ok {
		t.Fatal("record rejected")
	}
	e := d.ev
	if e.Type != "oom" || e.PID != 42 || e.TID != 43 || e.UID != 1000 || e.CgroupID != 77 || e.Comm != "hog" ||
		e.MemcgID != 78 || e.TotalVMBytes != 1<<30 || e.AnonRSSBytes != 32<<20 || e.FileRSSBytes != 4096 ||
		e.ShmemRSSBytes != 0 || e.PgtablesBytes != 128<<10 || e.TriggerPID != 44 || e.TriggerComm != "kswapd0" || e.OOMScoreAdj != -17 {
		t.Errorf("decoded %+v", e)
	}
	if kib(1<<60) != 1<<64-1 || kib(1<<54-1) != (1<<54-1)<<10 {
		t.Error("kib does not saturate")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(make([]byte, recordSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := decoder{clock: collector.NewClock()}
		if _, ok := d.decode(b); ok != (len(b) >= recordSize) {
			t.Fatalf("ok = %v for %d bytes", ok, len(b))
		}
		if d.ev.AnonRSSBytes != 0 && d.ev.AnonRSSBytes < d.raw.AnonRssKb {
			t.Fatalf("size overflowed: %d KiB -> %d bytes", d.raw.AnonRssKb, d.ev.AnonRSSBytes)
		}
	})
}
