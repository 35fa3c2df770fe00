package collector

import (
	"path/filepath"
	"reflect"
	"strings"
	"structs"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/kscope/kscope/internal/event"
)

// TestFill: the header carries the process's and its parent's start times,
// the process's converted with the clock of every other time field.
func TestFill(t *testing.T) {
	clk := NewClock()
	r := RawHeader{TsNs: 9_000_000_000, CgroupID: 5, StartNs: 7_000_000_123, PStartNs: 1_000_000_001, PID: 10, TID: 11, PPID: 1, UID: 1000}
	copy(r.Comm[:], "bash")
	var h event.Header
	r.Fill(&h, "exec", clk)
	if h.StartNS != 7_000_000_123 || h.ParentStartNS != 1_000_000_001 {
		t.Errorf("start_ns %d parent_start_ns %d, want 7000000123 1000000001", h.StartNS, h.ParentStartNS)
	}
	if d := h.Time.Sub(h.StartTime); d != 1_999_999_877 {
		t.Errorf("start_time is %v before time, want 1.999999877s", d)
	}
	if h.PID != 10 || h.TID != 11 || h.PPID != 1 || h.UID != 1000 || h.Comm != "bash" || h.CgroupID != 5 || h.Type != "exec" {
		t.Errorf("header %+v", h)
	}
}

// TestHeaderLayout: struct event_header in every generated object is
// RawHeader's layout, field for field, which HeaderOf relies on.
func TestHeaderLayout(t *testing.T) {
	objs, err := filepath.Glob("*/*_bpfel.o")
	if err != nil {
		t.Fatal(err)
	}
	rt := reflect.TypeFor[RawHeader]()
	var fields []reflect.StructField
	for i := range rt.NumField() {
		if f := rt.Field(i); f.Name != "_" {
			fields = append(fields, f)
		}
	}
	checked := 0
	for _, obj := range objs {
		spec, err := btf.LoadSpec(obj)
		if err != nil {
			t.Fatalf("%s: %v", obj, err)
		}
		var hdr *btf.Struct
		if err := spec.TypeByName("event_header", &hdr); err != nil {
			continue // an aggregating collector sends no events
		}
		checked++
		if hdr.Size != uint32(rt.Size()) || len(hdr.Members) != len(fields) {
			t.Errorf("%s: event_header has %d bytes in %d members, RawHeader %d in %d", obj, hdr.Size, len(hdr.Members), rt.Size(), len(fields))
			continue
		}
		for i, m := range hdr.Members {
			f := fields[i]
			size, err := btf.Sizeof(m.Type)
			if err != nil {
				t.Fatal(err)
			}
			if strings.ReplaceAll(m.Name, "_", "") != strings.ToLower(f.Name) || uintptr(m.Offset.Bytes()) != f.Offset || uintptr(size) != f.Type.Size() {
				t.Errorf("%s: event_header member %s (offset %d, %d bytes) against RawHeader.%s (offset %d, %d bytes)",
					obj, m.Name, m.Offset.Bytes(), size, f.Name, f.Offset, f.Type.Size())
			}
		}
	}
	if checked < 8 {
		t.Errorf("checked event_header in %d objects of %v, want at least the 8 event collectors'", checked, objs)
	}
}

// TestHeaderOf: a bpf2go mirror of struct event_header converts field by
// field, and a struct of another size panics.
func TestHeaderOf(t *testing.T) {
	// The shape bpf2go gives struct event_header, as every event's Hdr.
	raw := struct {
		_                                 structs.HostLayout
		TsNs, CgroupId, StartNs, PstartNs uint64
		Pid, Tid, Ppid, Uid               uint32
		Comm                              [16]uint8
	}{TsNs: 1, CgroupId: 2, StartNs: 3, PstartNs: 4, Pid: 5, Tid: 6, Ppid: 7, Uid: 8}
	copy(raw.Comm[:], "sh")
	want := RawHeader{TsNs: 1, CgroupID: 2, StartNs: 3, PStartNs: 4, PID: 5, TID: 6, PPID: 7, UID: 8}
	copy(want.Comm[:], "sh")
	if got := HeaderOf(&raw); got != want {
		t.Errorf("HeaderOf = %+v, want %+v", got, want)
	}
	defer func() {
		if recover() == nil {
			t.Error("HeaderOf of a 4-byte struct did not panic")
		}
	}()
	HeaderOf(&struct{ X uint32 }{})
}
