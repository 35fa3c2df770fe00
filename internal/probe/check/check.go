package check

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kscope/kscope/internal/probe/ast"
)

// Config is what the checker needs to know besides the script.
type Config struct {
	// Params are the positional parameters ($1 is Params[0]). When nil
	// they are not known yet and $N has an unknown type; when set, a
	// number gives an int, anything else a string, and a missing one is 0.
	Params []string
	// Unsafe allows the functions that change the system: system, signal,
	// override (kscope run --unsafe).
	Unsafe bool
	// Child reports a command that kscope runs and traces (-c), which
	// cpid names.
	Child bool
}

// maxErrors stops checking after this many errors.
const maxErrors = 10

// Check type-checks a parsed script. file and src name and hold the
// script, for error messages. The error, when not nil, is an
// ast.ErrorList.
func Check(file string, src []byte, prog *ast.Program, conf *Config) (*Info, error) {
	if conf == nil {
		conf = &Config{}
	}
	c := &checker{
		file: file, src: src, conf: conf,
		info: &Info{Types: map[ast.Expr]Type{}, Maps: map[string]*Map{}, Config: map[string]ast.Expr{}},
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(tooMany); !ok {
					panic(r)
				}
			}
		}()
		c.program(prog)
	}()
	if len(c.errs) > 0 {
		return c.info, c.errs
	}
	return c.info, nil
}

type tooMany struct{}

type checker struct {
	file string
	src  []byte
	conf *Config
	info *Info
	errs ast.ErrorList

	kinds  []string // canonical providers of the probe being checked
	locals map[string]*local
	macros map[string]*ast.Macro
	// names are the value parameters of the macro being checked.
	names map[string]bool
	loops int
	// pass is 1 while learning map types from assignments, 2 while
	// checking everything.
	pass int
}

type local struct {
	pos ast.Pos
	typ Type
}

func (c *checker) errorf(pos ast.Pos, format string, args ...any) {
	if c.pass == 1 {
		return
	}
	c.errs = append(c.errs, ast.NewError(c.file, c.src, pos, format, args...))
	if len(c.errs) >= maxErrors {
		panic(tooMany{})
	}
}

// configKeys are the config block's settings and the kind of value each
// takes.
var configKeys = map[string]Kind{
	"max_strlen": Int, "max_map_keys": Int, "max_bpf_progs": Int, "max_probes": Int,
	"max_cat_bytes": Int, "max_type_res_iterations": Int, "log_size": Int,
	"perf_rb_pages": Int, "on_stack_limit": Int, "max_ast_nodes": Int,
	"missing_probes": String, "stack_mode": String, "str_trunc_trailer": String,
	"license": String, "print_maps_on_exit": Int, "cpp_demangle": Int,
	"lazy_symbolication": Int, "unstable_map_decl": Int, "unstable_import": Int,
	"symbol_source": String, "show_debug_info": Int, "use_blazesym": Int,
}

var configChoices = map[string][]string{
	"missing_probes": {"error", "warn", "ignore"},
	"stack_mode":     {"bpftrace", "perf", "raw"},
	"symbol_source":  {"dwarf", "symbol_table"},
}

func (c *checker) config(cfg *ast.Config) {
	keys := make([]string, 0, len(configKeys))
	for k := range configKeys {
		keys = append(keys, k)
	}
	for _, it := range cfg.Items {
		want, ok := configKeys[it.Key]
		if !ok {
			c.errorf(it.Pos, "unknown config key %q%s", it.Key, suggest(it.Key, keys))
			continue
		}
		if _, dup := c.info.Config[it.Key]; dup {
			c.errorf(it.Pos, "config key %s set twice", it.Key)
		}
		c.info.Config[it.Key] = it.Value
		switch v := it.Value.(type) {
		case *ast.IntLit:
			if want != Int {
				c.errorf(v.Pos, "config key %s takes a string, not an integer", it.Key)
			}
		case *ast.BoolLit:
			if want != Int {
				c.errorf(v.Pos, "config key %s takes a string, not a boolean", it.Key)
			}
		case *ast.StrLit, *ast.Ident:
			s := ""
			if sl, ok := v.(*ast.StrLit); ok {
				s = sl.Value
			} else {
				s = v.(*ast.Ident).Name
			}
			if want == Int {
				c.errorf(v.Position(), "config key %s takes an integer, not %q", it.Key, s)
			} else if ch := configChoices[it.Key]; ch != nil && !contains(ch, s) {
				c.errorf(v.Position(), "config key %s takes one of %s, not %q", it.Key, strings.Join(ch, ", "), s)
			}
		}
	}
}

