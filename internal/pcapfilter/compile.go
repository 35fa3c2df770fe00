package pcapfilter

import (
	"fmt"
	"math"
	"net/netip"

	"github.com/cilium/ebpf/asm"
)

// The code's layout: R6 holds the context (struct __sk_buff *) throughout;
// bpf_skb_load_bytes copies each field to the stack at R10-8, whence it is
// read into R0 and swapped to host order; arithmetic spills to slots below
// it, one per nesting level; R7 holds an operand across a helper call.
const (
	scratchOff = -8
	slotBase   = -16
	maxSlots   = 60 // (512 - 16) / 8, less a margin
	// maxInsns keeps every jump within the 16-bit offset a BPF jump has.
	maxInsns = 30000
)

// Lowered nodes: the primitives spelled out as comparisons of loads, as
// libpcap generates them for an Ethernet link.
type band struct{ a, b bnode }
type bor struct{ a, b bnode }
type bnot struct{ x bnode }
type brel struct {
	op   string
	l, r Arith
}
type bnode interface{}

// absLoad is Size bytes at Off from the start of the frame; l4Load at Off
// from the start of the IPv4 payload (14 + 4 × IHL).
type absLoad struct {
	Off  Arith
	Size uint32
}
type l4Load struct {
	Off  Arith
	Size uint32
}

func (l *absLoad) String() string { return fmt.Sprintf("pkt[%s:%d]", l.Off, l.Size) }
func (l *l4Load) String() string  { return fmt.Sprintf("l4[%s:%d]", l.Off, l.Size) }

func and(a, b bnode) bnode {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return &band{a, b}
}

// or of an always-true side (nil) is always true.
func or(a, b bnode) bnode {
	if a == nil || b == nil {
		return nil
	}
	return &bor{a, b}
}

func eq(off, size, v uint32) bnode {
	return &brel{"=", &absLoad{Num{V: off}, size}, Num{V: v}}
}

func eqMasked(l Arith, mask, v uint32) bnode {
	if mask == math.MaxUint32 {
		return &brel{"=", l, Num{V: v}}
	}
	return &brel{"=", &ArithBin{"&", l, Num{V: mask}}, Num{V: v}}
}

const (
	etherIP   = 0x800
	etherIPv6 = 0x86dd
	etherARP  = 0x806
	etherRARP = 0x8035
)

func ethertype(t uint32) bnode { return eq(12, 2, t) }

// v4proto: an IPv4 packet of IP protocol p.
func v4proto(p uint32) bnode { return and(ethertype(etherIP), eq(23, 1, p)) }

// v6proto: an IPv6 packet whose next header is p, directly or after a
// fragment header.
func v6proto(p uint32) bnode {
	return and(ethertype(etherIPv6), or(eq(20, 1, p), and(eq(20, 1, 44), eq(54, 1, p))))
}

func notFragment() bnode {
	return &brel{"=", &ArithBin{"&", &absLoad{Num{V: 20}, 2}, Num{V: 0x1fff}}, Num{V: 0}}
}

var ipProtos = map[string]uint32{"tcp": 6, "udp": 17, "sctp": 132, "icmp": 1, "icmp6": 58, "igmp": 2}

// byDir combines the source and destination tests as the direction asks.
func byDir(dir string, src, dst bnode) bnode {
	switch dir {
	case "src":
		return src
	case "dst":
		return dst
	case "src and dst":
		return and(src, dst)
	}
	return or(src, dst)
}

// addrMatch compares the prefix with the address at off, word by word.
func addrMatch(off uint32, pfx netip.Prefix) bnode {
	b := pfx.Addr().AsSlice()
	var n bnode
	for w := 0; w < len(b)/4; w++ {
		bits := pfx.Bits() - 32*w
		if bits <= 0 {
			break
		}
		mask := uint32(math.MaxUint32)
		if bits < 32 {
			mask = ^(mask >> bits)
		}
		v := uint32(b[4*w])<<24 | uint32(b[4*w+1])<<16 | uint32(b[4*w+2])<<8 | uint32(b[4*w+3])
		n = and(n, eqMasked(&absLoad{Num{V: off + 4*uint32(w)}, 4}, mask, v))
	}
	return n
}

