package codegen

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Field is one field of a tracepoint's record, from its format file.
type Field struct {
	Name   string
	Type   string // the C type as written, without the name
	Offset int
	Size   int
	Signed bool
	// Array is the element count of a fixed array (char comm[16]); 0 when
	// the field is not an array.
	Array int
	// DataLoc marks a __data_loc field: a u32 whose low half is the
	// offset of the data in the record and whose high half its length.
	DataLoc bool
}

// IsString reports whether the field holds characters: a char array or a
// __data_loc char[].
func (f *Field) IsString() bool {
	return (f.Array > 0 || f.DataLoc) && strings.Contains(f.Type, "char")
}

// Format is a tracepoint's record layout.
type Format struct {
	Name   string
	ID     uint32
	Fields []Field // the tracepoint's own fields, common_* excluded
}

// Field returns the field called name, or nil.
func (f *Format) Field(name string) *Field {
	for i := range f.Fields {
		if f.Fields[i].Name == name {
			return &f.Fields[i]
		}
	}
	return nil
}

// ParseFormat reads a tracepoint's format file
// (/sys/kernel/tracing/events/CATEGORY/NAME/format). file names it in
// errors, which say file:line.
func ParseFormat(file string, data []byte) (*Format, error) {
	f := &Format{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(s, "name:"):
			f.Name = strings.TrimSpace(strings.TrimPrefix(s, "name:"))
		case strings.HasPrefix(s, "ID:"):
			id, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(s, "ID:")), 10, 32)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: reading the tracepoint ID: %w", file, line, err)
			}
			f.ID = uint32(id)
		case strings.HasPrefix(s, "field:"):
			fld, err := parseField(s)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", file, line, err)
			}
			if !strings.HasPrefix(fld.Name, "common_") {
				f.Fields = append(f.Fields, fld)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	if f.Name == "" {
		return nil, fmt.Errorf("%s: no name: line, not a tracepoint format", file)
	}
	return f, nil
}

// parseField reads "field:TYPE NAME;\toffset:N;\tsize:N;\tsigned:N;".
func parseField(s string) (Field, error) {
	var fld Field
	parts := strings.Split(s, ";")
	if len(parts) < 3 {
		return fld, fmt.Errorf("malformed field line %q", s)
	}
	decl := strings.TrimSpace(strings.TrimPrefix(parts[0], "field:"))
	seen := 0
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(p), ":")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1<<16 {
			return fld, fmt.Errorf("field %q: bad %s %q", decl, k, v)
		}
		switch k {
		case "offset":
			fld.Offset = n
			seen++
		case "size":
			fld.Size = n
			seen++
		case "signed":
			fld.Signed = n != 0
		}
	}
	if seen < 2 {
		return fld, fmt.Errorf("field %q: no offset or size", decl)
	}
	if strings.HasPrefix(decl, "__data_loc ") {
		fld.DataLoc = true
		decl = strings.TrimPrefix(decl, "__data_loc ")
	}
	// The name is the last identifier, before an optional [N].
	if i := strings.IndexByte(decl, '['); i >= 0 && !fld.DataLoc {
		j := strings.IndexByte(decl[i:], ']')
		if j < 0 {
			return fld, fmt.Errorf("field %q: unclosed [", decl)
		}
		n, err := strconv.Atoi(strings.TrimSpace(decl[i+1 : i+j]))
		if err == nil && n > 0 {
			fld.Array = n
		} else {
			fld.Array = 1
		}
		decl = decl[:i]
	} else if fld.DataLoc {
		if i := strings.IndexByte(decl, '['); i >= 0 {
			// "char[] name": the brackets belong to the type.
			decl = decl[:i] + decl[strings.IndexByte(decl, ']')+1:]
		}
	}
	decl = strings.TrimSpace(decl)
	i := strings.LastIndexFunc(decl, func(r rune) bool {
		return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	})
	fld.Name = decl[i+1:]
	fld.Type = strings.TrimSpace(decl[:i+1])
	if fld.Name == "" {
		return fld, fmt.Errorf("field %q: no name", decl)
	}
	if fld.Type == "" {
		fld.Type = "int"
	}
	return fld, nil
}
