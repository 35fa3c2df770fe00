package run

import (
	"bytes"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/probe/check"
)

func TestPrintf(t *testing.T) {
	for _, tc := range []struct {
		format string
		args   []any
		want   string
	}{
		{"%d %s %5d|%-5s|%x %u %lu %ld %c|\n", []any{int64(42), "str", int64(7), "ab", int64(255), int64(-1), int64(-1), int64(-1), int64(65)},
			"42 str     7|ab   |ff 4294967295 18446744073709551615 -1 A|\n"},
		{"%hhd %hd %lld %llx %X %o %05d %-3d|", []any{int64(300), int64(70000), int64(-5), int64(-1), int64(255), int64(8), int64(42), int64(1)},
			"44 4464 -5 ffffffffffffffff FF 10 00042 1  |"},
		{"100%% %s", []any{"done"}, "100% done"},
		{"%d", nil, "0"},
		{"trailing %", nil, "trailing %"},
		{"%10s|%-10s|", []any{"right", "left"}, "     right|left      |"},
	} {
		if got := Printf(tc.format, tc.args); got != tc.want {
			t.Errorf("Printf(%q) = %q, want %q", tc.format, got, tc.want)
		}
	}
}

func TestStrftime(t *testing.T) {
	tm := time.Date(2026, 3, 7, 4, 5, 9, 0, time.UTC)
	for format, want := range map[string]string{
		"%H:%M:%S\n":        "04:05:09\n",
		"%Y-%m-%d %j %%":    "2026-03-07 066 %",
		"%F %T %y %e|%b %a": "2026-03-07 04:05:09 26  7|Mar Sat",
	} {
		if got := Strftime(format, tm); got != want {
			t.Errorf("Strftime(%q) = %q, want %q", format, got, want)
		}
	}
}

func TestSizeLabel(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 1: "1", 512: "512", 1024: "1K", 3072: "3K", 1 << 20: "1M", 1 << 40: "1T", 1000: "1000", 1536: "1536"} {
		if got := sizeLabel(n); got != want {
			t.Errorf("sizeLabel(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestWriteText prints maps exactly as bpftrace 0.17 does (outputs
// captured from it).
func TestWriteText(t *testing.T) {
	for _, tc := range []struct {
		m    MapData
		want string
	}{
		{MapData{Name: "h", Kind: check.Hist, Keyed: true, Entries: []Entry{
			{Keys: []any{int64(2)}, Buckets: map[int]uint64{5: 1}},
			{Keys: []any{int64(1)}, Buckets: map[int]uint64{3: 1}},
		}}, "@h[1]: \n[2, 4)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\n" +
			"@h[2]: \n[8, 16)                1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\n"},
		{MapData{Name: "st", Kind: check.Stats, Keyed: true, Entries: []Entry{
			{Keys: []any{int64(1)}, Count: 1, Total: 5}, {Keys: []any{int64(2)}, Count: 1, Total: 1}, {Keys: []any{int64(3)}, Count: 1, Total: 3},
		}}, "@st[2]: count 1, average 1, total 1\n@st[3]: count 1, average 3, total 3\n@st[1]: count 1, average 5, total 5\n\n"},
		{MapData{Name: "a", Kind: check.Avg, Entries: []Entry{{Count: 1, Total: -7}}}, "@a: -7\n\n"},
		{MapData{Name: "s", Kind: check.Sum, Keyed: true, Entries: []Entry{{Keys: []any{int64(-1)}, Int: 5}, {Keys: []any{int64(3)}, Int: -7}}},
			"@s[3]: -7\n@s[-1]: 5\n"},
		{MapData{Name: "k", Kind: check.Count, Keyed: true, Entries: []Entry{{Keys: []any{"b", int64(1)}, Int: 2}, {Keys: []any{"a", int64(2)}, Int: 1}}},
			"@k[a, 2]: 1\n@k[b, 1]: 2\n"},
		{MapData{Name: "", Kind: check.Count}, "@: 0\n"},
		{MapData{Name: "e", Kind: check.Sum, Keyed: true}, "\n"},
		{MapData{Name: "e", Kind: check.Hist}, "\n"},
		{MapData{Name: "s", Kind: check.String, Keyed: true, Entries: []Entry{{Keys: []any{"x"}, Str: "abc"}, {Keys: []any{"a"}, Str: "zzz"}}},
			"@s[a]: zzz\n@s[x]: abc\n"},
	} {
		var b bytes.Buffer
		WriteText(&b, &tc.m)
		if b.String() != tc.want {
			t.Errorf("@%s:\ngot\n%q\nwant\n%q", tc.m.Name, b.String(), tc.want)
		}
	}
}

func TestWriteJSON(t *testing.T) {
	for _, tc := range []struct {
		m    MapData
		want string
	}{
		{MapData{Name: "h", Kind: check.Hist, Keyed: true, Entries: []Entry{
			{Keys: []any{int64(1)}, Buckets: map[int]uint64{3: 1}}, {Keys: []any{int64(2)}, Buckets: map[int]uint64{5: 1}},
		}}, `{"type": "hist", "data": {"@h": {"1": [{"min": 2, "max": 3, "count": 1}], "2": [{"min": 8, "max": 15, "count": 1}]}}}` + "\n"},
		{MapData{Name: "x", Kind: check.Count, Keyed: true, Entries: []Entry{{Keys: []any{int64(1), "a"}, Int: 1}}},
			`{"type": "map", "data": {"@x": {"1,a": 1}}}` + "\n"},
		{MapData{Name: "s", Kind: check.String, Entries: []Entry{{Str: "a \"q\" <b>"}}},
			`{"type": "map", "data": {"@s": "a \"q\" <b>"}}` + "\n"},
		{MapData{Name: "a", Kind: check.Avg, Keyed: true, Entries: []Entry{{Keys: []any{int64(1)}, Count: 2, Total: 9}}},
			`{"type": "stats", "data": {"@a": {"1": 4}}}` + "\n"},
		{MapData{Name: "n", Kind: check.Sum}, ""},
		{MapData{Name: "n", Kind: check.Count, Keyed: true}, ""},
		{MapData{Name: "n", Kind: check.Count}, `{"type": "map", "data": {"@n": 0}}` + "\n"},
	} {
		var b bytes.Buffer
		WriteJSON(&b, &tc.m)
		if b.String() != tc.want {
			t.Errorf("@%s:\ngot  %s\nwant %s", tc.m.Name, b.String(), tc.want)
		}
	}
}

func FuzzPrintf(f *testing.F) {
	f.Add("%d %s %5d|%-5s|%x %u %lu %ld %c|\n", int64(-1), "s")
	f.Add("%hhd %%%", int64(300), "")
	f.Fuzz(func(t *testing.T, format string, n int64, s string) {
		Printf(format, []any{n, s, n, s})
		Strftime(format, time.Unix(n%(1<<40), 0))
	})
}
