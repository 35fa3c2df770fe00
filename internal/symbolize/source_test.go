package symbolize

import (
	"os"
	"os/exec"
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
	sleep := needTool(t, "sleep")
	cmd := exec.Command(sleep, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pid := uint32(cmd.Process.Pid)
	waitForLibc(t, cmd.Process.Pid)
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	runtime.GC()
	before := fds()
	s := New()
	if err := s.Remember(pid); err != nil {
		t.Fatal(err)
	}
	open := fds() - before
	if open < 2 { // sleep and libc at least
		t.Fatalf("%d files open for a remembered process", open)
	}
	s.Forget(pid)
	s = nil
	deadline := time.Now().Add(5 * time.Second)
	for fds() > before && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if n := fds() - before; n > 0 {
		t.Errorf("%d of %d files still open after the symbolizer is gone", n, open)
	}
}
