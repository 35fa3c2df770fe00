package codegen

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"

	"github.com/kscope/kscope/internal/probe/ast"
	"github.com/kscope/kscope/internal/probe/check"
	"github.com/kscope/kscope/internal/usdt"
)

// Options tell the back end what only the system knows.
type Options struct {
	// Format returns the record layout of tracepoint category:name; nil
	// when the script uses no tracepoint.
	Format func(category, name string) (*Format, error)
	// Tracepoints expands a tracepoint pattern with wildcards
	// ("syscalls:sys_enter_*") into "category:name" strings; nil when the
	// script has no wildcards.
	Tracepoints func(pattern string) ([]string, error)
	// BTF returns the kernel's BTF, for struct field access; nil when there
	// is none.
	BTF func() (*btf.Spec, error)
	// Hook returns the probe type to compile a kprobe, kretprobe, fentry or
	// fexit probe as, on this kernel: the one asked for, or its stand-in
	// (kprobe ↔ fentry, kretprobe ↔ fexit) when only that one exists. Nil
	// compiles each as asked.
	Hook func(provider string) string
	// USDT returns the sites of the USDT probes of binary matching provider
	// and name (globs; provider "*" when the script gave none); nil when the
	// script uses no usdt probe.
	USDT func(binary, provider, name string) ([]USDTSite, error)
	// KernelSymbol returns the address of a kernel symbol (kaddr).
	KernelSymbol func(name string) (uint64, error)
	// UserSymbol returns the address of a symbol of a binary as the
	// process sees it when the binary is not relocated (uaddr).
	UserSymbol func(binary, name string) (uint64, error)
	// CgroupID returns the id of the cgroup at a path (cgroupid).
	CgroupID func(path string) (uint64, error)
	// Functions expands a function glob of a uprobe (binary set) or of a
	// kprobe or fentry probe (binary ""): the names it matches, sorted;
	// nil when the script has no such wildcards.
	Functions func(binary, glob string) ([]string, error)
	// CPUs is the number of possible CPUs, over which a probe adds up
	// the per-CPU values of an aggregation it reads (@n = count(); $x = @n);
	// 0 when not known.
	CPUs int
	// Params are the positional parameters ($1 is Params[0]).
	Params []string
	// ChildPID is the pid of the command traced with -c (cpid).
	ChildPID int
	// MaxStrlen is the size of a string, NUL included (bpftrace's
	// max_strlen); 0 means 64.
	MaxStrlen int
	// MaxMapKeys bounds every map (max_map_keys); 0 means 4096.
	MaxMapKeys int
	// RingSize is the ring buffer's size in bytes, a power of 2 and a
	// multiple of the page size; 0 means 1 MiB.
	RingSize int
	// Task makes every printf record carry the printing task: its pid
	// and tid, uid and gid, and comm (Call.Task). The agent sets it, so
	// its probe events say which process printed them; kscope run does
	// not pay for it.
	Task bool
	// File and Source name the script in errors.
	File   string
	Source []byte
}

// stackSize is what the verifier allows a program.
const stackSize = 512

// Compile generates the BPF programs and maps of a checked script. The
// error, when not nil, is an ast.ErrorList with positions.
func Compile(prog *ast.Program, info *check.Info, opts Options) (obj *Object, err error) {
	if opts.MaxStrlen == 0 {
		opts.MaxStrlen = 64
	}
	if opts.MaxMapKeys == 0 {
		opts.MaxMapKeys = 4096
	}
	if opts.MaxStrlen%8 != 0 || opts.MaxStrlen < 8 || opts.MaxStrlen > 200 {
		return nil, ast.ErrorList{ast.NewError(opts.File, opts.Source, ast.Pos{}, "max_strlen must be a multiple of 8 from 8 to 200, not %d", opts.MaxStrlen)}
	}
	c := &compiler{prog: prog, info: info, opts: opts, maps: map[string]*Map{}, S: opts.MaxStrlen}
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(*ast.Error)
			if !ok {
				panic(r)
			}
			obj, err = nil, ast.ErrorList{e}
		}
	}()
	return c.compile()
}

type compiler struct {
	prog *ast.Program
	info *check.Info
	opts Options
	S    int // string size
	maps map[string]*Map
	obj  *Object
	// sites are the USDT sites of the attach points expandUSDT made.
	sites map[*ast.AttachPoint]*USDTSite
	// btfSpec is the kernel's BTF, loaded on first use (btfErr: why not).
	btfSpec *btf.Spec
	btfErr  error
	// enums are the kernel's enum constants, read on first use.
	enums map[string]int64
}

func (c *compiler) errorf(pos ast.Pos, format string, args ...any) {
	panic(ast.NewError(c.opts.File, c.opts.Source, pos, format, args...))
}

func (c *compiler) compile() (*Object, error) {
	c.obj = &Object{
		Spec:   &ebpf.CollectionSpec{Maps: map[string]*ebpf.MapSpec{}, Programs: map[string]*ebpf.ProgramSpec{}},
		Ring:   "ks_ring",
		Start:  "ks_start",
		Lost:   "ks_lost",
		Exit:   "ks_exit",
		StrLen: c.S,
	}
	if c.opts.RingSize == 0 {
		c.opts.RingSize = 1 << 20
	}
	c.obj.Spec.Maps["ks_ring"] = &ebpf.MapSpec{Name: "ks_ring", Type: ebpf.RingBuf, MaxEntries: uint32(c.opts.RingSize)}
	c.obj.Spec.Maps["ks_lost"] = &ebpf.MapSpec{Name: "ks_lost", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 2}
	c.obj.Spec.Maps["ks_exit"] = &ebpf.MapSpec{Name: "ks_exit", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1}
	c.obj.Spec.Maps["ks_start"] = &ebpf.MapSpec{Name: "ks_start", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1}
	c.resolveUnknown()
	c.layoutMaps()
	c.valueRenders()
	for _, pr := range c.prog.Probes {
		for _, ap := range pr.Attach {
			for _, one := range c.expand(ap) {
				c.probe(pr, one)
			}
		}
	}
	if len(c.obj.Probes) == 0 {
		c.errorf(ast.Pos{Line: 1, Col: 1}, "the script has no probes to attach")
	}
	return c.obj, nil
}

