package process

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"

	"github.com/kscope/kscope/internal/bpfx"
)

// Bounds of the per-process map's size.
const (
	minMapSize = 4096
	maxMapSize = 1 << 22 // PID_MAX_LIMIT on 64-bit
	// A live process holds at least a kernel stack (16 KiB on x86-64) and
	// a task_struct: no host has more processes than memory/32 KiB.
	bytesPerProcess = 32 << 10
)

// HostMapSize returns how many entries a per-process map needs on this
// host to hold every live process: the smaller of pid_max and what the
// memory can hold, read from root (a procfs mount). The entries are
// allocated as processes appear, so the bound costs nothing until used.
func HostMapSize(root string) uint32 {
	pidMax, _ := readUint(filepath.Join(root, "sys/kernel/pid_max"))
	return MapSize(pidMax, bpfx.HostMemory(root))
}

// MapSize is HostMapSize from pid_max and the memory in bytes (0: unknown).
func MapSize(pidMax, memBytes uint64) uint32 {
	n := uint64(maxMapSize)
	if pidMax > 0 {
		n = min(n, pidMax)
	}
	if memBytes > 0 {
		n = min(n, memBytes/bytesPerProcess)
	}
	return uint32(max(n, minMapSize))
}

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
}
