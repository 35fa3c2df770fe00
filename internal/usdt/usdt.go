// Package usdt reads the USDT (statically defined tracing) probes of an ELF
// file: the .note.stapsdt notes that <sys/sdt.h>'s DTRACE_PROBE and
// STAP_PROBE macros emit, and the x86-64 argument specifications they carry.
//
// Each note gives the probe's provider and name, the link-time address of
// its NOP (pc), the link-time address of the .stapsdt.base section (base),
// the address of its semaphore (0 for none) and its arguments as assembler
// operands with a size, "-4@%eax 8@-8(%rbp) 4@$5". A file whose addresses
// were changed after linking (prelink) has a .stapsdt.base section at
// another address than the note says: pc and semaphore move by the
// difference, as SystemTap and libbpf do.
//
// Probes attach as uprobes at the file offset of pc ([Probe.Offset]). A
// probe with a semaphore is guarded by a counter the program tests before
// computing expensive arguments; a tracer increments it while attached
// (the kernel does so for uprobes given the semaphore's file offset,
// [Probe.SemaphoreOffset], in every process mapping the file, including
// later ones).
package usdt

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Probe is one USDT probe site. The same provider and name may have several
// sites (a probe in an inlined function, or in a loop the compiler
// unrolled), each with its own argument locations.
type Probe struct {
	Provider string `json:"provider"`
	Name     string `json:"name"`
	// PC is the link-time virtual address of the probe's NOP, adjusted for
	// prelinking; Offset its file offset.
	PC     uint64 `json:"pc"`
	Offset uint64 `json:"offset"`
	// Base is the .stapsdt.base address the note was written with.
	Base uint64 `json:"base"`
	// Semaphore is the link-time address of the probe's semaphore (0: none)
	// and SemaphoreOffset its file offset.
	Semaphore       uint64 `json:"semaphore,omitempty"`
	SemaphoreOffset uint64 `json:"semaphore_offset,omitempty"`
	// ArgSpec is the arguments as written in the note; Args parsed.
	ArgSpec string `json:"args"`
	Args    []Arg  `json:"-"`
}

// String returns "provider:name".
func (p *Probe) String() string { return p.Provider + ":" + p.Name }

const (
	noteOwner  = "stapsdt"
	noteTypeV3 = 3
	maxArgs    = 12
)

// Read returns the probes of the ELF file ef, in note order. A file without
// a .note.stapsdt section has none (and no error). Probes whose arguments
// do not parse are returned with Args nil and the error joined into err.
func Read(ef *elf.File) ([]Probe, error) {
	sec := ef.Section(".note.stapsdt")
	if sec == nil {
		return nil, nil
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("reading .note.stapsdt: %w", err)
	}
	var base uint64
	var haveBase bool
	if b := ef.Section(".stapsdt.base"); b != nil {
		base, haveBase = b.Addr, true
	}
	probes, err := ParseNotes(data, ef.ByteOrder)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	var syms map[string]uint64
	for i := range probes {
		p := &probes[i]
		if haveBase && p.Base != 0 {
			p.PC += base - p.Base
			if p.Semaphore != 0 {
				p.Semaphore += base - p.Base
			}
		}
		for j := range p.Args {
			a := &p.Args[j]
			if a.Kind != ArgGlobal {
				continue
			}
			if syms == nil {
				syms = symbolAddrs(ef)
			}
			addr, ok := syms[a.Symbol]
			if !ok {
				errs = append(errs, fmt.Errorf("probe %s argument %d: no symbol %q", p, j+1, a.Symbol))
				p.Args = nil
				break
			}
			// Relative to the probe, which is where the program is at run time.
			a.Value += int64(addr - p.PC)
		}
		off, ok := fileOffset(ef, p.PC, true)
		if !ok {
			errs = append(errs, fmt.Errorf("probe %s at %#x: in no executable segment", p, p.PC))
			continue
		}
		p.Offset = off
		if p.Semaphore != 0 {
			off, ok := fileOffset(ef, p.Semaphore, false)
			if !ok {
				errs = append(errs, fmt.Errorf("probe %s: semaphore %#x in no segment", p, p.Semaphore))
				continue
			}
			p.SemaphoreOffset = off
		}
	}
	return probes, errors.Join(errs...)
}

// symbolAddrs maps the names of the defined symbols of ef to their addresses.
func symbolAddrs(ef *elf.File) map[string]uint64 {
	m := map[string]uint64{}
	syms, _ := ef.Symbols()
	dyn, _ := ef.DynamicSymbols()
	for _, s := range append(syms, dyn...) {
		if s.Section != elf.SHN_UNDEF && s.Name != "" {
			if _, dup := m[s.Name]; !dup {
				m[s.Name] = s.Value
			}
		}
	}
	return m
}

