package ast

import "testing"

// TestErrorText lines the caret up under the column, keeping tabs.
func TestErrorText(t *testing.T) {
	src := []byte("BEGIN {\n\t\t$x = nope;\n}")
	e := NewError("a.bt", src, Pos{Offset: 15, Line: 2, Col: 8}, "unknown identifier %q", "nope")
	want := "a.bt:2:8: unknown identifier \"nope\"\n\t\t$x = nope;\n\t\t     ^"
	if got := e.Error(); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	list := ErrorList{e, NewError("a.bt", src, Pos{Offset: 0, Line: 1, Col: 1}, "second")}
	want += "\na.bt:1:1: second\nBEGIN {\n^"
	if got := list.Error(); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// TestQuote escapes what the lexer reads back.
func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"plain":            `"plain"`,
		"a\n\t\r\"\\b":     `"a\n\t\r\"\\b"`,
		"\x00\x7f\xff\x1b": `"\x00\x7f\xff\x1b"`,
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}
