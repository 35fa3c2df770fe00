package pcapfilter

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// MaxLen bounds a filter's text: past it the compiled program could outgrow
// what a jump can span.
const MaxLen = 4096

// maxDepth bounds nesting (parentheses, not, arithmetic): each level of
// arithmetic takes a stack slot of the 512 bytes a BPF program has.
const maxDepth = 48

// Error is a filter that does not parse or compile: the column (1-based
// byte offset in the filter) and what was wrong or expected there.
type Error struct {
	Col int
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("filter:%d: %s", e.Col, e.Msg) }

type tokKind int

const (
	tEOF tokKind = iota
	tWord
	tOp
)

type token struct {
	kind tokKind
	text string
	pos  int // 0-based byte offset
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of filter"
	default:
		return strconv.Quote(t.text)
	}
}

func isWordStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '\\'
}

func isWordChar(c byte, inBracket bool) bool {
	return isWordStart(c) || c == '.' || c == '-' || (c == ':' && !inBracket)
}

// lex splits a filter into words (names, numbers, addresses, ranges) and
// operators. Inside brackets a colon is an operator (tcp[2:2]); outside it
// is part of an IPv6 or MAC address.
func lex(s string) ([]token, error) {
	var toks []token
	depth := 0
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isWordStart(c) || (c == ':' && depth == 0):
			j := i + 1
			for j < len(s) && isWordChar(s[j], depth > 0) {
				j++
			}
			toks = append(toks, token{tWord, s[i:j], i})
			i = j
		default:
			two := ""
			if i+1 < len(s) {
				two = s[i : i+2]
			}
			switch two {
			case "&&", "||", "<<", ">>", "<=", ">=", "==", "!=":
				toks = append(toks, token{tOp, two, i})
				i += 2
				continue
			}
			if !strings.ContainsRune("()[]:&|^+-*/%<>=!", rune(c)) {
				return nil, &Error{i + 1, fmt.Sprintf("unexpected character %q", c)}
			}
			switch c {
			case '[':
				depth++
			case ']':
				depth--
			}
			toks = append(toks, token{tOp, string(c), i})
			i++
		}
	}
	return append(toks, token{tEOF, "", len(s)}), nil
}

// quals are a primitive's qualifiers: protocol, direction and type.
type quals struct {
	proto, dir, typ string
}

type parser struct {
	toks  []token
	i     int
	depth int
	last  *quals // the qualifiers a bare value inherits
}

// Parse parses a filter. An empty filter (or only spaces) matches every
// packet and gives a nil Node.
func Parse(s string) (Node, error) {
	if len(s) > MaxLen {
		return nil, &Error{MaxLen + 1, fmt.Sprintf("filter longer than %d bytes", MaxLen)}
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 1 {
		return nil, nil
	}
	p := &parser{toks: toks}
	n, err := p.expr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.errf(t, "expected and, or or the end of the filter, found %s", t)
	}
	return n, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) peekAt(k int) token {
	if p.i+k < len(p.toks) {
		return p.toks[p.i+k]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) errf(t token, format string, args ...any) error {
	return &Error{t.pos + 1, fmt.Sprintf(format, args...)}
}

func (p *parser) is(text string) bool {
	t := p.peek()
	return t.kind != tEOF && t.text == text
}

func (p *parser) enter(t token) error {
	p.depth++
	if p.depth > maxDepth {
		return p.errf(t, "filter nested deeper than %d levels", maxDepth)
	}
	return nil
}

func isAnd(t token) bool { return t.text == "and" || t.text == "&&" }
func isOr(t token) bool  { return t.text == "or" || t.text == "||" }

// expr: and and or have equal precedence and associate left to right, as
// in pcap-filter(7).
func (p *parser) expr() (Node, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind == tEOF || !isAnd(t) && !isOr(t) {
			return left, nil
		}
		p.next()
		right, err := p.unary()
		if err != nil {
			return nil, err
		}
		op := "and"
		if isOr(t) {
			op = "or"
		}
		left = &Binary{Op: op, L: left, R: right, P: t.pos}
	}
}

var relOps = map[string]bool{">": true, "<": true, ">=": true, "<=": true, "=": true, "==": true, "!=": true}
var arithOps = map[string]bool{"+": true, "-": true, "*": true, "/": true, "%": true, "&": true, "|": true, "^": true, "<<": true, ">>": true}

