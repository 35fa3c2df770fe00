package symbolize

import "sort"

// kernelSym is one text symbol of /proc/kallsyms. Names are substrings of
// one string holding the whole file, so the table costs one allocation for
// the names.
type kernelSym struct {
	addr   uint64
	name   string
	module string // "[kernel]" or "[mod]"
}

// kernelTable is /proc/kallsyms's text symbols sorted by address.
type kernelTable struct {
	syms []kernelSym
	// restricted is set when every address read as 0: kptr_restrict hides
	// them from this reader (not root, or kptr_restrict=2).
	restricted bool
}

// parseKallsyms parses /proc/kallsyms ("ffffffff821fb620 T schedule" or
// "ffffffffc0a01000 t xfs_foo\t[xfs]"), keeping text symbols (t, T, w, W).
// Malformed lines are skipped; an input with no text symbol gives an empty
// table.
func parseKallsyms(data []byte) *kernelTable {
	all := string(data) // one copy; names below slice it
	t := &kernelTable{}
	modules := map[string]string{}
	sawZero := false
	for len(all) > 0 {
		line := all
		if i := indexByte(all, '\n'); i >= 0 {
			line, all = all[:i], all[i+1:]
		} else {
			all = ""
		}
		addr, typ, name, mod, ok := parseKallsymsLine(line)
		if !ok {
			continue
		}
		switch typ {
		case 't', 'T', 'w', 'W':
		default:
			continue
		}
		if addr == 0 {
			sawZero = true
			continue
		}
		module := KernelModule
		if mod != "" {
			m, ok := modules[mod]
			if !ok {
				m = "[" + mod + "]"
				modules[mod] = m
			}
			module = m
		}
		t.syms = append(t.syms, kernelSym{addr: addr, name: name, module: module})
	}
	t.restricted = sawZero && len(t.syms) == 0
	sort.SliceStable(t.syms, func(i, j int) bool { return t.syms[i].addr < t.syms[j].addr })
	return t
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// parseKallsymsLine splits "addr type name[\t[module]]".
func parseKallsymsLine(line string) (addr uint64, typ byte, name, module string, ok bool) {
	f := fieldsN(line, 4)
	if len(f) < 3 || len(f[1]) != 1 || f[2] == "" {
		return 0, 0, "", "", false
	}
	addr, ok = parseHex(f[0])
	if !ok {
		return 0, 0, "", "", false
	}
	if len(f) == 4 {
		m := f[3]
		if len(m) < 3 || m[0] != '[' || m[len(m)-1] != ']' {
			return 0, 0, "", "", false
		}
		module = m[1 : len(m)-1]
	}
	return addr, f[1][0], f[2], module, true
}

// fieldsN splits s on runs of spaces and tabs into at most n fields, the
// last one holding the rest of the line, trimmed.
func fieldsN(s string, n int) []string {
	var out []string
	for len(out) < n-1 {
		s = trimLeftSpace(s)
		if s == "" {
			return out
		}
		i := 0
		for i < len(s) && s[i] != ' ' && s[i] != '\t' {
			i++
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	s = trimLeftSpace(s)
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

func trimLeftSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	return s
}

// parseHex parses a lower- or upper-case hex number of at most 16 digits.
func parseHex(s string) (uint64, bool) {
	if s == "" || len(s) > 16 {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(c)
	}
	return v, true
}

// lookup returns the frame for a kernel address: the last symbol at or
// below it (kallsyms has no sizes), or a module-less unknown frame.
func (t *kernelTable) lookup(addr uint64) Frame {
	i := sort.Search(len(t.syms), func(i int) bool { return t.syms[i].addr > addr }) - 1
	if i < 0 {
		return Frame{Offset: addr}
	}
	s := &t.syms[i]
	return Frame{Function: s.name, Module: s.module, Offset: addr}
}
