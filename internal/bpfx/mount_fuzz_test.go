package bpfx

import (
	"bufio"
	"fmt"
	"strings"
	"testing"
)

// mangle escapes a path as the kernel writes it in mountinfo: space, tab,
// newline and backslash as three octal digits.
func mangle(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if c := p[i]; strings.IndexByte(" \t\n\\", c) >= 0 {
			fmt.Fprintf(&b, "\\%03o", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// FuzzParseMountInfo writes mountinfo as the kernel does around any mount
// point and filesystem type and checks they come back, with junk lines
// between the mounts ignored.
func FuzzParseMountInfo(f *testing.F) {
	f.Add("/sys/kernel/tracing", "tracefs", "junk")
	f.Add("/mnt/with space\\and\ttab\nnewline", "ext4", "1 2 3:4 / /x rw - ")
	f.Add("/\\040", "bpf", "")
	f.Fuzz(func(t *testing.T, path, fs, junk string) {
		if path == "" || fs == "" || fs == "-" || strings.ContainsAny(fs, " \t\n\\") || strings.Contains(junk, "\n") {
			return // the kernel writes neither
		}
		in := "36 35 98:0 / /other rw - ext3 /dev/root rw\n" +
			junk + "\n" +
			"37 36 0:12 / " + mangle(path) + " rw,nosuid shared:5 - " + fs + " none rw\n"
		got, err := parseMountInfo(bufio.NewScanner(strings.NewReader(in)))
		if err != nil {
			if len(junk) > bufio.MaxScanTokenSize-10 {
				return
			}
			t.Fatal(err)
		}
		if got[path] != fs {
			t.Fatalf("%q: %q is %q, want %q (all %q)", in, path, got[path], fs, got)
		}
	})
}
