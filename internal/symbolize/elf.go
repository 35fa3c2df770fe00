package symbolize

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/ianlancetaylor/demangle"
)

// fileTable is what symbolization needs from one ELF file. It is immutable
// once loaded and shared by every process mapping the file. It keeps
// compact indexes in memory and reads names and line tables from the file
// when a lookup needs them (frames are cached, see frameCache).
type fileTable struct {
	id      uint64 // frame cache key, unique per table
	buildID string
	loads   []load   // PT_LOAD, to turn file offsets into virtual addresses
	syms    symIndex // ELF function symbols
	goTab   goTable  // from .gopclntab; nil for non-Go files
	srcs    []*source
}

// load is the part of a PT_LOAD program header vaddr needs.
type load struct{ off, vaddr, filesz uint64 }

var tableIDs atomic.Uint64

// vaddr turns a file offset into the ELF virtual address the symbols use.
// Shared libraries and PIE executables are linked at (near) 0, non-PIE
// executables at their fixed address: the program headers say which.
func (t *fileTable) vaddr(off uint64) (uint64, bool) {
	for i := range t.loads {
		p := &t.loads[i]
		if off >= p.off && off < p.off+p.filesz {
			return p.vaddr + (off - p.off), true
		}
	}
	return off, false
}

// lookup fills f's Function, File and Line for the virtual address pc.
func (t *fileTable) lookup(pc uint64, f *Frame) {
	if t.goTab != nil {
		if e, ok := frames.get(t.id, pc); ok {
			f.Function, f.File, f.Line = e.fn, e.file, e.line
			return
		}
		if fn, file, line, ok := t.goTab.lookup(pc); ok {
			f.Function, f.File, f.Line = fn, file, line
			frames.put(t.id, pc, cached{fn: fn, file: file, line: line})
			return
		}
	}
	i := t.syms.find(pc)
	if i < 0 {
		return
	}
	key := uint64(i) | 1<<63 // symbols, by index; Go pcs are below
	if e, ok := frames.get(t.id, key); ok {
		f.Function = e.fn
		return
	}
	if name, err := t.syms.name(i); err == nil {
		f.Function = name
		frames.put(t.id, key, cached{fn: name})
	}
}

// own makes t close srcs when it is dropped or garbage collected.
func (t *fileTable) own(srcs ...*source) {
	if len(srcs) == 0 {
		return
	}
	t.srcs = append(t.srcs, srcs...)
	runtime.AddCleanup(t, closeSources, srcs)
}

// close releases t's files now, for a table that is not used.
func (t *fileTable) close() { closeSources(t.srcs) }

func closeSources(srcs []*source) {
	for _, s := range srcs {
		s.close()
	}
}

// loadFile reads the symbol tables of the ELF file r, which must stay
// readable as long as the table is used. debugRoot, when not empty, is
// the root (as /proc/PID/root) under which to look for a separate debug
// file (/usr/lib/debug/.build-id/xx/yyyy.debug) when r has no .symtab.
func loadFile(r io.ReaderAt, debugRoot string) (*fileTable, error) {
	ef, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("reading ELF: %w", err)
	}
	t := &fileTable{id: tableIDs.Add(1), buildID: buildID(ef)}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD {
			t.loads = append(t.loads, load{off: p.Off, vaddr: p.Vaddr, filesz: p.Filesz})
		}
	}
	symtab, hasSymtab := symtabOf(ef, r, elf.SHT_SYMTAB, strSymtab)
	if (!hasSymtab || symtab.count() <= 1) && t.buildID != "" && debugRoot != "" {
		if d, src, err := debugSymtab(debugRoot, t.buildID); err == nil {
			symtab, hasSymtab = d, true
			t.own(src)
		}
	}
	var named map[string]uint64
	if hasSymtab {
		named, _ = symtab.values("runtime.text", "runtime.pclntab", "runtime.epclntab")
	}
	var skip addrRange
	if tab, err := loadGoTable(ef, r, named); err == nil {
		t.goTab = tab
		if p, ok := tab.(*pclnReader); ok {
			// The pclntab answers for its whole range first: the ELF
			// symbols there (every Go function's) are not needed.
			skip = addrRange{p.sample[0], p.sample[len(p.sample)-1]}
		}
	}
	// Counted first, so that the index is allocated once, to size.
	dyn, hasDyn := symtabOf(ef, r, elf.SHT_DYNSYM, strDynsym)
	var nsym, ndyn int
	symErr := errors.New("no symbol section")
	if hasSymtab {
		nsym, symErr = symtab.countFuncs(skip)
	}
	if hasDyn {
		ndyn, _ = dyn.countFuncs(skip)
	}
	syms := make([]funcSym, 0, nsym+ndyn)
	if hasSymtab && symErr == nil {
		t.syms.strs[strSymtab] = symtab.strs
		syms, symErr = symtab.funcs(syms, skip)
	}
	if hasDyn {
		t.syms.strs[strDynsym] = dyn.strs
		syms, _ = dyn.funcs(syms, skip)
	}
	t.syms.syms = buildIndex(syms, &t.syms.strs)
	if len(t.syms.syms) == 0 && t.goTab == nil {
		if symErr == nil {
			symErr = errors.New("no function symbols")
		}
		return t, fmt.Errorf("reading symbols: %w", symErr)
	}
	return t, nil
}