// expand turns a tracepoint attach point with wildcards into one attach
// point per tracepoint it matches.
func (c *compiler) expand(ap *ast.AttachPoint) []*ast.AttachPoint {
	if aliasOf(ap.Provider) == "usdt" {
		return c.expandUSDT(ap)
	}
	switch aliasOf(ap.Provider) {
	case "uprobe", "uretprobe", "kprobe", "kretprobe", "fentry", "fexit":
		if strings.ContainsAny(ap.Parts[len(ap.Parts)-1], "*?") {
			return c.expandFunctions(ap)
		}
	}
	if aliasOf(ap.Provider) != "tracepoint" || len(ap.Parts) != 2 || !strings.ContainsAny(ap.Parts[0]+ap.Parts[1], "*?") {
		return []*ast.AttachPoint{ap}
	}
	if c.opts.Tracepoints == nil {
		c.errorf(ap.Pos, "wildcards in tracepoint names cannot be expanded here: %s", ap.Raw)
	}
	names, err := c.opts.Tracepoints(ap.Parts[0] + ":" + ap.Parts[1])
	if err != nil {
		c.errorf(ap.Pos, "expanding %s: %v", ap.Raw, err)
	}
	if len(names) == 0 {
		c.errorf(ap.Pos, "no tracepoint matches %s", ap.Raw)
	}
	var out []*ast.AttachPoint
	for _, n := range names {
		cat, name, _ := strings.Cut(n, ":")
		out = append(out, &ast.AttachPoint{Pos: ap.Pos, Raw: "tracepoint:" + n, Provider: "tracepoint", Parts: []string{cat, name}})
	}
	return out
}

// maxWildcardProbes bounds the programs one attach point with wildcards
// makes (bpftrace's max_probes default).
const maxWildcardProbes = 512

// expandFunctions turns a uprobe, kprobe or fentry attach point whose
// function has wildcards into one attach point per function it matches.
func (c *compiler) expandFunctions(ap *ast.AttachPoint) []*ast.AttachPoint {
	provider := aliasOf(ap.Provider)
	glob := ap.Parts[len(ap.Parts)-1]
	if strings.Contains(glob, "+") {
		c.errorf(ap.Pos, "a function with wildcards takes no +offset: %s", ap.Raw)
	}
	bin := ""
	if provider == "uprobe" || provider == "uretprobe" {
		if len(ap.Parts) != 2 {
			c.errorf(ap.Pos, "want %s:BINARY:FUNCTION, not %s", provider, ap.Raw)
		}
		bin = ap.Parts[0]
	} else if len(ap.Parts) != 1 {
		c.errorf(ap.Pos, "wildcards in kernel module functions are not compiled yet: %s", ap.Raw)
	}
	if c.opts.Functions == nil {
		c.errorf(ap.Pos, "wildcards in function names cannot be expanded here: %s", ap.Raw)
	}
	names, err := c.opts.Functions(bin, glob)
	if err != nil {
		c.errorf(ap.Pos, "expanding %s: %v", ap.Raw, err)
	}
	if len(names) == 0 {
		c.errorf(ap.Pos, "no function matches %s", ap.Raw)
	}
	if len(names) > maxWildcardProbes {
		c.errorf(ap.Pos, "%s matches %d functions; at most %d are attached from one pattern", ap.Raw, len(names), maxWildcardProbes)
	}
	var out []*ast.AttachPoint
	for _, n := range names {
		parts := append(append([]string(nil), ap.Parts[:len(ap.Parts)-1]...), n)
		out = append(out, &ast.AttachPoint{Pos: ap.Pos, Raw: ap.Provider + ":" + strings.Join(parts, ":"), Provider: ap.Provider, Parts: parts})
	}
	return out
}

// expandUSDT turns a usdt attach point into one attach point per site
// it matches, each carrying its site.
func (c *compiler) expandUSDT(ap *ast.AttachPoint) []*ast.AttachPoint {
	if len(ap.Parts) < 2 {
		c.errorf(ap.Pos, "want usdt:BINARY:[PROVIDER:]NAME, not %s", ap.Raw)
	}
	if c.opts.USDT == nil {
		c.errorf(ap.Pos, "usdt probes cannot be resolved here: %s", ap.Raw)
	}
	provider, name := "*", ap.Parts[len(ap.Parts)-1]
	if len(ap.Parts) == 3 {
		provider = ap.Parts[1]
	}
	sites, err := c.opts.USDT(ap.Parts[0], provider, name)
	if err != nil {
		c.errorf(ap.Pos, "%v", err)
	}
	if len(sites) == 0 {
		c.errorf(ap.Pos, "no USDT probe matches %s", ap.Raw)
	}
	var out []*ast.AttachPoint
	for i := range sites {
		s := &sites[i]
		one := &ast.AttachPoint{Pos: ap.Pos, Raw: "usdt:" + s.Binary + ":" + s.Provider + ":" + s.Name,
			Provider: "usdt", Parts: []string{s.Binary, s.Provider, s.Name}, Offset: s.Offset}
		if c.sites == nil {
			c.sites = map[*ast.AttachPoint]*USDTSite{}
		}
		c.sites[one] = s
		out = append(out, one)
	}
	return out
}

// layoutMaps gives every script map its BPF map.
func (c *compiler) layoutMaps() {
	names := make([]string, 0, len(c.info.Maps))
	for n := range c.info.Maps {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		m := c.info.Maps[n]
		mm := &Map{Name: n, BPF: fmt.Sprintf("ks_m%d", i), Keyed: m.Keyed, Value: m.Value.Kind}
		off := 0
		for _, k := range m.Keys {
			switch k.Kind {
			case check.String, check.Inet, check.Buffer:
				mm.Keys = append(mm.Keys, Slot{String: true, Offset: off})
				off += c.S
			case check.Tuple:
				c.errorf(m.Pos, "a tuple inside a map key is not compiled yet (@%s)", n)
			case check.Int, check.Unknown, check.Pointer, check.Stack:
				mm.Keys = append(mm.Keys, Slot{Offset: off})
				off += 8
			default:
				c.errorf(m.Pos, "a map key of type %s is not compiled yet (@%s)", k, n)
			}
		}
		if !m.Keyed {
			off = 8
		}
		switch m.Value.Kind {
		case check.Int, check.Unknown, check.Pointer:
			mm.Value = check.Int
			mm.ValueSize = 8
		case check.String, check.Inet, check.Buffer:
			mm.ValueSize = c.S
		case check.Stack:
			mm.ValueSize = 8
		case check.Tuple:
			mm.Elems, mm.ValueSize = c.tupleLayout(m.Pos, m.Value)
		case check.Count, check.Sum:
			mm.ValueSize, mm.PerCPU = 8, true
		case check.Avg, check.Stats, check.Min, check.Max:
			mm.ValueSize, mm.PerCPU = 16, true
		case check.Hist, check.LHist:
			// per bucket, as avg's: the values' sum, then their count
			mm.ValueSize, mm.PerCPU = 16, true
			off += 8
		default:
			c.errorf(m.Pos, "a map holding %s is not compiled yet (@%s)", m.Value, n)
		}
		mm.KeySize = off
		typ := ebpf.Hash
		if mm.PerCPU {
			typ = ebpf.PerCPUHash
		}
		entries := c.opts.MaxMapKeys
		if mm.Value == check.Hist || mm.Value == check.LHist {
			entries *= 8 // several buckets per key
		}
		c.obj.Spec.Maps[mm.BPF] = &ebpf.MapSpec{Name: mm.BPF, Type: typ, KeySize: uint32(mm.KeySize), ValueSize: uint32(mm.ValueSize), MaxEntries: uint32(entries)}
		c.maps[n] = mm
		c.obj.Maps = append(c.obj.Maps, mm)
	}
}

