package open

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
)

// record returns the bytes of a struct open_event built by fill.
func record(fill func(r *openOpenEvent)) []byte {
	var r openOpenEvent
	r.Hdr.TsNs = 1_000_000
	r.Hdr.CgroupId = 77
	r.Hdr.StartNs, r.Hdr.PstartNs = 400_000, 300
	r.Hdr.Pid, r.Hdr.Tid, r.Hdr.Ppid, r.Hdr.Uid = 42, 43, 1, 1000
	copy(r.Hdr.Comm[:], "cat")
	fill(&r)
	return bytes.Clone(unsafe.Slice((*byte)(unsafe.Pointer(&r)), unsafe.Sizeof(r)))
}

func setPath(r *openOpenEvent, p string) {
	for i := 0; i < len(p) && i < len(r.Path); i++ {
		r.Path[i] = int8(p[i])
	}
}

func TestDecode(t *testing.T) {
	clk := collector.NewClock()
	long := strings.Repeat("a", 255)
	for _, tc := range []struct {
		name string
		rec  []byte
		want event.Open // Header is checked separately
	}{
		{
			name: "created",
			rec: record(func(r *openOpenEvent) {
				setPath(r, "/tmp/x")
				r.Flags, r.Mode, r.Ret = 0o2000101, 0o600, 3
			}),
			want: event.Open{Path: "/tmp/x", Flags: "O_WRONLY|O_CREAT|O_CLOEXEC", Mode: 0o600, Ret: 3},
		},
		{
			name: "missing",
			rec: record(func(r *openOpenEvent) {
				setPath(r, "/nope")
				r.Flags, r.Ret = 0o2000000, -2
			}),
			want: event.Open{Path: "/nope", Flags: "O_RDONLY|O_CLOEXEC", Ret: -2, Error: "ENOENT"},
		},
		{
			name: "tmpfile and sync",
			rec: record(func(r *openOpenEvent) {
				setPath(r, ".")
				r.Flags, r.Mode, r.Ret = 0o20200002|0o4010000, 0o644, 5
			}),
			want: event.Open{Path: ".", Flags: "O_RDWR|O_SYNC|O_TMPFILE", Mode: 0o644, Ret: 5},
		},
		{
			name: "unknown errno",
			rec: record(func(r *openOpenEvent) {
				setPath(r, "x")
				r.Ret = -4000
			}),
			want: event.Open{Path: "x", Flags: "O_RDONLY", Ret: -4000, Error: "E4000"},
		},
		{
			name: "truncated",
			rec: record(func(r *openOpenEvent) {
				setPath(r, long)
				r.Truncated, r.Ret = 1, 3
			}),
			want: event.Open{Path: long, PathTruncated: true, Flags: "O_RDONLY", Ret: 3},
		},
		{
			name: "exactly 255 bytes",
			rec: record(func(r *openOpenEvent) {
				setPath(r, long)
				r.Ret = 3
			}),
			want: event.Open{Path: long, Flags: "O_RDONLY", Ret: 3},
		},
		{
			name: "no NUL at all",
			rec: record(func(r *openOpenEvent) {
				setPath(r, long+"b")
				r.Ret = 3
			}),
			want: event.Open{Path: long + "b", Flags: "O_RDONLY", Ret: 3},
		},
		{
			name: "invalid UTF-8",
			rec: record(func(r *openOpenEvent) {
				setPath(r, "a\xffb")
				r.Ret = 3
			}),
			want: event.Open{Path: "a\uFFFDb", Flags: "O_RDONLY", Ret: 3},
		},
		{
			name: "empty path, EFAULT",
			rec: record(func(r *openOpenEvent) {
				r.Ret = -14
			}),
			want: event.Open{Flags: "O_RDONLY", Ret: -14, Error: "EFAULT"},
		},
		{
			name: "trailing bytes ignored",
			rec: append(record(func(r *openOpenEvent) {
				setPath(r, "/etc/hostname")
				r.Ret = 4
			}), 1, 2, 3),
			want: event.Open{Path: "/etc/hostname", Flags: "O_RDONLY", Ret: 4},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decoder{clock: clk}
			ev, ok := d.decode(tc.rec)
			if !ok {
				t.Fatal("decode rejected a valid record")
			}
			got := *ev.(*event.Open)
			h := got.Header
			wantHdr := event.Header{Time: clk.Time(1_000_000), Type: "open", PID: 42, TID: 43, PPID: 1, UID: 1000, Comm: "cat", CgroupID: 77,
				StartNS: 400_000, StartTime: clk.Time(400_000), ParentStartNS: 300}
			if !h.Time.Equal(wantHdr.Time) {
				t.Errorf("time %v, want %v", h.Time, wantHdr.Time)
			}
			h.Time = wantHdr.Time
			if h != wantHdr {
				t.Errorf("header %+v, want %+v", h, wantHdr)
			}
			got.Header = event.Header{}
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeShort(t *testing.T) {
	rec := record(func(r *openOpenEvent) { setPath(r, "/x") })
	for _, n := range []int{0, 1, 48, recordSize - 1} {
		var d decoder
		if _, ok := d.decode(rec[:n]); ok {
			t.Errorf("%d-byte record accepted", n)
		}
	}
}

// A reused decoder must not leak one record's fields into the next.
func TestDecodeReuse(t *testing.T) {
	var d decoder
	d.decode(record(func(r *openOpenEvent) {
		setPath(r, "/a/long/path")
		r.Truncated, r.Ret, r.Flags = 1, -13, 0o101
	}))
	ev, _ := d.decode(record(func(r *openOpenEvent) { setPath(r, "/b"); r.Ret = 3 }))
	got := ev.(*event.Open)
	if got.Path != "/b" || got.Error != "" || got.Flags != "O_RDONLY" {
		t.Errorf("stale fields: %+v", got)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(record(func(r *openOpenEvent) { setPath(r, "/tmp/x"); r.Flags, r.Mode, r.Ret = 0o2000101, 0o600, 3 }))
	f.Add(record(func(r *openOpenEvent) { setPath(r, "/nope"); r.Ret = -2 }))
	f.Add(record(func(r *openOpenEvent) { setPath(r, strings.Repeat("\xff", 300)); r.Truncated = 1 }))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := decoder{clock: collector.NewClock()}
		ev, ok := d.decode(b)
		if ok != (len(b) >= recordSize) {
			t.Fatalf("decode(%d bytes) ok=%v", len(b), ok)
		}
		if !ok {
			return
		}
		e := ev.(*event.Open)
		if e.Type != Name {
			t.Errorf("type %q", e.Type)
		}
		if !utf8.ValidString(e.Path) || !utf8.ValidString(e.Comm) {
			t.Errorf("invalid UTF-8: %q %q", e.Path, e.Comm)
		}
		if strings.IndexByte(e.Path, 0) >= 0 {
			t.Errorf("NUL in path %q", e.Path)
		}
		if (e.Ret < 0) != (e.Error != "") {
			t.Errorf("ret %d with error %q", e.Ret, e.Error)
		}
		if !strings.HasPrefix(e.Flags, "O_") {
			t.Errorf("flags %q", e.Flags)
		}
	})
}

// Decoding runs for every open in the system: keep it cheap.
func BenchmarkDecode(b *testing.B) {
	rec := record(func(r *openOpenEvent) {
		setPath(r, "/usr/lib/x86_64-linux-gnu/libc.so.6")
		r.Flags, r.Ret = 0o2000000, 3
	})
	d := decoder{clock: collector.NewClock()}
	b.ReportAllocs()
	for b.Loop() {
		d.decode(rec)
	}
}
