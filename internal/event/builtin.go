package event

import (
	"net"
	"strconv"
	"strings"
	"time"
)

// The built-in kinds, registered in this order.
var builtin = []*Kind{ExecKind, ExitKind, OpenKind, ConnectKind, OOMKind, SignalKind, UprobeKind, USDTKind, HTTPKind}

// appendBaseCells appends the TIME, COMM and PID cells.
func (h *Header) appendBaseCells(c []string) []string {
	return append(c, h.Time.Format("15:04:05.000000"), h.Comm, strconv.FormatUint(uint64(h.PID), 10))
}

func u32(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// ExecKind describes Exec.
var ExecKind = &Kind{
	Name: "exec",
	Doc:  "a call to execve or execveat, successful or not",
	Fields: []Field{
		{Name: "filename", Type: TypeString, Doc: "the program's path as passed (a failed exec's is read from the caller)"},
		{Name: "filename_unavailable", Type: TypeBool, Doc: "the filename could not be read; filename is empty"},
		{Name: "argv", Type: TypeStrings, Doc: "the arguments (for a script the interpreter's first)"},
		{Name: "argv_truncated", Type: TypeBool, Doc: "argv had more arguments or bytes than kscope copies"},
		{Name: "argv_unavailable", Type: TypeBool, Doc: "part of argv could not be read; argv holds the arguments before it"},
		{Name: "ret", Type: TypeInt, Doc: "the return value: 0 or a negative errno"},
		{Name: "error", Type: TypeString, Doc: "the errno's name when the call failed", Omit: true},
	},
	Columns: []Column{baseColumns[0], baseColumns[1], baseColumns[2], {"PPID", 7, true, ""}, {"UID", 6, true, ""}, {"RET", 7, true, ""}, {"ARGS", 0, false, ""}},
	Summary: []string{"argv", "filename", "error"},
	Bad:     "error",
}

// Kind implements Event.
func (*Exec) Kind() *Kind { return ExecKind }

// AppendFields implements Event.
func (e *Exec) AppendFields(b []byte) []byte {
	b = appendStr(b, "filename", e.Filename)
	b = appendBool(b, "filename_unavailable", e.FilenameUnavailable)
	b = appendStrs(b, "argv", e.Argv)
	b = appendBool(b, "argv_truncated", e.ArgvTruncated)
	b = appendBool(b, "argv_unavailable", e.ArgvUnavailable)
	b = appendInt(b, "ret", int64(e.Ret))
	return appendErr(b, e.Error)
}

// AppendCells implements Event.
func (e *Exec) AppendCells(c []string) []string {
	c = e.appendBaseCells(c)
	return append(c, u32(e.PPID), u32(e.UID), strconv.FormatInt(int64(e.Ret), 10), e.ArgsCell())
}

// Markers for strings the kernel could not read from user memory.
const (
	unreadableArgv     = "<argv unreadable>"
	unreadableFilename = "<filename unreadable>"
)

// ArgsCell is the ARGS cell of an exec: argv, and for a failed exec the
// error and the filename that failed, which is not always argv[0] (a shell
// tries each $PATH directory).
func (e *Exec) ArgsCell() string {
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

// ExitKind describes Exit.
var ExitKind = &Kind{
	Name: "exit",
	Doc:  "the end of a process (its last thread)",
	Fields: []Field{
		{Name: "exit_code", Type: TypeInt, Doc: "the exit status"},
		{Name: "signal", Type: TypeInt, Doc: "the signal that killed it, 0 for none"},
		{Name: "core_dumped", Type: TypeBool, Doc: "the signal dumped core"},
		{Name: "duration_ns", Type: TypeUint, Doc: "the process's age at exit"},
	},
	Columns: []Column{baseColumns[0], baseColumns[1], baseColumns[2], {"PPID", 7, true, ""}, {"UID", 6, true, ""}, {"CODE", 5, true, ""}, {"SIG", 8, false, ""}, {"AGE", 0, false, ""}},
	Summary: []string{"exit_code", "signal", "duration_ns"},
	Bad:     "signal",
}

// Kind implements Event.
func (*Exit) Kind() *Kind { return ExitKind }

// AppendFields implements Event.
func (e *Exit) AppendFields(b []byte) []byte {
	b = appendInt(b, "exit_code", int64(e.ExitCode))
	b = appendInt(b, "signal", int64(e.Signal))
	b = appendBool(b, "core_dumped", e.CoreDumped)
	return appendUint(b, "duration_ns", e.DurationNS)
}

// AppendCells implements Event.
func (e *Exit) AppendCells(c []string) []string {
	c = e.appendBaseCells(c)
	sig := "-"
	if e.Signal != 0 {
		sig = SignalName(e.Signal)
	}
	if e.CoreDumped {
		sig += "(core)"
	}
	return append(c, u32(e.PPID), u32(e.UID), strconv.FormatInt(int64(e.ExitCode), 10), sig,
		time.Duration(e.DurationNS).Round(time.Microsecond).String())
}

// OpenKind describes Open.
var OpenKind = &Kind{
	Name: "open",
	Doc:  "a call to open, openat or openat2",
	Fields: []Field{
		{Name: "path", Type: TypeString, Doc: "the path as passed"},
		{Name: "path_truncated", Type: TypeBool, Doc: "the path was longer than kscope copies"},
		{Name: "path_unavailable", Type: TypeBool, Doc: "the path could not be read (a bad pointer); path is empty"},
		{Name: "flags", Type: TypeString, Doc: "the open flags, symbolically (O_WRONLY|O_CREAT)"},
		{Name: "mode", Type: TypeUint, Doc: "the mode for a created file"},
		{Name: "ret", Type: TypeInt, Doc: "the file descriptor, or a negative errno"},
		{Name: "error", Type: TypeString, Doc: "the errno's name when the call failed", Omit: true},
	},
	Columns: []Column{baseColumns[0], baseColumns[1], baseColumns[2], {"UID", 6, true, ""}, {"FD", 4, true, ""}, {"ERR", 8, false, ""}, {"FLAGS", 28, false, ""}, {"PATH", 0, false, ""}},
	Summary: []string{"path", "flags", "error"},
	Bad:     "error",
}

// Kind implements Event.
func (*Open) Kind() *Kind { return OpenKind }

// AppendFields implements Event.
func (e *Open) AppendFields(b []byte) []byte {
	b = appendStr(b, "path", e.Path)
	b = appendBool(b, "path_truncated", e.PathTruncated)
	b = appendBool(b, "path_unavailable", e.PathUnavailable)
	b = appendStr(b, "flags", e.Flags)
	b = appendUint(b, "mode", uint64(e.Mode))
	b = appendInt(b, "ret", int64(e.Ret))
	return appendErr(b, e.Error)
}

// AppendCells implements Event.
func (e *Open) AppendCells(c []string) []string {
	c = e.appendBaseCells(c)
	fd, errno := "-1", e.Error
	if e.Ret >= 0 {
		fd, errno = strconv.FormatInt(int64(e.Ret), 10), "-"
	}
	path := e.Path
	if e.PathUnavailable {
		path = "<path unreadable>"
	}
	if e.PathTruncated {
		path += "..."
	}
	return append(c, u32(e.UID), fd, errno, e.Flags, path)
}

// ConnectKind describes Connect.
var ConnectKind = &Kind{
	Name: "connect",
	Doc:  "a call to connect on an IPv4 or IPv6 socket",
	Fields: []Field{
		{Name: "family", Type: TypeString, Doc: "inet or inet6"},
		{Name: "proto", Type: TypeString, Doc: "tcp or udp"},
		{Name: "saddr", Type: TypeString, Doc: "the local address"},
		{Name: "sport", Type: TypeUint, Doc: "the local port"},
		{Name: "daddr", Type: TypeString, Doc: "the destination address"},
		{Name: "dport", Type: TypeUint, Doc: "the destination port"},
		{Name: "addr_unavailable", Type: TypeBool, Doc: "the destination could not be read (a bad pointer); daddr is empty, dport 0"},
		{Name: "ret", Type: TypeInt, Doc: "0 or a negative errno (for a non-blocking TCP connect, the handshake's)"},
		{Name: "error", Type: TypeString, Doc: "the errno's name when the call failed", Omit: true},
		{Name: "latency_ns", Type: TypeUint, Doc: "from the call to its result"},
	},
	Columns: []Column{baseColumns[0], baseColumns[1], baseColumns[2], {"UID", 6, true, ""}, {"PROTO", 5, false, ""}, {"SOURCE", 24, false, ""}, {"DESTINATION", 24, false, ""}, {"RESULT", 12, false, ""}, {"LAT(us)", 0, false, ""}},
	Summary: []string{"proto", "daddr", "dport", "error", "latency_ns"},
	Bad:     "error",
}

// Kind implements Event.
func (*Connect) Kind() *Kind { return ConnectKind }

// AppendFields implements Event.
func (e *Connect) AppendFields(b []byte) []byte {
	b = appendStr(b, "family", e.Family)
	b = appendStr(b, "proto", e.Proto)
	b = appendStr(b, "saddr", e.SAddr)
	b = appendUint(b, "sport", uint64(e.SPort))
	b = appendStr(b, "daddr", e.DAddr)
	b = appendUint(b, "dport", uint64(e.DPort))
	b = appendBool(b, "addr_unavailable", e.AddrUnavailable)
	b = appendInt(b, "ret", int64(e.Ret))
	b = appendErr(b, e.Error)
	return appendUint(b, "latency_ns", e.LatencyNS)
}

// AppendCells implements Event.
func (e *Connect) AppendCells(c []string) []string {
	c = e.appendBaseCells(c)
	dst := net.JoinHostPort(e.DAddr, strconv.Itoa(int(e.DPort)))
	if e.AddrUnavailable {
		dst = "<addr unreadable>"
	}
	result := "ok"
	if e.Error != "" {
		result = e.Error
	}
	return append(c, u32(e.UID), e.Proto, net.JoinHostPort(e.SAddr, strconv.Itoa(int(e.SPort))), dst, result,
		strconv.FormatUint(e.LatencyNS/1000, 10))
}

// OOMKind describes OOM.
var OOMKind = &Kind{
	Name: "oom",
	Doc:  "a process killed by the kernel's out-of-memory killer",
	Fields: []Field{
		{Name: "trigger_pid", Type: TypeUint, Doc: "the task whose allocation ran the killer"},
		{Name: "trigger_comm", Type: TypeString, Doc: "its command name"},
		{Name: "memcg_id", Type: TypeUint, Doc: "the victim's memory cgroup"},
		{Name: "total_vm_bytes", Type: TypeUint, Doc: "the victim's virtual memory size"},
		{Name: "anon_rss_bytes", Type: TypeUint, Doc: "its anonymous resident memory"},
		{Name: "file_rss_bytes", Type: TypeUint, Doc: "its file-backed resident memory"},
		{Name: "shmem_rss_bytes", Type: TypeUint, Doc: "its shared-memory resident memory"},
		{Name: "pgtables_bytes", Type: TypeUint, Doc: "its page tables"},
		{Name: "oom_score_adj", Type: TypeInt, Doc: "its oom_score_adj"},
	},
	Columns: []Column{baseColumns[0], baseColumns[1], baseColumns[2], {"UID", 6, true, ""}, {"RSS(KiB)", 10, true, ""}, {"VM(KiB)", 10, true, ""}, {"ADJ", 5, true, ""}, {"TRIGGER", 0, false, ""}},
	Summary: []string{"anon_rss_bytes", "trigger_comm", "trigger_pid"},
}

// Kind implements Event.
func (*OOM) Kind() *Kind { return OOMKind }

// AppendFields implements Event.
func (e *OOM) AppendFields(b []byte) []byte {
	b = appendUint(b, "trigger_pid", uint64(e.TriggerPID))
	b = appendStr(b, "trigger_comm", e.TriggerComm)
	b = appendUint(b, "memcg_id", e.MemcgID)
	b = appendUint(b, "total_vm_bytes", e.TotalVMBytes)
	b = appendUint(b, "anon_rss_bytes", e.AnonRSSBytes)
	b = appendUint(b, "file_rss_bytes", e.FileRSSBytes)
	b = appendUint(b, "shmem_rss_bytes", e.ShmemRSSBytes)
	b = appendUint(b, "pgtables_bytes", e.PgtablesBytes)
	return appendInt(b, "oom_score_adj", int64(e.OOMScoreAdj))
}

// AppendCells implements Event.
func (e *OOM) AppendCells(c []string) []string {
	c = e.appendBaseCells(c)
	return append(c, u32(e.UID),
		strconv.FormatUint((e.AnonRSSBytes+e.FileRSSBytes+e.ShmemRSSBytes)>>10, 10),
		strconv.FormatUint(e.TotalVMBytes>>10, 10),
		strconv.FormatInt(int64(e.OOMScoreAdj), 10),
		task(e.TriggerComm, e.TriggerPID))
}

// task returns "comm[pid]", or "-" for pid 0 with no comm.
func task(comm string, pid uint32) string {
	if pid == 0 && comm == "" {
		return "-"
	}
	return comm + "[" + u32(pid) + "]"
}

// SignalKind describes Signal.
var SignalKind = &Kind{
	Name: "signal",
	Doc:  "a signal that ended its target process",
	Fields: []Field{
		{Name: "signal", Type: TypeString, Doc: "the signal's name (SIGKILL)"},
		{Name: "signo", Type: TypeInt, Doc: "its number"},
		{Name: "code", Type: TypeInt, Doc: "its si_code"},
		{Name: "fatal", Type: TypeBool, Doc: "it ended the process"},
		{Name: "core_dumped", Type: TypeBool, Doc: "it dumped core"},
		{Name: "sender_pid", Type: TypeUint, Doc: "the sender's pid, 0 when it was sent before tracing started"},
		{Name: "sender_tid", Type: TypeUint, Doc: "the sender's thread id"},
		{Name: "sender_uid", Type: TypeUint, Doc: "the sender's user id"},
		{Name: "sender_comm", Type: TypeString, Doc: "the sender's command name"},
	},
	Columns: []Column{baseColumns[0], baseColumns[1], baseColumns[2], {"UID", 6, true, ""}, {"SIGNAL", 16, false, ""}, {"CODE", 6, true, ""}, {"SENDER", 0, false, ""}},
	Summary: []string{"signal", "sender_comm", "sender_pid"},
	Bad:     "fatal",
}

// Kind implements Event.
func (*Signal) Kind() *Kind { return SignalKind }

// AppendFields implements Event.
func (e *Signal) AppendFields(b []byte) []byte {
	b = appendStr(b, "signal", e.Signal)
	b = appendInt(b, "signo", int64(e.Signo))
	b = appendInt(b, "code", int64(e.Code))
	b = appendBool(b, "fatal", e.Fatal)
	b = appendBool(b, "core_dumped", e.CoreDumped)
	b = appendUint(b, "sender_pid", uint64(e.SenderPID))
	b = appendUint(b, "sender_tid", uint64(e.SenderTID))
	b = appendUint(b, "sender_uid", uint64(e.SenderUID))
	return appendStr(b, "sender_comm", e.SenderComm)
}

// AppendCells implements Event.
func (e *Signal) AppendCells(c []string) []string {
	c = e.appendBaseCells(c)
	sig := e.Signal
	if e.CoreDumped {
		sig += "(core)"
	}
	return append(c, u32(e.UID), sig, strconv.FormatInt(int64(e.Code), 10), task(e.SenderComm, e.SenderPID))
}

// HTTPKind describes HTTP.
var HTTPKind = &Kind{
	Name: "http",
	Doc:  "one HTTP/1.x exchange, a request and its response, as a server or client saw it",
	Fields: []Field{
		{Name: "role", Type: TypeString, Doc: "server or client"},
		{Name: "method", Type: TypeString, Doc: "the request method as sent"},
		{Name: "path", Type: TypeString, Doc: "the request target without the query, at most 256 bytes"},
		{Name: "host", Type: TypeString, Doc: "the Host header, when it came in the captured head"},
		{Name: "status", Type: TypeInt, Doc: "the final response's status, 0 when none came"},
		{Name: "latency_ns", Type: TypeUint, Doc: "from the request's first bytes to the response's last"},
		{Name: "bytes_in", Type: TypeUint, Doc: "bytes read by the process, headers included"},
		{Name: "bytes_out", Type: TypeUint, Doc: "bytes written by the process"},
		{Name: "tls", Type: TypeBool, Doc: "seen in plain text inside OpenSSL or Go's crypto/tls"},
		{Name: "laddr", Type: TypeString, Doc: "the local address:port"},
		{Name: "raddr", Type: TypeString, Doc: "the remote address:port"},
	},
	Columns: []Column{baseColumns[0], baseColumns[1], baseColumns[2], {"ROLE", 6, false, ""}, {"REMOTE", 24, false, ""}, {"STATUS", 6, true, ""}, {"LAT(us)", 9, true, ""}, {"IN/OUT", 14, true, ""}, {"REQUEST", 0, false, ""}},
	Summary: []string{"role", "method", "host", "path", "status", "latency_ns"},
}

// Kind implements Event.
func (*HTTP) Kind() *Kind { return HTTPKind }

// AppendFields implements Event.
func (e *HTTP) AppendFields(b []byte) []byte {
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
	return appendStr(b, "raddr", e.RAddr)
}

// AppendCells implements Event.
func (e *HTTP) AppendCells(c []string) []string {
	c = e.appendBaseCells(c)
	role := e.Role
	if e.TLS {
		role += "+tls"
	}
	status := "-"
	if e.Status != 0 {
		status = strconv.Itoa(int(e.Status))
	}
	return append(c, role, e.RAddr, status, strconv.FormatUint(e.LatencyNS/1000, 10),
		strconv.FormatUint(e.BytesIn, 10)+"/"+strconv.FormatUint(e.BytesOut, 10),
		e.Method+" "+e.Host+e.Path)
}

// UprobeKind describes Uprobe.
var UprobeKind = &Kind{
	Name: "uprobe",
	Doc:  "one call of a user-space function",
	Fields: []Field{
		{Name: "probe", Type: TypeString, Doc: "BINARY:FUNCTION"},
		{Name: "args", Type: TypeInts, Doc: "the first argument registers"},
		{Name: "str", Type: TypeString, Doc: "the string argument, when one was asked for and could be read", Omit: true},
		{Name: "str_truncated", Type: TypeBool, Doc: "the string was longer than kscope copies", Omit: true},
		{Name: "str_unavailable", Type: TypeBool, Doc: "the string argument could not be read (NULL or a bad pointer)", Omit: true},
		{Name: "ret", Type: TypeInt, Doc: "the return value, with return probes", Omit: true},
		{Name: "latency_ns", Type: TypeUint, Doc: "the call's duration, with return probes", Omit: true},
	},
	Columns: []Column{baseColumns[0], baseColumns[1], baseColumns[2], {"TID", 7, true, ""}, {"LAT(us)", 9, true, ""}, {"RET", 20, true, ""}, {"ARGS", 0, false, ""}},
	Summary: []string{"probe", "args", "str", "ret", "latency_ns"},
}

// Kind implements Event.
func (*Uprobe) Kind() *Kind { return UprobeKind }

// AppendFields implements Event.
func (e *Uprobe) AppendFields(b []byte) []byte {
	b = appendStr(b, "probe", e.Probe)
	b = appendInts(b, "args", e.Args)
	b = appendStrArg(b, e.Str, e.StrTruncated, e.StrUnavailable)
	if e.Ret != nil {
		b, _ = e.Ret.AppendText(appendKey(b, "ret"))
	}
	if e.LatencyNS != 0 {
		b = appendUint(b, "latency_ns", e.LatencyNS)
	}
	return b
}

// AppendCells implements Event.
func (e *Uprobe) AppendCells(c []string) []string {
	c = e.appendBaseCells(c)
	lat, ret := "-", "-"
	if e.Ret != nil {
		lat = strconv.FormatFloat(float64(e.LatencyNS)/1000, 'f', 1, 64)
		ret = e.Ret.String()
	}
	return append(c, u32(e.TID), lat, ret, argsCell(e.Args, e.Str, e.StrTruncated, e.StrUnavailable))
}

// USDTKind describes USDT.
var USDTKind = &Kind{
	Name: "usdt",
	Doc:  "one hit of a USDT probe",
	Fields: []Field{
		{Name: "probe", Type: TypeString, Doc: "PROVIDER:NAME"},
		{Name: "binary", Type: TypeString, Doc: "the file the probe is in"},
		{Name: "args", Type: TypeInts, Doc: "the arguments, decoded to their declared sizes and signedness"},
		{Name: "str", Type: TypeString, Doc: "the string argument, when one was asked for and could be read", Omit: true},
		{Name: "str_truncated", Type: TypeBool, Doc: "the string was longer than kscope copies", Omit: true},
		{Name: "str_unavailable", Type: TypeBool, Doc: "the string argument could not be read (NULL or a bad pointer)", Omit: true},
	},
	Columns: []Column{baseColumns[0], baseColumns[1], baseColumns[2], {"TID", 7, true, ""}, {"PROBE", 24, false, ""}, {"ARGS", 0, false, ""}},
	Summary: []string{"probe", "args", "str", "binary"},
}

// Kind implements Event.
func (*USDT) Kind() *Kind { return USDTKind }

// AppendFields implements Event.
func (e *USDT) AppendFields(b []byte) []byte {
	b = appendStr(b, "probe", e.Probe)
	b = appendStr(b, "binary", e.Binary)
	b = appendInts(b, "args", e.Args)
	return appendStrArg(b, e.Str, e.StrTruncated, e.StrUnavailable)
}

// AppendCells implements Event.
func (e *USDT) AppendCells(c []string) []string {
	c = e.appendBaseCells(c)
	return append(c, u32(e.TID), e.Probe, argsCell(e.Args, e.Str, e.StrTruncated, e.StrUnavailable))
}

// appendStrArg appends the optional string argument of a probe and its
// flags, each only when set.
func appendStrArg(b []byte, str *string, trunc, unavailable bool) []byte {
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

// argsCell is "a0 a1 …" then the string argument, quoted, or a marker when
// it could not be read.
func argsCell(args []Int, str *string, trunc, unavailable bool) string {
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