// tupleLayout lays out a tuple of integers and strings: each integer 8
// bytes, each string a string's size.
func (c *compiler) tupleLayout(pos ast.Pos, t check.Type) ([]Slot, int) {
	var slots []Slot
	off := 0
	for _, e := range t.Elems {
		switch e.Kind {
		case check.String:
			slots = append(slots, Slot{String: true, Offset: off})
			off += c.S
		case check.Int, check.Unknown:
			slots = append(slots, Slot{Offset: off})
			off += 8
		default:
			c.errorf(pos, "a tuple holding %s is not compiled yet (integers and strings are)", e)
		}
	}
	return slots, off
}

func (c *compiler) mapIndex(name string) int {
	for i, m := range c.obj.Maps {
		if m.Name == name {
			return i
		}
	}
	return -1
}

// fn compiles one program.
type fn struct {
	c      *compiler
	probe  *Probe
	format *Format
	insns  asm.Instructions
	lines  []ast.Pos
	pos    ast.Pos // of the node being compiled
	sp     int     // stack bytes in use
	labels int
	// pending holds the label of the next instruction.
	pending string
	locals  map[string]local
	user    bool // str() reads user memory
	// usdt holds the argument specs of the usdt site being compiled.
	usdt []usdt.Arg
	// loops are the labels of the enclosing while loops' condition and
	// end, innermost last, for continue and break.
	loops [][2]string
	// retOff is where retval is in the context of a kretprobe or fexit.
	retOff int16
	// prefix makes the labels of a for loop's function unique, and
	// endLabel is where leave() goes ("end" in a probe).
	prefix, endLabel string
	// inFor marks the function of a for loop over a map, which has no
	// probe context; outer names the $variables of the probe around it.
	inFor bool
	outer map[string]bool
	// root is the probe's function, which collects the functions of its
	// for loops (subs) and counts them (forN).
	root *fn
	subs []*fn
	forN int
}

// USDTSite is one site of a USDT probe, as Options.USDT finds it.
type USDTSite struct {
	Binary          string // the file as the script names it, for probe
	Path            string // the file to attach to
	Provider, Name  string
	Offset          uint64 // file offset of the probe's NOP
	SemaphoreOffset uint64 // file offset of its semaphore (0: none)
	Args            []usdt.Arg
}

type local struct {
	off int
	// kv is set for the $kv of a for loop over a map.
	kv    *kvLocal
	str   bool
	ctype btf.Type // the C type BTF gives the value, or nil
	// render is how user space prints the value the local holds (ntop,
	// buf…: a string slot of bytes), or nil.
	render *Render
	// tuple are the elements of a tuple the local holds, offsets from
	// off; nil when it holds none.
	tuple []Slot
}

// ctx lives in R6 for the whole program.
const rCtx = asm.R6

func (f *fn) emit(ins ...asm.Instruction) {
	for _, in := range ins {
		if f.pending != "" {
			in = in.WithSymbol(f.pending)
			f.pending = ""
		}
		f.insns = append(f.insns, in)
		f.lines = append(f.lines, f.pos)
	}
}

func (f *fn) newLabel() string {
	f.labels++
	return fmt.Sprintf("%sL%d", f.prefix, f.labels)
}

// label makes the next instruction the target of name.
func (f *fn) label(name string) {
	if f.pending != "" {
		f.emit(asm.Instruction{OpCode: asm.OpCode(asm.JumpClass).SetJumpOp(asm.Ja)})
	}
	f.pending = name
}

// alloc reserves n bytes of stack (rounded up to 8) and returns their
// offset from R10.
func (f *fn) alloc(n int) int {
	n = (n + 7) &^ 7
	f.sp += n
	if f.sp > stackSize {
		f.c.errorf(f.pos, "this probe needs more than %d bytes of stack (strings are %d bytes; fewer string keys or printf arguments, or a smaller max_strlen, fit)", stackSize, f.c.S)
	}
	return -f.sp
}

// zero clears n bytes at off.
func (f *fn) zero(off, n int) {
	for i := 0; i < n; i += 8 {
		f.emit(stImm(asm.R10, int16(off+i), 0))
	}
}

// copyStack copies n bytes (a multiple of 8) from src to dst on the stack.
func (f *fn) copyStack(dst, src, n int) {
	if dst == src {
		return
	}
	for i := 0; i < n; i += 8 {
		f.emit(asm.LoadMem(asm.R1, asm.R10, int16(src+i), asm.DWord),
			asm.StoreMem(asm.R10, int16(dst+i), asm.R1, asm.DWord))
	}
}

