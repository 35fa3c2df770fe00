package parse

import (
	"strconv"
	"strings"

	"github.com/kscope/kscope/internal/probe/ast"
)

// maxDepth bounds the nesting of expressions and blocks, so that hostile
// input cannot exhaust the stack.
const maxDepth = 200

// Parse parses a whole script. file names it in errors. The error, when
// not nil, is an ast.ErrorList holding the first syntax error.
func Parse(file string, src []byte) (prog *ast.Program, err error) {
	p := &parser{file: file, src: src, lex: NewLexer(src)}
	defer func() {
		if r := recover(); r != nil {
			pe, ok := r.(bailout)
			if !ok {
				panic(r)
			}
			prog, err = nil, ast.ErrorList{pe.err}
		}
	}()
	p.next()
	return p.program(), nil
}

// ParseExpr parses a single expression (for tests and tools).
func ParseExpr(file string, src []byte) (x ast.Expr, err error) {
	p := &parser{file: file, src: src, lex: NewLexer(src)}
	defer func() {
		if r := recover(); r != nil {
			pe, ok := r.(bailout)
			if !ok {
				panic(r)
			}
			x, err = nil, ast.ErrorList{pe.err}
		}
	}()
	p.next()
	x = p.expr()
	p.expectEOF()
	return x, nil
}

type bailout struct{ err *ast.Error }

type parser struct {
	file  string
	src   []byte
	lex   *Lexer
	tok   Token   // the current token
	ahead []Token // tokens scanned past tok
	depth int
	noDiv int // > 0 while parsing a predicate outside parentheses
}

func (p *parser) errorf(pos ast.Pos, format string, args ...any) {
	panic(bailout{ast.NewError(p.file, p.src, pos, format, args...)})
}

func (p *parser) scan() Token {
	t := p.lex.Next()
	if e := p.lex.Err(); e != nil {
		p.errorf(e.pos, "%s", e.msg)
	}
	return t
}

func (p *parser) next() {
	if len(p.ahead) > 0 {
		p.tok = p.ahead[0]
		p.ahead = p.ahead[1:]
		return
	}
	p.tok = p.scan()
}

// peek returns the token n places after the current one (peek(1) is the
// next).
func (p *parser) peek(n int) Token {
	for len(p.ahead) < n {
		p.ahead = append(p.ahead, p.scan())
	}
	return p.ahead[n-1]
}

// rewind moves the lexer back to the current token's start, dropping
// lookahead, so that it can be rescanned with other rules.
func (p *parser) rewind() {
	p.lex.off = p.tok.Pos.Offset
	p.ahead = nil
}

func (p *parser) is(op string) bool { return p.tok.Kind == Op && p.tok.Text == op }

func (p *parser) isIdent(name string) bool { return p.tok.Kind == Ident && p.tok.Text == name }

func (p *parser) got(op string) bool {
	if p.is(op) {
		p.next()
		return true
	}
	return false
}

func (p *parser) expect(op string) ast.Pos {
	pos := p.tok.Pos
	if !p.is(op) {
		p.errorf(pos, "expected '%s', found %s", op, p.tok)
	}
	p.next()
	return pos
}

func (p *parser) expectEOF() {
	if p.tok.Kind != EOF {
		p.errorf(p.tok.Pos, "unexpected %s", p.tok)
	}
}

func (p *parser) enter() {
	p.depth++
	if p.depth > maxDepth {
		p.errorf(p.tok.Pos, "nested too deeply (more than %d levels)", maxDepth)
	}
}

func (p *parser) leave() { p.depth-- }

// program = { directive | cdef | config | probe }.
func (p *parser) program() *ast.Program {
	prog := &ast.Program{}
	for p.tok.Kind != EOF {
		switch {
		case p.tok.Kind == Directive:
			prog.Directives = append(prog.Directives, &ast.Directive{Pos: p.tok.Pos, Text: p.tok.Text})
			p.next()
		case p.isIdent("config") && p.peek(1).Kind == Op && p.peek(1).Text == "=":
			if prog.Config != nil {
				p.errorf(p.tok.Pos, "duplicate config block")
			}
			if len(prog.Probes) > 0 {
				p.errorf(p.tok.Pos, "the config block must come before the probes")
			}
			prog.Config = p.config()
		case (p.isIdent("struct") || p.isIdent("union") || p.isIdent("enum")) && p.peek(1).Kind != Op || p.isIdent("struct") && p.peek(1).Text == "{":
			prog.CDefs = append(prog.CDefs, p.cdef())
		case p.isIdent("macro") && p.peek(1).Kind == Ident && p.peek(2).Kind == Op && p.peek(2).Text == "(":
			prog.Macros = append(prog.Macros, p.macro())
		case p.is(";"):
			p.next()
		default:
			prog.Probes = append(prog.Probes, p.probe())
		}
	}
	return prog
}

