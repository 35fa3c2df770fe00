package symbolize

import (
	"debug/elf"
	"encoding/binary"
)

// testELF describes a small ELF file for tests: one PT_LOAD segment
// mapping the whole file at vaddr == offset + base, a .text section, and
// the symbol tables and pclntab given.
type testELF struct {
	class   elf.Class
	order   testOrder
	base    uint64 // vaddr of file offset 0
	text    int    // bytes of .text
	syms    []testELFSym
	dynsyms []testELFSym
	pclntab []byte // a .gopclntab section when not nil
}

// testOrder is binary.LittleEndian or binary.BigEndian.
type testOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

type testELFSym struct {
	name  string
	value uint64
	size  uint64
	typ   elf.SymType
	bind  elf.SymBind
	undef bool
}

// textSection is the section index of .text in files bytes builds.
const textSection = 1

// bytes lays the file out: headers, .text, the tables, section headers.
func (e testELF) bytes() []byte {
	is64 := e.class != elf.ELFCLASS32
	bo := e.order
	ehsize, phsize, shsize, symsize := 52, 32, 40, 16
	if is64 {
		ehsize, phsize, shsize, symsize = 64, 56, 64, 24
	}
	type section struct {
		name       string
		typ        elf.SectionType
		flags      elf.SectionFlag
		data       []byte
		link       uint32
		entsize    int
		off        int
		addr       uint64
		nameOffset int
	}
	strtab := func(syms []testELFSym) ([]byte, []byte) {
		str := []byte{0}
		tab := make([]byte, symsize) // the null symbol
		for _, s := range syms {
			name := uint32(0)
			if s.name != "" {
				name = uint32(len(str))
				str = append(append(str, s.name...), 0)
			}
			shndx := uint16(textSection)
			if s.undef {
				shndx = 0
			}
			info := byte(s.bind)<<4 | byte(s.typ)&0xf
			if is64 {
				tab = bo.AppendUint32(tab, name)
				tab = append(tab, info, 0)
				tab = bo.AppendUint16(tab, shndx)
				tab = bo.AppendUint64(tab, s.value)
				tab = bo.AppendUint64(tab, s.size)
			} else {
				tab = bo.AppendUint32(tab, name)
				tab = bo.AppendUint32(tab, uint32(s.value))
				tab = bo.AppendUint32(tab, uint32(s.size))
				tab = append(tab, info, 0)
				tab = bo.AppendUint16(tab, shndx)
			}
		}
		return tab, str
	}
	secs := []*section{{}, {name: ".text", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC | elf.SHF_EXECINSTR, data: make([]byte, e.text)}}
	if e.syms != nil {
		tab, str := strtab(e.syms)
		secs = append(secs, &section{name: ".symtab", typ: elf.SHT_SYMTAB, data: tab, link: uint32(len(secs) + 1), entsize: symsize},
			&section{name: ".strtab", typ: elf.SHT_STRTAB, data: str})
	}
	if e.dynsyms != nil {
		tab, str := strtab(e.dynsyms)
		secs = append(secs, &section{name: ".dynsym", typ: elf.SHT_DYNSYM, flags: elf.SHF_ALLOC, data: tab, link: uint32(len(secs) + 1), entsize: symsize},
			&section{name: ".dynstr", typ: elf.SHT_STRTAB, flags: elf.SHF_ALLOC, data: str})
	}
	if e.pclntab != nil {
		secs = append(secs, &section{name: ".gopclntab", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC, data: e.pclntab})
	}
	shstr := []byte{0}
	secs = append(secs, &section{name: ".shstrtab", typ: elf.SHT_STRTAB})
	for _, s := range secs[1:] {
		s.nameOffset = len(shstr)
		shstr = append(append(shstr, s.name...), 0)
	}
	secs[len(secs)-1].data = shstr

	off := ehsize + phsize
	for _, s := range secs[1:] {
		off = (off + 15) &^ 15
		s.off = off
		s.addr = e.base + uint64(off)
		off += len(s.data)
	}
	shoff := (off + 15) &^ 15
	size := shoff + shsize*len(secs)

	out := make([]byte, 0, size)
	out = append(out, 0x7f, 'E', 'L', 'F', byte(e.class), 1, 1, 0)
	if bo == binary.BigEndian {
		out[5] = 2
	}
	out = append(out, make([]byte, 8)...)
	out = bo.AppendUint16(out, uint16(elf.ET_DYN))
	out = bo.AppendUint16(out, uint16(elf.EM_X86_64))
	out = bo.AppendUint32(out, 1)
	word := func(b []byte, v uint64) []byte {
		if is64 {
			return bo.AppendUint64(b, v)
		}
		return bo.AppendUint32(b, uint32(v))
	}
	out = word(out, e.base+uint64(secs[1].off)) // entry
	out = word(out, uint64(ehsize))             // phoff
	out = word(out, uint64(shoff))
	out = bo.AppendUint32(out, 0) // flags
	out = bo.AppendUint16(out, uint16(ehsize))
	out = bo.AppendUint16(out, uint16(phsize))
	out = bo.AppendUint16(out, 1)
	out = bo.AppendUint16(out, uint16(shsize))
	out = bo.AppendUint16(out, uint16(len(secs)))
	out = bo.AppendUint16(out, uint16(len(secs)-1))
	// PT_LOAD: the whole file, read and execute.
	if is64 {
		out = bo.AppendUint32(out, uint32(elf.PT_LOAD))
		out = bo.AppendUint32(out, uint32(elf.PF_R|elf.PF_X))
		out = bo.AppendUint64(out, 0)
		out = bo.AppendUint64(out, e.base)
		out = bo.AppendUint64(out, e.base)
		out = bo.AppendUint64(out, uint64(size))
		out = bo.AppendUint64(out, uint64(size))
		out = bo.AppendUint64(out, 0x1000)
	} else {
		for _, v := range []uint32{uint32(elf.PT_LOAD), 0, uint32(e.base), uint32(e.base), uint32(size), uint32(size), uint32(elf.PF_R | elf.PF_X), 0x1000} {
			out = bo.AppendUint32(out, v)
		}
	}
	for _, s := range secs[1:] {
		out = append(out, make([]byte, s.off-len(out))...)
		out = append(out, s.data...)
	}
	out = append(out, make([]byte, shoff-len(out))...)
	for _, s := range secs {
		if is64 {
			out = bo.AppendUint32(out, uint32(s.nameOffset))
			out = bo.AppendUint32(out, uint32(s.typ))
			out = bo.AppendUint64(out, uint64(s.flags))
			out = bo.AppendUint64(out, s.addr)
			out = bo.AppendUint64(out, uint64(s.off))
			out = bo.AppendUint64(out, uint64(len(s.data)))
			out = bo.AppendUint32(out, s.link)
			out = bo.AppendUint32(out, 0)
			out = bo.AppendUint64(out, 1)
			out = bo.AppendUint64(out, uint64(s.entsize))
		} else {
			for _, v := range []uint32{uint32(s.nameOffset), uint32(s.typ), uint32(s.flags), uint32(s.addr), uint32(s.off), uint32(len(s.data)), s.link, 0, 1, uint32(s.entsize)} {
				out = bo.AppendUint32(out, v)
			}
		}
	}
	return out
}

