package symbolize

import (
	"debug/elf"
	"debug/gosym"
	"errors"
	"fmt"
	"io"
)

// GoTable reads the whole Go symbol table of the ELF file ef, read from r,
// from its pclntab, found by section, by symbol or, in binaries stripped
// of section headers, by its header in a read-only segment. It fails for
// files that are not Go programs. Unlike symbolization, which reads the
// pclntab lazily, it holds every function in memory: for tools that list
// them, such as probe placement.
func GoTable(ef *elf.File, r io.ReaderAt) (*gosym.Table, error) {
	named := map[string]uint64{}
	if syms, err := ef.Symbols(); err == nil {
		for _, s := range syms {
			switch s.Name {
			case "runtime.text", "runtime.pclntab", "runtime.epclntab":
				named[s.Name] = s.Value
			}
		}
	}
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
	return tab, nil
}

// Demangle returns a C++ or Rust name without parameters and return types,
// other names unchanged, and drops a symbol version suffix ("@@GLIBC_2.2.5").
func Demangle(name string) string { return demangleName(name) }