// macro = "macro" name "(" [param {"," param}] ")" block, where a param is
// a name, a $variable or an @map.
func (p *parser) macro() *ast.Macro {
	m := &ast.Macro{Pos: p.tok.Pos}
	p.next()
	m.Name = p.tok.Text
	p.next()
	p.expect("(")
	for !p.is(")") {
		t := p.tok
		switch t.Kind {
		case Ident:
			m.Params = append(m.Params, &ast.Ident{Pos: t.Pos, Name: t.Text})
		case Var:
			m.Params = append(m.Params, &ast.Var{Pos: t.Pos, Name: t.Text})
		case Map:
			m.Params = append(m.Params, &ast.MapExpr{Pos: t.Pos, Name: t.Text})
		default:
			p.errorf(t.Pos, "expected a macro parameter (name, $variable or @map), found %s", t)
		}
		p.next()
		if !p.is(")") {
			p.expect(",")
		}
	}
	p.next()
	m.Body = p.block()
	return m
}

// config = "config" "=" "{" { key "=" value ";" } "}".
func (p *parser) config() *ast.Config {
	c := &ast.Config{Pos: p.tok.Pos}
	p.next()
	p.expect("=")
	p.expect("{")
	for !p.is("}") {
		if p.got(";") {
			continue
		}
		if p.tok.Kind != Ident {
			p.errorf(p.tok.Pos, "expected a config key, found %s", p.tok)
		}
		it := &ast.ConfigItem{Pos: p.tok.Pos, Key: p.tok.Text}
		p.next()
		p.expect("=")
		switch p.tok.Kind {
		case Int:
			it.Value = &ast.IntLit{Pos: p.tok.Pos, Raw: p.tok.Text, Value: p.tok.Value}
		case String:
			it.Value = &ast.StrLit{Pos: p.tok.Pos, Value: p.tok.Text}
		case Ident:
			if p.tok.Text == "true" || p.tok.Text == "false" {
				it.Value = &ast.BoolLit{Pos: p.tok.Pos, Value: p.tok.Text == "true"}
			} else {
				it.Value = &ast.Ident{Pos: p.tok.Pos, Name: p.tok.Text}
			}
		default:
			p.errorf(p.tok.Pos, "expected a value for %s, found %s", it.Key, p.tok)
		}
		p.next()
		c.Items = append(c.Items, it)
		if !p.is("}") {
			p.expect(";")
		}
	}
	p.next()
	return c
}

// cdef = ("struct" | "union" | "enum") [name] "{" … "}" [";"], kept as
// text.
func (p *parser) cdef() *ast.CDef {
	d := &ast.CDef{Pos: p.tok.Pos, Kind: p.tok.Text}
	p.next()
	if p.tok.Kind == Ident {
		d.Name = p.tok.Text
		p.next()
	}
	if !p.is("{") {
		p.errorf(p.tok.Pos, "expected '{' to define %s %s, found %s", d.Kind, d.Name, p.tok)
	}
	level := 0
	for {
		switch {
		case p.tok.Kind == EOF:
			p.errorf(d.Pos, "unterminated %s definition", d.Kind)
		case p.is("{"):
			level++
		case p.is("}"):
			level--
		}
		end := p.tok.End
		p.next()
		if level == 0 {
			d.Text = string(p.src[d.Pos.Offset:end])
			break
		}
	}
	p.got(";")
	return d
}

