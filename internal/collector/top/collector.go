package top

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/syscallnames"
)

// Name is the full collector's name (kscope top builds it with New; it is
// not an agent collector). NetName is the agent collector that counts
// network bytes per process only.
const (
	Name    = "top"
	NetName = "procnet"
)

// DefaultMaxProcs is the per-process map's room for the processes that
// ended since the previous read (reported once more, then deleted), on top
// of room for every live process of the host (bpfx.ProcessMapSize). The
// map is allocated as used.
const DefaultMaxProcs = 65536

// nrSlots is the BPF side's NR_SLOTS: syscall numbers with their own focus
// counter; the entry at nrSlots holds the rest.
const nrSlots = syscallnames.Slots

// NetHooks says how network bytes are counted.
type NetHooks int

// The ways to count network bytes, best first.
const (
	// NetSockTracepoints: sock_send_length and sock_recv_length (Linux
	// 6.3+), every sock_sendmsg and sock_recvmsg on IPv4/IPv6 sockets.
	NetSockTracepoints NetHooks = iota
	// NetSyscalls: the exits of read, readv, write, writev, sendto,
	// recvfrom, sendmsg, recvmsg, sendmmsg and recvmmsg on IPv4/IPv6
	// sockets (the fd checked through bpf_task_pt_regs, Linux 5.15+).
	NetSyscalls
	// NetSocketCalls: the exits of sendto, recvfrom, sendmsg and recvmsg,
	// on sockets of any family (no way to see the fd).
	NetSocketCalls
)

func (h NetHooks) String() string {
	switch h {
	case NetSockTracepoints:
		return "sock_send_length/sock_recv_length tracepoints"
	case NetSyscalls:
		return "socket syscall exits on IPv4/IPv6 sockets"
	case NetSocketCalls:
		return "sendto/recvfrom/sendmsg/recvmsg exits, any socket family"
	}
	return "unknown"
}

// The choices Start makes through bpfx.ChooseHook (and tests force with
// bpfx.ForceHook), best first: how reads and writes are told apart, and
// how network bytes are counted (by NetHooks).
const (
	variantRegularFiles = "regular_files"
	variantAnyFD        = "any_fd"
)

var netKinds = [...]string{
	NetSockTracepoints: "sock_tracepoints",
	NetSyscalls:        "syscalls",
	NetSocketCalls:     "socket_calls",
}

// Test knob: procsEntries shrinks the process map.
var procsEntries uint32

var (
	checkedRW = []string{
		topProgExitRead, topProgExitPread64, topProgExitReadv, topProgExitPreadv, topProgExitPreadv2,
		topProgExitWrite, topProgExitPwrite64, topProgExitWritev, topProgExitPwritev, topProgExitPwritev2,
	}
	anyFDRW = []string{
		topProgExitReadAnyfd, topProgExitPread64Anyfd, topProgExitReadvAnyfd, topProgExitPreadvAnyfd, topProgExitPreadv2Anyfd,
		topProgExitWriteAnyfd, topProgExitPwrite64Anyfd, topProgExitWritevAnyfd, topProgExitPwritevAnyfd, topProgExitPwritev2Anyfd,
	}
	// The read and write calls that can be on a socket.
	socketRW      = []string{topProgExitRead, topProgExitReadv, topProgExitWrite, topProgExitWritev}
	checkedSocket = []string{topProgExitSendto, topProgExitSendmsg, topProgExitRecvfrom, topProgExitRecvmsg, topProgExitSendmmsg, topProgExitRecvmmsg}
	anyFDSocket   = []string{topProgExitSendtoAnyfd, topProgExitSendmsgAnyfd, topProgExitRecvfromAnyfd, topProgExitRecvmsgAnyfd}
	sockTPs       = []string{topProgSockSendLength, topProgSockRecvLength}
	// What every mode keeps: comm after exec, the end of a process.
	lifecycle = []string{topProgSchedProcessExec, topProgSchedProcessExit}
)

