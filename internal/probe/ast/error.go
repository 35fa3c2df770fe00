package ast

import (
	"fmt"
	"strings"
)

// Error is a parse or type error at a position in a script. It prints as
// bpftrace prints its errors: "file:line:col: message", then the source
// line and a caret under the column.
type Error struct {
	File string
	Pos  Pos
	Msg  string
	Line string // the source line Pos is on, without its newline
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d: %s", e.File, e.Pos.Line, e.Pos.Col, e.Msg)
	if e.Line != "" || e.Pos.Col > 1 {
		b.WriteByte('\n')
		b.WriteString(e.Line)
		b.WriteByte('\n')
		// Keep tabs so that the caret lines up however tabs are shown.
		for i := 0; i < e.Pos.Col-1 && i < len(e.Line); i++ {
			if e.Line[i] == '\t' {
				b.WriteByte('\t')
			} else {
				b.WriteByte(' ')
			}
		}
		b.WriteByte('^')
	}
	return b.String()
}

// ErrorList is the errors of one stage, in source order.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// NewError makes an Error at pos in src, with the source line cut out.
func NewError(file string, src []byte, pos Pos, format string, args ...any) *Error {
	return &Error{File: file, Pos: pos, Msg: fmt.Sprintf(format, args...), Line: SourceLine(src, pos)}
}

// SourceLine returns the line of src that pos is on.
func SourceLine(src []byte, pos Pos) string {
	off := pos.Offset
	if off > len(src) {
		off = len(src)
	}
	if off < 0 {
		off = 0
	}
	start := off
	for start > 0 && src[start-1] != '\n' {
		start--
	}
	end := off
	for end < len(src) && src[end] != '\n' {
		end++
	}
	return strings.TrimRight(string(src[start:end]), "\r")
}
