package netfilter

import (
	"net/netip"
	"strings"
	"testing"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

var ephemeral = PortRange{32768, 60999}

// TestSuggest checks the rules suggested for flows each way, on ingress
// and egress, and that the file parses back to the same rules.
func TestSuggest(t *testing.T) {
	flows := []SeenFlow{
		// Served: a peer connected to local port 8080, twice.
		{Proto: "tcp", Local: ap("10.0.0.2:8080"), Remote: ap("10.0.0.1:40000"), Direction: "in", PID: 7, Comm: "server", Bytes: 100},
		{Proto: "tcp", Local: ap("10.0.0.2:8080"), Remote: ap("10.0.0.1:40002"), Direction: "in", PID: 7, Comm: "server", Bytes: 50},
		// The host asked a resolver: replies come to an ephemeral port.
		{Proto: "udp", Local: ap("10.0.0.2:50000"), Remote: ap("10.0.0.53:53"), Direction: "out", PID: 9, Comm: "dig", Bytes: 80},
		// A client bound to a fixed port outside the ephemeral range.
		{Proto: "udp", Local: ap("10.0.0.2:123"), Remote: ap("10.0.0.9:123"), Direction: "out", PID: 11, Comm: "ntpd", Bytes: 96},
		// Direction not seen: the lower port is the server's.
		{Proto: "tcp", Local: ap("10.0.0.2:22"), Remote: ap("[2001:db8::7]:51000"), Comm: "sshd", Bytes: 10},
		// A mapped IPv4 peer is the IPv4 address.
		{Proto: "tcp", Local: ap("[::ffff:10.0.0.2]:8080"), Remote: ap("[::ffff:10.0.0.3]:41000"), Direction: "in", PID: 8, Comm: "server", Bytes: 5},
		// Not TCP or UDP: ignored.
		{Proto: "icmp", Local: ap("10.0.0.2:0"), Remote: ap("10.0.0.1:0")},
	}
	for _, tc := range []struct {
		hook string
		want []string // name peers proto ports
	}{
		{"xdp", []string{
			"tcp-22-from-2001_db8__7 [2001:db8::7/128] tcp 22",
			"tcp-8080-from-10.0.0.1 [10.0.0.1/32] tcp 8080",
			"tcp-8080-from-10.0.0.3 [10.0.0.3/32] tcp 8080",
			"udp-123-from-10.0.0.9 [10.0.0.9/32] udp 123",
			"udp-32768-60999-from-10.0.0.53 [10.0.0.53/32] udp 32768-60999",
		}},
		{"tc-egress", []string{
			"tcp-1024-65535-to-10.0.0.1 [10.0.0.1/32] tcp 1024-65535",
			"tcp-1024-65535-to-10.0.0.3 [10.0.0.3/32] tcp 1024-65535",
			"tcp-1024-65535-to-2001_db8__7 [2001:db8::7/128] tcp 1024-65535",
			"udp-53-to-10.0.0.53 [10.0.0.53/32] udp 53",
			"udp-123-to-10.0.0.9 [10.0.0.9/32] udp 123",
		}},
	} {
		t.Run(tc.hook, func(t *testing.T) {
			s := Suggest(flows, SuggestOptions{Name: "suggested", Interface: "eth0", Hook: tc.hook, Ephemeral: ephemeral, Header: []string{"a header"}})
			if s.Flows != 6 || s.OmittedFlows != 0 || !s.IPv6 {
				t.Errorf("flows %d, omitted %d, ipv6 %v", s.Flows, s.OmittedFlows, s.IPv6)
			}
			data := s.YAML()
			fs, err := Parse("suggested.yaml", data)
			if err != nil {
				t.Fatalf("%v\n%s", err, data)
			}
			f := fs[0]
			if f.Name != "suggested" || f.Interface != "eth0" || f.Hook != tc.hook || f.Default != "drop" || f.Mode != "audit" {
				t.Errorf("filter %+v", f)
			}
			var got []string
			for _, r := range f.Rules {
				peers := r.Source
				if tc.hook == "tc-egress" {
					peers = r.Destination
					if len(r.Source) != 0 {
						t.Errorf("rule %s has a source", r.Name)
					}
				} else if len(r.Destination) != 0 {
					t.Errorf("rule %s has a destination", r.Name)
				}
				if r.Action != ActionAllow {
					t.Errorf("rule %s: %s", r.Name, r.Action)
				}
				var ports []string
				for _, p := range r.Ports {
					ports = append(ports, p.String())
				}
				proto := map[int]string{6: "tcp", 17: "udp", 58: "icmpv6"}[r.Protocol]
				got = append(got, strings.TrimSpace(r.Name+" "+strings.Trim(strings.Join([]string{fmtPrefixes(peers), proto, strings.Join(ports, ",")}, " "), " ")))
			}
			want := append(tc.want, "icmpv6 [] icmpv6")
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("rules:\n%s\nwant:\n%s\nfile:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), data)
			}
			if !strings.HasPrefix(string(data), "# a header\nfilters:\n") {
				t.Errorf("file:\n%s", data)
			}
		})
	}
	s := Suggest(flows, SuggestOptions{Name: "s", Interface: "eth0", Hook: "xdp", Ephemeral: ephemeral})
	for _, want := range []string{
		"      # server (pid 7): 2 flows, 150 bytes; connections to local port 8080\n      - {name: tcp-8080-from-10.0.0.1, action: allow, source: [10.0.0.1/32], protocol: tcp, ports: [8080]}\n",
		"      # dig (pid 9): 1 flow, 80 bytes; replies to connections to port 53\n      - {name: udp-32768-60999-from-10.0.0.53, action: allow, source: [10.0.0.53/32], protocol: udp, ports: [32768-60999]}\n",
		"      # sshd: 1 flow, 10 bytes; connections to local port 22\n      - {name: tcp-22-from-2001_db8__7, action: allow, source: [\"2001:db8::7/128\"], protocol: tcp, ports: [22]}\n",
	} {
		if !strings.Contains(string(s.YAML()), want) {
			t.Errorf("file lacks\n%s\nfile:\n%s", want, s.YAML())
		}
	}
}

func fmtPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

// TestSuggestBounds: many peers of one port make one rule listing them;
// beyond MaxSources and MaxRules the least traffic is left out, counted.
func TestSuggestBounds(t *testing.T) {
	var flows []SeenFlow
	for i := range 40 {
		flows = append(flows, SeenFlow{Proto: "tcp", Local: ap("10.0.0.2:443"), Remote: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}), 40000), Direction: "in", Comm: "nginx", PID: 1, Bytes: uint64(100 + i)})
	}
	flows = append(flows, SeenFlow{Proto: "tcp", Local: ap("10.0.0.2:22"), Remote: ap("10.9.0.1:40000"), Direction: "in", Comm: "sshd", PID: 2, Bytes: 1})
	s := Suggest(flows, SuggestOptions{Name: "s", Interface: "eth0", Hook: "xdp", Ephemeral: ephemeral, MaxPeers: 16})
	if len(s.Rules) != 2 || s.Rules[1].Name != "tcp-443-from-40-peers" || len(s.Rules[1].Peers) != 40 || s.Rules[0].Name != "tcp-22-from-10.9.0.1" {
		t.Fatalf("rules %+v", s.Rules)
	}
	if s.Rules[1].Peers[0] != netip.MustParsePrefix("10.1.0.0/32") || s.Rules[1].Flows != 40 {
		t.Errorf("merged rule %+v", s.Rules[1])
	}
	if _, err := Parse("f", s.YAML()); err != nil {
		t.Fatal(err)
	}

	// MaxSources: the quietest peer (sshd's, 1 byte) goes.
	s = Suggest(flows, SuggestOptions{Name: "s", Interface: "eth0", Hook: "xdp", Ephemeral: ephemeral, MaxSources: 40})
	if len(s.Rules) != 40 || s.OmittedFlows != 1 || s.Flows != 40 {
		t.Errorf("max sources: %d rules, %d flows, %d omitted", len(s.Rules), s.Flows, s.OmittedFlows)
	}

	// MaxRules: one rule per port, 1,100 ports.
	flows = flows[:0]
	for i := range MaxRules + 76 {
		flows = append(flows, SeenFlow{Proto: "udp", Local: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), uint16(1000+i)), Remote: ap("10.0.0.1:50000"), Direction: "in", Bytes: uint64(1 + i)})
	}
	s = Suggest(flows, SuggestOptions{Name: "s", Interface: "eth0", Hook: "xdp", Ephemeral: ephemeral})
	if len(s.Rules) != MaxRules || s.OmittedFlows != 76 || s.Rules[0].Ports.Lo != 1076 {
		t.Errorf("max rules: %d rules, %d omitted, first %v", len(s.Rules), s.OmittedFlows, s.Rules[0].Ports)
	}
	if _, err := Parse("f", s.YAML()); err != nil {
		t.Fatal(err)
	}
}

