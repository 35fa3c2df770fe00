package ast

// Pos is a position in a script: 1-based line and column (in bytes), and
// the 0-based byte offset.
type Pos struct {
	Offset int
	Line   int
	Col    int
}

// IsValid reports whether p was set by the parser.
func (p Pos) IsValid() bool { return p.Line > 0 }

// Node is every syntax node: it knows where it starts.
type Node interface {
	Position() Pos
}

// Program is one parsed script.
type Program struct {
	// Directives are the preprocessor lines (#include, #define, #ifndef…),
	// kept so that later stages can report them; the compiler resolves
	// types through BTF and ignores them.
	Directives []*Directive
	// CDefs are C struct, union and enum definitions at top level.
	CDefs []*CDef
	// Config is the config = { … } block, or nil.
	Config *Config
	// Macros are the macro definitions, in source order.
	Macros []*Macro
	Probes []*Probe
}

// Macro is macro name(params) { … }. A parameter is an *Ident (a value),
// a *Var or a *MapExpr without keys; a call substitutes its arguments.
type Macro struct {
	Pos    Pos
	Name   string
	Params []Expr
	Body   *Block
}

// Directive is one preprocessor line, e.g. "#include <linux/sched.h>".
type Directive struct {
	Pos  Pos
	Text string // the whole line, from '#', without the newline
}

// CDef is a C type definition at top level (struct x { … };), kept as
// text.
type CDef struct {
	Pos  Pos
	Kind string // struct, union or enum
	Name string
	Text string // from the keyword to the closing brace, inclusive
}

// Config is a config = { key = value; … } block.
type Config struct {
	Pos   Pos
	Items []*ConfigItem
}

// ConfigItem is one key = value of a config block.
type ConfigItem struct {
	Pos   Pos
	Key   string
	Value Expr // *IntLit, *StrLit, *BoolLit or *Ident
}

// Probe is one or more attach points sharing a predicate and a body.
type Probe struct {
	Pos    Pos
	Attach []*AttachPoint
	Pred   Expr // nil without a predicate
	Body   *Block
}

// AttachPoint is one attach point as written, split at its colons.
// "kprobe:vfs_read+16" has Provider "kprobe", Parts ["vfs_read"] and
// Offset 16 (HasOffset). Quoted parts keep their content without quotes.
type AttachPoint struct {
	Pos       Pos
	Raw       string
	Provider  string
	Parts     []string
	Offset    uint64
	HasOffset bool
}

// Stmt is a statement.
type Stmt interface {
	Node
	stmt()
}

// Expr is an expression.
type Expr interface {
	Node
	expr()
}

// Block is a { … } sequence of statements.
type Block struct {
	Pos   Pos
	Stmts []Stmt
}

// ExprStmt is an expression used as a statement (a call, x++).
type ExprStmt struct {
	X Expr
}

// AssignStmt is "target op value": op is "=", "+=", "-=", "*=", "/=",
// "%=", "&=", "|=", "^=", "<<=" or ">>=". Target is a *Var or *MapExpr.
type AssignStmt struct {
	Pos    Pos
	Target Expr
	Op     string
	Value  Expr
}

// LetStmt declares a local: let $x [= value].
type LetStmt struct {
	Pos   Pos
	Var   *Var
	Value Expr // nil without an initializer
}

// IfStmt is if (cond) { … } [else …]; Else is a *Block, an *IfStmt or nil.
type IfStmt struct {
	Pos  Pos
	Cond Expr
	Then *Block
	Else Stmt
}

// WhileStmt is while (cond) { … }.
type WhileStmt struct {
	Pos  Pos
	Cond Expr
	Body *Block
}

// ForStmt is for ($v : @map) { … } (Map set) or for ($v : lo..hi) { … }
// (Lo and Hi set).
type ForStmt struct {
	Pos  Pos
	Var  *Var
	Map  *MapExpr
	Lo   Expr
	Hi   Expr
	Body *Block
}

// UnrollStmt is unroll (n) { … }.
type UnrollStmt struct {
	Pos   Pos
	Count Expr
	Body  *Block
}

// ReturnStmt is return [value].
type ReturnStmt struct {
	Pos   Pos
	Value Expr
}

// BranchStmt is break or continue.
type BranchStmt struct {
	Pos Pos
	Tok string
}

func (*Block) stmt()      {}
func (*ExprStmt) stmt()   {}
func (*AssignStmt) stmt() {}
func (*LetStmt) stmt()    {}
func (*IfStmt) stmt()     {}
func (*WhileStmt) stmt()  {}
func (*ForStmt) stmt()    {}
func (*UnrollStmt) stmt() {}
func (*ReturnStmt) stmt() {}
func (*BranchStmt) stmt() {}

func (s *Block) Position() Pos      { return s.Pos }
func (s *ExprStmt) Position() Pos   { return s.X.Position() }
func (s *AssignStmt) Position() Pos { return s.Pos }
func (s *LetStmt) Position() Pos    { return s.Pos }
func (s *IfStmt) Position() Pos     { return s.Pos }
func (s *WhileStmt) Position() Pos  { return s.Pos }
func (s *ForStmt) Position() Pos    { return s.Pos }
func (s *UnrollStmt) Position() Pos { return s.Pos }
func (s *ReturnStmt) Position() Pos { return s.Pos }
func (s *BranchStmt) Position() Pos { return s.Pos }

