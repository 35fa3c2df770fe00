package uprobe

import (
	"debug/elf"
	"debug/gosym"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/ianlancetaylor/demangle"

	"github.com/kscope/kscope/internal/symbolize"
)

// Errors that Resolve wraps: ErrSpec for a malformed BINARY:SYMBOL.
var (
	ErrNoBinary  = errors.New("binary not found")
	ErrNoSymbol  = errors.New("symbol not found")
	ErrAmbiguous = errors.New("ambiguous symbol")
	ErrSpec      = errors.New("want BINARY:SYMBOL")
)

// Target is one function resolved to a place a uprobe can attach.
type Target struct {
	// Binary is the file as found (a path in this mount namespace, or in
	// the process's when resolved with a pid).
	Binary string
	// Path is what to attach to: Binary, or /proc/PID/root/Binary when
	// resolved with a pid.
	Path string
	// Symbol is the name as stored (mangled for C++); Name is the one to
	// show (demangled with parameters for C++, the Go name for Go).
	Symbol, Name string
	// Address is the link-time virtual address and Size the length of the
	// function (0 when the symbol table does not say).
	Address, Size uint64
	// Offset is the file offset of Address: what a uprobe attaches at.
	Offset uint64
	// Go is set for a Go function (not cgo or assembly-only C code in a Go
	// binary): it uses Go's register ABI and needs return probes on its RET
	// instructions rather than a uretprobe.
	Go bool

	loads []elf.ProgHeader
}

// Resolve resolves "BINARY:SYMBOL". See ResolveSymbol.
func Resolve(spec string, pid int) (*Target, error) {
	bin, sym, ok := splitSpec(spec)
	if !ok {
		return nil, fmt.Errorf("%q: %w", spec, ErrSpec)
	}
	return ResolveSymbol(bin, sym, pid)
}

// splitSpec splits "BINARY:SYMBOL" at the first colon that is not part of a
// C++ "::" (binaries with colons in their names are not supported).
func splitSpec(spec string) (bin, sym string, ok bool) {
	for i := 0; i < len(spec); i++ {
		if spec[i] != ':' {
			continue
		}
		if i+1 < len(spec) && spec[i+1] == ':' {
			i++
			continue
		}
		bin, sym = spec[:i], spec[i+1:]
		return bin, sym, sym != ""
	}
	return "", "", false
}

// ResolveSymbol finds symbol in binary. With pid > 0 the process's mappings
// are searched first and an empty binary is the process's executable.
func ResolveSymbol(binary, symbol string, pid int) (*Target, error) {
	if symbol == "" {
		return nil, fmt.Errorf("%w: empty symbol name", ErrNoSymbol)
	}
	found, path, err := FindBinary(binary, pid)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoBinary, err)
	}
	defer f.Close()
	ef, err := elf.NewFile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: not an ELF file: %w", found, err)
	}
	defer ef.Close()
	if ef.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("%s: %s binaries are not supported (x86-64 only)", found, ef.Machine)
	}
	tab := readSymbols(ef, f)
	fn, err := tab.lookup(symbol)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", found, err)
	}
	t := &Target{Binary: found, Path: path, Symbol: fn.raw, Name: fn.display(), Address: fn.addr, Size: fn.size, Go: fn.goFn}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD {
			t.loads = append(t.loads, p.ProgHeader)
		}
	}
	off, ok := t.fileOffset(t.Address)
	if !ok {
		return nil, fmt.Errorf("%s: %s at %#x is in no loaded segment", found, t.Name, t.Address)
	}
	t.Offset = off
	return t, nil
}

// fileOffset turns a virtual address into a file offset through the
// executable PT_LOAD segment holding it.
func (t *Target) fileOffset(addr uint64) (uint64, bool) {
	for _, p := range t.loads {
		if addr >= p.Vaddr && addr < p.Vaddr+p.Filesz && p.Flags&elf.PF_X != 0 {
			return addr - p.Vaddr + p.Off, true
		}
	}
	return 0, false
}

// String returns "binary:name".
func (t *Target) String() string { return t.Binary + ":" + t.Name }

// function is one candidate from the symbol tables.
type function struct {
	raw      string // as stored, version suffix dropped
	full     string // demangled with parameters ("" when not mangled)
	short    string // demangled without parameters ("" when not mangled)
	addr     uint64
	size     uint64
	goFn     bool
	fromDyn  bool
	isIfunc  bool
	fromGoTb bool
}

func (f *function) display() string {
	if f.full != "" {
		return f.full
	}
	return f.raw
}

type symtab struct {
	funcs []function
	goTab *gosym.Table
}

