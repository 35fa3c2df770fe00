package pcapfilter

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/kscope/kscope/internal/testutil"
)

var (
	acceptRet = asm.Instructions{asm.Mov.Imm(asm.R0, 1), asm.Return()}
	rejectRet = asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}
)

// load compiles a filter into a sched_cls program returning 1 for a packet
// it accepts and 0 otherwise.
func load(t testing.TB, n Node) (*ebpf.Program, error) {
	t.Helper()
	insns, err := Instructions(n, acceptRet, rejectRet)
	if err != nil {
		return nil, err
	}
	return ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SchedCLS, License: "GPL", Instructions: insns})
}

func run(t testing.TB, prog *ebpf.Program, pkt []byte) bool {
	t.Helper()
	ret, err := prog.Run(&ebpf.RunOptions{Data: pkt})
	if err != nil {
		t.Fatalf("running the filter on %d bytes: %v", len(pkt), err)
	}
	return ret == 1
}

// diffFilters are checked against tcpdump.
var diffFilters = []string{
	"", "tcp", "udp", "icmp", "icmp6", "ip", "ip6", "arp", "rarp", "sctp",
	"host 10.0.0.1", "src host 10.0.0.1", "dst host 10.0.0.2", "ip host 10.0.0.1", "arp host 10.0.0.1",
	"src and dst net 10.0.0.0/8", "net 10", "net 192.168.1.0/24", "net 192.168.0.0 mask 255.255.0.0",
	"net 0.0.0.0/0", "not net 10.0.0.0/8", "host 2001:db8::1", "ip6 src net 2001:db8::/32",
	"dst net 2001:db8:0:1::/64", "ip6 net ::/0",
	"port 80", "tcp port 80", "udp port 53", "src port 12345", "dst port 443 or 22",
	"portrange 1-1024", "tcp dst portrange 20-25", "sctp port 9", "port 80 or 443 or 53",
	"tcp and not port 22", "udp or icmp and host 10.0.0.2", "(udp or icmp) and host 10.0.0.2",
	"tcp[tcpflags] & (tcp-syn|tcp-ack) != 0", "tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack = 0",
	"tcp[13] = 18", "ip[0] & 0xf != 5", "ip[6:2] & 0x3fff != 0", "ip[2:2] > 100", "len > 100", "len <= 60",
	"less 64", "greater 200", "len - 14 > 50", "icmp[icmptype] = icmp-echo", "icmp[0] = 0 or icmp[0] = 3",
	"icmp6[icmp6type] = icmp6-echo", "udp[0:2] = 53 or udp[2:2] = 53", "tcp[12] >> 4 > 5",
	"ether[0] & 1 = 1", "ether host 02:00:00:00:00:01", "ether src 02:00:00:00:00:02", "ether proto 0x806",
	"ether dst ff:ff:ff:ff:ff:ff", "proto 17", "ip proto 1", "ip6 proto 58", "ip proto \\tcp",
	"ip[ip[0] & 0xf] = 0", "tcp[(tcp[12] >> 4) * 4 - 1] = 0", "ip[3] % 7 = 2", "ip[3] / ip[1] = 0",
	"ip[2:2] * 3 - 1 > 200", "ip[4:2] ^ ip[2:2] > 1000", "ip[3] << ip[1] > 100", "-ip[3] < 4294967200",
	"ip[100] = 0", "not ip[100] = 0", "arp[6:2] = 1", "ip6[6] = 17", "udp[8:4] = 0x01020304",
	"not (tcp or udp)", "!tcp && !udp || arp", "host 10.0.0.1 and (port 80 or 443)",
}

