package bpfx

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// Kernel features kscope can use, probed by loading and attaching a tiny
// program: never by reading the kernel version or its config.
const (
	FeatTracepoint        = "tracepoint"
	FeatRawTracepoint     = "raw_tracepoint"
	FeatTpBTF             = "tp_btf"
	FeatKprobe            = "kprobe"
	FeatKretprobe         = "kretprobe"
	FeatKprobeMulti       = "kprobe_multi"
	FeatFentry            = "fentry"
	FeatFexit             = "fexit"
	FeatUprobe            = "uprobe"
	FeatUretprobe         = "uretprobe"
	FeatUprobeMulti       = "uprobe_multi"
	FeatUSDT              = "usdt"
	FeatPerfEventSoftware = "perf_event_software"
	FeatPerfEventHardware = "perf_event_hardware"
	FeatRingbuf           = "ringbuf"
	FeatXDP               = "xdp"
	FeatTCX               = "tcx"
	FeatCgroupSKB         = "cgroup_skb"
	FeatCgroupSockAddr    = "cgroup_sock_addr"
	FeatLSM               = "lsm"
	FeatSendSignal        = "bpf_send_signal"
	FeatTaskIter          = "task_iter"
)

// Fallbacks that are not kernel features.
const (
	FallbackNone   = "none"   // nothing can stand in for the feature
	FallbackProcfs = "procfs" // walking /proc instead of a task iterator
)

// FeatureResult is what probing one feature found. Error and Fallback are
// only set when the feature is not supported.
type FeatureResult struct {
	Name      string `json:"name"`
	Supported bool   `json:"supported"`
	Error     string `json:"error,omitempty"`    // the load or attach error, one line
	Fallback  string `json:"fallback,omitempty"` // what kscope uses instead
}

// feature is one probe and the alternatives kscope uses, in order of
// preference, when the kernel refuses it.
type feature struct {
	name      string
	fallbacks []string
	probe     func() error
}

// features is the probe table, in the order doctor reports it.
// docs/doctor.md explains each fallback chain; keep the two in step.
var features = []feature{
	{FeatTracepoint, []string{FeatRawTracepoint}, probeTracepoint},
	{FeatRawTracepoint, []string{FeatTracepoint}, probeRawTracepoint},
	{FeatTpBTF, []string{FeatRawTracepoint, FeatTracepoint}, probeTpBTF},
	{FeatKprobe, []string{FeatFentry, FeatTracepoint}, func() error { return probeKprobe(false) }},
	{FeatKretprobe, []string{FeatFexit, FeatTracepoint}, func() error { return probeKprobe(true) }},
	{FeatKprobeMulti, []string{FeatKprobe, FeatFentry}, probeKprobeMulti},
	{FeatFentry, []string{FeatKprobe, FeatTracepoint}, func() error { return probeFentry(ebpf.AttachTraceFEntry) }},
	{FeatFexit, []string{FeatKretprobe, FeatTracepoint}, func() error { return probeFentry(ebpf.AttachTraceFExit) }},
	{FeatUprobe, nil, func() error { return probeUprobe(false) }},
	// A uretprobe is replaced by uprobes on the function's RET instructions.
	{FeatUretprobe, []string{FeatUprobe}, func() error { return probeUprobe(true) }},
	{FeatUprobeMulti, []string{FeatUprobe}, probeUprobeMulti},
	// Without semaphore support USDT probes are plain uprobes; probes
	// guarded by a semaphore then stay disabled.
	{FeatUSDT, []string{FeatUprobe}, probeUSDT},
	{FeatPerfEventSoftware, nil, func() error {
		return probePerfEvent(unix.PERF_TYPE_SOFTWARE, unix.PERF_COUNT_SW_CPU_CLOCK, "cpu-clock")
	}},
	{FeatPerfEventHardware, []string{FeatPerfEventSoftware}, func() error {
		return probePerfEvent(unix.PERF_TYPE_HARDWARE, unix.PERF_COUNT_HW_CPU_CYCLES, "cpu-cycles")
	}},
	{FeatRingbuf, nil, probeRingbuf},
	{FeatXDP, []string{FeatTCX}, probeXDP},
	{FeatTCX, []string{FeatCgroupSKB}, probeTCX},
	{FeatCgroupSKB, []string{FeatTCX}, probeCgroupSKB},
	{FeatCgroupSockAddr, []string{FeatTracepoint}, probeCgroupSockAddr},
	{FeatLSM, []string{FeatTracepoint}, probeLSM},
	{FeatSendSignal, nil, probeSendSignal},
	{FeatTaskIter, []string{FallbackProcfs}, probeTaskIter},
}

