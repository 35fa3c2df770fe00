package symbolize

import (
	"bytes"
	"debug/elf"
	"debug/gosym"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/ianlancetaylor/demangle"
)

// fileTable is what symbolization needs from one ELF file. It is immutable
// once loaded and shared by every process mapping the file.
type fileTable struct {
	buildID string
	loads   []elf.ProgHeader // PT_LOAD, to turn file offsets into virtual addresses
	syms    []elfSym         // FUNC symbols sorted by address, one per address
	goTab   *gosym.Table     // from .gopclntab; nil for non-Go files
}

// elfSym is one function symbol; size 0 symbols end at the next symbol.
type elfSym struct {
	addr, size uint64
	name       string // demangled
}

// vaddr turns a file offset into the ELF virtual address the symbols use.
// Shared libraries and PIE executables are linked at (near) 0, non-PIE
// executables at their fixed address: the program headers say which.
func (t *fileTable) vaddr(off uint64) (uint64, bool) {
	for i := range t.loads {
		p := &t.loads[i]
		if off >= p.Off && off < p.Off+p.Filesz {
			return p.Vaddr + (off - p.Off), true
		}
	}
	return off, false
}

// lookup fills f's Function, File and Line for the virtual address pc.
func (t *fileTable) lookup(pc uint64, f *Frame) {
	if t.goTab != nil {
		if file, line, fn := t.goTab.PCToLine(pc); fn != nil {
			f.Function, f.File, f.Line = fn.Name, file, line
			return
		}
	}
	i := sort.Search(len(t.syms), func(i int) bool { return t.syms[i].addr > pc }) - 1
	// Walk back a little for a symbol that encloses a smaller one (rare:
	// nested or overlapping symbols); a gap past a symbol's end is unknown.
	for j := i; j >= 0 && j > i-4; j-- {
		s := &t.syms[j]
		if pc-s.addr < s.size {
			f.Function = s.name
			return
		}
	}
}

// loadFile reads the symbol table of the ELF file r. debugRoot, when not
// empty, is the root (as /proc/PID/root) under which to look for a separate
// debug file (/usr/lib/debug/.build-id/xx/yyyy.debug) when r has no .symtab.
func loadFile(r io.ReaderAt, debugRoot string) (*fileTable, error) {
	ef, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("reading ELF: %w", err)
	}
	defer ef.Close()
	t := &fileTable{buildID: buildID(ef)}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD {
			t.loads = append(t.loads, p.ProgHeader)
		}
	}
	syms, symErr := ef.Symbols()
	if len(syms) == 0 && t.buildID != "" && debugRoot != "" {
		if dsyms, err := debugSymbols(debugRoot, t.buildID); err == nil {
			syms, symErr = dsyms, nil
		}
	}
	dyn, _ := ef.DynamicSymbols()
	t.syms = funcSymbols(append(syms, dyn...))
	if tab, err := goTable(ef, syms); err == nil {
		t.goTab = tab
	}
	if len(t.syms) == 0 && t.goTab == nil {
		if symErr == nil {
			symErr = errors.New("no function symbols")
		}
		return t, fmt.Errorf("reading symbols: %w", symErr)
	}
	return t, nil
}

