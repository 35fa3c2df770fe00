package codegen

import (
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"

	"github.com/kscope/kscope/internal/probe/ast"
	"github.com/kscope/kscope/internal/probe/check"
)

// intCall compiles the calls that give an integer; false when x is none
// of them.
func (f *fn) intCall(x *ast.Call) bool {
	switch x.Name {
	case "kaddr":
		name := f.strLitArg(x, 0)
		if f.c.opts.KernelSymbol == nil {
			f.c.errorf(x.Pos, "kaddr() cannot resolve kernel symbols here")
		}
		addr, err := f.c.opts.KernelSymbol(name)
		if err != nil {
			f.c.errorf(x.Args[0].Position(), "kaddr(%q): %v", name, err)
		}
		f.emit(asm.LoadImm(asm.R0, int64(addr), asm.DWord))
	case "uaddr":
		name := f.strLitArg(x, 0)
		if f.c.opts.UserSymbol == nil {
			f.c.errorf(x.Pos, "uaddr() cannot resolve user symbols here")
		}
		bin := ""
		switch f.probe.Provider {
		case "uprobe", "uretprobe":
			bin = f.probe.Parts[0]
		case "usdt":
			bin = f.probe.Path
		default:
			f.c.errorf(x.Pos, "uaddr() is only available in uprobe, uretprobe and usdt probes")
		}
		addr, err := f.c.opts.UserSymbol(bin, name)
		if err != nil {
			f.c.errorf(x.Args[0].Position(), "uaddr(%q): %v", name, err)
		}
		f.emit(asm.LoadImm(asm.R0, int64(addr), asm.DWord))
	case "cgroupid":
		p := f.strLitArg(x, 0)
		if f.c.opts.CgroupID == nil {
			f.c.errorf(x.Pos, "cgroupid() cannot resolve cgroups here")
		}
		id, err := f.c.opts.CgroupID(p)
		if err != nil {
			f.c.errorf(x.Args[0].Position(), "cgroupid(%q): %v", p, err)
		}
		f.emit(asm.LoadImm(asm.R0, int64(id), asm.DWord))
	case "reg":
		name := f.strLitArg(x, 0)
		off, ok := ptRegs[name]
		if !ok {
			names := make([]string, 0, len(ptRegs))
			for n := range ptRegs {
				names = append(names, n)
			}
			f.c.errorf(x.Args[0].Position(), "unknown register %q (%s has %s)", name, archName, strings.Join(sortedStrings(names), ", "))
		}
		switch f.probe.Provider {
		case "kprobe", "kretprobe", "uprobe", "uretprobe", "usdt", "profile", "interval", "software", "hardware":
		default:
			f.c.errorf(x.Pos, "reg() needs the registers, which %s probes do not have", f.probe.Provider)
		}
		f.noCtx(x.Pos, "reg()")
		// A perf event's context starts with the registers too.
		f.emit(asm.LoadMem(asm.R0, rCtx, off, asm.DWord))
	case "strncmp":
		n := f.constArg(x.Args[2])
		if n < 0 {
			f.c.errorf(x.Args[2].Position(), "strncmp() takes a length of 0 or more, not %d", n)
		}
		f.strCompare(x.Args[0], x.Args[1], int(min(n, int64(f.c.S))), false)
	case "strcontains":
		f.strContains(x)
	case "bswap":
		f.intExpr(x.Args[0])
		f.emit(asm.HostTo(asm.BE, asm.R0, asm.DWord))
	default:
		return false
	}
	return true
}

