package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector/capture"
	"github.com/kscope/kscope/internal/container"
	"github.com/kscope/kscope/internal/pcapfilter"
	"github.com/kscope/kscope/internal/pcapng"
)

type captureFlags struct {
	iface    string
	pid      int64
	comm     string
	count    int64
	write    string
	snaplen  int
	duration time.Duration
	bufSize  string
	netns    string
	verbose  bool
}

func newNetCaptureCmd() *cobra.Command {
	var f captureFlags
	cmd := &cobra.Command{
		Use:   "capture [flags] [FILTER]",
		Short: "Capture packets with a tcpdump filter run in the kernel, with their process",
		Long: `Capture packets on an interface's ingress and egress (tcx programs), with
tcpdump's filter language (pcap-filter(7)) compiled to eBPF and run in the
kernel: only the packets it accepts are copied out. With -w FILE the
packets go to a pcapng file that tcpdump, tshark and Wireshark read, the
process of each (pid, comm and container when known) in the packet's
comment; without -w, one tcpdump-like line per packet with the process.
The process is that of the packet's local socket: the one that created it
or last connected or sent on it. On exit the counts are printed as tcpdump
prints them, packets dropped by kernel being those the full buffer lost.`,
		Example: "  sudo kscope net capture -i eth0 tcp port 443\n" +
			"  sudo kscope net capture -i any --comm curl -w curl.pcapng\n" +
			"  sudo kscope net capture -c 10 'udp and (port 53 or port 5353)'",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runNetCapture(cmd, f, strings.Join(args, " "))
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.iface, "interface", "i", "any", "the interface, several separated by commas, or any: every interface that is up")
	fl.Int64Var(&f.pid, "pid", 0, "only this process's packets (tgid)")
	fl.StringVar(&f.comm, "comm", "", "only this command's packets (exact, at most 15 bytes)")
	fl.Int64VarP(&f.count, "count", "c", 0, "stop after this many packets")
	fl.StringVarP(&f.write, "write", "w", "", "write the packets to this pcapng file (- for standard output)")
	fl.IntVarP(&f.snaplen, "snapshot-length", "s", capture.DefaultSnaplen, "keep at most this many bytes of each packet")
	fl.DurationVar(&f.duration, "duration", 0, "stop after this long (e.g. 10s)")
	fl.StringVar(&f.bufSize, "buffer-size", "4M", "the perf buffer's size per CPU, a power of two (e.g. 1M, 16M)")
	fl.StringVar(&f.netns, "netns", "", "the network namespace (a name under /run/netns) of the interfaces")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log load and attach details to stderr")
	return cmd
}