func (c *compiler) probe(pr *ast.Probe, ap *ast.AttachPoint) {
	provider := aliasOf(ap.Provider)
	p := &Probe{Provider: provider, Parts: ap.Parts, Offset: ap.Offset, Pos: ap.Pos}
	p.Program = fmt.Sprintf("ks_p%d", len(c.obj.Probes))
	p.Name = provider + ":" + strings.Join(ap.Parts, ":")
	var typ ebpf.ProgramType
	f := &fn{c: c, probe: p, locals: map[string]local{}, pos: ap.Pos, endLabel: "end"}
	f.root = f
	switch provider {
	case "begin", "end":
		// Run once from user space with BPF_PROG_TEST_RUN.
		typ = ebpf.RawTracepoint
		p.Name = strings.ToUpper(provider)
	case "tracepoint":
		typ = ebpf.TracePoint
		if c.opts.Format == nil {
			c.errorf(ap.Pos, "no tracepoint formats available for %s", ap.Raw)
		}
		fm, err := c.opts.Format(ap.Parts[0], ap.Parts[1])
		if err != nil {
			c.errorf(ap.Pos, "%v", err)
		}
		f.format = fm
		f.user = ap.Parts[0] == "syscalls"
	case "interval", "profile":
		typ = ebpf.PerfEvent
		if len(ap.Parts) == 1 {
			p.Parts = []string{"hz", ap.Parts[0]}
		}
	case "software", "hardware":
		typ = ebpf.PerfEvent
		if len(ap.Parts) == 1 {
			p.Parts = []string{ap.Parts[0], ""}
		}
	case "rawtracepoint":
		typ = ebpf.RawTracepoint
		if strings.ContainsAny(ap.Raw, "*?") {
			c.errorf(ap.Pos, "wildcards in raw tracepoint names are not compiled yet: %s", ap.Raw)
		}
	case "uprobe", "uretprobe":
		typ = ebpf.Kprobe
		f.user = true
		if len(ap.Parts) == 3 {
			c.errorf(ap.Pos, "uprobe language qualifiers are not compiled yet: %s", ap.Raw)
		}
	case "kprobe", "kretprobe", "fentry", "fexit":
		typ = ebpf.Kprobe
		// The hook this kernel has: kprobe and fentry stand in for each
		// other (kretprobe and fexit too).
		hook := provider
		if c.opts.Hook != nil && ap.Offset == 0 {
			hook = c.opts.Hook(provider)
		}
		p.Provider = hook
		fnName := ap.Parts[len(ap.Parts)-1]
		script := provider == "fentry" || provider == "fexit"
		switch hook {
		case "fentry", "fexit":
			typ = ebpf.Tracing
			var nargs int
			f.format, nargs = f.funcArgs(ap.Pos, fnName, false)
			f.retOff = int16(8 * nargs)
			at := ebpf.AttachTraceFEntry
			if hook == "fexit" {
				at = ebpf.AttachTraceFExit
			}
			defer func() {
				if spec := c.obj.Spec.Programs[p.Program]; spec != nil {
					spec.AttachType, spec.AttachTo = at, fnName
				}
			}()
		default:
			if script {
				f.format, _ = f.funcArgs(ap.Pos, fnName, true)
			}
			f.retOff = regAX
		}
	case "usdt":
		typ = ebpf.Kprobe
		f.user = true
		site := c.sites[ap]
		if site == nil {
			c.errorf(ap.Pos, "usdt probe %s has no resolved site", ap.Raw)
		}
		f.usdt = site.Args
		p.Path, p.RefCtrOffset = site.Path, site.SemaphoreOffset
	default:
		c.errorf(ap.Pos, "%s probes are not compiled yet", provider)
	}
	if provider != "begin" && provider != "end" {
		p.Name = ap.Raw
		if i := strings.IndexByte(p.Name, ':'); i >= 0 {
			p.Name = provider + p.Name[i:]
		}
	}
	f.emit(asm.Mov.Reg(rCtx, asm.R1))
	f.declareLocals(pr.Body)
	if pr.Pred != nil {
		f.pos = pr.Pred.Position()
		f.intExpr(pr.Pred)
		f.emit(asm.JEq.Imm(asm.R0, 0, "end"))
	}
	f.block(pr.Body)
	f.label("end")
	f.emit(asm.Mov.Imm(asm.R0, 0), asm.Return())
	if len(f.subs) > 0 {
		// The functions of for loops follow, with the BTF the kernel
		// wants for programs made of several functions.
		f.insns[0] = btf.WithFuncMetadata(f.insns[0], funcBTF(p.Program, btf.GlobalFunc, "ctx"))
		for _, sub := range f.subs {
			f.insns = append(f.insns, sub.insns...)
			f.lines = append(f.lines, sub.lines...)
		}
	}
	p.Lines = f.lines
	c.obj.Probes = append(c.obj.Probes, p)
	c.obj.Spec.Programs[p.Program] = &ebpf.ProgramSpec{
		Name:         p.Program,
		Type:         typ,
		Instructions: f.insns,
		License:      "GPL",
	}
}

func aliasOf(p string) string {
	switch p {
	case "BEGIN", "begin":
		return "begin"
	case "END", "end":
		return "end"
	case "t":
		return "tracepoint"
	case "rt":
		return "rawtracepoint"
	case "k":
		return "kprobe"
	case "kr":
		return "kretprobe"
	case "f", "kfunc":
		return "fentry"
	case "fr", "kretfunc":
		return "fexit"
	case "u":
		return "uprobe"
	case "ur":
		return "uretprobe"
	case "U":
		return "usdt"
	case "p":
		return "profile"
	case "i":
		return "interval"
	case "s":
		return "software"
	case "h":
		return "hardware"
	}
	return p
}

// valueRenders finds the maps that hold values user space renders
// (@s[tid] = kstack, @a[k] = ntop(x)), from their assignments anywhere in
// the script, so that a probe reading one knows how its value prints.
func (c *compiler) valueRenders() {
	f := &fn{c: c, probe: &Probe{}, locals: map[string]local{}}
	var walk func(s ast.Stmt)
	walk = func(s ast.Stmt) {
		switch s := s.(type) {
		case *ast.Block:
			for _, t := range s.Stmts {
				walk(t)
			}
		case *ast.IfStmt:
			walk(s.Then)
			if s.Else != nil {
				walk(s.Else)
			}
		case *ast.WhileStmt:
			walk(s.Body)
		case *ast.UnrollStmt:
			walk(s.Body)
		case *ast.AssignStmt:
			t, ok := s.Target.(*ast.MapExpr)
			if !ok || s.Op != "=" {
				return
			}
			switch s.Value.(type) {
			case *ast.Ident, *ast.Call:
			default:
				return
			}
			m := c.maps[t.Name]
			if m == nil {
				return
			}
			r, ok := f.renderOf(s.Value)
			if !ok {
				return
			}
			if r.wide() && m.ValueSize < c.S || !r.wide() && m.ValueSize != 8 {
				return
			}
			if m.ValueRender == nil {
				m.ValueRender = &r
			}
		}
	}
	for _, pr := range c.prog.Probes {
		walk(pr.Body)
	}
}

// declareLocals gives every $variable of the probe a stack slot before any
// temporary is allocated, so slots outlive the statements that set them.
func (f *fn) declareLocals(b *ast.Block) {
	var walk func(s ast.Stmt)
	decl := func(v *ast.Var, x ast.Expr) {
		if _, ok := f.locals[v.Name]; ok {
			return
		}
		if f.outer[v.Name] {
			f.c.errorf(v.Pos, "a for loop over a map cannot set $%s of the probe around it (its body runs as a function of its own)", v.Name)
		}
		str := false
		var render *Render
		if t := f.c.info.Types[x]; x != nil && t.Kind == check.Tuple || x == nil && f.c.info.Types[v].Kind == check.Tuple {
			if x == nil {
				t = f.c.info.Types[v]
			}
			slots, n := f.c.tupleLayout(v.Pos, t)
			off := f.alloc(n)
			f.locals[v.Name] = local{off: off, tuple: slots}
			f.zero(off, n)
			return
		}
		if x != nil {
			str = f.isString(x)
			if r, ok := f.renderOf(x); ok && r.wide() {
				str, render = true, &r
			}
		} else {
			str = f.c.info.Types[v].Kind == check.String
		}
		n := 8
		if str {
			n = f.c.S
		}
		off := f.alloc(n)
		var ct btf.Type
		if x != nil && !str {
			ct = f.ctype(x)
		}
		f.locals[v.Name] = local{off: off, str: str, ctype: ct, render: render}
		f.zero(off, n)
	}
	walk = func(s ast.Stmt) {
		switch s := s.(type) {
		case *ast.Block:
			for _, t := range s.Stmts {
				walk(t)
			}
		case *ast.AssignStmt:
			if v, ok := s.Target.(*ast.Var); ok {
				if s.Op == "=" {
					decl(v, s.Value)
				} else {
					decl(v, nil)
				}
			}
		case *ast.LetStmt:
			decl(s.Var, s.Value)
		case *ast.IfStmt:
			walk(s.Then)
			if s.Else != nil {
				walk(s.Else)
			}
		case *ast.ExprStmt:
			if p, ok := s.X.(*ast.Postfix); ok {
				if v, ok := p.X.(*ast.Var); ok {
					decl(v, nil)
				}
			}
		case *ast.WhileStmt:
			walk(s.Body)
		case *ast.UnrollStmt:
			walk(s.Body)
		case *ast.ForStmt:
			if s.Map != nil {
				return // its body is a function of its own
			}
			decl(s.Var, nil)
			walk(s.Body)
		}
	}
	walk(b)
}

