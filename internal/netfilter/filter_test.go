package netfilter

import (
	"net/netip"
	"strings"
	"testing"
)

const example = `filters:
  - name: edge
    interface: eth0
    hook: xdp                 # xdp | tc-ingress | tc-egress
    default: allow            # allow | drop
    mode: enforce             # enforce | audit
    rules:
      - {name: no-ssh-from-lab, action: drop, source: [10.1.0.0/16], protocol: tcp, ports: [22]}
      - {name: dns-flood, action: rate-limit, protocol: udp, ports: [53], rate: 1000/s, burst: 200}
      - {name: api, action: allow, destination: [192.0.2.10/32], protocol: tcp, ports: [8000-8999]}
`

func TestParseExample(t *testing.T) {
	fs, err := Parse("f.yaml", []byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 {
		t.Fatalf("got %d filters", len(fs))
	}
	f := fs[0]
	if f.Name != "edge" || f.Interface != "eth0" || f.Hook != "xdp" || f.Default != "allow" || f.Mode != "enforce" || len(f.Rules) != 3 {
		t.Fatalf("filter %+v", f)
	}
	r := f.Rules[0]
	if r.Name != "no-ssh-from-lab" || r.Action != ActionDrop || r.Protocol != 6 || len(r.Ports) != 1 || r.Ports[0] != (PortRange{22, 22}) ||
		len(r.Source) != 1 || r.Source[0] != netip.MustParsePrefix("10.1.0.0/16") || r.Pos.Line != 8 {
		t.Fatalf("rule 0 %+v", r)
	}
	r = f.Rules[1]
	if r.Action != ActionRateLimit || r.Rate != 1000 || r.Burst != 200 || r.Protocol != 17 {
		t.Fatalf("rule 1 %+v", r)
	}
	r = f.Rules[2]
	if r.Ports[0] != (PortRange{8000, 8999}) || r.Destination[0] != netip.MustParsePrefix("192.0.2.10/32") {
		t.Fatalf("rule 2 %+v", r)
	}
	c := Compile(f)
	if c.Rules[1].IntervalNs != 1_000_000 || c.Rules[1].ToleranceNs != 200_000_000 {
		t.Fatalf("compiled rate %+v", c.Rules[1])
	}
}

func TestParseDefaults(t *testing.T) {
	fs, err := Parse("f.yaml", []byte("filters:\n  - name: a\n    interface: lo\n    rules:\n      - action: rate-limit\n        rate: 10/s\n"))
	if err != nil {
		t.Fatal(err)
	}
	f := fs[0]
	if f.Hook != "xdp" || f.Default != "allow" || f.Mode != "enforce" || f.Rules[0].Name != "rule-1" || f.Rules[0].Burst != 10 || f.Rules[0].Protocol != -1 {
		t.Fatalf("%+v %+v", f, f.Rules[0])
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "f.yaml: empty filter file"},
		{"filters: [", "f.yaml:1:1: invalid YAML"},
		{"rules: []", `f.yaml:1:1: unknown key "rules"`},
		{"filters:\n  - interface: lo\n", `f.yaml:2:5: filter: missing key "name"`},
		{"filters:\n  - name: a b\n    interface: lo\n", `f.yaml:2:11: name: "a b": want`},
		{"filters:\n  - name: a\n    interface: lo\n    hook: tc\n", `f.yaml:4:11: hook: "tc" is not one of xdp, tc-ingress, tc-egress`},
		{"filters:\n  - name: a\n    interface: lo\n    mode: dry\n", `f.yaml:4:11: mode: "dry" is not one of enforce, audit`},
		{"filters:\n  - name: a\n    interface: lo\n    default: deny\n", `f.yaml:4:14: default: "deny" is not one of allow, drop`},
		{"filters:\n  - name: a\n    interface: lo\n    rules:\n      - {action: block}\n", `f.yaml:5:18: action: "block" is not one of drop, allow, rate-limit`},
		{"filters:\n  - name: a\n    interface: lo\n    rules:\n      - {action: drop, source: [10.0.0.1/8]}\n", `f.yaml:5:33: source: "10.0.0.1/8" has host bits set (did you mean 10.0.0.0/8?)`},
		{"filters:\n  - name: a\n    interface: lo\n    rules:\n      - {action: drop, destination: [nope]}\n", `f.yaml:5:38: destination: "nope" is not an address or CIDR`},
		{"filters:\n  - name: a\n    interface: lo\n    rules:\n      - {action: drop, ports: [70000]}\n", `f.yaml:5:32: ports: "70000" is not a port`},
		{"filters:\n  - name: a\n    interface: lo\n    rules:\n      - {action: drop, ports: [90-80]}\n", `f.yaml:5:32: ports: "90-80": the range ends before it starts`},
		{"filters:\n  - name: a\n    interface: lo\n    rules:\n      - {action: drop, protocol: icmp, ports: [1]}\n", `f.yaml:5:47: ports: protocol 1 has no ports`},
		{"filters:\n  - name: a\n    interface: lo\n    rules:\n      - {action: drop, protocol: gre}\n", `f.yaml:5:34: protocol: "gre" is not tcp`},
		{"filters:\n  - name: a\n    interface: lo\n    rules:\n      - {action: rate-limit}\n", `f.yaml:5:9: rule "rule-1": a rate-limit rule needs a rate`},
		{"filters:\n  - name: a\n    interface: lo\n    rules:\n      - {action: rate-limit, rate: 5/m}\n", `f.yaml:5:36: rate: "5/m": want packets per second`},
		{"filters:\n  - name: a\n    interface: lo\n    rules:\n      - {action: drop, rate: 5/s}\n", `f.yaml:5:30: rate: only a rate-limit rule has a rate`},
		{"filters:\n  - name: a\n    interface: lo\n    rules:\n      - {action: rate-limit, rate: 5/s, burst: 0}\n", `f.yaml:5:48: burst: "0": want a number of packets`},
		{"filters:\n  - name: a\n    interface: lo\n    rules:\n      - {name: x, action: drop}\n      - {name: x, action: drop}\n", `f.yaml:6:9: rule "x": the name is used twice in filter "a"`},
		{"filters:\n  - name: a\n    interface: lo\n  - name: a\n    interface: eth0\n", `f.yaml:4:5: filter "a": the name is used twice`},
		{"filters:\n  - name: a\n    interface: lo\n  - name: b\n    interface: lo\n", `f.yaml:4:5: filter "b": xdp on lo is filter "a"'s already`},
		{"filters:\n  - name: a\n    interface: lo\n    colour: red\n", `f.yaml:4:5: filter: unknown key "colour"`},
		{"filters:\n  - name: a\n    interface: lo\n    rules:\n      - {action: drop, source: []}\n", `f.yaml:5:32: source: the list is empty`},
		{"filters:\n  - name: a\n    interface: lo\n    rules:\n      - {name: default, action: drop}\n", `f.yaml:5:16: name: "default" names the counters`},
		{"filters:\n  - name: a.b\n    interface: lo\n", `f.yaml:2:11: name: "a.b": want 1-63 letters, digits, '_' or '-'`},
	} {
		_, err := Parse("f.yaml", []byte(tc.in))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Parse(%q):\n got %v\nwant %s…", tc.in, err, tc.want)
		}
	}
}

