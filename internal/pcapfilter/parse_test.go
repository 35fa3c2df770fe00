package pcapfilter

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "<nil>"},
		{"tcp", "tcp"},
		{"host 10.0.0.1", "host 10.0.0.1"},
		{"src host 10.0.0.1", "src host 10.0.0.1"},
		{"ip dst 10.0.0.1", "ip dst host 10.0.0.1"},
		{"src or dst host ::1", "src or dst host ::1"},
		{"src and dst net 10.0.0.0/8", "src and dst net 10.0.0.0/8"},
		{"net 10", "net 10.0.0.0/8"},
		{"net 172.16", "net 172.16.0.0/16"},
		{"net 192.168.0.0 mask 255.255.0.0", "net 192.168.0.0/16"},
		{"ip6 net 2001:db8::/32", "ip6 net 2001:db8::/32"},
		{"port 80 or 443", "(port 80 or port 443)"},
		{"tcp dst port 80 or 443", "(tcp dst port 80 or tcp dst port 443)"},
		{"host 1.2.3.4 and not 5.6.7.8", "(host 1.2.3.4 and (not host 5.6.7.8))"},
		{"portrange 6000-6010", "portrange 6000-6010"},
		{"udp src 53", "udp src port 53"},
		{"a or b", ""},
		{"tcp or udp and port 53", "((tcp or udp) and port 53)"},
		{"tcp or (udp and port 53)", "(tcp or (udp and port 53))"},
		{"!tcp && !(udp || icmp)", "((not tcp) and (not (udp or icmp)))"},
		{"proto 17", "proto 17"},
		{"ip proto \\tcp", "ip proto 6"},
		{"ether proto \\arp", "ether proto 2054"},
		{"ether host 02:00:00:00:00:01", "ether host 02:00:00:00:00:01"},
		{"ether src 02:00:00:00:00:01", "ether src host 02:00:00:00:00:01"},
		{"less 100", "less 100"},
		{"greater 0x40", "greater 64"},
		{"tcp[tcpflags] & (tcp-syn|tcp-ack) != 0", "(tcp[tcpflags:1] & (tcp-syn | tcp-ack)) != 0"},
		{"tcp[13] == 2", "tcp[13:1] = 2"},
		{"ip[2:2] > 576", "ip[2:2] > 576"},
		{"len - 14 > 100", "(len - 14) > 100"},
		{"1 + 2 * 3 = 7", "(1 + (2 * 3)) = 7"},
		{"(tcp[13] & 2) != 0 and port 80", "((tcp[13:1] & 2) != 0 and port 80)"},
		{"-1 = 0xffffffff", "(-1) = 4294967295"},
		{"icmp[icmptype] = icmp-echo", "icmp[icmptype:1] = icmp-echo"},
		{"ip[ip[0] & 0xf] = 1", "ip[(ip[0:1] & 15):1] = 1"},
		{"010 = 8", "8 = 8"},
	} {
		n, err := Parse(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("Parse(%q) = %v, want an error", tc.in, n)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		got := "<nil>"
		if n != nil {
			got = n.String()
		}
		if got != tc.want {
			t.Errorf("Parse(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"port", "filter:5: expected a port number, found end of filter"},
		{"port http", "filter:6: expected a port number 0-65535, found \"http\" (port names are not looked up)"},
		{"host example.com", "filter:6: expected an IPv4 or IPv6 address, found \"example.com\" (host names are not looked up)"},
		{"tcp and", "filter:8: expected a primitive, found end of filter"},
		{"(tcp", "filter:5: expected \")\", found end of filter"},
		{"tcp)", "filter:4: expected and, or or the end of the filter, found \")\""},
		{"tcp host 1.2.3.4", "filter:10: \"tcp\" does not go with \"host\""},
		{"ip6 host 1.2.3.4", "filter:10: \"ip6\" does not go with the address \"1.2.3.4\""},
		{"ip port 80", "filter:9: \"ip\" does not go with \"port\": want tcp, udp or sctp"},
		{"net 10.0.0.1/8", "filter:5: non-network bits set in \"10.0.0.1/8\""},
		{"net 10.0.0.0/33", "filter:14: expected a prefix length 0-32, found \"33\""},
		{"tcp[0:3] = 1", "filter:7: expected a size of 1, 2 or 4, found \"3\""},
		{"tcp[0] / 0 = 1", "filter:1: division by zero"},
		{"tcp[0] << 32 = 1", "filter:1: shift by more than 31 bits"},
		{"tcp[0] = ", "filter:10: expected a number, len or proto[offset], found end of filter"},
		{"tcp # 1", "filter:5: unexpected character '#'"},
		{"ether", "filter:1: expected host, src, dst or proto after \"ether\""},
		{"80", "filter:1: expected a primitive (host, net, port, a protocol, …), found \"80\""},
		{strings.Repeat("(", 60) + "tcp" + strings.Repeat(")", 60), "filter:49: filter nested deeper than 48 levels"},
	} {
		_, err := Parse(tc.in)
		if tc.in == "tcp[0] / 0 = 1" || tc.in == "tcp[0] << 32 = 1" {
			_, err = Compile(tc.in, acceptRet, rejectRet)
		}
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q) = %v, want *Error %q", tc.in, err, tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("Parse(%q):\n got %s\nwant %s", tc.in, err, tc.want)
		}
	}
}
