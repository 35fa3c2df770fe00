package policy

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"
)

// Event is what a rule is matched against: a kscope event's JSON (as
// kscope trace --json and the agent write them) with the fields the
// selectors read. Parent and Binary name the process's and its parent's
// binaries where the event itself does not carry them.
type Event struct {
	Type     string   `json:"type"`
	UID      *uint32  `json:"uid"`
	EUID     *uint32  `json:"euid"` // the effective uid
	GID      *uint32  `json:"gid"`  // the real gid
	Comm     string   `json:"comm"`
	Filename string   `json:"filename"` // exec: the new program
	Argv     []string `json:"argv"`
	Binary   string   `json:"binary"` // open, connect: the process's binary
	Parent   string   `json:"parent"` // the parent's binary
	// Ancestors are the binaries of the process's ancestors, nearest
	// first (the parent's included), as alerts carry them.
	Ancestors []string `json:"ancestors"`
	// Cgroup is the process's cgroup v2 path, from the hierarchy's root.
	Cgroup string `json:"cgroup"`
	Path   string `json:"path"`  // open
	Flags  string `json:"flags"` // open: O_WRONLY|O_CREAT…
	DAddr  string `json:"daddr"` // connect, bind, sendmsg
	DPort  uint16 `json:"dport"`
	Proto  string `json:"proto"`
	// Container and ContainerID name the process's container, when it
	// is in one.
	Container   string `json:"container"`
	ContainerID string `json:"container_id"`
	// Caps are the capabilities in the task's effective set
	// (CAP_SYS_ADMIN…).
	Caps []string `json:"caps"`
	// Namespaces are the kinds of the task's namespaces that are not the
	// host's (pid, mnt, net…).
	Namespaces []string `json:"namespaces"`
}

// ParseEvent reads one event's JSON.
func ParseEvent(data []byte) (*Event, error) {
	var e Event
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("parsing the event: %w", err)
	}
	if !slices.Contains(Supported, e.Type) {
		return nil, fmt.Errorf("parsing the event: type %q is not one of %s", e.Type, strings.Join(Supported, ", "))
	}
	if e.Parent == "" && len(e.Ancestors) > 0 {
		e.Parent = e.Ancestors[0]
	}
	if e.UID == nil {
		return nil, fmt.Errorf("parsing the event: no uid")
	}
	return &e, nil
}

// The access bits of an open.
const (
	AccessRead = 1 << iota
	AccessWrite
	AccessCreate
	AccessTruncate
)

// AccessBits turns open(2) flags into access bits, as the kernel side does:
// O_RDONLY or O_RDWR read, O_WRONLY or O_RDWR write, O_CREAT create,
// O_TRUNC truncate.
func AccessBits(flags uint32) uint8 {
	var a uint8
	switch flags & 3 {
	case 0:
		a |= AccessRead
	case 1:
		a |= AccessWrite
	case 2:
		a |= AccessRead | AccessWrite
	}
	if flags&0o100 != 0 {
		a |= AccessCreate
	}
	if flags&0o1000 != 0 {
		a |= AccessTruncate
	}
	return a
}

// FlagsValue parses kscope's rendering of open flags ("O_WRONLY|O_CREAT").
func FlagsValue(s string) uint32 {
	var f uint32
	for _, n := range strings.Split(s, "|") {
		switch n {
		case "O_WRONLY":
			f |= 1
		case "O_RDWR":
			f |= 2
		case "O_CREAT":
			f |= 0o100
		case "O_TRUNC":
			f |= 0o1000
		}
	}
	return f
}

