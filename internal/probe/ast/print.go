package ast

import (
	"fmt"
	"strconv"
	"strings"
)

// Sexpr prints a node (a *Program, *Probe, Stmt or Expr) as a compact
// s-expression without positions, e.g. (probe (ap kprobe vfs_read)
// (block (= (@ calls (call comm)) ...))). Tests compare trees with it.
func Sexpr(n any) string {
	var b strings.Builder
	sexpr(&b, n)
	return b.String()
}

func sexprList[T any](b *strings.Builder, xs []T) {
	for _, x := range xs {
		b.WriteByte(' ')
		sexpr(b, x)
	}
}

func sexpr(b *strings.Builder, n any) {
	switch n := n.(type) {
	case *Program:
		b.WriteString("(program")
		for _, d := range n.Directives {
			fmt.Fprintf(b, " (directive %q)", d.Text)
		}
		for _, d := range n.CDefs {
			fmt.Fprintf(b, " (cdef %s %s)", d.Kind, d.Name)
		}
		if n.Config != nil {
			b.WriteString(" (config")
			for _, it := range n.Config.Items {
				fmt.Fprintf(b, " (%s ", it.Key)
				sexpr(b, it.Value)
				b.WriteByte(')')
			}
			b.WriteByte(')')
		}
		sexprList(b, n.Macros)
		sexprList(b, n.Probes)
		b.WriteByte(')')
	case *Macro:
		b.WriteString("(macro " + n.Name + " (")
		for i, p := range n.Params {
			if i > 0 {
				b.WriteByte(' ')
			}
			sexpr(b, p)
		}
		b.WriteString(") ")
		sexpr(b, n.Body)
		b.WriteByte(')')
	case *Probe:
		b.WriteString("(probe")
		for _, a := range n.Attach {
			b.WriteString(" (ap ")
			b.WriteString(a.Provider)
			for _, p := range a.Parts {
				b.WriteByte(' ')
				if p == "" || strings.ContainsAny(p, " ()\"") {
					b.WriteString(strconv.Quote(p))
				} else {
					b.WriteString(p)
				}
			}
			if a.HasOffset {
				fmt.Fprintf(b, " +%d", a.Offset)
			}
			b.WriteByte(')')
		}
		if n.Pred != nil {
			b.WriteString(" (pred ")
			sexpr(b, n.Pred)
			b.WriteByte(')')
		}
		b.WriteByte(' ')
		sexpr(b, n.Body)
		b.WriteByte(')')
	case *Block:
		b.WriteString("(block")
		sexprList(b, n.Stmts)
		b.WriteByte(')')
	case *ExprStmt:
		sexpr(b, n.X)
	case *AssignStmt:
		fmt.Fprintf(b, "(%s ", n.Op)
		sexpr(b, n.Target)
		b.WriteByte(' ')
		sexpr(b, n.Value)
		b.WriteByte(')')
	case *LetStmt:
		b.WriteString("(let ")
		sexpr(b, n.Var)
		if n.Value != nil {
			b.WriteByte(' ')
			sexpr(b, n.Value)
		}
		b.WriteByte(')')
	case *IfStmt:
		b.WriteString("(if ")
		sexpr(b, n.Cond)
		b.WriteByte(' ')
		sexpr(b, n.Then)
		if n.Else != nil {
			b.WriteByte(' ')
			sexpr(b, n.Else)
		}
		b.WriteByte(')')
	case *WhileStmt:
		b.WriteString("(while ")
		sexpr(b, n.Cond)
		b.WriteByte(' ')
		sexpr(b, n.Body)
		b.WriteByte(')')
	case *ForStmt:
		b.WriteString("(for ")
		sexpr(b, n.Var)
		if n.Map != nil {
			b.WriteByte(' ')
			sexpr(b, n.Map)
		} else {
			b.WriteString(" (range ")
			sexpr(b, n.Lo)
			b.WriteByte(' ')
			sexpr(b, n.Hi)
			b.WriteByte(')')
		}
		b.WriteByte(' ')
		sexpr(b, n.Body)
		b.WriteByte(')')
	case *UnrollStmt:
		b.WriteString("(unroll ")
		sexpr(b, n.Count)
		b.WriteByte(' ')
		sexpr(b, n.Body)
		b.WriteByte(')')
	case *ReturnStmt:
		b.WriteString("(return")
		if n.Value != nil {
			b.WriteByte(' ')
			sexpr(b, n.Value)
		}
		b.WriteByte(')')
	case *BranchStmt:
		fmt.Fprintf(b, "(%s)", n.Tok)
	case *IntLit:
		fmt.Fprintf(b, "%d", n.Value)
	case *StrLit:
		b.WriteString(strconv.Quote(n.Value))
	case *BoolLit:
		fmt.Fprint(b, n.Value)
	case *Ident:
		b.WriteString(n.Name)
	case *Var:
		b.WriteString("$" + n.Name)
	case *Positional:
		if n.Count {
			b.WriteString("$#")
		} else {
			fmt.Fprintf(b, "$%d", n.N)
		}
	case *MapExpr:
		if n.Keys == nil {
			b.WriteString("@" + n.Name)
			return
		}
		b.WriteString("([] @" + n.Name)
		sexprList(b, n.Keys)
		b.WriteByte(')')
	case *Unary:
		op := n.Op
		if op == "++" || op == "--" {
			op = "pre" + op
		}
		fmt.Fprintf(b, "(%s ", op)
		sexpr(b, n.X)
		b.WriteByte(')')
	case *Postfix:
		fmt.Fprintf(b, "(post%s ", n.Op)
		sexpr(b, n.X)
		b.WriteByte(')')
	case *Binary:
		fmt.Fprintf(b, "(%s ", n.Op)
		sexpr(b, n.X)
		b.WriteByte(' ')
		sexpr(b, n.Y)
		b.WriteByte(')')
	case *Ternary:
		b.WriteString("(? ")
		sexpr(b, n.Cond)
		b.WriteByte(' ')
		sexpr(b, n.X)
		b.WriteByte(' ')
		sexpr(b, n.Y)
		b.WriteByte(')')
	case *Call:
		b.WriteString("(call " + n.Name)
		sexprList(b, n.Args)
		b.WriteByte(')')
	case *Cast:
		fmt.Fprintf(b, "(cast %q ", n.Type.String())
		sexpr(b, n.X)
		b.WriteByte(')')
	case *Field:
		op := "."
		if n.Arrow {
			op = "->"
		}
		fmt.Fprintf(b, "(%s ", op)
		sexpr(b, n.X)
		b.WriteString(" " + n.Name + ")")
	case *Index:
		b.WriteString("(index ")
		sexpr(b, n.X)
		b.WriteByte(' ')
		sexpr(b, n.Index)
		b.WriteByte(')')
	case *Tuple:
		b.WriteString("(tuple")
		sexprList(b, n.Elems)
		b.WriteByte(')')
	case *Sizeof:
		b.WriteString("(sizeof ")
		if n.Type != nil {
			b.WriteString(strconv.Quote(n.Type.String()))
		} else {
			sexpr(b, n.X)
		}
		b.WriteByte(')')
	case *Offsetof:
		fmt.Fprintf(b, "(offsetof %q %s)", n.Type.String(), strings.Join(n.Fields, "."))
	case nil:
		b.WriteString("nil")
	default:
		fmt.Fprintf(b, "(? %T)", n)
	}
}

// String prints a type as it is written in a cast: "struct sock *",
// "uint8[4]".
func (t *Type) String() string {
	s := t.Name
	if t.Ptr > 0 {
		s += " " + strings.Repeat("*", t.Ptr)
	}
	if t.IsArray {
		s += "[" + strconv.Itoa(t.ArrayLen) + "]"
	}
	return s
}
