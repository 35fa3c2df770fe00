package event

import "testing"

func TestErrnoName(t *testing.T) {
	tests := []struct {
		ret  int64
		want string
	}{
		{0, ""}, {3, ""}, {-1, "EPERM"}, {-2, "ENOENT"}, {-13, "EACCES"},
		{-111, "ECONNREFUSED"}, {-115, "EINPROGRESS"}, {-512, "ERESTARTSYS"}, {-4000, "E4000"},
	}
	for _, tt := range tests {
		if got := ErrnoName(tt.ret); got != tt.want {
			t.Errorf("ErrnoName(%d) = %q, want %q", tt.ret, got, tt.want)
		}
	}
}

func TestOpenFlags(t *testing.T) {
	tests := []struct {
		flags uint64
		want  string
	}{
		{0, "O_RDONLY"},
		{0o1, "O_WRONLY"},
		{0o2, "O_RDWR"},
		{0o3, "O_ACCMODE"},
		{0o1101, "O_WRONLY|O_CREAT|O_TRUNC"},
		{0o2000000 | 0o100 | 0o1, "O_WRONLY|O_CREAT|O_CLOEXEC"},
		{0o2200000 | 0o4000, "O_RDONLY|O_NONBLOCK|O_DIRECTORY|O_CLOEXEC"},
		{0o4010002, "O_RDWR|O_SYNC"},
		{0o10002, "O_RDWR|O_DSYNC"},
		{0o20200002, "O_RDWR|O_TMPFILE"},
		{0o10000000, "O_RDONLY|O_PATH"},
		{1 << 40, "O_RDONLY|020000000000000"},
	}
	for _, tt := range tests {
		if got := OpenFlags(tt.flags); got != tt.want {
			t.Errorf("OpenFlags(%#o) = %q, want %q", tt.flags, got, tt.want)
		}
	}
}

func FuzzOpenFlags(f *testing.F) {
	f.Add(uint64(0o1101))
	f.Fuzz(func(t *testing.T, flags uint64) {
		s := OpenFlags(flags)
		if s == "" || s[0] != 'O' {
			t.Fatalf("OpenFlags(%#o) = %q", flags, s)
		}
	})
}
