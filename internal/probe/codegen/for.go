package codegen

import (
	"fmt"
	"strconv"

	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"

	"github.com/kscope/kscope/internal/probe/ast"
	"github.com/kscope/kscope/internal/probe/check"
)

// kvLocal is the $kv of for ($kv : @m): the element's key and value,
// copied to the loop function's stack.
type kvLocal struct {
	m        *Map
	key, val int
}

// funcBTF describes a function taking pointers and returning a long, for
// the BTF func_info of a program with several functions.
func funcBTF(name string, linkage btf.FuncLinkage, params ...string) *btf.Func {
	long := &btf.Int{Name: "long", Size: 8, Encoding: btf.Signed}
	proto := &btf.FuncProto{Return: long}
	for _, p := range params {
		proto.Params = append(proto.Params, btf.FuncParam{Name: p, Type: &btf.Pointer{Target: &btf.Void{}}})
	}
	return &btf.Func{Name: name, Type: proto, Linkage: linkage}
}

// forMap compiles for ($kv : @m) { … } with bpf_for_each_map_elem (Linux
// 5.13): the body is a function of its own, called once per element with
// its key and value, which returns 1 to stop (break) and 0 to go on. It
// has no probe context and its own stack: it can read the element, maps
// and builtins, not the probe's $variables or arguments.
func (f *fn) forMap(s *ast.ForStmt) {
	m := f.c.maps[s.Map.Name]
	if m == nil {
		f.c.errorf(s.Map.Pos, "undefined map @%s", s.Map.Name)
	}
	switch {
	case m.PerCPU:
		f.c.errorf(s.Map.Pos, "for over a %s map is not compiled yet (over plain integer and string maps it is)", m.Value)
	case len(m.Render) > 0 || m.ValueRender != nil:
		f.c.errorf(s.Map.Pos, "for over a map of stacks or other rendered values is not compiled yet")
	case !m.Keyed:
		f.c.errorf(s.Map.Pos, "for iterates over a map with keys; @%s has none", m.Name)
	}
	root := f.root
	root.forN++
	name := fmt.Sprintf("%s_for%d", f.probe.Program, root.forN)
	outer := map[string]bool{}
	for n := range f.locals {
		outer[n] = true
	}
	for n := range f.outer {
		outer[n] = true
	}
	cont, brk := name+"_cont", name+"_brk"
	// return and exit() inside the loop stop it, as break does.
	sub := &fn{c: f.c, probe: f.probe, user: f.user, locals: map[string]local{}, pos: s.Pos,
		prefix: name + "_", endLabel: brk, inFor: true, outer: outer, root: root}
	delete(outer, s.Var.Name)
	sub.pending = name
	// R2 is the key, R3 the value, R4 the caller's context pointer (a
	// stack slot, never NULL, which the rCtx checks of break and return
	// rely on).
	sub.emit(asm.Mov.Reg(rCtx, asm.R4))
	keyOff, valOff := sub.alloc(m.KeySize), sub.alloc(m.ValueSize)
	for i := 0; i < m.KeySize; i += 8 {
		sub.emit(asm.LoadMem(asm.R0, asm.R2, int16(i), asm.DWord), asm.StoreMem(asm.R10, int16(keyOff+i), asm.R0, asm.DWord))
	}
	for i := 0; i < m.ValueSize; i += 8 {
		sub.emit(asm.LoadMem(asm.R0, asm.R3, int16(i), asm.DWord), asm.StoreMem(asm.R10, int16(valOff+i), asm.R0, asm.DWord))
	}
	sub.locals[s.Var.Name] = local{off: keyOff, kv: &kvLocal{m: m, key: keyOff, val: valOff}}
	sub.declareLocals(s.Body)
	sub.loops = [][2]string{{cont, brk}}
	sub.block(s.Body)
	// Conditional on the context pointer, never NULL: the break path
	// stays reachable for the verifier's control-flow check.
	sub.emit(asm.JEq.Imm(rCtx, 0, brk))
	sub.label(cont)
	sub.emit(asm.Mov.Imm(asm.R0, 0), asm.Return())
	sub.label(brk)
	sub.emit(asm.Mov.Imm(asm.R0, 1), asm.Return())
	sub.insns[0] = btf.WithFuncMetadata(sub.insns[0], funcBTF(name, btf.StaticFunc, "map", "key", "value", "ctx"))
	root.subs = append(root.subs, sub)

	mark := f.sp
	ctx := f.alloc(8)
	f.sp = mark
	fref := asm.LoadImm(asm.R2, -1, asm.DWord).WithReference(name)
	fref.Src = asm.PseudoFunc
	f.emit(stImm(asm.R10, int16(ctx), 0),
		asm.LoadMapPtr(asm.R1, 0).WithReference(m.BPF),
		fref,
		asm.Mov.Reg(asm.R3, asm.R10), asm.Add.Imm(asm.R3, int32(ctx)),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnForEachMapElem.Call(),
		asm.Mov.Imm(asm.R0, 0))
}

