package netfilter

import (
	"net/netip"
)

// MaskWords is the length of a rule set: one bit per rule.
const MaskWords = MaxRules / 64

// Mask is a set of rules, bit i for rule i.
type Mask [MaskWords]uint64

func (m *Mask) set(i int) { m[i/64] |= 1 << (i % 64) }
func (m *Mask) or(o Mask) {
	for i := range m {
		m[i] |= o[i]
	}
}

// Address families as the address tries' first byte holds them.
const (
	FamilyV4 = 4
	FamilyV6 = 6
)

// AddrKey is a key of the source and destination tries: Prefixlen bits of
// the family byte followed by the address (an IPv4 address in the first
// four bytes). Prefixlen 0 matches every packet, 8 every one of a family.
type AddrKey struct {
	Prefixlen uint32
	Family    uint8
	Addr      [16]byte
}

// L4Key is a key of the protocol/port trie: Prefixlen bits of the IP
// protocol followed by the destination port. Prefixlen 0 matches every
// packet, 8 every one of a protocol, 24 one port.
type L4Key struct {
	Prefixlen uint32
	Proto     uint8
	Port      uint16
}

// Compiled is a rule as the kernel's rule table holds it.
type Compiled struct {
	Name        string
	Action      Action
	Rate, Burst uint32
	IntervalNs  uint64 // rate-limit: the time one token takes to come back
	ToleranceNs uint64 // rate-limit: Burst tokens' time
}

// Tables are a filter's kernel tables.
type Tables struct {
	Src, Dst map[AddrKey]Mask
	L4       map[L4Key]Mask
	Rules    []Compiled
}

// Compile builds the kernel tables of a filter's rules.
func Compile(f *Filter) *Tables {
	t := &Tables{Src: map[AddrKey]Mask{}, Dst: map[AddrKey]Mask{}, L4: map[L4Key]Mask{}}
	for i, r := range f.Rules {
		c := Compiled{Name: r.Name, Action: r.Action}
		if r.Action == ActionRateLimit && r.Rate > 0 {
			c.Rate, c.Burst = r.Rate, r.Burst
			c.IntervalNs = uint64(1e9) / uint64(r.Rate)
			c.ToleranceNs = c.IntervalNs * uint64(r.Burst)
		}
		t.Rules = append(t.Rules, c)
		addAddrs(t.Src, r.Source, i)
		addAddrs(t.Dst, r.Destination, i)
		for _, k := range l4Keys(r) {
			m := t.L4[k]
			m.set(i)
			t.L4[k] = m
		}
	}
	// A trie answers with the longest prefix holding a packet's value
	// only: each prefix's set takes in the sets of the shorter prefixes
	// that contain it.
	t.Src, t.Dst = closeAddrs(t.Src), closeAddrs(t.Dst)
	direct := t.L4
	t.L4 = make(map[L4Key]Mask, len(direct))
	for k := range direct {
		var m Mask
		for l := int(k.Prefixlen); l >= 0; l-- {
			if l > 0 && l < 8 {
				continue
			}
			if d, ok := direct[truncL4(k, uint32(l))]; ok {
				m.or(d)
			}
		}
		t.L4[k] = m
	}
	return t
}

// AddrKeyOf returns the trie key of a prefix: an IPv4 prefix (or an
// IPv4-mapped IPv6 one) in the IPv4 family, any other in the IPv6 one.
func AddrKeyOf(p netip.Prefix) AddrKey {
	p = canonical(p)
	k := AddrKey{Prefixlen: uint32(8 + p.Bits())}
	if p.Addr().Is4() {
		k.Family = FamilyV4
		b := p.Masked().Addr().As4()
		copy(k.Addr[:], b[:])
	} else {
		k.Family = FamilyV6
		k.Addr = p.Masked().Addr().As16()
	}
	return k
}

