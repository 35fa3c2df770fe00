package collector

import (
	"bytes"

	"github.com/kscope/kscope/internal/event"
)

// RawHeader mirrors the fields of struct event_header (bpf/include/kscope.h)
// that every generated event type carries; collectors fill one from their
// bpf2go type and call Fill.
type RawHeader struct {
	TsNs, CgroupID      uint64
	PID, TID, PPID, UID uint32
	Comm                [16]uint8
}

// Fill sets h from r, converting time and comm. It reuses h's storage.
func (r *RawHeader) Fill(h *event.Header, kind string, clk Clock) {
	h.Time = clk.Time(r.TsNs)
	h.Type = kind
	h.PID, h.TID, h.PPID, h.UID = r.PID, r.TID, r.PPID, r.UID
	h.CgroupID = r.CgroupID
	h.Comm = CString(r.Comm[:])
}

// CString returns the bytes of b up to the first NUL.
func CString[T ~int8 | ~uint8](b []T) string {
	n := len(b)
	buf := make([]byte, 0, n)
	for _, c := range b {
		if c == 0 {
			break
		}
		buf = append(buf, byte(c))
	}
	return string(bytes.ToValidUTF8(buf, []byte("\uFFFD")))
}
