package check

import (
	"strings"

	"github.com/kscope/kscope/internal/probe/ast"
)

// Kind is the kind of a value's type.
type Kind int

// The kinds. Unknown is a type that only BTF or a tracepoint's format can
// tell (a struct field, a C macro): the checker accepts it wherever a
// scalar fits and later stages resolve it.
const (
	Unknown Kind = iota
	Int
	String
	Pointer // a pointer to a C type (Type.Name), from a cast or curtask
	Args    // the args of a tracepoint, fentry/fexit or uprobe
	Tuple
	Stack // kstack, ustack
	Inet  // ntop
	Buffer
	Void // what printf and other statements return
	// The aggregations a map can hold.
	Count
	Sum
	Avg
	Min
	Max
	Stats
	Hist
	LHist
)

var kindNames = map[Kind]string{
	Unknown: "unknown", Int: "int", String: "string", Pointer: "pointer", Args: "args",
	Tuple: "tuple", Stack: "stack", Inet: "inet", Buffer: "buffer", Void: "none",
	Count: "count()", Sum: "sum()", Avg: "avg()", Min: "min()", Max: "max()",
	Stats: "stats()", Hist: "hist()", LHist: "lhist()",
}

func (k Kind) String() string { return kindNames[k] }

// aggregations maps the map functions to the kind they give their map.
var aggregations = map[string]Kind{
	"count": Count, "sum": Sum, "avg": Avg, "min": Min, "max": Max,
	"stats": Stats, "hist": Hist, "lhist": LHist,
}

// Type is the type of an expression, a map key or a map value.
type Type struct {
	Kind  Kind
	Name  string // Pointer: the C type pointed to, e.g. "struct sock"
	Elems []Type // Tuple
}

func (t Type) String() string {
	switch t.Kind {
	case Pointer:
		return t.Name + " *"
	case Tuple:
		s := make([]string, len(t.Elems))
		for i, e := range t.Elems {
			s[i] = e.String()
		}
		return "(" + strings.Join(s, ", ") + ")"
	}
	return t.Kind.String()
}

// scalar reports whether t can take part in arithmetic.
func (t Type) scalar() bool {
	switch t.Kind {
	case Unknown, Int, Pointer, Count, Sum, Avg, Min, Max:
		return true
	}
	return false
}

// value reports whether t can be stored, passed or compared (everything
// but none and the aggregations that only print).
func (t Type) value() bool {
	switch t.Kind {
	case Void, Stats, Hist, LHist, Args:
		return false
	}
	return true
}

// compatible reports whether a value of type u may be stored where t was
// stored before.
func compatible(t, u Type) bool {
	if t.Kind == Unknown || u.Kind == Unknown {
		return true
	}
	if t.scalar() && u.scalar() && t.Kind < Count && u.Kind < Count {
		return true
	}
	if t.Kind != u.Kind {
		return false
	}
	if t.Kind == Tuple {
		if len(t.Elems) != len(u.Elems) {
			return false
		}
		for i := range t.Elems {
			if !compatible(t.Elems[i], u.Elems[i]) {
				return false
			}
		}
	}
	return true
}

// Map is what the checker learned about one map.
type Map struct {
	Name  string
	Pos   ast.Pos // of its first assignment
	Keys  []Type  // nil for a map without a key
	Keyed bool
	Value Type
}

// Info is the result of checking a script.
type Info struct {
	// Types holds the type of every expression the checker saw.
	Types map[ast.Expr]Type
	// Maps by name (without the '@').
	Maps map[string]*Map
	// Probes holds the canonical provider of each attach point, per
	// probe, in source order: "kprobe" for "k", "fentry" for "kfunc"…
	Probes [][]string
	// Config holds the config block's settings.
	Config map[string]ast.Expr
	// MaxParam is the highest positional parameter used ($3 → 3).
	MaxParam int
	// Unsafe reports a call to a function that needs --unsafe (system).
	Unsafe bool
}
