package event

import (
	"strconv"
	"strings"
)

// Open flag bits for x86-64 (asm-generic/fcntl.h).
var openFlagNames = []struct {
	bit  uint64
	name string
}{
	{0o100, "O_CREAT"},
	{0o200, "O_EXCL"},
	{0o400, "O_NOCTTY"},
	{0o1000, "O_TRUNC"},
	{0o2000, "O_APPEND"},
	{0o4000, "O_NONBLOCK"},
	{0o10000, "O_DSYNC"},
	{0o20000, "O_ASYNC"},
	{0o40000, "O_DIRECT"},
	{0o100000, "O_LARGEFILE"},
	{0o200000, "O_DIRECTORY"},
	{0o400000, "O_NOFOLLOW"},
	{0o1000000, "O_NOATIME"},
	{0o2000000, "O_CLOEXEC"},
	{0o4000000, "__O_SYNC"},
	{0o10000000, "O_PATH"},
	{0o20000000, "__O_TMPFILE"},
}

// OpenFlags renders open(2) flags symbolically: the access mode first, then
// the set bits in ascending order, and any unknown bits in octal.
// O_SYNC and O_TMPFILE are shown by their user-visible names.
func OpenFlags(flags uint64) string {
	var parts []string
	switch flags & 0o3 {
	case 0:
		parts = append(parts, "O_RDONLY")
	case 1:
		parts = append(parts, "O_WRONLY")
	case 2:
		parts = append(parts, "O_RDWR")
	default:
		parts = append(parts, "O_ACCMODE")
	}
	rest := flags &^ 0o3
	// Composite flags: O_SYNC is __O_SYNC|O_DSYNC, O_TMPFILE is __O_TMPFILE|O_DIRECTORY.
	var composite []string
	if rest&0o4010000 == 0o4010000 {
		rest &^= 0o4010000
		composite = append(composite, "O_SYNC")
	}
	if rest&0o20200000 == 0o20200000 {
		rest &^= 0o20200000
		composite = append(composite, "O_TMPFILE")
	}
	for _, f := range openFlagNames {
		if rest&f.bit != 0 {
			parts = append(parts, f.name)
			rest &^= f.bit
		}
	}
	parts = append(parts, composite...)
	if rest != 0 {
		parts = append(parts, "0"+strconv.FormatUint(rest, 8))
	}
	return strings.Join(parts, "|")
}
