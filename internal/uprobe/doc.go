// Package uprobe finds where a user-space probe goes: the file and file
// offset of a function, by name, in an executable or shared library.
//
// # Resolving
//
// [Resolve] takes "BINARY:SYMBOL" (or a binary and a symbol with
// [ResolveSymbol]) and an optional process id and returns a [Target]:
//
//	t, err := uprobe.Resolve("libssl.so.3:SSL_write", 0)
//	t, err := uprobe.Resolve("/usr/bin/myserver:main.handle", 0)
//	t, err := uprobe.ResolveSymbol("", "crypto/tls.(*Conn).Write", pid) // the process's executable
//
// BINARY is a path (relative paths are taken from the working directory),
// a program name looked up in $PATH, or a library name looked up in the
// ldconfig cache (/etc/ld.so.cache) and the standard library directories.
// A library may be named by its file name ("libssl.so.3"), its development
// name ("libssl.so") or its stem ("libssl", "libc"); only ELF files of the
// running system's ABI are taken (a multi-arch host's 32-bit libraries and
// linker scripts are passed over). With a process id the
// process's own mappings (/proc/PID/maps) are searched first and files are
// opened through /proc/PID/root, so binaries inside containers resolve to
// the file the process runs; an empty BINARY then means the process's
// executable.
//
// SYMBOL is matched, in this order, against raw symbol names (.symtab and
// .dynsym, version suffixes dropped), C++ and Rust names demangled with
// their parameters ("ns::Klass::method(int) const"), the same without
// parameters ("ns::Klass::method"), and Go function names from .gopclntab,
// which stripped Go binaries keep ("main.handle", "net/http.(*conn).serve").
// The first rule that matches decides; aliases (several names at one
// address) are one function. Several functions matching by the same rule
// are ambiguous: the error lists them with their full names, any of which
// resolves uniquely. A SYMBOL of the form 0xADDR is a link-time virtual
// address, as `objdump -d` prints it. A missing symbol's error suggests up
// to five close names (by edit distance, or containing the name asked).
// Errors wrap [ErrNoBinary], [ErrNoSymbol] or [ErrAmbiguous].
//
// # Offsets
//
// Uprobes attach at a file offset of an inode. [Target.Offset] is the file
// offset of the function's entry, computed from the PT_LOAD program header
// that maps its virtual address; this is the same for position-independent
// executables, shared libraries (linked at 0) and fixed-address executables
// (linked at 0x400000), so no process needs to run to resolve it. A probe on
// an inode fires in every process that maps the file, including processes
// started after attaching.
//
// # Go functions
//
// A uretprobe replaces the return address on the stack with a trampoline;
// when the Go runtime grows a goroutine stack it copies the frames and
// rejects (or follows into a crash) the foreign return address. So for Go
// functions ([Target.Go]) returns are probed at every RET instruction of the
// function instead: [Target.ReturnOffsets] decodes the function's machine
// code (x86-64) and returns their file offsets. Go code does not tail-call
// except in compiler-made wrappers, whose JMP to the wrapped function is not
// a return and is not reported.
//
// A Go function starts with a stack-bound check that calls
// runtime.morestack and restarts the function from its first instruction
// when the stack must grow: a probe at the entry fires twice for such a
// call. [Target.EntryOffset] is the file offset of the first instruction
// after that check (the entry itself for functions without one, and for
// non-Go functions), where every call passes exactly once with its
// argument registers untouched.
package uprobe
