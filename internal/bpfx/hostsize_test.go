package bpfx

import (
	"os"
	"path/filepath"
	"testing"
)

func TestHostMemoryAndSizes(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "sys/kernel"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "meminfo"), []byte("MemTotal:       8388608 kB\nMemFree: 1 kB\n"), 0o644)
	os.WriteFile(filepath.Join(root, "sys/kernel/pid_max"), []byte("4194304\n"), 0o644)
	if m := HostMemory(root); m != 8<<30 {
		t.Errorf("HostMemory = %d, want 8 GiB", m)
	}
	if n := ProcessMapSize(root); n != 262144 {
		t.Errorf("ProcessMapSize = %d, want 262144 (8 GiB / 32 KiB)", n)
	}
	if m := HostMemory(t.TempDir()); m != 0 {
		t.Errorf("HostMemory without meminfo = %d", m)
	}
	os.WriteFile(filepath.Join(root, "meminfo"), []byte("MemTotal: lots kB\n"), 0o644)
	if m := HostMemory(root); m != 0 {
		t.Errorf("HostMemory of a bad meminfo = %d", m)
	}
	for _, tt := range []struct {
		pidMax, mem uint64
		want        uint32
	}{
		{32768, 8 << 30, 32768},
		{4194304, 8 << 30, 262144},
		{4194304, 0, 4194304},
		{0, 0, 1 << 22},
		{100, 1 << 20, 4096},
	} {
		if got := ProcessMapSizeFor(tt.pidMax, tt.mem); got != tt.want {
			t.Errorf("ProcessMapSizeFor(%d, %d) = %d, want %d", tt.pidMax, tt.mem, got, tt.want)
		}
	}
	for _, tt := range []struct {
		mem, per uint64
		lo, hi   uint32
		want     uint32
	}{
		{0, 1024, 10, 100, 10},
		{1 << 20, 1024, 10, 100, 100},
		{50 << 10, 1024, 10, 100, 50},
		{1 << 10, 1024, 10, 100, 10},
	} {
		if got := PerMemory(tt.mem, tt.per, tt.lo, tt.hi); got != tt.want {
			t.Errorf("PerMemory(%d, %d, %d, %d) = %d, want %d", tt.mem, tt.per, tt.lo, tt.hi, got, tt.want)
		}
	}
}