// FeatureNames returns the names of all probed features, in report order.
func FeatureNames() []string {
	names := make([]string, len(features))
	for i, f := range features {
		names[i] = f.name
	}
	return names
}

// Fallbacks returns the alternatives to feature name, best first.
func Fallbacks(name string) []string {
	for _, f := range features {
		if f.name == name {
			return append([]string(nil), f.fallbacks...)
		}
	}
	return nil
}

// Fallback returns the first alternative to feature name for which
// supported returns true, or FallbackNone. Alternatives that are not kernel
// features (procfs) are always available.
func Fallback(name string, supported func(feature string) bool) string {
	for _, alt := range Fallbacks(name) {
		if !isFeature(alt) || supported(alt) {
			return alt
		}
	}
	return FallbackNone
}

func isFeature(name string) bool {
	for _, f := range features {
		if f.name == name {
			return true
		}
	}
	return false
}

// ProbeFeature loads and attaches the probe program for feature name and
// detaches it again. It returns nil when the feature works.
func ProbeFeature(name string) error {
	liftMemlock() // for the maps some probes create; load reports a failure
	for _, f := range features {
		if f.name == name {
			return f.probe()
		}
	}
	return fmt.Errorf("probing %q: no such feature", name)
}

// ProbeFeatures probes every feature concurrently and returns the results in
// report order, with fallbacks chosen for the unsupported ones. A probe that
// has not finished when ctx is done is reported unsupported with ctx's error.
// It needs the privileges CheckPrivileges asks for, and tracefs mounted for
// the tracepoint probe (see EnsureMounts).
func ProbeFeatures(ctx context.Context) []FeatureResult {
	liftMemlock()
	type done struct {
		i   int
		err error
	}
	ch := make(chan done, len(features))
	for i, f := range features {
		go func() { ch <- done{i, f.probe()} }()
	}
	errs := make([]error, len(features))
	finished := make([]bool, len(features))
wait:
	for range features {
		select {
		case d := <-ch:
			errs[d.i], finished[d.i] = d.err, true
		case <-ctx.Done():
			break wait
		}
	}
	out := make([]FeatureResult, len(features))
	for i, f := range features {
		out[i].Name = f.name
		switch err := errs[i]; {
		case !finished[i]:
			out[i].Error = fmt.Sprintf("probe did not finish: %v", ctx.Err())
		case err == nil:
			out[i].Supported = true
		default:
			out[i].Error = oneLine(err.Error())
		}
	}
	supported := func(name string) bool {
		for _, r := range out {
			if r.Name == name {
				return r.Supported
			}
		}
		return false
	}
	for i := range out {
		if !out[i].Supported {
			out[i].Fallback = Fallback(out[i].Name, supported)
		}
	}
	return out
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// ---- programs -----------------------------------------------------------

// returning is a program that returns v and does nothing else.
func returning(v int32) asm.Instructions {
	return asm.Instructions{asm.Mov.Imm(asm.R0, v), asm.Return()}
}

// load loads spec, by default a program that returns 0.
func load(what string, spec *ebpf.ProgramSpec) (*ebpf.Program, error) {
	if spec.Instructions == nil {
		spec.Instructions = returning(0)
	}
	spec.License = "GPL"
	if spec.Name == "" {
		spec.Name = "kscope_probe"
	}
	memlockErr := liftMemlock()
	prog, err := ebpf.NewProgram(spec)
	var ve *ebpf.VerifierError
	switch {
	case err == nil:
		return prog, nil
	case memlockErr != nil:
		return nil, fmt.Errorf("loading %s program: %w (raising the memlock limit: %v)", what, err, memlockErr)
	case errors.Is(err, unix.EPERM) && !errors.As(err, &ve):
		// cilium/ebpf blames RLIMIT_MEMLOCK for an EPERM before the
		// verifier ran. With the limit lifted, the kernel refused the
		// program type or attach point itself: say only that.
		return nil, fmt.Errorf("loading %s program: load program: %w", what, unix.EPERM)
	default:
		return nil, fmt.Errorf("loading %s program: %w", what, err)
	}
}

// liftMemlock raises the memlock limit that kernels before 5.11 charge BPF
// objects against, once.
var liftMemlock = sync.OnceValue(rlimit.RemoveMemlock)

// attachClose loads spec, attaches it with attach and detaches it again.
func attachClose(what string, spec *ebpf.ProgramSpec, attach func(*ebpf.Program) (link.Link, error)) error {
	prog, err := load(what, spec)
	if err != nil {
		return err
	}
	defer prog.Close()
	l, err := attach(prog)
	if err != nil {
		return fmt.Errorf("attaching %s: %w", what, err)
	}
	return l.Close()
}

// ---- tracing --------------------------------------------------------------

func probeTracepoint() error {
	return attachClose("tracepoint syscalls/sys_enter_getpid", &ebpf.ProgramSpec{Type: ebpf.TracePoint},
		func(p *ebpf.Program) (link.Link, error) {
			return link.Tracepoint("syscalls", "sys_enter_getpid", p, nil)
		})
}

func probeRawTracepoint() error {
	return attachClose("raw_tracepoint sys_enter", &ebpf.ProgramSpec{Type: ebpf.RawTracepoint},
		func(p *ebpf.Program) (link.Link, error) {
			return link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_enter", Program: p})
		})
}

func probeTpBTF() error {
	spec := &ebpf.ProgramSpec{Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: "sched_process_exec"}
	return attachClose("tp_btf sched_process_exec", spec, func(p *ebpf.Program) (link.Link, error) {
		return link.AttachTracing(link.TracingOptions{Program: p, AttachType: ebpf.AttachTraceRawTp})
	})
}

func probeKprobe(ret bool) error {
	if ret {
		return attachClose("kretprobe vfs_read", &ebpf.ProgramSpec{Type: ebpf.Kprobe},
			func(p *ebpf.Program) (link.Link, error) { return link.Kretprobe("vfs_read", p, nil) })
	}
	return attachClose("kprobe vfs_read", &ebpf.ProgramSpec{Type: ebpf.Kprobe},
		func(p *ebpf.Program) (link.Link, error) { return link.Kprobe("vfs_read", p, nil) })
}

func probeKprobeMulti() error {
	spec := &ebpf.ProgramSpec{Type: ebpf.Kprobe, AttachType: ebpf.AttachTraceKprobeMulti}
	prog, err := load("kprobe_multi vfs_read", spec)
	if err != nil {
		return err
	}
	defer prog.Close()
	// link.KprobeMulti answers a refusal with its own feature probe's
	// verdict ("requires >= v5.18"); make its one syscall to report the
	// kernel's own answer.
	fd, err := linkCreateKprobeMulti(prog.FD(), "vfs_read")
	if err != nil {
		return fmt.Errorf("attaching kprobe_multi vfs_read: %w", err)
	}
	return unix.Close(fd)
}

// linkCreateKprobeMulti is BPF_LINK_CREATE for a kprobe_multi link on one
// kernel symbol.
func linkCreateKprobeMulti(progFD int, symbol string) (int, error) {
	sym, err := unix.BytePtrFromString(symbol)
	if err != nil {
		return -1, err
	}
	syms := []*byte{sym}
	attr := struct { // union bpf_attr: link_create.kprobe_multi
		progFD, targetFD, attachType, flags uint32
		kmFlags, count                      uint32
		syms, addrs, cookies                uint64
	}{
		progFD:     uint32(progFD),
		attachType: uint32(ebpf.AttachTraceKprobeMulti),
		count:      1,
		syms:       uint64(uintptr(unsafe.Pointer(&syms[0]))),
	}
	fd, err := linkCreate(unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(syms)
	runtime.KeepAlive(sym)
	return fd, err
}

// linkCreateUprobeMulti is BPF_LINK_CREATE for a uprobe_multi link on one
// file offset of path.
func linkCreateUprobeMulti(progFD int, path string, off uint64) (int, error) {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return -1, err
	}
	offsets := []uint64{off}
	attr := struct { // union bpf_attr: link_create.uprobe_multi
		progFD, targetFD, attachType, flags   uint32
		path, offsets, refCtrOffsets, cookies uint64
		count, umFlags, pid                   uint32
		_                                     uint32
	}{
		progFD:     uint32(progFD),
		attachType: uint32(ebpf.AttachTraceUprobeMulti),
		path:       uint64(uintptr(unsafe.Pointer(p))),
		offsets:    uint64(uintptr(unsafe.Pointer(&offsets[0]))),
		count:      1,
	}
	fd, err := linkCreate(unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(p)
	runtime.KeepAlive(offsets)
	return fd, err
}

func linkCreate(attr unsafe.Pointer, size uintptr) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_LINK_CREATE, uintptr(attr), size)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

func probeFentry(at ebpf.AttachType) error {
	what := "fentry vfs_read"
	if at == ebpf.AttachTraceFExit {
		what = "fexit vfs_read"
	}
	spec := &ebpf.ProgramSpec{Type: ebpf.Tracing, AttachType: at, AttachTo: "vfs_read"}
	return attachClose(what, spec, func(p *ebpf.Program) (link.Link, error) {
		return link.AttachTracing(link.TracingOptions{Program: p, AttachType: at})
	})
}

func probeLSM() error {
	// A BPF LSM program attaches even when "bpf" is not among the active
	// LSMs (the lsm= boot parameter), but then never runs. So the program
	// counts its runs, and an open(2) must make it run.
	runs, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		return fmt.Errorf("creating lsm run counter: %w", err)
	}
	defer runs.Close()
	spec := &ebpf.ProgramSpec{Type: ebpf.LSM, AttachType: ebpf.AttachLSMMac, AttachTo: "file_open",
		Instructions: asm.Instructions{
			asm.StoreImm(asm.RFP, -4, 0, asm.Word), // key = 0
			asm.LoadMapPtr(asm.R1, runs.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -4),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "out"),
			asm.Mov.Imm(asm.R1, 1),
			asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord), // runs[0] = 1
			asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
			asm.Return(),
		}}
	prog, err := load("lsm file_open", spec)
	if err != nil {
		return err
	}
	defer prog.Close()
	l, err := link.AttachLSM(link.LSMOptions{Program: prog})
	if err != nil {
		return fmt.Errorf("attaching lsm file_open: %w", err)
	}
	f, err := os.Open("/proc/self/stat")
	if err == nil {
		f.Close()
	}
	if cerr := l.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("running lsm file_open: %w", err)
	}
	var n uint64
	if err := runs.Lookup(uint32(0), &n); err != nil {
		return fmt.Errorf("reading lsm run counter: %w", err)
	}
	if n == 0 {
		return errors.New("lsm file_open attached but never ran: bpf is not an active LSM (lsm= boot parameter)")
	}
	return nil
}

