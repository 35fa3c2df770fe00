package topui

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ProcFS reads what the kernel maps do not hold: process details from a
// proc filesystem and user names from a passwd file. The paths are
// configurable so tests can use fixtures.
type ProcFS struct {
	Root   string // default /proc
	Passwd string // default /etc/passwd

	users   map[uint32]string
	usersAt time.Time
}

// userHZ is the unit of the times in /proc/PID/stat: USER_HZ, 100 on every
// architecture Linux has today.
const userHZ = 100

func (p *ProcFS) root() string {
	if p.Root == "" {
		return "/proc"
	}
	return p.Root
}

// status is what kscope reads from /proc/PID/status.
type status struct {
	Name    string
	State   string
	PPID    int
	Threads int
	UID     uint32
	RSS     uint64 // bytes
	HasRSS  bool   // VmRSS is there (not for kernel threads)
}

// parseStatus reads the fields of a /proc/PID/status file that kscope
// uses. Name, Uid and Threads must be there.
func parseStatus(b []byte) (status, error) {
	var s status
	var have int
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		switch string(k) {
		case "Name":
			s.Name = string(v)
			have |= 1
		case "State":
			s.State = string(v)
		case "PPid":
			s.PPID, _ = strconv.Atoi(string(v))
		case "VmRSS":
			kb, err := strconv.ParseUint(string(bytes.TrimSpace(bytes.TrimSuffix(v, []byte("kB")))), 10, 64)
			if err != nil {
				return s, fmt.Errorf("parsing VmRSS %q: %w", v, err)
			}
			s.RSS, s.HasRSS = kb<<10, true
		case "Threads":
			n, err := strconv.Atoi(string(v))
			if err != nil {
				return s, fmt.Errorf("parsing Threads %q: %w", v, err)
			}
			s.Threads = n
			have |= 2
		case "Uid":
			// Real, effective, saved, filesystem: the real one.
			f := bytes.Fields(v)
			if len(f) == 0 {
				return s, errors.New("empty Uid")
			}
			n, err := strconv.ParseUint(string(f[0]), 10, 32)
			if err != nil {
				return s, fmt.Errorf("parsing Uid %q: %w", v, err)
			}
			s.UID = uint32(n)
			have |= 4
		}
	}
	if have != 7 {
		return s, errors.New("status lacks Name, Uid or Threads")
	}
	return s, nil
}

func (p *ProcFS) status(pid uint32) (status, error) {
	b, err := os.ReadFile(filepath.Join(p.root(), strconv.FormatUint(uint64(pid), 10), "status"))
	if err != nil {
		return status{}, err
	}
	return parseStatus(b)
}

// parsePasswd maps uids to user names.
func parsePasswd(b []byte) map[uint32]string {
	users := map[uint32]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		uid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		if _, dup := users[uint32(uid)]; !dup {
			users[uint32(uid)] = f[0]
		}
	}
	return users
}

// User returns the name of uid, or the number when the passwd file has
// none. The file is read again at most once a minute.
func (p *ProcFS) User(uid uint32) string {
	if p.users == nil || time.Since(p.usersAt) > time.Minute {
		path := p.Passwd
		if path == "" {
			path = "/etc/passwd"
		}
		b, _ := os.ReadFile(path)
		p.users, p.usersAt = parsePasswd(b), time.Now()
	}
	if u, ok := p.users[uid]; ok {
		return u
	}
	return strconv.FormatUint(uint64(uid), 10)
}

// Enrich fills in the user, thread count and resident memory of every row
// whose process is in /proc.
func (p *ProcFS) Enrich(rows []Row) {
	mem := p.memTotal()
	for i := range rows {
		r := &rows[i]
		st, err := p.status(r.PID)
		if err != nil {
			continue
		}
		r.User = p.User(st.UID)
		r.Threads = st.Threads
		if st.HasRSS {
			r.RSS, r.HasMem, r.Mem = st.RSS, true, -1
			if mem > 0 {
				r.Mem = float64(st.RSS) / float64(mem)
			}
		}
	}
}

