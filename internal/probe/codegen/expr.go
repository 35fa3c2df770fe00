package codegen

import (
	"strconv"
	"strings"

	"github.com/cilium/ebpf/asm"

	"github.com/kscope/kscope/internal/probe/ast"
	"github.com/kscope/kscope/internal/probe/check"
	"github.com/kscope/kscope/internal/usdt"
)

// pt_regs offsets on x86-64, for argN and retval in kprobes and uprobes.
var argRegs = []int16{112, 104, 96, 88, 72, 64} // di si dx cx r8 r9

const regAX = 80

// intExpr leaves the value of the integer expression x in R0.
func (f *fn) intExpr(x ast.Expr) {
	saved := f.pos
	if p := x.Position(); p.IsValid() {
		f.pos = p
	}
	defer func() { f.pos = saved }()
	if f.isString(x) {
		f.c.errorf(x.Position(), "a string where an integer is needed")
	}
	switch x := x.(type) {
	case *ast.IntLit:
		f.emit(asm.LoadImm(asm.R0, int64(x.Value), asm.DWord))
	case *ast.BoolLit:
		v := int32(0)
		if x.Value {
			v = 1
		}
		f.emit(asm.Mov.Imm(asm.R0, v))
	case *ast.Ident:
		f.builtin(x)
	case *ast.Var:
		l, ok := f.locals[x.Name]
		if !ok {
			f.undefined(x)
		}
		if l.kv != nil {
			f.c.errorf(x.Pos, "$%s is a key and a value: use $%s.0 or $%s.1", x.Name, x.Name, x.Name)
		}
		if l.tuple != nil {
			f.c.errorf(x.Pos, "$%s is a tuple: use its elements, $%s.0, $%s.1…", x.Name, x.Name, x.Name)
		}
		f.emit(asm.LoadMem(asm.R0, asm.R10, int16(l.off), asm.DWord))
	case *ast.Positional:
		var v int64
		if x.Count {
			v = int64(len(f.c.opts.Params))
		} else if x.N <= len(f.c.opts.Params) {
			v, _ = strconv.ParseInt(f.c.opts.Params[x.N-1], 0, 64)
		}
		f.emit(asm.LoadImm(asm.R0, v, asm.DWord))
	case *ast.MapExpr:
		m := f.c.maps[x.Name]
		if m == nil {
			f.c.errorf(x.Pos, "undefined map @%s", x.Name)
		}
		switch m.Value {
		case check.Count, check.Sum, check.Avg, check.Min, check.Max:
			mark := f.sp
			f.readAggregation(m, x)
			f.sp = mark
			return
		}
		if m.Value != check.Int {
			f.c.errorf(x.Pos, "reading a %s map in a probe is not compiled yet (@%s)", m.Value, x.Name)
		}
		mark := f.sp
		f.lookupInt(m, f.key(m, x))
		f.sp = mark
	case *ast.Unary:
		switch x.Op {
		case "-":
			f.intExpr(x.X)
			f.emit(asm.Neg.Imm(asm.R0, 0))
		case "~":
			f.intExpr(x.X)
			f.emit(asm.Xor.Imm(asm.R0, -1))
		case "!":
			f.intExpr(x.X)
			f.boolify(asm.JEq)
		case "++", "--":
			f.incdec(x.X, x.Op, true)
		default:
			f.c.errorf(x.Pos, "unary %s is not compiled yet", x.Op)
		}
	case *ast.Postfix:
		f.incdec(x.X, x.Op, false)
	case *ast.Binary:
		f.binary(x)
	case *ast.Ternary:
		els, end := f.newLabel(), f.newLabel()
		f.intExpr(x.Cond)
		f.emit(asm.JEq.Imm(asm.R0, 0, els))
		f.intExpr(x.X)
		f.emit(asm.Ja.Label(end))
		f.label(els)
		f.intExpr(x.Y)
		f.label(end)
		f.emit(asm.Mov.Reg(asm.R0, asm.R0))
	case *ast.Cast:
		f.intExpr(x.X)
		if x.Type.Ptr > 0 || x.Type.IsArray {
			if f.ctype(x) == nil {
				f.c.errorf(x.Pos, "pointer casts other than to struct and union pointers are not compiled yet")
			}
			return // a pointer is its address
		}
		f.cast(x)
	case *ast.Field:
		if off, str, ok := f.kvSlot(x); ok {
			if str {
				f.c.errorf(x.Pos, "a string where an integer is needed")
			}
			f.emit(asm.LoadMem(asm.R0, asm.R10, int16(off), asm.DWord))
			return
		}
		if id, ok := x.X.(*ast.Ident); !ok || id.Name != "args" {
			f.btfField(x)
			return
		}
		f.noCtx(x.Pos, "args")
		fl := f.argField(x, true)
		f.loadField(fl)
	case *ast.Call:
		switch x.Name {
		case "nsecs":
			if len(x.Args) == 0 {
				f.emit(asm.FnKtimeGetNs.Call())
				return
			}
		}
		if f.intCall(x) {
			return
		}
		f.c.errorf(x.Pos, "%s() is not compiled yet", x.Name)
	case *ast.Sizeof:
		f.emit(asm.LoadImm(asm.R0, f.sizeof(x), asm.DWord))
	case *ast.Offsetof:
		f.emit(asm.LoadImm(asm.R0, f.offsetof(x), asm.DWord))
	default:
		f.c.errorf(x.Position(), "this expression is not compiled yet")
	}
}

