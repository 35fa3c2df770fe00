package process

import "github.com/kscope/kscope/internal/bpfx"

// HostMapSize returns the size of the per-process map on this host: the
// smaller of pid_max and what the memory can hold (bpfx.ProcessMapSize).
// The entries are allocated as processes appear, so the bound costs
// nothing until used.
func HostMapSize(root string) uint32 { return bpfx.ProcessMapSize(root) }

// MapSize is HostMapSize from pid_max and the memory in bytes (0: unknown).
func MapSize(pidMax, memBytes uint64) uint32 { return bpfx.ProcessMapSizeFor(pidMax, memBytes) }