// debugSymtab opens the separate debug file of a build id and returns its
// .symtab, read through the returned source.
func debugSymtab(root, id string) (symtabSection, *source, error) {
	if len(id) < 3 {
		return symtabSection{}, nil, errors.New("short build id")
	}
	path := root + "/usr/lib/debug/.build-id/" + id[:2] + "/" + id[2:] + ".debug"
	f, err := os.Open(path)
	if err != nil {
		return symtabSection{}, nil, err
	}
	src := openFiles.newSource(f, path)
	ef, err := elf.NewFile(src)
	if err != nil {
		src.close()
		return symtabSection{}, nil, err
	}
	if buildID(ef) != id {
		src.close()
		return symtabSection{}, nil, errors.New("debug file build id mismatch")
	}
	st, ok := symtabOf(ef, src, elf.SHT_SYMTAB, strSymtab)
	if !ok {
		src.close()
		return symtabSection{}, nil, errors.New("debug file without .symtab")
	}
	return st, src, nil
}

// buildID returns the hex GNU build id from the PT_NOTE segments (present
// even when section headers are stripped), or "".
func buildID(ef *elf.File) string {
	for _, p := range ef.Progs {
		if p.Type != elf.PT_NOTE || p.Filesz > 1<<20 {
			continue
		}
		data := make([]byte, p.Filesz)
		if _, err := p.ReadAt(data, 0); err != nil {
			continue
		}
		align := p.Align
		if align < 4 {
			align = 4
		}
		for len(data) >= 12 {
			namesz := uint64(ef.ByteOrder.Uint32(data[0:]))
			descsz := uint64(ef.ByteOrder.Uint32(data[4:]))
			typ := ef.ByteOrder.Uint32(data[8:])
			nameEnd := 12 + alignUp(namesz, align)
			descEnd := nameEnd + alignUp(descsz, align)
			if namesz > uint64(len(data)) || descsz > uint64(len(data)) || nameEnd+descsz > uint64(len(data)) {
				break
			}
			if typ == 3 && namesz == 4 && string(data[12:15]) == "GNU" { // NT_GNU_BUILD_ID
				return hex.EncodeToString(data[nameEnd : nameEnd+descsz])
			}
			if descEnd >= uint64(len(data)) {
				break
			}
			data = data[descEnd:]
		}
	}
	return ""
}

func alignUp(v, a uint64) uint64 { return (v + a - 1) &^ (a - 1) }

func bindRank(b elf.SymBind) int {
	switch b {
	case elf.STB_GLOBAL:
		return 0
	case elf.STB_WEAK:
		return 1
	}
	return 2
}

func underscores(s []byte) int {
	n := 0
	for n < len(s) && s[n] == '_' {
		n++
	}
	return n
}

// demangleName returns C++ and Rust names without parameters and return
// types (pprof's default), other names unchanged. A symbol version suffix
// ("memcpy@@GLIBC_2.14") is dropped.
func demangleName(name string) string {
	if i := strings.IndexByte(name, '@'); i > 0 {
		name = name[:i]
	}
	if strings.HasPrefix(name, "_Z") || strings.HasPrefix(name, "_R") || strings.HasPrefix(name, "__Z") {
		return demangle.Filter(name, demangle.NoParams, demangle.NoEnclosingParams)
	}
	return name
}

