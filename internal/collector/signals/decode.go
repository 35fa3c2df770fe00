package signals

import (
	"unsafe"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
)

const recordSize = int(unsafe.Sizeof(signalsSignalEvent{}))

// decoder turns ring buffer records into *event.Signal, reusing one event.
type decoder struct {
	clock collector.Clock
	raw   signalsSignalEvent
	ev    event.Signal
	names [128]string // signal names by number, made once
}

func newDecoder() *decoder {
	d := &decoder{clock: collector.NewClock()}
	for i := range d.names {
		d.names[i] = event.SignalName(int32(i))
	}
	return d
}

func (d *decoder) decode(b []byte) (event.Event, bool) {
	if len(b) < recordSize {
		return nil, false
	}
	raw := &d.raw
	copy(unsafe.Slice((*byte)(unsafe.Pointer(raw)), recordSize), b)
	ev := &d.ev
	collector.FillHeader(&ev.Header, &raw.Hdr, EventType, d.clock)
	ev.Signo = raw.Signo & 0x7f
	ev.Signal = d.names[ev.Signo]
	ev.Code = raw.Code
	ev.Fatal = true
	ev.CoreDumped = raw.CoreDumped != 0
	ev.SenderPID, ev.SenderTID, ev.SenderUID = raw.SenderPid, raw.SenderTid, raw.SenderUid
	ev.SenderComm = collector.CString(raw.SenderComm[:])
	return ev, true
}