// ---- user space probes ----------------------------------------------------

// uprobeTarget and usdtTarget are where the uprobe probes attach. They are
// never called: a uretprobe on a Go function that runs can crash the Go
// runtime, which does not expect its return addresses rewritten. The usdt
// probe has a target of its own because the kernel refuses two uprobes on
// one address with different semaphores.
//
//go:noinline
func uprobeTarget(x int) int { return x*3 + 1 }

//go:noinline
func usdtTarget(x int) int { return x*5 + 2 }

// usdtSemaphore is the USDT semaphore the usdt probe's attach increments.
// The kernel only updates a semaphore in a writable mapping of the binary
// itself: initialized to non-zero it lands in .noptrdata, not in anonymous
// .bss.
var usdtSemaphore uint16 = 1

// usdtMu serializes usdt probes so each sees its own increment.
var usdtMu sync.Mutex

// selfMapsPath is read to translate addresses of this process to file offsets.
var selfMapsPath = "/proc/self/maps"

// fileOffset returns the file mapped at addr in this process and the
// offset of addr in it. Unlike ELF symbols this works for stripped and
// position-independent binaries alike.
func fileOffset(addr uintptr) (path string, off uint64, err error) {
	f, err := os.Open(selfMapsPath)
	if err != nil {
		return "", 0, fmt.Errorf("reading memory map: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/dbus-daemon
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		pgoff, err3 := strconv.ParseUint(fields[2], 16, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		if uint64(addr) < start || uint64(addr) >= end {
			continue
		}
		path = strings.Join(fields[5:], " ")
		if !strings.HasPrefix(path, "/") {
			return "", 0, fmt.Errorf("address %#x is not file backed (%s)", addr, path)
		}
		return path, uint64(addr) - start + pgoff, nil
	}
	if err := sc.Err(); err != nil {
		return "", 0, fmt.Errorf("reading memory map: %w", err)
	}
	return "", 0, fmt.Errorf("address %#x is not mapped", addr)
}

// funcOffset returns this binary and the file offset of fn's code.
func funcOffset(fn any) (*link.Executable, uint64, error) {
	path, off, err := fileOffset(reflect.ValueOf(fn).Pointer())
	if err != nil {
		return nil, 0, err
	}
	ex, err := link.OpenExecutable(path)
	if err != nil {
		return nil, 0, fmt.Errorf("opening %s: %w", path, err)
	}
	return ex, off, nil
}

func probeUprobe(ret bool) error {
	ex, off, err := funcOffset(uprobeTarget)
	if err != nil {
		return err
	}
	opts := &link.UprobeOptions{Address: off}
	if ret {
		return attachClose("uretprobe", &ebpf.ProgramSpec{Type: ebpf.Kprobe},
			func(p *ebpf.Program) (link.Link, error) { return ex.Uretprobe("", p, opts) })
	}
	return attachClose("uprobe", &ebpf.ProgramSpec{Type: ebpf.Kprobe},
		func(p *ebpf.Program) (link.Link, error) { return ex.Uprobe("", p, opts) })
}

func probeUprobeMulti() error {
	path, off, err := fileOffset(reflect.ValueOf(uprobeTarget).Pointer())
	if err != nil {
		return err
	}
	spec := &ebpf.ProgramSpec{Type: ebpf.Kprobe, AttachType: ebpf.AttachTraceUprobeMulti}
	prog, err := load("uprobe_multi", spec)
	if err != nil {
		return err
	}
	defer prog.Close()
	// Executable.UprobeMulti guesses at the cause of an EINVAL ("invalid
	// pid, missing symbol...?"); make its one syscall to report the
	// kernel's own answer.
	fd, err := linkCreateUprobeMulti(prog.FD(), path, off)
	if err != nil {
		return fmt.Errorf("attaching uprobe_multi: %w", err)
	}
	return unix.Close(fd)
}

func probeUSDT() error {
	ex, off, err := funcOffset(usdtTarget)
	if err != nil {
		return err
	}
	_, sem, err := fileOffset(uintptr(unsafe.Pointer(&usdtSemaphore)))
	if err != nil {
		return fmt.Errorf("locating the usdt semaphore: %w", err)
	}
	prog, err := load("usdt", &ebpf.ProgramSpec{Type: ebpf.Kprobe})
	if err != nil {
		return err
	}
	defer prog.Close()
	usdtMu.Lock()
	defer usdtMu.Unlock()
	before := usdtSemaphore
	l, err := ex.Uprobe("", prog, &link.UprobeOptions{Address: off, RefCtrOffset: sem})
	if err != nil {
		return fmt.Errorf("attaching usdt with semaphore: %w", err)
	}
	after := usdtSemaphore
	if err := l.Close(); err != nil {
		return fmt.Errorf("detaching usdt: %w", err)
	}
	if after != before+1 {
		return fmt.Errorf("attaching usdt: the kernel did not increment the semaphore (%d, then %d)", before, after)
	}
	return nil
}

// ---- perf events ------------------------------------------------------------

func probePerfEvent(typ uint32, config uint64, what string) error {
	attr := unix.PerfEventAttr{
		Type:   typ,
		Config: config,
		Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
		Sample: 1, // Hz, though disabled it never fires
		Bits:   unix.PerfBitFreq | unix.PerfBitDisabled,
	}
	fd, err := unix.PerfEventOpen(&attr, -1, 0, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("opening %s perf event on CPU 0: %w", what, err)
	}
	defer unix.Close(fd)
	prog, err := load("perf_event", &ebpf.ProgramSpec{Type: ebpf.PerfEvent})
	if err != nil {
		return err
	}
	defer prog.Close()
	l, err := link.AttachRawLink(link.RawLinkOptions{Target: fd, Program: prog, Attach: ebpf.AttachPerfEvent})
	if err == nil {
		return l.Close()
	}
	// Before BPF links for perf events (5.15) the ioctl attaches until the
	// event is closed.
	if ioErr := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_SET_BPF, prog.FD()); ioErr != nil {
		return fmt.Errorf("attaching to %s perf event: %w (bpf link: %v)", what, ioErr, err)
	}
	return nil
}

// ---- helpers and iterators --------------------------------------------------

func probeRingbuf() error {
	rb, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.RingBuf, MaxEntries: uint32(os.Getpagesize())})
	if err != nil {
		return fmt.Errorf("creating ring buffer: %w", err)
	}
	defer rb.Close()
	prog, err := load("bpf_ringbuf_output", &ebpf.ProgramSpec{Type: ebpf.TracePoint, Instructions: asm.Instructions{
		asm.Mov.Imm(asm.R1, 0),
		asm.StoreMem(asm.RFP, -8, asm.R1, asm.DWord), // an 8-byte record of zeros
		asm.LoadMapPtr(asm.R1, rb.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -8),
		asm.Mov.Imm(asm.R3, 8),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnRingbufOutput.Call(),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	}})
	if err != nil {
		return err
	}
	return prog.Close()
}

