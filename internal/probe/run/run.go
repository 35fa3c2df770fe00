package run

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/probe/ast"
	"github.com/kscope/kscope/internal/probe/check"
	"github.com/kscope/kscope/internal/probe/codegen"
	"github.com/kscope/kscope/internal/symbolize"
	"github.com/kscope/kscope/internal/uprobe"
)

// Config says where the output goes.
type Config struct {
	Out io.Writer // printf output and maps
	Err io.Writer // "Attaching N probes..." and warnings
	// JSON selects bpftrace's JSON output schema (-f json).
	JSON  bool
	Quiet bool // -q: no "Attaching" line
	// Debug, when set, gets each program's instructions and the
	// verifier's log (-d).
	Debug io.Writer
	// PID restricts uprobes to one process (-p).
	PID int
	// Stats prints, on exit, each probe's run count and nanoseconds per
	// run (the kernel's bpf_stats) and the records and map updates lost
	// (-v).
	Stats bool
	// File and Source name the script in errors.
	File   string
	Source []byte
	// Printf, when set, gets each printf's text and the name of the probe
	// that printed it instead of Out (the agent stores them as events).
	// The task is the one that printed it where the script was compiled
	// with codegen.Options.Task, else zero.
	Printf func(probe, text string, task Task)
}

// Task is the task a printf record was sent from.
type Task struct {
	PID, TID uint32
	UID, GID uint32
	Comm     string
}

// TracefsRoot is where tracepoint formats are read.
var TracefsRoot = "/sys/kernel/tracing"

// Formats reads tracepoint formats from tracefs, for codegen.Options.
func Formats(category, name string) (*codegen.Format, error) {
	var data []byte
	var err error
	for _, root := range []string{TracefsRoot, "/sys/kernel/debug/tracing"} {
		p := filepath.Join(root, "events", category, name, "format")
		if data, err = os.ReadFile(p); err == nil {
			return codegen.ParseFormat(p, data)
		}
	}
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("unknown tracepoint %s:%s%s", category, name, nearTracepoints(category, name))
	}
	return nil, fmt.Errorf("reading the format of tracepoint %s:%s: %w", category, name, err)
}

// nearTracepoints names tracepoints close to category:name.
func nearTracepoints(category, name string) string {
	all, _ := ListTracepoints("*")
	var near []string
	for _, tp := range all {
		c, n, _ := strings.Cut(tp, ":")
		if c == category && (strings.Contains(n, name) || strings.Contains(name, n) || levenshtein(n, name) <= 3) {
			near = append(near, "tracepoint:"+tp)
		}
	}
	if len(near) > 1 {
		best := 99
		for _, tp := range near {
			best = min(best, levenshtein(strings.SplitN(tp, ":", 3)[2], name))
		}
		var closest []string
		for _, tp := range near {
			if levenshtein(strings.SplitN(tp, ":", 3)[2], name) == best {
				closest = append(closest, tp)
			}
		}
		near = closest
	}
	if len(near) == 0 {
		if _, err := os.Stat(filepath.Join(TracefsRoot, "events", category)); err != nil {
			return fmt.Sprintf(" (there is no category %q; kscope run -l 'tracepoint:*' lists them)", category)
		}
		return fmt.Sprintf(" (kscope run -l 'tracepoint:%s:*' lists the category)", category)
	}
	return " (did you mean " + strings.Join(near, ", ") + "?)"
}

func levenshtein(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev = cur
	}
	return prev[len(b)]
}

// ListTracepoints returns the tracepoints ("category:name") matching a
// glob pattern of the same shape ("syscalls:sys_enter_*"), sorted.
func ListTracepoints(pattern string) ([]string, error) {
	pattern = strings.TrimPrefix(strings.TrimPrefix(pattern, "tracepoint:"), "t:")
	cp, np, ok := strings.Cut(pattern, ":")
	if !ok {
		np = "*"
	}
	dirs, err := filepath.Glob(filepath.Join(TracefsRoot, "events", cp, np))
	if err != nil {
		return nil, fmt.Errorf("listing tracepoints: %w", err)
	}
	var out []string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "format")); err != nil {
			continue
		}
		out = append(out, filepath.Base(filepath.Dir(d))+":"+filepath.Base(d))
	}
	return out, nil
}