func (c *checker) program(prog *ast.Program) {
	if prog.Config != nil {
		c.config(prog.Config)
	}
	c.macros = map[string]*ast.Macro{}
	for _, m := range prog.Macros {
		c.pass = 2
		if _, dup := c.macros[m.Name]; dup {
			c.errorf(m.Pos, "macro %s is defined twice", m.Name)
		} else if _, fn := functions[m.Name]; fn {
			c.errorf(m.Pos, "macro %s has the name of a function", m.Name)
		}
		c.macros[m.Name] = m
	}
	// Pass 1 learns the maps' key and value types from every assignment,
	// wherever it is: maps are global and a probe may read a map that a
	// later probe writes.
	for c.pass = 1; c.pass <= 2; c.pass++ {
		for _, m := range prog.Macros {
			c.macro(m)
		}
		for _, pr := range prog.Probes {
			c.probe(pr)
		}
	}
	c.pass = 2
}

// macro checks a macro's body on its own: value parameters and $variable
// parameters have unknown types, map parameters are the maps of that name,
// and builtins are allowed as in any probe.
func (c *checker) macro(m *ast.Macro) {
	c.kinds = c.kinds[:0]
	c.locals = map[string]*local{}
	c.names = map[string]bool{}
	c.loops = 0
	for _, p := range m.Params {
		switch p := p.(type) {
		case *ast.Var:
			c.locals[p.Name] = &local{pos: p.Pos, typ: unknown}
		case *ast.Ident:
			c.names[p.Name] = true
		}
	}
	c.block(m.Body)
	c.names = nil
}

func (c *checker) probe(pr *ast.Probe) {
	c.kinds = c.kinds[:0]
	for _, a := range pr.Attach {
		if c.pass == 1 {
			c.kinds = append(c.kinds, aliases[a.Provider])
			continue
		}
		if k := c.attachPoint(a); k != "" {
			c.kinds = append(c.kinds, k)
		}
	}
	if c.pass == 2 {
		c.info.Probes = append(c.info.Probes, append([]string(nil), c.kinds...))
	}
	c.locals = map[string]*local{}
	c.loops = 0
	if pr.Pred != nil {
		if t := c.expr(pr.Pred); !t.scalar() {
			c.errorf(pr.Pred.Position(), "a predicate must be an integer, not %s", t)
		}
	}
	c.block(pr.Body)
}

func (c *checker) block(b *ast.Block) {
	for _, s := range b.Stmts {
		c.stmt(s)
	}
}

func (c *checker) stmt(s ast.Stmt) {
	switch s := s.(type) {
	case *ast.Block:
		c.block(s)
	case *ast.ExprStmt:
		c.exprAllowVoid(s.X, true)
	case *ast.AssignStmt:
		c.assign(s)
	case *ast.LetStmt:
		t := unknown
		if s.Value != nil {
			t = c.valueExpr(s.Value, "assigned")
		}
		if l, ok := c.locals[s.Var.Name]; ok && c.pass == 2 {
			c.errorf(s.Var.Pos, "$%s is already declared at %d:%d", s.Var.Name, l.pos.Line, l.pos.Col)
		}
		c.locals[s.Var.Name] = &local{pos: s.Var.Pos, typ: t}
		c.record(s.Var, t)
	case *ast.IfStmt:
		if t := c.expr(s.Cond); !t.scalar() {
			c.errorf(s.Cond.Position(), "an if condition must be an integer, not %s", t)
		}
		c.block(s.Then)
		if s.Else != nil {
			c.stmt(s.Else)
		}
	case *ast.WhileStmt:
		if t := c.expr(s.Cond); !t.scalar() {
			c.errorf(s.Cond.Position(), "a while condition must be an integer, not %s", t)
		}
		c.loops++
		c.block(s.Body)
		c.loops--
	case *ast.ForStmt:
		c.forStmt(s)
	case *ast.UnrollStmt:
		c.unrollCount(s.Count)
		c.block(s.Body)
	case *ast.ReturnStmt:
		if s.Value != nil {
			if t := c.expr(s.Value); !t.scalar() {
				c.errorf(s.Value.Position(), "return takes an integer, not %s", t)
			}
		}
	case *ast.BranchStmt:
		if c.loops == 0 {
			c.errorf(s.Pos, "%s outside a while or for loop", s.Tok)
		}
	}
}