func probeSendSignal() error {
	// Loading is the test: the verifier refuses unknown helpers. Signal 0
	// would only check permissions, were the program ever attached.
	prog, err := load("bpf_send_signal", &ebpf.ProgramSpec{Type: ebpf.TracePoint, Instructions: asm.Instructions{
		asm.Mov.Imm(asm.R1, 0),
		asm.FnSendSignal.Call(),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	}})
	if err != nil {
		return err
	}
	return prog.Close()
}

func probeTaskIter() error {
	spec := &ebpf.ProgramSpec{Type: ebpf.Tracing, AttachType: ebpf.AttachTraceIter, AttachTo: "task"}
	prog, err := load("task iterator", spec)
	if err != nil {
		return err
	}
	defer prog.Close()
	it, err := link.AttachIter(link.IterOptions{Program: prog})
	if err != nil {
		return fmt.Errorf("attaching task iterator: %w", err)
	}
	defer it.Close()
	rd, err := it.Open()
	if err != nil {
		return fmt.Errorf("opening task iterator: %w", err)
	}
	defer rd.Close()
	if _, err := io.Copy(io.Discard, rd); err != nil {
		return fmt.Errorf("reading task iterator: %w", err)
	}
	return it.Close()
}

// ---- networking ---------------------------------------------------------------

