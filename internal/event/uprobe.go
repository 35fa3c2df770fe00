package event

import "strconv"

// Int is an integer argument or return value as read from a register or
// memory: shown as int64 when Signed, as uint64 otherwise.
type Int struct {
	V      uint64
	Signed bool
}

// AppendText appends the decimal value.
func (i Int) AppendText(b []byte) ([]byte, error) {
	if i.Signed {
		return strconv.AppendInt(b, int64(i.V), 10), nil
	}
	return strconv.AppendUint(b, i.V, 10), nil
}

// String returns the decimal value.
func (i Int) String() string {
	b, _ := i.AppendText(nil)
	return string(b)
}

// MarshalJSON writes the value as a JSON number.
func (i Int) MarshalJSON() ([]byte, error) { return i.AppendText(nil) }

// Uprobe is one call of a user-space function (kscope trace uprobe).
// Args are the first argument registers as 64-bit signed integers (narrower
// C types keep whatever the upper bits held). With return probes the event
// is emitted when the call returns, with Ret (the return register) and
// LatencyNS; Str is the string argument when one was asked for and could be
// read (StrUnavailable when not).
type Uprobe struct {
	Header
	Probe        string  `json:"probe"` // BINARY:FUNCTION
	Args         []Int   `json:"args"`
	Str          *string `json:"str,omitempty"`
	StrTruncated bool    `json:"str_truncated,omitempty"`
	// StrUnavailable: the string argument could not be read (NULL or a
	// bad pointer); Str is nil.
	StrUnavailable bool   `json:"str_unavailable,omitempty"`
	Ret            *Int   `json:"ret,omitempty"`
	LatencyNS      uint64 `json:"latency_ns,omitempty"`
}

// USDT is one hit of a USDT probe (kscope trace usdt), with its arguments
// decoded to their declared sizes and signedness.
type USDT struct {
	Header
	Probe        string  `json:"probe"`  // PROVIDER:NAME
	Binary       string  `json:"binary"` // the file the probe is in
	Args         []Int   `json:"args"`
	Str          *string `json:"str,omitempty"`
	StrTruncated bool    `json:"str_truncated,omitempty"`
	// StrUnavailable: the string argument could not be read (NULL or a
	// bad pointer); Str is nil.
	StrUnavailable bool `json:"str_unavailable,omitempty"`
}

// Clone returns a deep copy, for sinks that keep events.
func (e *Uprobe) Clone() Event {
	v := *e
	v.Args = append([]Int(nil), e.Args...)
	if e.Str != nil {
		s := *e.Str
		v.Str = &s
	}
	if e.Ret != nil {
		r := *e.Ret
		v.Ret = &r
	}
	return &v
}

// Clone returns a deep copy, for sinks that keep events.
func (e *USDT) Clone() Event {
	v := *e
	v.Args = append([]Int(nil), e.Args...)
	if e.Str != nil {
		s := *e.Str
		v.Str = &s
	}
	return &v
}
