package parse

import (
	"fmt"
	"math"
	"strings"

	"github.com/kscope/kscope/internal/probe/ast"
)

// Kind is the kind of a token.
type Kind int

// The token kinds.
const (
	EOF       Kind = iota
	Ident          // pid, printf, struct, if…
	Int            // 42, 0x2a, 052, 1_000, 1e6
	String         // "…"
	Var            // $name
	Param          // $1, $#
	Map            // @name, @
	Directive      // #include …, a whole line
	Op             // operators and punctuation
)

func (k Kind) String() string {
	switch k {
	case EOF:
		return "end of input"
	case Ident:
		return "identifier"
	case Int:
		return "integer"
	case String:
		return "string"
	case Var:
		return "variable"
	case Param:
		return "positional parameter"
	case Map:
		return "map"
	case Directive:
		return "preprocessor line"
	case Op:
		return "operator"
	}
	return "token"
}

// Token is one lexeme. Text is the source text, except for strings, whose
// Text is the value with escapes resolved, and for Var and Map, whose Text
// is the name without the sigil.
type Token struct {
	Kind  Kind
	Pos   ast.Pos
	End   int // offset just after the token
	Text  string
	Value uint64 // Int: the value; Param: N (0 for $#)
}

func (t Token) String() string {
	switch t.Kind {
	case EOF:
		return "end of input"
	case String:
		return fmt.Sprintf("string %q", t.Text)
	case Var:
		return "$" + t.Text
	case Map:
		return "@" + t.Text
	}
	return fmt.Sprintf("%q", t.Text)
}

// lexError is a lexical error at a position.
type lexError struct {
	pos ast.Pos
	msg string
}

// Lexer turns source bytes into tokens. It scans on demand, so the parser
// can move it (to scan attach points, which have their own lexical rules).
type Lexer struct {
	src   []byte
	off   int
	lines []int // offsets of line starts
	err   *lexError
}

// NewLexer returns a lexer at the start of src.
func NewLexer(src []byte) *Lexer {
	l := &Lexer{src: src, lines: []int{0}}
	for i, c := range src {
		if c == '\n' {
			l.lines = append(l.lines, i+1)
		}
	}
	return l
}

// Pos converts a byte offset into a position.
func (l *Lexer) Pos(off int) ast.Pos {
	lo, hi := 0, len(l.lines)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if l.lines[mid] <= off {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return ast.Pos{Offset: off, Line: lo + 1, Col: off - l.lines[lo] + 1}
}

func (l *Lexer) fail(off int, format string, args ...any) Token {
	if l.err == nil {
		l.err = &lexError{pos: l.Pos(off), msg: fmt.Sprintf(format, args...)}
	}
	l.off = len(l.src)
	return Token{Kind: EOF, Pos: l.Pos(off), End: len(l.src)}
}

// Err returns the first lexical error, if any.
func (l *Lexer) Err() *lexError { return l.err }

func (l *Lexer) peekc(i int) byte {
	if l.off+i < len(l.src) {
		return l.src[l.off+i]
	}
	return 0
}

// atLineStart reports whether only blanks precede off on its line.
func (l *Lexer) atLineStart(off int) bool {
	for i := off - 1; i >= 0; i-- {
		switch l.src[i] {
		case ' ', '\t', '\r':
			continue
		case '\n':
			return true
		default:
			return false
		}
	}
	return true
}

// skipSpace skips blanks and comments. It reports an unterminated block
// comment as an error.
func (l *Lexer) skipSpace() bool {
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			l.off++
		case c == '/' && l.peekc(1) == '/':
			for l.off < len(l.src) && l.src[l.off] != '\n' {
				l.off++
			}
		case c == '/' && l.peekc(1) == '*':
			start := l.off
			end := strings.Index(string(l.src[l.off+2:]), "*/")
			if end < 0 {
				l.fail(start, "unterminated comment")
				return false
			}
			l.off += 2 + end + 2
		default:
			return true
		}
	}
	return true
}

