package policy

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/container"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/policy"
)

// Name is the collector's name in errors and logs.
const Name = "policy"

// Config says what to enforce and where.
type Config struct {
	Plans []*policy.Plan
	// Cgroup is the cgroup v2 directory the connect, bind and sendmsg
	// programs attach to; they see the processes in it and below. Needed
	// when a plan is on one of those events.
	Cgroup string
	// CgroupRoot is the cgroup v2 hierarchy's mount, which cgroup
	// selectors' paths start from; found when empty.
	CgroupRoot string
	// ContainerPoll is how often the container runtimes are asked for
	// their containers while a container selector names one by name or
	// id prefix (default 2s); Docker's event stream also triggers it.
	ContainerPoll time.Duration
	Logger        *slog.Logger
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
	procs       procCache
	// cgroups resolves cgroup ids for user-stage cgroup selectors.
	cgroups *cgroupPaths
	// pathIdx and prefixIdx are the entries of the kernel's pathmasks
	// array of each exact path and prefix.
	pathIdx, prefixIdx map[policy.PathKey]uint32
	// hostNS are the host's namespaces' inode numbers, in
	// policy.Namespaces' order.
	hostNS [7]uint32
	// containers names the containers of processes, for container
	// selectors; nil without them.
	containers *container.Resolver
	// lsmRules are the rules denied in BPF LSM hooks, by the lsm object
	// (nil without them); the main object's on_mask leaves them out.
	lsmRules policy.Bits
	lsm      *ebpf.Collection
	// ctrHier is the kernel's ctr_hier: the hierarchy whose cgroup names
	// hold container ids; ctr the container trie's upkeep.
	ctrHier uint32
	ctr     ctrState
}

// ctrState is what user space keeps of the kernel's container trie: the
// entries it holds, the goroutine that keeps them current, and the entries
// the trie had no room for.
type ctrState struct {
	mu      sync.Mutex
	table   map[string]policy.Masks
	cancel  context.CancelFunc
	done    sync.WaitGroup
	dropped atomic.Uint64
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
	if err := t.CheckCapacity(); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	for _, on := range policy.SockEvents {
		if !t.On[policy.EventIndex(on)].IsZero() && cfg.Cgroup == "" {
			return nil, fmt.Errorf("policy: %s rules need a cgroup v2 directory to attach to", on)
		}
	}
	userCgroup := slices.ContainsFunc(cfg.Plans, func(p *policy.Plan) bool { return p.Stage == "user" && p.Rule.Match.Cgroup != nil })
	if (len(t.Cgroups) > 0 || userCgroup) && cfg.CgroupRoot == "" {
		cfg.CgroupRoot = CgroupRoot()
		if cfg.CgroupRoot == "" {
			return nil, errors.New("policy: cgroup selectors need a cgroup v2 hierarchy: none is mounted")
		}
	}
	var cgroups *cgroupPaths
	if userCgroup {
		cgroups = &cgroupPaths{root: cfg.CgroupRoot, m: map[uint64]string{}}
	}
	var containers *container.Resolver
	var ctrHier uint32
	if slices.ContainsFunc(cfg.Plans, func(p *policy.Plan) bool { return len(p.Rule.Match.Container) > 0 }) {
		containers = container.New(container.Options{Logger: cfg.Logger})
		// Without /proc/cgroups no v1 controller is known: cgroup v2.
		data, _ := os.ReadFile("/proc/cgroups")
		var name string
		ctrHier, name = ContainerHierarchy(data)
		cfg.Logger.Info("container selectors match the cgroup names of a hierarchy", "hierarchy", name)
	}
	if cfg.ContainerPoll <= 0 {
		cfg.ContainerPoll = 2 * time.Second
	}
	var lsmRules policy.Bits
	for i, p := range cfg.Plans {
		if p.LSM() {
			lsmRules.Set(i)
		}
	}
	return &Collector{
		containers:  containers,
		ctrHier:     ctrHier,
		lsmRules:    lsmRules,
		cgroups:     cgroups,
		Tracer:      collector.NewTracer(Name, collector.Config{RingBytes: 1 << 20, Logger: cfg.Logger}),
		cfg:         cfg,
		tables:      t,
		clock:       collector.NewClock(),
		userMatches: make([]atomic.Uint64, len(cfg.Plans)),
		procs:       procCache{m: map[uint32]procInfo{}},
	}, nil
}

