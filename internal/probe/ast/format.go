package ast

import (
	"fmt"
	"strings"
)

// Format prints a program as source text that parses back to the same
// tree. Compound expressions are fully parenthesized; comments and layout
// are not kept.
func Format(p *Program) string {
	f := &formatter{}
	for _, d := range p.Directives {
		f.line(d.Text)
		if strings.HasSuffix(d.Text, "\\") {
			f.line("") // end the continued line
		}
	}
	for _, d := range p.CDefs {
		f.line(d.Text + ";")
	}
	if p.Config != nil {
		f.line("config = {")
		for _, it := range p.Config.Items {
			f.line("\t" + it.Key + " = " + FormatExpr(it.Value) + ";")
		}
		f.line("}")
	}
	for _, m := range p.Macros {
		f.b.WriteString("macro " + m.Name + "(" + formatList(m.Params) + ") ")
		f.block(m.Body, 0)
		f.b.WriteByte('\n')
	}
	for _, pr := range p.Probes {
		aps := make([]string, len(pr.Attach))
		for i, a := range pr.Attach {
			aps[i] = a.Raw
		}
		head := strings.Join(aps, ",\n")
		if pr.Pred != nil {
			head += " /" + FormatExpr(pr.Pred) + "/"
		}
		f.line(head)
		f.block(pr.Body, 0)
		f.b.WriteByte('\n')
	}
	return f.b.String()
}

type formatter struct{ b strings.Builder }

func (f *formatter) line(s string) {
	f.b.WriteString(s)
	f.b.WriteByte('\n')
}

func (f *formatter) indent(n int) {
	for range n {
		f.b.WriteByte('\t')
	}
}

func (f *formatter) block(b *Block, depth int) {
	f.b.WriteString("{\n")
	for _, s := range b.Stmts {
		f.indent(depth + 1)
		f.stmt(s, depth+1)
		f.b.WriteByte('\n')
	}
	f.indent(depth)
	f.b.WriteString("}")
}

func (f *formatter) stmt(s Stmt, depth int) {
	switch s := s.(type) {
	case *Block:
		f.block(s, depth)
	case *ExprStmt:
		f.b.WriteString(FormatExpr(s.X) + ";")
	case *AssignStmt:
		f.b.WriteString(FormatExpr(s.Target) + " " + s.Op + " " + FormatExpr(s.Value) + ";")
	case *LetStmt:
		f.b.WriteString("let " + FormatExpr(s.Var))
		if s.Value != nil {
			f.b.WriteString(" = " + FormatExpr(s.Value))
		}
		f.b.WriteString(";")
	case *IfStmt:
		f.b.WriteString("if (" + FormatExpr(s.Cond) + ") ")
		f.block(s.Then, depth)
		if s.Else != nil {
			f.b.WriteString(" else ")
			f.stmt(s.Else, depth)
		}
	case *WhileStmt:
		f.b.WriteString("while (" + FormatExpr(s.Cond) + ") ")
		f.block(s.Body, depth)
	case *ForStmt:
		f.b.WriteString("for (" + FormatExpr(s.Var) + " : ")
		if s.Map != nil {
			f.b.WriteString(FormatExpr(s.Map))
		} else {
			f.b.WriteString(FormatExpr(s.Lo) + " .. " + FormatExpr(s.Hi))
		}
		f.b.WriteString(") ")
		f.block(s.Body, depth)
	case *UnrollStmt:
		f.b.WriteString("unroll (" + FormatExpr(s.Count) + ") ")
		f.block(s.Body, depth)
	case *ReturnStmt:
		f.b.WriteString("return")
		if s.Value != nil {
			f.b.WriteString(" " + FormatExpr(s.Value))
		}
		f.b.WriteString(";")
	case *BranchStmt:
		f.b.WriteString(s.Tok + ";")
	}
}

// FormatExpr prints an expression as source, parenthesizing every
// compound expression.
func FormatExpr(x Expr) string {
	switch x := x.(type) {
	case *IntLit:
		return x.Raw
	case *StrLit:
		return Quote(x.Value)
	case *BoolLit:
		return fmt.Sprint(x.Value)
	case *Ident:
		return x.Name
	case *Var:
		return "$" + x.Name
	case *Positional:
		if x.Count {
			return "$#"
		}
		return fmt.Sprintf("$%d", x.N)
	case *MapExpr:
		if x.Keys == nil {
			return "@" + x.Name
		}
		return "@" + x.Name + "[" + formatList(x.Keys) + "]"
	case *Unary:
		return "(" + x.Op + " " + FormatExpr(x.X) + ")"
	case *Postfix:
		return "(" + FormatExpr(x.X) + x.Op + ")"
	case *Binary:
		return "(" + FormatExpr(x.X) + " " + x.Op + " " + FormatExpr(x.Y) + ")"
	case *Ternary:
		return "(" + FormatExpr(x.Cond) + " ? " + FormatExpr(x.X) + " : " + FormatExpr(x.Y) + ")"
	case *Call:
		return x.Name + "(" + formatList(x.Args) + ")"
	case *Cast:
		return "((" + x.Type.String() + ")" + FormatExpr(x.X) + ")"
	case *Field:
		op := "."
		if x.Arrow {
			op = "->"
		}
		return "(" + FormatExpr(x.X) + op + x.Name + ")"
	case *Index:
		return "(" + FormatExpr(x.X) + "[" + FormatExpr(x.Index) + "])"
	case *Tuple:
		return "(" + formatList(x.Elems) + ")"
	case *Sizeof:
		if x.Type != nil {
			return "sizeof(" + x.Type.String() + ")"
		}
		return "sizeof(" + FormatExpr(x.X) + ")"
	case *Offsetof:
		return "offsetof(" + x.Type.String() + ", " + strings.Join(x.Fields, ".") + ")"
	}
	return "?"
}

func formatList(xs []Expr) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = FormatExpr(x)
	}
	return strings.Join(s, ", ")
}

// Quote writes s as a string literal of the language: printable ASCII
// as is, \n \t \r \\ \" escaped, every other byte as \xHH.
func Quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\\' || c == '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
