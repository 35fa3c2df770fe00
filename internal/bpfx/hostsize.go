package bpfx

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
)

// HostMemory returns the host's memory in bytes (MemTotal of meminfo under
// procRoot, a procfs mount), or 0 when it cannot be read. Collectors size
// their maps from it.
func HostMemory(procRoot string) uint64 {
	f, err := os.Open(filepath.Join(procRoot, "meminfo"))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, ok := bytes.CutPrefix(sc.Bytes(), []byte("MemTotal:"))
		if !ok {
			continue
		}
		v = bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))
		kb, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

// PerMemory returns memBytes/per clamped to [lo, hi]; lo when memBytes is
// 0 (unknown). It sizes maps allocated as used (BPF_F_NO_PREALLOC), so the
// bound costs nothing until it is used.
func PerMemory(memBytes, per uint64, lo, hi uint32) uint32 {
	if memBytes == 0 || per == 0 {
		return lo
	}
	return uint32(min(max(memBytes/per, uint64(lo)), uint64(hi)))
}

// Bounds of ProcessMapSize.
const (
	minProcessMapSize = 4096
	maxProcessMapSize = 1 << 22 // PID_MAX_LIMIT on 64-bit
	// A live process holds at least a kernel stack (16 KiB on x86-64) and
	// a task_struct: no host has more processes than memory/32 KiB.
	bytesPerProcess = 32 << 10
)

// ProcessMapSize returns how many entries a per-process map needs to hold
// every live process of the host: the smaller of kernel.pid_max and what
// its memory can hold, read under procRoot (a procfs mount).
func ProcessMapSize(procRoot string) uint32 {
	var pidMax uint64
	if b, err := os.ReadFile(filepath.Join(procRoot, "sys/kernel/pid_max")); err == nil {
		pidMax, _ = strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
	}
	return ProcessMapSizeFor(pidMax, HostMemory(procRoot))
}

// ProcessMapSizeFor is ProcessMapSize from pid_max and the memory in bytes
// (0: unknown).
func ProcessMapSizeFor(pidMax, memBytes uint64) uint32 {
	n := uint64(maxProcessMapSize)
	if pidMax > 0 {
		n = min(n, pidMax)
	}
	if memBytes > 0 {
		n = min(n, memBytes/bytesPerProcess)
	}
	return uint32(max(n, minProcessMapSize))
}