func lowerPrim(p *Prim) bnode {
	switch p.Type {
	case "":
		switch p.Proto {
		case "ip":
			return ethertype(etherIP)
		case "ip6":
			return ethertype(etherIPv6)
		case "arp":
			return ethertype(etherARP)
		case "rarp":
			return ethertype(etherRARP)
		case "icmp":
			return v4proto(1)
		case "icmp6":
			return v6proto(58)
		default:
			n := ipProtos[p.Proto]
			return or(v4proto(n), v6proto(n))
		}
	case "less":
		return &brel{"<=", Len{}, Num{V: p.Num}}
	case "greater":
		return &brel{">=", Len{}, Num{V: p.Num}}
	case "proto":
		switch p.Proto {
		case "ether":
			return ethertype(p.Num)
		case "ip":
			return v4proto(p.Num)
		case "ip6":
			return v6proto(p.Num)
		}
		return or(v4proto(p.Num), v6proto(p.Num))
	case "host", "net":
		if p.MAC != nil {
			m := p.MAC
			at := func(off uint32) bnode {
				return and(eq(off+2, 4, uint32(m[2])<<24|uint32(m[3])<<16|uint32(m[4])<<8|uint32(m[5])),
					eq(off, 2, uint32(m[0])<<8|uint32(m[1])))
			}
			return byDir(p.Dir, at(6), at(0))
		}
		if p.Net.Addr().Is6() {
			return and(ethertype(etherIPv6), byDir(p.Dir, addrMatch(22, p.Net), addrMatch(38, p.Net)))
		}
		family := func(t, src, dst uint32) bnode {
			s, d := addrMatch(src, p.Net), addrMatch(dst, p.Net)
			if s == nil {
				return ethertype(t)
			}
			return and(ethertype(t), byDir(p.Dir, s, d))
		}
		ip := family(etherIP, 26, 30)
		arp := family(etherARP, 28, 38)
		rarp := family(etherRARP, 28, 38)
		switch p.Proto {
		case "ip":
			return ip
		case "arp":
			return arp
		case "rarp":
			return rarp
		}
		return or(or(ip, arp), rarp)
	case "port", "portrange":
		protos := []uint32{132, 6, 17}
		if n, ok := ipProtos[p.Proto]; ok {
			protos = []uint32{n}
		}
		anyOf := func(off uint32) bnode {
			var n bnode
			for _, pr := range protos {
				if n == nil {
					n = eq(off, 1, pr)
				} else {
					n = or(n, eq(off, 1, pr))
				}
			}
			return n
		}
		inRange := func(l Arith) bnode {
			if p.PortLo == p.PortHi {
				return &brel{"=", l, Num{V: p.PortLo}}
			}
			return and(&brel{">=", l, Num{V: p.PortLo}}, &brel{"<=", l, Num{V: p.PortHi}})
		}
		v6 := and(and(ethertype(etherIPv6), anyOf(20)),
			byDir(p.Dir, inRange(&absLoad{Num{V: 54}, 2}), inRange(&absLoad{Num{V: 56}, 2})))
		v4 := and(and(and(ethertype(etherIP), anyOf(23)), notFragment()),
			byDir(p.Dir, inRange(&l4Load{Num{V: 0}, 2}), inRange(&l4Load{Num{V: 2}, 2})))
		return or(v6, v4)
	}
	panic("pcapfilter: unknown primitive type " + p.Type)
}

