package run

import (
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/kscope/kscope/internal/probe/codegen"
	"github.com/kscope/kscope/internal/symbolize"
)

// render turns a stored stack id or address into bpftrace's text: a stack
// is a newline, then one frame a line ("func+off", or the address in hex
// when no symbol covers it), each indented by indent spaces (4 in map
// keys, 8 in printf); ksym and usym (pid's address) are the function's
// name, or the address in hex.
func (s *Session) render(r codegen.Render, slot []byte, indent int) string {
	switch r.Kind {
	case codegen.RenderInet, codegen.RenderMac, codegen.RenderUser, codegen.RenderTime, codegen.RenderBuf:
		return s.renderValue(r, slot)
	}
	v := binary.LittleEndian.Uint64(slot)
	pid := uint64(0)
	if len(slot) >= 16 {
		pid = binary.LittleEndian.Uint64(slot[8:])
	}
	s.symOnce.Do(func() { s.sym = symbolize.New() })
	switch r.Kind {
	case codegen.RenderUsym:
		if f := s.sym.User(uint32(pid), []uint64{v})[0]; f.Function != "" {
			return f.Function
		}
		return "0x" + strconv.FormatUint(v, 16)
	case codegen.RenderKsym:
		if f := s.sym.Kernel([]uint64{v})[0]; f.Function != "" {
			return f.Function
		}
		return "0x" + strconv.FormatUint(v, 16)
	case codegen.RenderKStack, codegen.RenderUStack:
		pid := uint32(0)
		if r.Kind == codegen.RenderUStack {
			pid = uint32(v >> 32)
		}
		addrs := s.stack(r, uint32(v))
		var frames []symbolize.Frame
		if pid == 0 {
			frames = s.sym.Kernel(addrs)
		} else {
			frames = s.sym.User(pid, addrs)
		}
		offs := s.sym.FuncOffsets(pid, addrs, frames)
		var b strings.Builder
		b.WriteByte('\n')
		pad := strings.Repeat(" ", indent)
		for i, a := range addrs {
			b.WriteString(pad)
			if frames[i].Function != "" {
				b.WriteString(frames[i].Function)
				b.WriteByte('+')
				b.WriteString(strconv.FormatUint(offs[i], 10))
			} else {
				b.WriteString("0x")
				b.WriteString(strconv.FormatUint(a, 16))
			}
			b.WriteByte('\n')
		}
		return b.String()
	}
	return strconv.FormatUint(v, 10)
}

// stack reads the frames of stack id from r's stack map: none when the id
// is an error the program got (the map was full) or unknown.
func (s *Session) stack(r codegen.Render, id uint32) []uint64 {
	m := s.coll.Maps[r.StackMap]
	if m == nil {
		return nil
	}
	buf := make([]byte, 8*r.Limit)
	if err := m.Lookup(id, buf); err != nil {
		return nil
	}
	var out []uint64
	for i := 0; i+8 <= len(buf); i += 8 {
		a := binary.LittleEndian.Uint64(buf[i:])
		if a == 0 {
			break
		}
		out = append(out, a)
	}
	return out
}

// slot returns the bytes of sl in b: 8 for an integer, strLen for a
// string.
func slot(b []byte, sl codegen.Slot, strLen int) []byte {
	n := 8
	if sl.String {
		n = strLen
	}
	if sl.Offset+n > len(b) {
		return make([]byte, n)
	}
	return b[sl.Offset : sl.Offset+n]
}
