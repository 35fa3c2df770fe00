package pcapfilter

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Node is a filter: Binary, Not, Prim or Relation. String prints it fully
// parenthesized and qualified, the form the table tests compare.
type Node interface {
	Pos() int // 0-based byte offset in the filter
	String() string
}

// Binary is `L and R` or `L or R`.
type Binary struct {
	Op   string // and, or
	L, R Node
	P    int
}

// Not is `not X`.
type Not struct {
	X Node
	P int
}

// Prim is a primitive: a protocol alone (Type ""), or qualifiers and a
// value. Proto is "", ether, ip, ip6, arp, rarp, tcp, udp, sctp, icmp or
// icmp6; Dir is "", src, dst, "src or dst" or "src and dst"; Type is host,
// net, port, portrange, proto, less or greater.
type Prim struct {
	Proto, Dir, Type string
	ID               string // the value as written
	Net              netip.Prefix
	MAC              net.HardwareAddr
	PortLo, PortHi   uint32
	Num              uint32 // proto's number; less's and greater's length
	P                int
}

// Relation is an arithmetic comparison: L Op R with Op one of > < >= <= =
// !=.
type Relation struct {
	Op   string
	L, R Arith
	P    int
}

// Arith is an arithmetic expression of a relation: Num, Len, Load, ArithBin
// or Neg, evaluated in 32 bits unsigned as libpcap does.
type Arith interface {
	String() string
}

// Num is a constant (Name: the pcap-filter name it was written as).
type Num struct {
	V    uint32
	Name string
}

// Len is the packet's length on the wire.
type Len struct{}

// Load is proto[Off:Size]: Size bytes (1, 2, 4), big-endian, at Off from
// the start of the protocol's header.
type Load struct {
	Proto string
	Off   Arith
	Size  uint32
}

// ArithBin is L Op R with Op one of + - * / % & | ^ << >>.
type ArithBin struct {
	Op   string
	L, R Arith
}

// Neg is -X.
type Neg struct{ X Arith }

func (b *Binary) Pos() int   { return b.P }
func (n *Not) Pos() int      { return n.P }
func (p *Prim) Pos() int     { return p.P }
func (r *Relation) Pos() int { return r.P }

func (b *Binary) String() string   { return "(" + b.L.String() + " " + b.Op + " " + b.R.String() + ")" }
func (n *Not) String() string      { return "(not " + n.X.String() + ")" }
func (r *Relation) String() string { return r.L.String() + " " + r.Op + " " + r.R.String() }

func (p *Prim) String() string {
	var parts []string
	for _, s := range []string{p.Proto, p.Dir, p.Type} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	switch p.Type {
	case "":
	case "host", "net":
		if p.MAC != nil {
			parts = append(parts, p.MAC.String())
		} else if p.Type == "host" {
			parts = append(parts, p.Net.Addr().String())
		} else {
			parts = append(parts, p.Net.String())
		}
	case "port":
		parts = append(parts, fmt.Sprint(p.PortLo))
	case "portrange":
		parts = append(parts, fmt.Sprintf("%d-%d", p.PortLo, p.PortHi))
	default:
		parts = append(parts, fmt.Sprint(p.Num))
	}
	return strings.Join(parts, " ")
}

func (n Num) String() string {
	if n.Name != "" {
		return n.Name
	}
	return fmt.Sprint(n.V)
}
func (Len) String() string { return "len" }
func (l *Load) String() string {
	return fmt.Sprintf("%s[%s:%d]", l.Proto, l.Off, l.Size)
}
func (b *ArithBin) String() string { return "(" + b.L.String() + " " + b.Op + " " + b.R.String() + ")" }
func (n *Neg) String() string      { return "(-" + n.X.String() + ")" }
