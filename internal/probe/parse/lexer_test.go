package parse

import (
	"fmt"
	"strings"
	"testing"
)

// TestLexer scans literals and operators and checks each token.
func TestLexer(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"42 0x2A 0X2a 052 1_000 0xff_ff 1e3 0", "Int 42=42|Int 0x2A=42|Int 0X2a=42|Int 052=42|Int 1_000=1000|Int 0xff_ff=65535|Int 1e3=1000|Int 0=0"},
		{`"a\n\t\r\\\"\'\x41\101\0"`, `String "a\n\t\r\\\"'AA\x00"`},
		{"$x $_y1 $1 $10 $# @ @m @m_2", "Var x|Var _y1|Param $1=1|Param $10=10|Param $#=0|Map |Map m|Map m_2"},
		{"<<= >>= -> ++ -- == != <= >= && || << >> += -= *= /= %= &= |= ^= ..", "Op <<=|Op >>=|Op ->|Op ++|Op --|Op ==|Op !=|Op <=|Op >=|Op &&|Op |||Op <<|Op >>|Op +=|Op -=|Op *=|Op /=|Op %=|Op &=|Op |=|Op ^=|Op .."},
		{"a // c\n/* d\n*/ b", "Ident a|Ident b"},
		{"#include <x.h>\n  #define A \\\n  1\nx", "Directive #include <x.h>|Directive #define A \\\n  1|Ident x"},
		{"0..10", "Int 0=0|Op ..|Int 10=10"},
	} {
		l := NewLexer([]byte(tc.src))
		var got []string
		for {
			tok := l.Next()
			if tok.Kind == EOF {
				break
			}
			s := fmt.Sprintf("%s %s", kindName(tok.Kind), tok.Text)
			switch tok.Kind {
			case Int:
				s += fmt.Sprintf("=%d", tok.Value)
			case Param:
				s += fmt.Sprintf("=%d", tok.Value)
			case String:
				s = fmt.Sprintf("String %q", tok.Text)
			}
			got = append(got, s)
		}
		if e := l.Err(); e != nil {
			t.Errorf("scanning %q: %d:%d: %s", tc.src, e.pos.Line, e.pos.Col, e.msg)
		}
		if g := strings.Join(got, "|"); g != tc.want {
			t.Errorf("scanning %q:\n got %s\nwant %s", tc.src, g, tc.want)
		}
	}
}

func kindName(k Kind) string {
	return [...]string{"EOF", "Ident", "Int", "String", "Var", "Param", "Map", "Directive", "Op"}[k]
}

// FuzzLex checks that the lexer never panics, always moves forward and
// stops at the end of the input or at its first error.
func FuzzLex(f *testing.F) {
	for _, s := range []string{
		`42 0x2A 052 1_000 1e3 "a\n\x41\101" $x $1 $# @m @ -> <<= ..`,
		"#include <x.h>\n/* c */ // d\nkprobe:f { @[comm] = count(); }",
		`"unterminated`, "/* unterminated", "0x", "09", "$", "`",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		l := NewLexer(src)
		last := -1
		for i := 0; ; i++ {
			tok := l.Next()
			if tok.Kind == EOF {
				break
			}
			if tok.Pos.Offset <= last || tok.End <= tok.Pos.Offset || tok.End > len(src) {
				t.Fatalf("token %d %v at %d..%d after %d in %d bytes", i, tok, tok.Pos.Offset, tok.End, last, len(src))
			}
			if p := l.Pos(tok.Pos.Offset); p != tok.Pos {
				t.Fatalf("position %+v, recomputed %+v", tok.Pos, p)
			}
			last = tok.Pos.Offset
		}
	})
}
