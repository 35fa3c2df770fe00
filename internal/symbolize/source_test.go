package symbolize

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestSourcePool keeps at most max files open and reopens the ones it
// closed, through their paths, while they are the same file.
func TestSourcePool(t *testing.T) {
	dir := t.TempDir()
	pool := &filePool{max: 2}
	var srcs []*source
	for i := range 4 {
		path := filepath.Join(dir, string(rune('a'+i)))
		if err := os.WriteFile(path, []byte(strings.Repeat(string(rune('a'+i)), 64)), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, pool.newSource(f, filepath.Join(dir, "missing"), path))
		if n := pool.open(); n > 2 {
			t.Fatalf("%d files open", n)
		}
	}
	for round := range 3 {
		for i, s := range srcs {
			b := make([]byte, 4)
			if _, err := s.ReadAt(b, 10); err != nil || string(b) != strings.Repeat(string(rune('a'+i)), 4) {
				t.Fatalf("round %d, file %d: %q, %v", round, i, b, err)
			}
			if n := pool.open(); n > 2 {
				t.Fatalf("%d files open", n)
			}
		}
	}
	// A file replaced since (another inode) is not read.
	path := filepath.Join(dir, "a")
	os.Remove(path)
	if err := os.WriteFile(path, []byte(strings.Repeat("z", 64)), 0o644); err != nil {
		t.Fatal(err)
	}
	srcs[1].ReadAt(make([]byte, 1), 0)
	srcs[2].ReadAt(make([]byte, 1), 0) // srcs[0] closed now
	if _, err := srcs[0].ReadAt(make([]byte, 1), 0); err != errReopen {
		t.Errorf("replaced file: %v, want %v", err, errReopen)
	}
	for _, s := range srcs {
		s.close()
	}
	if n := pool.open(); n != 0 {
		t.Errorf("%d files open after close", n)
	}
	if _, err := srcs[1].ReadAt(make([]byte, 1), 0); err != os.ErrClosed {
		t.Errorf("read after close: %v", err)
	}
}

// TestTablesCloseFiles: the files a table reads stay open while a
// remembered process maps them and are closed once the table is garbage.
func TestTablesCloseFiles(t *testing.T) {
	cmd := startSleeper(t)
	s := New()
	p, err := s.remember(uint32(cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	var srcs []*source
	for _, m := range p.maps {
		if m.table != nil {
			srcs = append(srcs, m.table.srcs...)
		}
	}
	state := func() (open, closed int) {
		openFiles.mu.Lock()
		defer openFiles.mu.Unlock()
		for _, src := range srcs {
			if src.f != nil {
				open++
			}
			if src.dead {
				closed++
			}
		}
		return open, closed
	}
	if open, _ := state(); open == 0 || open != len(srcs) {
		t.Fatalf("%d of %d files open for a remembered process", open, len(srcs))
	}
	s.Forget(uint32(cmd.Process.Pid))
	s, p = nil, nil
	deadline := time.Now().Add(5 * time.Second)
	for _, closed := state(); closed < len(srcs) && time.Now().Before(deadline); _, closed = state() {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if open, closed := state(); open != 0 || closed != len(srcs) {
		t.Errorf("after the symbolizer is gone: %d files open, %d of %d closed", open, closed, len(srcs))
	}
}