func runNetCapture(cmd *cobra.Command, f captureFlags, filter string) error {
	if _, err := pcapfilter.Parse(filter); err != nil {
		return usagef("%v", err)
	}
	if f.snaplen <= 0 || f.snaplen > capture.DefaultSnaplen {
		return usagef("--snapshot-length %d: want 1-%d", f.snaplen, capture.DefaultSnaplen)
	}
	if f.count < 0 || f.pid < 0 || f.pid > 1<<31 {
		return usagef("--count and --pid must be positive")
	}
	if len(f.comm) > 15 {
		return usagef("--comm %q: longer than a command name's 15 bytes", f.comm)
	}
	bufSize, err := parseSize(f.bufSize)
	if err != nil || bufSize < 4096 || bufSize&(bufSize-1) != 0 {
		return usagef("--buffer-size %q: want a power of two of at least 4K", f.bufSize)
	}
	stderr := cmd.ErrOrStderr()
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if _, err := bpfx.Prepare(); err != nil {
		return err
	}
	var ifaces []string
	if f.iface != "" && f.iface != "any" {
		ifaces = strings.Split(f.iface, ",")
	}
	opts := capture.Options{Interfaces: ifaces, Filter: filter, Snaplen: uint32(f.snaplen), PID: uint32(f.pid),
		Comm: f.comm, PerCPUBuffer: int(bufSize), Logger: logger}
	var c *capture.Capture
	ff := filterFlags{netns: f.netns}
	if err := ff.in(func() (err error) { c, err = capture.Start(opts); return err }); err != nil {
		return err
	}
	defer c.Close()

	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	names := make([]string, len(c.Interfaces()))
	for i, ifc := range c.Interfaces() {
		names[i] = ifc.Name
	}
	logger.Debug("attached", "interfaces", names, "filter", filter)
	fmt.Fprintf(stderr, "listening on %s, link-type EN10MB (Ethernet), snapshot length %d bytes\n", strings.Join(names, ","), f.snaplen)

	procs := newProcNames(logger)
	var written int64
	var handle func(p *capture.Packet) error
	var flush func() error
	if f.write != "" {
		var out io.Writer = cmd.OutOrStdout()
		if f.write != "-" {
			file, err := os.Create(f.write)
			if err != nil {
				return fmt.Errorf("creating %s: %w", f.write, err)
			}
			defer file.Close()
			out = file
		}
		ngIfaces := make([]pcapng.Interface, len(names))
		for i, n := range names {
			ngIfaces[i] = pcapng.Interface{Name: n, LinkType: pcapng.LinkEthernet, Snaplen: uint32(f.snaplen)}
		}
		w, err := pcapng.NewWriter(out, "kscope net capture", ngIfaces)
		if err != nil {
			return err
		}
		flush = w.Flush
		handle = func(p *capture.Packet) error {
			dir := pcapng.Inbound
			if p.Egress {
				dir = pcapng.Outbound
			}
			if err := w.WritePacket(p.Iface, p.Time, p.Len, p.Data, dir, procs.comment(p)); err != nil {
				return fmt.Errorf("writing %s: %w", f.write, err)
			}
			if f.write == "-" {
				return w.Flush()
			}
			return nil
		}
	} else {
		bw := bufio.NewWriter(cmd.OutOrStdout())
		flush = bw.Flush
		handle = func(p *capture.Packet) error {
			bw.WriteString(packetLine(p, names[p.Iface], len(names) > 1))
			if proc := procs.comment(p); proc != "" {
				bw.WriteString(" [" + proc + "]")
			}
			bw.WriteByte('\n')
			return bw.Flush()
		}
	}
	runErr := c.Run(ctx, func(p *capture.Packet) error {
		if err := handle(p); err != nil {
			return err
		}
		written++
		if f.count > 0 && written >= f.count {
			return capture.ErrStop
		}
		return nil
	})
	err = errors.Join(runErr, flush())
	st, serr := c.Stats()
	if serr != nil {
		return errors.Join(err, serr)
	}
	fmt.Fprintf(stderr, "%d packets captured\n%d packets received by filter\n%d packets dropped by kernel\n",
		written, st.Matched-st.Filtered, st.Dropped)
	return err
}

// procNames names a packet's process for its comment: pid, comm and the
// container, looked up once per pid (bounded).
type procNames struct {
	res      *container.Resolver
	comments map[procKey]string
}

func newProcNames(logger *slog.Logger) *procNames {
	return &procNames{res: container.New(container.Options{Logger: logger}), comments: map[procKey]string{}}
}

func (p *procNames) comment(pk *capture.Packet) string {
	if pk.PID == 0 {
		return ""
	}
	key := procKey{pk.PID, pk.Comm}
	if s, ok := p.comments[key]; ok {
		return s
	}
	s := fmt.Sprintf("pid %d comm %s", pk.PID, pk.Comm)
	if info := p.res.ProcessNow(pk.PID); info != nil {
		name := info.Name
		if name == "" && info.ID != "" {
			name = info.ID[:min(12, len(info.ID))]
		}
		if name != "" {
			s += " container " + name
		}
	}
	if len(p.comments) >= 4096 {
		clear(p.comments)
	}
	p.comments[key] = s
	return s
}

type procKey struct {
	pid  uint32
	comm string
}

