package symbolize

import (
	"debug/elf"
	"debug/gosym"
)

// GoTable reads the Go symbol table of ef from its pclntab, found by section,
// by symbol or, in binaries stripped of section headers, by its header in a
// read-only segment. It fails for files that are not Go programs.
func GoTable(ef *elf.File) (*gosym.Table, error) {
	syms, _ := ef.Symbols()
	return goTable(ef, syms)
}

// Demangle returns a C++ or Rust name without parameters and return types,
// other names unchanged, and drops a symbol version suffix ("@@GLIBC_2.2.5").
func Demangle(name string) string { return demangleName(name) }
