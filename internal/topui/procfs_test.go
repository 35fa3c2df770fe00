package topui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const statusFixture = `Name:	my (weird) proc
Umask:	0022
State:	S (sleeping)
Tgid:	4242
Ngid:	0
Pid:	4242
PPid:	1
TracerPid:	0
Uid:	1000	1000	1000	1000
Gid:	1000	1000	1000	1000
Threads:	7
VmRSS:	   20480 kB
`

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     status
		err      string
	}{
		{"full", statusFixture, status{Name: "my (weird) proc", State: "S (sleeping)", PPID: 1, Threads: 7, UID: 1000, RSS: 20 << 20, HasRSS: true}, ""},
		{"bad rss", "Name:\tx\nUid:\t0\nThreads:\t1\nVmRSS:\tlots kB\n", status{}, "VmRSS"},
		{"kernel thread", "Name:\tkworker/0:1\nState:\tI (idle)\nPPid:\t2\nUid:\t0\t0\t0\t0\nThreads:\t1\n", status{Name: "kworker/0:1", State: "I (idle)", PPID: 2, Threads: 1}, ""},
		{"no threads", "Name:\tx\nUid:\t0\t0\t0\t0\n", status{}, "lacks"},
		{"bad uid", "Name:\tx\nUid:\tabc\nThreads:\t1\n", status{}, "Uid"},
		{"empty uid", "Name:\tx\nUid:\t\nThreads:\t1\n", status{}, "empty Uid"},
		{"bad threads", "Name:\tx\nUid:\t0\nThreads:\tmany\n", status{}, "Threads"},
		{"empty", "", status{}, "lacks"},
	} {
		got, err := parseStatus([]byte(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte(statusFixture))
	f.Add([]byte("Name:\nUid:\nThreads:\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseStatus(b)
		if err == nil && s.Threads < 0 && !strings.Contains(string(b), "-") {
			t.Errorf("negative threads from %q", b)
		}
	})
}

func TestParseStartTicks(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"4242 (my (weird) proc) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 7 0 123456 1000 100 0 0", 123456, true},
		{"1 (systemd) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 9 10", 9, true},
		{"1 (systemd) S 0 1", 0, false},
		{"no comm at all", 0, false},
	} {
		got, err := parseStartTicks([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseStartTicks(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseStatAndLoadavg(t *testing.T) {
	cpus, btime, err := parseStat([]byte("cpu  1 2 3\ncpu0 1 2 3\ncpu1 4 5 6\ncpu12 1 1 1\nintr 5\nbtime 1700000000\nprocesses 9\n"))
	if err != nil || cpus != 3 || btime != 1700000000 {
		t.Errorf("parseStat: %d CPUs, btime %d, %v", cpus, btime, err)
	}
	if _, _, err := parseStat([]byte("cpu0 1\n")); err == nil {
		t.Errorf("parseStat without btime: no error")
	}
	load, running, total, err := parseLoadavg([]byte("0.52 0.40 0.33 3/213 4567\n"))
	if err != nil || len(load) != 3 || load[0] != 0.52 || load[2] != 0.33 || running != 3 || total != 213 {
		t.Errorf("parseLoadavg: %v %d %d %v", load, running, total, err)
	}
	for _, bad := range []string{"", "1 2 3", "a 2 3 1/2 5", "1 2 3 12 5", "1 2 3 x/2 5", "1 2 3 1/y 5"} {
		if _, _, _, err := parseLoadavg([]byte(bad)); err == nil {
			t.Errorf("parseLoadavg(%q): no error", bad)
		}
	}
}

func TestParsePasswd(t *testing.T) {
	u := parsePasswd([]byte("root:x:0:0:root:/root:/bin/bash\n# comment:x:5\nbad line\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\ndup:x:33:33::/:/bin/sh\nnum:x:abc:1::/:/bin/sh\n"))
	if len(u) != 2 || u[0] != "root" || u[33] != "www-data" {
		t.Errorf("parsePasswd: %v", u)
	}
}

// fixture writes a proc root with one process and a passwd file.
func fixture(t *testing.T) *ProcFS {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "4242")
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "fd"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "status"), []byte(statusFixture), 0o644))
	must(os.WriteFile(filepath.Join(dir, "cmdline"), []byte("/usr/bin/prog\x00--flag\x00value\x00"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "stat"), []byte("4242 (my (weird) proc) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 7 0 12345 1000 100\n"), 0o644))
	must(os.Symlink("/usr/bin/prog", filepath.Join(dir, "exe")))
	for _, fd := range []string{"0", "1", "2"} {
		must(os.Symlink("/dev/null", filepath.Join(dir, "fd", fd)))
	}
	must(os.WriteFile(filepath.Join(root, "stat"), []byte("cpu 1\ncpu0 1\ncpu1 1\ncpu2 1\ncpu3 1\nbtime 1700000000\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "loadavg"), []byte("1.50 1.00 0.50 4/300 999\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "meminfo"), []byte("MemTotal:        2097152 kB\nMemFree:  1 kB\n"), 0o644))
	// A zombie (not alive) and a kernel thread (alive, no VmRSS).
	must(os.MkdirAll(filepath.Join(root, "77"), 0o755))
	must(os.WriteFile(filepath.Join(root, "77", "stat"), []byte("77 (gone) Z 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "77", "status"), []byte("Name:\tgone\nUid:\t0\nThreads:\t1\n"), 0o644))
	must(os.MkdirAll(filepath.Join(root, "2"), 0o755))
	must(os.WriteFile(filepath.Join(root, "2", "stat"), []byte("2 (kthreadd) S 0 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "2", "status"), []byte("Name:\tkthreadd\nUid:\t0\t0\t0\t0\nThreads:\t1\n"), 0o644))
	passwd := filepath.Join(t.TempDir(), "passwd")
	must(os.WriteFile(passwd, []byte("alice:x:1000:1000::/home/alice:/bin/sh\n"), 0o644))
	return &ProcFS{Root: root, Passwd: passwd}
}

func TestProcFSFixture(t *testing.T) {
	p := fixture(t)
	rows := []Row{{PID: 4242}, {PID: 999}, {PID: 2}}
	p.Enrich(rows)
	if rows[0].User != "alice" || rows[0].Threads != 7 || rows[1].User != "" || rows[1].Threads != 0 {
		t.Errorf("enrich: %+v", rows)
	}
	// 20 MiB of 2 GiB.
	if !rows[0].HasMem || rows[0].RSS != 20<<20 || rows[0].Mem != 20.0/2048 || rows[1].HasMem || rows[2].HasMem {
		t.Errorf("enrich memory: %+v", rows)
	}
	var h Host
	p.Host(&h)
	// 4242 and 2 live; 77 is a zombie.
	if h.CPUs != 4 || h.Running != 3 || len(h.Load) != 3 || h.Load[0] != 1.5 || h.Procs != 2 {
		t.Errorf("host: %+v", h)
	}
	d := &Detail{PID: 4242}
	p.Detail(4242, d)
	want := time.Unix(1700000000, 0).Add(123450 * time.Millisecond)
	if d.Comm != "my (weird) proc" || d.User != "alice" || d.PPID != 1 || d.Threads != 7 || d.State != "S (sleeping)" ||
		d.Cmdline != "/usr/bin/prog --flag value" || d.Exe != "/usr/bin/prog" || d.OpenFiles != 3 || !d.Started.Equal(want) || d.Gone {
		t.Errorf("detail: %+v (started want %v)", d, want)
	}
	gone := &Detail{PID: 999}
	p.Detail(999, gone)
	if !gone.Gone {
		t.Errorf("missing process not Gone: %+v", gone)
	}
	if p.User(5) != "5" {
		t.Errorf("unknown uid: %q", p.User(5))
	}
}

// The real /proc: this process.
func TestProcFSSelf(t *testing.T) {
	var p ProcFS
	pid := uint32(os.Getpid())
	d := &Detail{PID: pid}
	p.Detail(pid, d)
	exe, _ := os.Executable()
	if d.Gone || d.Exe != exe || d.Threads < 1 || d.OpenFiles < 3 || d.PPID != os.Getppid() || time.Since(d.Started) > time.Hour || time.Since(d.Started) < -2*time.Second {
		t.Errorf("self: %+v", d)
	}
}