func sortedStrings(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

// strLitArg returns argument i of x, which must be a string literal (or
// a string positional parameter).
func (f *fn) strLitArg(x *ast.Call, i int) string {
	if i >= len(x.Args) {
		f.c.errorf(x.Pos, "%s() needs argument %d", x.Name, i+1)
	}
	switch a := x.Args[i].(type) {
	case *ast.StrLit:
		return a.Value
	case *ast.Positional:
		if !a.Count && a.N <= len(f.c.opts.Params) {
			return f.c.opts.Params[a.N-1]
		}
		return ""
	}
	f.c.errorf(x.Args[i].Position(), "%s() takes a string literal here", x.Name)
	return ""
}

// strCompare leaves in R0, for the strings a and b compared up to n bytes
// (or their NUL): with eq, 1 when they are equal; else 0 when they are
// equal and 1 when they differ, as strncmp() reports.
func (f *fn) strCompare(a, b ast.Expr, n int, eq bool) {
	if !f.isString(a) || !f.isString(b) {
		f.c.errorf(a.Position(), "strncmp() compares two strings")
	}
	mark := f.sp
	pa, pb := f.alloc(f.c.S), f.alloc(f.c.S)
	f.strExpr(a, pa)
	f.strExpr(b, pb)
	f.sp = mark
	same, differ, end := f.newLabel(), f.newLabel(), f.newLabel()
	for i := 0; i < n; i++ {
		f.emit(asm.LoadMem(asm.R1, asm.R10, int16(pa+i), asm.Byte),
			asm.LoadMem(asm.R2, asm.R10, int16(pb+i), asm.Byte),
			asm.JNE.Reg(asm.R1, asm.R2, differ),
			asm.JEq.Imm(asm.R1, 0, same))
	}
	f.emit(asm.Ja.Label(same))
	want := int32(0)
	if eq {
		want = 1
	}
	f.label(same)
	f.emit(asm.Mov.Imm(asm.R0, want), asm.Ja.Label(end))
	f.label(differ)
	f.emit(asm.Mov.Imm(asm.R0, 1-want))
	f.label(end)
	f.emit(asm.Mov.Reg(asm.R0, asm.R0))
}

// strContains leaves 1 in R0 when the string x.Args[0] contains the
// string literal x.Args[1], else 0: one comparison per position of the
// haystack, unrolled.
func (f *fn) strContains(x *ast.Call) {
	needle := f.strLitArg(x, 1)
	if i := strings.IndexByte(needle, 0); i >= 0 {
		needle = needle[:i]
	}
	if !f.isString(x.Args[0]) {
		f.c.errorf(x.Args[0].Position(), "strcontains() searches a string")
	}
	if len(needle) == 0 {
		f.emit(asm.Mov.Imm(asm.R0, 1))
		return
	}
	if len(needle) > f.c.S-1 {
		f.emit(asm.Mov.Imm(asm.R0, 0))
		return
	}
	mark := f.sp
	h := f.alloc(f.c.S)
	f.strExpr(x.Args[0], h)
	f.sp = mark
	found, notFound, end := f.newLabel(), f.newLabel(), f.newLabel()
	for i := 0; i+len(needle) <= f.c.S-1; i++ {
		next := f.newLabel()
		// The haystack ends at its NUL: no match starts after it.
		f.emit(asm.LoadMem(asm.R1, asm.R10, int16(h+i), asm.Byte), asm.JEq.Imm(asm.R1, 0, notFound))
		for j := 0; j < len(needle); j++ {
			f.emit(asm.LoadMem(asm.R1, asm.R10, int16(h+i+j), asm.Byte),
				asm.JNE.Imm(asm.R1, int32(needle[j]), next))
		}
		f.emit(asm.Ja.Label(found))
		f.label(next)
	}
	f.emit(asm.Ja.Label(notFound))
	f.label(found)
	f.emit(asm.Mov.Imm(asm.R0, 1), asm.Ja.Label(end))
	f.label(notFound)
	f.emit(asm.Mov.Imm(asm.R0, 0))
	f.label(end)
	f.emit(asm.Mov.Reg(asm.R0, asm.R0))
}

// stackArg leaves in R0 argument n passed on the stack (sargN): the word
// at the stack pointer plus 8*n, past the return address where the call
// pushed one (stackArgBase).
func (f *fn) stackArg(x *ast.Ident, n int) {
	switch f.probe.Provider {
	case "kprobe", "uprobe":
	default:
		f.c.errorf(x.Pos, "%s is only available in kprobe and uprobe probes", x.Name)
	}
	read := asm.FnProbeReadKernel
	if f.probe.Provider == "uprobe" {
		read = asm.FnProbeReadUser
	}
	mark := f.sp
	tmp := f.alloc(8)
	f.sp = mark
	f.emit(stImm(asm.R10, int16(tmp), 0),
		asm.LoadMem(asm.R3, rCtx, regSP, asm.DWord), asm.Add.Imm(asm.R3, int32(stackArgBase+8*n)),
		asm.Mov.Reg(asm.R1, asm.R10), asm.Add.Imm(asm.R1, int32(tmp)),
		asm.Mov.Imm(asm.R2, 8), read.Call(),
		asm.LoadMem(asm.R0, asm.R10, int16(tmp), asm.DWord))
}

// intTypeSizes are the sizes of the integer types a script names.
var intTypeSizes = map[string]int64{
	"uint8": 1, "int8": 1, "u8": 1, "s8": 1, "char": 1, "unsigned char": 1, "signed char": 1, "bool": 1, "_Bool": 1,
	"uint16": 2, "int16": 2, "u16": 2, "s16": 2, "short": 2, "unsigned short": 2,
	"uint32": 4, "int32": 4, "u32": 4, "s32": 4, "int": 4, "unsigned int": 4, "unsigned": 4,
	"uint64": 8, "int64": 8, "u64": 8, "s64": 8, "long": 8, "unsigned long": 8, "long long": 8, "unsigned long long": 8,
}

// sizeof returns the size of a type or of an expression's value.
func (f *fn) sizeof(x *ast.Sizeof) int64 {
	if x.Type != nil {
		return f.typeSize(x.Type)
	}
	switch e := x.X.(type) {
	case *ast.Field:
		if id, ok := e.X.(*ast.Ident); ok && id.Name == "args" {
			fl := f.argField(e, true)
			return int64(fl.Size)
		}
		if f.ctype(e.X) != nil {
			_, t, _ := f.member(e)
			n, err := btf.Sizeof(t)
			if err != nil {
				f.c.errorf(e.Pos, "sizeof(%s): %v", e.Name, err)
			}
			return int64(n)
		}
	case *ast.Cast:
		return f.typeSize(e.Type)
	}
	if f.isString(x.X) {
		return int64(f.c.S)
	}
	switch f.c.info.Types[x.X].Kind {
	case check.Int, check.Unknown, check.Pointer:
		return 8
	}
	f.c.errorf(x.Pos, "sizeof of a %s is not compiled", f.c.info.Types[x.X])
	return 0
}

// typeSize is the size of a type a script names: an integer type, a
// pointer, an array of one, or a struct, union or typedef of the kernel's
// BTF.
func (f *fn) typeSize(t *ast.Type) int64 {
	var n int64
	switch {
	case t.Ptr > 0:
		n = 8
	case intTypeSizes[t.Name] != 0:
		n = intTypeSizes[t.Name]
	default:
		bt := f.namedType(t.Pos, t.Name)
		sz, err := btf.Sizeof(bt)
		if err != nil {
			f.c.errorf(t.Pos, "sizeof(%s): %v", t.Name, err)
		}
		n = int64(sz)
	}
	if t.IsArray {
		n *= int64(t.ArrayLen)
	}
	return n
}

// namedType finds "struct T", "union T", "enum T" or a typedef in the
// kernel's BTF.
func (f *fn) namedType(pos ast.Pos, name string) btf.Type {
	if strings.HasPrefix(name, "struct ") || strings.HasPrefix(name, "union ") {
		return f.structType(pos, name)
	}
	spec := f.kernelBTF(pos)
	n := strings.TrimPrefix(name, "enum ")
	types, err := spec.AnyTypesByName(n)
	if err != nil || len(types) == 0 {
		f.c.errorf(pos, "the kernel's BTF has no type %s", name)
	}
	return types[0]
}

// offsetof returns the offset of a member (a.b.c) in a struct or union.
func (f *fn) offsetof(x *ast.Offsetof) int64 {
	t := btf.UnderlyingType(f.namedType(x.Type.Pos, x.Type.Name))
	var total uint32
	for _, name := range x.Fields {
		m, off, ok := findMember(t, name)
		if !ok {
			f.c.errorf(x.Pos, "%s has no member %q", typeName(t), name)
		}
		if m.BitfieldSize != 0 {
			f.c.errorf(x.Pos, "offsetof a bit-field (%s) is not defined", name)
		}
		total += off
		t = btf.UnderlyingType(m.Type)
	}
	return int64(total)
}

// signalNames are the signals signal() takes by name.
var signalNames = map[string]int32{
	"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8, "KILL": 9,
	"USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16,
	"CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23,
	"XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "PWR": 30, "SYS": 31,
}

// signal compiles signal(SIG): bpf_send_signal to the current process.
func (f *fn) signal(x *ast.Call) {
	switch a := x.Args[0].(type) {
	case *ast.StrLit:
		n, ok := signalNames[strings.TrimPrefix(a.Value, "SIG")]
		if !ok {
			f.c.errorf(a.Pos, "unknown signal %q", a.Value)
		}
		f.emit(asm.Mov.Imm(asm.R1, n))
	case *ast.IntLit:
		if a.Value < 1 || a.Value > 64 {
			f.c.errorf(a.Pos, "signal %d is not from 1 to 64", a.Value)
		}
		f.emit(asm.Mov.Imm(asm.R1, int32(a.Value)))
	default:
		f.intExpr(a)
		f.emit(asm.Mov.Reg(asm.R1, asm.R0))
	}
	f.emit(asm.FnSendSignal.Call(), asm.Mov.Imm(asm.R0, 0))
}

// byteSize returns the size in bytes of x when it is an array (a
// tracepoint field or a BTF member) or a string; false for an integer or
// a pointer, whose bytes are elsewhere.
func (f *fn) byteSize(x ast.Expr) (int, bool) {
	if n, ok := f.arraySize(x); ok {
		return n, true
	}
	if f.isString(x) {
		return f.c.S, true
	}
	return 0, false
}

// arraySize returns the size in bytes of x when it is an array field of
// a tracepoint or an array member of a BTF struct.
func (f *fn) arraySize(x ast.Expr) (int, bool) {
	if fld, ok := x.(*ast.Field); ok {
		if id, ok := fld.X.(*ast.Ident); ok && id.Name == "args" {
			if fl := f.argField(fld, false); fl != nil && fl.Array > 0 && !fl.DataLoc {
				return fl.Size, true
			}
			return 0, false
		}
		if f.ctype(fld.X) != nil {
			_, t, _ := f.member(fld)
			if a, ok := t.(*btf.Array); ok {
				n, err := btf.Sizeof(a)
				if err == nil {
					return n, true
				}
			}
		}
	}
	return 0, false
}

// copyBytes copies n bytes of x to the stack at off: the bytes of an
// array field or member, of a string, or the memory a pointer points to.
func (f *fn) copyBytes(x ast.Expr, off, n int) {
	if n <= 0 {
		return
	}
	read := asm.FnProbeReadKernel
	_, isArr := f.arraySize(x)
	switch {
	case f.isString(x) && !isArr:
		mark := f.sp
		tmp := f.alloc(f.c.S)
		f.strExpr(x, tmp)
		f.sp = mark
		for i := 0; i < min(n, f.c.S); i++ {
			f.emit(asm.LoadMem(asm.R1, asm.R10, int16(tmp+i), asm.Byte), asm.StoreMem(asm.R10, int16(off+i), asm.R1, asm.Byte))
		}
		return
	case isArgsField(x):
		fl := f.argField(x.(*ast.Field), true)
		if fl.Array == 0 || fl.DataLoc {
			// A pointer field: read what it points to.
			f.loadField(fl)
			if f.user {
				read = asm.FnProbeReadUser
			}
			f.emit(asm.Mov.Reg(asm.R3, asm.R0))
		} else {
			n = min(n, fl.Size)
			f.emit(asm.Mov.Reg(asm.R3, rCtx), asm.Add.Imm(asm.R3, int32(fl.Offset)))
		}
	default:
		if fld, ok := x.(*ast.Field); ok && f.ctype(fld.X) != nil {
			if _, t, _ := f.member(fld); isArray(t) {
				f.addrOf(fld)
				if f.userChain(fld) {
					read = asm.FnProbeReadUser
				}
				f.emit(asm.Mov.Reg(asm.R3, asm.R0))
				break
			}
		}
		f.intExpr(x)
		if f.user {
			read = asm.FnProbeReadUser
		}
		f.emit(asm.Mov.Reg(asm.R3, asm.R0))
	}
	f.emit(asm.Mov.Reg(asm.R1, asm.R10), asm.Add.Imm(asm.R1, int32(off)),
		asm.Mov.Imm(asm.R2, int32(n)), read.Call())
}

func isArgsField(x ast.Expr) bool {
	fld, ok := x.(*ast.Field)
	if !ok {
		return false
	}
	id, ok := fld.X.(*ast.Ident)
	return ok && id.Name == "args"
}

func isArray(t btf.Type) bool {
	_, ok := t.(*btf.Array)
	return ok
}

// ntop stores, at off, the address family (8 bytes) and the address of
// ntop([af,] addr): an integer is an IPv4 address as it is in memory
// (network order); an array of 4 or 16 bytes an IPv4 or IPv6 address.
func (f *fn) ntop(x *ast.Call, off int) {
	addr := x.Args[len(x.Args)-1]
	f.zero(off, 24)
	n, isArr := f.arraySize(addr)
	if !isArr && f.isString(addr) {
		f.c.errorf(addr.Position(), "ntop() takes an integer or an array of 4 or 16 bytes, not a string")
	}
	if len(x.Args) == 2 {
		f.intExpr(x.Args[0])
		f.emit(asm.StoreMem(asm.R10, int16(off), asm.R0, asm.DWord))
	} else {
		af := int64(2) // AF_INET
		if isArr && n == 16 {
			af = 10 // AF_INET6
		} else if isArr && n != 4 {
			f.c.errorf(addr.Position(), "ntop() takes an array of 4 or 16 bytes, not %d", n)
		}
		f.emit(stImm(asm.R10, int16(off), af))
	}
	if isArr {
		f.copyBytes(addr, off+8, min(n, 16))
		return
	}
	f.intExpr(addr)
	f.emit(asm.StoreMem(asm.R10, int16(off+8), asm.R0, asm.Word))
}

// buf stores, at off, the length (8 bytes) and the bytes of buf(p[, n]):
// at most max_strlen-8 of them.
func (f *fn) buf(x *ast.Call, off int) {
	src := x.Args[0]
	limit := f.c.S - 8
	size, known := f.byteSize(src)
	f.zero(off, f.c.S)
	if len(x.Args) == 1 {
		if !known {
			f.c.errorf(x.Pos, "buf() of a pointer needs a length: buf(p, n)")
		}
		n := min(size, limit)
		f.emit(stImm(asm.R10, int16(off), int64(n)))
		f.copyBytes(src, off+8, n)
		return
	}
	switch x.Args[1].(type) {
	case *ast.IntLit, *ast.Positional:
		n := f.constArg(x.Args[1])
		if n < 0 {
			f.c.errorf(x.Args[1].Position(), "buf() takes a length of 0 or more, not %d", n)
		}
		n = min(n, int64(limit))
		if known {
			n = min(n, int64(size))
		}
		f.emit(stImm(asm.R10, int16(off), n))
		f.copyBytes(src, off+8, int(n))
		return
	}
	if known {
		f.c.errorf(x.Args[1].Position(), "buf() of an array takes a constant length")
	}
	// A length known only when the probe runs, bounded for the verifier.
	mark := f.sp
	p := f.alloc(8)
	f.intExpr(src)
	f.emit(asm.StoreMem(asm.R10, int16(p), asm.R0, asm.DWord))
	f.intExpr(x.Args[1])
	ok := f.newLabel()
	f.emit(asm.JLE.Imm(asm.R0, int32(limit), ok), asm.Mov.Imm(asm.R0, int32(limit)))
	f.label(ok)
	f.emit(asm.StoreMem(asm.R10, int16(off), asm.R0, asm.DWord),
		asm.Mov.Reg(asm.R2, asm.R0),
		asm.LoadMem(asm.R3, asm.R10, int16(p), asm.DWord),
		asm.Mov.Reg(asm.R1, asm.R10), asm.Add.Imm(asm.R1, int32(off+8)))
	read := asm.FnProbeReadKernel
	if f.user {
		read = asm.FnProbeReadUser
	}
	f.emit(read.Call())
	f.sp = mark
}

// join compiles join(argv[, delim]): it reads up to JoinArgs string
// pointers from the array argv points to, stopping at a NULL one, and
// sends them in one record built in a per-CPU scratch map (too big for
// the stack): [kind][id][count][JoinArgs strings].
func (f *fn) join(x *ast.Call) {
	delim := " "
	if len(x.Args) == 2 {
		delim = f.strLitArg(x, 1)
	}
	S := f.c.S
	size := HeaderSize + 8 + JoinArgs*S
	call := &Call{Kind: CallJoin, Pos: x.Pos, Format: delim, Map: -1, Size: size}
	id := len(f.c.obj.Calls)
	f.c.obj.Calls = append(f.c.obj.Calls, call)
	const scratch = "ks_join"
	if _, ok := f.c.obj.Spec.Maps[scratch]; !ok {
		f.c.obj.Spec.Maps[scratch] = &ebpf.MapSpec{Name: scratch, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: uint32(size), MaxEntries: 1}
	}
	mark := f.sp
	arr, elem := f.alloc(8), f.alloc(8)
	f.sp = mark
	f.intExpr(x.Args[0])
	f.emit(asm.StoreMem(asm.R10, int16(arr), asm.R0, asm.DWord),
		stImm(asm.R10, int16(elem), 0),
		asm.LoadMapPtr(asm.R1, 0).WithReference(scratch),
		asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, int32(elem)),
		asm.FnMapLookupElem.Call())
	end, send := f.newLabel(), f.newLabel()
	f.emit(asm.JEq.Imm(asm.R0, 0, end),
		asm.Mov.Reg(asm.R7, asm.R0),
		stImm(asm.R7, 0, int64(CallJoin)), stImm(asm.R7, 8, int64(id)), stImm(asm.R7, 16, 0))
	read, readStr := asm.FnProbeReadKernel, asm.FnProbeReadKernelStr
	if f.user {
		read, readStr = asm.FnProbeReadUser, asm.FnProbeReadUserStr
	}
	for i := 0; i < JoinArgs; i++ {
		f.emit(asm.Mov.Reg(asm.R1, asm.R10), asm.Add.Imm(asm.R1, int32(elem)),
			asm.Mov.Imm(asm.R2, 8),
			asm.LoadMem(asm.R3, asm.R10, int16(arr), asm.DWord), asm.Add.Imm(asm.R3, int32(8*i)),
			read.Call(),
			asm.JNE.Imm(asm.R0, 0, send),
			asm.LoadMem(asm.R3, asm.R10, int16(elem), asm.DWord),
			asm.JEq.Imm(asm.R3, 0, send),
			asm.Mov.Reg(asm.R1, asm.R7), asm.Add.Imm(asm.R1, int32(HeaderSize+8+i*S)),
			asm.Mov.Imm(asm.R2, int32(S)),
			readStr.Call(),
			stImm(asm.R7, 16, int64(i+1)))
	}
	f.label(send)
	f.emit(asm.LoadMapPtr(asm.R1, 0).WithReference(f.c.obj.Ring),
		asm.Mov.Reg(asm.R2, asm.R7),
		asm.Mov.Imm(asm.R3, int32(size)), asm.Mov.Imm(asm.R4, 0),
		asm.FnRingbufOutput.Call())
	ok := f.newLabel()
	f.emit(asm.JEq.Imm(asm.R0, 0, ok))
	f.countDrop(dropRing)
	f.label(ok)
	f.emit(asm.Mov.Imm(asm.R0, 0))
	f.label(end)
	f.emit(asm.Mov.Imm(asm.R0, 0))
}

