package bpfx

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Mount is one pseudo filesystem kscope relies on.
type Mount struct {
	FS      string `json:"fs"`      // tracefs, debugfs, bpf
	Path    string `json:"path"`    // where it is (or should be) mounted
	Mounted bool   `json:"mounted"` // present after EnsureMounts
	ByUs    bool   `json:"mounted_by_kscope,omitempty"`
	Error   string `json:"error,omitempty"` // why mounting failed
}

// Default mount points, in the order they are set up.
var defaultMounts = []Mount{
	{FS: "tracefs", Path: "/sys/kernel/tracing"},
	{FS: "debugfs", Path: "/sys/kernel/debug"},
	{FS: "bpf", Path: "/sys/fs/bpf"},
}

// MountInfoPath is read to learn what is mounted; tests may point it at a fixture.
var MountInfoPath = "/proc/self/mountinfo"

// mounted returns mount point → filesystem type from mountinfo.
func mounted() (map[string]string, error) {
	f, err := os.Open(MountInfoPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountInfo(bufio.NewScanner(f))
}

func parseMountInfo(sc *bufio.Scanner) (map[string]string, error) {
	out := map[string]string{}
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 5 || sep < 0 || sep+1 >= len(fields) {
			continue
		}
		out[unescapeMount(fields[4])] = fields[sep+1]
	}
	return out, sc.Err()
}

// unescapeMount undoes the octal escapes (\040 for space) of mountinfo paths.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%3o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// EnsureMounts mounts tracefs, debugfs and bpffs where they are missing and
// reports the state of each. Errors are recorded per mount, not returned:
// a host without debugfs is fine as long as tracefs is there.
func EnsureMounts() []Mount {
	have, err := mounted()
	out := make([]Mount, len(defaultMounts))
	copy(out, defaultMounts)
	for i := range out {
		m := &out[i]
		if err == nil && have[m.Path] == m.FS {
			m.Mounted = true
			continue
		}
		if err := os.MkdirAll(m.Path, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			m.Error = fmt.Sprintf("creating %s: %v", m.Path, err)
			continue
		}
		if err := unix.Mount(m.FS, m.Path, m.FS, 0, ""); err != nil {
			if errors.Is(err, unix.EBUSY) {
				m.Mounted = true // raced with someone else
				continue
			}
			m.Error = fmt.Sprintf("mounting %s on %s: %v", m.FS, m.Path, err)
			continue
		}
		m.Mounted, m.ByUs = true, true
	}
	return out
}

// ErrTracefsUnreadable is returned (wrapped) when tracefs is mounted but
// this process may not read it: tracefs is mode 0700, owned by root, and
// attaching a tracepoint reads its id there. CAP_BPF and CAP_PERFMON do
// not open it; root or CAP_DAC_OVERRIDE do.
var ErrTracefsUnreadable = errors.New("tracefs is mounted but not readable")

// TracefsEvents are where tracepoint events are found: tracefs, then the
// legacy path in debugfs. Tests may point them at directories of theirs.
var TracefsEvents = []string{"/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"}

// TracefsReady reports whether tracepoint events are reachable, through
// tracefs or the legacy debugfs path.
func TracefsReady() bool { return TracefsErr() == nil }

// TracefsErr says why tracepoint events are not reachable: ErrNoTracefs
// when nothing is there, ErrTracefsUnreadable (naming the directory that
// refused, its mode and owner) when this process may not read it; nil
// when they are reachable.
func TracefsErr() error {
	var denied []string
	for _, p := range TracefsEvents {
		st, err := os.Stat(p)
		if err == nil && st.IsDir() {
			return nil
		}
		if errors.Is(err, fs.ErrPermission) {
			denied = append(denied, deniedDir(p))
		}
	}
	if len(denied) > 0 {
		return fmt.Errorf("%w: %s: run as root, or add CAP_DAC_OVERRIDE to CAP_BPF+CAP_PERFMON", ErrTracefsUnreadable, strings.Join(denied, "; "))
	}
	return ErrNoTracefs
}

// deniedDir names the first directory on the way to p this process may
// not search, with its mode and owner.
func deniedDir(p string) string {
	dirs := []string{}
	for d := p; d != "/" && d != "."; d = filepath.Dir(d) {
		dirs = append([]string{d}, dirs...)
	}
	for _, d := range dirs {
		st, err := os.Stat(d)
		if err != nil {
			continue
		}
		if unix.Access(d, unix.X_OK) != nil {
			owner := ""
			if s, ok := st.Sys().(*syscall.Stat_t); ok {
				owner = fmt.Sprintf(", owner uid %d", s.Uid)
			}
			return fmt.Sprintf("%s is mode %04o%s: permission denied", d, st.Mode().Perm(), owner)
		}
	}
	return p + ": permission denied"
}
