package exec

import (
	"slices"
	"testing"
	"unsafe"

	"github.com/kscope/kscope/internal/collector"
)

// record builds a ring buffer record the way exec.bpf.c sends it.
func record(ret int32, argc uint32, truncated bool, filename string, args []byte) []byte {
	var raw execExecEvent
	raw.Hdr.Pid, raw.Hdr.Tid, raw.Hdr.Ppid, raw.Hdr.Uid = 10, 11, 1, 1000
	copy(raw.Hdr.Comm[:], "bash")
	raw.Ret, raw.Argc, raw.ArgsSize = ret, argc, uint32(len(args))
	if truncated {
		raw.Truncated = 1
	}
	for i := range filename {
		raw.Filename[i] = int8(filename[i])
	}
	b := make([]byte, argsOffset+len(args))
	copy(b, unsafe.Slice((*byte)(unsafe.Pointer(&raw)), argsOffset))
	copy(b[argsOffset:], args)
	return b
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name      string
		rec       []byte
		ok        bool
		argv      []string
		ret       int32
		errName   string
		truncated bool
	}{
		{"plain", record(0, 3, false, "/bin/ls", []byte("ls\x00-l\x00/tmp\x00")), true, []string{"ls", "-l", "/tmp"}, 0, "", false},
		{"failed", record(-2, 1, false, "/nope", []byte("/nope\x00")), true, []string{"/nope"}, -2, "ENOENT", false},
		{"no args", record(0, 0, false, "/bin/x", nil), true, nil, 0, "", false},
		{"empty arg", record(0, 2, false, "/bin/x", []byte("x\x00\x00")), true, []string{"x", ""}, 0, "", false},
		{"cut last arg", record(0, 2, true, "/bin/x", []byte("x\x00abc")), true, []string{"x", "abc"}, 0, "", true},
		{"argc limits", record(0, 1, true, "/bin/x", []byte("a\x00b\x00")), true, []string{"a"}, 0, "", true},
		{"eacces", record(-13, 0, false, "/x", nil), true, nil, -13, "EACCES", false},
		{"short", make([]byte, argsOffset-1), false, nil, 0, "", false},
	}
	// The unavailable flags are copied as sent.
	unreadable := record(-14, 1, false, "", []byte("exk\x00"))
	unreadable[unsafe.Offsetof(execExecEvent{}.ArgvUnavailable)] = 1
	unreadable[unsafe.Offsetof(execExecEvent{}.FilenameUnavailable)] = 1
	d := decoder{clock: collector.NewClock()}
	if _, ok := d.decode(unreadable); !ok || !d.ev.ArgvUnavailable || !d.ev.FilenameUnavailable ||
		!slices.Equal(d.ev.Argv, []string{"exk"}) || d.ev.Error != "EFAULT" {
		t.Errorf("unavailable flags: %+v", d.ev)
	}
	if _, ok := d.decode(record(0, 1, false, "/x", []byte("x\x00"))); !ok || d.ev.ArgvUnavailable || d.ev.FilenameUnavailable {
		t.Errorf("flags kept from the previous record: %+v", d.ev)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decoder{clock: collector.NewClock()}
			ev, ok := d.decode(tt.rec)
			if ok != tt.ok {
				t.Fatalf("ok = %v", ok)
			}
			if !ok {
				return
			}
			e := &d.ev
			if ev.Hdr() != &e.Header {
				t.Fatal("decode did not return its reused event")
			}
			if !slices.Equal(e.Argv, tt.argv) || e.Ret != tt.ret || e.Error != tt.errName || e.ArgvTruncated != tt.truncated {
				t.Errorf("got argv %q ret %d err %q trunc %v", e.Argv, e.Ret, e.Error, e.ArgvTruncated)
			}
			if e.PID != 10 || e.TID != 11 || e.PPID != 1 || e.UID != 1000 || e.Comm != "bash" || e.Type != "exec" {
				t.Errorf("header %+v", e.Header)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(record(0, 3, false, "/bin/ls", []byte("ls\x00-l\x00/tmp\x00")))
	f.Add(record(-2, 64, true, "/x", []byte("\x00\x00\xff\xfe")))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := decoder{clock: collector.NewClock()}
		ev, ok := d.decode(b)
		if !ok {
			if len(b) >= argsOffset {
				t.Fatal("rejected a record of full size")
			}
			return
		}
		e := ev.Hdr()
		if e.Type != "exec" {
			t.Fatal("wrong type")
		}
		if n := len(d.ev.Argv); n > int(d.raw.Argc) || n > 4096 {
			t.Fatalf("%d args for argc %d", n, d.raw.Argc)
		}
	})
}