// Session is a loaded and attached script.
type Session struct {
	obj   *codegen.Object
	cfg   Config
	coll  *ebpf.Collection
	links []io.Closer
	ring  *bpfx.RingReader
	mu    sync.Mutex // serializes output
	exit  chan struct{}
	once  sync.Once
	begin []*ebpf.Program
	end   []*ebpf.Program
	// code is the exit code exit(code) set.
	code int
	// stats holds the kernel's run-time statistics on while -v wants them.
	stats io.Closer
	// sym symbolizes stacks and addresses, made on first use.
	symOnce sync.Once
	sym     *symbolize.Symbolizer
}

// ExitCode is the code a probe gave exit(code), once Stop returned; 0
// without one.
func (s *Session) ExitCode() int { return s.code }

// Exited is closed when a probe called exit().
func (s *Session) Exited() <-chan struct{} { return s.exit }

// Start loads obj, attaches its probes and runs BEGIN. The error is a
// load error mapped to the script, or an attach error naming the probe.
func Start(obj *codegen.Object, cfg Config) (*Session, error) {
	s := &Session{obj: obj, cfg: cfg, exit: make(chan struct{})}
	if cfg.Debug != nil {
		for _, p := range obj.Probes {
			fmt.Fprintf(cfg.Debug, "; %s (%s)\n%v\n", p.Name, p.Program, obj.Spec.Programs[p.Program].Instructions)
		}
	}
	opts := ebpf.CollectionOptions{}
	if cfg.Debug != nil {
		opts.Programs.LogLevel = ebpf.LogLevelInstruction
	}
	if cfg.Stats {
		st, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
		if err != nil {
			return nil, fmt.Errorf("enabling the kernel's BPF run-time statistics (-v): %w", err)
		}
		s.stats = st
	}
	coll, err := ebpf.NewCollectionWithOptions(obj.Spec, opts)
	if err != nil {
		s.Close()
		return nil, s.loadError(err)
	}
	s.coll = coll
	if cfg.Debug != nil {
		for _, p := range obj.Probes {
			if prog := coll.Programs[p.Program]; prog != nil && prog.VerifierLog != "" {
				fmt.Fprintf(cfg.Debug, "; verifier log for %s\n%s\n", p.Name, prog.VerifierLog)
			}
		}
	}
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	if err := coll.Maps[obj.Start].Put(uint32(0), uint64(ts.Nano())); err != nil {
		s.Close()
		return nil, fmt.Errorf("setting the start time: %w", err)
	}
	// BEGIN runs before any other probe is attached, as under bpftrace:
	// nothing a probe records can come before what BEGIN printed. Its
	// records wait in the ring buffer until the reader starts.
	for _, p := range obj.Probes {
		prog := coll.Programs[p.Program]
		switch p.Provider {
		case "begin":
			s.begin = append(s.begin, prog)
		case "end":
			s.end = append(s.end, prog)
		}
	}
	for _, prog := range s.begin {
		if err := runOnce(prog); err != nil {
			s.Close()
			return nil, fmt.Errorf("running BEGIN: %w", err)
		}
	}
	n := 0
	for _, p := range obj.Probes {
		n++
		if p.Provider == "begin" || p.Provider == "end" {
			continue
		}
		l, err := s.attach(p, coll.Programs[p.Program])
		if err != nil {
			s.Close()
			return nil, s.at(p.Pos, "attaching %s: %v", p.Name, err)
		}
		s.links = append(s.links, l...)
	}
	if !cfg.Quiet {
		if cfg.JSON {
			fmt.Fprintf(cfg.Out, `{"type": "attached_probes", "data": {"probes": %d}}`+"\n", n)
		} else {
			fmt.Fprintf(cfg.Err, "Attaching %d probe%s...\n", n, plural(n))
		}
	}
	// Records wait in the ring buffer until the line above is out.
	s.ring, err = bpfx.StartRingReader(coll.Maps[obj.Ring], s.handle, nil)
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// at formats an error at a script position.
func (s *Session) at(pos ast.Pos, format string, args ...any) error {
	return ast.ErrorList{ast.NewError(s.cfg.File, s.cfg.Source, pos, format, args...)}
}

var progName = regexp.MustCompile(`program (ks_p[0-9]+)`)

// loadError maps a load error to the probe and, for a verifier rejection,
// the script line of the failing instruction.
func (s *Session) loadError(err error) error {
	m := progName.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("loading the script: %w", err)
	}
	for _, p := range s.obj.Probes {
		if p.Program != m[1] {
			continue
		}
		pos := p.Pos
		if p.Provider == "fentry" || p.Provider == "fexit" {
			// Compiled as fentry/fexit: the kernel had no kprobe stand-in.
			alt := map[string]string{"fentry": bpfx.FeatKprobe, "fexit": bpfx.FeatKretprobe}[p.Provider]
			if ferr := bpfx.ProbeFeature(p.Provider); ferr != nil {
				return s.at(pos, "loading %s: this kernel has neither %s (%v) nor the %s fallback (%v); kscope doctor shows the probe types it has", p.Name, p.Provider, ferr, alt, bpfx.ProbeFeature(alt))
			}
		}
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			// The last "N: (op) …" line of the log is the failing instruction.
			insn := -1
			re := regexp.MustCompile(`^([0-9]+): \(`)
			for _, l := range ve.Log {
				if mm := re.FindStringSubmatch(l); mm != nil {
					insn, _ = strconv.Atoi(mm[1])
				}
			}
			if idx := rawToIndex(s.obj.Spec.Programs[p.Program], insn); idx >= 0 && idx < len(p.Lines) && p.Lines[idx].IsValid() {
				pos = p.Lines[idx]
			}
			return s.at(pos, "the kernel's verifier rejected %s: %v (kscope run -d prints the program and the whole log)", p.Name, ve)
		}
		return s.at(pos, "loading %s: %v", p.Name, err)
	}
	return fmt.Errorf("loading the script: %w", err)
}