// loadGoTable reads the Go symbol table from .gopclntab. Stripped Go
// binaries (-ldflags=-s -w) keep it: they lose .symtab and DWARF, not
// pclntab. named holds the values of the runtime.text, runtime.pclntab and
// runtime.epclntab symbols when the file has them.
func loadGoTable(ef *elf.File, r io.ReaderAt, named map[string]uint64) (goTable, error) {
	g, vaddr, err := findPclntab(ef, r, named)
	if err != nil {
		return nil, err
	}
	text, ok := named["runtime.text"]
	if !ok {
		text = pclntabText(g, ef.ByteOrder)
	}
	if text == 0 && vaddr != 0 {
		text = moduledataText(ef, r, g, vaddr)
	}
	if text == 0 {
		if s := ef.Section(".text"); s != nil {
			text = s.Addr
		}
	}
	tab, err := newPclnReader(g, text)
	if errors.Is(err, errOldPclntab) {
		return newGosymTable(g, text)
	}
	if err != nil {
		return nil, fmt.Errorf("reading .gopclntab: %w", err)
	}
	return tab, nil
}

var errNoPclntab = errors.New("no .gopclntab")

// findPclntab finds the pclntab: by section name, by the runtime.pclntab
// symbol, or by its magic header in a read-only loaded segment. It
// returns the pclntab's place in the file and its virtual address.
func findPclntab(ef *elf.File, r io.ReaderAt, named map[string]uint64) (region, uint64, error) {
	for _, name := range []string{".gopclntab", ".data.rel.ro.gopclntab"} {
		if s := ef.Section(name); s != nil && s.Type != elf.SHT_NOBITS {
			if s.Flags&elf.SHF_COMPRESSED != 0 {
				return region{}, 0, errors.New("compressed .gopclntab")
			}
			return region{r: r, off: int64(s.Offset), size: int64(s.Size)}, s.Addr, nil
		}
	}
	start, hasStart := named["runtime.pclntab"]
	if ef.Section(".go.buildinfo") == nil && ef.Section(".note.go.buildid") == nil && len(ef.Sections) > 0 && !hasStart {
		return region{}, 0, errNoPclntab // has section headers and no sign of Go
	}
	if end, ok := named["runtime.epclntab"]; hasStart && ok && end > start {
		for _, p := range ef.Progs {
			if p.Type == elf.PT_LOAD && start >= p.Vaddr && end-p.Vaddr <= p.Filesz {
				return region{r: r, off: int64(p.Off + start - p.Vaddr), size: int64(end - start)}, start, nil
			}
		}
		return region{}, 0, errNoPclntab
	}
	// Section headers stripped: scan the read-only segments, the ones
	// without code first (where recent linkers put it; code may hold the
	// magic as an immediate).
	for _, exec := range []bool{false, true} {
		for _, p := range ef.Progs {
			if p.Type != elf.PT_LOAD || p.Flags&elf.PF_W != 0 || (p.Flags&elf.PF_X != 0) != exec || p.Filesz > 1<<30 {
				continue
			}
			seg := region{r: r, off: int64(p.Off), size: int64(p.Filesz)}
			if i := findPclntabHeader(seg, ef.ByteOrder); i >= 0 {
				return region{r: r, off: seg.off + i, size: seg.size - i}, p.Vaddr + uint64(i), nil
			}
		}
	}
	return region{}, 0, errNoPclntab
}

var pclnMagics = []uint32{magic120, magic118, magic116, magic12}

// findPclntabHeader returns the offset in seg of a Go 1.2+ pclntab header
// (the first one of the most recent version): magic, two zero bytes,
// instruction size quantum (1, 2 or 4), pointer size (4, 8), at a 4-byte
// aligned offset. It reads seg in chunks.
func findPclntabHeader(seg region, bo binary.ByteOrder) int64 {
	pats := make([][4]byte, len(pclnMagics))
	for i, m := range pclnMagics {
		bo.PutUint32(pats[i][:], m)
	}
	found := make([]int64, len(pclnMagics))
	for i := range found {
		found[i] = -1
	}
	var hdr [8 + 8*8]byte
	seg.scan(16<<10, 7, func(data []byte, at int64) bool {
		for k := range pats {
			if found[k] >= 0 {
				continue
			}
			for off := 0; ; {
				i := bytes.Index(data[off:], pats[k][:])
				if i < 0 {
					break
				}
				i += off
				off = i + 1
				pos := at + int64(i)
				if pos%4 != 0 || pos <= found[k] {
					continue
				}
				n := min(int64(len(hdr)), seg.size-pos)
				h := hdr[:n]
				if seg.read(h, pos) != nil || len(h) < 8 || h[4] != 0 || h[5] != 0 ||
					(h[6] != 1 && h[6] != 2 && h[6] != 4) || (h[7] != 4 && h[7] != 8) ||
					!plausibleHeader(h, seg.size-pos, bo) {
					continue
				}
				found[k] = pos
				break
			}
		}
		return found[0] < 0 // the most recent version found: done
	})
	for _, f := range found {
		if f >= 0 {
			return f
		}
	}
	return -1
}

