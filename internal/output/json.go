package output

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/kscope/kscope/internal/event"
)

// AppendJSON appends ev as one JSON object (no newline) to b. Field names
// and order follow the json tags of the event types.
func AppendJSON(b []byte, ev event.Event) []byte {
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
	switch e := ev.(type) {
	case *event.Exec:
		b = appendStr(b, "filename", e.Filename)
		b = appendBool(b, "filename_unavailable", e.FilenameUnavailable)
		b = append(b, `,"argv":[`...)
		for i, a := range e.Argv {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendString(b, a)
		}
		b = append(b, ']')
		b = appendBool(b, "argv_truncated", e.ArgvTruncated)
		b = appendBool(b, "argv_unavailable", e.ArgvUnavailable)
		b = appendInt(b, "ret", int64(e.Ret))
		b = appendErr(b, e.Error)
	case *event.Exit:
		b = appendInt(b, "exit_code", int64(e.ExitCode))
		b = appendInt(b, "signal", int64(e.Signal))
		b = appendBool(b, "core_dumped", e.CoreDumped)
		b = appendUint(b, "duration_ns", e.DurationNS)
	case *event.Open:
		b = appendStr(b, "path", e.Path)
		b = appendBool(b, "path_truncated", e.PathTruncated)
		b = appendBool(b, "path_unavailable", e.PathUnavailable)
		b = appendStr(b, "flags", e.Flags)
		b = appendUint(b, "mode", uint64(e.Mode))
		b = appendInt(b, "ret", int64(e.Ret))
		b = appendErr(b, e.Error)
	case *event.Connect:
		b = appendStr(b, "family", e.Family)
		b = appendStr(b, "proto", e.Proto)
		b = appendStr(b, "saddr", e.SAddr)
		b = appendUint(b, "sport", uint64(e.SPort))
		b = appendStr(b, "daddr", e.DAddr)
		b = appendUint(b, "dport", uint64(e.DPort))
		b = appendBool(b, "addr_unavailable", e.AddrUnavailable)
		b = appendInt(b, "ret", int64(e.Ret))
		b = appendErr(b, e.Error)
		b = appendUint(b, "latency_ns", e.LatencyNS)
	case *event.OOM:
		b = appendUint(b, "trigger_pid", uint64(e.TriggerPID))
		b = appendStr(b, "trigger_comm", e.TriggerComm)
		b = appendUint(b, "memcg_id", e.MemcgID)
		b = appendUint(b, "total_vm_bytes", e.TotalVMBytes)
		b = appendUint(b, "anon_rss_bytes", e.AnonRSSBytes)
		b = appendUint(b, "file_rss_bytes", e.FileRSSBytes)
		b = appendUint(b, "shmem_rss_bytes", e.ShmemRSSBytes)
		b = appendUint(b, "pgtables_bytes", e.PgtablesBytes)
		b = appendInt(b, "oom_score_adj", int64(e.OOMScoreAdj))
	case *event.Signal:
		b = appendStr(b, "signal", e.Signal)
		b = appendInt(b, "signo", int64(e.Signo))
		b = appendInt(b, "code", int64(e.Code))
		b = appendBool(b, "fatal", e.Fatal)
		b = appendBool(b, "core_dumped", e.CoreDumped)
		b = appendUint(b, "sender_pid", uint64(e.SenderPID))
		b = appendUint(b, "sender_tid", uint64(e.SenderTID))
		b = appendUint(b, "sender_uid", uint64(e.SenderUID))
		b = appendStr(b, "sender_comm", e.SenderComm)
	case *event.HTTP:
		b = appendStr(b, "role", e.Role)
		b = appendStr(b, "method", e.Method)
		b = appendStr(b, "path", e.Path)
		b = appendStr(b, "host", e.Host)
		b = appendInt(b, "status", int64(e.Status))
		b = appendUint(b, "latency_ns", e.LatencyNS)
		b = appendUint(b, "bytes_in", e.BytesIn)
		b = appendUint(b, "bytes_out", e.BytesOut)
		b = appendBool(b, "tls", e.TLS)
		b = appendStr(b, "laddr", e.LAddr)
		b = appendStr(b, "raddr", e.RAddr)
	case *event.Uprobe:
		b = appendUprobeJSON(b, e)
	case *event.USDT:
		b = appendUSDTJSON(b, e)
	}
	return append(b, '}')
}

func appendUint(b []byte, k string, v uint64) []byte {
	b = append(b, ',', '"')
	b = append(b, k...)
	b = append(b, '"', ':')
	return strconv.AppendUint(b, v, 10)
}

func appendInt(b []byte, k string, v int64) []byte {
	b = append(b, ',', '"')
	b = append(b, k...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, v, 10)
}

func appendBool(b []byte, k string, v bool) []byte {
	b = append(b, ',', '"')
	b = append(b, k...)
	b = append(b, '"', ':')
	return strconv.AppendBool(b, v)
}

func appendStr(b []byte, k, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, k...)
	b = append(b, '"', ':')
	return AppendString(b, v)
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
