package topui

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func pids(rows []Row) []uint32 {
	out := make([]uint32, len(rows))
	for i, r := range rows {
		out[i] = r.PID
	}
	return out
}

func equal(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var testRows = []Row{
	{PID: 10, Comm: "bash", CPU: 0.10, Syscalls: 50, Read: 100, Write: 0, Rx: 0, Tx: 0},
	{PID: 200, Comm: "nginx", CPU: 0.50, Syscalls: 9000, Read: 10, Write: 10, Rx: 5000, Tx: 90000},
	{PID: 3, Comm: "kswapd0", CPU: 0.02, Syscalls: 0},
	{PID: 4000, Comm: "postgres", CPU: 0.50, Syscalls: 300, Read: 1 << 20, Write: 1 << 19, Rx: 100, Tx: 100},
	{PID: 51, Comm: "Xorg", CPU: 0.05, Syscalls: 300, Write: 2 << 20},
}

func TestSort(t *testing.T) {
	for _, tc := range []struct {
		key     SortKey
		reverse bool
		want    []uint32
	}{
		{SortCPU, false, []uint32{200, 4000, 10, 51, 3}}, // ties by pid
		{SortCPU, true, []uint32{3, 51, 10, 4000, 200}},
		{SortSyscalls, false, []uint32{200, 51, 4000, 10, 3}},
		{SortIO, false, []uint32{51, 4000, 10, 200, 3}},
		{SortRead, false, []uint32{4000, 10, 200, 3, 51}},
		{SortWrite, false, []uint32{51, 4000, 200, 3, 10}},
		{SortNet, false, []uint32{200, 4000, 3, 10, 51}},
		{SortPID, false, []uint32{3, 10, 51, 200, 4000}},
		{SortPID, true, []uint32{4000, 200, 51, 10, 3}},
		{SortComm, false, []uint32{51, 10, 3, 200, 4000}}, // byte order: X before b
	} {
		rows := append([]Row(nil), testRows...)
		Sort(rows, tc.key, tc.reverse)
		if got := pids(rows); !equal(got, tc.want) {
			t.Errorf("sort %v reverse %v: %v, want %v", tc.key, tc.reverse, got, tc.want)
		}
	}
}

func TestParseSortAndCycle(t *testing.T) {
	for i, n := range []string{"pid", "comm", "cpu", "syscalls", "read", "write", "io", "net", "mem"} {
		k, err := ParseSort(n)
		if err != nil || int(k) != i || k.String() != n {
			t.Errorf("ParseSort(%q) = %v, %v", n, k, err)
		}
	}
	if _, err := ParseSort("rss"); err == nil || !strings.Contains(err.Error(), "cpu, syscalls") {
		t.Errorf("ParseSort(rss): %v", err)
	}
	k := SortCPU
	for range nSortKeys {
		k = k.Next()
	}
	if k != SortCPU || SortPID.Prev() != SortMem || SortMem.Next() != SortPID {
		t.Errorf("cycle broken: %v %v %v", k, SortPID.Prev(), SortMem.Next())
	}
}

func TestFilter(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []uint32
	}{
		{"", []uint32{10, 200, 3, 4000, 51}},
		{"ng", []uint32{200}},
		{"NGINX", []uint32{200}},
		{"s", []uint32{10, 3, 4000}},
		{"5", []uint32{51}},               // pid digits
		{"0", []uint32{10, 200, 3, 4000}}, // pids 10, 200, 4000, and kswapd0's comm
		{"x", []uint32{200, 51}},
		{"nothing", []uint32{}},
	} {
		got := pids(Filter(nil, testRows, tc.text))
		if !equal(got, tc.want) {
			t.Errorf("filter %q: %v, want %v", tc.text, got, tc.want)
		}
	}
}

func TestColumnsFit(t *testing.T) {
	wide, narrow := columns(160), columns(80)
	if mid := columns(90); len(mid) != 9 || mid[3].title != "MEM%" {
		t.Errorf("columns at 90: %d, want MEM%% without RSS", len(mid))
	}
	if len(wide) != 12 || len(narrow) != 8 {
		t.Fatalf("columns: %d wide, %d narrow", len(wide), len(narrow))
	}
	if w := tableWidth(narrow); w > 80 {
		t.Errorf("narrow table is %d wide", w)
	}
	r := testRows[1]
	r.User, r.Threads = "www-data", 4
	if got := rowLine(wide, &r); len([]rune(got)) != tableWidth(wide) {
		t.Errorf("row %q is %d wide, want %d", got, len([]rune(got)), tableWidth(wide))
	}
	h := headerLine(wide, SortNet, false)
	if !strings.Contains(h, "RX/s▼") || !strings.Contains(h, "TX/s▼") || strings.Contains(h, "CPU%▼") {
		t.Errorf("net sort header: %q", h)
	}
	if h := headerLine(wide, SortIO, true); !strings.Contains(h, "READ/s▲") || !strings.Contains(h, "WRITE/s▲") {
		t.Errorf("io reverse header: %q", h)
	}
}

func TestWriteBatch(t *testing.T) {
	f := &Frame{
		At:       time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local),
		Interval: time.Second,
		Rows:     append([]Row(nil), testRows...),
		Host: Host{
			CPUs: 2, CPU: 1.17, Syscalls: 9650, Read: 1 << 20, Write: 3 << 19, Rx: 5100, Tx: 90100,
			Procs: 5, Running: 2, Load: []float64{0.5, 0.25, 0.125}, RunqP99: -1, Lost: 3,
			Notes: []string{"net bytes from x (fallback)"},
		},
	}
	f.Rows[1].User, f.Rows[1].Threads = "www-data", 4
	f.Rows[1].RSS, f.Rows[1].Mem, f.Rows[1].HasMem = 300<<20, 0.0732, true
	var b bytes.Buffer
	if err := WriteBatch(&b, "standalone (BPF)", f, SortCPU, false, 2); err != nil {
		t.Fatal(err)
	}
	want := `kscope top - standalone (BPF) - 2026-01-02 03:04:05 - rates over 1.0s
CPU 58.5% of 2 CPUs  syscalls 9.7k/s  file r/w 1.0M/1.5M B/s  net rx/tx 5.0K/88.0K B/s
processes 5  runnable 2  load 0.50 0.25 0.12  lost 3
note: net bytes from x (fallback)

     PID USER       THR COMM              CPU%▼  MEM%     RSS   SYSC/s   READ/s  WRITE/s     RX/s     TX/s
     200 www-data     4 nginx              50.0   7.3    300M     9.0k       10       10     4.9K    87.9K
    4000              - postgres           50.0     -       -      300     1.0M     512K      100      100
`
	if b.String() != want {
		t.Errorf("batch output:\n%s\nwant:\n%s", b.String(), want)
	}
}
