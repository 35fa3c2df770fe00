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
		args := strings.Join(e.Argv, " ")
		if len(e.Argv) == 0 {
			args = e.Filename
		}
		if e.ArgvTruncated {
			args += " ..."
		}
		if e.Error != "" {
			args += "  [" + e.Error + "]"
		}
		cells[6] = args
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
		if e.PathTruncated {
			cells[7] += "..."
		}
	case *event.Connect:
		cells[3] = strconv.FormatUint(uint64(h.UID), 10)
		cells[4] = e.Proto
		cells[5] = net.JoinHostPort(e.SAddr, strconv.Itoa(int(e.SPort)))
		cells[6] = net.JoinHostPort(e.DAddr, strconv.Itoa(int(e.DPort)))
		cells[7] = "ok"
		if e.Error != "" {
			cells[7] = e.Error
		}
		cells[8] = strconv.FormatUint(e.LatencyNS/1000, 10)
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
	if name := signalNames[sig]; name != "" {
		return name
	}
	return "SIG" + strconv.Itoa(int(sig))
}

var signalNames = map[int32]string{
	1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS",
	8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE",
	14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP",
	20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU", 23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ",
	26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS",
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