// fileOffset maps a virtual address to a file offset through the PT_LOAD
// segment holding it (an executable one for code).
func fileOffset(ef *elf.File, addr uint64, exec bool) (uint64, bool) {
	for _, p := range ef.Progs {
		if p.Type != elf.PT_LOAD || (exec && p.Flags&elf.PF_X == 0) {
			continue
		}
		if addr >= p.Vaddr && addr < p.Vaddr+p.Filesz {
			return addr - p.Vaddr + p.Off, true
		}
	}
	return 0, false
}

// ParseNotes parses the contents of a .note.stapsdt section: ELF notes
// owned by "stapsdt" of type 3, each with pc, base and semaphore (8 bytes
// each) then provider, name and arguments as NUL-terminated strings. Other
// notes are skipped. Arguments that do not parse leave Args nil and are
// reported in the error; the probes are returned all the same.
func ParseNotes(data []byte, bo binary.ByteOrder) ([]Probe, error) {
	var out []Probe
	var errs []error
	for len(data) > 0 {
		if len(data) < 12 {
			return out, errors.Join(append(errs, errors.New("truncated note header"))...)
		}
		namesz := uint64(bo.Uint32(data))
		descsz := uint64(bo.Uint32(data[4:]))
		typ := bo.Uint32(data[8:])
		nameEnd := 12 + align4(namesz)
		descEnd := nameEnd + align4(descsz)
		if namesz > uint64(len(data)) || descsz > uint64(len(data)) || nameEnd+descsz > uint64(len(data)) {
			return out, errors.Join(append(errs, errors.New("truncated note"))...)
		}
		name := strings.TrimRight(string(data[12:12+namesz]), "\x00")
		desc := data[nameEnd : nameEnd+descsz]
		if descEnd > uint64(len(data)) {
			descEnd = uint64(len(data))
		}
		data = data[descEnd:]
		if name != noteOwner || typ != noteTypeV3 {
			continue
		}
		if len(desc) < 24 {
			errs = append(errs, errors.New("stapsdt note shorter than its three addresses"))
			continue
		}
		p := Probe{PC: bo.Uint64(desc), Base: bo.Uint64(desc[8:]), Semaphore: bo.Uint64(desc[16:])}
		strs := strings.SplitN(string(desc[24:]), "\x00", 4)
		if len(strs) < 3 {
			errs = append(errs, fmt.Errorf("stapsdt note at pc %#x: missing provider, name or arguments", p.PC))
			continue
		}
		p.Provider, p.Name, p.ArgSpec = strs[0], strs[1], strs[2]
		args, err := ParseArgs(p.ArgSpec)
		if err != nil {
			errs = append(errs, fmt.Errorf("probe %s at %#x: %w", &p, p.PC, err))
		} else {
			p.Args = args
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

func align4(v uint64) uint64 { return (v + 3) &^ 3 }

// Target is the sites of one probe in one file.
type Target struct {
	Binary string  // the file as found
	Path   string  // the file to attach to (under /proc/PID/root with a pid)
	Probes []Probe // every site of the probe, in note order
}

// ErrNoProbe is wrapped by Find when the file has no such probe.
var ErrNoProbe = errors.New("no such USDT probe")

// Open reads the probes of the file at path.
func Open(path string) ([]Probe, error) {
	ef, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer ef.Close()
	return Read(ef)
}

// Find returns the sites of provider:name in the file at path (found is the
// name to show). A provider or name that matches no probe gets an error
// listing the probes the file has. Sites whose arguments did not parse are
// an error.
func Find(found, path, provider, name string) (*Target, error) {
	probes, err := Open(path)
	if err != nil && len(probes) == 0 {
		return nil, fmt.Errorf("%s: %w", found, err)
	}
	t := &Target{Binary: found, Path: path}
	seen := map[string]bool{}
	var names []string
	for _, p := range probes {
		if p.Provider == provider && p.Name == name {
			if p.Args == nil && p.ArgSpec != "" {
				return nil, fmt.Errorf("%s: probe %s at %#x: arguments %q do not parse", found, &p, p.PC, p.ArgSpec)
			}
			t.Probes = append(t.Probes, p)
		}
		if !seen[p.String()] {
			seen[p.String()] = true
			names = append(names, p.String())
		}
	}
	if len(t.Probes) > 0 {
		return t, nil
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: %s has no USDT probes (no .note.stapsdt section)", ErrNoProbe, found)
	}
	return nil, fmt.Errorf("%w %s:%s in %s; it has: %s", ErrNoProbe, provider, name, found, strings.Join(names, ", "))
}
