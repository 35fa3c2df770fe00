package symbolize

import "strings"

// mapping is one executable mapping of /proc/PID/maps.
type mapping struct {
	start, end uint64 // [start, end)
	offset     uint64 // file offset of start
	devMajor   uint32
	devMinor   uint32
	inode      uint64
	path       string // as printed, without " (deleted)"
	deleted    bool
}

// anonymous reports whether the mapping has no file behind it: anonymous
// memory (JIT code) or a pseudo file ("[vdso]", "[vsyscall]").
func (m *mapping) anonymous() bool {
	return m.inode == 0 || m.path == "" || m.path[0] == '['
}

// parseMaps parses /proc/PID/maps and returns the executable mappings
// ("r-xp" and the like), in file order. Malformed lines are skipped.
//
//	55d0c5a00000-55d0c5a01000 r-xp 00001000 fd:01 1234   /usr/bin/true
//	7ffd3b9f6000-7ffd3b9f8000 r-xp 00000000 00:00 0      [vdso]
func parseMaps(data []byte) []mapping {
	var out []mapping
	s := string(data)
	for len(s) > 0 {
		line := s
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			line, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		m, ok := parseMapsLine(line)
		if ok {
			out = append(out, m)
		}
	}
	return out
}

func parseMapsLine(line string) (mapping, bool) {
	var m mapping
	var fs [6]string
	f := fieldsN(line, fs[:])
	if len(f) < 5 {
		return m, false
	}
	addrs, perms := f[0], f[1]
	if len(perms) < 3 || perms[2] != 'x' {
		return m, false
	}
	lo, hi, ok := strings.Cut(addrs, "-")
	if !ok {
		return m, false
	}
	if m.start, ok = parseHex(lo); !ok {
		return m, false
	}
	if m.end, ok = parseHex(hi); !ok || m.end <= m.start {
		return m, false
	}
	if m.offset, ok = parseHex(f[2]); !ok {
		return m, false
	}
	maj, min, ok := strings.Cut(f[3], ":")
	if !ok {
		return m, false
	}
	v, ok1 := parseHex(maj)
	w, ok2 := parseHex(min)
	if !ok1 || !ok2 || v > 0xffffffff || w > 0xffffffff {
		return m, false
	}
	m.devMajor, m.devMinor = uint32(v), uint32(w)
	if m.inode, ok = parseDec(f[4]); !ok {
		return m, false
	}
	if len(f) == 6 {
		m.path = f[5]
		if p, ok := strings.CutSuffix(m.path, " (deleted)"); ok {
			m.path, m.deleted = p, true
		}
	}
	return m, true
}

func parseDec(s string) (uint64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		v = v*10 + uint64(s[i]-'0')
	}
	return v, true
}
