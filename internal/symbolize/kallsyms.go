package symbolize

import (
	"bufio"
	"bytes"
	"io"
	"sort"
)

// kernelTable is /proc/kallsyms's text symbols sorted by address, one per
// address, compact: an address (as a 32-bit offset from the lowest when
// they all fit) and a name reference per symbol, the names packed in
// chunks, and the modules as runs of symbols. A "__pfx_NAME" symbol (the
// padding before NAME, half of a recent kernel's symbols) right before
// NAME is no entry of its own but a flag on NAME's; elsewhere it shares
// NAME's bytes. About 8 bytes per symbol plus the names: 2 MB for 120,000
// symbols, where /proc/kallsyms is 5 MB of text.
type kernelTable struct {
	id     uint64         // frame cache key
	base   uint64         // lowest address
	off32  chunks[uint32] // addr - base, when every offset fits
	addr64 chunks[uint64] // the addresses otherwise
	wide   bool
	names  chunks[uint32] // text reference, pfxName or padded flagged
	pad    uint64         // bytes of a padded symbol's "__pfx_" symbol
	text   textChunks
	mods   []modRun // by first symbol
	// restricted is set when every address read as 0: kptr_restrict hides
	// them from this reader (not root, or kptr_restrict=2).
	restricted bool
}

// Name reference flags.
const (
	pfxName = 1 << 31 // "__pfx_" + the name referenced
	padded  = 1 << 30 // a "__pfx_" symbol of this name is pad bytes before
	refMask = padded - 1
)

// modRun says that symbols from start on, up to the next run, are in
// module name ("[kernel]" or "[mod]").
type modRun struct {
	start int
	name  string
}

func (t *kernelTable) len() int { return t.names.len() }

func (t *kernelTable) addr(i int) uint64 {
	if t.wide {
		return t.addr64.at(i)
	}
	return t.base + uint64(t.off32.at(i))
}

func (t *kernelTable) name(i int) string {
	ref := t.names.at(i)
	s := t.text.get(ref & refMask)
	if ref&pfxName != 0 {
		return "__pfx_" + string(s)
	}
	return string(s)
}

func (t *kernelTable) module(i int) string {
	j := sort.Search(len(t.mods), func(j int) bool { return t.mods[j].start > i }) - 1
	if j < 0 {
		return KernelModule
	}
	return t.mods[j].name
}

// bytes is the memory t keeps.
func (t *kernelTable) bytes() int {
	return t.off32.bytes(4) + t.addr64.bytes(8) + t.names.bytes(4) + t.text.bytes() + 32*cap(t.mods)
}

// kallsymsParser builds a kernelTable line by line.
type kallsymsParser struct {
	addrs    chunks[uint64]
	names    chunks[uint32]
	mods     chunks[uint16]
	text     textChunks
	modIdx   map[string]uint16
	modNames []string
	sawZero  bool
	// A "__pfx_" symbol waiting for the next one, which usually is the
	// function it pads: its name is then shared.
	pending    int // index, or -1
	pendingMod uint16
	pendingFn  []byte
}

// parseKallsyms parses /proc/kallsyms ("ffffffff821fb620 T schedule" or
// "ffffffffc0a01000 t xfs_foo\t[xfs]"), keeping text symbols (t, T, w, W).
// Malformed lines are skipped; an input with no text symbol gives an empty
// table.
func parseKallsyms(data []byte) *kernelTable {
	t, _ := readKallsyms(bytes.NewReader(data))
	return t
}

// readKallsyms is parseKallsyms reading r in small chunks.
func readKallsyms(r io.Reader) (*kernelTable, error) {
	p := &kallsymsParser{pending: -1, modIdx: map[string]uint16{}}
	br := bufio.NewReaderSize(r, 32<<10)
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// An overlong line: not kallsyms. Skip it.
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			if err == nil {
				continue
			}
			line = nil
		}
		p.line(bytes.TrimSuffix(line, []byte{'\n'}))
		if err == io.EOF {
			break
		}
		if err != nil {
			return p.finish(), err
		}
	}
	return p.finish(), nil
}

var pfxPrefix = []byte("__pfx_")