// packetLine is a tcpdump-like summary of a packet.
func packetLine(p *capture.Packet, iface string, many bool) string {
	var b strings.Builder
	b.WriteString(p.Time.Format("15:04:05.000000"))
	if many {
		b.WriteString(" " + iface)
	}
	if p.Egress {
		b.WriteString(" Out ")
	} else {
		b.WriteString(" In  ")
	}
	b.WriteString(summarize(p.Data, p.Len))
	return b.String()
}

// Ethernet types and IP protocols summarize knows.
const (
	etherIPv4  = 0x0800
	etherARP   = 0x0806
	etherVLAN  = 0x8100
	etherQinQ  = 0x88a8
	etherIPv6  = 0x86dd
	protoICMP  = 1
	protoTCP   = 6
	protoUDP   = 17
	protoICMP6 = 58
)

// summarize describes an Ethernet frame of wireLen bytes, of which data
// was captured, as tcpdump's one-line summary does: addresses, ports, TCP
// flags and the payload length from the headers. What the capture cut
// short is described as far as it goes.
func summarize(data []byte, wireLen int) string {
	be := binary.BigEndian
	if len(data) < 14 {
		return fmt.Sprintf("length %d", wireLen)
	}
	typ, off := be.Uint16(data[12:]), 14
	var vlans []string
	for (typ == etherVLAN || typ == etherQinQ) && len(data) >= off+4 {
		vlans = append(vlans, fmt.Sprintf("vlan %d", be.Uint16(data[off:])&0xfff))
		typ, off = be.Uint16(data[off+2:]), off+4
	}
	prefix := ""
	if len(vlans) > 0 {
		prefix = strings.Join(vlans, ", ") + ", "
	}
	l3 := data[off:]
	switch typ {
	case etherIPv4:
		if len(l3) < 20 || l3[0]>>4 != 4 || int(l3[0]&0xf)*4 < 20 {
			return fmt.Sprintf("%sIP truncated, length %d", prefix, wireLen)
		}
		hl := int(l3[0]&0xf) * 4
		total := int(be.Uint16(l3[2:]))
		src, dst := netip.AddrFrom4([4]byte(l3[12:16])), netip.AddrFrom4([4]byte(l3[16:20]))
		var l4 []byte
		if len(l3) >= hl {
			l4 = l3[hl:]
		}
		// A fragment after the first has no transport header.
		if be.Uint16(l3[6:])&0x1fff != 0 {
			return fmt.Sprintf("%sIP %s > %s: ip-proto-%d, fragment, length %d", prefix, src, dst, l3[9], max(total-hl, 0))
		}
		return prefix + transport("IP", src.String(), dst.String(), l3[9], l4, total-hl)
	case etherIPv6:
		if len(l3) < 40 || l3[0]>>4 != 6 {
			return fmt.Sprintf("%sIP6 truncated, length %d", prefix, wireLen)
		}
		src, dst := netip.AddrFrom16([16]byte(l3[8:24])), netip.AddrFrom16([16]byte(l3[24:40]))
		next, rest, plen := l3[6], l3[40:], int(be.Uint16(l3[4:]))
		// Extension headers: hop-by-hop, routing, destination options, fragment.
		for i := 0; i < 8 && (next == 0 || next == 43 || next == 60 || next == 44); i++ {
			if len(rest) < 8 {
				return fmt.Sprintf("%sIP6 %s > %s: truncated, length %d", prefix, src, dst, plen)
			}
			n := 8
			if next != 44 {
				n = (int(rest[1]) + 1) * 8
			} else if be.Uint16(rest[2:])&0xfff8 != 0 {
				return fmt.Sprintf("%sIP6 %s > %s: frag, length %d", prefix, src, dst, plen)
			}
			if len(rest) < n {
				return fmt.Sprintf("%sIP6 %s > %s: truncated, length %d", prefix, src, dst, plen)
			}
			next, rest, plen = rest[0], rest[n:], plen-n
		}
		return prefix + transport("IP6", src.String(), dst.String(), next, rest, plen)
	case etherARP:
		// Ethernet and IPv4 only, as nearly every ARP is.
		if len(l3) < 28 || be.Uint16(l3[0:]) != 1 || be.Uint16(l3[2:]) != etherIPv4 || l3[4] != 6 || l3[5] != 4 {
			return fmt.Sprintf("%sARP, length %d", prefix, wireLen)
		}
		sha, spa, tpa := net.HardwareAddr(l3[8:14]), netip.AddrFrom4([4]byte(l3[14:18])), netip.AddrFrom4([4]byte(l3[24:28]))
		switch be.Uint16(l3[6:]) {
		case 1:
			return fmt.Sprintf("%sARP, Request who-has %s tell %s, length %d", prefix, tpa, spa, wireLen)
		case 2:
			return fmt.Sprintf("%sARP, Reply %s is-at %s, length %d", prefix, spa, sha, wireLen)
		}
		return fmt.Sprintf("%sARP, length %d", prefix, wireLen)
	}
	return fmt.Sprintf("%sethertype 0x%04x, length %d", prefix, typ, wireLen)
}