func (p *parser) unary() (Node, error) {
	t := p.peek()
	if err := p.enter(t); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	switch {
	case t.kind == tEOF:
		return nil, p.errf(t, "expected a primitive, found end of filter")
	case t.text == "not" || t.text == "!":
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &Not{X: x, P: t.pos}, nil
	case t.text == "(":
		// A parenthesis opens either a filter or an arithmetic expression;
		// try the filter first, then the relation.
		save, last := p.i, p.last
		p.next()
		n, err := p.expr()
		if err == nil && !p.is(")") {
			err = p.errf(p.peek(), "expected \")\", found %s", p.peek())
		}
		if err == nil {
			p.next()
			if nt := p.peek(); nt.kind == tEOF || !relOps[nt.text] && !arithOps[nt.text] {
				return n, nil
			}
		}
		p.i, p.last = save, last
		r, rerr := p.relation()
		if rerr != nil {
			if err != nil {
				var pe, re *Error
				if errors.As(err, &pe) && errors.As(rerr, &re) && pe.Col >= re.Col {
					return nil, err
				}
			}
			return nil, rerr
		}
		return r, nil
	case t.kind == tOp && t.text != "-":
		return nil, p.errf(t, "expected a primitive, found %s", t)
	}
	if p.startsRelation() {
		return p.relation()
	}
	return p.primitive()
}

// startsRelation tells whether the next tokens are an arithmetic
// comparison rather than a primitive.
func (p *parser) startsRelation() bool {
	t := p.peek()
	if t.text == "-" || t.text == "len" {
		return true
	}
	if protoLoads[t.text] && p.peekAt(1).text == "[" {
		return true
	}
	if _, ok := arithNames[t.text]; ok {
		return true
	}
	if _, err := parseNum(t.text); err == nil {
		nt := p.peekAt(1)
		return nt.kind == tOp && (relOps[nt.text] || arithOps[nt.text])
	}
	return false
}

var protoQuals = map[string]bool{"ether": true, "ip": true, "ip6": true, "arp": true, "rarp": true,
	"tcp": true, "udp": true, "sctp": true, "icmp": true, "icmp6": true}

var typeQuals = map[string]bool{"host": true, "net": true, "port": true, "portrange": true, "proto": true}

func (p *parser) primitive() (Node, error) {
	start := p.peek()
	switch start.text {
	case "less", "greater":
		p.next()
		nt := p.next()
		v, err := parseNum(nt.text)
		if nt.kind != tWord || err != nil {
			return nil, p.errf(nt, "expected a length after %q, found %s", start.text, nt)
		}
		return &Prim{Type: start.text, ID: nt.text, Num: v, P: start.pos}, nil
	}
	var q quals
	if protoQuals[start.text] {
		q.proto = p.next().text
	}
	if t := p.peek(); t.text == "src" || t.text == "dst" {
		p.next()
		q.dir = t.text
		if c := p.peek(); (c.text == "or" || c.text == "and") && p.peekAt(1).text == map[string]string{"src": "dst", "dst": "src"}[t.text] {
			p.next()
			p.next()
			q.dir = "src " + c.text + " dst"
		}
	}
	if t := p.peek(); typeQuals[t.text] {
		q.typ = p.next().text
	}
	if q == (quals{}) {
		// A bare value takes the qualifiers of the primitive before it.
		t := p.peek()
		if t.kind != tWord || p.last == nil {
			return nil, p.errf(t, "expected a primitive (host, net, port, a protocol, …), found %s", t)
		}
		q = *p.last
	}
	if q.typ == "" && q.dir == "" {
		// A protocol alone: tcp, ip6, arp…
		if t := p.peek(); t.kind == tWord && !isAnd(t) && !isOr(t) {
			return nil, p.errf(t, "expected host, net, port, portrange, proto, and, or or the end, found %s", t)
		}
		if q.proto == "ether" {
			return nil, p.errf(start, "expected host, src, dst or proto after \"ether\"")
		}
		p.last = nil
		return &Prim{Proto: q.proto, P: start.pos}, nil
	}
	idt := p.next()
	if idt.kind != tWord || isAnd(idt) || isOr(idt) || idt.text == "not" {
		want := "a value"
		switch q.typ {
		case "host":
			want = "an address"
		case "net":
			want = "a network"
		case "port":
			want = "a port number"
		case "portrange":
			want = "a port range (A-B)"
		case "proto":
			want = "a protocol"
		}
		return nil, p.errf(idt, "expected %s, found %s", want, idt)
	}
	prim := &Prim{Proto: q.proto, Dir: q.dir, Type: q.typ, ID: idt.text, P: start.pos}
	if err := p.value(prim, idt); err != nil {
		return nil, err
	}
	p.last = &quals{q.proto, q.dir, q.typ}
	return prim, nil
}