func (p *kallsymsParser) line(line []byte) {
	addr, typ, name, mod, ok := parseKallsymsLine(line)
	if !ok {
		return
	}
	switch typ {
	case 't', 'T', 'w', 'W':
	default:
		return
	}
	if addr == 0 {
		p.sawZero = true
		return
	}
	if bytes.IndexByte(name, 0) >= 0 {
		return // names are stored NUL-terminated; kallsyms has none such
	}
	var m uint16
	if mod != nil {
		var ok bool
		if m, ok = p.modIdx[string(mod)]; !ok {
			if len(p.modNames) >= 1<<16-1 {
				return
			}
			m = uint16(len(p.modNames) + 1)
			p.modIdx[string(mod)] = m
			p.modNames = append(p.modNames, "["+string(mod)+"]")
		}
	}
	fn, isPfx := bytes.CutPrefix(name, pfxPrefix)
	if isPfx && len(fn) > 0 {
		p.flushPending()
		p.addrs.add(addr)
		p.mods.add(m)
		p.names.add(0) // set when the next symbol comes
		p.pending, p.pendingMod = p.names.len()-1, m
		p.pendingFn = append(p.pendingFn[:0], fn...)
		return
	}
	ref, ok := p.text.add(name)
	if !ok {
		p.flushPending()
		return
	}
	if p.pending >= 0 && p.pendingMod == m && bytes.Equal(p.pendingFn, name) {
		p.names.set(p.pending, pfxName|ref)
		p.pending = -1
	}
	p.flushPending()
	p.addrs.add(addr)
	p.mods.add(m)
	p.names.add(ref)
}

// flushPending stores a "__pfx_" symbol's name in full: the next symbol
// was not its function.
func (p *kallsymsParser) flushPending() {
	if p.pending < 0 {
		return
	}
	if ref, ok := p.text.add(pfxPrefix, p.pendingFn); ok {
		p.names.set(p.pending, ref)
	} else {
		// Not stored: drop the symbol, the last one added.
		n := p.names.len() - 1
		p.addrs.truncate(n)
		p.mods.truncate(n)
		p.names.truncate(n)
	}
	p.pending = -1
}

// Len, Less and Swap sort the parsed symbols by address.
func (p *kallsymsParser) Len() int           { return p.addrs.len() }
func (p *kallsymsParser) Less(i, j int) bool { return p.addrs.at(i) < p.addrs.at(j) }
func (p *kallsymsParser) Swap(i, j int) {
	a, b := p.addrs.ptr(i), p.addrs.ptr(j)
	*a, *b = *b, *a
	n, o := p.names.ptr(i), p.names.ptr(j)
	*n, *o = *o, *n
	m, q := p.mods.ptr(i), p.mods.ptr(j)
	*m, *q = *q, *m
}

func (p *kallsymsParser) finish() *kernelTable {
	p.flushPending()
	t := &kernelTable{id: tableIDs.Add(1), restricted: p.sawZero && p.Len() == 0}
	if !sort.IsSorted(p) {
		sort.Stable(p) // kallsyms lists modules after the kernel, unsorted
	}
	// One symbol per address: the last listed, as a lookup of the address
	// would find.
	n := 0
	for i := 0; i < p.Len(); i++ {
		if n > 0 && p.addrs.at(n-1) == p.addrs.at(i) {
			n--
		}
		p.addrs.set(n, p.addrs.at(i))
		p.names.set(n, p.names.at(i))
		p.mods.set(n, p.mods.at(i))
		n++
	}
	n = p.foldPrefixes(n, t)
	p.names.truncate(n)
	t.names = p.names
	t.text = p.text
	t.text.trim()
	if n == 0 {
		return t
	}
	t.base = p.addrs.at(0)
	if p.addrs.at(n-1)-t.base <= 1<<32-1 {
		for i := range n {
			t.off32.add(uint32(p.addrs.at(i) - t.base))
		}
		t.off32.truncate(n)
	} else {
		p.addrs.truncate(n)
		t.addr64, t.wide = p.addrs, true
	}
	var last uint16
	for i := range n {
		m := p.mods.at(i)
		if i == 0 && m == 0 || i > 0 && m == last {
			continue
		}
		name := KernelModule
		if m > 0 {
			name = p.modNames[m-1]
		}
		t.mods = append(t.mods, modRun{start: i, name: name})
		last = m
	}
	return t
}