// unrollCount checks unroll's count: an integer literal or a positional
// parameter holding one, from 1 to 100.
func (c *checker) unrollCount(x ast.Expr) {
	var n uint64
	switch x := x.(type) {
	case *ast.IntLit:
		n = x.Value
	case *ast.Positional:
		c.expr(x)
		if x.Count || c.conf.Params == nil {
			return
		}
		v := "0"
		if x.N <= len(c.conf.Params) {
			v = c.conf.Params[x.N-1]
		}
		var err error
		if n, err = strconv.ParseUint(v, 0, 64); err != nil {
			c.errorf(x.Pos, "unroll count $%d is %q, not an integer", x.N, v)
			return
		}
	default:
		c.errorf(x.Position(), "unroll takes an integer literal or a positional parameter")
		return
	}
	if n < 1 || n > 100 {
		c.errorf(x.Position(), "unroll count must be between 1 and 100, not %d", n)
	}
}

func (c *checker) forStmt(s *ast.ForStmt) {
	var t Type
	if s.Map != nil {
		m := c.mapWhole(s.Map)
		if m != nil && !m.Keyed && c.pass == 2 {
			c.errorf(s.Map.Pos, "for iterates over a map with keys; @%s has none", s.Map.Name)
		}
		key, val := unknown, unknown
		if m != nil {
			val = m.Value
			if len(m.Keys) == 1 {
				key = m.Keys[0]
			} else if len(m.Keys) > 1 {
				key = Type{Kind: Tuple, Elems: m.Keys}
			}
		}
		t = Type{Kind: Tuple, Elems: []Type{key, val}}
	} else {
		for _, x := range []ast.Expr{s.Lo, s.Hi} {
			if u := c.expr(x); !u.scalar() {
				c.errorf(x.Position(), "a for range bound must be an integer, not %s", u)
			}
		}
		t = intT
	}
	saved, had := c.locals[s.Var.Name]
	if had && c.pass == 2 {
		c.errorf(s.Var.Pos, "for variable $%s shadows the variable set at %d:%d", s.Var.Name, saved.pos.Line, saved.pos.Col)
	}
	c.locals[s.Var.Name] = &local{pos: s.Var.Pos, typ: t}
	c.record(s.Var, t)
	c.loops++
	c.block(s.Body)
	c.loops--
	delete(c.locals, s.Var.Name)
	if had {
		c.locals[s.Var.Name] = saved
	}
}

func (c *checker) record(x ast.Expr, t Type) Type {
	c.info.Types[x] = t
	return t
}

// assign checks "target op value".
func (c *checker) assign(s *ast.AssignStmt) {
	if call, ok := s.Value.(*ast.Call); ok && s.Op == "=" {
		if agg, ok := aggregations[call.Name]; ok {
			m, isMap := s.Target.(*ast.MapExpr)
			if !isMap {
				c.errorf(call.Pos, "%s() can only be assigned to a map: @name = %s(…)", call.Name, call.Name)
				c.args(call)
				return
			}
			c.arity(call, functions[call.Name])
			ts := c.args(call)
			c.argKinds(call, functions[call.Name], ts)
			c.aggArgs(call)
			c.record(call, Type{Kind: agg})
			c.defineMap(m, Type{Kind: agg}, s.Pos)
			return
		}
	}
	var vt Type
	if s.Op == "=" {
		vt = c.valueExpr(s.Value, "assigned")
	} else {
		vt = c.expr(s.Value)
		if !vt.scalar() {
			c.errorf(s.Value.Position(), "%s needs an integer on the right, not %s", s.Op, vt)
		}
		vt = intT
	}
	switch t := s.Target.(type) {
	case *ast.Var:
		l, ok := c.locals[t.Name]
		switch {
		case !ok && s.Op != "=":
			c.errorf(t.Pos, "undefined variable $%s", t.Name)
			c.locals[t.Name] = &local{pos: t.Pos, typ: intT}
		case !ok:
			c.locals[t.Name] = &local{pos: t.Pos, typ: vt}
		case s.Op != "=" && !l.typ.scalar():
			c.errorf(t.Pos, "%s needs an integer variable; $%s holds %s", s.Op, t.Name, l.typ)
		case !compatible(l.typ, vt):
			c.errorf(s.Value.Position(), "type mismatch for $%s: assigning %s, but it holds %s (set at %d:%d)", t.Name, vt, l.typ, l.pos.Line, l.pos.Col)
		case l.typ.Kind == Unknown:
			l.typ = vt
		}
		c.record(t, c.locals[t.Name].typ)
	case *ast.MapExpr:
		m := c.defineMap(t, vt, s.Pos)
		if s.Op != "=" && m != nil && !m.Value.scalar() {
			c.errorf(t.Pos, "%s needs an integer map; @%s holds %s", s.Op, t.Name, m.Value)
		}
	}
}

