package capture

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/perf"
	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/pcapfilter"
)

// DefaultSnaplen is tcpdump's: whole packets.
const DefaultSnaplen = 262144

// MaxCaplen bounds the bytes kept of a packet whatever the snap length:
// a perf record's size is 16 bits (MAX_CAPLEN in capture.bpf.c).
const MaxCaplen = 65400

// Counter indexes, as enum counter in capture.bpf.c.
const (
	cMatched = iota
	cFiltered
	cCaptured
	cDropped
	cMax
)

// Options say what to capture.
type Options struct {
	// Interfaces are the interfaces' names; none, or "any": every
	// interface that is up, loopback included.
	Interfaces []string
	// Filter is a pcap-filter(7) expression; "" takes every packet.
	Filter string
	// Snaplen bounds the bytes kept of each packet (DefaultSnaplen if 0).
	Snaplen uint32
	// PID and Comm keep only the packets of that process (tgid) or command.
	PID  uint32
	Comm string
	// PerCPUBuffer is the perf buffer's size per CPU in bytes (4 MiB if 0).
	PerCPUBuffer int
	// Cgroup is the cgroup v2 directory whose processes' sockets are
	// attributed ("": the root, every process).
	Cgroup string
	// Clsact attaches with a clsact qdisc's bpf filters even where tcx
	// works (tests of the fallback).
	Clsact bool
	Logger *slog.Logger
}

// Interface is one interface captured on.
type Interface struct {
	Name  string
	Index int
	// Loopback: only its ingress is captured. Every packet on loopback
	// leaves and comes back in; tcpdump (libpcap) shows it once, as it
	// comes in, and so does kscope.
	Loopback bool
}

// Packet is one captured packet. Data is valid only during the callback.
type Packet struct {
	Time     time.Time
	Iface    int // index into Interfaces()
	Egress   bool
	Len      int // on the wire
	Data     []byte
	PID, TID uint32
	Comm     string
	CgroupID uint64
}

// Stats are the kernel's counts.
type Stats struct {
	Matched  uint64 // accepted by the filter
	Filtered uint64 // of those, not of --pid or --comm
	Captured uint64 // copied to the perf buffer
	Dropped  uint64 // lost: the perf buffer was full
}

// ErrStop, returned by Run's callback, ends Run without error.
var ErrStop = errors.New("stop capturing")

// Capture is a running capture: programs attached, packets flowing into the
// perf buffer until Close.
type Capture struct {
	opts   Options
	coll   *ebpf.Collection
	progs  []*ebpf.Program
	links  bpfx.Links
	tc     []func() error // clsact filters' detachers
	attach string         // "tcx" or "clsact"
	rd     *perf.Reader
	ifaces []Interface
	byIdx  map[uint32]int
	clock  collector.Clock
	sums   *bpfx.PerCPUSums
	once   sync.Once
}

// Usable tells whether kscope can capture on an interface: it must have an
// Ethernet header (Ethernet or loopback, whose frames Linux gives an
// Ethernet header too).
func Usable(ifc net.Interface) bool {
	return ifc.Flags&net.FlagLoopback != 0 || len(ifc.HardwareAddr) == 6
}

