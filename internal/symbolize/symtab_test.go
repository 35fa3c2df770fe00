package symbolize

import (
	"bytes"
)

// testSym is a function symbol for testIndex.
type testSym struct {
	addr  uint64
	size  uint32
	name  string
	bind  int // 0 global, 1 weak, 2 local
	table int
}

// testIndex builds a symbol index over in-memory string tables, as
// loadFile does over a file's.
func testIndex(syms []testSym) symIndex {
	var x symIndex
	var strs [1 << strtabBits][]byte
	for i := range strs {
		strs[i] = []byte{0}
	}
	var fs []funcSym
	for _, s := range syms {
		off := len(strs[s.table])
		strs[s.table] = append(append(strs[s.table], s.name...), 0)
		fs = append(fs, funcSym{addr: s.addr, size: s.size | uint32(s.bind)<<rankShift, name: uint32(s.table)<<nameBits | uint32(off)})
	}
	for i := range strs {
		x.strs[i] = region{r: bytes.NewReader(strs[i]), size: int64(len(strs[i]))}
	}
	x.syms = buildIndex(fs, &x.strs)
	return x
}