// probe = attach { "," attach } [ "/" expr "/" ] block.
func (p *parser) probe() *ast.Probe {
	pr := &ast.Probe{Pos: p.tok.Pos}
	p.rewind()
	for {
		t, ok := p.lex.attach()
		if err := p.lex.Err(); !ok && err != nil {
			p.errorf(err.pos, "%s", err.msg)
		}
		if t.Text == "" {
			p.next()
			p.errorf(p.tok.Pos, "expected an attach point, found %s", p.tok)
		}
		pr.Attach = append(pr.Attach, p.attachPoint(t))
		p.next()
		if !p.got(",") {
			break
		}
		if p.is("{") || p.is("/") {
			break // a trailing comma before the body
		}
		p.rewind()
	}
	if p.is("/") {
		p.next()
		p.noDiv++
		pr.Pred = p.expr()
		p.noDiv--
		p.expect("/")
	}
	if !p.is("{") {
		p.errorf(p.tok.Pos, "expected '{' after the attach points, found %s", p.tok)
	}
	pr.Body = p.block()
	return pr
}

// attachPoint splits an attach point's text at the colons outside quotes
// and takes a "+offset" off the function of k/uprobes.
func (p *parser) attachPoint(t Token) *ast.AttachPoint {
	ap := &ast.AttachPoint{Pos: t.Pos, Raw: t.Text}
	var parts []string
	var cur strings.Builder
	quoted := false
	for i := 0; i < len(t.Text); i++ {
		c := t.Text[i]
		switch {
		case c == '"':
			quoted = !quoted
		case c == ':' && !quoted:
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	parts = append(parts, cur.String())
	ap.Provider = parts[0]
	ap.Parts = parts[1:]
	if len(ap.Parts) == 0 {
		ap.Parts = nil
	}
	switch ap.Provider {
	case "kprobe", "k", "uprobe", "u":
		if n := len(ap.Parts); n > 0 && !strings.Contains(t.Text, "\"") {
			last := ap.Parts[n-1]
			if i := strings.LastIndexByte(last, '+'); i > 0 {
				off, err := strconv.ParseUint(last[i+1:], 0, 64)
				if err != nil {
					p.errorf(ast.Pos{Offset: t.Pos.Offset + strings.LastIndexByte(t.Text, '+') + 1, Line: t.Pos.Line, Col: t.Pos.Col + strings.LastIndexByte(t.Text, '+') + 1},
						"invalid probe offset %q", last[i+1:])
				}
				ap.Parts[n-1] = last[:i]
				ap.Offset, ap.HasOffset = off, true
			}
		}
	}
	return ap
}

// block = "{" { stmt } "}".
func (p *parser) block() *ast.Block {
	p.enter()
	defer p.leave()
	b := &ast.Block{Pos: p.expect("{")}
	saved := p.noDiv
	p.noDiv = 0
	defer func() { p.noDiv = saved }()
	for !p.is("}") {
		if p.tok.Kind == EOF {
			p.errorf(p.tok.Pos, "expected '}' to close the block at %d:%d, found end of input", b.Pos.Line, b.Pos.Col)
		}
		if p.got(";") {
			continue
		}
		s, compound := p.stmt()
		b.Stmts = append(b.Stmts, s)
		if !compound && !p.is("}") {
			if !p.is(";") {
				p.errorf(p.tok.Pos, "expected ';' or '}' after the statement, found %s", p.tok)
			}
			p.next()
		}
	}
	p.next()
	return b
}

var assignOps = map[string]bool{
	"=": true, "+=": true, "-=": true, "*=": true, "/=": true, "%=": true,
	"&=": true, "|=": true, "^=": true, "<<=": true, ">>=": true,
}

// stmt parses one statement and reports whether it ends in a block (and
// so needs no ';').
func (p *parser) stmt() (ast.Stmt, bool) {
	pos := p.tok.Pos
	if p.tok.Kind == Ident {
		switch p.tok.Text {
		case "if":
			return p.ifStmt(), true
		case "while":
			p.next()
			p.expect("(")
			cond := p.expr()
			p.expect(")")
			return &ast.WhileStmt{Pos: pos, Cond: cond, Body: p.block()}, true
		case "for":
			return p.forStmt(), true
		case "unroll":
			p.next()
			p.expect("(")
			n := p.expr()
			p.expect(")")
			return &ast.UnrollStmt{Pos: pos, Count: n, Body: p.block()}, true
		case "return":
			p.next()
			r := &ast.ReturnStmt{Pos: pos}
			if !p.is(";") && !p.is("}") {
				r.Value = p.expr()
			}
			return r, false
		case "break", "continue":
			p.next()
			return &ast.BranchStmt{Pos: pos, Tok: p.prevText(pos)}, false
		case "let":
			p.next()
			if p.tok.Kind != Var {
				p.errorf(p.tok.Pos, "expected a variable after let, found %s", p.tok)
			}
			s := &ast.LetStmt{Pos: pos, Var: &ast.Var{Pos: p.tok.Pos, Name: p.tok.Text}}
			p.next()
			if p.got("=") {
				s.Value = p.expr()
			}
			return s, false
		}
	}
	if p.is("{") {
		return p.block(), true
	}
	x := p.expr()
	if p.tok.Kind == Op && assignOps[p.tok.Text] {
		op := p.tok.Text
		switch x.(type) {
		case *ast.Var, *ast.MapExpr:
		default:
			p.errorf(p.tok.Pos, "cannot assign to this expression: only $variables and @maps can be assigned")
		}
		p.next()
		return &ast.AssignStmt{Pos: pos, Target: x, Op: op, Value: p.expr()}, false
	}
	return &ast.ExprStmt{X: x}, false
}

func (p *parser) prevText(pos ast.Pos) string {
	end := pos.Offset
	for end < len(p.src) && isLetter(p.src[end]) {
		end++
	}
	return string(p.src[pos.Offset:end])
}

func (p *parser) ifStmt() *ast.IfStmt {
	p.enter()
	defer p.leave()
	s := &ast.IfStmt{Pos: p.tok.Pos}
	p.next()
	p.expect("(")
	s.Cond = p.expr()
	p.expect(")")
	s.Then = p.block()
	if p.isIdent("else") {
		p.next()
		if p.isIdent("if") {
			s.Else = p.ifStmt()
		} else {
			s.Else = p.block()
		}
	}
	return s
}

// for = "for" ["("] $var ":" ( @map | expr ".." expr ) [")"] block.
func (p *parser) forStmt() *ast.ForStmt {
	s := &ast.ForStmt{Pos: p.tok.Pos}
	p.next()
	paren := p.got("(") // newer scripts write for $i : 0..10 { }
	if !paren && p.tok.Kind != Var {
		p.errorf(p.tok.Pos, "expected '(' or a $variable after for, found %s", p.tok)
	}
	if p.tok.Kind != Var {
		p.errorf(p.tok.Pos, "expected a $variable in for, found %s", p.tok)
	}
	s.Var = &ast.Var{Pos: p.tok.Pos, Name: p.tok.Text}
	p.next()
	p.expect(":")
	if p.tok.Kind == Map && !(p.peek(1).Kind == Op && p.peek(1).Text == "..") {
		t0 := p.tok
		m := p.primary()
		me, ok := m.(*ast.MapExpr)
		if !ok || me.Keys != nil {
			p.errorf(m.Position(), "for iterates over a whole map: write for ($kv : @%s)", t0.Text)
		}
		s.Map = me
	} else {
		s.Lo = p.binary(1)
		p.expect("..")
		s.Hi = p.binary(1)
	}
	if paren {
		p.expect(")")
	}
	s.Body = p.block()
	return s
}

// expr = ternary.
func (p *parser) expr() ast.Expr {
	p.enter()
	defer p.leave()
	x := p.binary(1)
	if p.is("?") {
		pos := p.tok.Pos
		p.next()
		a := p.expr()
		p.expect(":")
		b := p.expr()
		return &ast.Ternary{Pos: pos, Cond: x, X: a, Y: b}
	}
	return x
}

// precedence of the binary operators; higher binds tighter.
var precedence = map[string]int{
	"||": 1, "&&": 2, "|": 3, "^": 4, "&": 5,
	"==": 6, "!=": 6,
	"<": 7, "<=": 7, ">": 7, ">=": 7,
	"<<": 8, ">>": 8,
	"+": 9, "-": 9,
	"*": 10, "/": 10, "%": 10,
}

func (p *parser) binary(min int) ast.Expr {
	x := p.unary()
	for p.tok.Kind == Op {
		op := p.tok.Text
		prec, ok := precedence[op]
		if !ok || prec < min || op == "/" && p.noDiv > 0 {
			break
		}
		pos := p.tok.Pos
		p.next()
		y := p.binary(prec + 1)
		x = &ast.Binary{Pos: pos, Op: op, X: x, Y: y}
	}
	return x
}

func (p *parser) unary() ast.Expr {
	if p.tok.Kind == Op {
		switch op := p.tok.Text; op {
		case "!", "~", "-", "*", "++", "--":
			pos := p.tok.Pos
			p.next()
			p.enter()
			defer p.leave()
			return &ast.Unary{Pos: pos, Op: op, X: p.unary()}
		case "(":
			if p.isTypeStart(1) {
				pos := p.tok.Pos
				p.next()
				t := p.typ()
				p.expect(")")
				p.enter()
				defer p.leave()
				return &ast.Cast{Pos: pos, Type: t, X: p.unary()}
			}
		}
	}
	return p.postfix(p.primary())
}

// intTypes are the type names a cast may use besides struct/union/enum.
var intTypes = map[string]bool{
	"int8": true, "int16": true, "int32": true, "int64": true,
	"uint8": true, "uint16": true, "uint32": true, "uint64": true,
	"bool": true, "char": true, "short": true, "int": true, "long": true,
	"unsigned": true, "signed": true, "void": true, "string": true,
	"u8": true, "u16": true, "u32": true, "u64": true,
	"s8": true, "s16": true, "s32": true, "s64": true,
	"inet": true, "buffer": true,
}

// isTypeStart reports whether the token n places ahead starts a cast's
// type: struct/union/enum, or type names, then '*'s and an optional [N],
// then ')'.
func (p *parser) isTypeStart(n int) bool {
	t := p.peek(n)
	if t.Kind != Ident {
		return false
	}
	switch t.Text {
	case "struct", "union", "enum":
		return true
	}
	if !intTypes[t.Text] {
		return false
	}
	n++
	for p.peek(n).Kind == Ident && intTypes[p.peek(n).Text] {
		n++
	}
	for p.peek(n).Kind == Op && p.peek(n).Text == "*" {
		n++
	}
	if u := p.peek(n); u.Kind == Op && u.Text == "[" {
		if p.peek(n+1).Kind != Int || p.peek(n+2).Text != "]" {
			return false
		}
		n += 3
	}
	u := p.peek(n)
	return u.Kind == Op && u.Text == ")"
}

// typ = ["struct"|"union"|"enum"] name {name} {"*"} ["[" int "]"].
func (p *parser) typ() *ast.Type {
	t := &ast.Type{Pos: p.tok.Pos}
	var words []string
	if p.isIdent("struct") || p.isIdent("union") || p.isIdent("enum") {
		words = append(words, p.tok.Text)
		p.next()
		if p.tok.Kind != Ident {
			p.errorf(p.tok.Pos, "expected a %s name, found %s", words[0], p.tok)
		}
		words = append(words, p.tok.Text)
		p.next()
	} else {
		for p.tok.Kind == Ident && (len(words) == 0 || intTypes[p.tok.Text]) {
			words = append(words, p.tok.Text)
			p.next()
		}
		if len(words) == 0 {
			p.errorf(p.tok.Pos, "expected a type, found %s", p.tok)
		}
	}
	t.Name = strings.Join(words, " ")
	for p.got("*") {
		t.Ptr++
	}
	if p.is("[") {
		p.next()
		t.IsArray = true
		if p.tok.Kind != Int || p.tok.Value > 1<<20 {
			p.errorf(p.tok.Pos, "expected an array length, found %s", p.tok)
		}
		t.ArrayLen = int(p.tok.Value)
		p.next()
		p.expect("]")
	}
	return t
}

func (p *parser) postfix(x ast.Expr) ast.Expr {
	for depth := 0; ; depth++ {
		if depth > maxDepth {
			p.errorf(p.tok.Pos, "nested too deeply (more than %d levels)", maxDepth)
		}
		switch {
		case p.is(".") || p.is("->"):
			pos := p.tok.Pos
			arrow := p.tok.Text == "->"
			p.next()
			switch {
			case p.tok.Kind == Ident:
			case p.tok.Kind == Int && !arrow && p.tok.Text == strconv.FormatUint(p.tok.Value, 10):
			default:
				p.errorf(p.tok.Pos, "expected a field name after '%s', found %s", map[bool]string{true: "->", false: "."}[arrow], p.tok)
			}
			x = &ast.Field{Pos: pos, X: x, Name: p.tok.Text, Arrow: arrow}
			p.next()
		case p.is("["):
			pos := p.tok.Pos
			p.next()
			saved := p.noDiv
			p.noDiv = 0
			i := p.expr()
			p.noDiv = saved
			p.expect("]")
			x = &ast.Index{Pos: pos, X: x, Index: i}
		case p.is("++") || p.is("--"):
			x = &ast.Postfix{Pos: p.tok.Pos, Op: p.tok.Text, X: x}
			p.next()
		default:
			return x
		}
	}
}

func (p *parser) primary() ast.Expr {
	t := p.tok
	switch t.Kind {
	case Int:
		p.next()
		return &ast.IntLit{Pos: t.Pos, Raw: t.Text, Value: t.Value}
	case String:
		p.next()
		return &ast.StrLit{Pos: t.Pos, Value: t.Text}
	case Var:
		p.next()
		return &ast.Var{Pos: t.Pos, Name: t.Text}
	case Param:
		p.next()
		if t.Text == "$#" {
			return &ast.Positional{Pos: t.Pos, Count: true}
		}
		return &ast.Positional{Pos: t.Pos, N: int(t.Value)}
	case Map:
		p.next()
		m := &ast.MapExpr{Pos: t.Pos, Name: t.Text}
		if p.is("[") {
			p.next()
			if p.is("]") {
				p.errorf(p.tok.Pos, "expected a map key, found ']'")
			}
			saved := p.noDiv
			p.noDiv = 0
			m.Keys = append(m.Keys, p.expr())
			for p.got(",") {
				m.Keys = append(m.Keys, p.expr())
			}
			p.noDiv = saved
			p.expect("]")
		}
		return m
	case Ident:
		switch t.Text {
		case "true", "false":
			p.next()
			return &ast.BoolLit{Pos: t.Pos, Value: t.Text == "true"}
		case "sizeof":
			return p.sizeof()
		case "offsetof":
			return p.offsetof()
		case "if", "else", "while", "for", "unroll", "return", "break", "continue", "let", "config", "struct", "union", "enum", "macro":
			p.errorf(t.Pos, "unexpected keyword %s in an expression", t.Text)
		}
		p.next()
		if p.is("(") {
			return p.call(t)
		}
		return &ast.Ident{Pos: t.Pos, Name: t.Text}
	case Op:
		if t.Text == "(" {
			p.next()
			saved := p.noDiv
			p.noDiv = 0
			x := p.expr()
			if p.is(",") {
				tu := &ast.Tuple{Pos: t.Pos, Elems: []ast.Expr{x}}
				for p.got(",") {
					tu.Elems = append(tu.Elems, p.expr())
				}
				x = tu
			}
			p.noDiv = saved
			p.expect(")")
			return x
		}
	case EOF:
		p.errorf(t.Pos, "unexpected end of input, expected an expression")
	}
	p.errorf(t.Pos, "unexpected %s, expected an expression", t)
	return nil
}

func (p *parser) call(name Token) ast.Expr {
	c := &ast.Call{Pos: name.Pos, Name: name.Text}
	p.next() // (
	saved := p.noDiv
	p.noDiv = 0
	if !p.is(")") {
		c.Args = append(c.Args, p.expr())
		for p.got(",") {
			c.Args = append(c.Args, p.expr())
		}
	}
	p.noDiv = saved
	p.expect(")")
	return c
}

func (p *parser) sizeof() ast.Expr {
	s := &ast.Sizeof{Pos: p.tok.Pos}
	p.next()
	p.expect("(")
	saved := p.noDiv
	p.noDiv = 0
	p.ahead = append([]Token{p.tok}, p.ahead...) // so that isTypeStart(1) sees the current token
	p.tok = Token{Kind: Op, Text: "("}
	isType := p.isTypeStart(1)
	p.next()
	if isType {
		s.Type = p.typ()
	} else {
		s.X = p.expr()
	}
	p.noDiv = saved
	p.expect(")")
	return s
}

func (p *parser) offsetof() ast.Expr {
	o := &ast.Offsetof{Pos: p.tok.Pos}
	p.next()
	p.expect("(")
	o.Type = p.typ()
	p.expect(",")
	for {
		if p.tok.Kind != Ident {
			p.errorf(p.tok.Pos, "expected a field name in offsetof, found %s", p.tok)
		}
		o.Fields = append(o.Fields, p.tok.Text)
		p.next()
		if !p.got(".") {
			break
		}
	}
	p.expect(")")
	return o
}