// readSymbols collects the function symbols of .symtab, .dynsym and, for
// Go binaries, .gopclntab.
func readSymbols(ef *elf.File, r io.ReaderAt) *symtab {
	t := &symtab{}
	seen := map[string]bool{}
	add := func(syms []elf.Symbol, dyn bool) {
		for _, s := range syms {
			typ := elf.ST_TYPE(s.Info)
			if (typ != elf.STT_FUNC && typ != elf.STT_GNU_IFUNC) || s.Section == elf.SHN_UNDEF || s.Value == 0 || s.Name == "" {
				continue
			}
			name := s.Name
			if i := strings.IndexByte(name, '@'); i > 0 {
				name = name[:i]
			}
			key := name + "@" + strconv.FormatUint(s.Value, 16)
			if seen[key] {
				continue
			}
			seen[key] = true
			f := function{raw: name, addr: s.Value, size: s.Size, fromDyn: dyn, isIfunc: typ == elf.STT_GNU_IFUNC}
			if isMangled(name) {
				if full, err := demangle.ToString(name); err == nil {
					f.full = full
					f.short = symbolize.Demangle(name)
				}
			}
			t.funcs = append(t.funcs, f)
		}
	}
	syms, _ := ef.Symbols()
	add(syms, false)
	dyn, _ := ef.DynamicSymbols()
	add(dyn, true)
	if tab, err := symbolize.GoTable(ef, r); err == nil {
		t.goTab = tab
		// The symbols at each address, in table order.
		byAddr := map[uint64][]int{}
		for i := range t.funcs {
			byAddr[t.funcs[i].addr] = append(byAddr[t.funcs[i].addr], i)
		}
		for i := range tab.Funcs {
			fn := &tab.Funcs[i]
			if js, ok := byAddr[fn.Entry]; ok {
				j := js[len(js)-1]
				if t.funcs[j].size == 0 {
					t.funcs[j].size = fn.End - fn.Entry
				}
				// .symtab may name the function too; mark every alias.
				for _, k := range js {
					t.funcs[k].goFn = true
				}
				if t.funcs[j].raw == fn.Name {
					continue
				}
			}
			if seen[fn.Name+"@"+strconv.FormatUint(fn.Entry, 16)] {
				continue
			}
			t.funcs = append(t.funcs, function{raw: fn.Name, addr: fn.Entry, size: fn.End - fn.Entry, goFn: true, fromGoTb: true})
		}
	}
	return t
}

func isMangled(name string) bool {
	return strings.HasPrefix(name, "_Z") || strings.HasPrefix(name, "_R") || strings.HasPrefix(name, "__Z")
}

// lookup finds name by the rules of the package doc.
func (t *symtab) lookup(name string) (*function, error) {
	if strings.HasPrefix(name, "0x") {
		addr, err := strconv.ParseUint(name[2:], 16, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: %q is not a hex address", ErrNoSymbol, name)
		}
		return t.byAddress(addr)
	}
	rules := []func(*function) bool{
		func(f *function) bool { return f.raw == name },
		func(f *function) bool { return f.full != "" && f.full == name },
		func(f *function) bool { return f.short != "" && f.short == name },
	}
	for _, match := range rules {
		var hits []*function
		for i := range t.funcs {
			if match(&t.funcs[i]) {
				hits = append(hits, &t.funcs[i])
			}
		}
		if len(hits) == 0 {
			continue
		}
		addrs := map[uint64]*function{}
		for _, h := range hits {
			if prev, ok := addrs[h.addr]; !ok || better(h, prev) {
				addrs[h.addr] = h
			}
		}
		if len(addrs) == 1 {
			return t.complete(hits[0]), nil
		}
		var names []string
		for _, h := range addrs {
			names = append(names, fmt.Sprintf("%s (%#x)", h.display(), h.addr))
		}
		sort.Strings(names)
		return nil, fmt.Errorf("%w %q: %d functions match: %s", ErrAmbiguous, name, len(addrs), strings.Join(names, ", "))
	}
	msg := fmt.Sprintf("%v: %q", ErrNoSymbol, name)
	if s := t.suggest(name); len(s) > 0 {
		msg += "; did you mean " + strings.Join(quoteAll(s), ", ") + "?"
	}
	return nil, &notFoundError{msg: msg}
}

// better prefers a .symtab entry with a size over others at one address.
func better(a, b *function) bool {
	if (a.size != 0) != (b.size != 0) {
		return a.size != 0
	}
	return !a.fromDyn && b.fromDyn
}

// complete fills in a size from another alias when f has none, and the Go
// flag from any alias.
func (t *symtab) complete(f *function) *function {
	out := *f
	for i := range t.funcs {
		g := &t.funcs[i]
		if g.addr != f.addr {
			continue
		}
		if out.size == 0 && g.size != 0 {
			out.size = g.size
		}
		out.goFn = out.goFn || g.goFn
	}
	return &out
}

func (t *symtab) byAddress(addr uint64) (*function, error) {
	var best *function
	for i := range t.funcs {
		f := &t.funcs[i]
		if addr >= f.addr && (addr < f.addr+f.size || addr == f.addr) {
			if best == nil || f.addr > best.addr {
				best = f
			}
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%w: no function at %#x", ErrNoSymbol, addr)
	}
	out := *t.complete(best)
	if addr != out.addr {
		out.size -= addr - out.addr
		out.full = fmt.Sprintf("%s+%#x", out.display(), addr-out.addr)
		out.addr = addr
		out.goFn = false // not an entry: no Go prologue handling
	}
	return &out, nil
}

type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }
func (e *notFoundError) Unwrap() error { return ErrNoSymbol }

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i := range s {
		out[i] = strconv.Quote(s[i])
	}
	return out
}