// readAggregation leaves in R0 the value of a count, sum, avg, min or max
// map element, added up over every CPU's copy with
// bpf_map_lookup_percpu_elem (Linux 5.19): 0 when no CPU has the key.
func (f *fn) readAggregation(m *Map, x *ast.MapExpr) {
	if f.c.opts.CPUs <= 0 {
		f.c.errorf(x.Pos, "reading @%s needs the number of CPUs, which is not known here", x.Name)
	}
	key := f.key(m, x)
	acc, cnt, set := f.alloc(8), f.alloc(8), f.alloc(8)
	f.emit(stImm(asm.R10, int16(acc), 0), stImm(asm.R10, int16(cnt), 0), stImm(asm.R10, int16(set), 0))
	for cpu := 0; cpu < f.c.opts.CPUs; cpu++ {
		next := f.newLabel()
		f.emit(asm.LoadMapPtr(asm.R1, 0).WithReference(m.BPF),
			asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, int32(key)),
			asm.Mov.Imm(asm.R3, int32(cpu)),
			asm.FnMapLookupPercpuElem.Call(),
			asm.JEq.Imm(asm.R0, 0, next))
		switch m.Value {
		case check.Count, check.Sum:
			f.emit(asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord), asm.LoadMem(asm.R2, asm.R10, int16(acc), asm.DWord),
				asm.Add.Reg(asm.R2, asm.R1), asm.StoreMem(asm.R10, int16(acc), asm.R2, asm.DWord))
		case check.Avg:
			f.emit(asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord), asm.LoadMem(asm.R2, asm.R10, int16(acc), asm.DWord),
				asm.Add.Reg(asm.R2, asm.R1), asm.StoreMem(asm.R10, int16(acc), asm.R2, asm.DWord),
				asm.LoadMem(asm.R1, asm.R0, 8, asm.DWord), asm.LoadMem(asm.R2, asm.R10, int16(cnt), asm.DWord),
				asm.Add.Reg(asm.R2, asm.R1), asm.StoreMem(asm.R10, int16(cnt), asm.R2, asm.DWord))
		case check.Min, check.Max:
			// Each CPU's copy: the value, then whether it was ever set.
			take := f.newLabel()
			f.emit(asm.LoadMem(asm.R1, asm.R0, 8, asm.DWord), asm.JEq.Imm(asm.R1, 0, next),
				asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
				asm.LoadMem(asm.R2, asm.R10, int16(set), asm.DWord), asm.JEq.Imm(asm.R2, 0, take),
				asm.LoadMem(asm.R2, asm.R10, int16(acc), asm.DWord))
			if m.Value == check.Min {
				f.emit(asm.JSGE.Reg(asm.R1, asm.R2, next))
			} else {
				f.emit(asm.JSLE.Reg(asm.R1, asm.R2, next))
			}
			f.label(take)
			f.emit(asm.StoreMem(asm.R10, int16(acc), asm.R1, asm.DWord), stImm(asm.R10, int16(set), 1))
		}
		f.label(next)
		f.emit(asm.Mov.Imm(asm.R0, 0))
	}
	f.emit(asm.LoadMem(asm.R0, asm.R10, int16(acc), asm.DWord))
	if m.Value == check.Avg {
		// total / count, rounded toward zero as user space prints it.
		done, neg := f.newLabel(), f.newLabel()
		f.emit(asm.LoadMem(asm.R1, asm.R10, int16(cnt), asm.DWord),
			asm.JEq.Imm(asm.R1, 0, done),
			asm.JSLT.Imm(asm.R0, 0, neg),
			asm.Div.Reg(asm.R0, asm.R1), asm.Ja.Label(done))
		f.label(neg)
		f.emit(asm.Neg.Imm(asm.R0, 0), asm.Div.Reg(asm.R0, asm.R1), asm.Neg.Imm(asm.R0, 0))
		f.label(done)
		f.emit(asm.Mov.Reg(asm.R0, asm.R0))
	}
}