func (f *fn) block(b *ast.Block) {
	for _, s := range b.Stmts {
		f.stmt(s)
	}
}

func (f *fn) stmt(s ast.Stmt) {
	mark := f.sp
	defer func() { f.sp = mark }()
	f.pos = s.Position()
	switch s := s.(type) {
	case *ast.Block:
		f.block(s)
	case *ast.ExprStmt:
		switch x := s.X.(type) {
		case *ast.Call:
			f.callStmt(x)
		case *ast.Postfix, *ast.Unary:
			f.intExpr(x)
		default:
			if f.isString(x) {
				f.strExpr(x, f.alloc(f.c.S))
			} else {
				f.intExpr(x)
			}
		}
	case *ast.AssignStmt:
		f.assign(s)
	case *ast.LetStmt:
		if s.Value != nil {
			f.assign(&ast.AssignStmt{Pos: s.Pos, Target: s.Var, Op: "=", Value: s.Value})
		}
	case *ast.IfStmt:
		els, end := f.newLabel(), f.newLabel()
		f.intExpr(s.Cond)
		f.emit(asm.JEq.Imm(asm.R0, 0, els))
		f.block(s.Then)
		f.emit(asm.Ja.Label(end))
		f.label(els)
		if s.Else != nil {
			f.stmt(s.Else)
		}
		f.label(end)
	case *ast.ReturnStmt:
		f.leave()
	case *ast.WhileStmt:
		// The verifier proves the loop ends (bounded loops, Linux 5.3).
		top, end := f.newLabel(), f.newLabel()
		f.label(top)
		f.intExpr(s.Cond)
		f.emit(asm.JEq.Imm(asm.R0, 0, end))
		f.loops = append(f.loops, [2]string{top, end})
		f.block(s.Body)
		f.loops = f.loops[:len(f.loops)-1]
		f.emit(asm.Ja.Label(top))
		f.label(end)
		f.emit(asm.Mov.Reg(asm.R0, asm.R0))
	case *ast.ForStmt:
		if s.Map != nil {
			f.forMap(s)
			return
		}
		// for ($i : lo..hi): $i from lo up to hi-1, a bounded loop the
		// verifier proves ends, as while is.
		l := f.locals[s.Var.Name]
		hi := f.alloc(8)
		f.intExpr(s.Lo)
		f.emit(asm.StoreMem(asm.R10, int16(l.off), asm.R0, asm.DWord))
		f.intExpr(s.Hi)
		f.emit(asm.StoreMem(asm.R10, int16(hi), asm.R0, asm.DWord))
		top, next, end := f.newLabel(), f.newLabel(), f.newLabel()
		f.label(top)
		f.emit(asm.LoadMem(asm.R0, asm.R10, int16(l.off), asm.DWord),
			asm.LoadMem(asm.R1, asm.R10, int16(hi), asm.DWord),
			asm.JSGE.Reg(asm.R0, asm.R1, end))
		f.loops = append(f.loops, [2]string{next, end})
		f.block(s.Body)
		f.loops = f.loops[:len(f.loops)-1]
		f.label(next)
		f.emit(asm.LoadMem(asm.R0, asm.R10, int16(l.off), asm.DWord), asm.Add.Imm(asm.R0, 1),
			asm.StoreMem(asm.R10, int16(l.off), asm.R0, asm.DWord),
			asm.Ja.Label(top))
		f.label(end)
		f.emit(asm.Mov.Reg(asm.R0, asm.R0))
	case *ast.UnrollStmt:
		n := f.constArg(s.Count)
		if n < 1 || n > 100 {
			f.c.errorf(s.Count.Position(), "unroll takes 1 to 100 iterations, not %d", n)
		}
		for range n {
			f.block(s.Body)
		}
	case *ast.BranchStmt:
		if len(f.loops) == 0 {
			f.c.errorf(s.Pos, "%s outside a while loop", s.Tok)
		}
		// Conditional on the context pointer, never NULL, as in leave:
		// the statements after it stay reachable for the verifier.
		l := f.loops[len(f.loops)-1]
		if s.Tok == "break" {
			f.emit(asm.JNE.Imm(rCtx, 0, l[1]))
		} else {
			f.emit(asm.JNE.Imm(rCtx, 0, l[0]))
		}
	default:
		f.c.errorf(s.Position(), "this statement is not compiled yet")
	}
}

// isString reports whether x is a string value.
func (f *fn) isString(x ast.Expr) bool {
	switch x := x.(type) {
	case *ast.Field:
		if _, str, ok := f.kvSlot(x); ok {
			return str
		}
		if fl := f.argField(x, false); fl != nil {
			return fl.IsString()
		}
		if id, ok := x.X.(*ast.Ident); !ok || id.Name != "args" {
			if f.ctype(x.X) != nil {
				_, t, _ := f.member(x)
				_, str := isCharArray(t)
				return str
			}
		}
	case *ast.Var:
		if l, ok := f.locals[x.Name]; ok {
			return l.str
		}
	case *ast.MapExpr:
		// The map's type, which resolveUnknown may have learned from a
		// BTF or tracepoint char array.
		if m := f.c.maps[x.Name]; m != nil {
			return m.Value == check.String && m.ValueRender == nil
		}
		if info := f.c.info.Maps[x.Name]; info != nil {
			return info.Value.Kind == check.String
		}
	case *ast.Positional:
		if !x.Count && x.N <= len(f.c.opts.Params) {
			_, err := strconv.ParseInt(f.c.opts.Params[x.N-1], 0, 64)
			return err != nil
		}
		return false
	}
	return f.c.info.Types[x].Kind == check.String
}