// lowerRelation rewrites proto[off] into frame offsets and puts the
// protocol checks libpcap makes before the comparison.
func lowerRelation(r *Relation) (bnode, error) {
	var checks bnode
	seen := map[string]bool{}
	var rewrite func(a Arith) (Arith, error)
	rewrite = func(a Arith) (Arith, error) {
		switch a := a.(type) {
		case *ArithBin:
			l, err := rewrite(a.L)
			if err != nil {
				return nil, err
			}
			r, err := rewrite(a.R)
			if err != nil {
				return nil, err
			}
			return &ArithBin{a.Op, l, r}, nil
		case *Neg:
			x, err := rewrite(a.X)
			if err != nil {
				return nil, err
			}
			return &Neg{x}, nil
		case *Load:
			off, err := rewrite(a.Off)
			if err != nil {
				return nil, err
			}
			var check bnode
			var out Arith
			base := uint32(14)
			switch a.Proto {
			case "ether":
				base = 0
			case "ip":
				check = ethertype(etherIP)
			case "ip6":
				check = ethertype(etherIPv6)
			case "arp":
				check = ethertype(etherARP)
			case "rarp":
				check = ethertype(etherRARP)
			case "icmp6":
				check = and(ethertype(etherIPv6), eq(20, 1, 58))
				base = 54
			default:
				check = and(v4proto(ipProtos[a.Proto]), notFragment())
				out = &l4Load{off, a.Size}
			}
			if out == nil {
				if n, ok := off.(Num); ok {
					out = &absLoad{Num{V: n.V + base}, a.Size}
				} else if base == 0 {
					out = &absLoad{off, a.Size}
				} else {
					out = &absLoad{&ArithBin{"+", off, Num{V: base}}, a.Size}
				}
			}
			if !seen[a.Proto] {
				seen[a.Proto] = true
				checks = and(checks, check)
			}
			return out, nil
		}
		return a, nil
	}
	l, err := rewrite(r.L)
	if err != nil {
		return nil, err
	}
	rr, err := rewrite(r.R)
	if err != nil {
		return nil, err
	}
	return and(checks, &brel{r.Op, l, rr}), nil
}

func lower(n Node) (bnode, error) {
	switch n := n.(type) {
	case *Binary:
		l, err := lower(n.L)
		if err != nil {
			return nil, err
		}
		r, err := lower(n.R)
		if err != nil {
			return nil, err
		}
		if n.Op == "and" {
			return &band{l, r}, nil
		}
		return &bor{l, r}, nil
	case *Not:
		x, err := lower(n.X)
		if err != nil {
			return nil, err
		}
		return &bnot{x}, nil
	case *Prim:
		return lowerPrim(n), nil
	case *Relation:
		if err := checkConstOps(n.L, n.P); err != nil {
			return nil, err
		}
		if err := checkConstOps(n.R, n.P); err != nil {
			return nil, err
		}
		return lowerRelation(n)
	}
	return nil, fmt.Errorf("pcapfilter: unknown node %T", n)
}

// checkConstOps refuses what libpcap refuses: a division or modulus by a
// constant zero and a shift by a constant of 32 or more.
func checkConstOps(a Arith, pos int) error {
	switch a := a.(type) {
	case *ArithBin:
		if n, ok := a.R.(Num); ok {
			switch {
			case (a.Op == "/" || a.Op == "%") && n.V == 0:
				return &Error{pos + 1, map[string]string{"/": "division by zero", "%": "modulus by zero"}[a.Op]}
			case (a.Op == "<<" || a.Op == ">>") && n.V > 31:
				return &Error{pos + 1, "shift by more than 31 bits"}
			}
		}
		if err := checkConstOps(a.L, pos); err != nil {
			return err
		}
		return checkConstOps(a.R, pos)
	case *Neg:
		return checkConstOps(a.X, pos)
	case *Load:
		return checkConstOps(a.Off, pos)
	}
	return nil
}

// gen emits instructions with labels: a label placed before the next
// instruction becomes its symbol; labels placed together alias one another.
type gen struct {
	insns   asm.Instructions
	pending []string
	alias   map[string]string
	labels  int
	pos     int // the relation's position, for errors
}

func (g *gen) label() string {
	g.labels++
	return fmt.Sprintf("pf_%d", g.labels)
}

func (g *gen) place(l string) {
	// A jump to the very next instruction is dropped.
	if n := len(g.insns); n > 0 && len(g.pending) == 0 {
		last := g.insns[n-1]
		if last.OpCode == asm.Ja.Op(asm.ImmSource) && last.Reference() == l && last.Symbol() == "" {
			g.insns = g.insns[:n-1]
		}
	}
	g.pending = append(g.pending, l)
}

