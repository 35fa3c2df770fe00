package collector

import (
	"bytes"
	"fmt"
	"structs"
	"unicode/utf8"
	"unsafe"

	"github.com/kscope/kscope/internal/event"
)

// RawHeader mirrors struct event_header (bpf/include/kscope.h), field for
// field and byte for byte, which every generated event type carries as its
// Hdr field; HeaderOf converts a bpf2go mirror of it.
type RawHeader struct {
	_                   structs.HostLayout
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

// HeaderOf returns the bpf2go mirror of struct event_header that raw points
// to (an event's Hdr field) as a RawHeader. Every collector package has a
// type of its own for the same C struct, so H is any type of RawHeader's
// size; TestHeaderLayout checks the C struct against RawHeader in every
// generated object.
func HeaderOf[H any](raw *H) RawHeader {
	if unsafe.Sizeof(*raw) != unsafe.Sizeof(RawHeader{}) {
		panic(fmt.Sprintf("collector: %T is not struct event_header", *raw))
	}
	return *(*RawHeader)(unsafe.Pointer(raw))
}

// FillHeader sets h from raw, the bpf2go mirror of struct event_header (see
// HeaderOf), converting time and comm. It reuses h's storage.
func FillHeader[H any](h *event.Header, raw *H, kind string, clk Clock) {
	r := HeaderOf(raw)
	r.Fill(h, kind, clk)
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
