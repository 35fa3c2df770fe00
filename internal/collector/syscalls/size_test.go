package syscalls

import "testing"

func TestProcsMapSize(t *testing.T) {
	for _, tt := range []struct {
		processes uint32
		mem       uint64
		want      uint32
	}{
		{32768, 24 << 30, 393216},
		{32768, 0, 393216},
		{4194304, 8 << 30, 131072},
		{4096, 1 << 30, 16384},
	} {
		if got := procsMapSize(tt.processes, tt.mem); got != tt.want {
			t.Errorf("procsMapSize(%d, %d) = %d, want %d", tt.processes, tt.mem, got, tt.want)
		}
	}
}