// packets builds the varied frames the differential test filters: TCP,
// UDP, ICMP, SCTP over IPv4 (with options and fragments) and IPv6 (with a
// fragment header), ARP, truncated frames and random ones.
func packets() [][]byte {
	var out [][]byte
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	ser := func(ls ...gopacket.SerializableLayer) {
		buf := gopacket.NewSerializeBuffer()
		for _, l := range ls {
			if nl, ok := l.(interface {
				SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
			}); ok {
				for _, n := range ls {
					if ip, ok := n.(gopacket.NetworkLayer); ok {
						_ = nl.SetNetworkLayerForChecksum(ip)
					}
				}
			}
		}
		if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
			panic(err)
		}
		out = append(out, append([]byte(nil), buf.Bytes()...))
	}
	macs := []net.HardwareAddr{{2, 0, 0, 0, 0, 1}, {2, 0, 0, 0, 0, 2}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	eth := func(t layers.EthernetType, i int) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: macs[i%2], DstMAC: macs[(i+1)%3], EthernetType: t}
	}
	v4 := []string{"10.0.0.1", "10.0.0.2", "192.168.1.5", "192.168.7.1", "1.2.3.4"}
	v6 := []string{"2001:db8::1", "2001:db8:0:1::2", "fe80::1", "::1"}
	ports := []uint16{80, 443, 22, 53, 12345, 9, 1024, 25}
	flags := []func(*layers.TCP){
		func(t *layers.TCP) { t.SYN = true },
		func(t *layers.TCP) { t.SYN, t.ACK = true, true },
		func(t *layers.TCP) { t.ACK = true },
		func(t *layers.TCP) { t.RST = true },
		func(t *layers.TCP) { t.FIN, t.ACK = true, true },
		func(t *layers.TCP) { t.PSH, t.ACK = true, true },
	}
	i := 0
	for si, s := range v4 {
		for di, d := range v4 {
			if si == di {
				continue
			}
			i++
			ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: net.ParseIP(s), DstIP: net.ParseIP(d), Id: uint16(i)}
			if i%5 == 0 {
				ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
			}
			tcp := &layers.TCP{SrcPort: layers.TCPPort(ports[i%8]), DstPort: layers.TCPPort(ports[(i*3+1)%8]), Window: 100}
			flags[i%len(flags)](tcp)
			ip.Protocol = layers.IPProtocolTCP
			ser(eth(layers.EthernetTypeIPv4, i), ip, tcp, gopacket.Payload(bytes.Repeat([]byte{byte(i)}, i*7%150)))
			ip2 := *ip
			ip2.Protocol = layers.IPProtocolUDP
			ser(eth(layers.EthernetTypeIPv4, i), &ip2, &layers.UDP{SrcPort: layers.UDPPort(ports[(i+2)%8]), DstPort: layers.UDPPort(ports[i%8])},
				gopacket.Payload([]byte{1, 2, 3, 4, byte(i)}))
			ip3 := *ip
			ip3.Protocol = layers.IPProtocolICMPv4
			ser(eth(layers.EthernetTypeIPv4, i), &ip3, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(uint8([]int{0, 3, 8, 11}[i%4]), 0)},
				gopacket.Payload([]byte("ping")))
			if i%3 == 0 {
				frag := *ip
				frag.Flags = layers.IPv4MoreFragments
				frag.FragOffset = uint16(i)
				frag.Protocol = layers.IPProtocolUDP
				ser(eth(layers.EthernetTypeIPv4, i), &frag, gopacket.Payload(bytes.Repeat([]byte{0, 53}, 12)))
				sctp := *ip
				sctp.Protocol = layers.IPProtocolSCTP
				ser(eth(layers.EthernetTypeIPv4, i), &sctp, gopacket.Payload([]byte{0, 9, 0, byte(ports[i%8]), 1, 2, 3, 4, 5, 6, 7, 8}))
			}
		}
	}
	for si, s := range v6 {
		for di, d := range v6 {
			if si == di {
				continue
			}
			i++
			ip := &layers.IPv6{Version: 6, HopLimit: 64, SrcIP: net.ParseIP(s), DstIP: net.ParseIP(d), NextHeader: layers.IPProtocolTCP}
			tcp := &layers.TCP{SrcPort: layers.TCPPort(ports[i%8]), DstPort: layers.TCPPort(ports[(i*5+3)%8]), Window: 9}
			flags[i%len(flags)](tcp)
			ser(eth(layers.EthernetTypeIPv6, i), ip, tcp, gopacket.Payload(bytes.Repeat([]byte{7}, i%90)))
			ip2 := *ip
			ip2.NextHeader = layers.IPProtocolUDP
			ser(eth(layers.EthernetTypeIPv6, i), &ip2, &layers.UDP{SrcPort: layers.UDPPort(ports[(i+4)%8]), DstPort: layers.UDPPort(ports[i%8])},
				gopacket.Payload([]byte{9, 9, 9}))
			ip3 := *ip
			ip3.NextHeader = layers.IPProtocolICMPv6
			ser(eth(layers.EthernetTypeIPv6, i), &ip3, &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(uint8([]int{128, 129, 135, 1}[i%4]), 0)},
				gopacket.Payload([]byte{0, 0, 0, 0, 1, 2, 3, 4}))
			ip4 := *ip
			ip4.NextHeader = layers.IPProtocolIPv6Fragment
			fragHdr := []byte{[]byte{6, 17, 58}[i%3], 0, 0, 0, 0, 0, 0, 7}
			ser(eth(layers.EthernetTypeIPv6, i), &ip4, gopacket.Payload(append(fragHdr, bytes.Repeat([]byte{1, 187}, 16)...)))
		}
	}
	for k, s := range v4 {
		d := v4[(k+1)%len(v4)]
		ser(eth(layers.EthernetTypeARP, k), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: uint16(1 + k%2),
			SourceHwAddress: macs[k%2], SourceProtAddress: net.ParseIP(s).To4(),
			DstHwAddress: macs[(k+1)%2], DstProtAddress: net.ParseIP(d).To4()})
	}
	// Truncated copies: loads past the end reject the packet.
	n := len(out)
	for k := 0; k < n; k += 7 {
		cut := 14 + k%60
		if cut < len(out[k]) && testRunnable(out[k][:cut]) {
			out = append(out, append([]byte(nil), out[k][:cut]...))
		}
	}
	// Random frames with plausible headers.
	r := rand.New(rand.NewPCG(1, 2))
	for k := 0; k < 300; k++ {
		b := make([]byte, 54+r.IntN(100))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		switch r.IntN(4) {
		case 0, 1:
			binary.BigEndian.PutUint16(b[12:], 0x800)
			if len(b) > 34 {
				b[14] = 0x40 | byte(5+r.IntN(3))
				b[23] = []byte{1, 6, 17, 132, 2}[r.IntN(5)]
				if r.IntN(2) == 0 {
					b[20], b[21] = 0, 0
				}
				copy(b[26:30], net.ParseIP(v4[r.IntN(len(v4))]).To4())
			}
		case 2:
			binary.BigEndian.PutUint16(b[12:], 0x86dd)
			if len(b) > 54 {
				b[20] = []byte{6, 17, 58, 44, 0}[r.IntN(5)]
				copy(b[22:38], net.ParseIP(v6[r.IntN(len(v6))]))
			}
		}
		out = append(out, b)
	}
	return out
}