// textAddr is the vaddr of .text in a file bytes built: after the headers.
func (e testELF) textAddr() uint64 {
	if e.class == elf.ELFCLASS32 {
		return e.base + (52+32+15)&^15
	}
	return e.base + (64+56+15)&^15
}

// testPclntab builds a Go 1.20 pclntab (runtime/symtab.go's layout) with
// one compilation unit. Each function lists its pc ranges, each with a
// file index and a line.
type testPclntab struct {
	order   testOrder
	ptr     int // 4 or 8
	quantum int
	files   []string
	funcs   []testFunc
	end     uint32 // end offset of the last function
}

type testFunc struct {
	name  string
	entry uint32 // offset from runtime.text
	runs  []testRun
}

type testRun struct {
	end        uint32 // offset from the function's entry
	file, line int32
}

func (p testPclntab) bytes() []byte {
	bo := p.order
	hdrLen := 8 + 8*p.ptr
	var names, files, pctab []byte
	pctab = append(pctab, 0)
	nameOff := make([]uint32, len(p.funcs))
	for i, f := range p.funcs {
		nameOff[i] = uint32(len(names))
		names = append(append(names, f.name...), 0)
	}
	var cutab []byte
	for _, f := range p.files {
		cutab = bo.AppendUint32(cutab, uint32(len(files)))
		files = append(append(files, f...), 0)
	}
	// pc-value tables: zigzag value deltas and pc deltas, uvarint.
	table := func(runs []testRun, val func(testRun) int32) uint32 {
		off := uint32(len(pctab))
		prev, pc := int32(-1), uint32(0)
		for i, r := range runs {
			if i+1 < len(runs) && val(runs[i+1]) == val(r) {
				continue // one run with the next: a 0 delta ends a table
			}
			d := val(r) - prev
			uv := uint32(d) << 1
			if d < 0 {
				uv = uint32(^d)<<1 | 1
			}
			pctab = binary.AppendUvarint(pctab, uint64(uv))
			pctab = binary.AppendUvarint(pctab, uint64((r.end-pc)/uint32(p.quantum)))
			prev, pc = val(r), r.end
		}
		return off
	}
	pcfile := make([]uint32, len(p.funcs))
	pcln := make([]uint32, len(p.funcs))
	for i, f := range p.funcs {
		pcfile[i] = table(f.runs, func(r testRun) int32 { return r.file })
		pctab = append(pctab, 0)
		pcln[i] = table(f.runs, func(r testRun) int32 { return r.line })
		pctab = append(pctab, 0)
	}
	funcnameOff := hdrLen
	cuOff := funcnameOff + len(names)
	filetabOff := cuOff + len(cutab)
	pctabOff := filetabOff + len(files)
	pclnOff := (pctabOff + len(pctab) + 7) &^ 7

	out := make([]byte, 0, pclnOff)
	out = bo.AppendUint32(out, magic120)
	out = append(out, 0, 0, byte(p.quantum), byte(p.ptr))
	for _, w := range []uint64{uint64(len(p.funcs)), uint64(len(p.files)), 0, uint64(funcnameOff), uint64(cuOff), uint64(filetabOff), uint64(pctabOff), uint64(pclnOff)} {
		if p.ptr == 8 {
			out = bo.AppendUint64(out, w)
		} else {
			out = bo.AppendUint32(out, uint32(w))
		}
	}
	out = append(append(append(append(out, names...), cutab...), files...), pctab...)
	out = append(out, make([]byte, pclnOff-len(out))...)
	// functab: (entry offset, _func offset) pairs and the end offset,
	// then the _func records.
	ftab := len(p.funcs)*8 + 4
	ftab = (ftab + 3) &^ 3
	const funcSize = 11 * 4
	for i, f := range p.funcs {
		out = bo.AppendUint32(out, f.entry)
		out = bo.AppendUint32(out, uint32(ftab+i*funcSize))
	}
	out = bo.AppendUint32(out, p.end)
	out = append(out, make([]byte, pclnOff+ftab-len(out))...)
	for i, f := range p.funcs {
		// entryOff, nameOff, args, deferreturn, pcsp, pcfile, pcln,
		// npcdata, cuOffset, startLine, funcID/flag/pad/nfuncdata.
		for _, v := range []uint32{f.entry, nameOff[i], 0, 0, 0, pcfile[i], pcln[i], 0, 0, 0, 0} {
			out = bo.AppendUint32(out, v)
		}
	}
	return out
}
