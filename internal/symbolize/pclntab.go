package symbolize

import (
	"debug/gosym"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// goTable resolves a pc of a Go binary to its function, file and line.
type goTable interface {
	lookup(pc uint64) (fn, file string, line int, ok bool)
	bytes() int // memory kept
}

// The pclntab magics (internal/abi): Go 1.2, 1.16, 1.18 and 1.20+.
const (
	magic12  = 0xfffffffb
	magic116 = 0xfffffffa
	magic118 = 0xfffffff0
	magic120 = 0xfffffff1
)

// pclnSample is how many functab entries one in-memory sample covers.
const pclnSample = 128

// pclnReader reads a Go 1.16+ pclntab lazily from its file: a lookup
// reads one block of the function table, the function's _func record, its
// name, and its file and line tables, each with one or two small preads.
// It keeps in memory the header and every pclnSample-th function's entry
// pc (a few KB for the largest binaries), the same layout debug/gosym
// reads (runtime/symtab.go: pcHeader, functab, _func).
type pclnReader struct {
	g       region // the whole pclntab, from its header
	order   binary.ByteOrder
	magic   uint32
	quantum uint32
	ptr     int
	nfunc   int
	text    uint64 // runtime.text: functab entries are offsets from it (1.18+)

	funcnames, cutab, filetab, pctab, functab int64 // offsets in g

	sample []uint64 // entry pc of functions 0, pclnSample, 2*pclnSample, ..., and the end pc

	id    uint64 // frame cache key of file names
	mu    sync.Mutex
	funcs *[funcCacheSize]funcInfo // allocated on first lookup
}

// pclnMagic returns the magic and byte order of a pclntab header, as
// debug/gosym tells them: the magic read in either byte order.
func pclnMagic(hdr []byte) (uint32, binary.ByteOrder, bool) {
	if len(hdr) < 8 || hdr[4] != 0 || hdr[5] != 0 ||
		(hdr[6] != 1 && hdr[6] != 2 && hdr[6] != 4) || (hdr[7] != 4 && hdr[7] != 8) {
		return 0, nil, false
	}
	for _, bo := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		switch m := bo.Uint32(hdr); m {
		case magic12, magic116, magic118, magic120:
			return m, bo, true
		}
	}
	return 0, nil, false
}

var errOldPclntab = errors.New("pclntab older than Go 1.16")

// newPclnReader checks the header of the pclntab in g and samples its
// function table. text is runtime.text (unused before Go 1.18).
func newPclnReader(g region, text uint64) (*pclnReader, error) {
	var hdr [8 + 8*8]byte
	n := min(int64(len(hdr)), g.size)
	if err := g.read(hdr[:n], 0); err != nil {
		return nil, fmt.Errorf("reading the pclntab header: %w", err)
	}
	magic, bo, ok := pclnMagic(hdr[:n])
	if !ok {
		return nil, errors.New("no pclntab header")
	}
	if magic == magic12 {
		return nil, errOldPclntab
	}
	t := &pclnReader{g: g, order: bo, magic: magic, quantum: uint32(hdr[6]), ptr: int(hdr[7]), text: text, id: tableIDs.Add(1)}
	if n < int64(8+8*t.ptr) {
		return nil, errors.New("short pclntab header")
	}
	word := func(i int) uint64 {
		if t.ptr == 8 {
			return bo.Uint64(hdr[8+8*i:])
		}
		return uint64(bo.Uint32(hdr[8+4*i:]))
	}
	// nfunc, nfiles, [textStart,] funcnameOffset, cuOffset, filetabOffset,
	// pctabOffset, pclnOffset.
	first := 2
	if magic != magic116 {
		first = 3
	}
	offs := [5]int64{}
	for i := range offs {
		o := word(first + i)
		if o >= uint64(g.size) {
			return nil, fmt.Errorf("pclntab table offset %#x out of bounds", o)
		}
		offs[i] = int64(o)
	}
	t.funcnames, t.cutab, t.filetab, t.pctab, t.functab = offs[0], offs[1], offs[2], offs[3], offs[4]
	nfunc := word(0)
	if nfunc == 0 || nfunc > uint64(g.size-t.functab)/uint64(2*t.fieldSize()) {
		return nil, fmt.Errorf("pclntab function count %d out of bounds", nfunc)
	}
	t.nfunc = int(nfunc)
	if !g.in(t.functab, int64((2*t.nfunc+1)*t.fieldSize())) {
		return nil, errors.New("pclntab function table out of bounds")
	}
	if err := t.sampleEntries(); err != nil {
		return nil, err
	}
	return t, nil
}

