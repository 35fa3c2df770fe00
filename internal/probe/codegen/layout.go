package codegen

import (
	"github.com/cilium/ebpf"

	"github.com/kscope/kscope/internal/probe/ast"
	"github.com/kscope/kscope/internal/probe/check"
)

// Object is a compiled script: the collection to load and what user space
// needs to attach its programs and read what they produce.
type Object struct {
	Spec *ebpf.CollectionSpec
	// Probes has one entry per program, in source order.
	Probes []*Probe
	// Maps are the script's maps, sorted by name.
	Maps []*Map
	// Calls are the call sites that send a record, indexed by the
	// record's id.
	Calls []*Call
	// Ring and Start name the ring buffer and the one-entry array holding
	// the start time (nanoseconds, CLOCK_MONOTONIC) that elapsed counts
	// from; the runtime sets it before running BEGIN.
	Ring, Start string
	// Lost names the per-CPU array of drop counters: [0] the records
	// the ring buffer had no room for, [1] the map elements that did not
	// fit in a full map (max_map_keys).
	Lost string
	// Exit names the one-entry array that exit() sets to 1, which the
	// runtime polls in case the ring buffer had no room for the record.
	Exit string
	// StrLen is the size of every string value, NUL included.
	StrLen int
}

// Probe is one program and where it attaches.
type Probe struct {
	Program  string   // its name in Spec.Programs
	Provider string   // canonical: begin, end, tracepoint, interval, …
	Parts    []string // the attach point after the provider, split at ':'
	Name     string   // the attach point as bpftrace names it in probe
	Offset   uint64   // +offset (uprobe); the site's file offset (usdt)
	// Path is the file a usdt probe attaches to and RefCtrOffset the
	// file offset of its semaphore (0: none).
	Path         string
	RefCtrOffset uint64
	Pos          ast.Pos
	// Lines maps each instruction to the script position that produced
	// it, for verifier errors.
	Lines []ast.Pos
}

// ValueKind is what a map holds.
type ValueKind = check.Kind

// Map describes one script map.
type Map struct {
	Name   string // without '@'; "" for @
	BPF    string // its name in Spec.Maps
	Keys   []Slot // the key's elements; nil without a key
	Keyed  bool
	Value  check.Kind // Int, String or an aggregation kind
	PerCPU bool
	// Hist and LHist: a bucket index (u64) follows the key, and each
	// bucket's value is the sum of its values, then their count; LHist's
	// bounds.
	Min, Max, Step int64
	// Bits is hist(v, k)'s k: each power of 2 is split in 2^k buckets.
	Bits      int
	histSet   bool
	KeySize   int // bytes, bucket included
	ValueSize int
	// Elems are the elements of a tuple value (Value is check.Tuple),
	// offsets from the value's start.
	Elems []Slot
	// Render says which key elements, by index, user space renders
	// (stacks, symbols).
	Render map[int]Render
	// ValueRender says how user space renders the value, when the map
	// holds stacks or other rendered values (@s[tid] = kstack); nil
	// otherwise.
	ValueRender *Render
}

// Slot is one element of a key or a record: an int (8 bytes) or a string
// (Object.StrLen bytes).
type Slot struct {
	String bool
	Offset int
}

// CallKind is the kind of a ring-buffer record.
type CallKind uint64

// The records programs send.
const (
	CallPrintf CallKind = iota + 1
	CallTime
	CallExit
	CallPrint // print(@map)
	CallClear
	CallZero
	CallPrintValue // print(value)
	CallSystem     // system(): run the formatted command
	CallCat        // cat(): print the formatted file's contents
	CallJoin       // join(): [count u64] then JoinArgs strings
)

// JoinArgs is the most array elements join() prints (bpftrace's).
const JoinArgs = 16

// Call is one call site that sends a record: [kind u64][id u64][args…].
type Call struct {
	Kind   CallKind
	Pos    ast.Pos
	Format string // printf's and time's format
	Args   []Slot // offsets from the record's start
	// Const holds the arguments known when compiling (probe), by index:
	// the record does not carry them, so they are never cut to
	// Object.StrLen (bpftrace prints probe names whole).
	Const map[int]string
	// Render says which arguments, by index, user space renders (stacks,
	// symbols).
	Render map[int]Render
	Map    int // print, clear, zero: index in Object.Maps
	// Top and Div are print(@map, top, div)'s: print only the top
	// entries, and values divided by div (0: all, undivided).
	Top, Div int64
	// Task is the offset of the printing task's block in a printf record
	// compiled with Options.Task: [pid_tgid u64][uid_gid u64][comm 16];
	// 0 when the record has none.
	Task int
	Size int // the record's size
}

// TaskSize is the size of a printf record's task block.
const TaskSize = 32

// HeaderSize is the size of a record's kind and id.
const HeaderSize = 16
