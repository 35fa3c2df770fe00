package exec

import (
	"unsafe"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
)

const (
	argsOffset = int(unsafe.Offsetof(execExecEvent{}.Args))
	argsSize   = 4096 // ARGS_SIZE in exec.bpf.c
)

// decoder turns ring buffer records into *event.Exec, reusing one event.
type decoder struct {
	clock collector.Clock
	raw   execExecEvent
	ev    event.Exec
}

// decode parses one record: the fixed part of struct exec_event followed by
// args_size bytes of NUL-separated arguments.
func (d *decoder) decode(b []byte) (event.Event, bool) {
	if len(b) < argsOffset {
		return nil, false
	}
	raw := &d.raw
	dst := unsafe.Slice((*byte)(unsafe.Pointer(raw)), argsOffset)
	copy(dst, b)
	args := b[argsOffset:]
	if n := int(raw.ArgsSize); n < len(args) {
		args = args[:n]
	}
	if len(args) > argsSize {
		args = args[:argsSize]
	}
	ev := &d.ev
	collector.FillHeader(&ev.Header, &raw.Hdr, Name, d.clock)
	ev.Filename = collector.CString(raw.Filename[:])
	ev.Argv = splitArgs(ev.Argv[:0], args, int(raw.Argc))
	ev.ArgvTruncated = raw.Truncated != 0
	ev.ArgvUnavailable = raw.ArgvUnavailable != 0
	ev.FilenameUnavailable = raw.FilenameUnavailable != 0
	ev.Ret = raw.Ret
	ev.Error = event.ErrnoName(int64(raw.Ret))
	return ev, true
}

// splitArgs appends the NUL-separated strings of b to dst, at most max of
// them. A final string without NUL (cut by the size limit) is kept.
func splitArgs(dst []string, b []byte, max int) []string {
	for len(b) > 0 && len(dst) < max {
		n := 0
		for n < len(b) && b[n] != 0 {
			n++
		}
		dst = append(dst, collector.CString(b[:n]))
		if n == len(b) {
			break
		}
		b = b[n+1:]
	}
	return dst
}