// Proc is one process's counters since the collector started (or since
// the process did, if later).
type Proc struct {
	PID        uint32
	StartNs    uint64 // its start time, CLOCK_MONOTONIC: with PID, its identity
	Comm       string
	CPUNs      uint64 // on-CPU time, the current stint of a running process included
	Syscalls   uint64
	ReadBytes  uint64 // from regular files
	WriteBytes uint64 // to regular files
	RxBytes    uint64 // received on IPv4/IPv6 sockets
	TxBytes    uint64 // sent on IPv4/IPv6 sockets
	Exited     bool   // its last thread has exited; this is its last report
}

// Snapshot is one read of the kernel's counters.
type Snapshot struct {
	Procs []Proc
	// Untracked sums what processes without room in the map did (PID 0).
	Untracked Proc
	// Lost counts the updates that found the map full.
	Lost uint64
}

// SyscallCount is one syscall of the process in focus.
type SyscallCount struct {
	Name  string
	Calls uint64
}

// Collector counts per-process activity in the kernel. It emits no events.
type Collector struct {
	*collector.Tracer
	full bool // everything (kscope top), or net bytes only (procnet)
	log  *slog.Logger

	mu       sync.Mutex
	life     collector.Lifecycle
	anyFD    bool
	net      NetHooks
	maxProcs uint32
	ncpu     int
	m        struct{ procs, overflow, oncpu, focus, focusCalls *ebpf.Map }

	ended   map[topProcKey]bool   // seen ended by the previous Read
	lastCPU map[topProcKey]uint64 // CPU reported, which never decreases
	keys    []topProcKey
	vals    []topProcStat
	ovf     []topProcStat
	slots   []topCpuSlot
	focused uint32
	fsums   *bpfx.PerCPUSums
	fcalls  []uint64

	// procnet
	topK  *metrics.TopK
	rows  []metrics.Row
	state map[topProcKey]*netState
}

// New returns the full collector, for kscope top; Start loads and attaches
// it. cfg.Filter does not apply: the counts are system-wide.
func New(cfg collector.Config) (*Collector, error) {
	return newCollector(Name, cfg, true), nil
}

// NewNet returns the procnet collector: network bytes per process, as a
// metric source for the agent.
func NewNet(cfg collector.Config) (collector.Collector, error) {
	return newCollector(NetName, cfg, false), nil
}

func newCollector(name string, cfg collector.Config, full bool) *Collector {
	cfg.RingBytes = 4096 // metrics only: the shared ring buffer stays unused
	if cfg.Logger == nil {
		cfg.Logger = slog.Default().With("collector", name)
	}
	if cfg.TopK <= 0 {
		cfg.TopK = collector.DefaultTopK
	}
	return &Collector{
		Tracer:   collector.NewTracer(name, cfg),
		full:     full,
		log:      cfg.Logger,
		maxProcs: bpfx.ProcessMapSize("/proc") + DefaultMaxProcs,
		ended:    map[topProcKey]bool{},
		lastCPU:  map[topProcKey]uint64{},
		topK:     newTopK(cfg),
		state:    map[topProcKey]*netState{},
	}
}

// Name implements collector.Collector.
func (c *Collector) Name() string {
	if c.full {
		return Name
	}
	return NetName
}

// NetHooks says how network bytes are counted on this kernel (after Start).
func (c *Collector) NetHooks() NetHooks { return c.net }

// AnyFD reports whether reads and writes count on every kind of fd, not
// only regular files (kernels without bpf_task_pt_regs).
func (c *Collector) AnyFD() bool { return c.anyFD }