// rawToIndex turns a raw instruction offset (a wide load counts twice)
// into an index in the instruction list.
func rawToIndex(ps *ebpf.ProgramSpec, raw int) int {
	if raw < 0 {
		return -1
	}
	off := 0
	for i, in := range ps.Instructions {
		if off >= raw {
			return i
		}
		off += int(in.Size() / 8)
	}
	return -1
}

// runOnce runs a BEGIN or END program in this thread.
func runOnce(prog *ebpf.Program) error {
	_, err := prog.Run(&ebpf.RunOptions{Context: make([]byte, 8)})
	return err
}

func (s *Session) attach(p *codegen.Probe, prog *ebpf.Program) ([]io.Closer, error) {
	switch p.Provider {
	case "tracepoint":
		l, err := link.Tracepoint(p.Parts[0], p.Parts[1], prog, nil)
		if err != nil {
			return nil, err
		}
		return []io.Closer{l}, nil
	case "rawtracepoint":
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: p.Parts[len(p.Parts)-1], Program: prog})
		if err != nil {
			return nil, err
		}
		return []io.Closer{l}, nil
	case "interval", "profile", "software", "hardware":
		return attachPerf(p, prog)
	case "uprobe", "uretprobe":
		return s.attachUprobe(p, prog)
	case "usdt":
		return s.attachUSDT(p, prog)
	case "kprobe", "kretprobe":
		return attachKprobe(p, prog)
	case "fentry", "fexit":
		l, err := link.AttachTracing(link.TracingOptions{Program: prog})
		if err != nil {
			return nil, err
		}
		return []io.Closer{l}, nil
	}
	return nil, fmt.Errorf("%s probes cannot be attached yet", p.Provider)
}

func attachKprobe(p *codegen.Probe, prog *ebpf.Program) ([]io.Closer, error) {
	fn := p.Parts[len(p.Parts)-1]
	var l link.Link
	var err error
	if p.Provider == "kprobe" {
		l, err = link.Kprobe(fn, prog, &link.KprobeOptions{Offset: p.Offset})
	} else {
		l, err = link.Kretprobe(fn, prog, nil)
	}
	if err == nil {
		return []io.Closer{l}, nil
	}
	feat, fb := bpfx.FeatKprobe, bpfx.FeatFentry
	if p.Provider == "kretprobe" {
		feat, fb = bpfx.FeatKretprobe, bpfx.FeatFexit
	}
	kerr := bpfx.ProbeFeature(feat)
	ferr := bpfx.ProbeFeature(fb)
	if kerr != nil && ferr != nil {
		return nil, fmt.Errorf("this kernel has neither %s (%v) nor the %s fallback (%v); kscope doctor shows the probe types it has", feat, kerr, fb, ferr)
	}
	if kerr != nil {
		return nil, fmt.Errorf("this kernel has no %s (%v); the %s fallback was not chosen when compiling", feat, kerr, fb)
	}
	return nil, err
}

