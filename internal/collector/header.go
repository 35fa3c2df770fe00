package collector

import (
	"bytes"
	"unicode/utf8"
	"unsafe"

	"github.com/kscope/kscope/internal/event"
)

// RawHeader mirrors the fields of struct event_header (bpf/include/kscope.h)
// that every generated event type carries; collectors fill one from their
// bpf2go type and call Fill.
type RawHeader struct {
	TsNs, CgroupID      uint64
	StartNs, PStartNs   uint64
	PID, TID, PPID, UID uint32
	Comm                [16]uint8
}

// Fill sets h from r, converting time and comm. It reuses h's storage.
func (r *RawHeader) Fill(h *event.Header, kind string, clk Clock) {
	h.Time = clk.Time(r.TsNs)
	h.Type = kind
	h.PID, h.TID, h.PPID, h.UID = r.PID, r.TID, r.PPID, r.UID
	h.CgroupID = r.CgroupID
	h.StartNS = r.StartNs
	h.StartTime = clk.Time(r.StartNs)
	h.ParentStartNS = r.PStartNs
	h.Comm = CString(r.Comm[:])
}

// CString returns the bytes of b up to the first NUL, with invalid UTF-8
// replaced. Valid text, the usual case, costs one allocation.
func CString[T ~int8 | ~uint8](b []T) string {
	raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(b))), len(b))
	if i := bytes.IndexByte(raw, 0); i >= 0 {
		raw = raw[:i]
	}
	if utf8.Valid(raw) {
		return string(raw)
	}
	return string(bytes.ToValidUTF8(raw, []byte("\uFFFD")))
}