// value parses a primitive's value by its type and checks the qualifiers
// that go with it.
func (p *parser) value(prim *Prim, idt token) error {
	id := idt.text
	typ := prim.Type
	if typ == "" {
		// src/dst without a type: a host, or a network when written A/B.
		typ = "host"
		if p.is("/") || p.is("mask") {
			typ = "net"
		}
		if prim.Proto == "tcp" || prim.Proto == "udp" || prim.Proto == "sctp" {
			typ = "port"
		}
		prim.Type = typ
	}
	switch typ {
	case "host":
		if prim.Proto == "ether" {
			mac, err := net.ParseMAC(id)
			if err != nil || len(mac) != 6 {
				return p.errf(idt, "expected an Ethernet address, found %s", idt)
			}
			prim.MAC = mac
			return nil
		}
		a, err := netip.ParseAddr(id)
		if err != nil || a.Zone() != "" {
			return p.errf(idt, "expected an IPv4 or IPv6 address, found %s (host names are not looked up)", idt)
		}
		a = a.Unmap()
		if err := checkAddrProto(p, prim, idt, a); err != nil {
			return err
		}
		prim.Net = netip.PrefixFrom(a, a.BitLen())
	case "net":
		if prim.Proto == "ether" {
			return p.errf(idt, "\"ether\" does not go with \"net\"")
		}
		pfx, err := p.network(idt)
		if err != nil {
			return err
		}
		if err := checkAddrProto(p, prim, idt, pfx.Addr()); err != nil {
			return err
		}
		prim.Net = pfx
	case "port", "portrange":
		switch prim.Proto {
		case "", "tcp", "udp", "sctp":
		default:
			return p.errf(idt, "%q does not go with %q: want tcp, udp or sctp", prim.Proto, typ)
		}
		lo, hi, err := parsePorts(id, typ == "portrange")
		if err != nil {
			return p.errf(idt, "%s", err)
		}
		prim.PortLo, prim.PortHi = lo, hi
	case "proto":
		if prim.Dir != "" {
			return p.errf(idt, "\"proto\" takes no direction")
		}
		switch prim.Proto {
		case "", "ip", "ip6", "ether":
		default:
			return p.errf(idt, "%q does not go with \"proto\": want ip, ip6 or ether", prim.Proto)
		}
		v, err := protoNumber(id, prim.Proto == "ether")
		if err != nil {
			return p.errf(idt, "%s", err)
		}
		if prim.Proto != "ether" && v > 255 || v > 0xffff {
			return p.errf(idt, "protocol %d out of range", v)
		}
		prim.Num = v
	}
	return nil
}

func checkAddrProto(p *parser, prim *Prim, idt token, a netip.Addr) error {
	switch prim.Proto {
	case "":
		return nil
	case "ip", "arp", "rarp":
		if a.Is4() {
			return nil
		}
	case "ip6":
		if a.Is6() {
			return nil
		}
	default:
		return p.errf(idt, "%q does not go with %q", prim.Proto, prim.Type)
	}
	return p.errf(idt, "%q does not go with the address %s", prim.Proto, idt)
}

