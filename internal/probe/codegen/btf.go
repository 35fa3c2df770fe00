package codegen

import (
	"errors"
	"strings"

	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"

	"github.com/kscope/kscope/internal/probe/ast"
)

// Struct field access through BTF: (struct T *)x casts an integer to a
// pointer, curtask is a struct task_struct *, and p->f, s.f read members
// at the offsets the running kernel's BTF gives (the program is compiled
// on the kernel it runs on, so no relocation is needed). Members are read
// with bpf_probe_read_kernel: integers, enums and pointers as integers,
// char arrays as strings; an embedded struct or union is an address that
// only a further .f may use.

// kernelBTF returns the kernel's BTF, or an error at pos naming why not.
func (f *fn) kernelBTF(pos ast.Pos) *btf.Spec {
	if f.c.btfSpec == nil && f.c.btfErr == nil {
		if f.c.opts.BTF == nil {
			f.c.btfErr = errors.New("no kernel BTF available here")
		} else {
			f.c.btfSpec, f.c.btfErr = f.c.opts.BTF()
		}
	}
	if f.c.btfErr != nil {
		f.c.errorf(pos, "this needs the kernel's BTF (struct members, fentry and fexit arguments): %v", f.c.btfErr)
	}
	return f.c.btfSpec
}

// structType finds "struct NAME" or "union NAME" in the kernel's BTF.
func (f *fn) structType(pos ast.Pos, name string) btf.Type {
	spec := f.kernelBTF(pos)
	kind, n, ok := strings.Cut(name, " ")
	if !ok {
		kind, n = "struct", name
	}
	var t btf.Type
	var err error
	switch kind {
	case "struct":
		var s *btf.Struct
		err = spec.TypeByName(n, &s)
		t = s
	case "union":
		var u *btf.Union
		err = spec.TypeByName(n, &u)
		t = u
	default:
		f.c.errorf(pos, "a cast to a pointer to %s is not compiled yet (struct and union pointers are)", name)
	}
	if err != nil {
		f.c.errorf(pos, "the kernel's BTF has no %s %s", kind, n)
	}
	return t
}

// ctype returns the C type of x when BTF gives it one (a cast to a struct
// pointer, curtask, a $local set from one, a member), else nil. It emits
// nothing.
func (f *fn) ctype(x ast.Expr) btf.Type {
	switch x := x.(type) {
	case *ast.Cast:
		if x.Type.Ptr == 1 && !x.Type.IsArray && (strings.HasPrefix(x.Type.Name, "struct ") || strings.HasPrefix(x.Type.Name, "union ")) {
			return &btf.Pointer{Target: f.structType(x.Pos, x.Type.Name)}
		}
	case *ast.Ident:
		if x.Name == "curtask" {
			return &btf.Pointer{Target: f.structType(x.Pos, "struct task_struct")}
		}
	case *ast.Var:
		return f.locals[x.Name].ctype
	case *ast.Field:
		if id, ok := x.X.(*ast.Ident); ok && id.Name == "args" {
			// A tracepoint field declared "struct T *".
			fl := f.argField(x, false)
			if fl == nil {
				return nil
			}
			name := strings.TrimSpace(strings.TrimPrefix(fl.Type, "const "))
			if n, ok := strings.CutSuffix(name, "*"); ok && !strings.Contains(n, "*") {
				n = strings.TrimSpace(n)
				if strings.HasPrefix(n, "struct ") || strings.HasPrefix(n, "union ") {
					return &btf.Pointer{Target: f.structType(x.Pos, n)}
				}
			}
			return nil
		}
		_, t, _ := f.member(x)
		return t
	}
	return nil
}