// memTotal returns MemTotal of /proc/meminfo in bytes, 0 if unknown.
func (p *ProcFS) memTotal() uint64 {
	b, err := os.ReadFile(filepath.Join(p.root(), "meminfo"))
	if err != nil {
		return 0
	}
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		if v, ok := bytes.CutPrefix(line, []byte("MemTotal:")); ok {
			kb, err := strconv.ParseUint(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// liveProcesses counts the processes alive in /proc as kscope_processes
// does: every pid directory but zombies and dead tasks (a zombie leader
// whose other threads still run counts).
func (p *ProcFS) liveProcesses() (int, error) {
	d, err := os.Open(p.root())
	if err != nil {
		return 0, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range names {
		if _, err := strconv.ParseUint(name, 10, 32); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(p.root(), name, "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		switch statState(b) {
		case 0, 'X', 'x':
			continue
		case 'Z':
			b, err := os.ReadFile(filepath.Join(p.root(), name, "status"))
			if err != nil {
				continue
			}
			if st, err := parseStatus(b); err != nil || st.Threads < 2 {
				continue
			}
		}
		n++
	}
	return n, nil
}

// statState returns the state letter of a /proc/PID/stat line, found after
// the last ')' since comm may hold anything; 0 if there is none.
func statState(stat []byte) byte {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) || stat[i+1] != ' ' {
		return 0
	}
	return stat[i+2]
}

// Detail fills in d from /proc/PID: command line, executable, user,
// state, parent, threads, open files and start time. A process that is
// not there is marked Gone.
func (p *ProcFS) Detail(pid uint32, d *Detail) {
	dir := filepath.Join(p.root(), strconv.FormatUint(uint64(pid), 10))
	st, err := p.status(pid)
	if err != nil {
		d.Gone = true
		return
	}
	if d.Comm == "" {
		d.Comm = st.Name
	}
	d.User, d.State, d.PPID, d.Threads = p.User(st.UID), st.State, st.PPID, st.Threads
	if b, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
		d.Cmdline = strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
	}
	if d.Cmdline == "" {
		d.Cmdline = "[" + st.Name + "]" // a kernel thread
	}
	if exe, err := os.Readlink(filepath.Join(dir, "exe")); err == nil {
		d.Exe = exe
	} else if !errors.Is(err, os.ErrNotExist) {
		d.Problems = append(d.Problems, "exe: "+err.Error())
	}
	d.OpenFiles = -1
	if fds, err := os.ReadDir(filepath.Join(dir, "fd")); err == nil {
		d.OpenFiles = len(fds)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "stat")); err == nil {
		if ticks, err := parseStartTicks(b); err == nil {
			if boot, err := p.bootTime(); err == nil {
				d.Started = boot.Add(time.Duration(ticks) * time.Second / userHZ)
			}
		}
	}
}

// parseStartTicks returns starttime, field 22 of /proc/PID/stat, in
// clock ticks after boot. The comm (field 2) may hold spaces and
// parentheses: the fields after it start after the last ')'.
func parseStartTicks(b []byte) (uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("stat: no comm")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state): field 22 is f[19].
	if len(f) < 20 {
		return 0, fmt.Errorf("stat: %d fields after comm, want at least 20", len(f))
	}
	return strconv.ParseUint(string(f[19]), 10, 64)
}

func (p *ProcFS) bootTime() (time.Time, error) {
	b, err := os.ReadFile(filepath.Join(p.root(), "stat"))
	if err != nil {
		return time.Time{}, err
	}
	_, btime, err := parseStat(b)
	return time.Unix(btime, 0), err
}

// parseStat returns the number of CPUs (cpuN lines) and the boot time
// (btime) of /proc/stat.
func parseStat(b []byte) (cpus int, btime int64, err error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "cpu") && len(l) > 3 && l[3] >= '0' && l[3] <= '9':
			cpus++
		case strings.HasPrefix(l, "btime "):
			btime, err = strconv.ParseInt(strings.TrimSpace(l[6:]), 10, 64)
			if err != nil {
				return cpus, 0, fmt.Errorf("btime: %w", err)
			}
		}
	}
	if btime == 0 {
		return cpus, 0, errors.New("/proc/stat has no btime")
	}
	return cpus, btime, nil
}

// parseLoadavg reads /proc/loadavg: "0.52 0.40 0.33 3/213 4567".
func parseLoadavg(b []byte) (load []float64, running, total int, err error) {
	f := strings.Fields(string(b))
	if len(f) < 4 {
		return nil, 0, 0, fmt.Errorf("loadavg %q: want 5 fields", b)
	}
	for _, s := range f[:3] {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("loadavg %q: %w", s, err)
		}
		load = append(load, v)
	}
	r, t, ok := strings.Cut(f[3], "/")
	if !ok {
		return nil, 0, 0, fmt.Errorf("loadavg %q: want running/total", f[3])
	}
	if running, err = strconv.Atoi(r); err != nil {
		return nil, 0, 0, fmt.Errorf("loadavg running %q: %w", r, err)
	}
	if total, err = strconv.Atoi(t); err != nil {
		return nil, 0, 0, fmt.Errorf("loadavg total %q: %w", t, err)
	}
	return load, running, total, nil
}

// Host fills in the CPU count, load averages, runnable tasks and the
// processes alive now.
func (p *ProcFS) Host(h *Host) {
	h.Running = -1
	if n, err := p.liveProcesses(); err == nil && n > 0 {
		h.Procs = n
	}
	if b, err := os.ReadFile(filepath.Join(p.root(), "stat")); err == nil {
		if n, _, err := parseStat(b); err == nil && n > 0 {
			h.CPUs = n
		}
	}
	if b, err := os.ReadFile(filepath.Join(p.root(), "loadavg")); err == nil {
		if load, running, _, err := parseLoadavg(b); err == nil {
			// The reader of /proc/loadavg is one of the runnable tasks.
			h.Load, h.Running = load, max(running-1, 0)
		}
	}
}
