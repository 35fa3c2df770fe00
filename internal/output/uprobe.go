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

func appendProbeJSON(b []byte, probe string, args []event.Int, str *string, trunc bool) []byte {
	b = appendStr(b, "probe", probe)
	b = appendInts(b, "args", args)
	if str != nil {
		b = appendStr(b, "str", *str)
	}
	if trunc {
		b = appendBool(b, "str_truncated", true)
	}
	return b
}

func appendUprobeJSON(b []byte, e *event.Uprobe) []byte {
	b = appendProbeJSON(b, e.Probe, e.Args, e.Str, e.StrTruncated)
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
	return b
}

// argsCell is "a0 a1 …" then the string argument, quoted.
func argsCell(args []event.Int, str *string, trunc bool) string {
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
	return sb.String()
}