// Start compiles the filter, loads the programs and attaches them to the
// interfaces (looked up in the calling thread's network namespace).
func Start(opts Options) (c *Capture, err error) {
	if opts.Snaplen == 0 {
		opts.Snaplen = DefaultSnaplen
	}
	if opts.PerCPUBuffer == 0 {
		opts.PerCPUBuffer = 4 << 20
	}
	if len(opts.Comm) > 15 {
		return nil, fmt.Errorf("--comm %q: longer than a command name's 15 bytes", opts.Comm)
	}
	node, err := pcapfilter.Parse(opts.Filter)
	if err != nil {
		return nil, err
	}
	ifaces, err := interfaces(opts.Interfaces)
	if err != nil {
		return nil, err
	}
	c = &Capture{opts: opts, ifaces: ifaces, byIdx: map[uint32]int{}, clock: collector.NewClock()}
	started := c
	defer func() {
		if err != nil {
			started.Close() // what attached so far
		}
	}()
	for i, ifc := range ifaces {
		c.byIdx[uint32(ifc.Index)] = i
	}
	if c.sums, err = bpfx.NewPerCPUSums(cMax); err != nil {
		return nil, fmt.Errorf("sizing the per-CPU counters: %w", err)
	}
	spec, err := loadCapture()
	if err != nil {
		return nil, err
	}
	var comm [16]byte
	copy(comm[:], opts.Comm)
	for name, v := range map[string]any{"snaplen": opts.Snaplen, "filter_pid": opts.PID,
		"filter_comm_on": boolByte(opts.Comm != ""), "filter_comm": comm} {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("setting %s: %w", name, err)
		}
	}
	if c.coll, err = bpfx.NewCollection(spec); err != nil {
		return nil, bpfx.LoadError("capture", err)
	}
	emitters := c.coll.Maps["emitters"]
	for i, name := range []string{"capture_ingress", "capture_egress"} {
		if err := emitters.Put(uint32(i), c.coll.Programs[name]); err != nil {
			return nil, fmt.Errorf("filling the emitters: %w", err)
		}
	}
	// Woken when a CPU's buffer is a quarter full, and read every
	// idleFlush besides: one wakeup per packet would cost more than the
	// packet's copy.
	if c.rd, err = perf.NewReaderWithOptions(c.coll.Maps["packets"], opts.PerCPUBuffer,
		perf.ReaderOptions{Watermark: opts.PerCPUBuffer / 4}); err != nil {
		return nil, fmt.Errorf("opening the perf buffer: %w", err)
	}
	if err := c.attachOwners(); err != nil {
		return nil, err
	}
	c.attach = "tcx"
	if opts.Clsact || bpfx.ProbeFeature(bpfx.FeatTCX) != nil {
		c.attach = "clsact"
	}
	// One filter program per direction, tail-calling its emitter.
	for dir, at := range []ebpf.AttachType{ebpf.AttachTCXIngress, ebpf.AttachTCXEgress} {
		accept := asm.Instructions{
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.LoadMapPtr(asm.R2, emitters.FD()),
			asm.Mov.Imm(asm.R3, int32(dir)),
			asm.FnTailCall.Call(),
			asm.Mov.Imm(asm.R0, -1),
			asm.Return(),
		}
		reject := asm.Instructions{asm.Mov.Imm(asm.R0, -1), asm.Return()}
		insns, err := pcapfilter.Instructions(node, accept, reject)
		if err != nil {
			return nil, err
		}
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "capture_filter", Type: ebpf.SchedCLS,
			License: "GPL", Instructions: insns})
		if err != nil {
			return nil, bpfx.LoadError("the capture filter", err)
		}
		c.progs = append(c.progs, prog)
		// Ingress first in the chain, as tcpdump sees a packet before tc
		// does; egress last, as tcpdump sees it after tc.
		anchor := link.Head()
		if at == ebpf.AttachTCXEgress {
			anchor = link.Tail()
		}
		for _, ifc := range ifaces {
			if ifc.Loopback && at == ebpf.AttachTCXEgress {
				continue
			}
			if c.attach == "clsact" {
				detach, err := clsactAttach(ifc.Index, at == ebpf.AttachTCXEgress, prog)
				if err != nil {
					return nil, fmt.Errorf("attaching the capture to %s: %w", ifc.Name, err)
				}
				c.tc = append(c.tc, detach)
				continue
			}
			l, err := link.AttachTCX(link.TCXOptions{Interface: ifc.Index, Program: prog, Attach: at, Anchor: anchor})
			if err != nil {
				return nil, fmt.Errorf("attaching the capture to %s (tcx): %w", ifc.Name, err)
			}
			c.links.Add(l)
		}
	}
	return c, nil
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// interfaces resolves the names; none or "any": every interface up.
func interfaces(names []string) ([]Interface, error) {
	all, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	var out []Interface
	if len(names) == 0 || len(names) == 1 && names[0] == "any" {
		for _, ifc := range all {
			if ifc.Flags&net.FlagUp != 0 && Usable(ifc) {
				out = append(out, Interface{ifc.Name, ifc.Index, ifc.Flags&net.FlagLoopback != 0})
			}
		}
		if len(out) == 0 {
			return nil, errors.New("no interface with an Ethernet header is up")
		}
		return out, nil
	}
	for _, name := range names {
		ifc, err := net.InterfaceByName(name)
		if err != nil {
			return nil, fmt.Errorf("interface %s: %w", name, err)
		}
		if !Usable(*ifc) {
			return nil, fmt.Errorf("interface %s has no Ethernet header: kscope captures on Ethernet and loopback interfaces", name)
		}
		out = append(out, Interface{ifc.Name, ifc.Index, ifc.Flags&net.FlagLoopback != 0})
	}
	return out, nil
}

