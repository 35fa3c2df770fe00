package parse

import (
	"fmt"
	"strings"
	"testing"
)

// TestLexer scans literals and operators and checks each token.
func TestLexer(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"42 0x2A 0X2a 052 0b101 1_000 5ms 2s 1e3 0", "Int 42=42|Int 0x2A=42|Int 0X2a=42|Int 052=42|Int 0b101=5|Int 1_000=1000|Int 5ms=5ms|Int 2s=2s|Int 1e3=1000|Int 0=0"},
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
				s += fmt.Sprintf("=%d%s", tok.Value, tok.Unit)
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