func isLetter(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isHex(c byte) bool    { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// ops are the operators, longest first.
var ops = []string{
	"<<=", ">>=",
	"->", "++", "--", "==", "!=", "<=", ">=", "&&", "||", "<<", ">>",
	"+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "..",
	"+", "-", "*", "/", "%", "&", "|", "^", "!", "~", "<", ">", "=",
	"?", ":", ";", ",", ".", "(", ")", "[", "]", "{", "}",
}

// Next scans the next token.
func (l *Lexer) Next() Token {
	if !l.skipSpace() {
		return Token{Kind: EOF, Pos: l.Pos(len(l.src)), End: len(l.src)}
	}
	start := l.off
	if start >= len(l.src) {
		return Token{Kind: EOF, Pos: l.Pos(start), End: start}
	}
	c := l.src[start]
	tok := func(k Kind, text string) Token {
		return Token{Kind: k, Pos: l.Pos(start), End: l.off, Text: text}
	}
	switch {
	case c == '#' && l.atLineStart(start):
		for l.off < len(l.src) && l.src[l.off] != '\n' {
			if l.src[l.off] == '\\' && l.peekc(1) == '\n' {
				l.off++
			}
			l.off++
		}
		// A continuation at the very end leaves a trailing newline: drop
		// it, so that the text is the same however the file ends.
		return tok(Directive, strings.TrimRight(string(l.src[start:l.off]), "\r\n"))
	case isLetter(c):
		for l.off < len(l.src) && (isLetter(l.src[l.off]) || isDigit(l.src[l.off])) {
			l.off++
		}
		return tok(Ident, string(l.src[start:l.off]))
	case isDigit(c):
		return l.number()
	case c == '"':
		return l.str()
	case c == '$':
		l.off++
		switch d := l.peekc(0); {
		case d == '#':
			l.off++
			return tok(Param, "$#")
		case isDigit(d):
			n := 0
			for l.off < len(l.src) && isDigit(l.src[l.off]) {
				n = n*10 + int(l.src[l.off]-'0')
				if n > math.MaxInt32 {
					return l.fail(start, "positional parameter out of range")
				}
				l.off++
			}
			if n == 0 {
				return l.fail(start, "positional parameters start at $1")
			}
			t := tok(Param, string(l.src[start:l.off]))
			t.Value = uint64(n)
			return t
		case isLetter(d):
			for l.off < len(l.src) && (isLetter(l.src[l.off]) || isDigit(l.src[l.off])) {
				l.off++
			}
			return tok(Var, string(l.src[start+1:l.off]))
		}
		return l.fail(start, "expected a variable name after '$'")
	case c == '@':
		l.off++
		for l.off < len(l.src) && (isLetter(l.src[l.off]) || isDigit(l.src[l.off])) {
			l.off++
		}
		return tok(Map, string(l.src[start+1:l.off]))
	}
	for _, op := range ops {
		if strings.HasPrefix(string(l.src[start:min(len(l.src), start+3)]), op) {
			l.off += len(op)
			return tok(Op, op)
		}
	}
	if c >= 0x80 || c < 0x20 {
		return l.fail(start, "invalid character %q", rune(c))
	}
	return l.fail(start, "invalid character '%c'", c)
}

func (l *Lexer) number() Token {
	start := l.off
	base := uint64(10)
	digitOK := isDigit
	switch {
	case l.src[start] == '0' && (l.peekc(1) == 'x' || l.peekc(1) == 'X'):
		base, digitOK = 16, isHex
		l.off += 2
	case l.src[start] == '0' && isDigit(l.peekc(1)):
		base, digitOK = 8, func(c byte) bool { return c >= '0' && c <= '7' }
		l.off++
	}
	digits := l.off
	var v uint64
	overflow := false
	lastUnderscore := false
	for l.off < len(l.src) {
		c := l.src[l.off]
		if c == '_' {
			if l.off == digits {
				break
			}
			lastUnderscore = true
			l.off++
			continue
		}
		if !digitOK(c) {
			break
		}
		lastUnderscore = false
		d := uint64(0)
		switch {
		case isDigit(c):
			d = uint64(c - '0')
		case c >= 'a':
			d = uint64(c-'a') + 10
		default:
			d = uint64(c-'A') + 10
		}
		if v > (math.MaxUint64-d)/base {
			overflow = true
		}
		v = v*base + d
		l.off++
	}
	if l.off == digits {
		if base == 16 {
			return l.fail(start, "invalid integer %q: no digits", string(l.src[start:l.off]))
		}
	}
	if lastUnderscore {
		return l.fail(start, "invalid integer %q: trailing '_'", string(l.src[start:l.off]))
	}
	if base == 8 && l.off < len(l.src) && isDigit(l.src[l.off]) {
		return l.fail(start, "invalid digit %q in octal integer", l.src[l.off])
	}
	// Scientific notation: 1e6.
	if base == 10 && (l.peekc(0) == 'e' || l.peekc(0) == 'E') && isDigit(l.peekc(1)) {
		l.off++
		exp := 0
		for l.off < len(l.src) && isDigit(l.src[l.off]) {
			exp = min(exp*10+int(l.src[l.off]-'0'), 100)
			l.off++
		}
		for range exp {
			if v > math.MaxUint64/10 {
				overflow = true
			}
			v *= 10
		}
	}
	if l.off < len(l.src) && (isLetter(l.src[l.off]) || isDigit(l.src[l.off])) {
		for l.off < len(l.src) && (isLetter(l.src[l.off]) || isDigit(l.src[l.off])) {
			l.off++
		}
		return l.fail(start, "invalid integer %q", string(l.src[start:l.off]))
	}
	if overflow {
		return l.fail(start, "integer %s out of range", string(l.src[start:l.off]))
	}
	return Token{Kind: Int, Pos: l.Pos(start), End: l.off, Text: string(l.src[start:l.off]), Value: v}
}

func (l *Lexer) str() Token {
	start := l.off
	l.off++
	var b strings.Builder
	for {
		if l.off >= len(l.src) || l.src[l.off] == '\n' {
			return l.fail(start, "unterminated string")
		}
		c := l.src[l.off]
		if c == '"' {
			l.off++
			return Token{Kind: String, Pos: l.Pos(start), End: l.off, Text: b.String()}
		}
		if c != '\\' {
			b.WriteByte(c)
			l.off++
			continue
		}
		esc := l.off
		l.off++
		e := l.peekc(0)
		l.off++
		switch e {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '\\', '"', '\'':
			b.WriteByte(e)
		case 'x':
			if !isHex(l.peekc(0)) {
				return l.fail(esc, "invalid escape \\x: want hex digits")
			}
			v := 0
			for i := 0; i < 2 && isHex(l.peekc(0)); i++ {
				c := l.peekc(0)
				switch {
				case isDigit(c):
					v = v*16 + int(c-'0')
				case c >= 'a':
					v = v*16 + int(c-'a') + 10
				default:
					v = v*16 + int(c-'A') + 10
				}
				l.off++
			}
			b.WriteByte(byte(v))
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := int(e - '0')
			for i := 0; i < 2 && l.peekc(0) >= '0' && l.peekc(0) <= '7'; i++ {
				v = v*8 + int(l.peekc(0)-'0')
				l.off++
			}
			if v > 255 {
				return l.fail(esc, "octal escape out of range")
			}
			b.WriteByte(byte(v))
		default:
			if e == 0 && l.off > len(l.src) {
				return l.fail(start, "unterminated string")
			}
			return l.fail(esc, "invalid escape \\%c", e)
		}
	}
}

// attach scans one attach point starting at the lexer's offset (after
// blanks and comments): everything up to a blank, ',', '{' or a '/' that
// does not belong to a path. Parts in double quotes may hold anything but
// a newline.
func (l *Lexer) attach() (Token, bool) {
	if !l.skipSpace() {
		return Token{}, false
	}
	start := l.off
	segStart := l.off
	pathSeg := false
	for l.off < len(l.src) {
		c := l.src[l.off]
		if l.off == segStart {
			pathSeg = c == '/' || c == '.'
		}
		switch {
		case c == '"':
			end := strings.IndexAny(string(l.src[l.off+1:]), "\"\n")
			if end < 0 || l.src[l.off+1+end] != '"' {
				l.fail(l.off, "unterminated string in attach point")
				return Token{}, false
			}
			l.off += end + 2
			continue
		case c == ':':
			l.off++
			segStart = l.off
			continue
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == '{' || c == '}' || c == ';' || c == '(' || c == ')':
		case c == '/' && !pathSeg:
		case c < 0x20 || c >= 0x7f || c == '#':
			l.fail(l.off, "invalid character %q in attach point", rune(c))
			return Token{}, false
		default:
			l.off++
			continue
		}
		break
	}
	if l.off == start {
		return Token{}, true
	}
	return Token{Kind: Ident, Pos: l.Pos(start), End: l.off, Text: string(l.src[start:l.off])}, true
}
