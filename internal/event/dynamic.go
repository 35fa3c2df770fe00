package event

import (
	"strconv"
	"strings"
	"time"
)

// Dynamic is an event of a kind built at run time (NewKind), such as a
// script's probe: its Values follow its kind's Fields one to one, and its
// JSON and table row come from the kind, so every sink passes it on as it
// does a built-in event.
type Dynamic struct {
	Header
	kind   *Kind
	Values []Value
}

// Value is the value of one field of a Dynamic event. The field's type
// says which member holds it: Str for TypeString, Num for TypeUint and
// TypeInt (an int64's bits), Bool, Time, Strs for TypeStrings and Ints for
// TypeInts.
type Value struct {
	Str  string
	Num  uint64
	Bool bool
	Time time.Time
	Strs []string
	Ints []Int
}

// StringValue, IntValue, UintValue, BoolValue, TimeValue, StringsValue and
// IntsValue build a Value of each field type.
func StringValue(s string) Value { return Value{Str: s} }

// IntValue holds a signed integer (TypeInt).
func IntValue(v int64) Value { return Value{Num: uint64(v)} }

// UintValue holds an unsigned integer (TypeUint).
func UintValue(v uint64) Value { return Value{Num: v} }

// BoolValue holds a boolean (TypeBool).
func BoolValue(v bool) Value { return Value{Bool: v} }

// TimeValue holds a time (TypeTime).
func TimeValue(t time.Time) Value { return Value{Time: t} }

// StringsValue holds a list of strings (TypeStrings).
func StringsValue(s []string) Value { return Value{Strs: s} }

// IntsValue holds a list of integers (TypeInts).
func IntsValue(v []Int) Value { return Value{Ints: v} }

// NewDynamic returns an event of kind k with zero values and the header's
// type set to k's name.
func NewDynamic(k *Kind) *Dynamic {
	return &Dynamic{Header: Header{Type: k.Name}, kind: k, Values: make([]Value, len(k.Fields))}
}

// Kind implements Event.
func (e *Dynamic) Kind() *Kind { return e.kind }

// Set sets the named field's value; it returns false for a field the kind
// does not have.
func (e *Dynamic) Set(name string, v Value) bool {
	i := e.kind.field(name)
	if i < 0 {
		return false
	}
	e.Values[i] = v
	return true
}

// AppendFields implements Event: the kind's fields in order, a field with
// Omit left out when its value is zero.
func (e *Dynamic) AppendFields(b []byte) []byte {
	for i, f := range e.kind.Fields {
		var v Value
		if i < len(e.Values) {
			v = e.Values[i]
		}
		if f.Omit && v.zero(f.Type) {
			continue
		}
		switch f.Type {
		case TypeString:
			b = appendStr(b, f.Name, v.Str)
		case TypeInt:
			b = appendInt(b, f.Name, int64(v.Num))
		case TypeUint:
			b = appendUint(b, f.Name, v.Num)
		case TypeBool:
			b = appendBool(b, f.Name, v.Bool)
		case TypeTime:
			b = appendTime(b, f.Name, v.Time)
		case TypeStrings:
			b = appendStrs(b, f.Name, v.Strs)
		case TypeInts:
			b = appendInts(b, f.Name, v.Ints)
		}
	}
	return b
}

// AppendCells implements Event: TIME, COMM and PID, then each column's
// field as text.
func (e *Dynamic) AppendCells(c []string) []string {
	c = e.appendBaseCells(c)
	for _, col := range e.kind.Columns[len(baseColumns):] {
		i := e.kind.field(col.Field)
		if i < 0 || i >= len(e.Values) {
			c = append(c, "")
			continue
		}
		c = append(c, e.Values[i].text(e.kind.Fields[i].Type))
	}
	return c
}

// Clone returns a deep copy, for sinks that keep events.
func (e *Dynamic) Clone() Event {
	v := *e
	v.Values = make([]Value, len(e.Values))
	for i, x := range e.Values {
		x.Strs = append([]string(nil), x.Strs...)
		x.Ints = append([]Int(nil), x.Ints...)
		v.Values[i] = x
	}
	return &v
}

func (v Value) zero(t FieldType) bool {
	switch t {
	case TypeString:
		return v.Str == ""
	case TypeInt, TypeUint:
		return v.Num == 0
	case TypeBool:
		return !v.Bool
	case TypeTime:
		return v.Time.IsZero()
	case TypeStrings:
		return len(v.Strs) == 0
	case TypeInts:
		return len(v.Ints) == 0
	}
	return true
}

// text is the value as a table cell shows it.
func (v Value) text(t FieldType) string {
	switch t {
	case TypeString:
		return v.Str
	case TypeInt:
		return strconv.FormatInt(int64(v.Num), 10)
	case TypeUint:
		return strconv.FormatUint(v.Num, 10)
	case TypeBool:
		return strconv.FormatBool(v.Bool)
	case TypeTime:
		return v.Time.Format(time.RFC3339Nano)
	case TypeStrings:
		return strings.Join(v.Strs, " ")
	case TypeInts:
		s := make([]string, len(v.Ints))
		for i, x := range v.Ints {
			s[i] = x.String()
		}
		return strings.Join(s, " ")
	}
	return ""
}
