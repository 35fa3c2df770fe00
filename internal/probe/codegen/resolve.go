package codegen

import (
	"strings"

	"github.com/kscope/kscope/internal/probe/ast"
	"github.com/kscope/kscope/internal/probe/check"
)

// resolveUnknown gives a type to the map keys and values the checker left
// Unknown (tracepoint fields): a string where the expression stored is a
// char array of the tracepoint's record, else an integer.
func (c *compiler) resolveUnknown() {
	for _, pr := range c.prog.Probes {
		var aps []*ast.AttachPoint
		for _, ap := range pr.Attach {
			if aliasOf(ap.Provider) == "tracepoint" && len(ap.Parts) == 2 && c.opts.Tracepoints != nil {
				if names, err := c.opts.Tracepoints(ap.Parts[0] + ":" + ap.Parts[1]); err == nil && len(names) > 0 {
					for _, n := range names {
						cat, name, _ := strings.Cut(n, ":")
						aps = append(aps, &ast.AttachPoint{Provider: "tracepoint", Parts: []string{cat, name}})
					}
					continue
				}
			}
			aps = append(aps, ap)
		}
		for _, ap := range aps {
			f := &fn{c: c, probe: &Probe{Provider: aliasOf(ap.Provider)}, locals: map[string]local{}}
			if f.probe.Provider == "tracepoint" && c.opts.Format != nil && len(ap.Parts) == 2 {
				f.format, _ = c.opts.Format(ap.Parts[0], ap.Parts[1])
			}
			// Locals' C types (BTF) tell which of their members are strings.
			f.declareLocals(pr.Body)
			var stmt func(s ast.Stmt)
			var expr func(x ast.Expr)
			mapKeys := func(m *ast.MapExpr) {
				info := c.info.Maps[m.Name]
				if info == nil {
					return
				}
				keys := m.Keys
				if len(keys) == 1 && len(info.Keys) > 1 {
					if t, ok := keys[0].(*ast.Tuple); ok {
						keys = t.Elems
					}
				}
				for i, k := range keys {
					if i < len(info.Keys) && info.Keys[i].Kind == check.Unknown && f.safeIsString(k) {
						info.Keys[i] = check.Type{Kind: check.String}
					}
				}
			}
			expr = func(x ast.Expr) {
				switch x := x.(type) {
				case *ast.MapExpr:
					mapKeys(x)
					for _, k := range x.Keys {
						expr(k)
					}
				case *ast.Unary:
					expr(x.X)
				case *ast.Postfix:
					expr(x.X)
				case *ast.Binary:
					expr(x.X)
					expr(x.Y)
				case *ast.Ternary:
					expr(x.Cond)
					expr(x.X)
					expr(x.Y)
				case *ast.Call:
					for _, a := range x.Args {
						expr(a)
					}
				case *ast.Cast:
					expr(x.X)
				case *ast.Field:
					expr(x.X)
				case *ast.Index:
					expr(x.X)
					expr(x.Index)
				case *ast.Tuple:
					for _, e := range x.Elems {
						expr(e)
					}
				}
			}
			stmt = func(s ast.Stmt) {
				switch s := s.(type) {
				case *ast.Block:
					for _, t := range s.Stmts {
						stmt(t)
					}
				case *ast.ExprStmt:
					expr(s.X)
				case *ast.AssignStmt:
					expr(s.Target)
					expr(s.Value)
					if m, ok := s.Target.(*ast.MapExpr); ok && s.Op == "=" {
						if info := c.info.Maps[m.Name]; info != nil && info.Value.Kind == check.Unknown && f.safeIsString(s.Value) {
							info.Value = check.Type{Kind: check.String}
						}
					}
				case *ast.LetStmt:
					if s.Value != nil {
						expr(s.Value)
					}
				case *ast.IfStmt:
					expr(s.Cond)
					stmt(s.Then)
					if s.Else != nil {
						stmt(s.Else)
					}
				case *ast.WhileStmt:
					expr(s.Cond)
					stmt(s.Body)
				case *ast.ForStmt:
					stmt(s.Body)
				case *ast.UnrollStmt:
					stmt(s.Body)
				}
			}
			if pr.Pred != nil {
				expr(pr.Pred)
			}
			stmt(pr.Body)
		}
	}
}

// safeIsString is isString that reports false instead of failing on an
// unknown field (the probe's own compilation reports it).
func (f *fn) safeIsString(x ast.Expr) (str bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(*ast.Error); !ok {
				panic(r)
			}
			str = false
		}
	}()
	return f.isString(x)
}