// sockTracepoints reports whether the kernel has the sock_send_length and
// sock_recv_length tracepoints, as tp_btf attaches to them: by their BTF
// typedefs.
func sockTracepoints() error {
	kt, err := bpfx.KernelTypes()
	if err != nil {
		return fmt.Errorf("kernel BTF: %w", err)
	}
	for _, tp := range []string{"sock_send_length", "sock_recv_length"} {
		var td *btf.Typedef
		if err := kt.TypeByName("btf_trace_"+tp, &td); err != nil {
			return fmt.Errorf("tracepoint sock:%s: %w", tp, err)
		}
	}
	return nil
}

// Start loads the programs for this kernel and attaches them.
func (c *Collector) Start(_ context.Context, _ event.Sink) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.life.Start(c.Name()); err != nil {
		return err
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return fmt.Errorf("counting CPUs: %w", err)
	}
	c.ncpu = ncpu
	spec, err := loadTop()
	if err != nil {
		return err
	}
	keep, rwNet, err := c.choose()
	if err != nil {
		return err
	}
	for name := range spec.Programs {
		if !keep[name] {
			delete(spec.Programs, name)
		}
	}
	for name, v := range map[string]uint8{"rw_files": boolByte(c.full), "rw_net": boolByte(rwNet)} {
		if err := spec.Variables[name].Set(v); err != nil {
			return fmt.Errorf("setting %s: %w", name, err)
		}
	}
	if procsEntries > 0 {
		c.maxProcs = procsEntries
	}
	spec.Maps[topMapProcs].MaxEntries = c.maxProcs
	if err := c.Load(spec); err != nil {
		return err
	}
	maps := c.Collection().Maps
	c.m.procs, c.m.overflow, c.m.oncpu = maps[topMapProcs], maps[topMapOverflow], maps[topMapOncpu]
	c.m.focus, c.m.focusCalls = maps[topMapFocus], maps[topMapFocusCalls]
	c.ovf = make([]topProcStat, ncpu)
	c.slots = make([]topCpuSlot, ncpu)
	if c.fsums, err = bpfx.NewPerCPUSums(nrSlots + 1); err != nil {
		return err
	}
	c.fcalls = make([]uint64, nrSlots+1)
	if !c.full {
		return c.AttachAll(spec)
	}
	// The task iterator runs once, after the programs are attached.
	rest := spec.Copy()
	delete(rest.Programs, topProgChargedIter)
	if err := c.AttachAll(rest); err != nil {
		return err
	}
	return bpfx.RunIter(c.Collection().Programs[topProgChargedIter])
}

// choose returns the programs to load on this kernel and whether the read
// and write exits count sockets, logging the fallbacks taken.
func (c *Collector) choose() (map[string]bool, bool, error) {
	keep := map[string]bool{}
	add := func(names ...string) {
		for _, n := range names {
			keep[n] = true
		}
	}
	add(lifecycle...)

	// The fd of a read or write, at its exit, is in the saved user
	// registers (bpf_task_pt_regs, 5.15+); every program reads the task
	// through bpf_get_current_task_btf (5.11+).
	if err := features.HaveProgramHelper(ebpf.TracePoint, asm.FnGetCurrentTaskBtf); err != nil {
		return nil, false, fmt.Errorf("bpf_get_current_task_btf (Linux 5.11+): %w", err)
	}
	rw, err := bpfx.ChooseHook(c.log, c.Name(),
		bpfx.Hook{Kind: variantRegularFiles, Why: bpfx.TaskPtRegs},
		bpfx.Hook{Kind: variantAnyFD, What: "reads and writes counted on every kind of fd, not only regular files"})
	if err != nil {
		return nil, false, err
	}
	c.anyFD = rw == variantAnyFD

	hooks := make([]bpfx.Hook, len(netKinds))
	for h, kind := range netKinds {
		hooks[h] = bpfx.Hook{Kind: kind, What: "network bytes counted at " + NetHooks(h).String()}
	}
	hooks[NetSockTracepoints].Why = sockTracepoints
	hooks[NetSyscalls].Why = func() error {
		if c.anyFD {
			return errors.New("the fd of a socket call is out of sight without bpf_task_pt_regs")
		}
		return nil
	}
	kind, err := bpfx.ChooseHook(c.log, c.Name(), hooks...)
	if err != nil {
		return nil, false, err
	}
	net := NetHooks(slices.Index(netKinds[:], kind))
	c.net = net

	rwNet := false
	switch net {
	case NetSockTracepoints:
		add(sockTPs...)
	case NetSyscalls:
		rwNet = true
		add(checkedSocket...)
		if !c.full {
			add(socketRW...)
		}
	case NetSocketCalls:
		add(anyFDSocket...)
	}
	if c.full {
		add(topProgSchedSwitch, topProgChargedFork, topProgChargedIter, topProgSysEnter)
		if c.anyFD {
			add(anyFDRW...)
		} else {
			add(checkedRW...)
		}
	}
	return keep, rwNet, nil
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// Close detaches and frees everything; it is idempotent.
func (c *Collector) Close() error {
	return c.life.Close(func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.Tracer.Close()
	})
}

