package policy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"sync/atomic"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/policy"
)

// Name is the collector's name in errors and logs.
const Name = "policy"

// Config says what to enforce and where.
type Config struct {
	Plans []*policy.Plan
	// Cgroup is the cgroup v2 directory the connect programs attach to;
	// they see the connects of every process in it and below. Needed when
	// a plan is on connect.
	Cgroup string
	Logger *slog.Logger
}

// Collector enforces a set of planned rules until Close.
type Collector struct {
	*collector.Tracer
	cfg    Config
	tables *policy.Tables
	links  bpfx.Links
	life   collector.Lifecycle
	clock  collector.Clock
	raw    policyPolicyEvent
	batch  batch
	// userMatches counts the matches of user-stage rules, found here.
	userMatches []atomic.Uint64
	kernelFinal []uint64
}

// New validates the configuration; Start loads and attaches.
func New(cfg Config) (*Collector, error) {
	if len(cfg.Plans) == 0 {
		return nil, errors.New("policy: no rules")
	}
	if len(cfg.Plans) > policy.MaxRules {
		return nil, fmt.Errorf("policy: %d rules, at most %d", len(cfg.Plans), policy.MaxRules)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	t := policy.Compile(cfg.Plans)
	if t.OnConnect != 0 && cfg.Cgroup == "" {
		return nil, errors.New("policy: connect rules need a cgroup v2 directory to attach to")
	}
	return &Collector{
		Tracer:      collector.NewTracer(Name, collector.Config{RingBytes: 1 << 20, Logger: cfg.Logger}),
		cfg:         cfg,
		tables:      t,
		clock:       collector.NewClock(),
		userMatches: make([]atomic.Uint64, len(cfg.Plans)),
	}, nil
}

// Start loads the rules into the kernel, attaches and streams alerts into
// sink. It returns once everything is attached.
func (c *Collector) Start(ctx context.Context, sink event.Sink) error {
	if err := c.life.Start(Name); err != nil {
		return err
	}
	spec, err := loadPolicy()
	if err != nil {
		return fmt.Errorf("loading the policy object: %w", err)
	}
	if err := c.setConstants(spec); err != nil {
		return err
	}
	if err := c.Load(spec); err != nil {
		return err
	}
	if err := c.fillMaps(); err != nil {
		c.closeAll()
		return err
	}
	if err := c.Run(ctx, &batchSink{sink}, c.decode); err != nil {
		c.closeAll()
		return err
	}
	if err := c.attach(); err != nil {
		c.closeAll()
		return err
	}
	return nil
}

func (c *Collector) setConstants(spec *ebpf.CollectionSpec) error {
	t := c.tables
	vars := map[string]any{
		"on_exec": t.OnExec, "on_open": t.OnOpen, "on_connect": t.OnConnect,
		"has_binary": t.HasBinary, "has_file": t.HasFile, "has_uid": t.HasUID, "has_comm": t.HasComm,
		"has_access": t.HasAccess, "has_cidr": t.HasCIDR, "has_port": t.HasPort,
		"not_root": t.NotRoot, "proto_tcp": t.TCP, "proto_udp": t.UDP,
		"access_rules": t.Access,
		"user_stage":   t.UserStage, "kill_rules": t.Kill, "deny_rules": t.Deny,
		"has_parent": t.HasParent, "track_procs": boolByte(t.TrackProcs),
	}
	for name, v := range vars {
		vs, ok := spec.Variables[name]
		if !ok {
			return fmt.Errorf("policy: the object has no variable %s", name)
		}
		if err := vs.Set(v); err != nil {
			return fmt.Errorf("setting %s: %w", name, err)
		}
	}
	return nil
}

// pathKeySize is sizeof(struct path_key): prefixlen, dim and 255 bytes
// of path.
const pathKeySize = 4 + 1 + 255

func pathKey(k policy.PathKey, prefix bool) []byte {
	b := make([]byte, pathKeySize)
	if prefix {
		binary.LittleEndian.PutUint32(b, uint32(8*(1+len(k.Path))))
	}
	b[4] = k.Dim
	copy(b[5:], k.Path)
	return b
}

type masks struct{ Pos, Neg uint64 }

func (c *Collector) fillMaps() error {
	t, m := c.tables, c.Collection().Maps
	put := func(name string, k, v any) error {
		if err := m[name].Put(k, v); err != nil {
			return fmt.Errorf("filling the %s map: %w", name, err)
		}
		return nil
	}
	for k, v := range t.Paths {
		if err := put("paths", pathKey(k, false), masks(v)); err != nil {
			return err
		}
	}
	for k, v := range t.Prefixes {
		if err := put("prefixes", pathKey(k, true), masks(v)); err != nil {
			return err
		}
	}
	for k, v := range t.UIDs {
		if err := put("uids", k, v); err != nil {
			return err
		}
	}
	for k, v := range t.Comms {
		var comm [16]byte
		copy(comm[:], k)
		if err := put("comms", comm, v); err != nil {
			return err
		}
	}
	for k, v := range t.Ports {
		if err := put("ports", k, v); err != nil {
			return err
		}
	}
	for k, v := range t.CIDRs {
		key := make([]byte, 4, 4+16)
		binary.LittleEndian.PutUint32(key, uint32(k.Bits()))
		key = append(key, k.Addr().AsSlice()...)
		name := "cidrs6"
		if k.Addr().Is4() {
			name = "cidrs4"
		}
		if err := put(name, key, masks(v)); err != nil {
			return err
		}
	}
	return nil
}

func (c *Collector) attach() error {
	coll := c.Collection()
	tp := func(group, name, prog string) error {
		l, err := link.Tracepoint(group, name, coll.Programs[prog], nil)
		if err != nil {
			return fmt.Errorf("attaching %s/%s: %w", group, name, err)
		}
		c.links.Add(l)
		return nil
	}
	t := c.tables
	if t.TrackProcs {
		if err := tp("sched", "sched_process_fork", "policy_fork"); err != nil {
			return err
		}
	}
	if t.OnExec != 0 || t.TrackProcs {
		if err := tp("sched", "sched_process_exec", "policy_exec"); err != nil {
			return err
		}
	}
	if t.TrackProcs {
		// After the exec and fork hooks, so that no process falls between.
		if err := c.seedProcs(); err != nil {
			return err
		}
	}
	if t.OnOpen != 0 {
		// Exits first: an entry without its exit would leave pending records.
		for _, h := range [][3]string{
			{"syscalls", "sys_exit_openat", "policy_openat_exit"},
			{"syscalls", "sys_exit_open", "policy_open_exit"},
			{"syscalls", "sys_enter_openat", "policy_openat"},
			{"syscalls", "sys_enter_open", "policy_open"},
		} {
			if err := tp(h[0], h[1], h[2]); err != nil {
				return err
			}
		}
	}
	if t.OnConnect != 0 {
		for _, h := range []struct {
			at   ebpf.AttachType
			prog string
		}{{ebpf.AttachCGroupInet4Connect, "policy_connect4"}, {ebpf.AttachCGroupInet6Connect, "policy_connect6"}} {
			l, err := link.AttachCgroup(link.CgroupOptions{Path: c.cfg.Cgroup, Attach: h.at, Program: coll.Programs[h.prog]})
			if err != nil {
				return fmt.Errorf("attaching %s to %s: %w", h.prog, c.cfg.Cgroup, err)
			}
			c.links.Add(l)
		}
	}
	return nil
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

type proc struct{ Bin, Parent uint64 }

// seedProcs fills the procs map for the processes that exec'd before the
// exec hook was attached, from /proc/PID/exe (the resolved path), keeping
// what the hooks already wrote.
func (c *Collector) seedProcs() error {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return fmt.Errorf("seeding the process table: %w", err)
	}
	m, t := c.Collection().Maps["procs"], c.tables
	for _, e := range ents {
		pid, err := strconv.ParseUint(e.Name(), 10, 32)
		if err != nil {
			continue
		}
		exe, err := os.Readlink("/proc/" + e.Name() + "/exe")
		if err != nil {
			continue // a kernel thread, or gone
		}
		p := proc{t.PathRules(policy.DimBinary, exe, t.HasBinary), t.PathRules(policy.DimParent, exe, t.HasParent)}
		if err := m.Update(uint32(pid), p, ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
			return fmt.Errorf("seeding the process table: %w", err)
		}
	}
	return nil
}

// Counts returns the matches of each plan's rule so far, in plan order.
func (c *Collector) Counts() []uint64 {
	out := make([]uint64, len(c.cfg.Plans))
	if c.kernelFinal != nil {
		copy(out, c.kernelFinal)
	} else if coll := c.Collection(); coll != nil {
		var counts [policy.MaxRules]uint64
		if err := coll.Variables["match_count"].Get(&counts); err == nil {
			copy(out, counts[:])
		}
	}
	for i := range out {
		out[i] += c.userMatches[i].Load()
	}
	return out
}

// Close detaches everything, delivers the alerts still queued and frees
// the maps. It is idempotent.
func (c *Collector) Close() error {
	return c.life.Close(c.closeAll)
}

func (c *Collector) closeAll() error {
	err := c.links.Close()
	if c.Collection() != nil {
		c.kernelFinal = nil
		c.kernelFinal = c.Counts()
		for i := range c.kernelFinal {
			c.kernelFinal[i] -= c.userMatches[i].Load()
		}
	}
	return errors.Join(err, c.Tracer.Close())
}

const recordSize = int(unsafe.Sizeof(policyPolicyEvent{}))

// decode turns one record into its alerts, one per rule it matched (none
// when user space finds that a candidate does not match after all).
func (c *Collector) decode(b []byte) (event.Event, bool) {
	if len(b) < recordSize {
		return nil, false
	}
	raw := &c.raw
	copy(unsafe.Slice((*byte)(unsafe.Pointer(raw)), recordSize), b)
	c.batch.alerts = c.alerts(raw, c.batch.alerts[:0])
	return &c.batch, true
}

// batch carries the alerts of one record from decode to batchSink, which
// emits them one by one; it is never emitted itself.
type batch struct {
	event.Dynamic
	alerts []event.Event
}

type batchSink struct{ event.Sink }

func (s *batchSink) Emit(e event.Event) {
	if b, ok := e.(*batch); ok {
		for _, a := range b.alerts {
			s.Sink.Emit(a)
		}
		return
	}
	s.Sink.Emit(e)
}

// Alerts builds the alerts of one record, finishing user-stage rules.
func (c *Collector) alerts(raw *policyPolicyEvent, out []event.Event) []event.Event {
	var h event.Header
	collector.FillHeader(&h, &raw.Hdr, "alert", c.clock)
	ev, info := c.eventOf(raw, &h)
	for i, p := range c.cfg.Plans {
		bit := uint64(1) << i
		if raw.Matched&bit == 0 {
			continue
		}
		if p.Stage == "user" {
			if !p.Rule.Matches(ev) {
				continue
			}
			c.userMatches[i].Add(1)
		}
		a := info
		a.Rule, a.Severity, a.On, a.Action = p.Rule.Name, p.Rule.Severity, p.Rule.On, p.Action
		a.Mode = "enforce"
		if !p.Enforce {
			a.Mode = "audit"
		}
		a.Outcome = outcome(p, raw, bit)
		out = append(out, a.Event(h))
	}
	return out
}

func outcome(p *policy.Plan, raw *policyPolicyEvent, bit uint64) string {
	switch {
	case p.Action == "alert":
		return "alerted"
	case !p.Enforce && p.Action == "kill":
		return "would kill"
	case !p.Enforce:
		return "would deny"
	case raw.Acted&bit == 0:
		return "not acted"
	case p.Action == "deny":
		return "denied"
	case raw.ActRet == 0:
		return "killed"
	}
	return "kill failed: " + unix.ErrnoName(unix.Errno(-raw.ActRet))
}

// eventOf is the record as policy.Event, for the user-stage matcher, and
// the alert's description of it.
func (c *Collector) eventOf(raw *policyPolicyEvent, h *event.Header) (*policy.Event, policy.Alert) {
	uid := h.UID
	ev := &policy.Event{UID: &uid, Comm: h.Comm}
	var a policy.Alert
	path := collector.CString(raw.Path[:])
	switch raw.On {
	case 1:
		ev.Type, ev.Filename = "exec", path
		a.Binary = path
	case 2:
		ev.Type, ev.Path = "open", path
		ev.Flags = openFlags(raw.Flags)
		a.File = path
		a.Access = policy.AccessNames(raw.Access)
	case 3:
		ev.Type = "connect"
		var addr netip.Addr
		if raw.Family == 2 {
			addr = netip.AddrFrom4([4]byte(raw.Daddr[:4]))
		} else {
			addr = netip.AddrFrom16(raw.Daddr).Unmap()
		}
		ev.DAddr, ev.DPort = addr.String(), raw.Dport
		ev.Proto = "tcp"
		if raw.Proto == 17 {
			ev.Proto = "udp"
		}
		a.Destination = netip.AddrPortFrom(addr, raw.Dport).String()
		a.Protocol = ev.Proto
	}
	if c.tables.UserStage&raw.Matched != 0 {
		// What the kernel side does not know: read while the process lives.
		if raw.On != 1 {
			ev.Binary, _ = os.Readlink("/proc/" + strconv.Itoa(int(h.PID)) + "/exe")
			a.Binary = ev.Binary
		}
		if h.PPID != 0 {
			ev.Parent, _ = os.Readlink("/proc/" + strconv.Itoa(int(h.PPID)) + "/exe")
		}
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(int(h.PID)) + "/cmdline"); err == nil {
			ev.Argv = splitNUL(b)
		}
	}
	return ev, a
}

func splitNUL(b []byte) []string {
	var out []string
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != 0 {
			i++
		}
		out = append(out, string(b[:i]))
		if i < len(b) {
			i++
		}
		b = b[i:]
	}
	return out
}

func openFlags(f uint32) string {
	s := "O_RDONLY"
	switch f & 3 {
	case 1:
		s = "O_WRONLY"
	case 2:
		s = "O_RDWR"
	}
	if f&0o100 != 0 {
		s += "|O_CREAT"
	}
	if f&0o1000 != 0 {
		s += "|O_TRUNC"
	}
	return s
}
