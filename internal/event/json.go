package event

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends ev as one JSON object (no newline) to b: the header's
// fields, then the event's own (its AppendFields). This is kscope's one
// wire encoding of an event: the CLI's JSON lines, the event store, the API
// and the live stream all write it. Field names and order follow the
// kind's Fields, which for the built-in types are their json tags.
func AppendJSON(b []byte, ev Event) []byte {
	h := ev.Hdr()
	b = append(b, `{"time":"`...)
	b = h.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","type":`...)
	b = AppendString(b, h.Type)
	b = appendUint(b, "pid", uint64(h.PID))
	b = appendUint(b, "tid", uint64(h.TID))
	b = appendUint(b, "ppid", uint64(h.PPID))
	b = appendUint(b, "uid", uint64(h.UID))
	b = append(b, `,"comm":`...)
	b = AppendString(b, h.Comm)
	b = appendUint(b, "cgroup_id", h.CgroupID)
	b = appendUint(b, "start_ns", h.StartNS)
	b = appendTime(b, "start_time", h.StartTime)
	b = appendUint(b, "parent_start_ns", h.ParentStartNS)
	b = ev.AppendFields(b)
	return append(b, '}')
}

func appendKey(b []byte, k string) []byte {
	b = append(b, ',', '"')
	b = append(b, k...)
	return append(b, '"', ':')
}

func appendUint(b []byte, k string, v uint64) []byte {
	return strconv.AppendUint(appendKey(b, k), v, 10)
}

func appendInt(b []byte, k string, v int64) []byte {
	return strconv.AppendInt(appendKey(b, k), v, 10)
}

func appendBool(b []byte, k string, v bool) []byte {
	return strconv.AppendBool(appendKey(b, k), v)
}

func appendStr(b []byte, k, v string) []byte {
	return AppendString(appendKey(b, k), v)
}

func appendTime(b []byte, k string, t time.Time) []byte {
	b = append(appendKey(b, k), '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

func appendStrs(b []byte, k string, v []string) []byte {
	b = append(appendKey(b, k), '[')
	for i, s := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, s)
	}
	return append(b, ']')
}

func appendInts(b []byte, k string, v []Int) []byte {
	b = append(appendKey(b, k), '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b, _ = x.AppendText(b)
	}
	return append(b, ']')
}

// appendErr adds "error" only when there is one, like omitempty.
func appendErr(b []byte, e string) []byte {
	if e == "" {
		return b
	}
	return appendStr(b, "error", e)
}

const hex = "0123456789abcdef"

// AppendString appends s as a JSON string, escaping as encoding/json does
// (without HTML escaping). Invalid UTF-8 becomes U+FFFD.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