// boolify sets R0 to 1 when "R0 op 0" holds, else 0.
func (f *fn) boolify(op asm.JumpOp) {
	yes := f.newLabel()
	f.emit(asm.Mov.Reg(asm.R1, asm.R0), asm.Mov.Imm(asm.R0, 1), op.Imm(asm.R1, 0, yes), asm.Mov.Imm(asm.R0, 0))
	f.label(yes)
	f.emit(asm.Mov.Reg(asm.R0, asm.R0))
}

func (f *fn) cast(x *ast.Cast) {
	bits, signed := 64, false
	switch x.Type.Name {
	case "uint8", "u8", "unsigned char":
		bits = 8
	case "uint16", "u16", "unsigned short":
		bits = 16
	case "uint32", "u32", "unsigned int", "unsigned":
		bits = 32
	case "uint64", "u64", "unsigned long", "unsigned long long":
	case "int8", "s8", "char", "signed char":
		bits, signed = 8, true
	case "int16", "s16", "short":
		bits, signed = 16, true
	case "int32", "s32", "int":
		bits, signed = 32, true
	case "int64", "s64", "long", "long long":
	default:
		f.c.errorf(x.Pos, "a cast to %s is not compiled yet", x.Type.Name)
	}
	if bits < 64 {
		f.emit(asm.LSh.Imm(asm.R0, int32(64-bits)))
		if signed {
			f.emit(asm.ArSh.Imm(asm.R0, int32(64-bits)))
		} else {
			f.emit(asm.RSh.Imm(asm.R0, int32(64-bits)))
		}
	}
}

// loadField loads an integer field of the tracepoint record.
func (f *fn) loadField(fl *Field) {
	if fl.IsString() || fl.Array > 0 {
		f.c.errorf(f.pos, "args->%s is an array; use it as a string", fl.Name)
	}
	var size asm.Size
	switch fl.Size {
	case 1:
		size = asm.Byte
	case 2:
		size = asm.Half
	case 4:
		size = asm.Word
	case 8:
		size = asm.DWord
	default:
		f.c.errorf(f.pos, "args->%s has %d bytes, which is not compiled yet", fl.Name, fl.Size)
	}
	f.emit(asm.LoadMem(asm.R0, rCtx, int16(fl.Offset), size))
	if fl.Signed && fl.Size < 8 {
		sh := int32(64 - 8*fl.Size)
		f.emit(asm.LSh.Imm(asm.R0, sh), asm.ArSh.Imm(asm.R0, sh))
	}
}