func TestParseTooManyRules(t *testing.T) {
	var b strings.Builder
	b.WriteString("filters:\n  - name: a\n    interface: lo\n    rules:\n")
	for i := 0; i <= MaxRules; i++ {
		b.WriteString("      - {action: drop}\n")
	}
	if _, err := Parse("f.yaml", []byte(b.String())); err == nil || !strings.Contains(err.Error(), "f.yaml:5:7: rules: 1025 rules, at most 1024") {
		t.Fatalf("got %v", err)
	}
}

func TestRangeBlocks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi uint16
		n      int
	}{{22, 22, 1}, {0, 65535, 1}, {8000, 8999, 6}, {1, 65535, 16}, {1024, 2047, 1}, {65535, 65535, 1}} {
		bs := rangeBlocks(tc.lo, tc.hi)
		if len(bs) != tc.n {
			t.Errorf("%d-%d: %d blocks %v, want %d", tc.lo, tc.hi, len(bs), bs, tc.n)
		}
		next := uint32(tc.lo)
		for _, b := range bs {
			if uint32(b.port) != next {
				t.Fatalf("%d-%d: gap at %d: %v", tc.lo, tc.hi, next, bs)
			}
			next += 1 << (24 - (8 + b.bits))
		}
		if next != uint32(tc.hi)+1 {
			t.Fatalf("%d-%d: ends at %d", tc.lo, tc.hi, next)
		}
	}
}