// AccessNames lists the access bits' names.
func AccessNames(a uint8) []string {
	var out []string
	for i, n := range Accesses {
		if a&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

func accessBit(name string) uint8 {
	return 1 << slices.Index(Accesses, name)
}

// Matches reports whether the rule matches the event, with the same
// semantics as the kernel side: every selector holds, any item of a list.
func (r *Rule) Matches(e *Event) bool {
	if e.Type != r.On {
		return false
	}
	m := &r.Match
	if m.User != nil && e.UID != nil {
		if m.User.NotRoot && *e.UID == 0 {
			return false
		}
		if len(m.User.UID) > 0 && !slices.Contains(m.User.UID, *e.UID) {
			return false
		}
	}
	if u := m.User; u != nil {
		if len(u.EUID) > 0 && (e.EUID == nil || !slices.Contains(u.EUID, *e.EUID)) {
			return false
		}
		if len(u.GID) > 0 && (e.GID == nil || !slices.Contains(u.GID, *e.GID)) {
			return false
		}
	}
	if len(m.Comm) > 0 && !slices.Contains(m.Comm, e.Comm) {
		return false
	}
	if slices.Contains(m.NotComm, e.Comm) {
		return false
	}
	if ns := m.Namespace; ns != nil && !slices.ContainsFunc(ns.NotHost, func(k string) bool { return slices.Contains(e.Namespaces, k) }) {
		return false
	}
	if len(m.Capability) > 0 && !slices.ContainsFunc(m.Capability, func(c string) bool { return slices.Contains(e.Caps, c) }) {
		return false
	}
	bin := e.Binary
	if r.On == "exec" {
		bin = e.Filename
	}
	if !m.Binary.Empty() && !m.Binary.Matches(bin) {
		return false
	}
	if !m.Parent.Empty() && !m.Parent.Matches(e.Parent) {
		return false
	}
	if !m.Ancestor.Empty() && !m.Ancestor.MatchesAny(e.Ancestors) {
		return false
	}
	if !m.Cgroup.Empty() && !m.Cgroup.MatchesCgroup(e.Cgroup) {
		return false
	}
	if len(m.Container) > 0 && !slices.ContainsFunc(m.Container, e.inContainer) {
		return false
	}
	if m.Args != nil && !m.Args.matches(e.Argv) {
		return false
	}
	if f := m.File; f != nil {
		if !f.Paths.Empty() && !f.Paths.Matches(e.Path) {
			return false
		}
		if len(f.Access) > 0 {
			have := AccessBits(FlagsValue(e.Flags))
			var want uint8
			for _, a := range f.Access {
				want |= accessBit(a)
			}
			if have&want == 0 {
				return false
			}
		}
	}
	if d := m.Destination; d != nil {
		addr, err := netip.ParseAddr(e.DAddr)
		if err != nil {
			return false
		}
		addr = addr.Unmap()
		if len(d.CIDR) > 0 && !slices.ContainsFunc(d.CIDR, func(p netip.Prefix) bool { return p.Contains(addr) }) {
			return false
		}
		if slices.ContainsFunc(d.NotCIDR, func(p netip.Prefix) bool { return p.Contains(addr) }) {
			return false
		}
		in := func(r PortRange) bool { return r.Contains(e.DPort) }
		if len(d.Ports) > 0 && !slices.ContainsFunc(d.Ports, in) {
			return false
		}
		if slices.ContainsFunc(d.NotPorts, in) {
			return false
		}
		if d.Protocol != "" && d.Protocol != e.Proto {
			return false
		}
	}
	return true
}

// Matches reports whether a path passes the selector: one of the positive
// lists matches (or there is none) and no not_ list does. An empty path
// (unknown) passes no positive list and no not_ list.
func (p *Paths) Matches(s string) bool {
	pos := len(p.Path)+len(p.Prefix)+len(p.Glob) > 0
	if pos && !(slices.Contains(p.Path, s) || hasPrefix(p.Prefix, s) || globs(p.Glob, s)) {
		return false
	}
	return !(slices.Contains(p.NotPath, s) || hasPrefix(p.NotPrefix, s) || globs(p.NotGlob, s))
}

// MatchesAny reports whether a list of ancestors passes the selector: one
// of them matches a positive list (or there is none) and none matches a
// not_ list.
func (p *Paths) MatchesAny(list []string) bool {
	if len(p.Path)+len(p.Prefix)+len(p.Glob) > 0 && !slices.ContainsFunc(list, func(s string) bool {
		return slices.Contains(p.Path, s) || hasPrefix(p.Prefix, s) || globs(p.Glob, s)
	}) {
		return false
	}
	return !slices.ContainsFunc(list, func(s string) bool {
		return slices.Contains(p.NotPath, s) || hasPrefix(p.NotPrefix, s) || globs(p.NotGlob, s)
	})
}

// MatchesCgroup reports whether a cgroup path passes a cgroup selector:
// path names one cgroup, prefix a cgroup and everything below it (a
// directory, not a string prefix), glob as for paths.
func (p *Paths) MatchesCgroup(cg string) bool {
	under := func(dirs []string) bool {
		return slices.ContainsFunc(dirs, func(d string) bool { return CgroupUnder(cg, d) })
	}
	if len(p.Path)+len(p.Prefix)+len(p.Glob) > 0 && !(slices.Contains(p.Path, cg) || under(p.Prefix) || globs(p.Glob, cg)) {
		return false
	}
	return !(slices.Contains(p.NotPath, cg) || under(p.NotPrefix) || globs(p.NotGlob, cg))
}

// CgroupUnder reports whether cgroup cg is dir or below it.
func CgroupUnder(cg, dir string) bool {
	dir = strings.TrimSuffix(dir, "/")
	return dir == "" || cg == dir || strings.HasPrefix(cg, dir+"/")
}

// inContainer reports whether the event's process is in the container
// named name: its name, its id, or the id's first 12 or more digits.
func (e *Event) inContainer(name string) bool {
	switch {
	case name == "":
		return false
	case name == e.Container:
		return true
	}
	return len(name) >= 12 && strings.HasPrefix(e.ContainerID, name)
}

func hasPrefix(prefixes []string, s string) bool {
	return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(s, p) })
}

func globs(gs []string, s string) bool {
	return slices.ContainsFunc(gs, func(g string) bool {
		ok, _ := path.Match(g, s)
		return ok
	})
}

func (a *Args) matches(argv []string) bool {
	if len(a.Contains) > 0 && !slices.ContainsFunc(argv, func(arg string) bool {
		return slices.ContainsFunc(a.Contains, func(c string) bool { return strings.Contains(arg, c) })
	}) {
		return false
	}
	if a.Regex != nil && !a.Regex.MatchString(strings.Join(argv, " ")) {
		return false
	}
	return true
}
