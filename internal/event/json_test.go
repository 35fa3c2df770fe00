package event_test

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/event"
)

var when = time.Date(2026, 11, 24, 10, 11, 12, 123456789, time.UTC)

func hdr(kind string) event.Header {
	return event.Header{Time: when, Type: kind, PID: 10, TID: 11, PPID: 1, UID: 1000, Comm: "ba\"sh\n", CgroupID: 77, StartNS: 123456789012, StartTime: when.Add(-time.Hour), ParentStartNS: 3456789}
}

var samples = []event.Event{
	&event.Exec{Header: hdr("exec"), Filename: "/bin/echo", Argv: []string{"echo", "a b", "\x01ü\u2028"}, ArgvTruncated: true},
	&event.Exec{Header: hdr("exec"), Filename: "/nope", Argv: []string{}, Ret: -2, Error: "ENOENT"},
	&event.Exit{Header: hdr("exit"), ExitCode: 7, Signal: 0, DurationNS: 12345},
	&event.Exit{Header: hdr("exit"), Signal: 11, CoreDumped: true},
	&event.Open{Header: hdr("open"), Path: "/tmp/x", Flags: "O_WRONLY|O_CREAT", Mode: 0o644, Ret: 3},
	&event.Open{Header: hdr("open"), Path: "/missing", Flags: "O_RDONLY", Ret: -2, Error: "ENOENT"},
	&event.Connect{Header: hdr("connect"), Family: "inet6", Proto: "tcp", SAddr: "::1", SPort: 40000, DAddr: "::1", DPort: 80, Ret: -111, Error: "ECONNREFUSED", LatencyNS: 5000},
	&event.OOM{Header: hdr("oom"), TriggerPID: 12, TriggerComm: "al\"loc", MemcgID: 4242, TotalVMBytes: 1 << 40, AnonRSSBytes: 33 << 20, FileRSSBytes: 4096, ShmemRSSBytes: 0, PgtablesBytes: 1 << 17, OOMScoreAdj: -1000},
	&event.OOM{Header: hdr("oom")},
	&event.Signal{Header: hdr("signal"), Signal: "SIGSEGV", Signo: 11, Code: 1, Fatal: true, CoreDumped: true, SenderPID: 10, SenderTID: 11, SenderUID: 1000, SenderComm: "ba\"sh\n"},
	&event.Signal{Header: hdr("signal"), Signal: "SIGRTMIN+2", Signo: 36, Code: -6, Fatal: true},
	&event.HTTP{Header: hdr("http"), Role: "server", Method: "POST", Path: "/a\"b", Host: "example.com", Status: 201, LatencyNS: 123456, BytesIn: 300, BytesOut: 120, TLS: true, LAddr: "127.0.0.1:8443", RAddr: "[::1]:40000"},
	&event.HTTP{Header: hdr("http"), Role: "client", Method: "GET", Path: "/"},
	&event.Uprobe{Header: hdr("uprobe"), Probe: "/bin/x:f", Args: []event.Int{{V: 1, Signed: true}, {V: 1<<64 - 5, Signed: true}}},
	&event.Uprobe{Header: hdr("uprobe"), Probe: "/bin/x:g", Args: []event.Int{}, Str: new("a\"b"), StrTruncated: true, Ret: &event.Int{V: 0, Signed: true}, LatencyNS: 1500},
	&event.USDT{Header: hdr("usdt"), Probe: "p:n", Binary: "/bin/x", Args: []event.Int{{V: 1<<64 - 1}, {V: 1<<64 - 1, Signed: true}}, Str: new("")},
	&event.Exec{Header: hdr("exec"), Filename: "", FilenameUnavailable: true, Argv: []string{"x"}, ArgvUnavailable: true, Ret: -14, Error: "EFAULT"},
}

// TestJSONMatchesEncodingJSON checks the hand-written encoder against
// encoding/json field by field.
func TestJSONMatchesEncodingJSON(t *testing.T) {
	for _, ev := range samples {
		got := event.AppendJSON(nil, ev)
		want, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var g, w map[string]any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("invalid JSON %s: %v", got, err)
		}
		json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s event:\n got %s\nwant %s", ev.Hdr().Type, got, want)
		}
		if !strings.HasPrefix(string(got), `{"time":"2026-11-24T10:11:12.123456789Z","type":`) {
			t.Errorf("time/type not first: %s", got)
		}
	}
}

