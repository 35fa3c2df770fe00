package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
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
			ngIfaces[i] = pcapng.Interface{Name: n, LinkType: layers.LinkTypeEthernet, Snaplen: uint32(f.snaplen)}
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
	pkt := gopacket.NewPacket(p.Data, layers.LayerTypeEthernet, gopacket.DecodeOptions{NoCopy: true, Lazy: true})
	var src, dst string
	var proto string
	switch {
	case pkt.Layer(layers.LayerTypeIPv4) != nil:
		ip := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		proto, src, dst = "IP", ip.SrcIP.String(), ip.DstIP.String()
	case pkt.Layer(layers.LayerTypeIPv6) != nil:
		ip := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		proto, src, dst = "IP6", ip.SrcIP.String(), ip.DstIP.String()
	case pkt.Layer(layers.LayerTypeARP) != nil:
		a := pkt.Layer(layers.LayerTypeARP).(*layers.ARP)
		if a.Operation == layers.ARPRequest {
			fmt.Fprintf(&b, "ARP, Request who-has %s tell %s, length %d", ipString(a.DstProtAddress), ipString(a.SourceProtAddress), p.Len)
		} else {
			fmt.Fprintf(&b, "ARP, Reply %s is-at %s, length %d", ipString(a.SourceProtAddress), macString(a.SourceHwAddress), p.Len)
		}
		return b.String()
	default:
		if eth, ok := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); ok {
			fmt.Fprintf(&b, "ethertype 0x%04x, length %d", uint16(eth.EthernetType), p.Len)
		} else {
			fmt.Fprintf(&b, "length %d", p.Len)
		}
		return b.String()
	}
	switch l := pkt.TransportLayer().(type) {
	case *layers.TCP:
		fmt.Fprintf(&b, "%s %s.%d > %s.%d: Flags [%s], length %d", proto, src, l.SrcPort, dst, l.DstPort, tcpFlags(l), len(l.Payload))
	case *layers.UDP:
		fmt.Fprintf(&b, "%s %s.%d > %s.%d: UDP, length %d", proto, src, l.SrcPort, dst, l.DstPort, len(l.Payload))
	default:
		fmt.Fprintf(&b, "%s %s > %s: ", proto, src, dst)
		if ic, ok := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
			fmt.Fprintf(&b, "ICMP %s, length %d", ic.TypeCode, p.Len)
		} else if ic, ok := pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok {
			fmt.Fprintf(&b, "ICMP6 %s, length %d", ic.TypeCode, p.Len)
		} else {
			fmt.Fprintf(&b, "length %d", p.Len)
		}
	}
	return b.String()
}

func ipString(b []byte) string {
	if len(b) == 4 {
		return fmt.Sprintf("%d.%d.%d.%d", b[0], b[1], b[2], b[3])
	}
	return fmt.Sprintf("%x", b)
}

func macString(b []byte) string {
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("%02x", x)
	}
	return strings.Join(parts, ":")
}

// tcpFlags writes the flags as tcpdump does: S, F, R, P, U, E, W, and . for
// ACK.
func tcpFlags(t *layers.TCP) string {
	var s strings.Builder
	for _, f := range []struct {
		on bool
		c  byte
	}{{t.SYN, 'S'}, {t.FIN, 'F'}, {t.RST, 'R'}, {t.PSH, 'P'}, {t.URG, 'U'}, {t.ECE, 'E'}, {t.CWR, 'W'}, {t.ACK, '.'}} {
		if f.on {
			s.WriteByte(f.c)
		}
	}
	if s.Len() == 0 {
		return "none"
	}
	return s.String()
}