func (f *fn) builtin(x *ast.Ident) {
	switch x.Name {
	case "pid":
		f.emit(asm.FnGetCurrentPidTgid.Call(), asm.RSh.Imm(asm.R0, 32))
	case "tid":
		f.emit(asm.FnGetCurrentPidTgid.Call(), asm.Mov.Reg32(asm.R0, asm.R0))
	case "uid":
		f.emit(asm.FnGetCurrentUidGid.Call(), asm.Mov.Reg32(asm.R0, asm.R0))
	case "gid":
		f.emit(asm.FnGetCurrentUidGid.Call(), asm.RSh.Imm(asm.R0, 32))
	case "cpu":
		f.emit(asm.FnGetSmpProcessorId.Call())
	case "nsecs":
		f.emit(asm.FnKtimeGetNs.Call())
	case "elapsed":
		f.emit(asm.FnKtimeGetNs.Call(),
			asm.LoadMapValue(asm.R1, 0, 0).WithReference(f.c.obj.Start),
			asm.LoadMem(asm.R1, asm.R1, 0, asm.DWord),
			asm.Sub.Reg(asm.R0, asm.R1))
	case "curtask":
		f.emit(asm.FnGetCurrentTask.Call())
	case "cgroup":
		f.emit(asm.FnGetCurrentCgroupId.Call())
	case "rand":
		f.emit(asm.FnGetPrandomU32.Call())
	case "cpid":
		f.emit(asm.LoadImm(asm.R0, int64(f.c.opts.ChildPID), asm.DWord))
	case "numaid":
		f.emit(asm.FnGetNumaNodeId.Call())
	case "jiffies":
		f.emit(asm.FnJiffies64.Call())
	case "retval":
		f.noCtx(x.Pos, "retval")
		switch f.probe.Provider {
		case "uretprobe":
			f.emit(asm.LoadMem(asm.R0, rCtx, regAX, asm.DWord))
		case "kretprobe", "fexit":
			f.emit(asm.LoadMem(asm.R0, rCtx, f.retOff, asm.DWord))
		default:
			f.c.errorf(x.Pos, "retval in %s probes is not compiled yet", f.probe.Provider)
		}
	default:
		if strings.HasPrefix(x.Name, "arg") || strings.HasPrefix(x.Name, "sarg") {
			f.noCtx(x.Pos, x.Name)
		}
		if strings.HasPrefix(x.Name, "sarg") {
			if n, err := strconv.Atoi(x.Name[4:]); err == nil {
				f.stackArg(x, n)
				return
			}
		}
		if strings.HasPrefix(x.Name, "arg") {
			n, err := strconv.Atoi(x.Name[3:])
			if err == nil {
				switch f.probe.Provider {
				case "fentry":
					f.emit(asm.LoadMem(asm.R0, rCtx, int16(8*n), asm.DWord))
					return
				case "kprobe", "uprobe":
					if n < len(argRegs) {
						f.emit(asm.LoadMem(asm.R0, rCtx, argRegs[n], asm.DWord))
						return
					}
				case "rawtracepoint":
					f.emit(asm.LoadMem(asm.R0, rCtx, int16(8*n), asm.DWord))
					return
				case "usdt":
					f.usdtArg(x, n)
					return
				}
			}
		}
		if v, ok := f.constant(x.Name); ok {
			f.emit(asm.LoadImm(asm.R0, v, asm.DWord))
			return
		}
		f.c.errorf(x.Pos, "%s is not compiled yet here", x.Name)
	}
}

// incdec compiles ++ and -- on a $variable or an @map element; R0 gets
// the new value (prefix) or the old one (postfix).
func (f *fn) incdec(x ast.Expr, op string, prefix bool) {
	d := int32(1)
	if op == "--" {
		d = -1
	}
	switch t := x.(type) {
	case *ast.Var:
		l := f.locals[t.Name]
		f.emit(asm.LoadMem(asm.R0, asm.R10, int16(l.off), asm.DWord),
			asm.Mov.Reg(asm.R1, asm.R0), asm.Add.Imm(asm.R1, d),
			asm.StoreMem(asm.R10, int16(l.off), asm.R1, asm.DWord))
		if prefix {
			f.emit(asm.Mov.Reg(asm.R0, asm.R1))
		}
	case *ast.MapExpr:
		m := f.c.maps[t.Name]
		if m.Value != check.Int {
			f.c.errorf(t.Pos, "%s on a %s map is not compiled yet", op, m.Value)
		}
		mark := f.sp
		key := f.key(m, t)
		val := f.alloc(8)
		old := f.alloc(8)
		f.lookupInt(m, key)
		f.emit(asm.StoreMem(asm.R10, int16(old), asm.R0, asm.DWord), asm.Add.Imm(asm.R0, d),
			asm.StoreMem(asm.R10, int16(val), asm.R0, asm.DWord))
		f.update(m, key, val)
		if prefix {
			f.emit(asm.LoadMem(asm.R0, asm.R10, int16(val), asm.DWord))
		} else {
			f.emit(asm.LoadMem(asm.R0, asm.R10, int16(old), asm.DWord))
		}
		f.sp = mark
	default:
		f.c.errorf(x.Position(), "%s applies to a $variable or an @map", op)
	}
}

