package uprobe

import (
	"fmt"
	"os"

	"golang.org/x/arch/x86/x86asm"
)

// maxCode bounds how much of a function is read and decoded.
const maxCode = 4 << 20

// code reads the function's machine code.
func (t *Target) code() ([]byte, error) {
	if t.Size == 0 {
		return nil, fmt.Errorf("%s: the symbol table gives no size for %s", t.Binary, t.Name)
	}
	if t.Size > maxCode {
		return nil, fmt.Errorf("%s: %s is %d bytes, more than the %d decoded", t.Binary, t.Name, t.Size, maxCode)
	}
	f, err := os.Open(t.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, t.Size)
	if _, err := f.ReadAt(buf, int64(t.Offset)); err != nil {
		return nil, fmt.Errorf("%s: reading %s: %w", t.Binary, t.Name, err)
	}
	return buf, nil
}

// ReturnOffsets returns the file offsets of every RET instruction of the
// function, in address order. It decodes from the entry to the end the
// symbol table gives, so it needs a size (Go functions and C functions from
// .symtab have one). It fails when an instruction does not decode, which
// would leave the rest of the function unknown.
func (t *Target) ReturnOffsets() ([]uint64, error) {
	code, err := t.code()
	if err != nil {
		return nil, err
	}
	rets, err := returns(code)
	if err != nil {
		return nil, fmt.Errorf("%s: decoding %s: %w", t.Binary, t.Name, err)
	}
	if len(rets) == 0 {
		return nil, fmt.Errorf("%s: %s has no RET instruction (it never returns, or only jumps elsewhere)", t.Binary, t.Name)
	}
	for i := range rets {
		rets[i] += t.Offset
	}
	return rets, nil
}

// returns lists the offsets in code of its RET instructions. Trailing
// padding (INT3, NOP) decodes as instructions like any other.
func returns(code []byte) ([]uint64, error) {
	var out []uint64
	for pc := 0; pc < len(code); {
		inst, err := x86asm.Decode(code[pc:], 64)
		if err != nil {
			if allPadding(code[pc:]) {
				break
			}
			return nil, fmt.Errorf("at +%#x: %w", pc, err)
		}
		if inst.Op == x86asm.RET {
			out = append(out, uint64(pc))
		}
		pc += inst.Len
	}
	return out, nil
}

func allPadding(b []byte) bool {
	for _, c := range b {
		if c != 0xcc && c != 0x90 && c != 0 {
			return false
		}
	}
	return true
}

// EntryOffset returns the file offset to probe for calls of the function:
// for a Go function, the first instruction after its stack-bound check (see
// the package doc), otherwise Offset.
func (t *Target) EntryOffset() (uint64, error) {
	if !t.Go {
		return t.Offset, nil
	}
	code, err := t.code()
	if err != nil {
		return 0, err
	}
	return t.Offset + goBodyStart(code), nil
}

// goBodyStart returns the offset in code of the instruction after a Go
// amd64 stack-bound check: a CMP of a register with the stack guard
// (16(R14), g.stackguard0) followed by a conditional jump, among the first
// few instructions; 0 when there is none.
func goBodyStart(code []byte) uint64 {
	pc := 0
	for n := 0; n < 8 && pc < len(code); n++ {
		inst, err := x86asm.Decode(code[pc:], 64)
		if err != nil {
			return 0
		}
		next := pc + inst.Len
		if inst.Op == x86asm.CMP && comparesStackGuard(inst) && next < len(code) {
			jmp, err := x86asm.Decode(code[next:], 64)
			if err == nil && isCondJump(jmp.Op) {
				return uint64(next + jmp.Len)
			}
			return 0
		}
		switch inst.Op {
		case x86asm.RET, x86asm.JMP, x86asm.CALL:
			return 0
		}
		pc = next
	}
	return 0
}

func comparesStackGuard(inst x86asm.Inst) bool {
	for _, a := range inst.Args {
		if m, ok := a.(x86asm.Mem); ok && m.Base == x86asm.R14 && m.Index == 0 && m.Disp == 16 {
			return true
		}
	}
	return false
}

func isCondJump(op x86asm.Op) bool {
	switch op {
	case x86asm.JBE, x86asm.JB, x86asm.JA, x86asm.JAE, x86asm.JLE, x86asm.JL, x86asm.JG, x86asm.JGE:
		return true
	}
	return false
}