// attachOwners attaches the hooks that note each socket's process.
func (c *Capture) attachOwners() error {
	root, err := bpfx.Cgroup2Root()
	if err != nil {
		return err
	}
	if root == "" {
		return errors.New("finding cgroup v2: it is not mounted (the capture notes sockets' processes there)")
	}
	cg := c.opts.Cgroup
	if cg == "" {
		cg = root
	}
	for _, a := range []struct {
		prog string
		typ  ebpf.AttachType
	}{
		{"capture_sock_create", ebpf.AttachCGroupInetSockCreate},
		{"capture_connect4", ebpf.AttachCGroupInet4Connect},
		{"capture_connect6", ebpf.AttachCGroupInet6Connect},
		{"capture_sendmsg4", ebpf.AttachCGroupUDP4Sendmsg},
		{"capture_sendmsg6", ebpf.AttachCGroupUDP6Sendmsg},
	} {
		l, err := link.AttachCgroup(link.CgroupOptions{Path: cg, Attach: a.typ, Program: c.coll.Programs[a.prog]})
		if err != nil {
			return fmt.Errorf("attaching %s to %s: %w", a.prog, cg, err)
		}
		c.links.Add(l)
	}
	seedOwners(c.coll.Maps["owners"], "/proc", c.log())
	return nil
}

func (c *Capture) log() *slog.Logger {
	if c.opts.Logger != nil {
		return c.opts.Logger
	}
	return slog.Default()
}

// Attach says how the filters are attached: "tcx", or "clsact" where the
// kernel has no tcx (before Linux 6.6).
func (c *Capture) Attach() string { return c.attach }

// Interfaces returns the interfaces captured on; Packet.Iface indexes it.
func (c *Capture) Interfaces() []Interface { return c.ifaces }

// Stats reads the kernel's counters.
func (c *Capture) Stats() (Stats, error) {
	out := make([]uint64, cMax)
	if err := c.sums.Read(c.coll.Maps["counters"], out); err != nil {
		return Stats{}, fmt.Errorf("reading the capture counters: %w", err)
	}
	return Stats{Matched: out[cMatched], Filtered: out[cFiltered], Captured: out[cCaptured], Dropped: out[cDropped]}, nil
}

// Close detaches everything and frees the programs and maps; it is safe
// more than once.
func (c *Capture) Close() error {
	var err error
	c.once.Do(func() {
		for i := len(c.tc) - 1; i >= 0; i-- {
			err = errors.Join(err, c.tc[i]())
		}
		err = errors.Join(err, c.links.Close())
		if c.rd != nil {
			err = errors.Join(err, c.rd.Close())
		}
		for _, p := range c.progs {
			err = errors.Join(err, p.Close())
		}
		if c.coll != nil {
			c.coll.Close()
		}
	})
	return err
}

// reorder is how long a record waits for older ones from other CPUs'
// buffers while records keep coming; when none come for idleFlush, all
// are written. maxPending bounds what waits.
const (
	reorder    = 200 * time.Millisecond
	idleFlush  = 20 * time.Millisecond
	maxPending = 8192
	maxDrain   = 500 * time.Millisecond
)

type pending struct {
	meta capturePacket
	data []byte
}

// decodeMeta reads struct packet (little-endian x86-64, as the object is
// built) without reflection: it runs once per packet.
func decodeMeta(b []byte, m *capturePacket) {
	le := binary.LittleEndian
	m.TsNs = le.Uint64(b[0:])
	m.CgroupId = le.Uint64(b[8:])
	m.Len = le.Uint32(b[16:])
	m.Caplen = le.Uint32(b[20:])
	m.Ifindex = le.Uint32(b[24:])
	m.Pid = le.Uint32(b[28:])
	m.Tid = le.Uint32(b[32:])
	m.Egress = b[36]
	copy(m.Comm[:], b[40:56])
}

// merger puts the records of the per-CPU buffers back in time order: a
// queue per CPU, each in order already (bar a record written by an
// interrupt on the same CPU, put in place from the back), and the oldest
// head of all queues next.
type merger struct {
	qs [][]*pending // by CPU; each queue from its head
	n  int
}

func (m *merger) push(cpu int, p *pending) {
	for cpu >= len(m.qs) {
		m.qs = append(m.qs, nil)
	}
	q := append(m.qs[cpu], p)
	for i := len(q) - 1; i > 0 && q[i-1].meta.TsNs > q[i].meta.TsNs; i-- {
		q[i-1], q[i] = q[i], q[i-1]
	}
	m.qs[cpu] = q
	m.n++
}

