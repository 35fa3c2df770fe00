package process

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
)

// The live-process gauge is the number of processes alive when the
// collector started plus the processes forked since, minus those ended
// since; the kernel counts the second part. The first comes from /proc,
// read while the programs are attached: a process forked or ended during
// that read may or may not be in it, so the kernel notes the tgids of those
// (seed_window) and seedCorrection sets each one right.

// Values of seed_window (bpf/process.bpf.c).
const (
	seedFork = 1
	seedExit = 1 << 16
)

// scanProc returns the tgids of the processes alive in root, a procfs
// mount: every entry but zombies and dead tasks, and zombie leaders whose
// other threads still run (the process lives on without its first thread).
func scanProc(root string) (map[uint32]struct{}, error) {
	d, err := os.Open(root)
	if err != nil {
		return nil, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	alive := make(map[uint32]struct{}, len(names))
	for _, name := range names {
		pid, err := strconv.ParseUint(name, 10, 32)
		if err != nil || pid == 0 {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(root, name, "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		switch statState(stat) {
		case 0, 'X', 'x':
			continue
		case 'Z':
			status, err := os.ReadFile(filepath.Join(root, name, "status"))
			if err != nil || statusThreads(status) < 2 {
				continue
			}
		}
		alive[uint32(pid)] = struct{}{}
	}
	return alive, nil
}

// statState returns the state letter of a /proc/PID/stat line ("1 (init) S
// 0 ..."), found after the last ')' since comm may hold anything; 0 if
// there is none.
func statState(stat []byte) byte {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) || stat[i+1] != ' ' {
		return 0
	}
	return stat[i+2]
}

// statusThreads returns the Threads: count of a /proc/PID/status file, or 0.
func statusThreads(status []byte) int {
	const key = "\nThreads:"
	i := bytes.Index(status, []byte(key))
	if i < 0 {
		return 0
	}
	rest := bytes.TrimLeft(status[i+len(key):], " \t")
	if j := bytes.IndexByte(rest, '\n'); j >= 0 {
		rest = rest[:j]
	}
	n, err := strconv.Atoi(string(rest))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// seedCorrection returns what to add to the /proc count for the processes
// forked or ended while it was read (window: tgid → seed_window value). A
// process forked then is in the kernel's count too, so it must not count
// in /proc's; one that existed before and ended then is subtracted by the
// kernel, so it must count in /proc's even if the read missed it.
func seedCorrection(alive map[uint32]struct{}, window map[uint32]uint32) int64 {
	var c int64
	for tgid, v := range window {
		_, seen := alive[tgid]
		switch {
		case v&0xffff != 0: // forked during the read
			if seen {
				c--
			}
		case v>>16 != 0: // older, ended during the read
			if !seen {
				c++
			}
		}
	}
	return c
}