// fieldSize is the size of a functab field: an entry offset or pc, and a
// _func offset.
func (t *pclnReader) fieldSize() int {
	if t.magic == magic116 {
		return t.ptr
	}
	return 4
}

func (t *pclnReader) uint(b []byte) uint64 {
	if len(b) == 4 {
		return uint64(t.order.Uint32(b))
	}
	return t.order.Uint64(b)
}

// entryPC turns a functab entry field into a pc.
func (t *pclnReader) entryPC(v uint64) uint64 {
	if t.magic == magic116 {
		return v
	}
	return t.text + v
}

// sampleEntries reads the function table once, in chunks, keeping every
// pclnSample-th entry pc and the end pc.
func (t *pclnReader) sampleEntries() error {
	fs := t.fieldSize()
	ent := 2 * fs
	t.sample = make([]uint64, 0, t.nfunc/pclnSample+2)
	const chunkEnts = 4096
	buf := make([]byte, chunkEnts*ent)
	for i := 0; i < t.nfunc; {
		k := min(t.nfunc-i, chunkEnts)
		b := buf[:k*ent]
		if err := t.g.read(b, t.functab+int64(i*ent)); err != nil {
			return fmt.Errorf("reading the pclntab function table: %w", err)
		}
		for j := (pclnSample - i%pclnSample) % pclnSample; j < k; j += pclnSample {
			t.sample = append(t.sample, t.entryPC(t.uint(b[j*ent:j*ent+fs])))
		}
		i += k
	}
	var end [8]byte
	if err := t.g.read(end[:fs], t.functab+int64(t.nfunc*ent)); err != nil {
		return fmt.Errorf("reading the pclntab function table: %w", err)
	}
	t.sample = append(t.sample, t.entryPC(t.uint(end[:fs])))
	return nil
}

func (t *pclnReader) bytes() int {
	n := cap(t.sample)*8 + 200
	if t.funcs != nil {
		n += len(t.funcs) * 56
	}
	return n
}

var blockBufs = sync.Pool{New: func() any { return new([(pclnSample + 1) * 16]byte) }}

// findFunc returns the _func offset of the function holding pc, as
// debug/gosym's findFunc: the last function whose entry is at or below pc,
// when pc is below the end pc.
func (t *pclnReader) findFunc(pc uint64) (uint64, bool) {
	ns := len(t.sample) - 1 // the last sample is the end pc
	if pc < t.sample[0] || pc >= t.sample[ns] {
		return 0, false
	}
	b := sort.Search(ns, func(i int) bool { return t.sample[i] > pc }) - 1
	first := b * pclnSample
	k := min(pclnSample, t.nfunc-first) // entries in the block
	fs := t.fieldSize()
	ent := 2 * fs
	buf := blockBufs.Get().(*[(pclnSample + 1) * 16]byte)
	defer blockBufs.Put(buf)
	blk := buf[:k*ent+fs] // the block and the next entry pc
	if err := t.g.read(blk, t.functab+int64(first*ent)); err != nil {
		return 0, false
	}
	pcAt := func(i int) uint64 { return t.entryPC(t.uint(blk[i*ent : i*ent+fs])) }
	i := sort.Search(k+1, func(i int) bool { return pcAt(i) > pc }) - 1
	if i < 0 || i >= k {
		// Only on a table not sorted by pc; debug/gosym would pick some
		// other function.
		return 0, false
	}
	return t.uint(blk[i*ent+fs : (i+1)*ent]), true
}

// funcInfo is what a lookup needs from a function's _func record.
type funcInfo struct {
	off                 uint64 // _func offset + 1; 0: empty slot
	entry               uint64
	name                string
	pcfile, pcln, cuOff uint32
}

// funcCacheSize is the number of functions a pclnReader keeps decoded:
// the next pc in one of them costs two reads instead of six.
const funcCacheSize = 256