// aggArgs checks the arguments of an aggregation.
func (c *checker) aggArgs(call *ast.Call) {
	if call.Name == "lhist" && len(call.Args) == 4 {
		for _, a := range call.Args[1:] {
			if _, ok := a.(*ast.IntLit); !ok {
				if _, ok := a.(*ast.Positional); !ok {
					c.errorf(a.Position(), "lhist's min, max and step must be integer literals")
				}
			}
		}
		lo, ok1 := call.Args[1].(*ast.IntLit)
		hi, ok2 := call.Args[2].(*ast.IntLit)
		st, ok3 := call.Args[3].(*ast.IntLit)
		if ok1 && ok2 && lo.Value >= hi.Value {
			c.errorf(call.Args[2].Position(), "lhist max (%d) must be above min (%d)", hi.Value, lo.Value)
		}
		if ok3 && st.Value == 0 {
			c.errorf(st.Pos, "lhist step must be positive")
		}
	}
	if call.Name == "hist" && len(call.Args) == 2 {
		if k, ok := call.Args[1].(*ast.IntLit); !ok || k.Value > 5 {
			c.errorf(call.Args[1].Position(), "hist's second argument (buckets per power of 2, as log2) must be an integer literal from 0 to 5")
		}
	}
}

// defineMap records an assignment of a value of type vt to a map.
func (c *checker) defineMap(m *ast.MapExpr, vt Type, pos ast.Pos) *Map {
	keys := c.keyTypes(m)
	info, ok := c.info.Maps[m.Name]
	if !ok {
		info = &Map{Name: m.Name, Pos: m.Pos, Keys: keys, Keyed: m.Keys != nil, Value: vt}
		c.info.Maps[m.Name] = info
		c.record(m, vt)
		return info
	}
	c.checkKeys(info, m, keys)
	switch {
	case info.Value.Kind >= Count || vt.Kind >= Count:
		if info.Value.Kind != vt.Kind {
			c.errorf(pos, "@%s holds %s (set at %d:%d); it cannot also take %s", m.Name, info.Value, info.Pos.Line, info.Pos.Col, vt)
		}
	case !compatible(info.Value, vt):
		c.errorf(pos, "type mismatch for @%s: assigning %s, but it holds %s (set at %d:%d)", m.Name, vt, info.Value, info.Pos.Line, info.Pos.Col)
	case info.Value.Kind == Unknown && c.pass == 1:
		info.Value = vt
	}
	c.record(m, info.Value)
	return info
}

func (c *checker) keyTypes(m *ast.MapExpr) []Type {
	if m.Keys == nil {
		return nil
	}
	keys := make([]Type, len(m.Keys))
	for i, k := range m.Keys {
		keys[i] = c.valueExpr(k, "used as a map key")
	}
	return keys
}

func (c *checker) checkKeys(info *Map, m *ast.MapExpr, keys []Type) {
	// A tuple as the only key stands for its elements: @m[(a, b)] is
	// @m[a, b].
	if len(keys) == 1 && keys[0].Kind == Tuple && len(info.Keys) == len(keys[0].Elems) {
		keys = keys[0].Elems
	} else if len(keys) == 1 && keys[0].Kind == Unknown && len(info.Keys) > 1 {
		return
	}
	if info.Keyed != (m.Keys != nil) || len(info.Keys) != len(keys) {
		c.errorf(m.Pos, "@%s is used with %s here but with %s at %d:%d", m.Name, keyCount(len(keys)), keyCount(len(info.Keys)), info.Pos.Line, info.Pos.Col)
		return
	}
	for i := range keys {
		if !compatible(info.Keys[i], keys[i]) {
			c.errorf(m.Keys[min(i, len(m.Keys)-1)].Position(), "@%s key %d is %s here but %s at %d:%d", m.Name, i+1, keys[i], info.Keys[i], info.Pos.Line, info.Pos.Col)
		} else if info.Keys[i].Kind == Unknown && c.pass == 1 {
			info.Keys[i] = keys[i]
		}
	}
}

