package signals

import (
	"testing"
	"unsafe"
)

func TestDecode(t *testing.T) {
	var raw signalsSignalEvent
	raw.Hdr.Pid, raw.Hdr.Tid = 42, 43
	copy(raw.Hdr.Comm[:], "sleep")
	raw.Signo, raw.Code, raw.CoreDumped = 11, 1, 1
	raw.SenderPid, raw.SenderTid, raw.SenderUid = 7, 8, 1000
	copy(raw.SenderComm[:], "bash\xff")
	b := unsafe.Slice((*byte)(unsafe.Pointer(&raw)), recordSize)
	d := newDecoder()
	if _, ok := d.decode(b[:recordSize-1]); ok {
		t.Fatal("short record accepted")
	}
	if _, ok := d.decode(b); !ok {
		t.Fatal("record rejected")
	}
	e := d.ev
	if e.Type != "signal" || e.PID != 42 || e.TID != 43 || e.Comm != "sleep" || e.Signal != "SIGSEGV" || e.Signo != 11 ||
		e.Code != 1 || !e.Fatal || !e.CoreDumped || e.SenderPID != 7 || e.SenderTID != 8 || e.SenderUID != 1000 ||
		e.SenderComm != "bash\uFFFD" {
		t.Errorf("decoded %+v", e)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(make([]byte, recordSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := newDecoder()
		if _, ok := d.decode(b); ok != (len(b) >= recordSize) {
			t.Fatalf("ok = %v for %d bytes", ok, len(b))
		}
		if d.ev.Signo < 0 || d.ev.Signo > 127 || (d.ev.Signo != 0 && d.ev.Signal == "") {
			t.Fatalf("signal %d %q", d.ev.Signo, d.ev.Signal)
		}
	})
}