// CgroupRoot returns the cgroup v2 mount: /sys/fs/cgroup/unified on hybrid
// hosts, else /sys/fs/cgroup; "" when there is none.
func CgroupRoot() string {
	for _, p := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return p
		}
	}
	return ""
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
	if c.hostNS, err = HostNamespaces(); err != nil {
		return err
	}
	// The rules denied in LSM hooks are the lsm object's alone.
	if err := c.setConstants(spec, c.mainOn()); err != nil {
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
	c.watchContainers()
	return nil
}

// mainOn are the rules of each event the main object matches: all but
// the rules denied in LSM hooks, which are the lsm object's alone.
func (c *Collector) mainOn() [policy.MaxEvents]policy.Bits {
	on := c.tables.On
	for i := range on {
		on[i] = on[i].AndNot(c.lsmRules)
	}
	return on
}

// setConstants sets an object's knobs: the tables, with on the rules of
// each event that object matches.
func (c *Collector) setConstants(spec *ebpf.CollectionSpec, on [policy.MaxEvents]policy.Bits) error {
	t := c.tables
	vars := map[string]any{
		"on_mask":    on,
		"has_binary": t.HasBinary, "has_file": t.HasFile, "has_uid": t.HasUID, "has_comm": t.HasComm,
		"has_access": t.HasAccess, "has_cidr": t.HasCIDR, "has_port": t.HasPort,
		"not_root": t.NotRoot, "proto_tcp": t.TCP, "proto_udp": t.UDP,
		"access_rules": t.Access,
		"user_stage":   t.UserStage, "kill_rules": t.Kill, "deny_rules": t.Deny,
		"has_parent": t.HasParent, "has_ancestor": t.HasAncestor, "has_cgroup": t.HasCgroup,
		"has_euid": t.HasEUID, "has_gid": t.HasGID, "has_cap": t.HasCap, "has_ns": t.HasNS,
		"cap_rules": t.Caps, "ns_rules": t.NS, "host_ns": c.hostNS,
		"has_container": t.HasContainer, "ctr_hier": c.ctrHier,
		"nwords": uint32((len(c.cfg.Plans) + 63) / 64), "uses": c.uses(), "on_events": onEvents(on),
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

// HostNamespaces reads the host's namespaces in policy.Namespaces' order:
// their inode numbers, pid 1's where kscope may read them, else kscope's
// own (a pid 1 that is not dumpable, or a security module, can refuse).
func HostNamespaces() ([7]uint32, error) {
	var out [7]uint32
	for i, k := range policy.Namespaces {
		var st unix.Stat_t
		err := unix.Stat("/proc/1/ns/"+k, &st)
		if err != nil {
			err = unix.Stat("/proc/self/ns/"+k, &st)
		}
		if err != nil {
			return out, fmt.Errorf("reading the host's %s namespace: %w", k, err)
		}
		out[i] = uint32(st.Ino)
	}
	return out, nil
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

func (c *Collector) fillMaps() error {
	t, m := c.tables, c.Collection().Maps
	put := func(name string, k, v any) error {
		if err := m[name].Put(k, v); err != nil {
			return fmt.Errorf("filling the %s map: %w", name, err)
		}
		return nil
	}
	// Each exact path and prefix gets an entry of pathmasks, from 1.
	c.pathIdx, c.prefixIdx = map[policy.PathKey]uint32{}, map[policy.PathKey]uint32{}
	next := uint32(1)
	for _, tab := range []struct {
		name string
		m    map[policy.PathKey]policy.Masks
		idx  map[policy.PathKey]uint32
	}{{"paths", t.Paths, c.pathIdx}, {"prefixes", t.Prefixes, c.prefixIdx}} {
		for k, v := range tab.m {
			if err := put("pathmasks", next, v); err != nil {
				return err
			}
			if err := put(tab.name, pathKey(k, tab.name == "prefixes"), next); err != nil {
				return err
			}
			tab.idx[k] = next
			next++
		}
	}
	for k, v := range t.IDs {
		if err := put("ids", policyIdKey{Kind: uint32(k.Kind), Id: k.ID}, v); err != nil {
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
		key := policyPortKey{Prefixlen: uint32(k.Bits)}
		binary.BigEndian.PutUint16(key.Port[:], k.Port)
		if err := put("ports", key, v); err != nil {
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
		if err := put(name, key, v); err != nil {
			return err
		}
	}
	if c.containers != nil {
		// Names resolved now, before anything is attached; kept
		// current by watchContainers.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.syncContainers(ctx)
		cancel()
	}
	for k, v := range t.Cgroups {
		// A cgroup v2 directory's inode number is the cgroup's id.
		dir := filepath.Join(c.cfg.CgroupRoot, k.Path)
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err != nil {
			return fmt.Errorf("resolving the cgroup %s (%s): %w", k.Path, dir, err)
		}
		key := policyCgroupKey{Id: st.Ino}
		if k.Exact {
			key.Exact = 1
		}
		if err := put("cgroups", key, v); err != nil {
			return err
		}
	}
	return nil
}

// Probe answers policy.Features: the tracepoints of syscall events from
// tracefs, the rest from bpfx's probes.
var Probe = policy.WithTracepoints(bpfx.ProbeFeature)

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
	// The process table first: fork, exec and exit, then the processes
	// already running, so that no process falls between.
	l, err := link.AttachTracing(link.TracingOptions{Program: coll.Programs["policy_fork"], AttachType: ebpf.AttachTraceRawTp})
	if err != nil {
		return fmt.Errorf("attaching tp_btf/sched_process_fork: %w", err)
	}
	c.links.Add(l)
	if err := tp("sched", "sched_process_exec", "policy_exec"); err != nil {
		return err
	}
	if err := tp("sched", "sched_process_exit", "policy_exit"); err != nil {
		return err
	}
	if err := c.seedProcs(); err != nil {
		return err
	}
	t := c.tables
	// The events the main object matches: not the rules denied in LSM hooks.
	on := c.mainOn()
	if !on[policy.EventIndex("open")].IsZero() {
		// Exits first: an entry without its exit would leave pending records.
		for _, h := range [][3]string{
			{"syscalls", "sys_exit_openat", "policy_openat_exit"},
			{"syscalls", "sys_exit_open", "policy_open_exit"},
			{"syscalls", "sys_exit_openat2", "policy_openat2_exit"},
			{"syscalls", "sys_enter_openat", "policy_openat"},
			{"syscalls", "sys_enter_open", "policy_open"},
			{"syscalls", "sys_enter_openat2", "policy_openat2"},
		} {
			err := tp(h[0], h[1], h[2])
			if errors.Is(err, os.ErrNotExist) && (strings.HasSuffix(h[1], "_open") || strings.HasSuffix(h[1], "_openat2")) {
				// open(2) is x86-64's, not arm64's; openat2 is 5.6's
				continue
			}
			if err != nil {
				return err
			}
		}
	}
	for _, ev := range policy.SyscallEvents {
		if on[policy.EventIndex(ev)].IsZero() {
			continue
		}
		// A syscall this kernel does not have (policy check lists them).
		for _, sc := range policy.SyscallNames[ev] {
			err := tp("syscalls", "sys_enter_"+sc, "policy_"+sc)
			if errors.Is(err, os.ErrNotExist) {
				c.cfg.Logger.Info("a syscall of the event is not on this kernel", "event", ev, "syscall", sc)
				continue
			}
			if err != nil {
				return err
			}
		}
	}
	sock := map[string][2]ebpf.AttachType{
		"connect": {ebpf.AttachCGroupInet4Connect, ebpf.AttachCGroupInet6Connect},
		"bind":    {ebpf.AttachCGroupInet4Bind, ebpf.AttachCGroupInet6Bind},
		"sendmsg": {ebpf.AttachCGroupUDP4Sendmsg, ebpf.AttachCGroupUDP6Sendmsg},
	}
	for _, on := range policy.SockEvents {
		if t.On[policy.EventIndex(on)].IsZero() {
			continue
		}
		for i, at := range sock[on] {
			prog := "policy_" + on + strconv.Itoa(4+2*i)
			l, err := link.AttachCgroup(link.CgroupOptions{Path: c.cfg.Cgroup, Attach: at, Program: coll.Programs[prog]})
			if err != nil {
				return fmt.Errorf("attaching %s to %s: %w", prog, c.cfg.Cgroup, err)
			}
			c.links.Add(l)
		}
	}
	if !c.lsmRules.IsZero() {
		return c.attachLSM()
	}
	return nil
}

// lsmShared are the maps the lsm object shares with the main one: the
// rule tables, the process table, the ring buffer and the stats.
var lsmShared = []string{"paths", "prefixes", "pathmasks", "ids", "comms", "ports", "cidrs4", "cidrs6", "cgroups", "containers", "procs", "events", "stats"}

// lsmHooks are the lsm object's programs of each event.
var lsmHooks = map[string][]string{
	"exec":        {"policy_lsm_exec"},
	"open":        {"policy_lsm_file_open"},
	"ptrace":      {"policy_lsm_ptrace"},
	"module_load": {"policy_lsm_read_file", "policy_lsm_load_data"},
	"bpf":         {"policy_lsm_bpf"},
	"mount":       {"policy_lsm_mount", "policy_lsm_move_mount"},
}

// attachLSM loads the lsm object's programs of the events that have LSM
// deny rules, on the main object's maps, and attaches them.
func (c *Collector) attachLSM() error {
	spec, err := loadLsm()
	if err != nil {
		return fmt.Errorf("loading the lsm object: %w", err)
	}
	var on [policy.MaxEvents]policy.Bits
	var progs []string
	for i := range on {
		on[i] = c.tables.On[i].And(c.lsmRules)
	}
	for _, ev := range policy.LSMEvents {
		if !on[policy.EventIndex(ev)].IsZero() {
			progs = append(progs, lsmHooks[ev]...)
		}
	}
	// The object holds policy.bpf.c's programs too: only these load.
	for name := range spec.Programs {
		if !slices.Contains(progs, name) {
			delete(spec.Programs, name)
		}
	}
	if err := c.Config().Apply(spec); err != nil {
		return fmt.Errorf("configuring the lsm object: %w", err)
	}
	if err := c.setConstants(spec, on); err != nil {
		return err
	}
	shared := map[string]*ebpf.Map{}
	for _, name := range lsmShared {
		m := c.Collection().Maps[name]
		spec.Maps[name].MaxEntries = m.MaxEntries()
		shared[name] = m
	}
	coll, err := bpfx.NewCollectionReplacing(spec, shared)
	if err != nil {
		return bpfx.LoadError("the policy's lsm programs", err)
	}
	c.lsm = coll
	for _, name := range progs {
		l, err := link.AttachLSM(link.LSMOptions{Program: coll.Programs[name]})
		if err != nil {
			return fmt.Errorf("attaching %s: %w", name, err)
		}
		c.links.Add(l)
	}
	return nil
}

// The kernel's USE_* flags: what some rule selects on.
const (
	useCgroup = 1 << iota
	useCreds
	useCap
	useNS
	useIDs
	useNotRoot
	useComm
	useBinary
	useParent
	useAncestor
	useAccess
	useFile
	useCIDR
	usePort
	useContainer
)

func (c *Collector) uses() uint32 {
	t := c.tables
	var u uint32
	if len(t.Cgroups) > 0 {
		u |= useCgroup
	}
	if !t.HasEUID.IsZero() || !t.HasGID.IsZero() || !t.HasCap.IsZero() || !t.HasNS.IsZero() {
		u |= useCreds
	}
	if !t.HasCap.IsZero() {
		u |= useCap
	}
	if !t.HasNS.IsZero() {
		u |= useNS
	}
	if !t.HasUID.IsZero() || !t.HasEUID.IsZero() || !t.HasGID.IsZero() {
		u |= useIDs
	}
	if !t.NotRoot.IsZero() {
		u |= useNotRoot
	}
	if len(t.Comms) > 0 {
		u |= useComm
	}
	if !t.HasAccess.IsZero() {
		u |= useAccess
	}
	if len(t.CIDRs) > 0 {
		u |= useCIDR
	}
	if len(t.Ports) > 0 {
		u |= usePort
	}
	if !t.HasContainer.IsZero() {
		u |= useContainer
	}
	// A path dimension is used when it has an exact path or a prefix,
	// positive or not_.
	dims := map[uint8]uint32{policy.DimBinary: useBinary, policy.DimParent: useParent, policy.DimAncestor: useAncestor, policy.DimFile: useFile}
	for _, m := range []map[policy.PathKey]policy.Masks{t.Paths, t.Prefixes} {
		for k := range m {
			u |= dims[k.Dim]
		}
	}
	return u
}

// onEvents has bit EventIndex(on) set for each event some rule is on.
func onEvents(on [policy.MaxEvents]policy.Bits) uint32 {
	var b uint32
	for i, m := range on {
		if !m.IsZero() {
			b |= 1 << i
		}
	}
	return b
}

// pidx, anc and proc mirror the kernel's struct pidx, struct anc and
// struct proc.
type pidx struct{ Exact, Prefix uint32 }

type anc struct {
	Pid, Seeded uint32
	StartNs     uint64
	Par, Anc    pidx
}

type proc struct {
	Bin        pidx
	Depth, Pad uint32
	Self       anc
	Chain      [8]anc
}

// pidxOf is the kernel's path_idx in Go: the pathmasks entries of a path's
// exact entry and longest prefix in dimension dim.
func (c *Collector) pidxOf(dim uint8, path string) pidx {
	if len(path) > policy.MaxPath {
		path = path[:policy.MaxPath]
	}
	out := pidx{Exact: c.pathIdx[policy.PathKey{Dim: dim, Path: path}]}
	best := -1
	for k, i := range c.prefixIdx {
		if k.Dim == dim && strings.HasPrefix(path, k.Path) && len(k.Path) > best {
			best, out.Prefix = len(k.Path), i
		}
	}
	return out
}

// seedProcs fills the process table for the processes that started
// before the fork and exec hooks were attached, from /proc: each one's
// binary (/proc/PID/exe, the resolved path, where an exec records the path
// as given), argv and its ancestors by parent pid. It keeps what the hooks
// already wrote.
func (c *Collector) seedProcs() error {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return fmt.Errorf("seeding the process table: %w", err)
	}
	type seed struct {
		ppid  uint32
		start uint64
		exe   string
	}
	seeds := map[uint32]seed{}
	for _, e := range ents {
		pid, err := strconv.ParseUint(e.Name(), 10, 32)
		if err != nil {
			continue
		}
		ppid, start, err := procStat(uint32(pid))
		if err != nil {
			continue // gone
		}
		exe, err := os.Readlink("/proc/" + e.Name() + "/exe")
		if err != nil {
			continue // a kernel thread, or gone
		}
		seeds[uint32(pid)] = seed{ppid, start, exe}
		argv := []string{}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil {
			argv = splitNUL(b)
		}
		c.procs.put(uint32(pid), procInfo{start: start, binary: exe, argv: argv, seeded: true})
	}
	m := c.Collection().Maps["procs"]
	anc := func(pid uint32, s seed) anc {
		return anc{Pid: pid, Seeded: 1, StartNs: s.start, Par: c.pidxOf(policy.DimParent, s.exe), Anc: c.pidxOf(policy.DimAncestor, s.exe)}
	}
	for pid, s := range seeds {
		var p proc
		p.Bin = c.pidxOf(policy.DimBinary, s.exe)
		p.Self = anc(pid, s)
		for pp := s.ppid; pp != 0 && p.Depth < uint32(len(p.Chain)); {
			ps, ok := seeds[pp]
			if !ok {
				break
			}
			p.Chain[p.Depth] = anc(pp, ps)
			p.Depth++
			pp = ps.ppid
		}
		if err := m.Update(pid, &p, ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
			return fmt.Errorf("seeding the process table: %w", err)
		}
	}
	return nil
}

// procStat reads a process's parent and start time from /proc/PID/stat;
// the start is in clock ticks since boot, turned into CLOCK_MONOTONIC ns.
func procStat(pid uint32) (ppid uint32, start uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The fields after the comm, which may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, errors.New("malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, 0, errors.New("malformed stat")
	}
	pp, err1 := strconv.ParseUint(f[1], 10, 32)
	ticks, err2 := strconv.ParseUint(f[19], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, errors.New("malformed stat")
	}
	// USER_HZ is 100 on Linux; the start is counted on the boot-time
	// clock, which runs ahead of the monotonic one while suspended.
	ns := ticks * 10_000_000
	var mono, boot unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono) == nil && unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot) == nil {
		if d := boot.Nano() - mono.Nano(); d > 0 && uint64(d) < ns {
			ns -= uint64(d)
		}
	}
	return uint32(pp), ns, nil
}

// procInfo is what user space keeps of a process for alerts' ancestry: its
// start time, binary and argv, from its exec record or /proc.
type procInfo struct {
	start  uint64
	binary string
	argv   []string
	// seeded: read from /proc, whose start time is in clock ticks.
	seeded bool
}

// maxProcs bounds the process cache, as the kernel's table is bounded.
const maxProcs = 32768

// procCache maps pids to their processes, bounded: when full, an arbitrary
// tenth of the entries goes.
type procCache struct {
	mu sync.Mutex
	m  map[uint32]procInfo
}

func (pc *procCache) put(pid uint32, p procInfo) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if len(pc.m) >= maxProcs {
		n := 0
		for k := range pc.m {
			delete(pc.m, k)
			if n++; n >= maxProcs/10 {
				break
			}
		}
	}
	pc.m[pid] = p
}

