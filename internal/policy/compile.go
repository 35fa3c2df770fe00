package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
)

// The path dimensions of the kernel's path tables.
const (
	DimBinary   = 0
	DimFile     = 1
	DimParent   = 2
	DimAncestor = 3
)

// The capacities of the kernel side's tables, in entries.
const (
	CapPaths    = 4096 // exact paths, every dimension together
	CapPrefixes = 4096
	CapSet      = 1024 // ids, comms, port prefixes, cgroups, CIDRs of each family
)

// The kinds of IDKey.
const (
	IDUID  = 0
	IDEUID = 1
	IDGID  = 2
)

// IDKey is an entry of the id table: a real uid, an effective uid or a
// real gid.
type IDKey struct {
	Kind uint8
	ID   uint32
}

// PortKey is an entry of the port table, a longest-prefix trie: the ports
// whose top Bits bits are Port's.
type PortKey struct {
	Port uint16
	Bits uint8
}

// Contains reports whether port is in the prefix.
func (k PortKey) Contains(port uint16) bool {
	mask := ^uint16(0) << (16 - k.Bits)
	if k.Bits == 0 {
		mask = 0
	}
	return port&mask == k.Port&mask
}

// PortPrefixes splits a port range into the fewest prefixes covering it
// exactly: at most 30.
func PortPrefixes(r PortRange) []PortKey {
	var out []PortKey
	for first, last := uint32(r.First), uint32(r.Last); first <= last; {
		bits := uint8(16)
		for bits > 0 {
			size := uint32(1) << (16 - bits + 1)
			if first%size != 0 || first+size-1 > last {
				break
			}
			bits--
		}
		out = append(out, PortKey{Port: uint16(first), Bits: bits})
		first += uint32(1) << (16 - bits)
	}
	return out
}

// MaxEvents bounds EventIndex: the kernel side's per-event masks.
const MaxEvents = 16

// CgroupKey is an entry of the cgroup table: a cgroup v2 path from the
// hierarchy's root, alone (Exact) or with everything below it.
type CgroupKey struct {
	Path  string
	Exact bool
}

// Masks are the rules (one bit per rule, by index) a table entry makes
// pass (Pos) and fail (Neg, from the not_ lists).
type Masks struct{ Pos, Neg uint64 }

// PathKey is an entry of the path tables.
type PathKey struct {
	Dim  uint8
	Path string
}

// Tables are the rules compiled for the kernel side: hash sets for exact
// values, longest-prefix tables for path prefixes and CIDRs, and one mask
// per condition. Bit i is Plans[i]'s rule. A prefix entry's masks include
// those of every shorter prefix of it in the table, because the kernel's
// longest-prefix lookup returns only the longest.
type Tables struct {
	Paths    map[PathKey]Masks
	Prefixes map[PathKey]Masks
	IDs      map[IDKey]uint64
	Comms    map[string]Masks
	Ports    map[PortKey]Masks
	CIDRs    map[netip.Prefix]Masks
	Cgroups  map[CgroupKey]Masks

	// On are the rules of each event, by EventIndex.
	On                                             [MaxEvents]uint64
	HasBinary, HasParent, HasFile, HasUID, HasComm uint64
	HasEUID, HasGID, HasCap, HasNS                 uint64
	HasAncestor, HasCgroup                         uint64
	HasAccess, HasCIDR, HasPort                    uint64
	NotRoot, TCP, UDP                              uint64
	// Access[i] are the rules that accept access bit i.
	Access [4]uint64
	// Caps[i] are the rules that capability i passes; NS[i] the rules
	// that namespace kind i (Namespaces[i]) passes when it is not the
	// host's.
	Caps [64]uint64
	NS   [7]uint64
	// UserStage rules are only candidates in the kernel; Kill and Deny
	// are the rules whose action the kernel takes (enforce mode).
	UserStage, Kill, Deny uint64
}

