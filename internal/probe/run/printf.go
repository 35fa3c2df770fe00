package run

import (
	"fmt"
	"strings"
	"time"
)

// Printf formats as C's printf does with bpftrace's arguments: each
// integer is 64 bits; a conversion without a length modifier (%d, %u, %x)
// reads an int (32 bits), h a short, hh a char, l, ll, z, j and t 64 bits.
// args holds int64 and string values, one per conversion, and the
// bytes of buf() (rawBuf) for %r, %rx and %rh.
func Printf(format string, args []any) string {
	var b strings.Builder
	ai := 0
	for i := 0; i < len(format); i++ {
		ch := format[i]
		if ch != '%' {
			b.WriteByte(ch)
			continue
		}
		j := i + 1
		if j < len(format) && format[j] == '%' {
			b.WriteByte('%')
			i = j
			continue
		}
		for j < len(format) && strings.IndexByte("-+ #0", format[j]) >= 0 {
			j++
		}
		for j < len(format) && (format[j] >= '0' && format[j] <= '9' || format[j] == '.') {
			j++
		}
		flags := format[i+1 : j]
		mods := j
		for j < len(format) && strings.IndexByte("hlzjtL", format[j]) >= 0 {
			j++
		}
		mod := format[mods:j]
		if j >= len(format) {
			b.WriteString(format[i:])
			break
		}
		verb := format[j]
		i = j
		var arg any = int64(0)
		if ai < len(args) {
			arg = args[ai]
		}
		ai++
		switch verb {
		case 's', 'r':
			var s string
			switch a := arg.(type) {
			case string:
				s = a
			case rawBuf:
				how := byte(0)
				if verb == 'r' && i+1 < len(format) && (format[i+1] == 'x' || format[i+1] == 'h') {
					how = format[i+1]
					i++
				}
				s = a.format(how)
			default:
				s = fmt.Sprint(arg)
			}
			fmt.Fprintf(&b, "%"+flags+"s", s)
		case 'c':
			n, _ := arg.(int64)
			b.WriteByte(byte(n))
		case 'd', 'i', 'u', 'x', 'X', 'o':
			n, _ := arg.(int64)
			signed := verb == 'd' || verb == 'i'
			var v any
			switch mod {
			case "hh":
				v = pick(signed, int64(int8(n)), uint64(uint8(n)))
			case "h":
				v = pick(signed, int64(int16(n)), uint64(uint16(n)))
			case "":
				v = pick(signed, int64(int32(n)), uint64(uint32(n)))
			default:
				v = pick(signed, n, uint64(n))
			}
			gv := verb
			if gv == 'i' || gv == 'u' {
				gv = 'd'
			}
			fmt.Fprintf(&b, "%"+flags+string(gv), v)
		default:
			fmt.Fprintf(&b, "%"+flags+string(verb), arg)
		}
	}
	return b.String()
}

func pick(signed bool, s int64, u uint64) any {
	if signed {
		return s
	}
	return u
}

// Strftime formats t with the C strftime conversions scripts use.
func Strftime(format string, t time.Time) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		if format[i] != '%' || i+1 == len(format) {
			b.WriteByte(format[i])
			continue
		}
		i++
		switch format[i] {
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 'Y':
			fmt.Fprintf(&b, "%d", t.Year())
		case 'y':
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'e':
			fmt.Fprintf(&b, "%2d", t.Day())
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case 'b', 'h':
			b.WriteString(t.Format("Jan"))
		case 'B':
			b.WriteString(t.Format("January"))
		case 'a':
			b.WriteString(t.Format("Mon"))
		case 'A':
			b.WriteString(t.Format("Monday"))
		case 'p':
			b.WriteString(t.Format("PM"))
		case 'Z':
			b.WriteString(t.Format("MST"))
		case 'z':
			b.WriteString(t.Format("-0700"))
		case 'T':
			b.WriteString(t.Format("15:04:05"))
		case 'D':
			b.WriteString(t.Format("01/02/06"))
		case 'F':
			b.WriteString(t.Format("2006-01-02"))
		case 's':
			fmt.Fprintf(&b, "%d", t.Unix())
		case 'f':
			fmt.Fprintf(&b, "%06d", t.Nanosecond()/1000)
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(format[i])
		}
	}
	return b.String()
}
