package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
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
	CapSet      = 1024 // ids, comms, port prefixes, cgroups, CIDRs of each family, containers
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

// MaskWords is the number of 64-bit words of a rule mask: MaxRules bits.
const MaskWords = MaxRules / 64

// Bits is a set of rules, one bit per rule, by index.
type Bits [MaskWords]uint64

// Set adds rule i.
func (b *Bits) Set(i int) { b[i/64] |= 1 << (i % 64) }

// Has reports whether rule i is in the set.
func (b Bits) Has(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }

// Or, And and AndNot are the set operations; Not is the complement.
func (b Bits) Or(o Bits) Bits {
	for i := range b {
		b[i] |= o[i]
	}
	return b
}

func (b Bits) And(o Bits) Bits {
	for i := range b {
		b[i] &= o[i]
	}
	return b
}

func (b Bits) AndNot(o Bits) Bits {
	for i := range b {
		b[i] &^= o[i]
	}
	return b
}

func (b Bits) Not() Bits {
	for i := range b {
		b[i] = ^b[i]
	}
	return b
}

// IsZero reports whether the set is empty.
func (b Bits) IsZero() bool { return b == Bits{} }

// String is the first word in decimal when the others are zero (the
// first 64 rules), else every word in hex.
func (b Bits) String() string {
	if (Bits{b[0]}) == b {
		return strconv.FormatUint(b[0], 10)
	}
	s := make([]string, len(b))
	for i, w := range b {
		s[i] = strconv.FormatUint(w, 16)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// Masks are the rules a table entry makes pass (Pos) and fail (Neg, from
// the not_ lists).
type Masks struct{ Pos, Neg Bits }

func (m Masks) or(o Masks) Masks { return Masks{m.Pos.Or(o.Pos), m.Neg.Or(o.Neg)} }

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
	IDs      map[IDKey]Bits
	Comms    map[string]Masks
	Ports    map[PortKey]Masks
	CIDRs    map[netip.Prefix]Masks
	Cgroups  map[CgroupKey]Masks
	// Containers are the container ids and id prefixes (lower-case hex,
	// 12 to 64 digits) the container selectors name; ContainerNames every
	// entry of those selectors, which user space resolves to ids through
	// the runtimes (an entry of 12 or more hex digits is both, as the
	// matcher takes it). ContainerTable merges them for the kernel.
	Containers     map[string]Masks
	ContainerNames map[string]Bits

	// On are the rules of each event, by EventIndex.
	On                                             [MaxEvents]Bits
	HasBinary, HasParent, HasFile, HasUID, HasComm Bits
	HasEUID, HasGID, HasCap, HasNS                 Bits
	HasAncestor, HasCgroup, HasContainer           Bits
	HasAccess, HasCIDR, HasPort                    Bits
	NotRoot, TCP, UDP                              Bits
	// Access[i] are the rules that accept access bit i.
	Access [4]Bits
	// Caps[i] are the rules that capability i passes; NS[i] the rules
	// that namespace kind i (Namespaces[i]) passes when it is not the
	// host's.
	Caps [64]Bits
	NS   [7]Bits
	// UserStage rules are only candidates in the kernel; Kill and Deny
	// are the rules whose action the kernel takes (enforce mode).
	UserStage, Kill, Deny Bits
}

// Compile builds the kernel tables for the plans, in order.
func Compile(plans []*Plan) *Tables {
	t := &Tables{Paths: map[PathKey]Masks{}, Prefixes: map[PathKey]Masks{}, IDs: map[IDKey]Bits{},
		Comms: map[string]Masks{}, Ports: map[PortKey]Masks{}, CIDRs: map[netip.Prefix]Masks{}, Cgroups: map[CgroupKey]Masks{},
		Containers: map[string]Masks{}, ContainerNames: map[string]Bits{}}
	for i, p := range plans {
		r, m := p.Rule, &p.Rule.Match
		t.On[EventIndex(r.On)].Set(i)
		if p.Stage == "user" {
			t.UserStage.Set(i)
		}
		if p.Enforce && p.Stage == "kernel" {
			switch p.Action {
			case "kill":
				t.Kill.Set(i)
			case "deny":
				t.Deny.Set(i)
			}
		}
		if !m.Binary.Empty() {
			if t.addPaths(DimBinary, m.Binary, i) {
				t.HasBinary.Set(i)
			}
		}
		if !m.Parent.Empty() && t.addPaths(DimParent, m.Parent, i) {
			t.HasParent.Set(i)
		}
		if !m.Ancestor.Empty() && t.addPaths(DimAncestor, m.Ancestor, i) {
			t.HasAncestor.Set(i)
		}
		if c := m.Cgroup; !c.Empty() {
			add := func(list []string, exact, neg bool) {
				for _, p := range list {
					k := CgroupKey{Path: cleanCgroup(p), Exact: exact}
					x := t.Cgroups[k]
					if neg {
						x.Neg.Set(i)
					} else {
						x.Pos.Set(i)
					}
					t.Cgroups[k] = x
				}
			}
			add(c.Path, true, false)
			add(c.NotPath, true, true)
			add(c.Prefix, false, false)
			add(c.NotPrefix, false, true)
			if len(c.Glob) == 0 && len(c.Path)+len(c.Prefix) > 0 {
				t.HasCgroup.Set(i)
			}
		}
		if len(m.Container) > 0 {
			t.HasContainer.Set(i)
			for _, c := range m.Container {
				if IsContainerID(c) {
					x := t.Containers[c]
					x.Pos.Set(i)
					t.Containers[c] = x
				}
				x := t.ContainerNames[c]
				x.Set(i)
				t.ContainerNames[c] = x
			}
		}
		if f := m.File; f != nil {
			if !f.Paths.Empty() && t.addPaths(DimFile, &f.Paths, i) {
				t.HasFile.Set(i)
			}
			if len(f.Access) > 0 {
				t.HasAccess.Set(i)
				for _, a := range f.Access {
					for j, n := range Accesses {
						if n == a {
							t.Access[j].Set(i)
						}
					}
				}
			}
		}
		if u := m.User; u != nil {
			if u.NotRoot {
				t.NotRoot.Set(i)
			}
			for _, ids := range []struct {
				kind uint8
				list []uint32
				has  *Bits
			}{{IDUID, u.UID, &t.HasUID}, {IDEUID, u.EUID, &t.HasEUID}, {IDGID, u.GID, &t.HasGID}} {
				if len(ids.list) > 0 {
					ids.has.Set(i)
				}
				for _, id := range ids.list {
					x := t.IDs[IDKey{ids.kind, id}]
					x.Set(i)
					t.IDs[IDKey{ids.kind, id}] = x
				}
			}
		}
		if len(m.Comm) > 0 {
			t.HasComm.Set(i)
		}
		for _, c := range m.Comm {
			x := t.Comms[c]
			x.Pos.Set(i)
			t.Comms[c] = x
		}
		for _, c := range m.NotComm {
			x := t.Comms[c]
			x.Neg.Set(i)
			t.Comms[c] = x
		}
		if ns := m.Namespace; ns != nil {
			t.HasNS.Set(i)
			for _, k := range ns.NotHost {
				t.NS[slices.Index(Namespaces, k)].Set(i)
			}
		}
		if len(m.Capability) > 0 {
			t.HasCap.Set(i)
			for _, c := range m.Capability {
				t.Caps[slices.Index(Capabilities, c)].Set(i)
			}
		}
		if d := m.Destination; d != nil {
			if len(d.CIDR) > 0 {
				t.HasCIDR.Set(i)
			}
			for _, c := range d.CIDR {
				x := t.CIDRs[c]
				x.Pos.Set(i)
				t.CIDRs[c] = x
			}
			for _, c := range d.NotCIDR {
				x := t.CIDRs[c]
				x.Neg.Set(i)
				t.CIDRs[c] = x
			}
			if len(d.Ports) > 0 {
				t.HasPort.Set(i)
			}
			for _, r := range d.Ports {
				for _, k := range PortPrefixes(r) {
					x := t.Ports[k]
					x.Pos.Set(i)
					t.Ports[k] = x
				}
			}
			for _, r := range d.NotPorts {
				for _, k := range PortPrefixes(r) {
					x := t.Ports[k]
					x.Neg.Set(i)
					t.Ports[k] = x
				}
			}
			switch d.Protocol {
			case "tcp":
				t.TCP.Set(i)
			case "udp":
				t.UDP.Set(i)
			default:
				t.TCP.Set(i)
				t.UDP.Set(i)
			}
		} else if slices.Contains(SockEvents, r.On) {
			t.TCP.Set(i)
			t.UDP.Set(i)
		}
	}
	t.mergePrefixes()
	return t
}

// addPaths adds a path selector's exact paths and prefixes; globs are
// left to user space. It reports whether the kernel checks a positive list
// for the rule (false when the only positive list is a glob).
func (t *Tables) addPaths(dim uint8, ps *Paths, i int) bool {
	add := func(m map[PathKey]Masks, list []string, neg bool) {
		for _, s := range list {
			k := PathKey{dim, s}
			x := m[k]
			if neg {
				x.Neg.Set(i)
			} else {
				x.Pos.Set(i)
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

// IsContainerID reports whether a container selector's entry can be an id
// or id prefix: 12 to 64 lower-case hex digits.
func IsContainerID(s string) bool {
	if len(s) < 12 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// ContainerTable is the kernel's container trie: the selectors' ids and
// id prefixes, and the full ids (64 digits) of the containers their
// entries name, from resolved (an entry → the ids of the containers so
// named). Each entry's masks include those of every shorter prefix of it,
// because the kernel's longest-prefix lookup returns only the longest.
func (t *Tables) ContainerTable(resolved map[string][]string) map[string]Masks {
	out := make(map[string]Masks, len(t.Containers))
	for k, m := range t.Containers {
		out[k] = m
	}
	for name, ids := range resolved {
		rules := t.ContainerNames[name]
		if rules.IsZero() {
			continue
		}
		for _, id := range ids {
			if len(id) != 64 || !IsContainerID(id) {
				continue
			}
			x := out[id]
			x.Pos = x.Pos.Or(rules)
			out[id] = x
		}
	}
	merged := make(map[string]Masks, len(out))
	for k, x := range out {
		for o, y := range out {
			if len(o) < len(k) && strings.HasPrefix(k, o) {
				x = x.or(y)
			}
		}
		merged[k] = x
	}
	return merged
}

// ContainerMasks is the kernel's container lookup in Go: the longest
// entry of table that is a prefix of id.
func ContainerMasks(table map[string]Masks, id string) Masks {
	best, out := -1, Masks{}
	for k, m := range table {
		if len(k) > best && strings.HasPrefix(id, k) {
			best, out = len(k), m
		}
	}
	return out
}

// NeedsCgroup reports whether a rule is on connect, bind or sendmsg,
// whose programs attach to a cgroup v2 directory.
func (t *Tables) NeedsCgroup() bool {
	for _, on := range SockEvents {
		if !t.On[EventIndex(on)].IsZero() {
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
		{"container ids and id prefixes", len(t.Containers), CapSet},
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
	return out.or(bm)
}

// PathRules is the kernel's path lookup in Go: the rules path passes in
// dimension dim, given the rules that have a positive list there. User
// space uses it for the processes that exec'd before the kernel side
// started.
func (t *Tables) PathRules(dim uint8, path string, has Bits) Bits {
	m := t.PathMasks(dim, path)
	return m.Pos.Or(has.Not()).AndNot(m.Neg)
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
				x = x.or(t.Prefixes[o])
			}
		}
		merged[k] = x
	}
	t.Prefixes = merged
	cm := map[netip.Prefix]Masks{}
	for k, x := range t.CIDRs {
		for o, y := range t.CIDRs {
			if o.Bits() < k.Bits() && o.Addr().Is4() == k.Addr().Is4() && o.Contains(k.Addr()) {
				x = x.or(y)
			}
		}
		cm[k] = x
	}
	t.CIDRs = cm
	pm := map[PortKey]Masks{}
	for k, x := range t.Ports {
		for o, y := range t.Ports {
			if o.Bits < k.Bits && o.Contains(k.Port) {
				x = x.or(y)
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