func (s *Session) attachUprobe(p *codegen.Probe, prog *ebpf.Program) ([]io.Closer, error) {
	if len(p.Parts) != 2 {
		return nil, fmt.Errorf("want %s:BINARY:FUNCTION", p.Provider)
	}
	t, err := uprobe.ResolveSymbol(p.Parts[0], p.Parts[1], s.cfg.PID)
	if err != nil {
		return nil, err
	}
	if p.Provider == "uretprobe" && (t.Go || isGoBinary(t.Path)) {
		return nil, fmt.Errorf("%s is a Go binary: a uretprobe would crash it (Go moves goroutine stacks); kscope refuses it", t.Binary)
	}
	ex, err := link.OpenExecutable(t.Path)
	if err != nil {
		return nil, err
	}
	opts := &link.UprobeOptions{Address: t.Offset + p.Offset, PID: s.cfg.PID}
	var l link.Link
	if p.Provider == "uprobe" {
		l, err = ex.Uprobe("", prog, opts)
	} else {
		l, err = ex.Uretprobe("", prog, opts)
	}
	if err != nil {
		return nil, err
	}
	return []io.Closer{l}, nil
}

// Hook returns the probe type a kprobe, kretprobe, fentry or fexit probe
// compiles to on this kernel (codegen.Options.Hook): the one asked for
// when the kernel has it, else its stand-in when the kernel has that
// (kprobe ↔ fentry, kretprobe ↔ fexit), else the one asked for, whose
// attach error then names both.
func Hook(provider string) string {
	alt := map[string]string{"kprobe": "fentry", "fentry": "kprobe", "kretprobe": "fexit", "fexit": "kretprobe"}[provider]
	if alt == "" || bpfx.ProbeFeature(provider) == nil || bpfx.ProbeFeature(alt) != nil {
		return provider
	}
	return alt
}

// attachUSDT attaches a uprobe at the site's NOP; a semaphore is counted
// up by the kernel (ref_ctr_offset) while the probe is attached.
func (s *Session) attachUSDT(p *codegen.Probe, prog *ebpf.Program) ([]io.Closer, error) {
	ex, err := link.OpenExecutable(p.Path)
	if err != nil {
		return nil, err
	}
	l, err := ex.Uprobe("", prog, &link.UprobeOptions{Address: p.Offset, RefCtrOffset: p.RefCtrOffset, PID: s.cfg.PID})
	if err != nil {
		if p.RefCtrOffset != 0 && errors.Is(err, link.ErrNotSupported) {
			return nil, fmt.Errorf("the probe has a semaphore, which needs the kernel's uprobe ref_ctr_offset (Linux 4.20): %w", err)
		}
		return nil, err
	}
	return []io.Closer{l}, nil
}

// isGoBinary reports whether the ELF file at path was built by Go.
func isGoBinary(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	n, _ := io.ReadFull(f, buf)
	return strings.Contains(string(buf[:n]), "\xff Go buildinf:")
}

type fdCloser int

func (f fdCloser) Close() error { return unix.Close(int(f)) }

// perfEvent is a software or hardware event a probe counts, and the
// count between two runs when the script gives none (bpftrace's).
type perfEvent struct {
	config       uint64
	defaultCount uint64
}

var softwareEvents = map[string]perfEvent{
	"cpu-clock": {unix.PERF_COUNT_SW_CPU_CLOCK, 1000000}, "cpu": {unix.PERF_COUNT_SW_CPU_CLOCK, 1000000},
	"task-clock":  {unix.PERF_COUNT_SW_TASK_CLOCK, 1000000},
	"page-faults": {unix.PERF_COUNT_SW_PAGE_FAULTS, 100}, "faults": {unix.PERF_COUNT_SW_PAGE_FAULTS, 100},
	"context-switches": {unix.PERF_COUNT_SW_CONTEXT_SWITCHES, 1000}, "cs": {unix.PERF_COUNT_SW_CONTEXT_SWITCHES, 1000},
	"cpu-migrations": {unix.PERF_COUNT_SW_CPU_MIGRATIONS, 1}, "migrations": {unix.PERF_COUNT_SW_CPU_MIGRATIONS, 1},
	"minor-faults":     {unix.PERF_COUNT_SW_PAGE_FAULTS_MIN, 100},
	"major-faults":     {unix.PERF_COUNT_SW_PAGE_FAULTS_MAJ, 1},
	"alignment-faults": {unix.PERF_COUNT_SW_ALIGNMENT_FAULTS, 1},
	"emulation-faults": {unix.PERF_COUNT_SW_EMULATION_FAULTS, 1},
	"dummy":            {unix.PERF_COUNT_SW_DUMMY, 1},
	"bpf-output":       {unix.PERF_COUNT_SW_BPF_OUTPUT, 1},
}