// kvSlot resolves $kv.0 (the key; $kv.0.N its element N with several
// keys) and $kv.1 (the value) of a for loop over a map, and $t.N of a
// $local holding a tuple: the stack offset and whether it holds a string.
func (f *fn) kvSlot(x *ast.Field) (off int, str, ok bool) {
	if v, isVar := x.X.(*ast.Var); isVar {
		if _, ok := f.locals[v.Name]; !ok && f.outer[v.Name] {
			f.undefined(v)
		}
		if l := f.locals[v.Name]; l.tuple != nil {
			var n int
			if _, err := fmt.Sscanf(x.Name, "%d", &n); err != nil || n < 0 || n >= len(l.tuple) || strconv.Itoa(n) != x.Name {
				f.c.errorf(x.Pos, "$%s is a tuple of %d elements: no $%s.%s", v.Name, len(l.tuple), v.Name, x.Name)
			}
			sl := l.tuple[n]
			return l.off + sl.Offset, sl.String, true
		}
		kv := f.locals[v.Name].kv
		if kv == nil {
			return 0, false, false
		}
		switch x.Name {
		case "1":
			return kv.val, kv.m.Value == check.String, true
		case "0":
			if len(kv.m.Keys) != 1 {
				f.c.errorf(x.Pos, "$%s.0 is a tuple of %d keys: use $%s.0.0, $%s.0.1…", v.Name, len(kv.m.Keys), v.Name, v.Name)
			}
			sl := kv.m.Keys[0]
			return kv.key + sl.Offset, sl.String, true
		}
		f.c.errorf(x.Pos, "$%s has .0 (the key) and .1 (the value), not .%s", v.Name, x.Name)
	}
	in, isField := x.X.(*ast.Field)
	if !isField || in.Name != "0" {
		return 0, false, false
	}
	v, isVar := in.X.(*ast.Var)
	if !isVar || f.locals[v.Name].kv == nil {
		return 0, false, false
	}
	kv := f.locals[v.Name].kv
	var n int
	if _, err := fmt.Sscanf(x.Name, "%d", &n); err != nil || n < 0 || n >= len(kv.m.Keys) || len(kv.m.Keys) == 1 {
		f.c.errorf(x.Pos, "@%s has %d key%s: no $%s.0.%s", kv.m.Name, len(kv.m.Keys), map[bool]string{true: "", false: "s"}[len(kv.m.Keys) == 1], v.Name, x.Name)
	}
	sl := kv.m.Keys[n]
	return kv.key + sl.Offset, sl.String, true
}

// noCtx reports what needs the probe's context inside a for loop over a
// map, whose function has none.
func (f *fn) noCtx(pos ast.Pos, what string) {
	if f.inFor {
		f.c.errorf(pos, "%s inside a for loop over a map is not compiled yet (its body runs as a function of its own, without the probe's context)", what)
	}
}
