package output

import (
	"strings"

	"github.com/kscope/kscope/internal/event"
)

// AppendHeader appends the header line (with newline) of the table for
// the registered kind of that name (nothing but the newline for an
// unknown one).
func AppendHeader(b []byte, kind string) []byte {
	return appendHeader(b, event.LookupKind(kind))
}

func appendHeader(b []byte, k *event.Kind) []byte {
	if k != nil {
		for i, c := range k.Columns {
			b = appendCell(b, c, c.Header, i == len(k.Columns)-1)
		}
	}
	return append(b, '\n')
}

// AppendRow appends one table row (with newline) for ev: the cells the
// event makes for its kind's columns, escaped and padded to the columns'
// widths.
func AppendRow(b []byte, ev event.Event) []byte {
	var buf [12]string
	cells := ev.AppendCells(buf[:0])
	cols := ev.Kind().Columns
	for i, c := range cols {
		var s string
		if i < len(cells) {
			s = cells[i]
		}
		b = appendCell(b, c, s, i == len(cols)-1)
	}
	return append(b, '\n')
}

func appendCell(b []byte, c event.Column, s string, last bool) []byte {
	s = printable(s)
	if last {
		return append(b, s...)
	}
	pad := c.Width - len(s)
	if c.Right {
		for ; pad > 0; pad-- {
			b = append(b, ' ')
		}
		b = append(b, s...)
	} else {
		b = append(b, s...)
		for ; pad > 0; pad-- {
			b = append(b, ' ')
		}
	}
	return append(b, ' ')
}

// SignalName returns "SIGKILL" for 9, "-" for 0.
func SignalName(sig int32) string {
	if sig == 0 {
		return "-"
	}
	return event.SignalName(sig)
}

const hex = "0123456789abcdef"

// printable escapes control characters (\n as \x0a) so that a hostile
// command name or path cannot break the table.
func printable(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			b.WriteString(`\x`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}
