package event

import (
	"fmt"
	"strings"
	"sync"
)

// Kind describes one event type: its name (the header's type field), what
// it is, the fields it adds to the header in JSON order, the columns of its
// table and the fields that summarise one event in a line. Sinks that know
// nothing about a type (a store, the API, the web UI, the table renderer)
// work from its Kind. A Kind is immutable once registered.
type Kind struct {
	Name string
	Doc  string // one line
	// Fields are the JSON fields after the header, in order.
	Fields []Field
	// Columns are the table's columns, TIME, COMM and PID first.
	Columns []Column
	// Summary names the fields that say what one event was, in the order
	// a one-line summary shows them; Bad names a field that marks an event
	// as a failure when it is set (non-zero, non-empty), or is "".
	Summary []string
	Bad     string
}

// Field is one JSON field of a kind.
type Field struct {
	Name string
	Type FieldType
	Doc  string
	// Omit: the field is left out when it holds its zero value (nil for
	// the optional string and integer of uprobe and USDT events).
	Omit bool
}

// FieldType is the type of a field's value, and of its JSON.
type FieldType uint8

// The field types. TypeInt and TypeUint are JSON integers, TypeTime an
// RFC 3339 string with nanoseconds, TypeStrings and TypeInts arrays.
const (
	TypeString FieldType = iota
	TypeInt
	TypeUint
	TypeBool
	TypeTime
	TypeStrings
	TypeInts
)

var fieldTypeNames = [...]string{TypeString: "string", TypeInt: "int", TypeUint: "uint", TypeBool: "bool", TypeTime: "time", TypeStrings: "[]string", TypeInts: "[]int"}

// String returns the type's name: "string", "int", "uint", "bool", "time",
// "[]string" or "[]int".
func (t FieldType) String() string {
	if int(t) < len(fieldTypeNames) {
		return fieldTypeNames[t]
	}
	return fmt.Sprintf("FieldType(%d)", t)
}

// JSONType is the JSON Schema type of the field's values: "string",
// "integer", "boolean" or "array".
func (t FieldType) JSONType() string {
	switch t {
	case TypeInt, TypeUint:
		return "integer"
	case TypeBool:
		return "boolean"
	case TypeStrings, TypeInts:
		return "array"
	}
	return "string"
}

// Column is one column of a kind's table. Width pads the cell (0: the last
// column, unpadded); Right aligns it right. Field, for kinds built at run
// time, names the field the cell shows; the built-in kinds fill their
// cells in code and leave it "".
type Column struct {
	Header string
	Width  int
	Right  bool
	Field  string
}

// The columns every table starts with.
var baseColumns = []Column{{"TIME", 15, false, ""}, {"COMM", 16, false, ""}, {"PID", 7, true, ""}}

// HeaderFields describes the fields of Header, common to every kind, in
// JSON order.
var HeaderFields = []Field{
	{Name: "time", Type: TypeTime, Doc: "when the event happened"},
	{Name: "type", Type: TypeString, Doc: "the event's kind"},
	{Name: "pid", Type: TypeUint, Doc: "process id (thread group id)"},
	{Name: "tid", Type: TypeUint, Doc: "thread id"},
	{Name: "ppid", Type: TypeUint, Doc: "parent process id"},
	{Name: "uid", Type: TypeUint, Doc: "real user id"},
	{Name: "comm", Type: TypeString, Doc: "the thread's command name"},
	{Name: "cgroup_id", Type: TypeUint, Doc: "the cgroup v2 id of the task"},
	{Name: "start_ns", Type: TypeUint, Doc: "the process's start, CLOCK_MONOTONIC ns since boot; with pid it names the process"},
	{Name: "start_time", Type: TypeTime, Doc: "the process's start as wall-clock time"},
	{Name: "parent_start_ns", Type: TypeUint, Doc: "the parent's start_ns"},
}