// argField resolves args->name (or args.name) in a tracepoint; nil when x
// is no such expression (an error when must).
func (f *fn) argField(x *ast.Field, must bool) *Field {
	id, ok := x.X.(*ast.Ident)
	if !ok || id.Name != "args" {
		if must {
			f.c.errorf(x.Pos, "field access outside args is not compiled yet (it needs BTF)")
		}
		return nil
	}
	if f.format == nil {
		if must {
			f.c.errorf(x.Pos, "args in %s probes is not compiled yet", f.probe.Provider)
		}
		return nil
	}
	fl := f.format.Field(x.Name)
	if fl == nil {
		names := make([]string, len(f.format.Fields))
		for i, fd := range f.format.Fields {
			names[i] = fd.Name
		}
		what := "tracepoint"
		if f.probe.Provider != "tracepoint" {
			what = "function"
		}
		f.c.errorf(x.Pos, "%s %s has no field %q; it has: %s", what, f.probe.Name, x.Name, strings.Join(names, ", "))
	}
	return fl
}

func (f *fn) assign(s *ast.AssignStmt) {
	f.pos = s.Pos
	if call, ok := s.Value.(*ast.Call); ok && s.Op == "=" {
		switch call.Name {
		case "count", "sum", "avg", "min", "max", "stats", "hist", "lhist":
			f.aggregate(s.Target.(*ast.MapExpr), call)
			return
		}
	}
	switch t := s.Target.(type) {
	case *ast.Var:
		l := f.locals[t.Name]
		if l.tuple != nil {
			if s.Op != "=" {
				f.c.errorf(s.Pos, "%s on a tuple", s.Op)
			}
			f.tupleInto(s.Value, l.off, l.tuple)
			return
		}
		if l.render != nil {
			r, ok := f.renderOf(s.Value)
			if !ok || r != *l.render {
				f.c.errorf(s.Value.Position(), "$%s holds another kind of value elsewhere", t.Name)
			}
			tmp := f.alloc(f.c.S)
			f.zero(tmp, f.c.S)
			f.renderValue(s.Value, r, tmp)
			f.copyStack(l.off, tmp, f.c.S)
			return
		}
		if l.str {
			if s.Op != "=" {
				f.c.errorf(s.Pos, "%s on a string", s.Op)
			}
			tmp := f.alloc(f.c.S)
			f.strExpr(s.Value, tmp)
			f.copyStack(l.off, tmp, f.c.S)
			return
		}
		if s.Op == "=" {
			f.intExpr(s.Value)
		} else {
			f.intExpr(s.Value)
			f.emit(asm.Mov.Reg(asm.R1, asm.R0), asm.LoadMem(asm.R0, asm.R10, int16(l.off), asm.DWord))
			f.aluOp(strings.TrimSuffix(s.Op, "="), s.Pos)
		}
		f.emit(asm.StoreMem(asm.R10, int16(l.off), asm.R0, asm.DWord))
	case *ast.MapExpr:
		m := f.c.maps[t.Name]
		val := f.alloc(m.ValueSize)
		if m.ValueRender != nil {
			r, ok := f.renderOf(s.Value)
			if !ok || r != *m.ValueRender || s.Op != "=" {
				f.c.errorf(s.Value.Position(), "@%s holds another kind of value elsewhere", t.Name)
			}
			f.zero(val, m.ValueSize)
			f.renderValue(s.Value, r, val)
			f.update(m, f.key(m, t), val)
			return
		}
		if m.Value == check.Tuple {
			if s.Op != "=" {
				f.c.errorf(s.Pos, "%s on a tuple", s.Op)
			}
			f.zero(val, m.ValueSize)
			f.tupleInto(s.Value, val, m.Elems)
		} else if m.Value == check.String {
			f.strExpr(s.Value, val)
		} else {
			f.intExpr(s.Value)
			if s.Op != "=" {
				f.emit(asm.StoreMem(asm.R10, int16(val), asm.R0, asm.DWord))
				key := f.key(m, t)
				f.lookupInt(m, key) // R0 = old value or 0
				f.emit(asm.LoadMem(asm.R1, asm.R10, int16(val), asm.DWord))
				f.aluOp(strings.TrimSuffix(s.Op, "="), s.Pos)
				f.emit(asm.StoreMem(asm.R10, int16(val), asm.R0, asm.DWord))
				f.update(m, key, val)
				return
			}
			f.emit(asm.StoreMem(asm.R10, int16(val), asm.R0, asm.DWord))
		}
		f.update(m, f.key(m, t), val)
	default:
		f.c.errorf(s.Pos, "assigning to this expression is not compiled yet")
	}
}

// tupleInto builds tuple x at off on the stack, laid out as slots: a
// tuple literal or a $local holding one.
func (f *fn) tupleInto(x ast.Expr, off int, slots []Slot) {
	switch x := x.(type) {
	case *ast.Tuple:
		if len(x.Elems) != len(slots) {
			f.c.errorf(x.Pos, "a tuple of %d elements where one of %d is needed", len(x.Elems), len(slots))
		}
		for i, e := range x.Elems {
			sl := slots[i]
			if sl.String != f.isString(e) {
				f.c.errorf(e.Position(), "tuple element %d holds %s elsewhere", i, map[bool]string{true: "a string", false: "an integer"}[sl.String])
			}
			if sl.String {
				f.strExpr(e, off+sl.Offset)
				continue
			}
			f.intExpr(e)
			f.emit(asm.StoreMem(asm.R10, int16(off+sl.Offset), asm.R0, asm.DWord))
		}
	case *ast.Var:
		l, ok := f.locals[x.Name]
		if !ok {
			f.undefined(x)
		}
		if !slices.Equal(l.tuple, slots) {
			f.c.errorf(x.Pos, "$%s is not a tuple of the same elements", x.Name)
		}
		n := 0
		if len(slots) > 0 {
			last := slots[len(slots)-1]
			n = last.Offset + map[bool]int{true: f.c.S, false: 8}[last.String]
		}
		f.copyStack(off, l.off, n)
	default:
		f.c.errorf(x.Position(), "a tuple from this expression is not compiled yet (a tuple literal or a $variable holding one is)")
	}
}

// key builds the key of m[keys…] on the stack and returns its offset; the
// hist bucket, if any, is left for the caller at offset+KeySize-8.
func (f *fn) key(m *Map, x *ast.MapExpr) int {
	off := f.alloc(m.KeySize)
	f.zero(off, m.KeySize)
	keys := x.Keys
	if len(keys) == 1 && len(m.Keys) > 1 {
		if t, ok := keys[0].(*ast.Tuple); ok {
			keys = t.Elems
		}
	}
	if len(keys) != len(m.Keys) {
		f.c.errorf(x.Pos, "@%s takes %d keys here", m.Name, len(m.Keys))
	}
	for i, k := range keys {
		sl := m.Keys[i]
		if r, ok := f.renderOf(k); ok {
			f.setRender(&m.Render, i, r, k.Position())
			f.renderValue(k, r, off+sl.Offset)
			continue
		}
		if _, ok := m.Render[i]; ok {
			f.c.errorf(k.Position(), "@%s key %d holds a stack or symbol elsewhere", m.Name, i+1)
		}
		if sl.String {
			if !f.isString(k) {
				f.c.errorf(k.Position(), "@%s key %d must be a string", m.Name, i+1)
			}
			f.strExpr(k, off+sl.Offset)
		} else {
			if f.isString(k) {
				f.c.errorf(k.Position(), "@%s key %d must be an integer", m.Name, i+1)
			}
			f.intExpr(k)
			f.emit(asm.StoreMem(asm.R10, int16(off+sl.Offset), asm.R0, asm.DWord))
		}
	}
	return off
}

