package syscalls_test

import (
	"encoding/binary"
	"errors"
	"testing"
	"unsafe"

	"github.com/kscope/kscope/internal/collector/syscalls"
	"github.com/kscope/kscope/internal/metrics"
)

// The constants Go shares with bpf/syscalls.bpf.c agree with it (as the
// compiled object carries them) and with the metric buckets.
func TestLayout(t *testing.T) {
	if lo, err := syscalls.ObjectLatLo(); err != nil || lo != uint32(syscalls.LatLo) {
		t.Errorf("the BPF object's lat_lo %d (%v), Go's latLo %d", lo, err, syscalls.LatLo)
	}
	if syscalls.LatLo != metrics.LatencyLo || syscalls.LatSlots != metrics.LatencyHi-metrics.LatencyLo+2 {
		t.Errorf("kernel duration slots %d from %d, want %d from %d", syscalls.LatSlots, syscalls.LatLo,
			metrics.LatencyHi-metrics.LatencyLo+2, metrics.LatencyLo)
	}
	if n := unsafe.Sizeof(syscalls.Rec{}); n != syscalls.RecSize {
		t.Errorf("proc_rec is %d bytes, decoder expects %d", n, syscalls.RecSize)
	}
	n, err := syscalls.SpecMaxEntries(syscalls.MapSysStats)
	if err != nil {
		t.Fatal(err)
	}
	if n != syscalls.NrSlots+1 {
		t.Errorf("sys_stats has %d entries, want %d", n, syscalls.NrSlots+1)
	}
}

func rec(tgid, nr uint32, start, calls, errs uint64, comm string) []byte {
	b := make([]byte, syscalls.RecSize)
	binary.LittleEndian.PutUint32(b[0:], tgid)
	binary.LittleEndian.PutUint32(b[4:], nr)
	binary.LittleEndian.PutUint64(b[8:], start)
	binary.LittleEndian.PutUint64(b[16:], calls)
	binary.LittleEndian.PutUint64(b[24:], errs)
	copy(b[32:48], comm)
	return b
}

func TestDecodeRecords(t *testing.T) {
	var in []byte
	in = append(in, rec(42, syscalls.RecAlive, 7, 0, 0, "bash")...)
	in = append(in, rec(42, 110, 7, 5, 1, "bash")...)
	in = append(in, rec(43, 0, 9, 1<<40, 0, "a-sixteen-chars!")...)
	var got []syscalls.Rec
	err := syscalls.DecodeRecords(in, func(r *syscalls.Rec) { got = append(got, *r) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d records, want 3", len(got))
	}
	if r := got[0]; r.Tgid != 42 || r.Nr != syscalls.RecAlive || r.StartNs != 7 || metrics.LabelString(r.Comm[:]) != "bash" {
		t.Errorf("record 0 = %+v", r)
	}
	if r := got[1]; r.Nr != 110 || r.Calls != 5 || r.Errors != 1 {
		t.Errorf("record 1 = %+v", r)
	}
	if r := got[2]; r.Tgid != 43 || r.Calls != 1<<40 || metrics.LabelString(r.Comm[:]) != "a-sixteen-chars!" {
		t.Errorf("record 2 = %+v", r)
	}

	n := 0
	err = syscalls.DecodeRecords(append(rec(1, 2, 3, 4, 5, "x"), 1, 2, 3), func(*syscalls.Rec) { n++ })
	if !errors.Is(err, syscalls.ErrShortRecord) || n != 1 {
		t.Errorf("short tail: %d records, %v; want 1 and %v", n, err, syscalls.ErrShortRecord)
	}
	if err := syscalls.DecodeRecords(nil, func(*syscalls.Rec) { t.Error("record from nothing") }); err != nil {
		t.Error(err)
	}
}

func FuzzDecodeRecords(f *testing.F) {
	f.Add(rec(42, 110, 7, 5, 1, "bash"))
	f.Add(append(rec(42, syscalls.RecAlive, 7, 0, 0, "bash"), 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		err := syscalls.DecodeRecords(b, func(r *syscalls.Rec) {
			n++
			_ = metrics.LabelString(r.Comm[:])
		})
		if n != len(b)/syscalls.RecSize {
			t.Fatalf("%d records from %d bytes", n, len(b))
		}
		if (err != nil) != (len(b)%syscalls.RecSize != 0) {
			t.Fatalf("error %v for %d bytes", err, len(b))
		}
	})
}