// network parses A/B, A mask M, or a partial IPv4 network (10, 10.1,
// 10.1.2), whose length is its octets'.
func (p *parser) network(idt token) (netip.Prefix, error) {
	id := idt.text
	if p.is("/") {
		p.next()
		lt := p.next()
		a, err := netip.ParseAddr(id)
		if err != nil {
			a, err = partialV4(id)
		}
		if err != nil {
			return netip.Prefix{}, p.errf(idt, "expected a network address, found %s", idt)
		}
		a = a.Unmap()
		n, err := strconv.Atoi(lt.text)
		if lt.kind != tWord || err != nil || n < 0 || n > a.BitLen() {
			return netip.Prefix{}, p.errf(lt, "expected a prefix length 0-%d, found %s", a.BitLen(), lt)
		}
		return checkHostBits(p, idt, netip.PrefixFrom(a, n), id+"/"+lt.text)
	}
	if p.is("mask") {
		p.next()
		mt := p.next()
		a, err := netip.ParseAddr(id)
		if err != nil || !a.Is4() {
			return netip.Prefix{}, p.errf(idt, "expected an IPv4 network before \"mask\", found %s", idt)
		}
		m, err := netip.ParseAddr(mt.text)
		if mt.kind != tWord || err != nil || !m.Is4() {
			return netip.Prefix{}, p.errf(mt, "expected an IPv4 mask, found %s", mt)
		}
		ones, bits := net.IPMask(m.AsSlice()).Size()
		if bits == 0 {
			return netip.Prefix{}, p.errf(mt, "mask %s is not contiguous", mt.text)
		}
		return checkHostBits(p, idt, netip.PrefixFrom(a, ones), id+" mask "+mt.text)
	}
	if a, err := netip.ParseAddr(id); err == nil {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	a, err := partialV4(id)
	if err != nil {
		return netip.Prefix{}, p.errf(idt, "expected a network, found %s", idt)
	}
	return netip.PrefixFrom(a, 8*(strings.Count(id, ".")+1)), nil
}

func checkHostBits(p *parser, idt token, pfx netip.Prefix, text string) (netip.Prefix, error) {
	if pfx.Masked() != pfx {
		return netip.Prefix{}, p.errf(idt, "non-network bits set in %q", text)
	}
	return pfx, nil
}

// partialV4 reads 1 to 3 dotted decimal octets as the start of an IPv4
// address.
func partialV4(s string) (netip.Addr, error) {
	parts := strings.Split(s, ".")
	if len(parts) > 3 {
		return netip.Addr{}, errors.New("not a partial address")
	}
	var b [4]byte
	for i, part := range parts {
		v, err := strconv.ParseUint(part, 10, 8)
		if err != nil {
			return netip.Addr{}, err
		}
		b[i] = byte(v)
	}
	return netip.AddrFrom4(b), nil
}

func parsePorts(id string, isRange bool) (lo, hi uint32, err error) {
	if !isRange {
		v, err := parseNum(id)
		if err != nil || v > 65535 {
			return 0, 0, fmt.Errorf("expected a port number 0-65535, found %q (port names are not looked up)", id)
		}
		return v, v, nil
	}
	a, b, ok := strings.Cut(id, "-")
	if !ok {
		return 0, 0, fmt.Errorf("expected a port range A-B, found %q", id)
	}
	lo, err1 := parseNum(a)
	hi, err2 := parseNum(b)
	if err1 != nil || err2 != nil || lo > 65535 || hi > 65535 {
		return 0, 0, fmt.Errorf("expected a port range A-B of numbers 0-65535, found %q", id)
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	return lo, hi, nil
}

var ipProtoNames = map[string]uint32{"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "icmp6": 58, "sctp": 132,
	"ah": 51, "esp": 50, "pim": 103, "vrrp": 112, "gre": 47}
var etherProtoNames = map[string]uint32{"ip": 0x800, "ip6": 0x86dd, "arp": 0x806, "rarp": 0x8035}

func protoNumber(id string, ether bool) (uint32, error) {
	if v, err := parseNum(id); err == nil {
		return v, nil
	}
	name := strings.TrimPrefix(id, "\\")
	names := ipProtoNames
	if ether {
		names = etherProtoNames
	}
	if v, ok := names[name]; ok {
		return v, nil
	}
	return 0, fmt.Errorf("expected a protocol number or name, found %q", id)
}

// parseNum reads a number as libpcap does: decimal, 0x hexadecimal, or
// octal with a leading 0; 32 bits.
func parseNum(s string) (uint32, error) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, errors.New("not a number")
	}
	base := 10
	digits := s
	switch {
	case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
		base, digits = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, digits = 8, s[1:]
	}
	v, err := strconv.ParseUint(digits, base, 32)
	if err != nil {
		return 0, err
	}
	return uint32(v), nil
}