// canonical turns an IPv4-mapped IPv6 prefix of at least 96 bits into its
// IPv4 prefix, as the kernel sees such packets (IPv4 on the wire).
func canonical(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

func addAddrs(t map[AddrKey]Mask, ps []netip.Prefix, i int) {
	keys := []AddrKey{{}}
	if len(ps) > 0 {
		keys = keys[:0]
		for _, p := range ps {
			keys = append(keys, AddrKeyOf(p))
		}
	}
	for _, k := range keys {
		m := t[k]
		m.set(i)
		t[k] = m
	}
}

func closeAddrs(direct map[AddrKey]Mask) map[AddrKey]Mask {
	out := make(map[AddrKey]Mask, len(direct))
	for k := range direct {
		var m Mask
		for l := int(k.Prefixlen); l >= 0; l-- {
			if l > 0 && l < 8 {
				continue
			}
			if d, ok := direct[truncAddr(k, uint32(l))]; ok {
				m.or(d)
			}
		}
		out[k] = m
	}
	return out
}

// truncAddr keeps the first l bits of k (l is 0 or at least 8).
func truncAddr(k AddrKey, l uint32) AddrKey {
	if l == 0 {
		return AddrKey{}
	}
	out := AddrKey{Prefixlen: l, Family: k.Family}
	bits := int(l) - 8
	for i := range out.Addr {
		switch {
		case bits >= 8*(i+1):
			out.Addr[i] = k.Addr[i]
		case bits > 8*i:
			out.Addr[i] = k.Addr[i] & byte(0xFF<<(8-(bits-8*i)))
		}
	}
	return out
}

func truncL4(k L4Key, l uint32) L4Key {
	switch {
	case l == 0:
		return L4Key{}
	case l <= 8:
		return L4Key{Prefixlen: 8, Proto: k.Proto}
	}
	bits := l - 8
	return L4Key{Prefixlen: l, Proto: k.Proto, Port: k.Port & uint16(0xFFFF<<(16-bits))}
}

func l4Keys(r *Rule) []L4Key {
	var protos []uint8
	switch {
	case r.Protocol >= 0:
		protos = []uint8{uint8(r.Protocol)}
	case len(r.Ports) > 0:
		protos = []uint8{6, 17} // ports without a protocol: TCP and UDP
	default:
		return []L4Key{{}}
	}
	var out []L4Key
	for _, proto := range protos {
		if len(r.Ports) == 0 {
			out = append(out, L4Key{Prefixlen: 8, Proto: proto})
			continue
		}
		for _, pr := range r.Ports {
			for _, b := range rangeBlocks(pr.Lo, pr.Hi) {
				out = append(out, L4Key{Prefixlen: 8 + b.bits, Proto: proto, Port: b.port})
			}
		}
	}
	return out
}

type block struct {
	port uint16
	bits uint32
}

// rangeBlocks splits lo-hi into the fewest aligned power-of-two blocks.
func rangeBlocks(lo, hi uint16) []block {
	var out []block
	for x := uint32(lo); x <= uint32(hi); {
		size := uint32(1)
		for size < 1<<16 && x%(size*2) == 0 && x+size*2-1 <= uint32(hi) {
			size *= 2
		}
		bits := uint32(16)
		for s := size; s > 1; s /= 2 {
			bits--
		}
		out = append(out, block{uint16(x), bits})
		x += size
	}
	return out
}

// Packet is what the kernel reads of a packet to match it.
type Packet struct {
	Src, Dst netip.Addr
	Proto    uint8
	Port     uint16 // destination port
	HasPort  bool   // TCP, UDP or SCTP with its header present
}

func packetKeys(p Packet) (s, d AddrKey, l L4Key) {
	s, d = addrKeyOfPacket(p.Src), addrKeyOfPacket(p.Dst)
	l = L4Key{Prefixlen: 8, Proto: p.Proto}
	if p.HasPort {
		l.Prefixlen, l.Port = 24, p.Port
	}
	return s, d, l
}

// addrKeyOfPacket is the key the kernel looks up for an address of a
// packet: an IPv4 packet's in the IPv4 family, an IPv6 packet's (even an
// IPv4-mapped one) in the IPv6 family.
func addrKeyOfPacket(a netip.Addr) AddrKey {
	if a.Is4() {
		b := a.As4()
		k := AddrKey{Prefixlen: 8 + 32, Family: FamilyV4}
		copy(k.Addr[:], b[:])
		return k
	}
	return AddrKey{Prefixlen: 8 + 128, Family: FamilyV6, Addr: a.As16()}
}

// Match returns the index of the rule the kernel picks for p from the
// tables, or -1 when none matches (the default applies).
func (t *Tables) Match(p Packet) int {
	s, d, l := packetKeys(p)
	ms, ok1 := lpmAddr(t.Src, s)
	md, ok2 := lpmAddr(t.Dst, d)
	ml, ok3 := lpmL4(t.L4, l)
	if !ok1 || !ok2 || !ok3 {
		return -1
	}
	for i := range ms {
		if m := ms[i] & md[i] & ml[i]; m != 0 {
			for b := 0; b < 64; b++ {
				if m&(1<<b) != 0 {
					return i*64 + b
				}
			}
		}
	}
	return -1
}

func lpmAddr(t map[AddrKey]Mask, k AddrKey) (Mask, bool) {
	for l := int(k.Prefixlen); l >= 0; l-- {
		if m, ok := t[truncAddr(k, uint32(l))]; ok && (l == 0 || l >= 8) {
			return m, true
		}
	}
	return Mask{}, false
}

func lpmL4(t map[L4Key]Mask, k L4Key) (Mask, bool) {
	for l := int(k.Prefixlen); l >= 0; l-- {
		if l > 0 && l < 8 {
			continue
		}
		if m, ok := t[truncL4(k, uint32(l))]; ok {
			return m, true
		}
	}
	return Mask{}, false
}

// Matches reports whether p matches the rule, from the rule's meaning.
func (r *Rule) Matches(p Packet) bool {
	in := func(ps []netip.Prefix, a netip.Addr) bool {
		if len(ps) == 0 {
			return true
		}
		for _, pf := range ps {
			pf = canonical(pf)
			if pf.Addr().Is4() == a.Is4() && pf.Contains(a) && !(a.Is4In6() && pf.Addr().Is4()) {
				return true
			}
		}
		return false
	}
	if !in(r.Source, p.Src) || !in(r.Destination, p.Dst) {
		return false
	}
	switch {
	case r.Protocol >= 0:
		if int(p.Proto) != r.Protocol {
			return false
		}
	case len(r.Ports) > 0:
		if p.Proto != 6 && p.Proto != 17 {
			return false
		}
	}
	if len(r.Ports) == 0 {
		return true
	}
	if !p.HasPort {
		return false
	}
	for _, pr := range r.Ports {
		if p.Port >= pr.Lo && p.Port <= pr.Hi {
			return true
		}
	}
	return false
}

// First returns the index of the first rule of f that matches p, or -1.
func First(f *Filter, p Packet) int {
	for i, r := range f.Rules {
		if r.Matches(p) {
			return i
		}
	}
	return -1
}
