package codegen

// archName names the architecture in errors.
const archName = "x86-64"

// ptRegs are the offsets of struct pt_regs's members on x86-64
// (arch/x86/include/asm/ptrace.h), by the names reg() takes.
var ptRegs = map[string]int16{
	"r15": 0, "r14": 8, "r13": 16, "r12": 24, "bp": 32, "bx": 40, "r11": 48, "r10": 56,
	"r9": 64, "r8": 72, "ax": 80, "cx": 88, "dx": 96, "si": 104, "di": 112, "orig_ax": 120,
	"ip": 128, "cs": 136, "flags": 144, "sp": 152, "ss": 160,
}

// argRegs are the pt_regs offsets of the C calling convention's integer
// arguments, for argN in kprobes and uprobes: di si dx cx r8 r9.
var argRegs = []int16{112, 104, 96, 88, 72, 64}

// regAX is the offset of the return value's register, for retval.
const regAX = 80

// regSP is the offset of the stack pointer.
const regSP = 152

// stackArgBase is where the stack arguments start above the stack pointer
// at a function's entry: past the return address the call pushed.
const stackArgBase = 8