// member resolves x.f or x->f: the struct it is in, the member's type
// (qualifiers and typedefs skipped) and its byte offset.
func (f *fn) member(x *ast.Field) (base btf.Type, t btf.Type, off uint32) {
	bt := f.ctype(x.X)
	if bt == nil {
		f.c.errorf(x.Pos, "field access on a value with no struct type: cast it first, (struct T *)x")
	}
	bt = btf.UnderlyingType(bt)
	if x.Arrow {
		p, ok := bt.(*btf.Pointer)
		if !ok {
			f.c.errorf(x.Pos, "-> on a %s, which is not a pointer (use .)", typeName(bt))
		}
		bt = btf.UnderlyingType(p.Target)
	} else if _, ok := bt.(*btf.Pointer); ok {
		f.c.errorf(x.Pos, ". on a pointer (use ->)")
	}
	m, off, ok := findMember(bt, x.Name)
	if !ok {
		f.c.errorf(x.Pos, "%s has no member %q", typeName(bt), x.Name)
	}
	if m.BitfieldSize != 0 {
		f.c.errorf(x.Pos, "bit-field %s is not compiled yet", x.Name)
	}
	return bt, btf.UnderlyingType(m.Type), off
}

// findMember finds name in a struct or union, looking into anonymous
// members; off is its byte offset.
func findMember(t btf.Type, name string) (btf.Member, uint32, bool) {
	var ms []btf.Member
	switch t := t.(type) {
	case *btf.Struct:
		ms = t.Members
	case *btf.Union:
		ms = t.Members
	default:
		return btf.Member{}, 0, false
	}
	for _, m := range ms {
		if m.Name == name {
			return m, m.Offset.Bytes(), true
		}
		if m.Name == "" {
			if in, off, ok := findMember(btf.UnderlyingType(m.Type), name); ok {
				return in, m.Offset.Bytes() + off, true
			}
		}
	}
	return btf.Member{}, 0, false
}

func typeName(t btf.Type) string {
	switch t := t.(type) {
	case *btf.Struct:
		return "struct " + t.Name
	case *btf.Union:
		return "union " + t.Name
	case *btf.Pointer:
		return typeName(btf.UnderlyingType(t.Target)) + " *"
	case nil:
		return "void"
	}
	return t.TypeName()
}

// addrOf leaves in R0 the address of the member x names, and returns its
// type.
func (f *fn) addrOf(x *ast.Field) btf.Type {
	_, t, off := f.member(x)
	if x.Arrow {
		f.intExpr(x.X) // the pointer
	} else {
		inner, ok := x.X.(*ast.Field)
		if !ok {
			f.c.errorf(x.Pos, ". on a value that is not a struct member")
		}
		f.addrOf(inner)
	}
	if off != 0 {
		f.emit(asm.Add.Imm(asm.R0, int32(off)))
	}
	return t
}

// isCharArray reports whether t is an array of char (a string member).
func isCharArray(t btf.Type) (n int, ok bool) {
	a, isArr := t.(*btf.Array)
	if !isArr {
		return 0, false
	}
	i, isInt := btf.UnderlyingType(a.Type).(*btf.Int)
	if !isInt || i.Size != 1 {
		return 0, false
	}
	return int(a.Nelems), true
}

// btfField leaves the integer value of member x in R0.
func (f *fn) btfField(x *ast.Field) {
	t := f.addrOf(x)
	size, signed := 0, false
	switch t := t.(type) {
	case *btf.Int:
		size, signed = int(t.Size), t.Encoding&btf.Signed != 0
	case *btf.Enum:
		size, signed = int(t.Size), t.Signed
	case *btf.Pointer:
		size = 8
	default:
		f.c.errorf(x.Pos, "member %s is a %s: read one of its members, or a string from a char array", x.Name, typeName(t))
	}
	if size != 1 && size != 2 && size != 4 && size != 8 {
		f.c.errorf(x.Pos, "member %s has %d bytes, which is not compiled yet", x.Name, size)
	}
	mark := f.sp
	tmp := f.alloc(8)
	read := asm.FnProbeReadKernel
	if f.userChain(x) {
		read = asm.FnProbeReadUser
	}
	f.emit(stImm(asm.R10, int16(tmp), 0), asm.Mov.Reg(asm.R3, asm.R0),
		asm.Mov.Reg(asm.R1, asm.R10), asm.Add.Imm(asm.R1, int32(tmp)),
		asm.Mov.Imm(asm.R2, int32(size)), read.Call(),
		asm.LoadMem(asm.R0, asm.R10, int16(tmp), asm.DWord))
	f.sp = mark
	if shift := int32(64 - 8*size); shift > 0 {
		f.emit(asm.LSh.Imm(asm.R0, shift))
		if signed {
			f.emit(asm.ArSh.Imm(asm.R0, shift))
		} else {
			f.emit(asm.RSh.Imm(asm.R0, shift))
		}
	}
}

