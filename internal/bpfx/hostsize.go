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
