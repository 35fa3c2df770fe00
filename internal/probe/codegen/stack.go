package codegen

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/kscope/kscope/internal/probe/ast"
)

// RenderKind says how user space turns a value the program stored into
// text: a stack id into its frames, an address into its symbol.
type RenderKind int

// The values user space renders.
const (
	// RenderKStack is a kernel stack id (u32) in StackMap.
	RenderKStack RenderKind = iota + 1
	// RenderUStack is a user stack id (low 32 bits) in StackMap and the
	// process id (high 32 bits) whose mappings symbolize it.
	RenderUStack
	// RenderKsym is a kernel address, printed as its function's name.
	RenderKsym
	// RenderUsym is a user address (8 bytes) and the process id (the next
	// 8 bytes) whose mappings symbolize it, in a string slot.
	RenderUsym
	// RenderInet is an address family (8 bytes) and an IPv4 (4 bytes) or
	// IPv6 (16 bytes) address, in a string slot: ntop().
	RenderInet
	// RenderMac is 6 bytes printed as a MAC address: macaddr().
	RenderMac
	// RenderUser is a user id printed as its user name: username.
	RenderUser
	// RenderTime is nanoseconds of CLOCK_MONOTONIC printed with the
	// strftime format Render.Format: strftime().
	RenderTime
	// RenderBuf is a length (8 bytes) and that many bytes, in a string
	// slot, printed with non-printable bytes as \xNN: buf().
	RenderBuf
)

// Render is a value rendered in user space, with what rendering needs.
type Render struct {
	Kind     RenderKind
	StackMap string // the stack trace map (stacks)
	Limit    int    // the most frames a stack has
	Format   string // strftime's format
}

// wide reports whether the value fills a string slot (more than 8 bytes).
func (r Render) wide() bool {
	switch r.Kind {
	case RenderUsym, RenderInet, RenderMac, RenderBuf, RenderUser, RenderTime:
		return true
	}
	return false
}

// defaultStackFrames is bpftrace's perf_max_stack default.
const defaultStackFrames = 127

// renderOf returns how x is rendered in user space, when it is one of
// the values only user space can turn into text: kstack, ustack (with
// an optional limit) and ksym(addr).
func (f *fn) renderOf(x ast.Expr) (Render, bool) {
	name, args := "", []ast.Expr(nil)
	switch x := x.(type) {
	case *ast.Var:
		if l, ok := f.locals[x.Name]; ok && l.render != nil {
			return *l.render, true
		}
		return Render{}, false
	case *ast.MapExpr:
		if m := f.c.maps[x.Name]; m != nil && m.ValueRender != nil {
			return *m.ValueRender, true
		}
		return Render{}, false
	case *ast.Ident:
		name = x.Name
		if name == "username" {
			return Render{Kind: RenderUser}, true
		}
	case *ast.Call:
		name, args = x.Name, x.Args
	default:
		return Render{}, false
	}
	switch name {
	case "kstack", "ustack":
		r := Render{Kind: RenderKStack, Limit: defaultStackFrames}
		if name == "ustack" {
			r.Kind = RenderUStack
		}
		if len(args) > 0 {
			if id, ok := args[0].(*ast.Ident); ok {
				if id.Name != "bpftrace" {
					f.c.errorf(id.Pos, "stack mode %s is not compiled yet (bpftrace is)", id.Name)
				}
				args = args[1:]
			}
		}
		if len(args) == 1 {
			n := f.constArg(args[0])
			if n < 1 || n > defaultStackFrames {
				f.c.errorf(args[0].Position(), "a stack limit is from 1 to %d frames, not %d", defaultStackFrames, n)
			}
			r.Limit = int(n)
		}
		r.StackMap = f.c.stackMap(r.Limit)
		return r, true
	case "ksym":
		if len(args) == 1 {
			return Render{Kind: RenderKsym}, true
		}
	case "usym":
		if len(args) == 1 {
			if f.c.S < 16 {
				f.c.errorf(x.Position(), "usym() needs a max_strlen of at least 16")
			}
			return Render{Kind: RenderUsym}, true
		}
	case "ntop":
		if f.c.S < 24 {
			f.c.errorf(x.Position(), "ntop() needs a max_strlen of at least 24")
		}
		return Render{Kind: RenderInet}, true
	case "macaddr":
		return Render{Kind: RenderMac}, true
	case "strftime":
		lit, ok := args[0].(*ast.StrLit)
		if !ok {
			f.c.errorf(args[0].Position(), "strftime() takes a string literal format")
		}
		return Render{Kind: RenderTime, Format: lit.Value}, true
	case "buf":
		return Render{Kind: RenderBuf}, true
	}
	return Render{}, false
}