// lookup leaves the map value's pointer (or NULL) in R0.
func (f *fn) lookup(m *Map, key int) {
	f.emit(asm.LoadMapPtr(asm.R1, 0).WithReference(m.BPF),
		asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, int32(key)),
		asm.FnMapLookupElem.Call())
}

// lookupInt leaves the map's integer value, or 0 without one, in R0.
func (f *fn) lookupInt(m *Map, key int) {
	f.lookup(m, key)
	done := f.newLabel()
	f.emit(asm.JEq.Imm(asm.R0, 0, done), asm.LoadMem(asm.R0, asm.R0, 0, asm.DWord))
	f.label(done)
}

func (f *fn) update(m *Map, key, val int) {
	f.emit(asm.LoadMapPtr(asm.R1, 0).WithReference(m.BPF),
		asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, int32(key)),
		asm.Mov.Reg(asm.R3, asm.R10), asm.Add.Imm(asm.R3, int32(val)),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnMapUpdateElem.Call())
	ok := f.newLabel()
	f.emit(asm.JEq.Imm(asm.R0, 0, ok))
	f.countDrop(dropMapFull)
	f.label(ok)
	f.emit(asm.Mov.Imm(asm.R0, 0))
}

// aluOp computes R0 = R0 op R1.
func (f *fn) aluOp(op string, pos ast.Pos) {
	var a asm.ALUOp
	switch op {
	case "+":
		a = asm.Add
	case "-":
		a = asm.Sub
	case "*":
		a = asm.Mul
	case "/":
		a = asm.Div
	case "%":
		a = asm.Mod
	case "&":
		a = asm.And
	case "|":
		a = asm.Or
	case "^":
		a = asm.Xor
	case "<<":
		a = asm.LSh
	case ">>":
		a = asm.RSh
	default:
		f.c.errorf(pos, "operator %s is not compiled yet", op)
	}
	f.emit(a.Reg(asm.R0, asm.R1))
}

// aggregate compiles @m[k] = count() and the other aggregations.
func (f *fn) aggregate(t *ast.MapExpr, call *ast.Call) {
	m := f.c.maps[t.Name]
	arg := f.alloc(8)
	if len(call.Args) > 0 {
		f.intExpr(call.Args[0])
		f.emit(asm.StoreMem(asm.R10, int16(arg), asm.R0, asm.DWord))
	}
	key := f.key(m, t)
	switch call.Name {
	case "hist":
		k := int64(0)
		if len(call.Args) == 2 {
			k = f.constArg(call.Args[1])
			if k < 0 || k > 5 {
				f.c.errorf(call.Args[1].Position(), "hist()'s second argument must be from 0 to 5, not %d", k)
			}
		}
		if m.histSet && m.Bits != int(k) {
			f.c.errorf(call.Pos, "@%s is a hist() with %d bits elsewhere", m.Name, m.Bits)
		}
		m.Bits, m.histSet = int(k), true
		if k == 0 {
			f.log2Bucket(arg)
		} else {
			f.log2BucketBits(arg, int32(k))
		}
		f.emit(asm.StoreMem(asm.R10, int16(key+m.KeySize-8), asm.R0, asm.DWord))
	case "lhist":
		lo, hi, step := f.constArg(call.Args[1]), f.constArg(call.Args[2]), f.constArg(call.Args[3])
		if step <= 0 || hi <= lo {
			f.c.errorf(call.Pos, "lhist needs min < max and a positive step")
		}
		if (m.Step != 0) && (m.Min != lo || m.Max != hi || m.Step != step) {
			f.c.errorf(call.Pos, "@%s is an lhist with other bounds elsewhere", m.Name)
		}
		m.Min, m.Max, m.Step = lo, hi, step
		f.linBucket(arg, lo, hi, step)
		f.emit(asm.StoreMem(asm.R10, int16(key+m.KeySize-8), asm.R0, asm.DWord))
	}
	// Find the entry, creating it zeroed.
	have := f.newLabel()
	f.lookup(m, key)
	f.emit(asm.JNE.Imm(asm.R0, 0, have))
	val := f.alloc(m.ValueSize)
	f.zero(val, m.ValueSize)
	f.emit(asm.LoadMapPtr(asm.R1, 0).WithReference(m.BPF),
		asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, int32(key)),
		asm.Mov.Reg(asm.R3, asm.R10), asm.Add.Imm(asm.R3, int32(val)),
		asm.Mov.Imm(asm.R4, 1), // BPF_NOEXIST
		asm.FnMapUpdateElem.Call())
	f.lookup(m, key)
	done := f.newLabel()
	f.emit(asm.JNE.Imm(asm.R0, 0, have))
	f.countDrop(dropMapFull) // the map is full
	f.emit(asm.Ja.Label(done))
	f.label(have)
	f.emit(asm.LoadMem(asm.R1, asm.R10, int16(arg), asm.DWord))
	switch call.Name {
	case "count":
		f.emit(asm.LoadMem(asm.R2, asm.R0, 0, asm.DWord), asm.Add.Imm(asm.R2, 1), asm.StoreMem(asm.R0, 0, asm.R2, asm.DWord))
	case "sum":
		f.emit(asm.LoadMem(asm.R2, asm.R0, 0, asm.DWord), asm.Add.Reg(asm.R2, asm.R1), asm.StoreMem(asm.R0, 0, asm.R2, asm.DWord))
	case "avg", "stats", "hist", "lhist":
		f.emit(asm.LoadMem(asm.R2, asm.R0, 0, asm.DWord), asm.Add.Reg(asm.R2, asm.R1), asm.StoreMem(asm.R0, 0, asm.R2, asm.DWord),
			asm.LoadMem(asm.R2, asm.R0, 8, asm.DWord), asm.Add.Imm(asm.R2, 1), asm.StoreMem(asm.R0, 8, asm.R2, asm.DWord))
	case "min", "max":
		// value at 0, "set" flag at 8.
		set, skip := f.newLabel(), f.newLabel()
		f.emit(asm.LoadMem(asm.R2, asm.R0, 8, asm.DWord), asm.JEq.Imm(asm.R2, 0, set),
			asm.LoadMem(asm.R2, asm.R0, 0, asm.DWord))
		if call.Name == "min" {
			f.emit(asm.JSGE.Reg(asm.R1, asm.R2, skip))
		} else {
			f.emit(asm.JSLE.Reg(asm.R1, asm.R2, skip))
		}
		f.label(set)
		f.emit(asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord), stImm(asm.R0, 8, 1))
		f.label(skip)
	}
	f.label(done)
	f.emit(asm.Mov.Imm(asm.R0, 0))
}