var hardwareEvents = map[string]perfEvent{
	"cpu-cycles": {unix.PERF_COUNT_HW_CPU_CYCLES, 1000000}, "cycles": {unix.PERF_COUNT_HW_CPU_CYCLES, 1000000},
	"instructions":        {unix.PERF_COUNT_HW_INSTRUCTIONS, 1000000},
	"cache-references":    {unix.PERF_COUNT_HW_CACHE_REFERENCES, 1000000},
	"cache-misses":        {unix.PERF_COUNT_HW_CACHE_MISSES, 1000000},
	"branch-instructions": {unix.PERF_COUNT_HW_BRANCH_INSTRUCTIONS, 100000}, "branches": {unix.PERF_COUNT_HW_BRANCH_INSTRUCTIONS, 100000},
	"branch-misses":   {unix.PERF_COUNT_HW_BRANCH_MISSES, 100000},
	"bus-cycles":      {unix.PERF_COUNT_HW_BUS_CYCLES, 100000},
	"frontend-stalls": {unix.PERF_COUNT_HW_STALLED_CYCLES_FRONTEND, 1000000},
	"backend-stalls":  {unix.PERF_COUNT_HW_STALLED_CYCLES_BACKEND, 1000000},
	"ref-cycles":      {unix.PERF_COUNT_HW_REF_CPU_CYCLES, 1000000},
}

// attachPerf opens the perf events a probe runs on: a cpu-clock event on
// the first CPU for interval, and on every CPU for profile; the software
// or hardware event on every CPU for software and hardware.
func attachPerf(p *codegen.Probe, prog *ebpf.Program) ([]io.Closer, error) {
	attr := unix.PerfEventAttr{
		Type:   unix.PERF_TYPE_SOFTWARE,
		Config: unix.PERF_COUNT_SW_CPU_CLOCK,
		Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
	}
	what := "a cpu-clock perf event"
	switch p.Provider {
	case "software", "hardware":
		events := softwareEvents
		if p.Provider == "hardware" {
			events, attr.Type = hardwareEvents, unix.PERF_TYPE_HARDWARE
		}
		ev, ok := events[p.Parts[0]]
		if !ok {
			return nil, fmt.Errorf("unknown %s event %q", p.Provider, p.Parts[0])
		}
		attr.Config, attr.Sample = ev.config, ev.defaultCount
		if p.Parts[1] != "" {
			n, err := strconv.ParseUint(p.Parts[1], 10, 64)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("bad count %q", p.Parts[1])
			}
			attr.Sample = n
		}
		what = "the " + p.Provider + " event " + p.Parts[0]
	default:
		unit, rate := p.Parts[0], p.Parts[1]
		n, err := strconv.ParseUint(rate, 10, 64)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("bad rate %q", rate)
		}
		switch unit {
		case "hz":
			if p.Provider == "interval" {
				// One CPU: a period of 1/n s, as bpftrace sets it.
				attr.Sample = max(uint64(1e9)/n, 1)
			} else {
				attr.Bits |= unix.PerfBitFreq
				attr.Sample = n
			}
		case "s":
			attr.Sample = n * 1e9
		case "ms":
			attr.Sample = n * 1e6
		case "us":
			attr.Sample = n * 1e3
		}
	}
	cpus := []int{0}
	if p.Provider != "interval" {
		cpus = cpus[:0]
		for i := 0; i < runtime.NumCPU(); i++ {
			cpus = append(cpus, i)
		}
	}
	var out []io.Closer
	for _, cpu := range cpus {
		fd, err := unix.PerfEventOpen(&attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			closeAll(out)
			if p.Provider == "hardware" && (errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENODEV)) {
				return nil, fmt.Errorf("this machine has no hardware performance monitoring unit (PMU) for %s: perf_event_open: %w (a virtual machine often has none; software events work without one)", p.Parts[0], err)
			}
			return nil, fmt.Errorf("opening %s on CPU %d: %w", what, cpu, err)
		}
		out = append(out, fdCloser(fd))
		if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_SET_BPF, prog.FD()); err != nil {
			closeAll(out)
			return nil, fmt.Errorf("attaching to the perf event: %w", err)
		}
		if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
			closeAll(out)
			return nil, fmt.Errorf("enabling the perf event: %w", err)
		}
	}
	return out, nil
}

