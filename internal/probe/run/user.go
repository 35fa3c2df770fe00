package run

import (
	"debug/elf"
	"errors"
	"fmt"
	"path"
	"sort"

	"github.com/kscope/kscope/internal/probe/codegen"
	"github.com/kscope/kscope/internal/uprobe"
	"github.com/kscope/kscope/internal/usdt"
)

// USDTSites returns the codegen.Options.USDT resolver: binaries are found
// as uprobes find them (by path or library name, in process pid's mappings
// when pid > 0), provider and name are globs.
func USDTSites(pid int) func(binary, provider, name string) ([]codegen.USDTSite, error) {
	return func(binary, provider, name string) ([]codegen.USDTSite, error) {
		found, file, err := uprobe.FindBinary(binary, pid)
		if err != nil {
			return nil, err
		}
		probes, err := usdt.Open(file)
		if err != nil && len(probes) == 0 {
			return nil, fmt.Errorf("reading the USDT probes of %s: %w", found, err)
		}
		var sites []codegen.USDTSite
		var names []string
		seen := map[string]bool{}
		for _, p := range probes {
			if !seen[p.String()] {
				seen[p.String()] = true
				names = append(names, p.String())
			}
			if ok, _ := path.Match(provider, p.Provider); !ok {
				continue
			}
			if ok, _ := path.Match(name, p.Name); !ok {
				continue
			}
			if p.Args == nil && p.ArgSpec != "" {
				return nil, fmt.Errorf("%s: probe %s at %#x: arguments %q do not parse", found, &p, p.PC, p.ArgSpec)
			}
			s := codegen.USDTSite{Binary: found, Path: file, Provider: p.Provider, Name: p.Name, Offset: p.Offset, Args: p.Args}
			if p.Semaphore != 0 {
				s.SemaphoreOffset = p.SemaphoreOffset
			}
			sites = append(sites, s)
		}
		if len(sites) > 0 {
			return sites, nil
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("%s has no USDT probes (no .note.stapsdt section)", found)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("no USDT probe %s:%s in %s; it has: %s", provider, name, found, joinNames(names))
	}
}

func joinNames(names []string) string {
	const most = 20
	s := ""
	for i, n := range names {
		if i == most {
			return s + fmt.Sprintf(", … (%d more)", len(names)-most)
		}
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}

// ListUSDT returns "provider:name" of the USDT probes of binary matching
// the globs provider and name, sorted, each once (a probe may have several
// sites), and the binary as found.
func ListUSDT(binary, provider, name string, pid int) (found string, out []string, err error) {
	found, file, err := uprobe.FindBinary(binary, pid)
	if err != nil {
		return "", nil, err
	}
	probes, err := usdt.Open(file)
	if err != nil && len(probes) == 0 {
		return "", nil, fmt.Errorf("reading the USDT probes of %s: %w", found, err)
	}
	seen := map[string]bool{}
	for _, p := range probes {
		okp, _ := path.Match(provider, p.Provider)
		okn, _ := path.Match(name, p.Name)
		if okp && okn && !seen[p.String()] {
			seen[p.String()] = true
			out = append(out, p.String())
		}
	}
	sort.Strings(out)
	return found, out, nil
}

// ListFunctions returns the names of the functions binary defines (its
// symbol table and dynamic symbol table) matching the glob pattern,
// sorted, each once, and the binary as found.
func ListFunctions(binary, pattern string, pid int) (found string, out []string, err error) {
	found, file, err := uprobe.FindBinary(binary, pid)
	if err != nil {
		return "", nil, err
	}
	ef, err := elf.Open(file)
	if err != nil {
		return "", nil, fmt.Errorf("reading the symbols of %s: %w", found, err)
	}
	defer ef.Close()
	syms, serr := ef.Symbols()
	dyn, derr := ef.DynamicSymbols()
	if serr != nil && derr != nil && !errors.Is(serr, elf.ErrNoSymbols) {
		return "", nil, fmt.Errorf("reading the symbols of %s: %w", found, serr)
	}
	seen := map[string]bool{}
	for _, s := range append(syms, dyn...) {
		t := elf.ST_TYPE(s.Info)
		if t != elf.STT_FUNC && t != elf.STT_GNU_IFUNC || s.Section == elf.SHN_UNDEF || s.Value == 0 || s.Name == "" || seen[s.Name] {
			continue
		}
		if ok, _ := path.Match(pattern, s.Name); ok {
			seen[s.Name] = true
			out = append(out, s.Name)
		}
	}
	sort.Strings(out)
	return found, out, nil
}