// inFreshNetns runs fn with the loopback interface index of a new network
// namespace, so probes never meet programs others attached to the host's
// lo. Without the privilege to create one it uses the host's lo.
func inFreshNetns(fn func(lo int) error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread stays locked: Go ends it with the goroutine instead of
		// reusing a thread in the wrong namespace.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err == nil {
			errc <- fn(1) // lo is always interface 1 in a new namespace
			return
		}
		runtime.UnlockOSThread()
		lo, err := net.InterfaceByName("lo")
		if err != nil {
			errc <- fmt.Errorf("finding lo: %w", err)
			return
		}
		errc <- fn(lo.Index)
	}()
	return <-errc
}

func probeXDP() error {
	return inFreshNetns(func(lo int) error {
		spec := &ebpf.ProgramSpec{Type: ebpf.XDP, Instructions: returning(2)} // XDP_PASS
		return attachClose("xdp lo", spec, func(p *ebpf.Program) (link.Link, error) {
			return link.AttachXDP(link.XDPOptions{Program: p, Interface: lo})
		})
	})
}

func probeTCX() error {
	return inFreshNetns(func(lo int) error {
		spec := &ebpf.ProgramSpec{Type: ebpf.SchedCLS, Instructions: returning(-1)} // TCX_NEXT
		// link.AttachTCX answers a refusal with its own feature probe's
		// verdict ("requires >= v6.6"); the raw link it creates is the same
		// and keeps the kernel's own answer.
		return attachClose("tcx lo ingress", spec, func(p *ebpf.Program) (link.Link, error) {
			return link.AttachRawLink(link.RawLinkOptions{Target: lo, Program: p, Attach: ebpf.AttachTCXIngress})
		})
	})
}