// transport describes the transport header l4 of protocol proto carried
// in an IP packet whose payload is plen bytes long.
func transport(ip, src, dst string, proto byte, l4 []byte, plen int) string {
	be := binary.BigEndian
	plen = max(plen, 0)
	switch proto {
	case protoTCP:
		if len(l4) < 20 || int(l4[12]>>4)*4 < 20 {
			return fmt.Sprintf("%s %s > %s: tcp truncated, length %d", ip, src, dst, plen)
		}
		return fmt.Sprintf("%s %s.%d > %s.%d: Flags [%s], length %d", ip, src, be.Uint16(l4), dst, be.Uint16(l4[2:]),
			tcpFlags(l4[13]), max(plen-int(l4[12]>>4)*4, 0))
	case protoUDP:
		if len(l4) < 8 {
			return fmt.Sprintf("%s %s > %s: udp truncated, length %d", ip, src, dst, plen)
		}
		return fmt.Sprintf("%s %s.%d > %s.%d: UDP, length %d", ip, src, be.Uint16(l4), dst, be.Uint16(l4[2:]), max(int(be.Uint16(l4[4:]))-8, 0))
	case protoICMP, protoICMP6:
		name := "ICMP"
		if proto == protoICMP6 {
			name = "ICMP6"
		}
		if len(l4) < 4 {
			return fmt.Sprintf("%s %s > %s: %s, length %d", ip, src, dst, name, plen)
		}
		return fmt.Sprintf("%s %s > %s: %s %s, length %d", ip, src, dst, name, icmpType(proto, l4[0], l4[1]), plen)
	}
	return fmt.Sprintf("%s %s > %s: ip-proto-%d, length %d", ip, src, dst, proto, plen)
}

// The common ICMP and ICMPv6 messages, named as tcpdump names them.
var (
	icmp4Names = map[byte]string{0: "echo reply", 3: "unreachable", 5: "redirect", 8: "echo request", 11: "time exceeded"}
	icmp6Names = map[byte]string{1: "unreachable", 2: "packet too big", 3: "time exceeded", 128: "echo request", 129: "echo reply",
		133: "router solicitation", 134: "router advertisement", 135: "neighbor solicitation", 136: "neighbor advertisement"}
)

// icmpType names an ICMP or ICMPv6 message.
func icmpType(proto, typ, code byte) string {
	names := icmp4Names
	if proto == protoICMP6 {
		names = icmp6Names
	}
	if n, ok := names[typ]; ok {
		return n
	}
	return fmt.Sprintf("type %d code %d", typ, code)
}

// tcpFlags writes the flags byte as tcpdump does: S, F, R, P, U, E, W, and
// . for ACK.
func tcpFlags(f byte) string {
	var s strings.Builder
	for _, x := range []struct {
		bit byte
		c   byte
	}{{0x02, 'S'}, {0x01, 'F'}, {0x04, 'R'}, {0x08, 'P'}, {0x20, 'U'}, {0x40, 'E'}, {0x80, 'W'}, {0x10, '.'}} {
		if f&x.bit != 0 {
			s.WriteByte(x.c)
		}
	}
	if s.Len() == 0 {
		return "none"
	}
	return s.String()
}