func keyCount(n int) string {
	switch n {
	case 0:
		return "no key"
	case 1:
		return "1 key"
	}
	return strconv.Itoa(n) + " keys"
}

// mapRef checks a read of a map and returns what is known of it.
func (c *checker) mapRef(m *ast.MapExpr) *Map {
	keys := c.keyTypes(m)
	info, ok := c.info.Maps[m.Name]
	if !ok {
		if c.pass == 2 {
			names := make([]string, 0, len(c.info.Maps))
			for n := range c.info.Maps {
				names = append(names, "@"+n)
			}
			c.errorf(m.Pos, "undefined map @%s: it is never assigned%s", m.Name, suggest("@"+m.Name, names))
		}
		return nil
	}
	c.checkKeys(info, m, keys)
	return info
}

// mapWhole checks a reference to a whole map (print(@m), clear(@m),
// for ($kv : @m)): the map must exist; its keys are not given.
func (c *checker) mapWhole(m *ast.MapExpr) *Map {
	if m.Keys != nil {
		return c.mapRef(m)
	}
	info, ok := c.info.Maps[m.Name]
	if !ok {
		return c.mapRef(m)
	}
	return info
}

// valueExpr checks an expression whose value is stored or passed on.
func (c *checker) valueExpr(x ast.Expr, what string) Type {
	t := c.expr(x)
	if !t.value() {
		c.errorf(x.Position(), "%s cannot be %s", describe(x, t), what)
		return unknown
	}
	return t
}

func describe(x ast.Expr, t Type) string {
	if call, ok := x.(*ast.Call); ok && t.Kind == Void {
		return call.Name + "() returns no value and"
	}
	return "a value of type " + t.String()
}

func (c *checker) expr(x ast.Expr) Type { return c.exprAllowVoid(x, false) }

func (c *checker) exprAllowVoid(x ast.Expr, stmt bool) Type {
	t := c.expr1(x, stmt)
	c.info.Types[x] = t
	return t
}

func (c *checker) scalarOperand(x ast.Expr, op string) Type {
	t := c.expr(x)
	if !t.scalar() {
		c.errorf(x.Position(), "operator %s needs an integer, not %s", op, t)
	}
	return t
}