// stackMap returns the stack trace map whose stacks have at most limit
// frames, adding it to the object.
func (c *compiler) stackMap(limit int) string {
	name := fmt.Sprintf("ks_stack%d", limit)
	if _, ok := c.obj.Spec.Maps[name]; !ok {
		c.obj.Spec.Maps[name] = &ebpf.MapSpec{Name: name, Type: ebpf.StackTrace, KeySize: 4,
			ValueSize: uint32(8 * limit), MaxEntries: uint32(c.opts.MaxMapKeys)}
	}
	return name
}

// renderValue stores the 8 bytes user space renders x from at off.
func (f *fn) renderValue(x ast.Expr, r Render, off int) {
	if v, ok := x.(*ast.Var); ok {
		// A local holding a rendered value: its bytes.
		f.copyStack(off, f.locals[v.Name].off, f.c.S)
		return
	}
	if mx, ok := x.(*ast.MapExpr); ok {
		// A map holding rendered values: the element's bytes, zero when
		// there is none.
		m := f.c.maps[mx.Name]
		mark := f.sp
		key := f.key(m, mx)
		f.sp = mark
		f.zero(off, m.ValueSize)
		f.lookup(m, key)
		done := f.newLabel()
		f.emit(asm.JEq.Imm(asm.R0, 0, done))
		for i := 0; i < m.ValueSize; i += 8 {
			f.emit(asm.LoadMem(asm.R1, asm.R0, int16(i), asm.DWord), asm.StoreMem(asm.R10, int16(off+i), asm.R1, asm.DWord))
		}
		f.label(done)
		f.emit(asm.Mov.Reg(asm.R0, asm.R0))
		return
	}
	switch r.Kind {
	case RenderKStack, RenderUStack:
		f.noCtx(x.Position(), "a stack")
		flags := int32(0)
		if r.Kind == RenderUStack {
			flags = 1 << 8 // BPF_F_USER_STACK
		}
		f.emit(asm.Mov.Reg(asm.R1, rCtx), asm.LoadMapPtr(asm.R2, 0).WithReference(r.StackMap),
			asm.Mov.Imm(asm.R3, flags), asm.FnGetStackid.Call(),
			asm.Mov.Reg32(asm.R0, asm.R0)) // the id, or a negative error, in 32 bits
		f.emit(asm.StoreMem(asm.R10, int16(off), asm.R0, asm.DWord))
		if r.Kind == RenderUStack {
			f.emit(asm.FnGetCurrentPidTgid.Call(),
				asm.RSh.Imm(asm.R0, 32),
				asm.StoreMem(asm.R10, int16(off+4), asm.R0, asm.Word))
		}
	case RenderKsym:
		f.intExpr(x.(*ast.Call).Args[0])
		f.emit(asm.StoreMem(asm.R10, int16(off), asm.R0, asm.DWord))
	case RenderUsym:
		f.intExpr(x.(*ast.Call).Args[0])
		f.emit(asm.StoreMem(asm.R10, int16(off), asm.R0, asm.DWord),
			asm.FnGetCurrentPidTgid.Call(), asm.RSh.Imm(asm.R0, 32),
			asm.StoreMem(asm.R10, int16(off+8), asm.R0, asm.DWord))
	case RenderUser:
		f.emit(asm.FnGetCurrentUidGid.Call(), asm.Mov.Reg32(asm.R0, asm.R0),
			asm.StoreMem(asm.R10, int16(off), asm.R0, asm.DWord))
	case RenderTime:
		f.intExpr(x.(*ast.Call).Args[1])
		f.emit(asm.StoreMem(asm.R10, int16(off), asm.R0, asm.DWord))
	case RenderInet:
		f.ntop(x.(*ast.Call), off)
	case RenderMac:
		a := x.(*ast.Call).Args[0]
		if n, ok := f.byteSize(a); ok && n < 6 {
			f.c.errorf(a.Position(), "macaddr() needs 6 bytes, and this has %d", n)
		}
		f.zero(off, 8)
		f.copyBytes(a, off, 6)
	case RenderBuf:
		f.buf(x.(*ast.Call), off)
	}
}

// setRender records that element i of a key or record is rendered as r;
// one element renders one way.
func (f *fn) setRender(m *map[int]Render, i int, r Render, pos ast.Pos) {
	if *m == nil {
		*m = map[int]Render{}
	}
	if old, ok := (*m)[i]; ok && old != r {
		f.c.errorf(pos, "this stack or symbol is stored where another kind (or another limit) is")
	}
	(*m)[i] = r
}

// isStack reports whether x is kstack or ustack, bare or called.
func isStack(x ast.Expr) bool {
	switch x := x.(type) {
	case *ast.Ident:
		return x.Name == "kstack" || x.Name == "ustack"
	case *ast.Call:
		return x.Name == "kstack" || x.Name == "ustack"
	}
	return false
}