// testRunnable: BPF_PROG_TEST_RUN refuses an IPv4 or IPv6 frame shorter
// than its fixed header.
func testRunnable(b []byte) bool {
	switch binary.BigEndian.Uint16(b[12:]) {
	case 0x800:
		return len(b) >= 34
	case 0x86dd:
		return len(b) >= 54
	}
	return true
}

func writePcap(t testing.TB, path string, pkts [][]byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(int64(i+1), 0), CaptureLength: len(p), Length: len(p)}
		if err := w.WritePacket(ci, p); err != nil {
			t.Fatal(err)
		}
	}
}

// tcpdumpAccepts runs `tcpdump -r` with the filter and returns the indexes
// of the packets it prints (their timestamps are their indexes + 1).
func tcpdumpAccepts(t *testing.T, tcpdump, file, filter string) map[int]bool {
	t.Helper()
	args := []string{"-r", file, "-tt", "-nn"}
	if filter != "" {
		args = append(args, "--", filter)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(tcpdump, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tcpdump %q: %v\n%s", filter, err, stderr.String())
	}
	got := map[int]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		sec, _, _ := strings.Cut(sc.Text(), ".")
		if n, err := strconv.Atoi(sec); err == nil {
			got[n-1] = true
		}
	}
	return got
}

// TestDifferentialTcpdump: for every filter, the packets the compiled
// program accepts (run with BPF_PROG_TEST_RUN) are those `tcpdump -r`
// prints.
func TestDifferentialTcpdump(t *testing.T) {
	testutil.RequireBPF(t)
	tcpdump := testutil.Tool(t, "tcpdump", "comparing filters with libpcap's")
	pkts := packets()
	file := filepath.Join(t.TempDir(), "varied.pcap")
	writePcap(t, file, pkts)
	for _, f := range diffFilters {
		n, err := Parse(f)
		if err != nil {
			t.Errorf("Parse(%q): %v", f, err)
			continue
		}
		prog, err := load(t, n)
		if err != nil {
			var ve *ebpf.VerifierError
			if errors.As(err, &ve) {
				t.Errorf("loading %q: %+v", f, ve)
			} else {
				t.Errorf("loading %q: %v", f, err)
			}
			continue
		}
		want := tcpdumpAccepts(t, tcpdump, file, f)
		matched := 0
		for i, p := range pkts {
			got := run(t, prog, p)
			if got {
				matched++
			}
			if got != want[i] {
				t.Errorf("filter %q, packet %d (%d bytes %x): kscope %v, tcpdump %v", f, i, len(p), p, got, want[i])
			}
		}
		prog.Close()
		t.Logf("%-50q %4d of %d packets", f, matched, len(pkts))
	}
}