func (g *gen) emit(ins ...asm.Instruction) {
	for _, in := range ins {
		if len(g.pending) > 0 {
			in = in.WithSymbol(g.pending[0])
			for _, a := range g.pending[1:] {
				g.alias[a] = g.pending[0]
			}
			g.pending = nil
		}
		g.insns = append(g.insns, in)
	}
}

var jumps = map[string]asm.JumpOp{">": asm.JGT, "<": asm.JLT, ">=": asm.JGE, "<=": asm.JLE, "=": asm.JEq, "!=": asm.JNE}

var aluOps = map[string]asm.ALUOp{"+": asm.Add, "-": asm.Sub, "*": asm.Mul, "/": asm.Div, "%": asm.Mod,
	"&": asm.And, "|": asm.Or, "^": asm.Xor, "<<": asm.LSh, ">>": asm.RSh}

const rejectLabel = "pf_reject"
const acceptLabel = "pf_accept"

func (g *gen) bool(n bnode, tl, fl string) error {
	switch n := n.(type) {
	case nil:
		g.emit(asm.Ja.Label(tl))
	case *band:
		mid := g.label()
		if err := g.bool(n.a, mid, fl); err != nil {
			return err
		}
		g.place(mid)
		return g.bool(n.b, tl, fl)
	case *bor:
		mid := g.label()
		if err := g.bool(n.a, tl, mid); err != nil {
			return err
		}
		g.place(mid)
		return g.bool(n.b, tl, fl)
	case *bnot:
		return g.bool(n.x, fl, tl)
	case *brel:
		if err := g.arith(n.l, 0); err != nil {
			return err
		}
		j := jumps[n.op]
		if c, ok := n.r.(Num); ok {
			g.emit(j.Imm32(asm.R0, int32(c.V), tl))
		} else {
			g.emit(asm.StoreMem(asm.R10, slotBase, asm.R0, asm.Word))
			if err := g.arith(n.r, 1); err != nil {
				return err
			}
			g.emit(asm.Mov.Reg(asm.R7, asm.R0),
				asm.LoadMem(asm.R0, asm.R10, slotBase, asm.Word),
				j.Reg32(asm.R0, asm.R7, tl))
		}
		g.emit(asm.Ja.Label(fl))
	default:
		return fmt.Errorf("pcapfilter: unknown lowered node %T", n)
	}
	if len(g.insns) > maxInsns {
		return &Error{1, "filter too large to compile"}
	}
	return nil
}

// load emits the copy of size bytes at the offset in R2 into R0, in host
// order; a load past the end rejects the packet.
func (g *gen) load(size uint32) {
	s := map[uint32]asm.Size{1: asm.Byte, 2: asm.Half, 4: asm.Word}[size]
	g.emit(asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Reg(asm.R3, asm.R10),
		asm.Add.Imm(asm.R3, scratchOff),
		asm.Mov.Imm(asm.R4, int32(size)),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, rejectLabel),
		asm.LoadMem(asm.R0, asm.R10, scratchOff, s))
	if size > 1 {
		g.emit(asm.HostTo(asm.BE, asm.R0, s))
	}
}

