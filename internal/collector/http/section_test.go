package http

import (
	"bytes"
	"testing"
)

// sectionContains finds the needle wherever it lies: within a block, across
// the boundary of two, at the very end, or nowhere.
func TestSectionContains(t *testing.T) {
	needle := []byte("crypto/tls.(*Conn).Write\x00")
	const block = 1 << 20
	at := func(size, off int) []byte {
		b := bytes.Repeat([]byte{'x'}, size)
		if off >= 0 {
			copy(b[off:], needle)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
		want bool
	}{
		{"empty", nil, false},
		{"shorter than the needle", needle[:5], false},
		{"only the needle", needle, true},
		{"absent, several blocks", at(3*block+17, -1), false},
		{"first block", at(2*block, 100), true},
		{"across the first boundary", at(2*block, block-10), true},
		{"across a later boundary", at(4*block, 3*block-1), true},
		{"right after a boundary", at(3*block, 2*block), true},
		{"at the very end", at(2*block+len(needle), 2*block), true},
		// copy stops at the end: the needle's last byte falls past the data.
		{"cut off at the end", at(2*block, 2*block-len(needle)+1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sectionContains(bytes.NewReader(tc.data), needle); got != tc.want {
				t.Errorf("sectionContains = %v, want %v", got, tc.want)
			}
		})
	}
}