// Compile builds the kernel tables for the plans, in order.
func Compile(plans []*Plan) *Tables {
	t := &Tables{Paths: map[PathKey]Masks{}, Prefixes: map[PathKey]Masks{}, IDs: map[IDKey]uint64{},
		Comms: map[string]Masks{}, Ports: map[PortKey]Masks{}, CIDRs: map[netip.Prefix]Masks{}, Cgroups: map[CgroupKey]Masks{}}
	for i, p := range plans {
		bit := uint64(1) << i
		r, m := p.Rule, &p.Rule.Match
		t.On[EventIndex(r.On)] |= bit
		if p.Stage == "user" {
			t.UserStage |= bit
		}
		if p.Enforce && p.Stage == "kernel" {
			switch p.Action {
			case "kill":
				t.Kill |= bit
			case "deny":
				t.Deny |= bit
			}
		}
		if !m.Binary.Empty() {
			if t.addPaths(DimBinary, m.Binary, bit) {
				t.HasBinary |= bit
			}
		}
		if !m.Parent.Empty() && t.addPaths(DimParent, m.Parent, bit) {
			t.HasParent |= bit
		}
		if !m.Ancestor.Empty() && t.addPaths(DimAncestor, m.Ancestor, bit) {
			t.HasAncestor |= bit
		}
		if c := m.Cgroup; !c.Empty() {
			add := func(list []string, exact, neg bool) {
				for _, p := range list {
					k := CgroupKey{Path: cleanCgroup(p), Exact: exact}
					x := t.Cgroups[k]
					if neg {
						x.Neg |= bit
					} else {
						x.Pos |= bit
					}
					t.Cgroups[k] = x
				}
			}
			add(c.Path, true, false)
			add(c.NotPath, true, true)
			add(c.Prefix, false, false)
			add(c.NotPrefix, false, true)
			if len(c.Glob) == 0 && len(c.Path)+len(c.Prefix) > 0 {
				t.HasCgroup |= bit
			}
		}
		if f := m.File; f != nil {
			if !f.Paths.Empty() && t.addPaths(DimFile, &f.Paths, bit) {
				t.HasFile |= bit
			}
			if len(f.Access) > 0 {
				t.HasAccess |= bit
				for _, a := range f.Access {
					for j, n := range Accesses {
						if n == a {
							t.Access[j] |= bit
						}
					}
				}
			}
		}
		if u := m.User; u != nil {
			if u.NotRoot {
				t.NotRoot |= bit
			}
			for _, ids := range []struct {
				kind uint8
				list []uint32
				has  *uint64
			}{{IDUID, u.UID, &t.HasUID}, {IDEUID, u.EUID, &t.HasEUID}, {IDGID, u.GID, &t.HasGID}} {
				if len(ids.list) > 0 {
					*ids.has |= bit
				}
				for _, id := range ids.list {
					t.IDs[IDKey{ids.kind, id}] |= bit
				}
			}
		}
		if len(m.Comm) > 0 {
			t.HasComm |= bit
		}
		for _, c := range m.Comm {
			x := t.Comms[c]
			x.Pos |= bit
			t.Comms[c] = x
		}
		for _, c := range m.NotComm {
			x := t.Comms[c]
			x.Neg |= bit
			t.Comms[c] = x
		}
		if ns := m.Namespace; ns != nil {
			t.HasNS |= bit
			for _, k := range ns.NotHost {
				t.NS[slices.Index(Namespaces, k)] |= bit
			}
		}
		if len(m.Capability) > 0 {
			t.HasCap |= bit
			for _, c := range m.Capability {
				t.Caps[slices.Index(Capabilities, c)] |= bit
			}
		}
		if d := m.Destination; d != nil {
			if len(d.CIDR) > 0 {
				t.HasCIDR |= bit
			}
			for _, c := range d.CIDR {
				x := t.CIDRs[c]
				x.Pos |= bit
				t.CIDRs[c] = x
			}
			for _, c := range d.NotCIDR {
				x := t.CIDRs[c]
				x.Neg |= bit
				t.CIDRs[c] = x
			}
			if len(d.Ports) > 0 {
				t.HasPort |= bit
			}
			for _, r := range d.Ports {
				for _, k := range PortPrefixes(r) {
					x := t.Ports[k]
					x.Pos |= bit
					t.Ports[k] = x
				}
			}
			for _, r := range d.NotPorts {
				for _, k := range PortPrefixes(r) {
					x := t.Ports[k]
					x.Neg |= bit
					t.Ports[k] = x
				}
			}
			switch d.Protocol {
			case "tcp":
				t.TCP |= bit
			case "udp":
				t.UDP |= bit
			default:
				t.TCP |= bit
				t.UDP |= bit
			}
		} else if slices.Contains(SockEvents, r.On) {
			t.TCP |= bit
			t.UDP |= bit
		}
	}
	t.mergePrefixes()
	return t
}

// addPaths adds a path selector's exact paths and prefixes; globs are
// left to user space. It reports whether the kernel checks a positive list
// for the rule (false when the only positive list is a glob).
func (t *Tables) addPaths(dim uint8, ps *Paths, bit uint64) bool {
	add := func(m map[PathKey]Masks, list []string, neg bool) {
		for _, s := range list {
			k := PathKey{dim, s}
			x := m[k]
			if neg {
				x.Neg |= bit
			} else {
				x.Pos |= bit
			}
			m[k] = x
		}
	}
	add(t.Paths, ps.Path, false)
	add(t.Paths, ps.NotPath, true)
	add(t.Prefixes, ps.Prefix, false)
	add(t.Prefixes, ps.NotPrefix, true)
	return len(ps.Glob) == 0 && len(ps.Path)+len(ps.Prefix) > 0
}