// TestJSONGolden holds the encoding byte for byte, field order included:
// testdata/samples.jsonl is what the encoder wrote before events encoded
// themselves.
func TestJSONGolden(t *testing.T) {
	want, err := os.ReadFile("testdata/samples.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for _, ev := range samples {
		got = append(event.AppendJSON(got, ev), '\n')
	}
	if !bytes.Equal(got, want) {
		t.Errorf("encoding changed:\n got %s\nwant %s", got, want)
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("plain")
	f.Add("quo\"te\\ \x00\x1f \xff\xfe \u2028")
	f.Fuzz(func(t *testing.T, s string) {
		got := event.AppendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("invalid JSON %q for %q: %v", got, s, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Fatalf("round trip %q: got %q want %q", s, back, wantBack)
		}
	})
}

// The exec ARGS cell shows argv, the filename that failed, and markers for
// what could not be read.
func TestExecArgsCell(t *testing.T) {
	for _, tt := range []struct {
		e    event.Exec
		want string
	}{
		{event.Exec{Filename: "/bin/ls", Argv: []string{"ls", "-l"}}, "ls -l"},
		{event.Exec{Filename: "/bin/x"}, "/bin/x"},
		{event.Exec{Filename: "/bin/x", Argv: []string{"x", "a"}, ArgvTruncated: true}, "x a ..."},
		{event.Exec{Filename: "/usr/local/sbin/ls", Argv: []string{"ls", "-l"}, Ret: -2, Error: "ENOENT"}, "ls -l  [ENOENT: /usr/local/sbin/ls]"},
		{event.Exec{Filename: "/nope", Ret: -2, Error: "ENOENT"}, "/nope  [ENOENT: /nope]"},
		{event.Exec{Filename: "/bin/true", Argv: []string{"exk"}, ArgvUnavailable: true, Ret: -14, Error: "EFAULT"}, "exk <argv unreadable>  [EFAULT: /bin/true]"},
		{event.Exec{Filename: "/nope", ArgvUnavailable: true, Ret: -2, Error: "ENOENT"}, "<argv unreadable>  [ENOENT: /nope]"},
		{event.Exec{FilenameUnavailable: true, ArgvUnavailable: true, Ret: -14, Error: "EFAULT"}, "<argv unreadable>  [EFAULT: <filename unreadable>]"},
	} {
		if got := tt.e.ArgsCell(); got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.e, got, tt.want)
		}
	}
}

// FuzzBuiltinJSON: every built-in type's encoding reads back through
// encoding/json as the same values encoding/json writes, whatever the
// strings and numbers.
func FuzzBuiltinJSON(f *testing.F) {
	f.Add("bash", "/bin/sh", "ENOENT", int32(-2), uint64(7), true)
	f.Add("\xff\x00\"", "\u2028\\", "", int32(1<<31-1), uint64(1<<64-1), false)
	f.Fuzz(func(t *testing.T, comm, s, errno string, n int32, u uint64, flag bool) {
		h := hdr("")
		h.Comm = comm
		with := func(typ string) event.Header { h.Type = typ; return h }
		str := s
		for _, ev := range []event.Event{
			&event.Exec{Header: with("exec"), Filename: s, FilenameUnavailable: flag, Argv: []string{s, comm}, Ret: n, Error: errno},
			&event.Exit{Header: with("exit"), ExitCode: n, Signal: n, CoreDumped: flag, DurationNS: u},
			&event.Open{Header: with("open"), Path: s, PathTruncated: flag, Flags: errno, Mode: uint32(u), Ret: n, Error: errno},
			&event.Connect{Header: with("connect"), Family: s, Proto: comm, SAddr: s, SPort: uint16(u), DAddr: errno, DPort: uint16(n), Ret: n, Error: errno, LatencyNS: u},
			&event.OOM{Header: with("oom"), TriggerPID: uint32(n), TriggerComm: s, MemcgID: u, AnonRSSBytes: u, OOMScoreAdj: int16(n)},
			&event.Signal{Header: with("signal"), Signal: s, Signo: n, Fatal: flag, SenderComm: errno, SenderPID: uint32(u)},
			&event.HTTP{Header: with("http"), Role: comm, Method: s, Path: errno, Host: s, Status: n, LatencyNS: u, TLS: flag, LAddr: s, RAddr: comm},
			&event.Uprobe{Header: with("uprobe"), Probe: s, Args: []event.Int{{V: u, Signed: flag}, {V: uint64(n), Signed: true}}, Str: &str, StrTruncated: flag, Ret: &event.Int{V: u, Signed: !flag}, LatencyNS: u},
			&event.USDT{Header: with("usdt"), Probe: s, Binary: comm, Args: []event.Int{{V: u}}, StrUnavailable: flag},
		} {
			got := event.AppendJSON(nil, ev)
			want, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("invalid JSON %s: %v", got, err)
			}
			if err := json.Unmarshal(want, &w); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("%s:\n got %s\nwant %s", ev.Hdr().Type, got, want)
			}
		}
	})
}
