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

// Both tables hold the kernel's numbers: x86-64's own, and arm64's from the
// generic table with arm64's options (renameat, newfstatat, getrlimit,
// clone3, memfd_secret in; open, fork, the *at-less calls out).
func TestTables(t *testing.T) {
	for _, tc := range []struct {
		arch string
		nr   int
		want string
	}{
		{"amd64", 0, "read"},
		{"amd64", 2, "open"},
		{"amd64", 42, "connect"},
		{"amd64", 59, "execve"},
		{"amd64", 257, "openat"},
		{"amd64", 322, "execveat"},
		{"amd64", 335, ""},
		{"amd64", 437, "openat2"},
		{"arm64", 0, "io_setup"},
		{"arm64", 25, "fcntl"},
		{"arm64", 38, "renameat"},
		{"arm64", 56, "openat"},
		{"arm64", 57, "close"},
		{"arm64", 63, "read"},
		{"arm64", 64, "write"},
		{"arm64", 67, "pread64"},
		{"arm64", 79, "newfstatat"},
		{"arm64", 80, "fstat"},
		{"arm64", 163, "getrlimit"},
		{"arm64", 173, "getppid"},
		{"arm64", 203, "connect"},
		{"arm64", 220, "clone"},
		{"arm64", 221, "execve"},
		{"arm64", 244, ""}, // arch_specific_syscall: no syscall
		{"arm64", 281, "execveat"},
		{"arm64", 435, "clone3"},
		{"arm64", 437, "openat2"},
		{"arm64", 447, "memfd_secret"},
		{"arm64", 450, "set_mempolicy_home_node"},
	} {
		table := syscallnames.Table(tc.arch)
		if tc.nr >= len(table) {
			t.Errorf("%s table has %d entries, want one at %d", tc.arch, len(table), tc.nr)
		} else if table[tc.nr] != tc.want {
			t.Errorf("%s syscall %d = %q, want %q", tc.arch, tc.nr, table[tc.nr], tc.want)
		}
	}
	for _, arch := range []string{"amd64", "arm64"} {
		names := map[string]bool{}
		for _, n := range syscallnames.Table(arch) {
			if n != "" && names[n] {
				t.Errorf("%s: %s twice", arch, n)
			}
			names[n] = true
		}
		if len(syscallnames.Table(arch)) > syscallnames.Slots {
			t.Errorf("%s has %d syscalls, more than the BPF maps' %d slots", arch, len(syscallnames.Table(arch)), syscallnames.Slots)
		}
		// arm64 has no open, fork or stat of its own: only the *at calls.
		for _, n := range []string{"open", "fork", "stat", "dup2"} {
			if arch == "arm64" && names[n] {
				t.Errorf("arm64 table has %s", n)
			}
		}
	}
	if syscallnames.Table("riscv64") != nil {
		t.Error("a table for riscv64, which kscope does not ship for")
	}
}