// NeedsCgroup reports whether a rule is on connect, bind or sendmsg,
// whose programs attach to a cgroup v2 directory.
func (t *Tables) NeedsCgroup() bool {
	for _, on := range SockEvents {
		if t.On[EventIndex(on)] != 0 {
			return true
		}
	}
	return false
}

// cleanCgroup is a cgroup path without its trailing slash ("/" stays).
func cleanCgroup(p string) string {
	if len(p) > 1 {
		return strings.TrimSuffix(p, "/")
	}
	return p
}

// CheckCapacity reports a table holding more entries than the kernel
// side's map can.
func (t *Tables) CheckCapacity() error {
	var v4, v6 int
	for k := range t.CIDRs {
		if k.Addr().Is4() {
			v4++
		} else {
			v6++
		}
	}
	for _, c := range []struct {
		what   string
		n, max int
	}{
		{"exact paths", len(t.Paths), CapPaths}, {"path prefixes", len(t.Prefixes), CapPrefixes},
		{"uids, euids and gids", len(t.IDs), CapSet}, {"comms", len(t.Comms), CapSet}, {"port prefixes (a range takes up to 30)", len(t.Ports), CapSet},
		{"IPv4 CIDRs", v4, CapSet}, {"IPv6 CIDRs", v6, CapSet}, {"cgroups", len(t.Cgroups), CapSet},
	} {
		if c.n > c.max {
			return fmt.Errorf("the rules name %d distinct %s: the kernel side holds at most %d", c.n, c.what, c.max)
		}
	}
	return nil
}

// PathMasks is the kernel's path lookup in Go, before a dimension's
// has-mask is applied.
func (t *Tables) PathMasks(dim uint8, path string) Masks {
	if len(path) > MaxPath {
		path = path[:MaxPath]
	}
	var out Masks
	if m, ok := t.Paths[PathKey{dim, path}]; ok {
		out = m
	}
	best := -1
	var bm Masks
	for k, m := range t.Prefixes {
		if k.Dim == dim && strings.HasPrefix(path, k.Path) && len(k.Path) > best {
			best, bm = len(k.Path), m
		}
	}
	out.Pos |= bm.Pos
	out.Neg |= bm.Neg
	return out
}

// PathRules is the kernel's path lookup in Go: the rules path passes in
// dimension dim, given the rules that have a positive list there. User
// space uses it for the processes that exec'd before the kernel side
// started.
func (t *Tables) PathRules(dim uint8, path string, has uint64) uint64 {
	m := t.PathMasks(dim, path)
	return (m.Pos | ^has) &^ m.Neg
}

func (t *Tables) mergePrefixes() {
	keys := make([]PathKey, 0, len(t.Prefixes))
	for k := range t.Prefixes {
		keys = append(keys, k)
	}
	// Shorter first, so each entry takes its shorter prefixes' merged masks.
	sort.Slice(keys, func(i, j int) bool { return len(keys[i].Path) < len(keys[j].Path) })
	merged := map[PathKey]Masks{}
	for _, k := range keys {
		x := t.Prefixes[k]
		for _, o := range keys {
			if o.Dim == k.Dim && len(o.Path) < len(k.Path) && strings.HasPrefix(k.Path, o.Path) {
				y := t.Prefixes[o]
				x.Pos |= y.Pos
				x.Neg |= y.Neg
			}
		}
		merged[k] = x
	}
	t.Prefixes = merged
	cm := map[netip.Prefix]Masks{}
	for k, x := range t.CIDRs {
		for o, y := range t.CIDRs {
			if o.Bits() < k.Bits() && o.Addr().Is4() == k.Addr().Is4() && o.Contains(k.Addr()) {
				x.Pos |= y.Pos
				x.Neg |= y.Neg
			}
		}
		cm[k] = x
	}
	t.CIDRs = cm
	pm := map[PortKey]Masks{}
	for k, x := range t.Ports {
		for o, y := range t.Ports {
			if o.Bits < k.Bits && o.Contains(k.Port) {
				x.Pos |= y.Pos
				x.Neg |= y.Neg
			}
		}
		pm[k] = x
	}
	t.Ports = pm
}

// PortMasks is the kernel's port lookup in Go: the longest prefix's masks.
func (t *Tables) PortMasks(port uint16) Masks {
	best, out := -1, Masks{}
	for k, m := range t.Ports {
		if int(k.Bits) > best && k.Contains(port) {
			best, out = int(k.Bits), m
		}
	}
	return out
}