// ErrNotRunning is returned by Read and the focus calls before Start and
// after Close.
var ErrNotRunning = errors.New("top collector not running")

// Read returns every process's counters. A process that ended is reported
// once with Exited set, then forgotten.
func (c *Collector) Read() (Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.life.Running() || c.m.procs == nil {
		return Snapshot{}, ErrNotRunning
	}
	return c.read()
}

func (c *Collector) read() (Snapshot, error) {
	var snap Snapshot
	var err error
	// A switch between reading the counters and reading what each CPU
	// runs would lose or double the stint it ends: read the CPUs before
	// and after the counters, and again while they differ.
	for try := 0; ; try++ {
		stints := c.stints()
		c.keys, c.vals, err = bpfx.Dump(c.m.procs, c.keys, c.vals)
		if err != nil {
			return snap, fmt.Errorf("reading procs: %w", err)
		}
		if slices.Equal(stints, c.stints()) || try == 4 {
			break
		}
	}
	running := c.running()
	seen := make(map[topProcKey]bool, len(c.keys))
	ended := map[topProcKey]bool{}
	var gone []topProcKey
	snap.Procs = make([]Proc, 0, len(c.keys))
	for i, k := range c.keys {
		if seen[k] {
			continue // a batch read of a changing hash may return a key twice
		}
		seen[k] = true
		v := &c.vals[i]
		if v.ExitNs != 0 {
			if c.ended[k] {
				gone = append(gone, k)
				continue
			}
			ended[k] = true
		}
		// The time on a CPU now is an estimate until the next switch:
		// never report less than before.
		cpu := max(v.CpuNs+running[k.Tgid], c.lastCPU[k])
		c.lastCPU[k] = cpu
		snap.Procs = append(snap.Procs, Proc{
			PID: k.Tgid, StartNs: k.StartNs, Comm: metrics.LabelString(v.Comm[:]),
			CPUNs: cpu, Syscalls: v.Syscalls, ReadBytes: v.ReadBytes, WriteBytes: v.WriteBytes,
			RxBytes: v.RxBytes, TxBytes: v.TxBytes, Exited: v.ExitNs != 0,
		})
	}
	for k := range c.lastCPU {
		if !seen[k] {
			delete(c.lastCPU, k)
		}
	}
	c.ended = ended
	for _, k := range gone {
		delete(c.lastCPU, k)
		if err := c.m.procs.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return snap, fmt.Errorf("deleting an ended process: %w", err)
		}
	}
	if err := c.m.overflow.Lookup(uint32(0), &c.ovf); err != nil {
		return snap, fmt.Errorf("reading overflow: %w", err)
	}
	u := &snap.Untracked
	for _, o := range c.ovf {
		u.CPUNs += o.CpuNs
		u.Syscalls += o.Syscalls
		u.ReadBytes += o.ReadBytes
		u.WriteBytes += o.WriteBytes
		u.RxBytes += o.RxBytes
		u.TxBytes += o.TxBytes
	}
	snap.Lost, _, err = bpfx.Counters(c.Collection().Maps["stats"])
	if err != nil {
		return snap, fmt.Errorf("reading stats: %w", err)
	}
	sort.Slice(snap.Procs, func(i, j int) bool {
		a, b := &snap.Procs[i], &snap.Procs[j]
		return a.PID < b.PID || a.PID == b.PID && a.StartNs < b.StartNs
	})
	return snap, nil
}