// NewKind builds a kind at run time, for events whose fields are known
// only then (a script's probes). Its table shows TIME, COMM, PID and then
// one column per field; its summary shows every field. Register it to make
// it known to the API and the stores; events of it are Dynamic.
func NewKind(name, doc string, fields []Field) (*Kind, error) {
	k := &Kind{Name: name, Doc: doc, Fields: append([]Field(nil), fields...)}
	k.Columns = append(k.Columns, baseColumns...)
	for i, f := range fields {
		c := Column{Header: strings.ToUpper(f.Name), Field: f.Name}
		switch f.Type {
		case TypeInt, TypeUint:
			c.Width, c.Right = 12, true
		case TypeBool:
			c.Width = 5
		case TypeTime:
			c.Width = 30
		default:
			c.Width = 16
		}
		if i == len(fields)-1 {
			c.Width = 0
		}
		k.Columns = append(k.Columns, c)
		k.Summary = append(k.Summary, f.Name)
	}
	if err := k.check(); err != nil {
		return nil, err
	}
	return k, nil
}

// check validates a kind: a name of lower-case letters, digits and '_',
// unique field names that are not header fields, and columns that start
// with the base columns and name fields the kind has.
func (k *Kind) check() error {
	if !validName(k.Name) {
		return fmt.Errorf("event kind %q: a name is lower-case letters, digits and '_', starting with a letter", k.Name)
	}
	seen := map[string]bool{}
	for _, f := range HeaderFields {
		seen[f.Name] = true
	}
	for _, f := range k.Fields {
		if !validName(f.Name) {
			return fmt.Errorf("event kind %s: field %q: a name is lower-case letters, digits and '_', starting with a letter", k.Name, f.Name)
		}
		if seen[f.Name] {
			return fmt.Errorf("event kind %s: field %q appears twice or is a header field", k.Name, f.Name)
		}
		if f.Type > TypeInts {
			return fmt.Errorf("event kind %s: field %s: unknown type %d", k.Name, f.Name, f.Type)
		}
		seen[f.Name] = true
	}
	if len(k.Columns) < len(baseColumns) {
		return fmt.Errorf("event kind %s: the table needs the TIME, COMM and PID columns", k.Name)
	}
	for i, c := range baseColumns {
		if k.Columns[i] != c {
			return fmt.Errorf("event kind %s: column %d is %s, want %s", k.Name, i+1, k.Columns[i].Header, c.Header)
		}
	}
	for _, c := range k.Columns[len(baseColumns):] {
		if c.Field != "" && k.field(c.Field) < 0 {
			return fmt.Errorf("event kind %s: column %s shows unknown field %q", k.Name, c.Header, c.Field)
		}
	}
	for _, s := range k.Summary {
		if !seen[s] {
			return fmt.Errorf("event kind %s: summary names unknown field %q", k.Name, s)
		}
	}
	if k.Bad != "" && !seen[k.Bad] {
		return fmt.Errorf("event kind %s: bad names unknown field %q", k.Name, k.Bad)
	}
	return nil
}

// field returns the index of the named field, or -1.
func (k *Kind) field(name string) int {
	for i, f := range k.Fields {
		if f.Name == name {
			return i
		}
	}
	return -1
}

func validName(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// The registry of kinds, in registration order: the built-in kinds first.
var registry struct {
	mu     sync.RWMutex
	byName map[string]*Kind
	list   []*Kind
}

// Register adds k to the registry. It fails for an invalid kind or a name
// already registered.
func Register(k *Kind) error {
	if err := k.check(); err != nil {
		return fmt.Errorf("registering an event kind: %w", err)
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.byName == nil {
		registry.byName = map[string]*Kind{}
	}
	if _, ok := registry.byName[k.Name]; ok {
		return fmt.Errorf("registering an event kind: %s is registered already", k.Name)
	}
	registry.byName[k.Name] = k
	registry.list = append(registry.list, k)
	return nil
}

// LookupKind returns the registered kind of that name, or nil.
func LookupKind(name string) *Kind {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	return registry.byName[name]
}

// KindList returns the registered kinds in registration order.
func KindList() []*Kind {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	return append([]*Kind(nil), registry.list...)
}

// KindNames returns the names of the registered kinds in registration
// order.
func KindNames() []string {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	names := make([]string, len(registry.list))
	for i, k := range registry.list {
		names[i] = k.Name
	}
	return names
}

// Kinds lists the built-in event types, as used in the type field, in
// registration order. Kinds registered at run time are in KindNames.
var Kinds = builtinNames()

func builtinNames() []string {
	for _, k := range builtin {
		if err := Register(k); err != nil {
			panic(err)
		}
	}
	return KindNames()
}