var jumps = map[string]asm.JumpOp{
	"==": asm.JEq, "!=": asm.JNE, "<": asm.JSLT, "<=": asm.JSLE, ">": asm.JSGT, ">=": asm.JSGE,
}

func (f *fn) binary(x *ast.Binary) {
	switch x.Op {
	case "&&", "||":
		end := f.newLabel()
		f.intExpr(x.X)
		f.boolify(asm.JNE)
		if x.Op == "&&" {
			f.emit(asm.JEq.Imm(asm.R0, 0, end))
		} else {
			f.emit(asm.JNE.Imm(asm.R0, 0, end))
		}
		f.intExpr(x.Y)
		f.boolify(asm.JNE)
		f.label(end)
		f.emit(asm.Mov.Reg(asm.R0, asm.R0))
		return
	}
	if (x.Op == "==" || x.Op == "!=") && (f.isString(x.X) || f.isString(x.Y)) {
		f.strEqual(x)
		return
	}
	mark := f.sp
	tmp := f.alloc(8)
	f.intExpr(x.X)
	f.emit(asm.StoreMem(asm.R10, int16(tmp), asm.R0, asm.DWord))
	f.intExpr(x.Y)
	f.emit(asm.Mov.Reg(asm.R1, asm.R0), asm.LoadMem(asm.R0, asm.R10, int16(tmp), asm.DWord))
	f.sp = mark
	if j, ok := jumps[x.Op]; ok {
		yes := f.newLabel()
		f.emit(asm.Mov.Reg(asm.R2, asm.R0), asm.Mov.Imm(asm.R0, 1), j.Reg(asm.R2, asm.R1, yes), asm.Mov.Imm(asm.R0, 0))
		f.label(yes)
		f.emit(asm.Mov.Reg(asm.R0, asm.R0))
		return
	}
	f.aluOp(x.Op, x.Pos)
}

// strEqual compares two strings up to their first NUL: R0 is 1 when
// they are equal (==) or differ (!=).
func (f *fn) strEqual(x *ast.Binary) {
	if !f.isString(x.X) || !f.isString(x.Y) {
		f.c.errorf(x.Pos, "cannot compare a string with an integer")
	}
	mark := f.sp
	a, b := f.alloc(f.c.S), f.alloc(f.c.S)
	f.strExpr(x.X, a)
	f.strExpr(x.Y, b)
	f.sp = mark
	eq, ne, end := f.newLabel(), f.newLabel(), f.newLabel()
	for i := 0; i < f.c.S; i++ {
		f.emit(asm.LoadMem(asm.R1, asm.R10, int16(a+i), asm.Byte),
			asm.LoadMem(asm.R2, asm.R10, int16(b+i), asm.Byte),
			asm.JNE.Reg(asm.R1, asm.R2, ne),
			asm.JEq.Imm(asm.R1, 0, eq))
	}
	f.emit(asm.Ja.Label(eq))
	want := int32(1)
	if x.Op == "!=" {
		want = 0
	}
	f.label(eq)
	f.emit(asm.Mov.Imm(asm.R0, want), asm.Ja.Label(end))
	f.label(ne)
	f.emit(asm.Mov.Imm(asm.R0, 1-want))
	f.label(end)
	f.emit(asm.Mov.Reg(asm.R0, asm.R0))
}