func closeAll(cs []io.Closer) {
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i].Close()
	}
}

// handle decodes one ring-buffer record.
func (s *Session) handle(rec []byte) {
	if len(rec) < codegen.HeaderSize {
		return
	}
	kind := codegen.CallKind(binary.LittleEndian.Uint64(rec))
	id := binary.LittleEndian.Uint64(rec[8:])
	if id >= uint64(len(s.obj.Calls)) {
		return
	}
	call := s.obj.Calls[id]
	if call.Kind != kind || len(rec) < call.Size {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	args := make([]any, len(call.Args))
	for i, a := range call.Args {
		if c, ok := call.Const[i]; ok {
			args[i] = c
		} else if r, ok := call.Render[i]; ok && r.Kind == codegen.RenderBuf && kind == codegen.CallPrintf {
			args[i] = bufBytes(slot(rec, a, s.obj.StrLen))
		} else if ok {
			args[i] = s.render(r, slot(rec, a, s.obj.StrLen), 8)
		} else if a.String {
			args[i] = cstring(rec[a.Offset : a.Offset+s.obj.StrLen])
		} else {
			args[i] = int64(binary.LittleEndian.Uint64(rec[a.Offset:]))
		}
	}
	switch kind {
	case codegen.CallPrintf:
		if s.cfg.Printf != nil {
			var t Task
			if o := call.Task; o != 0 {
				pt, ug := binary.LittleEndian.Uint64(rec[o:]), binary.LittleEndian.Uint64(rec[o+8:])
				t = Task{PID: uint32(pt >> 32), TID: uint32(pt), UID: uint32(ug), GID: uint32(ug >> 32), Comm: cstring(rec[o+16 : o+codegen.TaskSize])}
			}
			s.cfg.Printf(s.probeAt(call.Pos), Printf(call.Format, args), t)
			break
		}
		s.emit("printf", Printf(call.Format, args))
	case codegen.CallTime:
		s.emit("time", Strftime(call.Format, time.Now()))
	case codegen.CallPrintValue:
		if !s.cfg.JSON {
			fmt.Fprintln(s.cfg.Out, args[0])
		} else if str, ok := args[0].(string); ok {
			fmt.Fprintf(s.cfg.Out, `{"type": "value", "data": %s}`+"\n", jsonString(str))
		} else {
			fmt.Fprintf(s.cfg.Out, `{"type": "value", "data": %d}`+"\n", args[0])
		}
	case codegen.CallExit:
		s.once.Do(func() { close(s.exit) })
	case codegen.CallSystem:
		s.emit("syscall", runSystem(Printf(call.Format, args)))
	case codegen.CallCat:
		s.emit("cat", catFile(Printf(call.Format, args)))
	case codegen.CallJoin:
		if s.cfg.JSON {
			s.emit("join", join(rec, call.Format, s.obj.StrLen))
		} else {
			io.WriteString(s.cfg.Out, join(rec, call.Format, s.obj.StrLen)+"\n")
		}
	case codegen.CallPrint:
		s.printMap(s.obj.Maps[call.Map], call.Top, call.Div)
	case codegen.CallClear, codegen.CallZero:
		if err := s.clearMap(s.obj.Maps[call.Map], kind == codegen.CallZero); err != nil {
			fmt.Fprintf(s.cfg.Err, "kscope: clearing @%s: %v\n", s.obj.Maps[call.Map].Name, err)
		}
	}
}

func (s *Session) emit(typ, text string) {
	if s.cfg.JSON {
		fmt.Fprintf(s.cfg.Out, `{"type": "%s", "data": %s}`+"\n", typ, jsonString(text))
		return
	}
	io.WriteString(s.cfg.Out, text)
}

func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// Stop detaches the probes, runs END, reads what is left in the ring
// buffer, prints the maps and unloads everything.
func (s *Session) Stop() error {
	closeAll(s.links)
	s.links = nil
	var errs []error
	for _, prog := range s.end {
		if err := runOnce(prog); err != nil {
			errs = append(errs, fmt.Errorf("running END: %w", err))
		}
	}
	if s.ring != nil {
		if err := s.ring.Drain(); err != nil {
			errs = append(errs, err)
		}
		s.ring = nil
	}
	var code uint64
	if err := s.coll.Maps[s.obj.Exit].Lookup(uint32(0), &code); err == nil && code > 0 {
		s.code = int(code - 1)
	}
	if s.cfg.Stats {
		s.writeStats()
	}
	if lost := s.Lost(0); lost > 0 {
		fmt.Fprintf(s.cfg.Err, "kscope: %d printf, time and exit records lost: the ring buffer was full\n", lost)
	}
	if lost := s.Lost(1); lost > 0 {
		fmt.Fprintf(s.cfg.Err, "kscope: %d map updates dropped: a map was full (max_map_keys)\n", lost)
	}
	s.mu.Lock()
	io.WriteString(s.cfg.Out, "\n\n")
	for _, m := range s.obj.Maps {
		s.printMap(m, 0, 0)
	}
	s.mu.Unlock()
	s.Close()
	return errors.Join(errs...)
}

// Lost returns drop counter idx: 0 counts the records the ring buffer
// had no room for, 1 the map elements that did not fit in a full map.
func (s *Session) Lost(idx uint32) uint64 {
	if s.coll == nil {
		return 0
	}
	var per []uint64
	if err := s.coll.Maps[s.obj.Lost].Lookup(idx, &per); err != nil {
		return 0
	}
	var n uint64
	for _, v := range per {
		n += v
	}
	return n
}

// writeStats prints each attached probe's run count and nanoseconds per
// run, from the kernel's bpf_stats, and the losses, on the error output.
func (s *Session) writeStats() {
	w := s.cfg.Err
	width := len("PROBE")
	for _, p := range s.obj.Probes {
		width = max(width, len(p.Name))
	}
	fmt.Fprintf(w, "%-*s %12s %10s\n", width, "PROBE", "RUNS", "NS/RUN")
	for _, p := range s.obj.Probes {
		if p.Provider == "begin" || p.Provider == "end" {
			continue
		}
		st, err := s.coll.Programs[p.Program].Stats()
		if err != nil {
			fmt.Fprintf(w, "%-*s reading its statistics: %v\n", width, p.Name, err)
			continue
		}
		per := int64(0)
		if st.RunCount > 0 {
			per = st.Runtime.Nanoseconds() / int64(st.RunCount)
		}
		fmt.Fprintf(w, "%-*s %12d %10d\n", width, p.Name, st.RunCount, per)
	}
	fmt.Fprintf(w, "lost: %d records (ring buffer full), %d map updates (max_map_keys)\n", s.Lost(0), s.Lost(1))
}

// Close unloads without printing.
func (s *Session) Close() {
	if s.stats != nil {
		s.stats.Close()
		s.stats = nil
	}
	closeAll(s.links)
	s.links = nil
	if s.ring != nil {
		s.ring.Close()
		s.ring = nil
	}
	if s.coll != nil {
		s.coll.Close()
		s.coll = nil
	}
}

func (s *Session) printMap(m *codegen.Map, top, div int64) {
	md, err := s.readMap(m)
	if err != nil {
		fmt.Fprintf(s.cfg.Err, "kscope: reading @%s: %v\n", m.Name, err)
		return
	}
	md.Top, md.Div = top, div
	if s.cfg.JSON {
		WriteJSON(s.cfg.Out, md)
	} else {
		WriteText(s.cfg.Out, md)
	}
}

type pair struct{ A, B int64 }

// probeAt names the probe whose block holds pos: the last one that starts
// before it.
func (s *Session) probeAt(pos ast.Pos) string {
	name := ""
	best := -1
	for _, p := range s.obj.Probes {
		if p.Pos.Offset <= pos.Offset && p.Pos.Offset > best {
			best, name = p.Pos.Offset, p.Name
		}
	}
	return name
}

// ReadMaps reads every map of the script, in the script's order.
func (s *Session) ReadMaps() ([]*MapData, error) {
	var out []*MapData
	for _, m := range s.obj.Maps {
		md, err := s.readMap(m)
		if err != nil {
			return out, fmt.Errorf("reading @%s: %w", m.Name, err)
		}
		out = append(out, md)
	}
	return out, nil
}

// readMap reads a map into what the printers take.
func (s *Session) readMap(m *codegen.Map) (*MapData, error) {
	md := &MapData{Name: m.Name, Kind: m.Value, Keyed: m.Keyed, Min: m.Min, Max: m.Max, Step: m.Step, Bits: m.Bits}
	if m.ValueRender != nil {
		md.Kind = check.String // printed as text
	}
	bm := s.coll.Maps[m.BPF]
	hist := m.Value == check.Hist || m.Value == check.LHist
	groups := map[string]int{}
	it := bm.Iterate()
	key := make([]byte, m.KeySize)
	for {
		var e Entry
		var ok bool
		switch {
		case !m.PerCPU:
			val := make([]byte, m.ValueSize)
			ok = it.Next(&key, &val)
			if m.ValueRender != nil && ok {
				e.Str = s.render(*m.ValueRender, val, 8)
			} else if m.Value == check.Tuple && ok {
				for _, sl := range m.Elems {
					if sl.String {
						e.Tuple = append(e.Tuple, cstring(val[sl.Offset:sl.Offset+s.obj.StrLen]))
					} else {
						e.Tuple = append(e.Tuple, int64(binary.LittleEndian.Uint64(val[sl.Offset:])))
					}
				}
			} else if m.Value == check.String {
				e.Str = cstring(val)
			} else if ok {
				e.Int = int64(binary.LittleEndian.Uint64(val))
			}
		case m.ValueSize == 8:
			var vals []uint64
			ok = it.Next(&key, &vals)
			for _, v := range vals {
				e.Int += int64(v)
			}
		default:
			var vals []pair
			ok = it.Next(&key, &vals)
			set := false
			for _, v := range vals {
				switch m.Value {
				case check.Min, check.Max:
					if v.B == 0 {
						continue
					}
					if !set || m.Value == check.Min && v.A < e.Int || m.Value == check.Max && v.A > e.Int {
						e.Int = v.A
					}
					set = true
				default:
					e.Total += v.A
					e.Count += v.B
				}
			}
		}
		if !ok {
			break
		}
		if m.Keyed {
			for i, sl := range m.Keys {
				if r, ok := m.Render[i]; ok {
					e.Keys = append(e.Keys, s.render(r, slot(key, sl, s.obj.StrLen), 4))
				} else if sl.String {
					e.Keys = append(e.Keys, cstring(key[sl.Offset:sl.Offset+s.obj.StrLen]))
				} else {
					e.Keys = append(e.Keys, int64(binary.LittleEndian.Uint64(key[sl.Offset:])))
				}
			}
		}
		if hist {
			b := int(binary.LittleEndian.Uint64(key[m.KeySize-8:]))
			prefix := string(key[:m.KeySize-8])
			i, seen := groups[prefix]
			if !seen {
				i = len(md.Entries)
				groups[prefix] = i
				md.Entries = append(md.Entries, Entry{Keys: e.Keys, Buckets: map[int]uint64{}})
			}
			g := &md.Entries[i]
			g.Buckets[b] += uint64(e.Count)
			g.Count += e.Count
			g.Total += e.Total
			continue
		}
		md.Entries = append(md.Entries, e)
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	return md, nil
}

// clearMap deletes every element of m, or sets it to zero.
func (s *Session) clearMap(m *codegen.Map, zero bool) error {
	bm := s.coll.Maps[m.BPF]
	var keys [][]byte
	var prev any
	for {
		next := make([]byte, m.KeySize)
		if err := bm.NextKey(prev, &next); err != nil {
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				break
			}
			return err
		}
		keys = append(keys, next)
		prev = next
		if len(keys) > 1<<20 {
			break
		}
	}
	for _, k := range keys {
		if !zero {
			if err := bm.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return err
			}
			continue
		}
		var err error
		switch {
		case !m.PerCPU:
			err = bm.Put(k, make([]byte, m.ValueSize))
		case m.ValueSize == 8:
			err = bm.Put(k, make([]uint64, ebpf.MustPossibleCPU()))
		default:
			err = bm.Put(k, make([]pair, ebpf.MustPossibleCPU()))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Wait blocks until ctx ends or a probe calls exit().
func (s *Session) Wait(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.exit:
			return
		case <-tick.C:
			var v uint64
			if err := s.coll.Maps[s.obj.Exit].Lookup(uint32(0), &v); err == nil && v != 0 {
				return
			}
		}
	}
}