// debugSymbols reads .symtab from the separate debug file of a build id.
func debugSymbols(root, id string) ([]elf.Symbol, error) {
	if len(id) < 3 {
		return nil, errors.New("short build id")
	}
	f, err := os.Open(root + "/usr/lib/debug/.build-id/" + id[:2] + "/" + id[2:] + ".debug")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ef, err := elf.NewFile(f)
	if err != nil {
		return nil, err
	}
	defer ef.Close()
	if buildID(ef) != id {
		return nil, errors.New("debug file build id mismatch")
	}
	return ef.Symbols()
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

// funcSymbols keeps defined function symbols, sorted by address, one per
// address, demangled. Size 0 symbols are given the distance to the next.
func funcSymbols(in []elf.Symbol) []elfSym {
	type cand struct {
		elf.Symbol
		rank int
	}
	var cs []cand
	for _, s := range in {
		typ := elf.ST_TYPE(s.Info)
		if (typ != elf.STT_FUNC && typ != elf.STT_GNU_IFUNC) || s.Section == elf.SHN_UNDEF || s.Value == 0 || s.Name == "" {
			continue
		}
		cs = append(cs, cand{Symbol: s, rank: bindRank(elf.ST_BIND(s.Info))})
	}
	// By address, then the name perf and pprof users expect first among
	// aliases: fewer leading underscores ("getpid" over "__getpid"), global
	// over weak over local, shorter, then alphabetical for determinism.
	sort.Slice(cs, func(i, j int) bool {
		a, b := &cs[i], &cs[j]
		if a.Value != b.Value {
			return a.Value < b.Value
		}
		if ua, ub := underscores(a.Name), underscores(b.Name); ua != ub {
			return ua < ub
		}
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		if a.Size != b.Size {
			return a.Size > b.Size
		}
		if len(a.Name) != len(b.Name) {
			return len(a.Name) < len(b.Name)
		}
		return a.Name < b.Name
	})
	out := make([]elfSym, 0, len(cs))
	for i := range cs {
		if i > 0 && cs[i].Value == cs[i-1].Value {
			continue
		}
		out = append(out, elfSym{addr: cs[i].Value, size: cs[i].Size, name: demangleName(cs[i].Name)})
	}
	for i := range out {
		if out[i].size == 0 {
			if i+1 < len(out) {
				out[i].size = out[i+1].addr - out[i].addr
			} else {
				out[i].size = 1 << 12 // last symbol without a size: a page at most
			}
		}
	}
	return out
}

func bindRank(b elf.SymBind) int {
	switch b {
	case elf.STB_GLOBAL:
		return 0
	case elf.STB_WEAK:
		return 1
	}
	return 2
}

func underscores(s string) int {
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

// goTable reads the Go symbol table from .gopclntab. Stripped Go binaries
// (-ldflags=-s -w) keep it: they lose .symtab and DWARF, not pclntab.
func goTable(ef *elf.File, syms []elf.Symbol) (*gosym.Table, error) {
	data, vaddr, err := pclntab(ef, syms)
	if err != nil {
		return nil, err
	}
	text, ok := symbolValue(syms, "runtime.text")
	if !ok {
		text = pclntabText(data, ef.ByteOrder)
	}
	if text == 0 && vaddr != 0 {
		text = moduledataText(ef, data, vaddr)
	}
	if text == 0 {
		if s := ef.Section(".text"); s != nil {
			text = s.Addr
		}
	}
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, text))
	if err != nil {
		return nil, fmt.Errorf("reading .gopclntab: %w", err)
	}
	return tab, nil
}

var errNoPclntab = errors.New("no .gopclntab")

// pclntab finds the pclntab: by section name, by the runtime.pclntab
// symbol, or by its magic header in a read-only loaded segment.
// It returns the pclntab and its virtual address.
func pclntab(ef *elf.File, syms []elf.Symbol) ([]byte, uint64, error) {
	for _, name := range []string{".gopclntab", ".data.rel.ro.gopclntab"} {
		if s := ef.Section(name); s != nil && s.Type != elf.SHT_NOBITS {
			data, err := s.Data()
			return data, s.Addr, err
		}
	}
	if ef.Section(".go.buildinfo") == nil && ef.Section(".note.go.buildid") == nil && len(ef.Sections) > 0 {
		if _, ok := symbolValue(syms, "runtime.pclntab"); !ok {
			return nil, 0, errNoPclntab // has section headers and no sign of Go
		}
	}
	if start, ok := symbolValue(syms, "runtime.pclntab"); ok {
		if end, ok := symbolValue(syms, "runtime.epclntab"); ok && end > start {
			data, err := readVaddr(ef, start, end-start)
			return data, start, err
		}
	}
	// Section headers stripped: scan the read-only segments, the ones
	// without code first (where recent linkers put it; code may hold the
	// magic as an immediate).
	for _, exec := range []bool{false, true} {
		for _, p := range ef.Progs {
			if p.Type != elf.PT_LOAD || p.Flags&elf.PF_W != 0 || (p.Flags&elf.PF_X != 0) != exec || p.Filesz > 1<<30 {
				continue
			}
			data := make([]byte, p.Filesz)
			if _, err := p.ReadAt(data, 0); err != nil {
				continue
			}
			if i := findPclntabHeader(data, ef.ByteOrder); i >= 0 {
				return data[i:], p.Vaddr + uint64(i), nil
			}
		}
	}
	return nil, 0, errNoPclntab
}

// findPclntabHeader returns the offset of a Go 1.2+ pclntab header: magic,
// two zero bytes, instruction size quantum (1, 2 or 4), pointer size (4, 8).
func findPclntabHeader(data []byte, bo binary.ByteOrder) int {
	for _, magic := range []uint32{0xfffffff1, 0xfffffff0, 0xfffffffa, 0xfffffffb} {
		var m [4]byte
		bo.PutUint32(m[:], magic)
		for off := 0; ; {
			i := bytes.Index(data[off:], m[:])
			if i < 0 {
				break
			}
			i += off
			if i+8 <= len(data) && i%4 == 0 && data[i+4] == 0 && data[i+5] == 0 &&
				(data[i+6] == 1 || data[i+6] == 2 || data[i+6] == 4) && (data[i+7] == 4 || data[i+7] == 8) &&
				plausibleHeader(data[i:], bo) {
				return i
			}
			off = i + 1
		}
	}
	return -1
}

