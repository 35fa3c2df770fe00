package exit

import (
	"unsafe"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
)

const recordSize = int(unsafe.Sizeof(exitExitEvent{}))

// decoder turns ring buffer records into *event.Exit, reusing one event.
type decoder struct {
	clock collector.Clock
	raw   exitExitEvent
	ev    event.Exit
}

func (d *decoder) decode(b []byte) (event.Event, bool) {
	if len(b) < recordSize {
		return nil, false
	}
	raw := &d.raw
	copy(unsafe.Slice((*byte)(unsafe.Pointer(raw)), recordSize), b)
	ev := &d.ev
	collector.FillHeader(&ev.Header, &raw.Hdr, Name, d.clock)
	ev.ExitCode, ev.Signal, ev.CoreDumped = SplitStatus(raw.ExitCode)
	ev.DurationNS = raw.DurationNs
	return ev, true
}

// SplitStatus splits a wait status into exit code, signal and core flag,
// like WEXITSTATUS, WTERMSIG and WCOREDUMP.
func SplitStatus(status int32) (code, signal int32, core bool) {
	return (status >> 8) & 0xff, status & 0x7f, status&0x80 != 0
}
