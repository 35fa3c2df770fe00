package symbolize

import "strconv"

// KernelModule is the Module of frames in the kernel image; frames in a
// loadable kernel module carry its name in brackets, as /proc/kallsyms
// prints it ("[xfs]").
const KernelModule = "[kernel]"

// Frame is one symbolized address.
type Frame struct {
	// Function is the symbol name (demangled), or "" when none covers the
	// address.
	Function string
	// File and Line are the source position, known for Go binaries
	// (.gopclntab); empty otherwise.
	File string
	Line int
	// Module is the mapped file's path as the process sees it, "[kernel]",
	// a kernel module ("[xfs]"), a pseudo mapping ("[vdso]", "[anon]"), or
	// "" when the address is in no known mapping.
	Module string
	// Offset is the address in Module's own address space: the ELF virtual
	// address for user files (what `addr2line -e Module` takes; the file
	// offset when the ELF headers could not be read), the offset in the
	// mapping for pseudo mappings ("[vdso]"), and the address itself for the
	// kernel, kernel modules, "[anon]" and unknown modules.
	Offset uint64
	// BuildID is the GNU build id of Module, hex, when it has one.
	BuildID string
}

// String returns the function name, or Module+0xOffset when there is none,
// or 0xOffset when the module is unknown too. It is never empty.
func (f Frame) String() string {
	if f.Function != "" {
		return f.Function
	}
	buf := make([]byte, 0, len(f.Module)+19)
	buf = append(buf, f.Module...)
	if f.Module != "" {
		buf = append(buf, '+')
	}
	buf = append(buf, "0x"...)
	buf = strconv.AppendUint(buf, f.Offset, 16)
	return string(buf)
}
