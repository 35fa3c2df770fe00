package open

import (
	"unsafe"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
)

const (
	recordSize = int(unsafe.Sizeof(openOpenEvent{}))
	// maxFlagNames bounds the cache of rendered flags; a process passes a
	// handful of distinct flag sets, so this is only a guard.
	maxFlagNames = 256
)

// decoder turns ring buffer records into *event.Open, reusing one event.
type decoder struct {
	clock collector.Clock
	raw   openOpenEvent
	ev    event.Open
	flags map[uint64]string // rendered flags, so the hot path does not allocate them
}

// decode parses one record, a whole struct open_event.
func (d *decoder) decode(b []byte) (event.Event, bool) {
	if len(b) < recordSize {
		return nil, false
	}
	raw := &d.raw
	copy(unsafe.Slice((*byte)(unsafe.Pointer(raw)), recordSize), b)
	ev := &d.ev
	collector.FillHeader(&ev.Header, &raw.Hdr, Name, d.clock)
	ev.Path = collector.CString(raw.Path[:])
	ev.PathTruncated = raw.Truncated != 0
	ev.PathUnavailable = raw.PathUnavailable != 0
	ev.Flags = d.flagNames(raw.Flags)
	ev.Mode = raw.Mode
	ev.Ret = raw.Ret
	ev.Error = event.ErrnoName(int64(raw.Ret))
	return ev, true
}

// flagNames renders flags through a small cache.
func (d *decoder) flagNames(flags uint64) string {
	if s, ok := d.flags[flags]; ok {
		return s
	}
	s := event.OpenFlags(flags)
	if d.flags == nil || len(d.flags) >= maxFlagNames {
		d.flags = make(map[uint64]string)
	}
	d.flags[flags] = s
	return s
}