func (c *checker) expr1(x ast.Expr, stmt bool) Type {
	switch x := x.(type) {
	case *ast.IntLit:
		return intT
	case *ast.StrLit:
		return strT
	case *ast.BoolLit:
		return intT
	case *ast.Ident:
		return c.ident(x)
	case *ast.Var:
		l, ok := c.locals[x.Name]
		if !ok {
			names := make([]string, 0, len(c.locals))
			for n := range c.locals {
				names = append(names, "$"+n)
			}
			c.errorf(x.Pos, "undefined variable $%s%s", x.Name, suggest("$"+x.Name, names))
			return unknown
		}
		return l.typ
	case *ast.Positional:
		if x.Count {
			return intT
		}
		c.info.MaxParam = max(c.info.MaxParam, x.N)
		if c.conf.Params == nil {
			return unknown
		}
		if x.N > len(c.conf.Params) {
			return intT
		}
		if _, err := strconv.ParseInt(c.conf.Params[x.N-1], 0, 64); err == nil {
			return intT
		}
		return strT
	case *ast.MapExpr:
		m := c.mapRef(x)
		if m == nil {
			return unknown
		}
		switch m.Value.Kind {
		case Count, Sum, Avg, Min, Max:
			return intT
		}
		return m.Value
	case *ast.Unary:
		switch x.Op {
		case "++", "--":
			return c.incdec(x.X, x.Op)
		case "*":
			c.scalarOperand(x.X, "*")
			return unknown
		}
		c.scalarOperand(x.X, x.Op)
		return intT
	case *ast.Postfix:
		return c.incdec(x.X, x.Op)
	case *ast.Binary:
		return c.binary(x)
	case *ast.Ternary:
		if t := c.expr(x.Cond); !t.scalar() {
			c.errorf(x.Cond.Position(), "a ternary condition must be an integer, not %s", t)
		}
		a := c.valueExpr(x.X, "a ternary branch")
		b := c.valueExpr(x.Y, "a ternary branch")
		if !compatible(a, b) {
			c.errorf(x.Pos, "ternary branches differ: %s and %s", a, b)
		}
		if a.Kind == Unknown {
			return b
		}
		return a
	case *ast.Call:
		return c.call(x, stmt)
	case *ast.Cast:
		t := c.expr(x.X)
		if t.Kind == String || t.Kind == Tuple || !t.value() {
			c.errorf(x.Pos, "cannot cast %s to %s", t, x.Type)
		}
		switch {
		case x.Type.IsArray:
			return unknown
		case x.Type.Ptr > 0:
			return Type{Kind: Pointer, Name: x.Type.Name}
		case strings.HasPrefix(x.Type.Name, "struct ") || strings.HasPrefix(x.Type.Name, "union "):
			return unknown
		}
		return intT
	case *ast.Field:
		t := c.expr(x.X)
		switch t.Kind {
		case Unknown, Pointer, Args:
			return unknown
		case Tuple:
			i, err := strconv.Atoi(x.Name)
			if err != nil || x.Arrow {
				c.errorf(x.Pos, "a tuple's elements are .0, .1…; not %s%s", map[bool]string{true: "->", false: "."}[x.Arrow], x.Name)
				return unknown
			}
			if i >= len(t.Elems) {
				c.errorf(x.Pos, "tuple index %d out of range: the tuple has %d elements", i, len(t.Elems))
				return unknown
			}
			return t.Elems[i]
		}
		c.errorf(x.Pos, "cannot access field %s of %s; cast it to a struct pointer first, e.g. ((struct task_struct *)x)->%s", x.Name, t, x.Name)
		return unknown
	case *ast.Index:
		t := c.expr(x.X)
		if it := c.expr(x.Index); !it.scalar() {
			c.errorf(x.Index.Position(), "an index must be an integer, not %s", it)
		}
		switch t.Kind {
		case Unknown, Pointer:
			return unknown
		case String:
			return intT // a byte
		}
		c.errorf(x.Pos, "cannot index %s", t)
		return unknown
	case *ast.Tuple:
		tt := Type{Kind: Tuple}
		for _, e := range x.Elems {
			tt.Elems = append(tt.Elems, c.valueExpr(e, "a tuple element"))
		}
		return tt
	case *ast.Sizeof:
		if x.X != nil {
			c.expr(x.X)
		}
		return intT
	case *ast.Offsetof:
		return intT
	}
	return unknown
}

func (c *checker) incdec(x ast.Expr, op string) Type {
	switch t := x.(type) {
	case *ast.Var:
		l, ok := c.locals[t.Name]
		if !ok {
			c.errorf(t.Pos, "undefined variable $%s", t.Name)
			c.locals[t.Name] = &local{pos: t.Pos, typ: intT}
		} else if !l.typ.scalar() {
			c.errorf(t.Pos, "%s needs an integer; $%s holds %s", op, t.Name, l.typ)
		}
		c.record(t, intT)
		return intT
	case *ast.MapExpr:
		m := c.defineMap(t, intT, t.Pos)
		if m != nil && !m.Value.scalar() {
			c.errorf(t.Pos, "%s needs an integer map; @%s holds %s", op, t.Name, m.Value)
		}
		return intT
	}
	c.expr(x)
	c.errorf(x.Position(), "%s applies to a $variable or an @map", op)
	return intT
}

func (c *checker) binary(x *ast.Binary) Type {
	switch x.Op {
	case "==", "!=":
		a := c.valueExpr(x.X, "compared")
		b := c.valueExpr(x.Y, "compared")
		if (a.Kind == String) != (b.Kind == String) && a.Kind != Unknown && b.Kind != Unknown {
			c.errorf(x.Pos, "cannot compare %s with %s", a, b)
		} else if a.Kind != String && a.Kind != Unknown && !a.scalar() || b.Kind != String && b.Kind != Unknown && !b.scalar() {
			if !compatible(a, b) {
				c.errorf(x.Pos, "cannot compare %s with %s", a, b)
			}
		}
		return intT
	}
	c.scalarOperand(x.X, x.Op)
	c.scalarOperand(x.Y, x.Op)
	return intT
}

