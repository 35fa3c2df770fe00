package output

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/kscope/kscope/internal/event"
)

// column is one column of the table for an event type.
type column struct {
	name  string
	width int // 0: last column, unpadded
	right bool
}

var tables = map[string][]column{
	"exec":    {{"TIME", 15, false}, {"COMM", 16, false}, {"PID", 7, true}, {"PPID", 7, true}, {"UID", 6, true}, {"RET", 7, true}, {"ARGS", 0, false}},
	"exit":    {{"TIME", 15, false}, {"COMM", 16, false}, {"PID", 7, true}, {"PPID", 7, true}, {"UID", 6, true}, {"CODE", 5, true}, {"SIG", 8, false}, {"AGE", 0, false}},
	"open":    {{"TIME", 15, false}, {"COMM", 16, false}, {"PID", 7, true}, {"UID", 6, true}, {"FD", 4, true}, {"ERR", 8, false}, {"FLAGS", 28, false}, {"PATH", 0, false}},
	"connect": {{"TIME", 15, false}, {"COMM", 16, false}, {"PID", 7, true}, {"UID", 6, true}, {"PROTO", 5, false}, {"SOURCE", 24, false}, {"DESTINATION", 24, false}, {"RESULT", 12, false}, {"LAT(us)", 0, false}},
	"oom":     {{"TIME", 15, false}, {"COMM", 16, false}, {"PID", 7, true}, {"UID", 6, true}, {"RSS(KiB)", 10, true}, {"VM(KiB)", 10, true}, {"ADJ", 5, true}, {"TRIGGER", 0, false}},
	"signal":  {{"TIME", 15, false}, {"COMM", 16, false}, {"PID", 7, true}, {"UID", 6, true}, {"SIGNAL", 16, false}, {"CODE", 6, true}, {"SENDER", 0, false}},
	"http":    {{"TIME", 15, false}, {"COMM", 16, false}, {"PID", 7, true}, {"ROLE", 6, false}, {"REMOTE", 24, false}, {"STATUS", 6, true}, {"LAT(us)", 9, true}, {"IN/OUT", 14, true}, {"REQUEST", 0, false}},
	"uprobe":  {{"TIME", 15, false}, {"COMM", 16, false}, {"PID", 7, true}, {"TID", 7, true}, {"LAT(us)", 9, true}, {"RET", 20, true}, {"ARGS", 0, false}},
	"usdt":    {{"TIME", 15, false}, {"COMM", 16, false}, {"PID", 7, true}, {"TID", 7, true}, {"PROBE", 24, false}, {"ARGS", 0, false}},
}

// AppendHeader appends the header line (with newline) of the table for kind.
func AppendHeader(b []byte, kind string) []byte {
	cols := tables[kind]
	for i, c := range cols {
		b = appendCell(b, c, c.name, i == len(cols)-1)
	}
	return append(b, '\n')
}