// strExpr writes the string x, NUL padded to the string size, at off.
func (f *fn) strExpr(x ast.Expr, off int) {
	S := f.c.S
	switch x := x.(type) {
	case *ast.StrLit:
		f.strConst(x.Value, off)
	case *ast.Positional:
		v := ""
		if !x.Count && x.N <= len(f.c.opts.Params) {
			v = f.c.opts.Params[x.N-1]
		}
		f.strConst(v, off)
	case *ast.Ident:
		switch x.Name {
		case "comm":
			f.zero(off, S)
			f.emit(asm.Mov.Reg(asm.R1, asm.R10), asm.Add.Imm(asm.R1, int32(off)),
				asm.Mov.Imm(asm.R2, int32(min(16, S))), asm.FnGetCurrentComm.Call())
		case "probe":
			f.strConst(f.probe.Name, off)
		case "func":
			switch f.probe.Provider {
			case "kprobe", "kretprobe", "uprobe", "uretprobe", "fentry", "fexit":
				// One program per function: its name is a constant.
				f.strConst(f.probe.Parts[len(f.probe.Parts)-1], off)
			default:
				f.c.errorf(x.Pos, "func in %s probes is not compiled yet", f.probe.Provider)
			}
		default:
			f.c.errorf(x.Pos, "%s as a string is not compiled yet", x.Name)
		}
	case *ast.Var:
		l, ok := f.locals[x.Name]
		if !ok {
			f.undefined(x)
		}
		if !l.str {
			f.c.errorf(x.Pos, "$%s is not a string", x.Name)
		}
		f.copyStack(off, l.off, S)
	case *ast.MapExpr:
		m := f.c.maps[x.Name]
		if m == nil || m.Value != check.String {
			f.c.errorf(x.Pos, "@%s does not hold strings", x.Name)
		}
		mark := f.sp
		key := f.key(m, x)
		f.sp = mark
		f.zero(off, S)
		f.lookup(m, key)
		done := f.newLabel()
		f.emit(asm.JEq.Imm(asm.R0, 0, done))
		for i := 0; i < S; i += 8 {
			f.emit(asm.LoadMem(asm.R1, asm.R0, int16(i), asm.DWord), asm.StoreMem(asm.R10, int16(off+i), asm.R1, asm.DWord))
		}
		f.label(done)
		f.emit(asm.Mov.Reg(asm.R0, asm.R0))
	case *ast.Field:
		if slot, str, ok := f.kvSlot(x); ok {
			if !str {
				f.c.errorf(x.Pos, "an integer where a string is needed")
			}
			f.copyStack(off, slot, S)
			return
		}
		if id, ok := x.X.(*ast.Ident); !ok || id.Name != "args" {
			f.btfString(x, off)
			return
		}
		f.noCtx(x.Pos, "args")
		fl := f.argField(x, true)
		if !fl.IsString() {
			f.c.errorf(x.Pos, "args->%s is not a string; use str(args->%s) for a pointer", x.Name, x.Name)
		}
		f.zero(off, S)
		if fl.DataLoc {
			f.emit(asm.LoadMem(asm.R3, rCtx, int16(fl.Offset), asm.Word),
				asm.And.Imm(asm.R3, 0xffff), asm.Add.Reg(asm.R3, rCtx),
				asm.Mov.Reg(asm.R1, asm.R10), asm.Add.Imm(asm.R1, int32(off)),
				asm.Mov.Imm(asm.R2, int32(S)), asm.FnProbeReadKernelStr.Call())
		} else {
			n := min(fl.Array, S-1)
			f.emit(asm.Mov.Reg(asm.R3, rCtx), asm.Add.Imm(asm.R3, int32(fl.Offset)),
				asm.Mov.Reg(asm.R1, asm.R10), asm.Add.Imm(asm.R1, int32(off)),
				asm.Mov.Imm(asm.R2, int32(n)), asm.FnProbeReadKernel.Call())
		}
	case *ast.Ternary:
		els, end := f.newLabel(), f.newLabel()
		f.intExpr(x.Cond)
		f.emit(asm.JEq.Imm(asm.R0, 0, els))
		f.strExpr(x.X, off)
		f.emit(asm.Ja.Label(end))
		f.label(els)
		f.strExpr(x.Y, off)
		f.label(end)
		f.emit(asm.Mov.Reg(asm.R0, asm.R0))
	case *ast.Call:
		if x.Name != "str" {
			f.c.errorf(x.Pos, "%s() is not compiled yet", x.Name)
		}
		n := S
		if len(x.Args) == 2 {
			n = int(min(f.constArg(x.Args[1])+1, int64(S)))
			if n < 1 {
				n = 1
			}
		}
		if f.isString(x.Args[0]) {
			f.strExpr(x.Args[0], off)
			for i := n; i < S; i++ {
				f.emit(asm.StoreImm(asm.R10, int16(off+i), 0, asm.Byte))
			}
			return
		}
		f.intExpr(x.Args[0])
		f.zero(off, S)
		read := asm.FnProbeReadKernelStr
		if f.user {
			read = asm.FnProbeReadUserStr
		}
		f.emit(asm.Mov.Reg(asm.R3, asm.R0),
			asm.Mov.Reg(asm.R1, asm.R10), asm.Add.Imm(asm.R1, int32(off)),
			asm.Mov.Imm(asm.R2, int32(n)), read.Call())
	default:
		f.c.errorf(x.Position(), "this string expression is not compiled yet")
	}
}