// foldPrefixes drops the "__pfx_NAME" symbols of the first n that come
// right before NAME at the most common distance, flagging NAME padded.
// It returns the number of symbols left.
func (p *kallsymsParser) foldPrefixes(n int, t *kernelTable) int {
	foldable := func(k int) bool {
		ref := p.names.at(k)
		return ref&pfxName != 0 && k+1 < n && p.names.at(k+1) == ref&refMask
	}
	dist := map[uint64]int{}
	for k := 0; k < n && len(dist) < 64; k++ {
		if foldable(k) {
			dist[p.addrs.at(k+1)-p.addrs.at(k)]++
		}
	}
	for d, c := range dist {
		if c > dist[t.pad] || c == dist[t.pad] && d < t.pad {
			t.pad = d
		}
	}
	if t.pad == 0 {
		return n
	}
	m := 0
	for k := 0; k < n; k++ {
		if foldable(k) && p.addrs.at(k+1)-p.addrs.at(k) == t.pad {
			p.names.set(k+1, p.names.at(k+1)|padded)
			continue
		}
		p.addrs.set(m, p.addrs.at(k))
		p.names.set(m, p.names.at(k))
		p.mods.set(m, p.mods.at(k))
		m++
	}
	return m
}

// parseKallsymsLine splits "addr type name[\t[module]]": fields separated
// by spaces and tabs, the module being the rest of the line, trimmed.
func parseKallsymsLine(line []byte) (addr uint64, typ byte, name, module []byte, ok bool) {
	var f [3][]byte
	for i := range f {
		line = trimLeftSpaceBytes(line)
		j := 0
		for j < len(line) && line[j] != ' ' && line[j] != '\t' {
			j++
		}
		f[i], line = line[:j], line[j:]
	}
	rest := bytes.TrimRight(trimLeftSpaceBytes(line), " \t")
	if len(f[1]) != 1 || len(f[2]) == 0 {
		return 0, 0, nil, nil, false
	}
	addr, ok = parseHex(string(f[0]))
	if !ok {
		return 0, 0, nil, nil, false
	}
	if len(rest) > 0 {
		if len(rest) < 3 || rest[0] != '[' || rest[len(rest)-1] != ']' {
			return 0, 0, nil, nil, false
		}
		module = rest[1 : len(rest)-1]
	}
	return addr, f[1][0], f[2], module, true
}

func trimLeftSpaceBytes(s []byte) []byte {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	return s
}

// fieldsN splits s on runs of spaces and tabs into at most len(out)
// fields, the last one holding the rest of the line, trimmed, and returns
// the fields filled.
func fieldsN(s string, out []string) []string {
	n := 0
	for n < len(out)-1 {
		s = trimLeftSpace(s)
		if s == "" {
			return out[:n]
		}
		i := 0
		for i < len(s) && s[i] != ' ' && s[i] != '\t' {
			i++
		}
		out[n] = s[:i]
		n++
		s = s[i:]
	}
	s = trimLeftSpace(s)
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	if s != "" {
		out[n] = s
		n++
	}
	return out[:n]
}

func trimLeftSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	return s
}

// parseHex parses a lower- or upper-case hex number of at most 16 digits.
func parseHex(s string) (uint64, bool) {
	if s == "" || len(s) > 16 {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(c)
	}
	return v, true
}

// lookup returns the frame for a kernel address: the last symbol at or
// below it (kallsyms has no sizes), or a module-less unknown frame. Names
// are cached, so that frames share their strings.
func (t *kernelTable) lookup(addr uint64) Frame {
	i := sort.Search(t.len(), func(i int) bool { return t.addr(i) > addr }) - 1
	key, pfx := uint64(i), false
	if j := i + 1; j < t.len() && t.names.at(j)&padded != 0 && addr >= t.addr(j)-t.pad {
		key, pfx = uint64(j)|1<<62, true // in the padding before j
	} else if i < 0 {
		return Frame{Offset: addr}
	}
	e, ok := frames.get(t.id, key)
	if !ok {
		j := int(key &^ (1 << 62))
		e = cached{fn: t.name(j), file: t.module(j)}
		if pfx {
			e.fn = "__pfx_" + e.fn
		}
		frames.put(t.id, key, e)
	}
	return Frame{Function: e.fn, Module: e.file, Offset: addr}
}
