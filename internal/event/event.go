package event

import "time"

// Event is implemented by every event type. The collector that emits an event
// owns it: a Sink must not keep it, or anything it points to, after Emit
// returns (collectors reuse one value per record to stay allocation free).
type Event interface {
	Hdr() *Header
	// Kind describes the event's type.
	Kind() *Kind
	// AppendFields appends the event's own JSON fields, each as
	// `,"name":value`, in the order of its kind's Fields.
	AppendFields(b []byte) []byte
	// AppendCells appends the cells of one table row, one per column of
	// its kind, unescaped and unpadded.
	AppendCells(cells []string) []string
}

// Sink receives events from collectors. Emit is called from the collector's
// reader goroutine; Flush when its ring buffer has been drained.
type Sink interface {
	Emit(Event)
	Flush()
}

// Header is common to every event.
//
// A pid alone does not name a process: the kernel reuses pids. PID and
// StartNS together do. StartNS is the process's start (its thread group
// leader's start_time) in the kernel's CLOCK_MONOTONIC nanoseconds since
// boot, the clock of the kernel's own timestamps; it is exact and the same
// in every event of the process, so it is the key to match on. StartTime is
// the same instant as wall-clock time, converted as Time is: for reading,
// not for matching (two conversions may differ by microseconds).
// ParentStartNS is the parent's StartNS: PPID and ParentStartNS name the
// parent process the same way.
type Header struct {
	Time          time.Time `json:"time"`
	Type          string    `json:"type"`
	PID           uint32    `json:"pid"`
	TID           uint32    `json:"tid"`
	PPID          uint32    `json:"ppid"`
	UID           uint32    `json:"uid"`
	Comm          string    `json:"comm"`
	CgroupID      uint64    `json:"cgroup_id"`
	StartNS       uint64    `json:"start_ns"`
	StartTime     time.Time `json:"start_time"`
	ParentStartNS uint64    `json:"parent_start_ns"`
}

// Hdr returns h itself, so types embedding Header implement Event.
func (h *Header) Hdr() *Header { return h }

// Exec is a call to execve or execveat, successful or not. A successful
// exec's filename and argv are the new program's, as the kernel copied them
// (for a script, argv starts with the interpreter); a failed exec's are read
// from the caller's memory, and the *Unavailable flags say when that failed.
type Exec struct {
	Header
	Filename string `json:"filename"`
	// FilenameUnavailable: the filename could not be read; Filename is "".
	FilenameUnavailable bool     `json:"filename_unavailable"`
	Argv                []string `json:"argv"`
	ArgvTruncated       bool     `json:"argv_truncated"`
	// ArgvUnavailable: part of argv could not be read; Argv holds the
	// arguments before the first one that could not.
	ArgvUnavailable bool   `json:"argv_unavailable"`
	Ret             int32  `json:"ret"`
	Error           string `json:"error,omitempty"`
}

// Exit is the end of a process (its last thread).
type Exit struct {
	Header
	ExitCode   int32  `json:"exit_code"`
	Signal     int32  `json:"signal"`
	CoreDumped bool   `json:"core_dumped"`
	DurationNS uint64 `json:"duration_ns"`
}

// Open is a call to open, openat or openat2.
type Open struct {
	Header
	Path          string `json:"path"`
	PathTruncated bool   `json:"path_truncated"`
	// PathUnavailable: the path could not be read from the caller's
	// memory (a bad pointer; the call fails with EFAULT); Path is "".
	PathUnavailable bool   `json:"path_unavailable"`
	Flags           string `json:"flags"`
	Mode            uint32 `json:"mode"`
	Ret             int32  `json:"ret"`
	Error           string `json:"error,omitempty"`
}

// Connect is a call to connect on an IPv4 or IPv6 socket. For a non-blocking
// TCP connect the result is that of the handshake, not EINPROGRESS.
type Connect struct {
	Header
	Family string `json:"family"`
	Proto  string `json:"proto"`
	SAddr  string `json:"saddr"`
	SPort  uint16 `json:"sport"`
	DAddr  string `json:"daddr"`
	DPort  uint16 `json:"dport"`
	// AddrUnavailable: the destination sockaddr could not be read from
	// the caller's memory (a bad pointer; the call fails with EFAULT);
	// DAddr is "" and DPort 0.
	AddrUnavailable bool   `json:"addr_unavailable"`
	Ret             int32  `json:"ret"`
	Error           string `json:"error,omitempty"`
	LatencyNS       uint64 `json:"latency_ns"`
}