// IntLit is an integer literal: decimal, hex (0x), octal (leading 0),
// with '_' between digits and a decimal exponent (1e6). Raw is the text as
// written.
type IntLit struct {
	Pos   Pos
	Raw   string
	Value uint64
}

// StrLit is a string literal; Value has its escapes resolved.
type StrLit struct {
	Pos   Pos
	Value string
}

// BoolLit is true or false.
type BoolLit struct {
	Pos   Pos
	Value bool
}

// Ident is a bare identifier: a builtin (pid, comm, args, arg0…), an enum
// constant or a macro name.
type Ident struct {
	Pos  Pos
	Name string
}

// Var is a scratch variable, $name.
type Var struct {
	Pos  Pos
	Name string // without the '$'
}

// Positional is $1, $2… (N ≥ 1) or $# (Count).
type Positional struct {
	Pos   Pos
	N     int
	Count bool
}

// MapExpr is @name, @name[key] or @name[k1, k2]; the anonymous map has
// Name "". Keys is nil for a map without a key.
type MapExpr struct {
	Pos  Pos
	Name string // without the '@'
	Keys []Expr
}

// Unary is a prefix operator: "!", "~", "-", "*" (dereference), "++" or
// "--".
type Unary struct {
	Pos Pos
	Op  string
	X   Expr
}

// Postfix is x++ or x--.
type Postfix struct {
	Pos Pos
	Op  string
	X   Expr
}

// Binary is x op y.
type Binary struct {
	Pos Pos // of the operator
	Op  string
	X   Expr
	Y   Expr
}

// Ternary is cond ? x : y.
type Ternary struct {
	Pos  Pos
	Cond Expr
	X    Expr
	Y    Expr
}

// Call is name(args…).
type Call struct {
	Pos  Pos
	Name string
	Args []Expr
}

// Cast is (type)x.
type Cast struct {
	Pos  Pos
	Type *Type
	X    Expr
}

// Field is x.name or x->name (Arrow); tuple element access x.0 has Name
// "0".
type Field struct {
	Pos   Pos // of the '.' or '->'
	X     Expr
	Name  string
	Arrow bool
}

// Index is x[i] on an array or pointer.
type Index struct {
	Pos   Pos
	X     Expr
	Index Expr
}

// Tuple is (a, b, …) with at least two elements.
type Tuple struct {
	Pos   Pos
	Elems []Expr
}

// Sizeof is sizeof(type) or sizeof(expr): exactly one of Type and X is set.
type Sizeof struct {
	Pos  Pos
	Type *Type
	X    Expr
}

// Offsetof is offsetof(type, field[.field…]).
type Offsetof struct {
	Pos    Pos
	Type   *Type
	Fields []string
}

// Type is a type as written in a cast, sizeof or offsetof: "struct sock",
// "uint32", "int8"; Ptr counts the '*'s, ArrayLen is N for "[N]" (0 when
// not an array).
type Type struct {
	Pos      Pos
	Name     string
	Ptr      int
	ArrayLen int
	IsArray  bool
}

func (*IntLit) expr()     {}
func (*StrLit) expr()     {}
func (*BoolLit) expr()    {}
func (*Ident) expr()      {}
func (*Var) expr()        {}
func (*Positional) expr() {}
func (*MapExpr) expr()    {}
func (*Unary) expr()      {}
func (*Postfix) expr()    {}
func (*Binary) expr()     {}
func (*Ternary) expr()    {}
func (*Call) expr()       {}
func (*Cast) expr()       {}
func (*Field) expr()      {}
func (*Index) expr()      {}
func (*Tuple) expr()      {}
func (*Sizeof) expr()     {}
func (*Offsetof) expr()   {}

func (e *IntLit) Position() Pos      { return e.Pos }
func (e *StrLit) Position() Pos      { return e.Pos }
func (e *BoolLit) Position() Pos     { return e.Pos }
func (e *Ident) Position() Pos       { return e.Pos }
func (e *Var) Position() Pos         { return e.Pos }
func (e *Positional) Position() Pos  { return e.Pos }
func (e *MapExpr) Position() Pos     { return e.Pos }
func (e *Unary) Position() Pos       { return e.Pos }
func (e *Postfix) Position() Pos     { return e.Pos }
func (e *Binary) Position() Pos      { return e.Pos }
func (e *Ternary) Position() Pos     { return e.Pos }
func (e *Call) Position() Pos        { return e.Pos }
func (e *Cast) Position() Pos        { return e.Pos }
func (e *Field) Position() Pos       { return e.Pos }
func (e *Index) Position() Pos       { return e.Pos }
func (e *Tuple) Position() Pos       { return e.Pos }
func (e *Sizeof) Position() Pos      { return e.Pos }
func (e *Offsetof) Position() Pos    { return e.Pos }
func (t *Type) Position() Pos        { return t.Pos }
func (p *Probe) Position() Pos       { return p.Pos }
func (a *AttachPoint) Position() Pos { return a.Pos }