// protoLoads are the protocols with a byte-offset form, proto[off:size].
var protoLoads = map[string]bool{"ether": true, "ip": true, "ip6": true, "arp": true, "rarp": true,
	"tcp": true, "udp": true, "sctp": true, "icmp": true, "icmp6": true, "igmp": true}

// arithNames are the constants pcap-filter names.
var arithNames = map[string]uint32{
	"tcpflags": 13, "tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08,
	"tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80,
	"icmptype": 0, "icmpcode": 1, "icmp6type": 0, "icmp6code": 1,
	"icmp-echoreply": 0, "icmp-unreach": 3, "icmp-sourcequench": 4, "icmp-redirect": 5,
	"icmp-echo": 8, "icmp-routeradvert": 9, "icmp-routersolicit": 10, "icmp-timxceed": 11,
	"icmp-paramprob": 12, "icmp-tstamp": 13, "icmp-tstampreply": 14, "icmp-ireq": 15,
	"icmp-ireqreply": 16, "icmp-maskreq": 17, "icmp-maskreply": 18,
	"icmp6-destinationunreach": 1, "icmp6-packettoobig": 2, "icmp6-timeexceeded": 3,
	"icmp6-parameterproblem": 4, "icmp6-echo": 128, "icmp6-echoreply": 129,
	"icmp6-routersolicit": 133, "icmp6-routeradvert": 134, "icmp6-neighborsolicit": 135,
	"icmp6-neighboradvert": 136, "icmp6-redirect": 137,
}

// relation: arith relop arith.
func (p *parser) relation() (Node, error) {
	start := p.peek()
	l, err := p.arith(0)
	if err != nil {
		return nil, err
	}
	op := p.next()
	if !relOps[op.text] {
		return nil, p.errf(op, "expected a comparison (>, <, >=, <=, =, !=), found %s", op)
	}
	r, err := p.arith(0)
	if err != nil {
		return nil, err
	}
	o := op.text
	if o == "==" {
		o = "="
	}
	p.last = nil
	return &Relation{Op: o, L: l, R: r, P: start.pos}, nil
}

// Binary arithmetic precedence, loosest first, as libpcap's grammar has
// it: |; &; << >>; + -; * / %; with ^ beside |.
var arithPrec = map[string]int{"|": 1, "^": 1, "&": 2, "<<": 3, ">>": 3, "+": 4, "-": 4, "*": 5, "/": 5, "%": 5}

func (p *parser) arith(minPrec int) (Arith, error) {
	left, err := p.arithUnary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		prec, ok := arithPrec[t.text]
		if t.kind != tOp || !ok || prec <= minPrec {
			return left, nil
		}
		p.next()
		right, err := p.arith(prec)
		if err != nil {
			return nil, err
		}
		left = &ArithBin{Op: t.text, L: left, R: right}
	}
}

func (p *parser) arithUnary() (Arith, error) {
	t := p.next()
	if err := p.enter(t); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	switch {
	case t.text == "-":
		x, err := p.arithUnary()
		if err != nil {
			return nil, err
		}
		return &Neg{X: x}, nil
	case t.text == "(":
		x, err := p.arith(0)
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.text != ")" {
			return nil, p.errf(c, "expected \")\", found %s", c)
		}
		return x, nil
	case t.kind != tWord:
		return nil, p.errf(t, "expected a number, len or proto[offset], found %s", t)
	case t.text == "len":
		return Len{}, nil
	case protoLoads[t.text] && p.is("["):
		p.next()
		off, err := p.arith(0)
		if err != nil {
			return nil, err
		}
		size := uint32(1)
		if p.is(":") {
			p.next()
			st := p.next()
			v, err := parseNum(st.text)
			if err != nil || v != 1 && v != 2 && v != 4 {
				return nil, p.errf(st, "expected a size of 1, 2 or 4, found %s", st)
			}
			size = v
		}
		if c := p.next(); c.text != "]" {
			return nil, p.errf(c, "expected \"]\", found %s", c)
		}
		return &Load{Proto: t.text, Off: off, Size: size}, nil
	}
	if v, ok := arithNames[t.text]; ok {
		return Num{V: v, Name: t.text}, nil
	}
	v, err := parseNum(t.text)
	if err != nil {
		return nil, p.errf(t, "expected a number, len or proto[offset], found %s", t)
	}
	return Num{V: v}, nil
}
