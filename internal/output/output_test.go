package output

import (
	"bytes"
	"os"
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

func TestTable(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, false)
	w.Header("open")
	for _, ev := range samples[4:6] {
		w.Emit(ev)
	}
	w.Flush()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines:\n%s", len(lines), buf.String())
	}
	for _, want := range []string{"TIME", "COMM", "PID", "FD", "ERR", "FLAGS", "PATH"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("header %q lacks %s", lines[0], want)
		}
	}
	// Columns line up: PATH starts at the same offset in every line.
	col := strings.Index(lines[0], "PATH")
	if strings.Index(lines[1], "/tmp/x") != col || strings.Index(lines[2], "/missing") != col {
		t.Errorf("PATH column not aligned:\n%s", buf.String())
	}
	if !strings.Contains(lines[2], "ENOENT") {
		t.Errorf("error missing: %s", lines[2])
	}
}

func TestEveryKindHasATable(t *testing.T) {
	for _, k := range event.Kinds {
		if kind := event.LookupKind(k); kind == nil || len(kind.Columns) == 0 {
			t.Errorf("no table for %s", k)
		}
	}
	for _, ev := range samples {
		if row := AppendRow(nil, ev); !bytes.HasSuffix(row, []byte("\n")) || len(row) < 40 {
			t.Errorf("row %q", row)
		}
	}
}

func TestOOMAndSignalRows(t *testing.T) {
	oom := string(AppendRow(nil, samples[7]))
	for _, want := range []string{"33796", "1073741824", "-1000", `al"loc[12]`} {
		if !strings.Contains(oom, want) {
			t.Errorf("oom row %q lacks %q", oom, want)
		}
	}
	sig := string(AppendRow(nil, samples[9]))
	for _, want := range []string{"SIGSEGV(core)", `ba"sh\x0a[10]`} {
		if !strings.Contains(sig, want) {
			t.Errorf("signal row %q lacks %q", sig, want)
		}
	}
	if row := string(AppendRow(nil, samples[10])); !strings.HasSuffix(row, " -\n") || !strings.Contains(row, "SIGRTMIN+2") {
		t.Errorf("signal row without sender: %q", row)
	}
	if SignalName(0) != "-" || SignalName(9) != "SIGKILL" || SignalName(40) != "SIGRTMIN+6" {
		t.Errorf("SignalName: %q %q %q", SignalName(0), SignalName(9), SignalName(40))
	}
}

// TestTableGolden holds every kind's header and rows byte for byte:
// testdata/samples.table is what the renderer wrote before events made
// their own cells.
func TestTableGolden(t *testing.T) {
	want, err := os.ReadFile("testdata/samples.table")
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for _, ev := range samples {
		got = AppendHeader(got, ev.Hdr().Type)
		got = AppendRow(got, ev)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("table changed:\n got %s\nwant %s", got, want)
	}
}

// A kind built at run time renders as a table and as JSON lines from its
// kind alone, without being registered.
func TestDynamicKind(t *testing.T) {
	k, err := event.NewKind("script_probe", "a script's probe", []event.Field{
		{Name: "fn", Type: event.TypeString, Doc: "function"},
		{Name: "bytes", Type: event.TypeUint, Doc: "size"},
		{Name: "ok", Type: event.TypeBool, Doc: "flag"},
		{Name: "words", Type: event.TypeStrings, Doc: "words"},
	})
	if err != nil {
		t.Fatal(err)
	}
	newEv := func(fn string, n uint64) *event.Dynamic {
		ev := event.NewDynamic(k)
		ev.Header = hdr("script_probe")
		ev.Set("fn", event.StringValue(fn))
		ev.Set("bytes", event.UintValue(n))
		ev.Set("ok", event.BoolValue(n > 10))
		ev.Set("words", event.StringsValue([]string{"a", "b\n"}))
		return ev
	}
	var buf bytes.Buffer
	w := NewWriter(&buf, false)
	w.Header("script_probe") // not registered: the first event prints it
	w.Emit(newEv("read", 4096))
	w.Emit(newEv("write\x01", 1))
	w.Flush()
	want := "TIME            COMM                 PID FN                      BYTES OK    WORDS\n" +
		`10:11:12.123456 ba"sh\x0a             10 read                     4096 true  a b\x0a` + "\n" +
		`10:11:12.123456 ba"sh\x0a             10 write\x01                   1 false a b\x0a` + "\n"
	if buf.String() != want {
		t.Errorf("table\n got %q\nwant %q", buf.String(), want)
	}
	buf.Reset()
	w = NewWriter(&buf, true)
	w.Emit(newEv("read", 4096))
	w.Flush()
	wantJSON := `{"time":"2026-11-24T10:11:12.123456789Z","type":"script_probe","pid":10,"tid":11,"ppid":1,"uid":1000,"comm":"ba\"sh\n","cgroup_id":77,"start_ns":123456789012,"start_time":"2026-11-24T09:11:12.123456789Z","parent_start_ns":3456789,"fn":"read","bytes":4096,"ok":true,"words":["a","b\n"]}` + "\n"
	if buf.String() != wantJSON {
		t.Errorf("JSON\n got %s\nwant %s", buf.String(), wantJSON)
	}
}
