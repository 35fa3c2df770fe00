package syscallnames_test

import (
	"testing"

	"github.com/kscope/kscope/internal/syscallnames"
)

func TestSyscallName(t *testing.T) {
	for _, tc := range []struct {
		idx  uint32
		want string
	}{
		{0, "read"},
		{1, "write"},
		{59, "execve"},
		{110, "getppid"},
		{231, "exit_group"},
		{450, "set_mempolicy_home_node"},
		{335, "sys_335"}, // a hole in the x86-64 table
		{511, "sys_511"},
		{syscallnames.Slots, "sys_out_of_range"},
		{0xffffffff, "sys_out_of_range"},
	} {
		if got := syscallnames.Name(tc.idx); got != tc.want {
			t.Errorf("SyscallName(%d) = %q, want %q", tc.idx, got, tc.want)
		}
	}
}