// The slots of Object.Lost.
const (
	dropRing    = 0 // a record the ring buffer had no room for
	dropMapFull = 1 // a map element that did not fit (max_map_keys)
)

// countDrop adds one to slot idx of the per-CPU drop counters.
func (f *fn) countDrop(idx int32) {
	mark := f.sp
	k := f.alloc(8)
	f.sp = mark
	done := f.newLabel()
	f.emit(stImm(asm.R10, int16(k), int64(idx)),
		asm.LoadMapPtr(asm.R1, 0).WithReference(f.c.obj.Lost),
		asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, int32(k)),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, done),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord), asm.Add.Imm(asm.R1, 1), asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord))
	f.label(done)
	f.emit(asm.Mov.Imm(asm.R0, 0))
}

// constArg is an integer literal or a numeric positional parameter.
func (f *fn) constArg(x ast.Expr) int64 {
	switch x := x.(type) {
	case *ast.IntLit:
		return int64(x.Value)
	case *ast.Positional:
		if !x.Count && x.N <= len(f.c.opts.Params) {
			if n, err := strconv.ParseInt(f.c.opts.Params[x.N-1], 0, 64); err == nil {
				return n
			}
		}
	case *ast.Unary:
		if x.Op == "-" {
			return -f.constArg(x.X)
		}
	}
	f.c.errorf(x.Position(), "this must be an integer literal")
	return 0
}

// log2Bucket leaves in R0 the hist bucket of the value at arg: 0 for a
// negative value, 1 for 0, else 2+floor(log2(v)), as bpftrace counts.
func (f *fn) log2Bucket(arg int) {
	done, pos := f.newLabel(), f.newLabel()
	f.emit(asm.LoadMem(asm.R1, asm.R10, int16(arg), asm.DWord),
		asm.Mov.Imm(asm.R0, 0),
		asm.JSLT.Imm(asm.R1, 0, done),
		asm.Mov.Imm(asm.R0, 1),
		asm.JEq.Imm(asm.R1, 0, done),
		asm.Mov.Imm(asm.R0, 2),
		asm.Ja.Label(pos))
	f.label(pos)
	for _, sh := range []int32{32, 16, 8, 4, 2, 1} {
		next := f.newLabel()
		f.emit(asm.Mov.Reg(asm.R2, asm.R1), asm.RSh.Imm(asm.R2, sh),
			asm.JEq.Imm(asm.R2, 0, next),
			asm.Mov.Reg(asm.R1, asm.R2), asm.Add.Imm(asm.R0, sh))
		f.label(next)
	}
	f.emit(asm.Ja.Label(done))
	f.label(done)
	f.emit(asm.Mov.Reg(asm.R0, asm.R0))
}

// log2BucketBits leaves in R0 the hist(v, k) bucket of the value at arg,
// as bpftrace counts: 0 for a negative value, v+1 below 2^(k+1), else
// ((L-k+1) << k) + x + 1 where L is floor(log2 v) and x the k bits
// after its leading one.
func (f *fn) log2BucketBits(arg int, k int32) {
	done, big := f.newLabel(), f.newLabel()
	f.emit(asm.LoadMem(asm.R1, asm.R10, int16(arg), asm.DWord),
		asm.Mov.Imm(asm.R0, 0),
		asm.JSLT.Imm(asm.R1, 0, done),
		asm.JGE.Imm(asm.R1, 2<<k, big),
		asm.Mov.Reg(asm.R0, asm.R1), asm.Add.Imm(asm.R0, 1),
		asm.Ja.Label(done))
	f.label(big)
	f.emit(asm.Mov.Imm(asm.R0, 0), asm.Mov.Reg(asm.R2, asm.R1))
	for _, sh := range []int32{32, 16, 8, 4, 2, 1} {
		next := f.newLabel()
		f.emit(asm.Mov.Reg(asm.R3, asm.R2), asm.RSh.Imm(asm.R3, sh),
			asm.JEq.Imm(asm.R3, 0, next),
			asm.Mov.Reg(asm.R2, asm.R3), asm.Add.Imm(asm.R0, sh))
		f.label(next)
	}
	// R0 = L; x = (v >> (L-k)) & (2^k - 1).
	f.emit(asm.Mov.Reg(asm.R3, asm.R0), asm.Sub.Imm(asm.R3, k),
		asm.Mov.Reg(asm.R2, asm.R1), asm.RSh.Reg(asm.R2, asm.R3),
		asm.And.Imm(asm.R2, (1<<k)-1),
		asm.Sub.Imm(asm.R0, k-1), asm.LSh.Imm(asm.R0, k),
		asm.Add.Reg(asm.R0, asm.R2), asm.Add.Imm(asm.R0, 1))
	f.label(done)
	f.emit(asm.Mov.Reg(asm.R0, asm.R0))
}

// linBucket leaves in R0 the lhist bucket of the value at arg: 0 below
// min, (v-min)/step+1 inside, (max-min)/step+1 at or above max.
func (f *fn) linBucket(arg int, lo, hi, step int64) {
	done := f.newLabel()
	f.emit(asm.LoadMem(asm.R1, asm.R10, int16(arg), asm.DWord),
		asm.LoadImm(asm.R2, lo, asm.DWord),
		asm.Mov.Imm(asm.R0, 0),
		asm.JSLT.Reg(asm.R1, asm.R2, done),
		asm.LoadImm(asm.R0, (hi-lo)/step+1, asm.DWord),
		asm.LoadImm(asm.R3, hi, asm.DWord),
		asm.JSGE.Reg(asm.R1, asm.R3, done),
		asm.Mov.Reg(asm.R0, asm.R1), asm.Sub.Reg(asm.R0, asm.R2),
		asm.LoadImm(asm.R3, step, asm.DWord),
		asm.Div.Reg(asm.R0, asm.R3),
		asm.Add.Imm(asm.R0, 1))
	f.label(done)
	f.emit(asm.Mov.Reg(asm.R0, asm.R0))
}

// stImm stores a sign-extended 32-bit constant as 64 bits at dst+off
// (cilium/ebpf's asm.StoreImm refuses the DWord form the kernel accepts).
func stImm(dst asm.Register, off int16, v int64) asm.Instruction {
	return asm.Instruction{OpCode: asm.StoreImmOp(asm.DWord), Dst: dst, Offset: off, Constant: int64(int32(v))}
}

// leave ends the probe here. The jump is conditional on the context
// pointer, which is never NULL, so that the statements after it stay
// reachable in the verifier's control-flow check.
func (f *fn) leave() {
	f.emit(asm.JNE.Imm(rCtx, 0, f.endLabel))
}