// strConst stores s, truncated and NUL padded, at off.
func (f *fn) strConst(s string, off int) {
	b := make([]byte, f.c.S)
	copy(b[:f.c.S-1], s)
	for i := 0; i < f.c.S; i += 8 {
		var v int64
		for j := 7; j >= 0; j-- {
			v = v<<8 | int64(b[i+j])
		}
		if v == 0 {
			f.emit(stImm(asm.R10, int16(off+i), 0))
			continue
		}
		f.emit(asm.LoadImm(asm.R1, v, asm.DWord), asm.StoreMem(asm.R10, int16(off+i), asm.R1, asm.DWord))
	}
}

// callStmt compiles a call used as a statement.
func (f *fn) callStmt(x *ast.Call) {
	f.pos = x.Pos
	switch x.Name {
	case "printf":
		format := x.Args[0].(*ast.StrLit).Value
		for i, v := range conversions(format) {
			if i+1 >= len(x.Args) {
				break
			}
			a := x.Args[i+1]
			_, rendered := f.renderOf(a)
			switch str := f.isString(a) || isStack(a) || rendered; {
			case v == 'r' && !str:
				f.c.errorf(a.Position(), "printf %%r needs a buffer, and this is an integer")
			case v == 'r':
			case v == 's' && !str:
				f.c.errorf(a.Position(), "printf %%s needs a string, and this is an integer (a pointer to a string needs str())")
			case v != 's' && str:
				f.c.errorf(a.Position(), "printf %%%c needs an integer, and this is a string", v)
			}
		}
		f.record(x, CallPrintf, format, x.Args[1:], -1)
	case "time":
		fm := "%H:%M:%S\n"
		if len(x.Args) == 1 {
			lit, ok := x.Args[0].(*ast.StrLit)
			if !ok {
				f.c.errorf(x.Pos, "time() takes a string literal")
			}
			fm = lit.Value
		}
		f.record(x, CallTime, fm, nil, -1)
	case "exit":
		f.record(x, CallExit, "", x.Args, -1)
		// The record can be lost with a full ring buffer: the flag, 1 +
		// the exit code, is not.
		if len(x.Args) > 0 {
			f.intExpr(x.Args[0])
			f.emit(asm.And.Imm(asm.R0, 0xff), asm.Add.Imm(asm.R0, 1),
				asm.LoadMapValue(asm.R1, 0, 0).WithReference(f.c.obj.Exit),
				asm.StoreMem(asm.R1, 0, asm.R0, asm.DWord))
		} else {
			f.emit(asm.LoadMapValue(asm.R1, 0, 0).WithReference(f.c.obj.Exit),
				stImm(asm.R1, 0, 1))
		}
		f.leave()
	case "signal":
		f.signal(x)
	case "join":
		f.join(x)
	case "system", "cat":
		kind := CallSystem
		if x.Name == "cat" {
			kind = CallCat
		}
		f.record(x, kind, x.Args[0].(*ast.StrLit).Value, x.Args[1:], -1)
	case "print":
		if m, ok := x.Args[0].(*ast.MapExpr); ok && m.Keys == nil && f.c.maps[m.Name] != nil {
			f.record(x, CallPrint, "", nil, f.c.mapIndex(m.Name))
			call := f.c.obj.Calls[len(f.c.obj.Calls)-1]
			if len(x.Args) > 1 {
				call.Top = f.constArg(x.Args[1])
			}
			if len(x.Args) > 2 {
				call.Div = f.constArg(x.Args[2])
			}
			return
		}
		if len(x.Args) > 1 {
			f.c.errorf(x.Pos, "print() of a value takes one argument")
		}
		f.record(x, CallPrintValue, "", x.Args, -1)
	case "clear", "zero":
		m := x.Args[0].(*ast.MapExpr)
		k := CallClear
		if x.Name == "zero" {
			k = CallZero
		}
		f.record(x, k, "", nil, f.c.mapIndex(m.Name))
	case "delete":
		m := x.Args[0].(*ast.MapExpr)
		mm := f.c.maps[m.Name]
		if mm == nil {
			f.c.errorf(m.Pos, "undefined map @%s", m.Name)
		}
		if mm.Value == check.Hist || mm.Value == check.LHist {
			f.c.errorf(x.Pos, "delete() of a hist() or lhist() element is not compiled yet")
		}
		if len(x.Args) == 2 {
			m = &ast.MapExpr{Pos: m.Pos, Name: m.Name, Keys: []ast.Expr{x.Args[1]}}
		}
		if (m.Keys != nil) != mm.Keyed {
			f.c.errorf(m.Pos, "delete() needs a key of @%s", m.Name)
		}
		key := f.key(mm, m)
		f.emit(asm.LoadMapPtr(asm.R1, 0).WithReference(mm.BPF),
			asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, int32(key)),
			asm.FnMapDeleteElem.Call())
	default:
		f.c.errorf(x.Pos, "%s() is not compiled yet", x.Name)
	}
}

