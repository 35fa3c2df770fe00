package symbolize

import (
	"bytes"
	"cmp"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
)

// The ELF symbol tables are read raw, in chunks, into a compact index of
// function symbols: address, size and a reference to the name in its
// string table, 16 bytes per function. Names are read from the file (and
// demangled) only when a lookup needs one, or to choose between aliases
// at one address while loading.

const (
	strtabBits = 2 // string table index in a name reference
	nameBits   = 32 - strtabBits
	maxNameOff = 1<<nameBits - 1

	// A symbol's size keeps 30 bits; its top two bits hold its binding
	// rank while the index is built.
	rankShift  = 30
	maxSymSize = 1<<rankShift - 1

	// The string tables of a file table.
	strSymtab = 0 // .symtab's (or the debug file's .symtab's)
	strDynsym = 1 // .dynsym's

	symChunk = 512 // symbols read at a time
)

// funcSym is one function symbol of a symIndex.
type funcSym struct {
	addr uint64
	size uint32 // 0 in the table is the distance to the next symbol
	name uint32 // string table index << nameBits | offset
}

func (s funcSym) rank() int      { return int(s.size >> rankShift) }
func (s funcSym) strtab() int    { return int(s.name >> nameBits) }
func (s funcSym) nameOff() int64 { return int64(s.name & maxNameOff) }

// symIndex is a file's function symbols sorted by address, one per address.
type symIndex struct {
	syms []funcSym
	strs [1 << strtabBits]region
}

// symtabSection is one ELF symbol table to scan.
type symtabSection struct {
	syms   region // the SHT_SYMTAB or SHT_DYNSYM contents
	strs   region // its string table
	class  elf.Class
	order  binary.ByteOrder
	strtab int // index for name references
}

// symtabOf returns the symbol table of type typ in ef, read through r.
func symtabOf(ef *elf.File, r regionReader, typ elf.SectionType, strtab int) (symtabSection, bool) {
	for _, s := range ef.Sections {
		if s.Type != typ {
			continue
		}
		if s.Link == 0 || int(s.Link) >= len(ef.Sections) {
			return symtabSection{}, false
		}
		str := ef.Sections[s.Link]
		if str.Type != elf.SHT_STRTAB {
			return symtabSection{}, false
		}
		return symtabSection{
			syms:   region{r: r, off: int64(s.Offset), size: int64(s.Size)},
			strs:   region{r: r, off: int64(str.Offset), size: int64(str.Size)},
			class:  ef.Class,
			order:  ef.ByteOrder,
			strtab: strtab,
		}, true
	}
	return symtabSection{}, false
}

// regionReader is what regions read from.
type regionReader interface {
	ReadAt(b []byte, off int64) (int, error)
}

func (t symtabSection) entSize() int {
	if t.class == elf.ELFCLASS32 {
		return 16 // Elf32_Sym
	}
	return 24 // Elf64_Sym
}

// count returns the number of symbols, the null symbol 0 included.
func (t symtabSection) count() int64 { return t.syms.size / int64(t.entSize()) }

// rawSym is the part of an ElfN_Sym the index needs.
type rawSym struct {
	name        uint32
	info        uint8
	shndx       uint16
	value, size uint64
}

// each calls fn for every symbol but the null one, reading symChunk
// symbols at a time.
func (t symtabSection) each(fn func(s rawSym)) error {
	if t.class != elf.ELFCLASS32 && t.class != elf.ELFCLASS64 {
		return fmt.Errorf("unknown ELF class %v", t.class)
	}
	es := t.entSize()
	n := t.count()
	buf := make([]byte, symChunk*es)
	for i := int64(1); i < n; {
		k := min(n-i, symChunk)
		b := buf[:k*int64(es)]
		if err := t.syms.read(b, i*int64(es)); err != nil {
			return fmt.Errorf("reading symbols: %w", err)
		}
		for ; len(b) >= es; b = b[es:] {
			var s rawSym
			if t.class == elf.ELFCLASS64 {
				s = rawSym{name: t.order.Uint32(b), info: b[4], shndx: t.order.Uint16(b[6:]),
					value: t.order.Uint64(b[8:]), size: t.order.Uint64(b[16:])}
			} else {
				s = rawSym{name: t.order.Uint32(b), value: uint64(t.order.Uint32(b[4:])),
					size: uint64(t.order.Uint32(b[8:])), info: b[12], shndx: t.order.Uint16(b[14:])}
			}
			fn(s)
		}
		i += k
	}
	return nil
}

// addrRange is [lo, hi).
type addrRange struct{ lo, hi uint64 }

// isFunc reports whether s is a defined, named function symbol outside
// skip.
func (t symtabSection) isFunc(s rawSym, skip addrRange) bool {
	typ := elf.ST_TYPE(s.info)
	return (typ == elf.STT_FUNC || typ == elf.STT_GNU_IFUNC) && elf.SectionIndex(s.shndx) != elf.SHN_UNDEF &&
		s.value != 0 && s.name != 0 && int64(s.name) < t.strs.size && s.name <= maxNameOff &&
		(s.value < skip.lo || s.value >= skip.hi)
}

// countFuncs returns the number of symbols funcs appends.
func (t symtabSection) countFuncs(skip addrRange) (int, error) {
	n := 0
	err := t.each(func(s rawSym) {
		if t.isFunc(s, skip) {
			n++
		}
	})
	return n, err
}

