package oom

import (
	"unsafe"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
)

const recordSize = int(unsafe.Sizeof(oomOomEvent{}))

// decoder turns ring buffer records into *event.OOM, reusing one event.
type decoder struct {
	clock collector.Clock
	raw   oomOomEvent
	ev    event.OOM
}

func (d *decoder) decode(b []byte) (event.Event, bool) {
	if len(b) < recordSize {
		return nil, false
	}
	raw := &d.raw
	copy(unsafe.Slice((*byte)(unsafe.Pointer(raw)), recordSize), b)
	ev := &d.ev
	collector.FillHeader(&ev.Header, &raw.Hdr, Name, d.clock)
	ev.TriggerPID = raw.TriggerPid
	ev.TriggerComm = collector.CString(raw.TriggerComm[:])
	ev.MemcgID = raw.MemcgId
	ev.TotalVMBytes = kib(raw.TotalVmKb)
	ev.AnonRSSBytes = kib(raw.AnonRssKb)
	ev.FileRSSBytes = kib(raw.FileRssKb)
	ev.ShmemRSSBytes = kib(raw.ShmemRssKb)
	ev.PgtablesBytes = kib(raw.PgtablesKb)
	ev.OOMScoreAdj = raw.OomScoreAdj
	return ev, true
}

// kib converts the kernel's KiB to bytes, saturating.
func kib(v uint64) uint64 {
	if v > 1<<54-1 {
		return 1<<64 - 1
	}
	return v << 10
}
