package agent

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/testutil"
)

// nobody is the unprivileged user the hostile data directories belong to.
const nobody = 65534

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testutil.Skip(t, "root (to chown files to another user)", nil)
	}
}

// Data directories another user could write, or chose, are refused with
// an error saying why; nothing is created in them.
func TestDataDirRefused(t *testing.T) {
	requireRoot(t)
	base := t.TempDir()
	mk := func(name string, mode os.FileMode, uid int) string {
		p := filepath.Join(base, name)
		if err := os.Mkdir(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
		return p
	}
	link := func(name, target string, uid int) string {
		p := filepath.Join(base, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := mk("good", 0o700, 0)
	worldWritable := mk("world", 0o777, 0)
	sticky := mk("sticky", os.ModeSticky|0o777, 0)
	others := mk("others", 0o700, nobody)
	planted := mk("planted", 0o700, 0)
	if err := os.Symlink("/etc/kscope-test-target", filepath.Join(planted, "events.db")); err != nil {
		t.Fatal(err)
	}
	foreignDB := mk("foreigndb", 0o700, 0)
	if err := os.WriteFile(filepath.Join(foreignDB, "profiles.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chown(filepath.Join(foreignDB, "profiles.db"), nobody, nobody)
	foreignParent := mk("foreignparent", 0o755, nobody)
	insideForeign := filepath.Join(foreignParent, "data")
	os.Mkdir(insideForeign, 0o700)
	openParent := mk("openparent", 0o777, 0)
	insideOpen := filepath.Join(openParent, "data")
	os.Mkdir(insideOpen, 0o700)
	stickyParent := mk("stickyparent", os.ModeSticky|0o777, 0)
	insideSticky := filepath.Join(stickyParent, "data")
	os.Mkdir(insideSticky, 0o700)
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o600)

	for _, tt := range []struct {
		dir, msg string
	}{
		{worldWritable, "is world-writable (mode 0777)"},
		{sticky, "is world-writable"},
		{others, "is owned by user 65534, not by 0"},
		{link("link-by-nobody", good, nobody), "is a symlink owned by user 65534"},
		{link("link-to-world", worldWritable, 0), "-> " + worldWritable + ") is world-writable"},
		{link("link-to-others", others, 0), "-> " + others + ") is owned by user 65534"},
		{planted, filepath.Join(planted, "events.db") + " is a symlink"},
		{foreignDB, filepath.Join(foreignDB, "profiles.db") + " is owned by user 65534"},
		{file, "is not a directory"},
		{insideForeign, "is inside " + foreignParent + ", owned by user 65534"},
		{insideOpen, "is inside " + openParent + ", world-writable without the sticky bit"},
	} {
		err := prepareDataDir(tt.dir)
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: %v, want %q", tt.dir, err, tt.msg)
		}
		// The agent refuses it before opening anything.
		cfg := testConfig(t)
		cfg.DataDir = tt.dir
		if a, err := Start(context.Background(), cfg, quietLogger); err == nil {
			a.Close()
			t.Errorf("%s: the agent started", tt.dir)
		}
	}
	if _, err := os.Lstat("/etc/kscope-test-target"); err == nil {
		t.Error("the planted symlink was followed")
	}
	for _, d := range []string{worldWritable, others} {
		if ents, _ := os.ReadDir(d); len(ents) != 0 {
			t.Errorf("%s: the agent created %v", d, ents)
		}
	}
	// A symlink of root's to a directory of root's is fine, and so is a
	// directory of root's in a sticky one such as /tmp.
	if err := prepareDataDir(link("link-good", good, 0)); err != nil {
		t.Errorf("good symlink: %v", err)
	}
	if err := prepareDataDir(insideSticky); err != nil {
		t.Errorf("in a sticky directory: %v", err)
	}
}

// The agent creates its data directory 0700 and every file 0600: the
// TSDB (WAL, head chunks), the SQLite stores and their -wal and -shm.
// A directory an earlier version left 0755 with 0644 files is tightened.
func TestDataDirPrivate(t *testing.T) {
	testutil.RequireBPF(t)
	old := filepath.Join(t.TempDir(), "old")
	if err := os.MkdirAll(filepath.Join(old, "metrics"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(old, 0o755)
	os.Chmod(filepath.Join(old, "metrics"), 0o755)
	if err := os.WriteFile(filepath.Join(old, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(old, "notes.txt"), 0o644)
	fresh := filepath.Join(t.TempDir(), "a", "fresh")
	for _, dir := range []string{fresh, old} {
		cfg := testConfig(t, "exit")
		cfg.DataDir = dir
		a, err := Start(context.Background(), cfg, quietLogger)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Ingest(context.Background()); err != nil {
			t.Fatal(err)
		}
		// While the agent runs, SQLite's -wal and -shm files exist too.
		checkPrivate(t, dir, "events.db", "events.db-wal", "events.db-shm", "profiles.db", "profiles.db-wal", "metrics", "metrics/wal")
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		checkPrivate(t, dir, "events.db", "profiles.db", "metrics", "metrics/wal")
	}
}

// checkPrivate fails unless every directory under dir is 0700 at most and
// every file 0600 at most, and the files in want exist.
func checkPrivate(t *testing.T, dir string, want ...string) {
	t.Helper()
	seen := map[string]bool{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed while walking
		}
		rel, _ := filepath.Rel(dir, p)
		seen[rel] = true
		max := fs.FileMode(0o600)
		if d.IsDir() {
			max = 0o700
		}
		if fi.Mode().Perm()&^max != 0 {
			t.Errorf("%s: mode %04o, want at most %04o", p, fi.Mode().Perm(), max)
		}
		return nil
	})
	for _, f := range want {
		if !seen[f] {
			t.Errorf("%s: no %s (saw %v)", dir, f, seen)
		}
	}
}