func (c *checker) ident(x *ast.Ident) Type {
	if c.names[x.Name] {
		return unknown
	}
	b, ok := lookupBuiltin(x.Name)
	if !ok {
		if isConstName(x.Name) {
			return unknown
		}
		if _, isFunc := functions[x.Name]; isFunc {
			c.errorf(x.Pos, "%s is a function: call it as %s()", x.Name, x.Name)
			return unknown
		}
		c.errorf(x.Pos, "unknown identifier %q%s", x.Name, suggest(x.Name, builtinNames()))
		return unknown
	}
	c.only(x.Pos, x.Name, b.only)
	if b.child && !c.conf.Child {
		c.errorf(x.Pos, "%s needs a command to trace (-c)", x.Name)
	}
	return b.typ
}

// only reports a builtin used in a probe type that lacks it.
func (c *checker) only(pos ast.Pos, name string, only []string) {
	if only == nil {
		return
	}
	for _, k := range c.kinds {
		if !contains(only, k) {
			c.errorf(pos, "%s is not available in %s probes (only in %s)", name, k, strings.Join(only, ", "))
			return
		}
	}
}

// args checks a call's arguments as plain expressions.
func (c *checker) args(call *ast.Call) []Type {
	ts := make([]Type, len(call.Args))
	for i, a := range call.Args {
		ts[i] = c.valueExpr(a, "passed to "+call.Name+"()")
	}
	return ts
}

func (c *checker) call(x *ast.Call, stmt bool) Type {
	if m, ok := c.macros[x.Name]; ok {
		return c.macroCall(x, m)
	}
	f, ok := functions[x.Name]
	if !ok {
		names := functionNames()
		for n := range c.macros {
			names = append(names, n)
		}
		c.errorf(x.Pos, "unknown function %s()%s", x.Name, suggest(x.Name, names))
		for _, a := range x.Args {
			c.expr(a)
		}
		return unknown
	}
	if agg, ok := aggregations[x.Name]; ok {
		c.errorf(x.Pos, "%s() can only be assigned to a map: @name = %s(…)", x.Name, x.Name)
		c.args(x)
		return Type{Kind: agg}
	}
	n := len(x.Args)
	c.arity(x, f)
	if f.unsafe {
		c.info.Unsafe = true
		if !c.conf.Unsafe {
			c.errorf(x.Pos, "%s() is unsafe: allow it with --unsafe", x.Name)
		}
	}
	if f.only != nil {
		c.only(x.Pos, x.Name+"()", f.only)
	}
	for _, k := range c.kinds {
		if contains(f.never, k) {
			c.errorf(x.Pos, "%s() cannot be used in %s probes", x.Name, k)
			break
		}
	}
	var ts []Type
	switch {
	case f.mapArg && n > 0:
		m, isMap := x.Args[0].(*ast.MapExpr)
		switch {
		case !isMap:
			c.errorf(x.Args[0].Position(), "%s() takes a map as its first argument", x.Name)
			c.expr(x.Args[0])
		case (x.Name == "clear" || x.Name == "zero") && m.Keys != nil:
			c.errorf(m.Pos, "%s() takes a whole map: write %s(@%s)", x.Name, x.Name, m.Name)
		case x.Name == "delete" && n == 1 || x.Name == "has_key":
			if x.Name == "has_key" {
				c.mapWhole(m)
			} else {
				c.mapRef(m)
			}
		default:
			c.mapWhole(m)
		}
		if isMap {
			c.record(m, unknown)
		}
		for _, a := range x.Args[1:] {
			ts = append(ts, c.valueExpr(a, "passed to "+x.Name+"()"))
		}
		ts = append([]Type{unknown}, ts...)
	case x.Name == "print" && n > 0:
		if m, isMap := x.Args[0].(*ast.MapExpr); isMap {
			c.mapWhole(m)
			c.record(m, unknown)
			ts = append([]Type{unknown}, c.argsFrom(x, 1)...)
		} else {
			ts = c.args(x)
		}
	case x.Name == "len" && n == 1:
		if m, isMap := x.Args[0].(*ast.MapExpr); isMap && m.Keys == nil {
			c.mapWhole(m)
			c.record(m, unknown)
			ts = []Type{unknown}
		} else {
			ts = c.args(x)
		}
	case (x.Name == "kstack" || x.Name == "ustack") && n > 0:
		// The first argument may be a stack mode.
		if id, ok := x.Args[0].(*ast.Ident); ok && contains(configChoices["stack_mode"], id.Name) {
			c.record(id, strT)
			ts = append([]Type{strT}, c.argsFrom(x, 1)...)
		} else {
			ts = c.args(x)
		}
	default:
		ts = c.args(x)
	}
	c.argKinds(x, f, ts)
	if f.fmtArg && n > 0 {
		c.format(x, ts)
	}
	if f.stmt && !stmt {
		return voidT
	}
	return f.ret
}

