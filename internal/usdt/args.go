package usdt

import (
	"fmt"
	"strconv"
	"strings"
)

// ArgKind says where an argument's value is.
type ArgKind uint8

const (
	// ArgConst is a constant: Value.
	ArgConst ArgKind = iota + 1
	// ArgReg is a register's value: Reg.
	ArgReg
	// ArgMem is in memory at Reg + Index*Scale + Value (Index optional).
	ArgMem
	// ArgGlobal is in memory at a symbol's address: Symbol + Value, resolved
	// against the file's symbol table into Value relative to the probe's pc
	// by Resolve (rip-relative "sym(%rip)" operands).
	ArgGlobal
)

// Arg is one parsed USDT argument.
type Arg struct {
	Spec   string  `json:"spec"`
	Kind   ArgKind `json:"kind"`
	Size   int     `json:"size"` // 1, 2, 4 or 8 bytes
	Signed bool    `json:"signed"`
	Reg    Reg     `json:"reg,omitempty"`
	Index  Reg     `json:"index,omitempty"`
	Scale  int     `json:"scale,omitempty"`
	Value  int64   `json:"value,omitempty"` // constant, displacement or offset
	Symbol string  `json:"symbol,omitempty"`
}

// Reg is an x86-64 register, numbered by its byte offset in the kernel's
// struct pt_regs plus one (0 is no register).
type Reg uint16

// PtRegsOffset returns the register's offset in struct pt_regs.
func (r Reg) PtRegsOffset() int { return int(r) - 1 }

// pt_regs layout (arch/x86/include/asm/ptrace.h), in 8-byte slots.
var ptRegsSlot = map[string]int{
	"r15": 0, "r14": 1, "r13": 2, "r12": 3, "rbp": 4, "rbx": 5, "r11": 6, "r10": 7,
	"r9": 8, "r8": 9, "rax": 10, "rcx": 11, "rdx": 12, "rsi": 13, "rdi": 14,
	"rip": 16, "rsp": 19,
}

// regNames maps every register name an operand may use to the 64-bit
// register and the width the name reads (the low bits).
var regNames = func() map[string]struct {
	full  string
	width int
} {
	m := map[string]struct {
		full  string
		width int
	}{}
	add := func(full string, names ...string) {
		for i, n := range names {
			if n != "" {
				m[n] = struct {
					full  string
					width int
				}{full, []int{8, 4, 2, 1}[i]}
			}
		}
	}
	add("rax", "rax", "eax", "ax", "al")
	add("rbx", "rbx", "ebx", "bx", "bl")
	add("rcx", "rcx", "ecx", "cx", "cl")
	add("rdx", "rdx", "edx", "dx", "dl")
	add("rsi", "rsi", "esi", "si", "sil")
	add("rdi", "rdi", "edi", "di", "dil")
	add("rbp", "rbp", "ebp", "bp", "bpl")
	add("rsp", "rsp", "esp", "sp", "spl")
	for i := 8; i <= 15; i++ {
		r := "r" + strconv.Itoa(i)
		add(r, r, r+"d", r+"w", r+"b")
	}
	add("rip", "rip")
	return m
}()

// RegByName returns the register a name such as "%eax" or "r8d" reads.
func RegByName(name string) (Reg, bool) {
	r, ok := regNames[strings.TrimPrefix(name, "%")]
	if !ok {
		return 0, false
	}
	return Reg(ptRegsSlot[r.full]*8 + 1), true
}

// String returns the 64-bit register's name.
func (r Reg) String() string {
	for n, s := range ptRegsSlot {
		if s*8+1 == int(r) {
			return n
		}
	}
	return "?"
}

// ParseArgs parses a note's space-separated argument list (at most 12).
func ParseArgs(s string) ([]Arg, error) {
	fields := strings.Fields(s)
	if len(fields) > maxArgs {
		return nil, fmt.Errorf("%d arguments, more than USDT's %d", len(fields), maxArgs)
	}
	args := make([]Arg, 0, len(fields))
	for i, f := range fields {
		a, err := ParseArg(f)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i+1, err)
		}
		args = append(args, a)
	}
	return args, nil
}