// record sends one ring-buffer record for the call site x.
func (f *fn) record(x *ast.Call, kind CallKind, format string, args []ast.Expr, mapIdx int) {
	call := &Call{Kind: kind, Pos: x.Pos, Format: format, Map: mapIdx}
	size := HeaderSize
	for _, a := range args {
		s := Slot{Offset: size, String: f.isString(a)}
		if r, ok := f.renderOf(a); ok && r.wide() {
			s.String = true
		}
		if id, ok := a.(*ast.Ident); ok && id.Name == "probe" {
			if call.Const == nil {
				call.Const = map[int]string{}
			}
			call.Const[len(call.Args)] = f.probe.Name
			call.Args = append(call.Args, s)
			continue
		}
		if s.String {
			size += f.c.S
		} else {
			size += 8
		}
		call.Args = append(call.Args, s)
	}
	if kind == CallPrintf && f.c.opts.Task {
		call.Task = size
		size += TaskSize
	}
	call.Size = size
	id := len(f.c.obj.Calls)
	f.c.obj.Calls = append(f.c.obj.Calls, call)
	rec := f.alloc(size)
	f.emit(stImm(asm.R10, int16(rec), int64(kind)),
		stImm(asm.R10, int16(rec+8), int64(id)))
	for i, a := range args {
		s := call.Args[i]
		if _, ok := call.Const[i]; ok {
			continue
		}
		if r, ok := f.renderOf(a); ok {
			f.setRender(&call.Render, i, r, a.Position())
			if s.String {
				f.zero(rec+s.Offset, f.c.S)
			}
			f.renderValue(a, r, rec+s.Offset)
			continue
		}
		if s.String {
			f.strExpr(a, rec+s.Offset)
			continue
		}
		f.intExpr(a)
		f.emit(asm.StoreMem(asm.R10, int16(rec+s.Offset), asm.R0, asm.DWord))
	}
	if t := call.Task; t != 0 {
		f.emit(asm.FnGetCurrentPidTgid.Call(), asm.StoreMem(asm.R10, int16(rec+t), asm.R0, asm.DWord),
			asm.FnGetCurrentUidGid.Call(), asm.StoreMem(asm.R10, int16(rec+t+8), asm.R0, asm.DWord),
			asm.Mov.Reg(asm.R1, asm.R10), asm.Add.Imm(asm.R1, int32(rec+t+16)),
			asm.Mov.Imm(asm.R2, 16), asm.FnGetCurrentComm.Call())
	}
	f.emit(asm.LoadMapPtr(asm.R1, 0).WithReference(f.c.obj.Ring),
		asm.Mov.Reg(asm.R2, asm.R10), asm.Add.Imm(asm.R2, int32(rec)),
		asm.Mov.Imm(asm.R3, int32(size)), asm.Mov.Imm(asm.R4, 0),
		asm.FnRingbufOutput.Call())
	// A full ring buffer drops the record: count it in Object.Lost.
	ok := f.newLabel()
	f.emit(asm.JEq.Imm(asm.R0, 0, ok))
	f.countDrop(dropRing)
	f.label(ok)
	f.emit(asm.Mov.Imm(asm.R0, 0))
}