// FuzzSuggest: whatever the processes are called and whatever the
// interface, the file parses and holds the rules suggested.
func FuzzSuggest(f *testing.F) {
	f.Add("curl", "eth0", "xdp", uint16(443), uint16(40000), []byte{10, 0, 0, 1}, "out")
	f.Add("a\nfilters: []", "br-1", "tc-egress", uint16(53), uint16(53), []byte{0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, "")
	f.Add("#x", "lo", "tc-ingress", uint16(0), uint16(65535), []byte{127, 0, 0, 1}, "in")
	f.Fuzz(func(t *testing.T, comm, iface, hook string, lport, rport uint16, raddr []byte, dir string) {
		if len(raddr) != 4 && len(raddr) != 16 {
			return
		}
		if hook != "tc-egress" && hook != "tc-ingress" {
			hook = "xdp"
		}
		if iface == "" || len(iface) > 15 || !utf8Valid(iface) || strings.ContainsAny(iface, "/ \t\n") || iface == "." || iface == ".." {
			return
		}
		ra, _ := netip.AddrFromSlice(raddr)
		flows := []SeenFlow{
			{Proto: "tcp", Local: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), lport), Remote: netip.AddrPortFrom(ra, rport), Direction: dir, Comm: comm, PID: 3},
			{Proto: "udp", Local: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), rport), Remote: netip.AddrPortFrom(ra, lport), Direction: dir, Comm: comm},
		}
		s := Suggest(flows, SuggestOptions{Name: "suggested", Interface: iface, Hook: hook, Ephemeral: ephemeral, Header: []string{comm}})
		fs, err := Parse("f", s.YAML())
		if err != nil {
			t.Fatalf("%v\n%s", err, s.YAML())
		}
		if len(fs) != 1 || fs[0].Interface != iface || fs[0].Hook != hook {
			t.Fatalf("parsed %+v\n%s", fs, s.YAML())
		}
		want := len(s.Rules)
		if s.IPv6 {
			want++
		}
		if len(fs[0].Rules) != want || want < 2 {
			t.Fatalf("%d rules, want %d\n%s", len(fs[0].Rules), want, s.YAML())
		}
	})
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "") == s }