// funcs appends the defined, named function symbols outside skip to out,
// their binding rank in the size's top bits. Sized with countFuncs, out
// does not grow.
func (t symtabSection) funcs(out []funcSym, skip addrRange) ([]funcSym, error) {
	err := t.each(func(s rawSym) {
		if !t.isFunc(s, skip) {
			return
		}
		size := uint32(min(s.size, maxSymSize))
		out = append(out, funcSym{
			addr: s.value,
			size: size | uint32(bindRank(elf.ST_BIND(s.info)))<<rankShift,
			name: uint32(t.strtab)<<nameBits | s.name,
		})
	})
	return out, err
}

// values returns the values of the symbols (any type) named names, found
// by looking for the names in the string table first.
func (t symtabSection) values(names ...string) (map[string]uint64, error) {
	offs := map[uint32]string{}
	longest := 0
	for _, n := range names {
		longest = max(longest, len(n)+1)
	}
	err := t.strs.scan(16<<10, longest-1, func(data []byte, at int64) bool {
		for _, n := range names {
			pat := append([]byte(n), 0)
			for off := 0; ; {
				i := bytes.Index(data[off:], pat)
				if i < 0 {
					break
				}
				if o := at + int64(off+i); o <= 1<<32-1 {
					offs[uint32(o)] = n
				}
				off += i + 1
			}
		}
		return true
	})
	if err != nil || len(offs) == 0 {
		return nil, err
	}
	out := map[string]uint64{}
	err = t.each(func(s rawSym) {
		if n, ok := offs[s.name]; ok {
			if _, dup := out[n]; !dup {
				out[n] = s.value
			}
		}
	})
	return out, err
}

// buildIndex sorts syms by address and keeps one per address, the name
// perf and pprof users expect first among aliases: fewer leading
// underscores ("getpid" over "__getpid"), global over weak over local,
// larger, shorter, then alphabetical. Names are read only for aliases.
// Size 0 symbols are given the distance to the next. It reuses syms.
func buildIndex(syms []funcSym, strs *[1 << strtabBits]region) []funcSym {
	slices.SortFunc(syms, func(a, b funcSym) int { return cmp.Compare(a.addr, b.addr) })
	out := syms[:0]
	var bufs [2][]byte
	for i := 0; i < len(syms); {
		j := i + 1
		for j < len(syms) && syms[j].addr == syms[i].addr {
			j++
		}
		best := syms[i]
		if j-i > 1 {
			best = bestAlias(syms[i:j], strs, &bufs)
		}
		best.size &= maxSymSize
		out = append(out, best)
		i = j
	}
	for i := range out {
		if out[i].size == 0 {
			if i+1 < len(out) {
				out[i].size = uint32(min(out[i+1].addr-out[i].addr, maxSymSize))
			} else {
				out[i].size = 1 << 12 // last symbol without a size: a page at most
			}
		}
	}
	if len(out) < cap(syms)*7/8 {
		return slices.Clone(out) // many aliases: drop the slack
	}
	return slices.Clip(out)
}

// bestAlias returns the preferred of cands, aliases at one address,
// reading their names into two reused buffers.
func bestAlias(cands []funcSym, strs *[1 << strtabBits]region, bufs *[2][]byte) funcSym {
	best := cands[0]
	bestName, err := strs[best.strtab()].cbytes(best.nameOff(), bufs[0])
	if err != nil {
		bestName = nil
	}
	bufs[0] = bestName[:0]
	for _, c := range cands[1:] {
		name, err := strs[c.strtab()].cbytes(c.nameOff(), bufs[1])
		if err != nil {
			name = nil
		}
		bufs[1] = name[:0]
		if aliasLess(c, name, best, bestName) {
			best, bestName = c, name
			bufs[0], bufs[1] = bufs[1], bufs[0]
		}
	}
	return best
}

// aliasLess orders aliases at one address, the preferred name first.
func aliasLess(a funcSym, an []byte, b funcSym, bn []byte) bool {
	if (len(an) == 0) != (len(bn) == 0) {
		return len(an) != 0 // unreadable names last
	}
	if ua, ub := underscores(an), underscores(bn); ua != ub {
		return ua < ub
	}
	if ra, rb := a.rank(), b.rank(); ra != rb {
		return ra < rb
	}
	if sa, sb := a.size&maxSymSize, b.size&maxSymSize; sa != sb {
		return sa > sb
	}
	if len(an) != len(bn) {
		return len(an) < len(bn)
	}
	return bytes.Compare(an, bn) < 0
}

// find returns the index of the symbol covering addr, or -1: the last
// symbol at or below addr, or one of the few before it that encloses it
// (nested or overlapping symbols); a gap past a symbol's end is unknown.
func (x *symIndex) find(addr uint64) int {
	i := sort.Search(len(x.syms), func(i int) bool { return x.syms[i].addr > addr }) - 1
	for j := i; j >= 0 && j > i-4; j-- {
		s := &x.syms[j]
		if addr-s.addr < uint64(s.size) {
			return j
		}
	}
	return -1
}

// name returns the demangled name of symbol i.
func (x *symIndex) name(i int) (string, error) {
	s := x.syms[i]
	raw, err := x.strs[s.strtab()].cstring(s.nameOff())
	if err != nil {
		return "", err
	}
	if raw == "" {
		return "", errors.New("empty symbol name")
	}
	return demangleName(raw), nil
}

// bytes is the memory the index keeps.
func (x *symIndex) bytes() int { return cap(x.syms) * 16 }