func probeCgroupSKB() error {
	return inTempCgroup(func(cg string) error {
		spec := &ebpf.ProgramSpec{Type: ebpf.CGroupSKB, AttachType: ebpf.AttachCGroupInetIngress, Instructions: returning(1)}
		return attachClose("cgroup_skb ingress", spec, func(p *ebpf.Program) (link.Link, error) {
			return link.AttachCgroup(link.CgroupOptions{Path: cg, Attach: ebpf.AttachCGroupInetIngress, Program: p})
		})
	})
}

func probeCgroupSockAddr() error {
	return inTempCgroup(func(cg string) error {
		spec := &ebpf.ProgramSpec{Type: ebpf.CGroupSockAddr, AttachType: ebpf.AttachCGroupInet4Connect, Instructions: returning(1)}
		return attachClose("cgroup_sock_addr connect4", spec, func(p *ebpf.Program) (link.Link, error) {
			return link.AttachCgroup(link.CgroupOptions{Path: cg, Attach: ebpf.AttachCGroupInet4Connect, Program: p})
		})
	})
}

// inTempCgroup runs fn with a new, empty cgroup v2 directory and removes it
// afterwards. Without a cgroup2 mount it mounts one of its own on a
// temporary directory, rather than at /sys/fs/cgroup where it could hide a
// cgroup v1 hierarchy, and unmounts it again.
func inTempCgroup(fn func(cg string) error) error {
	root, err := cgroup2Root()
	if err != nil {
		return err
	}
	if root == "" {
		dir, err := os.MkdirTemp("", "kscope-cgroup2-")
		if err != nil {
			return fmt.Errorf("creating a cgroup2 mount point: %w", err)
		}
		defer os.Remove(dir)
		if err := unix.Mount("cgroup2", dir, "cgroup2", 0, ""); err != nil {
			return fmt.Errorf("mounting cgroup2 on %s: %w", dir, err)
		}
		defer unix.Unmount(dir, unix.MNT_DETACH)
		root = dir
	}
	// Named after the process, so a leak is traced to its maker.
	cg, err := os.MkdirTemp(root, "kscope-probe-"+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return fmt.Errorf("creating a cgroup: %w", err)
	}
	defer os.Remove(cg)
	return fn(cg)
}

// cgroup2Root returns where cgroup v2 is mounted ("" if nowhere),
// preferring the shortest path.
func cgroup2Root() (string, error) {
	have, err := mounted()
	if err != nil {
		return "", fmt.Errorf("finding cgroup2: %w", err)
	}
	var roots []string
	for path, fs := range have {
		if fs == "cgroup2" {
			roots = append(roots, path)
		}
	}
	if len(roots) == 0 {
		return "", nil
	}
	sort.Slice(roots, func(i, j int) bool {
		if len(roots[i]) != len(roots[j]) {
			return len(roots[i]) < len(roots[j])
		}
		return roots[i] < roots[j]
	})
	return roots[0], nil
}

// Cgroup2Root returns where cgroup v2 is mounted ("" if nowhere),
// preferring the shortest path (on a hybrid system, /sys/fs/cgroup/unified).
func Cgroup2Root() (string, error) { return cgroup2Root() }
