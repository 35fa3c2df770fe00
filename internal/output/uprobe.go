package output

import (
	"strconv"
	"strings"

	"github.com/kscope/kscope/internal/event"
)

func appendInts(b []byte, k string, v []event.Int) []byte {
	b = append(b, ',', '"')
	b = append(b, k...)
	b = append(b, `":[`...)
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b, _ = x.AppendText(b)
	}
	return append(b, ']')
}

func appendProbeJSON(b []byte, probe string, args []event.Int, str *string, trunc, unavailable bool) []byte {
	b = appendStr(b, "probe", probe)
	b = appendInts(b, "args", args)
	if str != nil {
		b = appendStr(b, "str", *str)
	}
	if trunc {
		b = appendBool(b, "str_truncated", true)
	}
	if unavailable {
		b = appendBool(b, "str_unavailable", true)
	}
	return b
}

func appendUprobeJSON(b []byte, e *event.Uprobe) []byte {
	b = appendProbeJSON(b, e.Probe, e.Args, e.Str, e.StrTruncated, e.StrUnavailable)
	if e.Ret != nil {
		b = append(b, `,"ret":`...)
		b, _ = e.Ret.AppendText(b)
	}
	if e.LatencyNS != 0 {
		b = appendUint(b, "latency_ns", e.LatencyNS)
	}
	return b
}

func appendUSDTJSON(b []byte, e *event.USDT) []byte {
	b = appendStr(b, "probe", e.Probe)
	b = appendStr(b, "binary", e.Binary)
	b = appendInts(b, "args", e.Args)
	if e.Str != nil {
		b = appendStr(b, "str", *e.Str)
	}
	if e.StrTruncated {
		b = appendBool(b, "str_truncated", true)
	}
	if e.StrUnavailable {
		b = appendBool(b, "str_unavailable", true)
	}
	return b
}

// argsCell is "a0 a1 …" then the string argument, quoted, or a marker when
// it could not be read.
func argsCell(args []event.Int, str *string, trunc, unavailable bool) string {
	var sb strings.Builder
	for i, a := range args {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(a.String())
	}
	if str != nil {
		if sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(strconv.Quote(*str))
		if trunc {
			sb.WriteString("...")
		}
	}
	if unavailable {
		if sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString("<str unreadable>")
	}
	return sb.String()
}