// plausibleHeader checks a Go 1.18+ pcHeader's counts and table offsets
// (increasing, inside the data); older headers only have the magic checked.
func plausibleHeader(data []byte, bo binary.ByteOrder) bool {
	magic := bo.Uint32(data)
	if magic != 0xfffffff0 && magic != 0xfffffff1 {
		return true
	}
	ptr := int(data[7])
	if len(data) < 8+8*ptr {
		return false
	}
	word := func(i int) uint64 {
		if ptr == 8 {
			return bo.Uint64(data[8+i*8:])
		}
		return uint64(bo.Uint32(data[8+i*4:]))
	}
	// nfunc, nfiles, textStart, funcnameOffset, cuOffset, filetabOffset,
	// pctabOffset, pclnOffset.
	if nfunc := word(0); nfunc == 0 || nfunc > 1<<24 {
		return false
	}
	prev := uint64(8 + 8*ptr - 1)
	for i := 3; i < 8; i++ {
		off := word(i)
		if off <= prev || off >= uint64(len(data)) {
			return false
		}
		prev = off
	}
	return true
}

// pclntabText returns the textStart field of a Go 1.18+ pclntab header,
// which is runtime.text for non-PIE binaries (0 in the file for PIE, where
// it is relocated at run time), or 0.
func pclntabText(data []byte, bo binary.ByteOrder) uint64 {
	if len(data) < 8 {
		return 0
	}
	magic := bo.Uint32(data)
	if magic != 0xfffffff0 && magic != 0xfffffff1 {
		return 0
	}
	ptr := int(data[7])
	off := 8 + 2*ptr
	switch {
	case ptr == 8 && len(data) >= off+8:
		return bo.Uint64(data[off:])
	case ptr == 4 && len(data) >= off+4:
		return uint64(bo.Uint32(data[off:]))
	}
	return 0
}

// moduledataText finds runtime.text in runtime.firstmoduledata, for Go
// 1.18+ binaries without symbols whose pclntab header no longer carries it
// (Go 1.26). The moduledata starts with a pointer to the pclntab header and
// the funcnametab slice (pointing funcnameOffset further); text is word 22:
// pcHeader, six slices (funcnametab, cutab, filetab, pctab, pclntable,
// ftab), findfunctab, minpc, maxpc, text. It returns 0 when not found (PIE
// binaries, whose moduledata is relocated at run time).
func moduledataText(ef *elf.File, pcln []byte, vaddr uint64) uint64 {
	bo := ef.ByteOrder
	if len(pcln) < 8 || pcln[7] != 8 {
		return 0 // 64-bit only
	}
	if m := bo.Uint32(pcln); m != 0xfffffff0 && m != 0xfffffff1 || len(pcln) < 8+8*8 {
		return 0
	}
	funcnames := vaddr + bo.Uint64(pcln[8+3*8:])
	var want [16]byte
	bo.PutUint64(want[:], vaddr)
	bo.PutUint64(want[8:], funcnames)
	for _, p := range ef.Progs {
		if p.Type != elf.PT_LOAD || p.Flags&elf.PF_W == 0 || p.Filesz > 1<<30 {
			continue
		}
		data := make([]byte, p.Filesz)
		if _, err := p.ReadAt(data, 0); err != nil {
			continue
		}
		for off := 0; ; {
			i := bytes.Index(data[off:], want[:])
			if i < 0 {
				break
			}
			i += off
			if i%8 == 0 && i+23*8 <= len(data) {
				minpc, text := bo.Uint64(data[i+20*8:]), bo.Uint64(data[i+22*8:])
				if text != 0 && text <= minpc {
					return text
				}
			}
			off = i + 1
		}
	}
	return 0
}

func symbolValue(syms []elf.Symbol, name string) (uint64, bool) {
	for i := range syms {
		if syms[i].Name == name {
			return syms[i].Value, true
		}
	}
	return 0, false
}

// readVaddr reads n bytes at virtual address addr from the PT_LOAD segment
// holding it.
func readVaddr(ef *elf.File, addr, n uint64) ([]byte, error) {
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD && addr >= p.Vaddr && addr+n <= p.Vaddr+p.Filesz {
			data := make([]byte, n)
			if _, err := p.ReadAt(data, int64(addr-p.Vaddr)); err != nil {
				return nil, err
			}
			return data, nil
		}
	}
	return nil, errNoPclntab
}