// stints reads what each CPU runs into c.slots and returns a copy (nil
// without per-CPU slots).
func (c *Collector) stints() []topCpuSlot {
	if !c.full {
		return nil
	}
	if c.m.oncpu.Lookup(uint32(0), &c.slots) != nil {
		clear(c.slots) // running counts no stint
		return nil
	}
	return slices.Clone(c.slots)
}

// running returns, per tgid, the time its threads on a CPU now have run
// since they were switched in, from the slots stints last read.
func (c *Collector) running() map[uint32]uint64 {
	out := map[uint32]uint64{}
	if !c.full {
		return out
	}
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return out
	}
	now := uint64(ts.Nano())
	for _, s := range c.slots {
		if s.Tgid == 0 || s.Tid == 0 || s.TsNs == 0 || now <= s.TsNs {
			continue
		}
		// The kernel's runtime of the thread, as of its last tick, since
		// it was switched in; at most the time since then.
		b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(s.Tgid), 10) + "/task/" +
			strconv.FormatUint(uint64(s.Tid), 10) + "/schedstat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		if ns, err := strconv.ParseUint(f[0], 10, 64); err == nil && ns > s.RuntimeNs {
			out[s.Tgid] += min(ns-s.RuntimeNs, now-s.TsNs)
		}
	}
	return out
}

// Focus makes pid the process whose system calls are counted per syscall,
// from zero; 0 stops. The procnet collector has no per-syscall counts.
func (c *Collector) Focus(pid uint32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.life.Running() || c.m.focus == nil {
		return ErrNotRunning
	}
	if !c.full {
		return errors.New("procnet: no per-syscall counts")
	}
	if err := c.m.focus.Put(uint32(0), uint32(0)); err != nil {
		return fmt.Errorf("clearing the focus: %w", err)
	}
	zero := make([]uint64, c.ncpu)
	for i := uint32(0); i <= nrSlots; i++ {
		if err := c.m.focusCalls.Put(i, zero); err != nil {
			return fmt.Errorf("clearing the focus counters: %w", err)
		}
	}
	c.focused = pid
	if pid == 0 {
		return nil
	}
	if err := c.m.focus.Put(uint32(0), pid); err != nil {
		return fmt.Errorf("setting the focus: %w", err)
	}
	return nil
}

// FocusCalls returns the calls of the process in focus per syscall since
// Focus, busiest first, and its pid (0: none).
func (c *Collector) FocusCalls() (uint32, []SyscallCount, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.life.Running() || c.m.focusCalls == nil {
		return 0, nil, ErrNotRunning
	}
	if c.focused == 0 {
		return 0, nil, nil
	}
	if err := c.fsums.Read(c.m.focusCalls, c.fcalls); err != nil {
		return 0, nil, fmt.Errorf("reading the focus counters: %w", err)
	}
	var out []SyscallCount
	for i, n := range c.fcalls {
		if n > 0 {
			out = append(out, SyscallCount{Name: syscallnames.Name(uint32(i)), Calls: n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Calls != out[j].Calls {
			return out[i].Calls > out[j].Calls
		}
		return out[i].Name < out[j].Name
	})
	return c.focused, out, nil
}

func newTopK(cfg collector.Config) *metrics.TopK {
	t := metrics.NewTopK(cfg.TopK)
	t.MinLive = cfg.MinLive
	return t
}