// arith evaluates a into R0 (32 bits), using the spill slots from depth d.
func (g *gen) arith(a Arith, d int) error {
	if d >= maxSlots {
		return &Error{g.pos + 1, "arithmetic nested too deeply"}
	}
	slot := int16(slotBase - 8*d)
	switch a := a.(type) {
	case Num:
		g.emit(asm.Mov.Imm32(asm.R0, int32(a.V)))
	case Len:
		g.emit(asm.LoadMem(asm.R0, asm.R6, 0, asm.Word)) // __sk_buff.len
	case *absLoad:
		if c, ok := a.Off.(Num); ok {
			g.emit(asm.Mov.Imm32(asm.R2, int32(c.V)))
		} else {
			if err := g.arith(a.Off, d); err != nil {
				return err
			}
			g.emit(asm.Mov.Reg32(asm.R2, asm.R0))
		}
		g.load(a.Size)
	case *l4Load:
		k := uint32(14)
		c, constOff := a.Off.(Num)
		if constOff {
			k += c.V
		} else {
			if err := g.arith(a.Off, d); err != nil {
				return err
			}
			g.emit(asm.Mov.Reg32(asm.R7, asm.R0))
		}
		g.emit(asm.Mov.Imm32(asm.R2, 14))
		g.load(1)
		g.emit(asm.And.Imm32(asm.R0, 0xf), asm.LSh.Imm32(asm.R0, 2))
		if !constOff {
			g.emit(asm.Add.Reg32(asm.R0, asm.R7))
		}
		g.emit(asm.Add.Imm32(asm.R0, int32(k)), asm.Mov.Reg32(asm.R2, asm.R0))
		g.load(a.Size)
	case *Neg:
		if err := g.arith(a.X, d); err != nil {
			return err
		}
		g.emit(asm.Mov.Reg32(asm.R7, asm.R0), asm.Mov.Imm32(asm.R0, 0), asm.Sub.Reg32(asm.R0, asm.R7))
	case *ArithBin:
		if err := g.arith(a.L, d); err != nil {
			return err
		}
		op := aluOps[a.Op]
		if c, ok := a.R.(Num); ok {
			g.emit(op.Imm32(asm.R0, int32(c.V)))
			return nil
		}
		g.emit(asm.StoreMem(asm.R10, slot, asm.R0, asm.Word))
		if err := g.arith(a.R, d+1); err != nil {
			return err
		}
		g.emit(asm.Mov.Reg32(asm.R7, asm.R0), asm.LoadMem(asm.R0, asm.R10, slot, asm.Word))
		if a.Op == "/" || a.Op == "%" {
			// libpcap rejects the packet on a division by zero.
			g.emit(asm.JEq.Imm32(asm.R7, 0, rejectLabel))
		}
		if a.Op == "<<" || a.Op == ">>" {
			// As libpcap's interpreter: a shift by 32 or more gives 0.
			zero, done := g.label(), g.label()
			g.emit(asm.JGT.Imm32(asm.R7, 31, zero), op.Reg32(asm.R0, asm.R7), asm.Ja.Label(done))
			g.place(zero)
			g.emit(asm.Mov.Imm32(asm.R0, 0))
			g.place(done)
			return nil
		}
		g.emit(op.Reg32(asm.R0, asm.R7))
	default:
		return fmt.Errorf("pcapfilter: unknown arithmetic node %T", a)
	}
	return nil
}

// Instructions compiles a parsed filter (nil: every packet) into the body
// of a sched_cls program: it keeps the context in R6, runs accept (which
// must end in an exit) when the packet matches and reject (also ending in
// an exit) when it does not or a load falls past the packet's end. It
// uses the stack from R10-8 down to R10-496.
func Instructions(n Node, accept, reject asm.Instructions) (asm.Instructions, error) {
	g := &gen{alias: map[string]string{}}
	if n != nil {
		g.pos = n.Pos()
	}
	var b bnode
	if n != nil {
		var err error
		if b, err = lower(n); err != nil {
			return nil, err
		}
	}
	g.emit(asm.Mov.Reg(asm.R6, asm.R1))
	if err := g.bool(b, acceptLabel, rejectLabel); err != nil {
		return nil, err
	}
	g.place(acceptLabel)
	g.emit(accept...)
	// The reject block is there only when something jumps to it: a filter
	// that loads nothing (the empty one) never rejects.
	for _, in := range g.insns {
		if ref := in.Reference(); ref == rejectLabel || g.alias[ref] == rejectLabel {
			g.place(rejectLabel)
			g.emit(reject...)
			break
		}
	}
	if len(g.pending) > 0 {
		return nil, fmt.Errorf("pcapfilter: labels %v at the end of the program", g.pending)
	}
	for i, in := range g.insns {
		if to, ok := g.alias[in.Reference()]; ok {
			g.insns[i] = in.WithReference(to)
		}
	}
	return g.insns, nil
}

// Compile parses a filter and compiles it (Parse, then Instructions).
func Compile(filter string, accept, reject asm.Instructions) (asm.Instructions, error) {
	n, err := Parse(filter)
	if err != nil {
		return nil, err
	}
	return Instructions(n, accept, reject)
}