// macroCall checks a call of a macro: one argument per parameter, a map
// where the parameter is a map.
func (c *checker) macroCall(x *ast.Call, m *ast.Macro) Type {
	if len(x.Args) != len(m.Params) {
		c.errorf(x.Pos, "macro %s takes %d argument%s, not %d", m.Name, len(m.Params), plural(len(m.Params)), len(x.Args))
	}
	for i, a := range x.Args {
		if i < len(m.Params) {
			if _, isMap := m.Params[i].(*ast.MapExpr); isMap {
				if am, ok := a.(*ast.MapExpr); ok && am.Keys == nil {
					c.mapWhole(am)
					c.record(am, unknown)
				} else {
					c.errorf(a.Position(), "macro %s takes a map as argument %d", m.Name, i+1)
				}
				continue
			}
		}
		c.valueExpr(a, "passed to "+m.Name+"()")
	}
	return unknown
}

// arity checks a call's number of arguments.
func (c *checker) arity(x *ast.Call, f function) {
	n := len(x.Args)
	switch {
	case n < f.min && f.max == f.min:
		c.errorf(x.Pos, "%s() takes %d argument%s, not %d", x.Name, f.min, plural(f.min), n)
	case n < f.min:
		c.errorf(x.Pos, "%s() takes at least %d argument%s, not %d", x.Name, f.min, plural(f.min), n)
	case f.max >= 0 && n > f.max && f.max == f.min:
		c.errorf(x.Pos, "%s() takes %d argument%s, not %d", x.Name, f.max, plural(f.max), n)
	case f.max >= 0 && n > f.max:
		c.errorf(x.Pos, "%s() takes at most %d argument%s, not %d", x.Name, f.max, plural(f.max), n)
	}
}

// argKinds checks the arguments that must be strings or integers.
func (c *checker) argKinds(x *ast.Call, f function, ts []Type) {
	for _, i := range f.strArg {
		if i < len(ts) && ts[i].Kind != String && ts[i].Kind != Unknown {
			c.errorf(x.Args[i].Position(), "%s() argument %d must be a string, not %s", x.Name, i+1, ts[i])
		}
	}
	for _, i := range f.intArg {
		if i < len(ts) && !ts[i].scalar() {
			c.errorf(x.Args[i].Position(), "%s() argument %d must be an integer, not %s", x.Name, i+1, ts[i])
		}
	}
}

func (c *checker) argsFrom(call *ast.Call, from int) []Type {
	var ts []Type
	for _, a := range call.Args[from:] {
		ts = append(ts, c.valueExpr(a, "passed to "+call.Name+"()"))
	}
	return ts
}

// format checks a printf-like call's format string against its arguments.
func (c *checker) format(x *ast.Call, ts []Type) {
	lit, ok := x.Args[0].(*ast.StrLit)
	if !ok {
		c.errorf(x.Args[0].Position(), "%s() needs a string literal as its format", x.Name)
		return
	}
	vs, msg := verbs(lit.Value)
	if msg != "" {
		c.errorf(lit.Pos, "%s() format: %s", x.Name, msg)
		return
	}
	if got := len(x.Args) - 1; got != len(vs) {
		c.errorf(x.Pos, "%s() format has %d conversion%s, but %d argument%s given", x.Name, len(vs), plural(len(vs)), got, plural(got))
		return
	}
	for i, v := range vs {
		t := ts[i+1]
		switch {
		case strings.IndexByte("diuxXoc", v) >= 0 && !t.scalar():
			c.errorf(x.Args[i+1].Position(), "%s() %%%c needs an integer, not %s", x.Name, v, t)
		case v == 's' && t.Kind != String && t.Kind != Unknown && t.Kind != Stack && t.Kind != Inet:
			c.errorf(x.Args[i+1].Position(), "%s() %%s needs a string, not %s", x.Name, t)
		}
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// String is for debugging.
func (m *Map) String() string {
	return fmt.Sprintf("@%s%v: %s", m.Name, m.Keys, m.Value)
}