// plausibleHeader checks a Go 1.18+ pcHeader's counts and table offsets
// (increasing, inside the size bytes from the header); older headers only
// have the magic checked. hdr holds the header's first bytes.
func plausibleHeader(hdr []byte, size int64, bo binary.ByteOrder) bool {
	magic := bo.Uint32(hdr)
	if magic != magic118 && magic != magic120 {
		return true
	}
	ptr := int(hdr[7])
	if int64(8+8*ptr) > size || len(hdr) < 8+8*ptr {
		return false
	}
	word := func(i int) uint64 {
		if ptr == 8 {
			return bo.Uint64(hdr[8+i*8:])
		}
		return uint64(bo.Uint32(hdr[8+i*4:]))
	}
	// nfunc, nfiles, textStart, funcnameOffset, cuOffset, filetabOffset,
	// pctabOffset, pclnOffset.
	if nfunc := word(0); nfunc == 0 || nfunc > 1<<24 {
		return false
	}
	prev := uint64(8 + 8*ptr - 1)
	for i := 3; i < 8; i++ {
		off := word(i)
		if off <= prev || off >= uint64(size) {
			return false
		}
		prev = off
	}
	return true
}

// pclntabText returns the textStart field of a Go 1.18+ pclntab header,
// which is runtime.text for non-PIE binaries (0 in the file for PIE, where
// it is relocated at run time), or 0.
func pclntabText(g region, bo binary.ByteOrder) uint64 {
	var hdr [8 + 3*8]byte
	n := min(int64(len(hdr)), g.size)
	if g.read(hdr[:n], 0) != nil || n < 8 {
		return 0
	}
	magic := bo.Uint32(hdr[:])
	if magic != magic118 && magic != magic120 {
		return 0
	}
	ptr := int(hdr[7])
	off := 8 + 2*ptr
	switch {
	case ptr == 8 && n >= int64(off+8):
		return bo.Uint64(hdr[off:])
	case ptr == 4 && n >= int64(off+4):
		return uint64(bo.Uint32(hdr[off:]))
	}
	return 0
}

// moduledataText finds runtime.text in runtime.firstmoduledata, for Go
// 1.18+ binaries without symbols whose pclntab header no longer carries it
// (Go 1.26). The moduledata starts with a pointer to the pclntab header and
// the funcnametab slice (pointing funcnameOffset further); text is word 22:
// pcHeader, six slices (funcnametab, cutab, filetab, pctab, pclntable,
// ftab), findfunctab, minpc, maxpc, text. It returns 0 when not found (PIE
// binaries, whose moduledata is relocated at run time). The writable
// segments are read in chunks.
func moduledataText(ef *elf.File, r io.ReaderAt, pcln region, vaddr uint64) uint64 {
	bo := ef.ByteOrder
	var hdr [8 + 8*8]byte
	if pcln.size < int64(len(hdr)) || pcln.read(hdr[:], 0) != nil || hdr[7] != 8 {
		return 0 // 64-bit only
	}
	if m := bo.Uint32(hdr[:]); m != magic118 && m != magic120 {
		return 0
	}
	funcnames := vaddr + bo.Uint64(hdr[8+3*8:])
	var want [16]byte
	bo.PutUint64(want[:], vaddr)
	bo.PutUint64(want[8:], funcnames)
	for _, p := range ef.Progs {
		if p.Type != elf.PT_LOAD || p.Flags&elf.PF_W == 0 || p.Filesz > 1<<30 {
			continue
		}
		seg := region{r: r, off: int64(p.Off), size: int64(p.Filesz)}
		var text uint64
		seg.scan(16<<10, len(want)-1, func(data []byte, at int64) bool {
			for off := 0; ; {
				i := bytes.Index(data[off:], want[:])
				if i < 0 {
					return true
				}
				i += off
				off = i + 1
				pos := at + int64(i)
				if pos%8 != 0 {
					continue
				}
				var w [3 * 8]byte
				if seg.read(w[:], pos+20*8) != nil {
					continue
				}
				minpc, tx := bo.Uint64(w[0:]), bo.Uint64(w[16:])
				if tx != 0 && tx <= minpc {
					text = tx
					return false
				}
			}
		})
		if text != 0 {
			return text
		}
	}
	return 0
}