// btfString copies the char array member x to the string at off.
func (f *fn) btfString(x *ast.Field, off int) {
	t := f.addrOf(x)
	n, ok := isCharArray(t)
	if !ok {
		f.c.errorf(x.Pos, "member %s is not a char array", x.Name)
	}
	f.emit(asm.Mov.Reg(asm.R3, asm.R0))
	f.zero(off, f.c.S)
	read := asm.FnProbeReadKernelStr
	if f.userChain(x) {
		read = asm.FnProbeReadUserStr
	}
	f.emit(asm.Mov.Reg(asm.R1, asm.R10), asm.Add.Imm(asm.R1, int32(off)),
		asm.Mov.Imm(asm.R2, int32(min(n, f.c.S-1))), read.Call())
}

// userChain reports whether the member chain x starts at a pointer of a
// syscall tracepoint's record (args->buf->f): user memory.
func (f *fn) userChain(x *ast.Field) bool {
	for {
		switch in := x.X.(type) {
		case *ast.Field:
			if id, ok := in.X.(*ast.Ident); ok && id.Name == "args" {
				return f.user && f.probe.Provider == "tracepoint"
			}
			x = in
		default:
			return false
		}
	}
}

// macros are the C preprocessor constants of kernel headers that scripts
// use and BTF cannot give (it has enums, not #defines).
var macros = map[string]int64{
	"AF_UNSPEC": 0, "AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16, "AF_PACKET": 17,
	"TASK_RUNNING": 0, "TASK_INTERRUPTIBLE": 1, "TASK_UNINTERRUPTIBLE": 2,
}

// constant returns the value of an enum constant of the kernel's BTF or
// of a well-known macro (AF_INET, TASK_RUNNING).
func (f *fn) constant(name string) (int64, bool) {
	if v, ok := macros[name]; ok {
		return v, true
	}
	if f.c.opts.BTF == nil {
		return 0, false
	}
	if f.c.enums == nil {
		f.c.enums = map[string]int64{}
		spec := f.kernelBTF(f.pos)
		for t, err := range spec.All() {
			if err != nil {
				break
			}
			if e, ok := t.(*btf.Enum); ok {
				for _, v := range e.Values {
					f.c.enums[v.Name] = int64(v.Value)
				}
			}
		}
	}
	v, ok := f.c.enums[name]
	return v, ok
}

// funcArgs returns the arguments of kernel function name as a record
// layout for args->NAME: in a fentry/fexit program's context (one u64 per
// argument) or, when regs, in the struct pt_regs of a kprobe (the
// architecture's argument registers, argRegs); and the number of arguments (fexit's retval
// follows them).
func (f *fn) funcArgs(pos ast.Pos, name string, regs bool) (*Format, int) {
	spec := f.kernelBTF(pos)
	var fn *btf.Func
	if err := spec.TypeByName(name, &fn); err != nil {
		f.c.errorf(pos, "the kernel's BTF has no function %s", name)
	}
	proto, ok := fn.Type.(*btf.FuncProto)
	if !ok {
		f.c.errorf(pos, "function %s has no prototype in the kernel's BTF", name)
	}
	fm := &Format{}
	for i, p := range proto.Params {
		t := btf.UnderlyingType(p.Type)
		fl := Field{Name: p.Name, Offset: 8 * i, Type: typeName(t)}
		if regs {
			if i >= len(argRegs) {
				break // passed on the stack: not read
			}
			fl.Offset = int(argRegs[i])
		}
		switch t := t.(type) {
		case *btf.Int:
			fl.Size, fl.Signed = int(t.Size), t.Encoding&btf.Signed != 0
		case *btf.Enum:
			fl.Size, fl.Signed = int(t.Size), t.Signed
		case *btf.Pointer:
			fl.Size = 8
		default:
			fl.Size = 8 // a struct passed by value: its first word
		}
		fm.Fields = append(fm.Fields, fl)
	}
	return fm, len(proto.Params)
}