// ParseArg parses one x86-64 argument: SIZE@OPERAND, where SIZE is 1, 2, 4
// or 8, negative for a signed value, and OPERAND is an AT&T operand:
// $CONST, %REG, DISP(%BASE), DISP(%BASE,%INDEX,SCALE) (DISP optional,
// SCALE 1, 2, 4 or 8) or SYMBOL(%rip) / SYMBOL+DISP(%rip). An argument
// without "SIZE@" is 8 bytes, unsigned.
func ParseArg(s string) (Arg, error) {
	a := Arg{Spec: s, Size: 8}
	op := s
	if at := strings.IndexByte(s, '@'); at >= 0 {
		n, err := strconv.Atoi(s[:at])
		if err != nil {
			return a, fmt.Errorf("%q: size %q is not a number", s, s[:at])
		}
		if n < 0 {
			a.Signed, n = true, -n
		}
		if n != 1 && n != 2 && n != 4 && n != 8 {
			return a, fmt.Errorf("%q: size %d is not 1, 2, 4 or 8", s, n)
		}
		a.Size, op = n, s[at+1:]
	}
	switch {
	case op == "":
		return a, fmt.Errorf("%q: no operand", s)
	case op[0] == '$':
		v, err := parseInt(op[1:])
		if err != nil {
			return a, fmt.Errorf("%q: constant: %w", s, err)
		}
		a.Kind, a.Value = ArgConst, v
		return a, nil
	case op[0] == '%':
		r, ok := RegByName(op)
		if !ok {
			return a, fmt.Errorf("%q: unknown register %s", s, op)
		}
		if r == rip {
			return a, fmt.Errorf("%q: %%rip is no argument register", s)
		}
		a.Kind, a.Reg = ArgReg, r
		return a, nil
	}
	open := strings.IndexByte(op, '(')
	if open < 0 || !strings.HasSuffix(op, ")") {
		return a, fmt.Errorf("%q: operand %q is not $CONST, %%REG or DISP(%%REG)", s, op)
	}
	disp, inner := op[:open], op[open+1:len(op)-1]
	parts := strings.Split(inner, ",")
	if len(parts) > 3 || parts[0] == "" && len(parts) == 1 {
		return a, fmt.Errorf("%q: bad memory operand", s)
	}
	a.Kind = ArgMem
	if parts[0] != "" {
		r, ok := RegByName(parts[0])
		if !ok || regNames[strings.TrimPrefix(parts[0], "%")].width != 8 {
			return a, fmt.Errorf("%q: base %q is not a 64-bit register", s, parts[0])
		}
		a.Reg = r
	}
	if len(parts) >= 2 {
		r, ok := RegByName(parts[1])
		if !ok || regNames[strings.TrimPrefix(parts[1], "%")].width != 8 || r == rip {
			return a, fmt.Errorf("%q: index %q is not a 64-bit register", s, parts[1])
		}
		a.Index, a.Scale = r, 1
		if len(parts) == 3 {
			sc, err := strconv.Atoi(parts[2])
			if err != nil || (sc != 1 && sc != 2 && sc != 4 && sc != 8) {
				return a, fmt.Errorf("%q: scale %q is not 1, 2, 4 or 8", s, parts[2])
			}
			a.Scale = sc
		}
	}
	if disp != "" {
		if v, err := parseInt(disp); err == nil {
			a.Value = v
		} else if a.Reg == rip && a.Index == 0 {
			sym, off := disp, int64(0)
			if i := strings.LastIndexAny(disp, "+-"); i > 0 {
				if v, err := parseInt(disp[i:]); err == nil {
					sym, off = disp[:i], v
				}
			}
			if !validSymbol(sym) {
				return a, fmt.Errorf("%q: displacement %q is neither a number nor a symbol", s, disp)
			}
			a.Kind, a.Symbol, a.Value, a.Reg = ArgGlobal, sym, off, 0
		} else {
			return a, fmt.Errorf("%q: displacement %q is not a number", s, disp)
		}
	}
	return a, nil
}

var rip, _ = RegByName("rip")

func validSymbol(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '.' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// parseInt reads a decimal or 0x-prefixed hexadecimal integer with an
// optional sign; values up to 2^64-1 wrap into int64.
func parseInt(s string) (int64, error) {
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	base := 10
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		base, s = 16, s[2:]
	}
	if s == "" || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	u, err := strconv.ParseUint(s, base, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if neg {
		return -int64(u), nil
	}
	return int64(u), nil
}
