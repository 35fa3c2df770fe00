package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// storeFiles are the names the stores create in the data directory: none
// may be a symlink or belong to another user.
var storeFiles = []string{
	"metrics",
	"events.db", "events.db-wal", "events.db-shm", "events.db-journal",
	"profiles.db", "profiles.db-wal", "profiles.db-shm", "profiles.db-journal",
}

// prepareDataDir makes dir safe to hold what the agent stores: every
// user's command lines, connections and profiles. It creates dir with mode
// 0700, or checks an existing one: it must be a directory owned by the
// agent's user that no one else can write, reached, if dir is a symlink,
// through a link of that user (or root). A directory a user could write is
// one where they could plant a symlink that makes the agent (often root)
// create or overwrite a file of their choosing. It then takes group and
// other permissions off the directory and the files already in it, and
// sets the umask so the stores create theirs 0600.
func prepareDataDir(dir string) error {
	uid := os.Geteuid()
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating the data directory: %w", err)
		}
		fi, err = os.Lstat(dir)
	}
	if err != nil {
		return fmt.Errorf("checking the data directory: %w", err)
	}
	target := dir
	if fi.Mode()&fs.ModeSymlink != 0 {
		if o := owner(fi); o != uid && o != 0 {
			return fmt.Errorf("data directory %s is a symlink owned by user %d, not by %d or root: another user chose where the agent writes; refusing it", dir, o, uid)
		}
		if target, err = filepath.EvalSymlinks(dir); err != nil {
			return fmt.Errorf("resolving the data directory %s: %w", dir, err)
		}
		if fi, err = os.Lstat(target); err != nil {
			return fmt.Errorf("checking the data directory: %w", err)
		}
	}
	if err := safeDir(dir, target, fi, uid); err != nil {
		return err
	}
	if err := safeAncestors(target, uid); err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(target, 0o700); err != nil {
			return fmt.Errorf("making the data directory %s private: %w", target, err)
		}
	}
	for _, name := range storeFiles {
		p := filepath.Join(target, name)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("checking the data directory: %w", err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%s is a symlink: the agent writes its store there itself; refusing to follow it (remove it)", p)
		}
		if o := owner(fi); o != uid {
			return fmt.Errorf("%s is owned by user %d, not by %d who runs the agent; refusing it", p, o, uid)
		}
	}
	unix.Umask(0o077)
	return privateFiles(target)
}

// safeDir refuses a data directory other users could write.
func safeDir(dir, target string, fi fs.FileInfo, uid int) error {
	name := dir
	if target != dir {
		name = dir + " (-> " + target + ")"
	}
	if !fi.IsDir() {
		return fmt.Errorf("data directory %s is not a directory", name)
	}
	if o := owner(fi); o != uid {
		return fmt.Errorf("data directory %s is owned by user %d, not by %d who runs the agent: that user could plant files the agent trusts; refusing it (use a directory of your own, or chown it)", name, o, uid)
	}
	if fi.Mode().Perm()&0o002 != 0 {
		return fmt.Errorf("data directory %s is world-writable (mode %04o): any user could plant symlinks the agent would follow; refusing it (chmod 0700 it, or use another)", name, fi.Mode().Perm())
	}
	return nil
}

// safeAncestors refuses a data directory inside one another user could
// rename it out of and replace: every directory above it must belong to
// root or the agent's user, and not be world-writable unless sticky (as
// /tmp is: there only an entry's owner may rename it).
func safeAncestors(target string, uid int) error {
	abs, err := filepath.Abs(target)
	if err != nil {
		return fmt.Errorf("checking the data directory: %w", err)
	}
	for d := filepath.Dir(abs); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("checking the data directory: %w", err)
		}
		if o := owner(fi); o != uid && o != 0 {
			return fmt.Errorf("data directory %s is inside %s, owned by user %d: that user could replace it; refusing it", target, d, o)
		}
		if fi.Mode().Perm()&0o002 != 0 && fi.Mode()&fs.ModeSticky == 0 {
			return fmt.Errorf("data directory %s is inside %s, world-writable without the sticky bit (mode %04o): any user could replace it; refusing it", target, d, fi.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// privateFiles takes group and other permissions off what dir holds, for
// data directories an earlier version created 0755 and 0644.
func privateFiles(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("making the data directory private: %w", err)
		}
		if p == dir || d.Type()&fs.ModeSymlink != 0 || !(d.IsDir() || d.Type().IsRegular()) {
			return nil
		}
		fi, err := d.Info()
		if err != nil || fi.Mode().Perm()&0o077 == 0 {
			return nil
		}
		if err := os.Chmod(p, fi.Mode().Perm()&0o700); err != nil {
			return fmt.Errorf("making %s private: %w", p, err)
		}
		return nil
	})
}

func owner(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