// get returns the process pid started at start: the cache's entry when its
// start matches (within a clock tick and a half for one seeded from /proc).
func (pc *procCache) get(pid uint32, start uint64) (procInfo, bool) {
	pc.mu.Lock()
	p, ok := pc.m[pid]
	pc.mu.Unlock()
	if !ok {
		return p, false
	}
	if p.start == start {
		return p, true
	}
	if p.seeded {
		d := int64(p.start - start)
		if d < 0 {
			d = -d
		}
		return p, d < 15_000_000
	}
	return p, false
}

// Programs are the lsm object's programs, for the agent's BPF run-time
// statistics (kscope_self_bpf_program_*), which read the main object's
// from its Collection; none without deny rules in BPF LSM hooks.
func (c *Collector) Programs() map[string]*ebpf.Program {
	if c.lsm == nil {
		return nil
	}
	return c.lsm.Programs
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
		if c.lsm != nil && c.lsm.Variables["match_count"].Get(&counts) == nil {
			for i := range out {
				out[i] += counts[i]
			}
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
	if c.ctr.cancel != nil {
		c.ctr.cancel()
		c.ctr.done.Wait()
		c.ctr.cancel = nil
	}
	err := c.links.Close()
	if c.Collection() != nil {
		c.kernelFinal = nil
		c.kernelFinal = c.Counts()
		for i := range c.kernelFinal {
			c.kernelFinal[i] -= c.userMatches[i].Load()
		}
	}
	if c.containers != nil {
		err = errors.Join(err, c.containers.Close())
	}
	if c.lsm != nil {
		c.lsm.Close()
		c.lsm = nil
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

// Alerts builds the alerts of one record, finishing user-stage rules. An
// exec record that matched nothing only updates the process cache.
func (c *Collector) alerts(raw *policyPolicyEvent, out []event.Event) []event.Event {
	var h event.Header
	collector.FillHeader(&h, &raw.Hdr, "alert", c.clock)
	if raw.On == onExec && c.lsmRules.And(raw.Matched.W).IsZero() {
		// An exec denied in its LSM hook never happened.
		c.procs.put(h.PID, procInfo{start: raw.Hdr.StartNs, binary: collector.CString(raw.Path[:]), argv: argvOf(raw)})
	}
	matched := policy.Bits(raw.Matched.W)
	if matched.IsZero() {
		return out
	}
	ev, info := c.eventOf(raw, &h)
	for i, p := range c.cfg.Plans {
		if !matched.Has(i) {
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
		a.Outcome = outcome(p, raw, i)
		out = append(out, a.Event(h))
	}
	return out
}

func outcome(p *policy.Plan, raw *policyPolicyEvent, rule int) string {
	switch {
	case p.Action == "alert":
		return "alerted"
	case !p.Enforce && p.Action == "kill":
		return "would kill"
	case !p.Enforce:
		return "would deny"
	case !policy.Bits(raw.Acted.W).Has(rule):
		return "not acted"
	case p.Action == "deny":
		return "denied"
	case raw.ActRet == 0:
		return "killed"
	}
	return "kill failed: " + unix.ErrnoName(unix.Errno(-raw.ActRet))
}

// The kernel side's event numbers (ON_*) are policy.EventIndex's.
var onExec = uint8(policy.EventIndex("exec"))

func argvOf(raw *policyPolicyEvent) []string {
	n := min(int(raw.ArgvLen), len(raw.Argv))
	b := unsafe.Slice((*byte)(unsafe.Pointer(&raw.Argv[0])), n)
	return splitNUL(bytes.TrimRight(b, "\x00"))
}

// ancestry resolves the record's ancestors: from the process cache, else
// from /proc while the process lives. A process that forked and never
// exec'd has its parent's binary and argv.
func (c *Collector) ancestry(raw *policyPolicyEvent) []policy.Ancestor {
	n := min(int(raw.Depth), len(raw.Anc))
	out := make([]policy.Ancestor, n)
	known := make([]bool, n)
	for i := range n {
		id := raw.Anc[i]
		out[i] = policy.Ancestor{PID: id.Pid, StartNS: id.StartNs}
		if p, ok := c.procs.get(id.Pid, id.StartNs); ok {
			out[i].Binary, out[i].Argv, known[i] = p.binary, p.argv, true
			continue
		}
		if _, start, err := procStat(id.Pid); err == nil && absDiff(start, id.StartNs) < 15_000_000 {
			out[i].Binary, _ = os.Readlink("/proc/" + strconv.Itoa(int(id.Pid)) + "/exe")
			if b, err := os.ReadFile("/proc/" + strconv.Itoa(int(id.Pid)) + "/cmdline"); err == nil {
				out[i].Argv = splitNUL(b)
			}
			known[i] = out[i].Binary != ""
		}
	}
	for i := n - 2; i >= 0; i-- {
		if !known[i] && known[i+1] {
			out[i].Binary, out[i].Argv, known[i] = out[i+1].Binary, out[i+1].Argv, true
		}
	}
	return out
}

func absDiff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}

// eventOf is the record as policy.Event, for the user-stage matcher, and
// the alert's description of it.
func (c *Collector) eventOf(raw *policyPolicyEvent, h *event.Header) (*policy.Event, policy.Alert) {
	uid := h.UID
	on := ""
	if i := int(raw.On) - 1; i >= 0 && i < len(policy.Events) {
		on = policy.Events[i]
	}
	euid, gid := raw.Euid, raw.Gid
	ev := &policy.Event{Type: on, UID: &uid, EUID: &euid, GID: &gid, Comm: h.Comm,
		Caps: policy.CapNames(raw.Caps), Namespaces: nsNames(raw.Ns)}
	var a policy.Alert
	a.EUID, a.GID, a.Caps, a.Namespaces = euid, gid, ev.Caps, ev.Namespaces
	a.Ancestors = c.ancestry(raw)
	for _, x := range a.Ancestors {
		ev.Ancestors = append(ev.Ancestors, x.Binary)
	}
	if len(ev.Ancestors) > 0 {
		ev.Parent = ev.Ancestors[0]
	}
	path := collector.CString(raw.Path[:])
	switch {
	case on == "exec":
		ev.Filename, ev.Argv = path, argvOf(raw)
		a.Binary = path
	case on == "open":
		ev.Path = path
		ev.Flags = openFlags(raw.Flags)
		a.File = path
		a.Access = policy.AccessNames(raw.Access)
	case slices.Contains(policy.SockEvents, on):
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
	default:
		a.Syscall, a.Detail, a.TargetPID = syscallDetail(raw)
		if on == "chmod" || on == "mount" {
			a.File = path
		}
	}
	if on != "exec" {
		// The process's own binary: from its exec record, or /proc.
		if p, ok := c.procs.get(h.PID, raw.Hdr.StartNs); ok {
			ev.Binary, ev.Argv = p.binary, p.argv
		} else {
			ev.Binary, _ = os.Readlink("/proc/" + strconv.Itoa(int(h.PID)) + "/exe")
		}
		a.Binary = ev.Binary
	}
	if !c.tables.UserStage.And(raw.Matched.W).IsZero() {
		// What the kernel side does not know: read while the process lives.
		if ev.Argv == nil {
			if b, err := os.ReadFile("/proc/" + strconv.Itoa(int(h.PID)) + "/cmdline"); err == nil {
				ev.Argv = splitNUL(b)
			}
		}
		if c.cgroups != nil {
			ev.Cgroup = c.cgroups.path(h.CgroupID)
		}
	}
	if c.containers != nil {
		// Read while the process lives: its cgroups, then the runtime's
		// name for the container, cached by container.
		if info := c.containers.Process(h.PID, raw.Hdr.StartNs); info != nil && info.ID != "" {
			ev.Container, ev.ContainerID = info.Name, info.ID
			a.Container, a.ContainerID = info.Name, info.ID
			if a.Container == "" {
				a.Container = info.ID
			}
		}
	}
	a.Chain = policy.Chain(a.Ancestors, a.Binary)
	return ev, a
}

// cgroupPaths resolves cgroup v2 ids (a directory's inode number) to
// paths from the hierarchy's root, walking the hierarchy when an id is not
// known yet: a cgroup's id is never reused, so an id not found stays
// unknown.
type cgroupPaths struct {
	root string
	mu   sync.Mutex
	m    map[uint64]string
}

// maxCgroups bounds the cache.
const maxCgroups = 65536

func (cp *cgroupPaths) path(id uint64) string {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if p, ok := cp.m[id]; ok {
		return p
	}
	if len(cp.m) >= maxCgroups {
		clear(cp.m)
	}
	_ = filepath.WalkDir(cp.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil {
			rel := strings.TrimPrefix(p, cp.root)
			if rel == "" {
				rel = "/"
			}
			cp.m[st.Ino] = rel
		}
		return nil
	})
	p, ok := cp.m[id]
	if !ok {
		cp.m[id] = ""
	}
	return p
}

// The kernel's SYS_* numbers of the syscall events.
var sysNames = []string{1: "ptrace", "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "capset",
	"init_module", "finit_module", "bpf", "mount", "move_mount", "kill", "tgkill", "chmod", "fchmod", "fchmodat", "fchmodat2"}

// syscallDetail renders a syscall event's arguments.
func syscallDetail(raw *policyPolicyEvent) (name, detail string, target int64) {
	if int(raw.Sys) < len(sysNames) {
		name = sysNames[raw.Sys]
	}
	a := raw.Args
	str := collector.CString(raw.Argv[:])
	id := func(v uint64) string {
		if uint32(v) == ^uint32(0) {
			return "-1"
		}
		return strconv.FormatUint(uint64(uint32(v)), 10)
	}
	switch name {
	case "ptrace":
		req := "PTRACE_ATTACH"
		if a[0] == 0x4206 {
			req = "PTRACE_SEIZE"
		}
		return name, req + " pid " + strconv.FormatInt(int64(int32(a[1])), 10), int64(int32(a[1]))
	case "setuid", "setgid":
		return name, name[3:] + " " + id(a[0]), 0
	case "setreuid", "setregid":
		return name, "real " + id(a[0]) + " effective " + id(a[1]), 0
	case "setresuid", "setresgid":
		return name, "real " + id(a[0]) + " effective " + id(a[1]) + " saved " + id(a[2]), 0
	case "capset":
		return name, "", 0
	case "init_module":
		return name, fmt.Sprintf("%d bytes, params %q", a[0], str), 0
	case "finit_module":
		return name, fmt.Sprintf("fd %d, flags %#x, params %q", int32(a[0]), a[1], str), 0
	case "bpf":
		cmd := "BPF_MAP_CREATE"
		if a[0] == 5 {
			cmd = "BPF_PROG_LOAD"
		}
		return name, cmd, 0
	case "mount":
		return name, fmt.Sprintf("type %q, flags %#x", str, a[0]), 0
	case "move_mount":
		return name, fmt.Sprintf("flags %#x", a[0]), 0
	case "kill", "tgkill":
		return name, fmt.Sprintf("pid %d signal %d", int32(a[0]), a[1]), int64(int32(a[0]))
	case "chmod", "fchmod", "fchmodat", "fchmodat2":
		d := fmt.Sprintf("mode %04o", a[0]&0o7777)
		if name != "chmod" {
			d += fmt.Sprintf(", fd %d", int32(a[1]))
		}
		return name, d, 0
	}
	return name, "", 0
}

// nsNames lists the namespace kinds of the record's ns bits.
func nsNames(bits uint8) []string {
	var out []string
	for i, k := range policy.Namespaces {
		if bits&(1<<i) != 0 {
			out = append(out, k)
		}
	}
	return out
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
