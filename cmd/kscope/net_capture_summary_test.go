package main

import (
	"encoding/binary"
	"strings"
	"testing"
)

// Frames for the summary tests, built byte by byte.
func ether(typ uint16, payload ...[]byte) []byte {
	b := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1}
	b = binary.BigEndian.AppendUint16(b, typ)
	for _, p := range payload {
		b = append(b, p...)
	}
	return b
}

func vlan(id, typ uint16) []byte {
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, id), typ)
}

func ipv4(proto byte, l4 []byte) []byte {
	b := []byte{0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}
	binary.BigEndian.PutUint16(b[2:], uint16(20+len(l4)))
	return append(b, l4...)
}

func ipv6(next byte, l4 []byte) []byte {
	b := make([]byte, 40)
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(len(l4)))
	b[6], b[7] = next, 64
	b[8], b[23] = 0xfd, 1
	b[24], b[39] = 0xfd, 2
	return append(b, l4...)
}

func tcp(flags byte, payload int) []byte {
	b := make([]byte, 20+payload)
	binary.BigEndian.PutUint16(b, 43210)
	binary.BigEndian.PutUint16(b[2:], 80)
	b[12], b[13] = 5<<4, flags
	return b
}

func udp(payload int) []byte {
	b := make([]byte, 8+payload)
	binary.BigEndian.PutUint16(b, 5353)
	binary.BigEndian.PutUint16(b[2:], 53)
	binary.BigEndian.PutUint16(b[4:], uint16(8+payload))
	return b
}

func arp(op uint16) []byte {
	b := []byte{0, 1, 8, 0, 6, 4, 0, 0, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2}
	binary.BigEndian.PutUint16(b[6:], op)
	return b
}

func TestSummarize(t *testing.T) {
	hopByHop := append([]byte{6, 0, 1, 4, 0, 0, 0, 0}, tcp(0x12, 0)...)
	frag := ipv4(protoUDP, udp(4))
	binary.BigEndian.PutUint16(frag[6:], 185)
	for _, c := range []struct {
		name  string
		frame []byte
		want  string
	}{
		{"tcp syn", ether(etherIPv4, ipv4(protoTCP, tcp(0x02, 0))), "IP 10.0.0.1.43210 > 10.0.0.2.80: Flags [S], length 0"},
		{"tcp push ack", ether(etherIPv4, ipv4(protoTCP, tcp(0x18, 100))), "IP 10.0.0.1.43210 > 10.0.0.2.80: Flags [P.], length 100"},
		{"tcp no flags", ether(etherIPv4, ipv4(protoTCP, tcp(0, 0))), "IP 10.0.0.1.43210 > 10.0.0.2.80: Flags [none], length 0"},
		{"udp", ether(etherIPv4, ipv4(protoUDP, udp(10))), "IP 10.0.0.1.5353 > 10.0.0.2.53: UDP, length 10"},
		{"icmp echo", ether(etherIPv4, ipv4(protoICMP, []byte{8, 0, 0, 0, 0, 1, 0, 1})), "IP 10.0.0.1 > 10.0.0.2: ICMP echo request, length 8"},
		{"icmp other", ether(etherIPv4, ipv4(protoICMP, []byte{42, 7, 0, 0})), "IP 10.0.0.1 > 10.0.0.2: ICMP type 42 code 7, length 4"},
		{"other proto", ether(etherIPv4, ipv4(47, make([]byte, 12))), "IP 10.0.0.1 > 10.0.0.2: ip-proto-47, length 12"},
		{"fragment", ether(etherIPv4, frag), "IP 10.0.0.1 > 10.0.0.2: ip-proto-17, fragment, length 12"},
		{"tcp6", ether(etherIPv6, ipv6(protoTCP, tcp(0x11, 3))), "IP6 fd00::1.43210 > fd00::2.80: Flags [F.], length 3"},
		{"tcp6 after hop-by-hop", ether(etherIPv6, ipv6(0, hopByHop)), "IP6 fd00::1.43210 > fd00::2.80: Flags [S.], length 0"},
		{"icmp6", ether(etherIPv6, ipv6(protoICMP6, []byte{135, 0, 0, 0, 0, 0, 0, 0})), "IP6 fd00::1 > fd00::2: ICMP6 neighbor solicitation, length 8"},
		{"vlan", ether(etherVLAN, vlan(100, etherIPv4), ipv4(protoUDP, udp(1))), "vlan 100, IP 10.0.0.1.5353 > 10.0.0.2.53: UDP, length 1"},
		{"qinq", ether(etherQinQ, vlan(7, etherVLAN), vlan(0x2064, etherARP), arp(1)), "vlan 7, vlan 100, ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 50"},
		{"arp reply", ether(etherARP, arp(2)), "ARP, Reply 10.0.0.1 is-at 02:00:00:00:00:01, length 42"},
		{"other ethertype", ether(0x88cc, make([]byte, 10)), "ethertype 0x88cc, length 24"},
		{"runt", []byte{1, 2, 3}, "length 3"},
		{"ip cut short", ether(etherIPv4, ipv4(protoTCP, tcp(2, 0))[:30]), "IP 10.0.0.1 > 10.0.0.2: tcp truncated, length 20"},
		{"ip header cut", ether(etherIPv4, []byte{0x45, 0}), "IP truncated, length 16"},
	} {
		if got := summarize(c.frame, len(c.frame)); got != c.want {
			t.Errorf("%s: got\n%q\nwant\n%q", c.name, got, c.want)
		}
	}
}

// FuzzSummarize: any bytes give a line, never a panic, and never a line
// break (the output is one line per packet).
func FuzzSummarize(f *testing.F) {
	f.Add(ether(etherIPv4, ipv4(protoTCP, tcp(0x02, 0))))
	f.Add(ether(etherIPv6, ipv6(0, append([]byte{6, 0, 1, 4, 0, 0, 0, 0}, tcp(0x12, 0)...))))
	f.Add(ether(etherQinQ, vlan(7, etherVLAN), vlan(100, etherARP), arp(1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := summarize(b, len(b))
		if s == "" || strings.ContainsAny(s, "\n\r") {
			t.Fatalf("summary %q", s)
		}
	})
}