// funcInfo returns the _func fields at funcOff, cached.
func (t *pclnReader) funcInfo(funcOff uint64) (funcInfo, bool) {
	slot := int(funcOff*0x9e3779b97f4a7c15>>56) % funcCacheSize
	t.mu.Lock()
	if t.funcs != nil && t.funcs[slot].off == funcOff+1 {
		fi := t.funcs[slot]
		t.mu.Unlock()
		return fi, true
	}
	t.mu.Unlock()
	// _func: the entry (an offset from text since Go 1.18, a pc before),
	// then 4-byte fields: nameOff, args, deferreturn, pcsp, pcfile,
	// pcln, npcdata, cuOffset.
	sz0 := 4
	if t.magic == magic116 {
		sz0 = t.ptr
	}
	var rec [8 + 8*4]byte
	if funcOff > uint64(t.g.size) || t.g.read(rec[:sz0+8*4], t.functab+int64(funcOff)) != nil {
		return funcInfo{}, false
	}
	field := func(n int) uint32 { return t.order.Uint32(rec[sz0+(n-1)*4:]) }
	fi := funcInfo{off: funcOff + 1, entry: t.entryPC(t.uint(rec[:sz0])), pcfile: field(5), pcln: field(6), cuOff: field(8)}
	var err error
	if fi.name, err = t.g.cstring(t.funcnames + int64(field(1))); err != nil {
		return funcInfo{}, false
	}
	t.mu.Lock()
	if t.funcs == nil {
		t.funcs = new([funcCacheSize]funcInfo)
	}
	t.funcs[slot] = fi
	t.mu.Unlock()
	return fi, true
}

// fileName returns the name of file fno of the compilation unit at cuOff,
// cached, or "".
func (t *pclnReader) fileName(cuOff uint32, fno int32) string {
	idx := cuOff + uint32(fno) // uint32 arithmetic, as debug/gosym
	key := 1<<61 | uint64(idx)
	if e, ok := frames.get(t.id, key); ok {
		return e.file
	}
	var b [4]byte
	if t.g.read(b[:], t.cutab+int64(idx*4)) != nil {
		return ""
	}
	var file string
	if off := t.order.Uint32(b[:]); off != ^uint32(0) {
		file, _ = t.g.cstring(t.filetab + int64(off))
	}
	frames.put(t.id, key, cached{file: file})
	return file
}

// lookup returns the function, file and line of pc, as debug/gosym's
// Table.PCToLine does.
func (t *pclnReader) lookup(pc uint64) (fn, file string, line int, ok bool) {
	funcOff, ok := t.findFunc(pc)
	if !ok {
		return "", "", 0, false
	}
	fi, ok := t.funcInfo(funcOff)
	if !ok {
		return "", "", 0, false
	}
	// The file and line tables of a function are usually next to each
	// other: one reader, whose buffer may hold both.
	r := newByteReader(t.g, t.pctab+int64(fi.pcfile))
	defer r.free()
	if fno := t.pcvalue(r, fi.pcfile, fi.entry, pc); fno >= 0 {
		file = t.fileName(fi.cuOff, fno)
	}
	return fi.name, file, int(t.pcvalue(r, fi.pcln, fi.entry, pc)), true
}

// pcvalue decodes the pc-value table at off of pctab up to targetpc, as
// debug/gosym's pcvalue: pairs of a zigzag value delta and a pc delta (in
// quantum units), uvarint encoded, from value -1 at entry. It returns -1
// when the table ends first or cannot be read.
func (t *pclnReader) pcvalue(r *byteReader, off uint32, entry, targetpc uint64) int32 {
	r.seek(t.pctab + int64(off))
	val := int32(-1)
	pc := entry
	for {
		uv, err := readVarint(r)
		if err != nil || uv == 0 && pc != entry {
			return -1
		}
		if uv&1 != 0 {
			uv = ^(uv >> 1)
		} else {
			uv >>= 1
		}
		pcdelta, err := readVarint(r)
		if err != nil {
			return -1
		}
		pc += uint64(pcdelta * t.quantum)
		val += int32(uv)
		if targetpc < pc {
			return val
		}
	}
}

// readVarint reads a uvarint truncated to 32 bits, as debug/gosym does.
func readVarint(r *byteReader) (uint32, error) {
	var v, shift uint32
	for {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		v |= (uint32(b) & 0x7f) << shift
		if b&0x80 == 0 {
			return v, nil
		}
		shift += 7
	}
}

// gosymTable is the fallback for Go 1.2 to 1.15 pclntabs: debug/gosym,
// with the whole table in memory.
type gosymTable struct {
	tab  *gosym.Table
	size int
}

func newGosymTable(g region, text uint64) (*gosymTable, error) {
	if g.size > 1<<30 {
		return nil, errors.New("pclntab too large")
	}
	data := make([]byte, g.size)
	if err := g.read(data, 0); err != nil {
		return nil, err
	}
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, text))
	if err != nil {
		return nil, fmt.Errorf("reading .gopclntab: %w", err)
	}
	return &gosymTable{tab: tab, size: len(data)}, nil
}

func (t *gosymTable) lookup(pc uint64) (fn, file string, line int, ok bool) {
	file, line, f := t.tab.PCToLine(pc)
	if f == nil {
		return "", "", 0, false
	}
	return f.Name, file, line, true
}

func (t *gosymTable) bytes() int { return t.size + 100*len(t.tab.Funcs) }