// AppendRow appends one table row (with newline) for ev.
func AppendRow(b []byte, ev event.Event) []byte {
	h := ev.Hdr()
	cols := tables[h.Type]
	var cells [9]string
	cells[0] = h.Time.Format("15:04:05.000000")
	cells[1] = h.Comm
	cells[2] = strconv.FormatUint(uint64(h.PID), 10)
	switch e := ev.(type) {
	case *event.Exec:
		cells[3] = strconv.FormatUint(uint64(h.PPID), 10)
		cells[4] = strconv.FormatUint(uint64(h.UID), 10)
		cells[5] = strconv.FormatInt(int64(e.Ret), 10)
		cells[6] = execArgs(e)
	case *event.Exit:
		cells[3] = strconv.FormatUint(uint64(h.PPID), 10)
		cells[4] = strconv.FormatUint(uint64(h.UID), 10)
		cells[5] = strconv.FormatInt(int64(e.ExitCode), 10)
		cells[6] = SignalName(e.Signal)
		if e.CoreDumped {
			cells[6] += "(core)"
		}
		cells[7] = time.Duration(e.DurationNS).Round(time.Microsecond).String()
	case *event.Open:
		cells[3] = strconv.FormatUint(uint64(h.UID), 10)
		if e.Ret >= 0 {
			cells[4] = strconv.FormatInt(int64(e.Ret), 10)
			cells[5] = "-"
		} else {
			cells[4] = "-1"
			cells[5] = e.Error
		}
		cells[6] = e.Flags
		cells[7] = e.Path
		if e.PathUnavailable {
			cells[7] = "<path unreadable>"
		}
		if e.PathTruncated {
			cells[7] += "..."
		}
	case *event.Connect:
		cells[3] = strconv.FormatUint(uint64(h.UID), 10)
		cells[4] = e.Proto
		cells[5] = net.JoinHostPort(e.SAddr, strconv.Itoa(int(e.SPort)))
		cells[6] = net.JoinHostPort(e.DAddr, strconv.Itoa(int(e.DPort)))
		if e.AddrUnavailable {
			cells[6] = "<addr unreadable>"
		}
		cells[7] = "ok"
		if e.Error != "" {
			cells[7] = e.Error
		}
		cells[8] = strconv.FormatUint(e.LatencyNS/1000, 10)
	case *event.OOM:
		cells[3] = strconv.FormatUint(uint64(h.UID), 10)
		cells[4] = strconv.FormatUint((e.AnonRSSBytes+e.FileRSSBytes+e.ShmemRSSBytes)>>10, 10)
		cells[5] = strconv.FormatUint(e.TotalVMBytes>>10, 10)
		cells[6] = strconv.FormatInt(int64(e.OOMScoreAdj), 10)
		cells[7] = task(e.TriggerComm, e.TriggerPID)
	case *event.Signal:
		cells[3] = strconv.FormatUint(uint64(h.UID), 10)
		cells[4] = e.Signal
		if e.CoreDumped {
			cells[4] += "(core)"
		}
		cells[5] = strconv.FormatInt(int64(e.Code), 10)
		cells[6] = task(e.SenderComm, e.SenderPID)
	case *event.HTTP:
		cells[3] = e.Role
		if e.TLS {
			cells[3] += "+tls"
		}
		cells[4] = e.RAddr
		cells[5] = "-"
		if e.Status != 0 {
			cells[5] = strconv.Itoa(int(e.Status))
		}
		cells[6] = strconv.FormatUint(e.LatencyNS/1000, 10)
		cells[7] = strconv.FormatUint(e.BytesIn, 10) + "/" + strconv.FormatUint(e.BytesOut, 10)
		cells[8] = e.Method + " " + e.Host + e.Path
	case *event.Uprobe:
		cells[3] = strconv.FormatUint(uint64(h.TID), 10)
		cells[4], cells[5] = "-", "-"
		if e.Ret != nil {
			cells[4] = strconv.FormatFloat(float64(e.LatencyNS)/1000, 'f', 1, 64)
			cells[5] = e.Ret.String()
		}
		cells[6] = argsCell(e.Args, e.Str, e.StrTruncated, e.StrUnavailable)
	case *event.USDT:
		cells[3] = strconv.FormatUint(uint64(h.TID), 10)
		cells[4] = e.Probe
		cells[5] = argsCell(e.Args, e.Str, e.StrTruncated, e.StrUnavailable)
	}
	for i, c := range cols {
		b = appendCell(b, c, cells[i], i == len(cols)-1)
	}
	return append(b, '\n')
}

func appendCell(b []byte, c column, s string, last bool) []byte {
	s = printable(s)
	if last {
		return append(b, s...)
	}
	pad := c.width - len(s)
	if c.right {
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

// task returns "comm[pid]", or "-" for pid 0 with no comm.
func task(comm string, pid uint32) string {
	if pid == 0 && comm == "" {
		return "-"
	}
	return comm + "[" + strconv.FormatUint(uint64(pid), 10) + "]"
}

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

// Markers for strings the kernel could not read from user memory.
const (
	unreadableArgv     = "<argv unreadable>"
	unreadableFilename = "<filename unreadable>"
)

// execArgs is the ARGS cell of an exec: argv, and for a failed exec the
// error and the filename that failed, which is not always argv[0] (a shell
// tries each $PATH directory).
func execArgs(e *event.Exec) string {
	filename := e.Filename
	if e.FilenameUnavailable {
		filename = unreadableFilename
	}
	args := strings.Join(e.Argv, " ")
	switch {
	case e.ArgvUnavailable && args == "":
		args = unreadableArgv
	case e.ArgvUnavailable:
		args += " " + unreadableArgv
	case len(e.Argv) == 0:
		args = filename
	}
	if e.ArgvTruncated {
		args += " ..."
	}
	if e.Error != "" {
		args += "  [" + e.Error + ": " + filename + "]"
	}
	return args
}
