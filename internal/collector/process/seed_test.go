package process

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStatState(t *testing.T) {
	tests := []struct {
		stat string
		want byte
	}{
		{"1 (systemd) S 0 1 1 0 -1", 'S'},
		{"42 (a) b) (c) Z 1 42", 'Z'},
		{"7 (x\ny) R 1", 'R'},
		{"7 (x) ", 0},
		{"7 (x)", 0},
		{"7 x S", 0},
		{"", 0},
	}
	for _, tt := range tests {
		if got := statState([]byte(tt.stat)); got != tt.want {
			t.Errorf("statState(%q) = %q, want %q", tt.stat, got, tt.want)
		}
	}
}

func TestStatusThreads(t *testing.T) {
	tests := []struct {
		status string
		want   int
	}{
		{"Name:\tgo\nState:\tZ (zombie)\nThreads:\t5\nSigQ:\t0/1\n", 5},
		{"Name:\tx\nThreads:\t1", 1},
		{"Name:\tx\nThreads:\tlots\n", 0},
		{"Name:\tx\nThreads:\t-3\n", 0},
		{"Threads:\t9\n", 0}, // not after a newline: not the field
		{"", 0},
	}
	for _, tt := range tests {
		if got := statusThreads([]byte(tt.status)); got != tt.want {
			t.Errorf("statusThreads(%q) = %d, want %d", tt.status, got, tt.want)
		}
	}
}

func FuzzStatState(f *testing.F) {
	f.Add([]byte("1 (init) S 0"), []byte("Threads:\t3\n"))
	f.Fuzz(func(t *testing.T, stat, status []byte) {
		if s := statState(stat); s != 0 && len(stat) < 4 {
			t.Fatalf("state %q from %q", s, stat)
		}
		if n := statusThreads(status); n < 0 {
			t.Fatalf("threads %d", n)
		}
	})
}

func TestScanProcFixture(t *testing.T) {
	root := t.TempDir()
	for pid, files := range map[string][2]string{
		"1":    {"1 (init) S 0 1", "Threads:\t1\n"},
		"20":   {"20 (zombie) Z 1", "Name:\tz\nThreads:\t1\n"},
		"21":   {"21 (leader) gone) Z 1", "Name:\tl\nThreads:\t4\n"},
		"22":   {"22 (dead) X 1", ""},
		"300":  {"300 (kworker/0:1) I 2", ""},
		"self": {"1 (init) S 0 1", ""},
	} {
		dir := filepath.Join(root, pid)
		os.Mkdir(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "stat"), []byte(files[0]), 0o644)
		os.WriteFile(filepath.Join(dir, "status"), []byte(files[1]), 0o644)
	}
	os.Mkdir(filepath.Join(root, "400"), 0o755) // ended while read: no stat
	alive, err := scanProc(root)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint32]bool{1: true, 21: true, 300: true}
	if len(alive) != len(want) {
		t.Errorf("alive %v, want %v", alive, want)
	}
	for pid := range want {
		if _, ok := alive[pid]; !ok {
			t.Errorf("%d missing from %v", pid, alive)
		}
	}
}

func TestSeedCorrection(t *testing.T) {
	alive := map[uint32]struct{}{1: {}, 10: {}, 11: {}}
	window := map[uint32]uint32{
		10: seedFork,            // forked during the read, seen: counted twice
		12: seedFork,            // forked, not seen: right
		11: seedExit,            // older, ended after the read saw it: right
		13: seedExit,            // older, ended before the read: subtracted by the kernel only
		14: seedFork + seedExit, // forked and ended, not seen: right
	}
	if got := seedCorrection(alive, window); got != 0 {
		t.Errorf("correction %d, want 0 (-1 +1)", got)
	}
	window[15] = seedExit
	if got := seedCorrection(alive, window); got != 1 {
		t.Errorf("correction %d, want 1", got)
	}
}

func TestSchedstatRuntime(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"5000049123 1234 56\n", 5000049123, true},
		{"0 0 0\n", 0, true},
		{"", 0, false},
		{"abc 1 2\n", 0, false},
		{"-1 2 3", 0, false},
		{"18446744073709551615 0 0", 18446744073709551615, true},
	} {
		got, ok := schedstatRuntime([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("schedstatRuntime(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzSchedstatRuntime(f *testing.F) {
	f.Add([]byte("5000049123 1234 56\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, ok := schedstatRuntime(b); !ok && n != 0 {
			t.Errorf("%q: %d without ok", b, n)
		}
	})
}
