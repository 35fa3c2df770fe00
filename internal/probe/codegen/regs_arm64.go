package codegen

import "strconv"

// archName names the architecture in errors.
const archName = "arm64"

// ptRegs are the offsets of struct pt_regs's members on arm64
// (arch/arm64/include/asm/ptrace.h: user_pt_regs first), by the names
// reg() takes, bpftrace's: r0 to r30, sp, pc, pstate.
var ptRegs = func() map[string]int16 {
	m := map[string]int16{"sp": 248, "pc": 256, "pstate": 264}
	for i := range 31 {
		m["r"+strconv.Itoa(i)] = int16(8 * i)
	}
	return m
}()

// argRegs are the pt_regs offsets of the C calling convention's integer
// arguments (AAPCS64), for argN in kprobes and uprobes: x0 to x7.
var argRegs = []int16{0, 8, 16, 24, 32, 40, 48, 56}

// regAX is the offset of the return value's register (x0), for retval.
const regAX = 0

// regSP is the offset of the stack pointer.
const regSP = 248

// stackArgBase is where the stack arguments start above the stack pointer
// at a function's entry: at it, as the return address is in the link
// register.
const stackArgBase = 0