// oldest returns the CPU whose head is the oldest record, -1 if none.
func (m *merger) oldest() int {
	best := -1
	for i, q := range m.qs {
		if len(q) > 0 && (best < 0 || q[0].meta.TsNs < m.qs[best][0].meta.TsNs) {
			best = i
		}
	}
	return best
}

func (m *merger) pop(cpu int) *pending {
	q := m.qs[cpu]
	p := q[0]
	q[0] = nil
	if len(q) == 1 {
		m.qs[cpu] = q[:0] // reuse the array from its start
	} else {
		m.qs[cpu] = q[1:]
	}
	m.n--
	return p
}

var metaSize = int(unsafe.Sizeof(capturePacket{}))

// Run reads packets and calls fn for each in the order of their
// timestamps (the perf buffer is one per CPU) until ctx is done or fn
// returns an error (ErrStop: no error). Then it writes what is left, in
// order, unless fn stopped it.
func (c *Capture) Run(ctx context.Context, fn func(*Packet) error) error {
	var h merger
	var rec perf.Record
	var drainStart time.Time
	var free []*pending
	roundStart := monoNow()
	var pk Packet
	deliver := func(p *pending) error {
		m := &p.meta
		pk = Packet{Time: c.clock.Time(m.TsNs), Iface: c.byIdx[m.Ifindex], Egress: m.Egress != 0,
			Len: int(m.Len), Data: p.data, PID: m.Pid, TID: m.Tid, CgroupID: m.CgroupId}
		if i := bytes.IndexByte(m.Comm[:], 0); i >= 0 {
			pk.Comm = string(m.Comm[:i])
		} else {
			pk.Comm = string(m.Comm[:])
		}
		err := fn(&pk)
		if len(free) < 1024 {
			free = append(free, p)
		}
		return err
	}
	flush := func(before uint64, all bool) error {
		for h.n > 0 {
			cpu := h.oldest()
			if !all && h.n <= maxPending && h.qs[cpu][0].meta.TsNs >= before {
				return nil
			}
			// The callback is done with a packet's data when it returns,
			// and its record goes back to the free list.
			if err := deliver(h.pop(cpu)); err != nil {
				return err
			}
		}
		return nil
	}
	stop := func(err error) error {
		if errors.Is(err, ErrStop) {
			return nil
		}
		return err
	}
	for {
		// Once ctx is done, what the buffers still hold is read before
		// Run returns.
		draining := ctx.Err() != nil
		if draining && drainStart.IsZero() {
			drainStart = time.Now()
		}
		if draining && time.Since(drainStart) > maxDrain {
			return stop(flush(0, true)) // packets keep coming: stop here
		}
		c.rd.SetDeadline(time.Now().Add(idleFlush))
		err := c.rd.ReadInto(&rec)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			// Every buffer has been read to its end: what was written
			// before this round began is all there, in order.
			if err := flush(roundStart-uint64(time.Millisecond), draining); err != nil || draining {
				return stop(err)
			}
			roundStart = monoNow()
			continue
		case errors.Is(err, perf.ErrClosed):
			return stop(flush(0, true))
		case err != nil:
			return fmt.Errorf("reading the perf buffer: %w", err)
		}
		if rec.LostSamples > 0 || len(rec.RawSample) < metaSize {
			continue // counted in the kernel's dropped counter
		}
		var p *pending
		if n := len(free); n > 0 {
			p, free = free[n-1], free[:n-1]
		} else {
			p = &pending{}
		}
		decodeMeta(rec.RawSample, &p.meta)
		n := int(p.meta.Caplen)
		if n > len(rec.RawSample)-metaSize {
			n = len(rec.RawSample) - metaSize
		}
		p.data = append(p.data[:0], rec.RawSample[metaSize:metaSize+n]...)
		h.push(rec.CPU, p)
		if before := monoNow() - uint64(reorder); h.n > maxPending || h.qs[h.oldest()][0].meta.TsNs < before {
			if err := flush(before, false); err != nil {
				return stop(err)
			}
		}
	}
}

// monoBase pairs a CLOCK_MONOTONIC reading (bpf_ktime_get_ns's clock)
// with Go's monotonic clock: monoNow runs once per packet, and
// clock_gettime through x/sys/unix is a system call where time.Since
// reads the vDSO.
var monoBase = func() (b struct {
	ns uint64
	at time.Time
}) {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	b.ns, b.at = uint64(ts.Nano()), time.Now()
	return b
}()

func monoNow() uint64 { return monoBase.ns + uint64(time.Since(monoBase.at)) }