// conversions returns the conversion letters of a printf format, in order.
func conversions(format string) []byte {
	var out []byte
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		if i < len(format) && format[i] == '%' {
			continue
		}
		for i < len(format) && strings.IndexByte("-+ #0123456789.hlzjtL", format[i]) >= 0 {
			i++
		}
		if i < len(format) {
			out = append(out, format[i])
		}
	}
	return out
}

// regIP is the offset of the instruction pointer in struct pt_regs: at a
// uprobe, the address of the probe.
const regIP = 128

// usdtArg leaves argument n of the usdt site in R0: a constant, a
// register, or memory at a register plus index times scale plus a
// displacement (or at the probe's address plus an offset, for a global),
// read from user memory; cut to the argument's size and sign-extended when
// signed, as its spec says.
func (f *fn) usdtArg(x *ast.Ident, n int) {
	if n >= len(f.usdt) {
		f.c.errorf(x.Pos, "%s: %s has %d arguments", x.Name, f.probe.Name, len(f.usdt))
	}
	a := f.usdt[n]
	switch a.Kind {
	case usdt.ArgConst:
		f.emit(asm.LoadImm(asm.R0, a.Value, asm.DWord))
	case usdt.ArgReg:
		f.emit(asm.LoadMem(asm.R0, rCtx, int16(a.Reg.PtRegsOffset()), asm.DWord))
	case usdt.ArgMem, usdt.ArgGlobal:
		if a.Kind == usdt.ArgGlobal {
			f.emit(asm.LoadMem(asm.R3, rCtx, regIP, asm.DWord))
		} else {
			f.emit(asm.LoadMem(asm.R3, rCtx, int16(a.Reg.PtRegsOffset()), asm.DWord))
			if a.Index != 0 {
				f.emit(asm.LoadMem(asm.R1, rCtx, int16(a.Index.PtRegsOffset()), asm.DWord),
					asm.Mul.Imm(asm.R1, int32(a.Scale)), asm.Add.Reg(asm.R3, asm.R1))
			}
		}
		f.emit(asm.LoadImm(asm.R1, a.Value, asm.DWord), asm.Add.Reg(asm.R3, asm.R1))
		mark := f.sp
		off := f.alloc(8)
		f.emit(stImm(asm.R10, int16(off), 0),
			asm.Mov.Reg(asm.R1, asm.R10), asm.Add.Imm(asm.R1, int32(off)),
			asm.Mov.Imm(asm.R2, int32(a.Size)), asm.FnProbeReadUser.Call(),
			asm.LoadMem(asm.R0, asm.R10, int16(off), asm.DWord))
		f.sp = mark
	default:
		f.c.errorf(x.Pos, "%s: argument spec %q is not compiled", x.Name, a.Spec)
	}
	if shift := int32(64 - 8*a.Size); shift > 0 {
		f.emit(asm.LSh.Imm(asm.R0, shift))
		if a.Signed {
			f.emit(asm.ArSh.Imm(asm.R0, shift))
		} else {
			f.emit(asm.RSh.Imm(asm.R0, shift))
		}
	}
}

// undefined reports a $variable this function does not have: one of the
// probe around a for loop over a map, or none at all.
func (f *fn) undefined(x *ast.Var) {
	if f.outer[x.Name] {
		f.c.errorf(x.Pos, "a for loop over a map cannot read $%s of the probe around it (its body runs as a function of its own); not compiled yet", x.Name)
	}
	f.c.errorf(x.Pos, "undefined variable $%s", x.Name)
}