// TestMatch checks the compiled tables against the rules' meaning, packet
// by packet, on the example plus IPv6 and overlapping prefixes.
func TestMatch(t *testing.T) {
	fs, err := Parse("f.yaml", []byte(`filters:
  - name: a
    interface: lo
    rules:
      - {name: r0, action: drop, source: [10.1.0.0/16], protocol: tcp, ports: [22]}
      - {name: r1, action: allow, source: [10.1.2.0/24]}
      - {name: r2, action: drop, source: [10.0.0.0/8, "2001:db8::/32"], ports: [53, 1000-2000]}
      - {name: r3, action: rate-limit, rate: 5/s, destination: ["2001:db8:1::/48"], protocol: icmpv6}
      - {name: r4, action: allow, protocol: 132}
      - {name: r5, action: drop, destination: ["::ffff:192.0.2.0/120"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	f := fs[0]
	tb := Compile(f)
	a := netip.MustParseAddr
	for _, tc := range []struct {
		p    Packet
		want int
	}{
		{Packet{a("10.1.2.3"), a("10.9.9.9"), 6, 22, true}, 0},
		{Packet{a("10.1.2.3"), a("10.9.9.9"), 6, 23, true}, 1},
		{Packet{a("10.1.3.3"), a("10.9.9.9"), 17, 53, true}, 2},
		{Packet{a("10.1.3.3"), a("10.9.9.9"), 17, 1500, true}, 2},
		{Packet{a("10.1.3.3"), a("10.9.9.9"), 17, 2001, true}, -1},
		{Packet{a("10.1.3.3"), a("10.9.9.9"), 6, 0, false}, -1},
		{Packet{a("2001:db8::1"), a("2001:db8:1::1"), 17, 53, true}, 2},
		{Packet{a("2001:db9::1"), a("2001:db8:1::1"), 58, 0, false}, 3},
		{Packet{a("1.1.1.1"), a("2.2.2.2"), 132, 9, true}, 4},
		{Packet{a("1.1.1.1"), a("192.0.2.7"), 1, 0, false}, 5},
		{Packet{a("1.1.1.1"), a("192.0.3.7"), 1, 0, false}, -1},
		{Packet{a("::ffff:1.1.1.1"), a("::ffff:192.0.2.7"), 1, 0, false}, -1},
	} {
		if got := tb.Match(tc.p); got != tc.want {
			t.Errorf("%+v: tables say %d, want %d", tc.p, got, tc.want)
		}
		if got := First(f, tc.p); got != tc.want {
			t.Errorf("%+v: rules say %d, want %d", tc.p, got, tc.want)
		}
	}
}

// FuzzCompile parses arbitrary files and, for each filter that parses,
// checks that the compiled tables pick the same rule as the rules' meaning
// for packets made from the fuzzer's bytes and from the rules' own edges.
func FuzzCompile(f *testing.F) {
	f.Add([]byte(example), []byte{10, 1, 2, 3, 192, 0, 2, 10, 6, 0, 22})
	f.Add([]byte("filters:\n  - name: a\n    interface: lo\n    rules:\n      - {action: drop, source: [\"2001:db8::/33\", 10.128.0.0/9], ports: [1-1023]}\n      - {action: allow, protocol: udp}\n"), []byte{0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 17, 3, 255})
	f.Add([]byte("filters:\n  - name: a\n    interface: lo\n    default: drop\n    rules:\n      - {action: allow, destination: [::/0]}\n"), []byte{1})
	f.Fuzz(func(t *testing.T, file, pkt []byte) {
		fs, err := Parse("fuzz.yaml", file)
		if err != nil {
			if _, ok := err.(Errors); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		for _, fl := range fs {
			if len(fl.Rules) > MaxRules {
				t.Fatalf("%d rules passed", len(fl.Rules))
			}
			tb := Compile(fl)
			for _, p := range packets(fl, pkt) {
				if got, want := tb.Match(p), First(fl, p); got != want {
					t.Fatalf("%+v: tables pick rule %d, the rules %d", p, got, want)
				}
			}
		}
	})
}

// packets makes test packets from raw bytes and from each rule's edges.
func packets(f *Filter, raw []byte) []Packet {
	var out []Packet
	get := func(i int) byte {
		if len(raw) == 0 {
			return 0
		}
		return raw[i%len(raw)]
	}
	var a4 [4]byte
	var a16 [16]byte
	for i := range a4 {
		a4[i] = get(i)
	}
	for i := range a16 {
		a16[i] = get(i)
	}
	port := uint16(get(17))<<8 | uint16(get(18))
	for _, proto := range []uint8{get(16), 6, 17, 1, 58} {
		out = append(out,
			Packet{netip.AddrFrom4(a4), netip.AddrFrom4(a4), proto, port, proto == 6 || proto == 17},
			Packet{netip.AddrFrom16(a16), netip.AddrFrom16(a16), proto, port, proto == 6 || proto == 17 || proto == 132})
	}
	for _, r := range f.Rules {
		for _, pf := range append(append([]netip.Prefix{}, r.Source...), r.Destination...) {
			first := pf.Masked().Addr()
			last := lastAddr(pf)
			for _, ad := range []netip.Addr{first, last, first.Prev(), last.Next()} {
				if !ad.IsValid() {
					continue
				}
				for _, pr := range r.Ports {
					for _, pt := range []uint16{pr.Lo, pr.Hi, pr.Lo - 1, pr.Hi + 1} {
						out = append(out, Packet{ad, ad, 6, pt, true}, Packet{ad, ad, 17, pt, true})
					}
				}
				out = append(out, Packet{ad, ad, 1, 0, false}, Packet{ad, ad, 6, port, true})
			}
		}
	}
	return out
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
