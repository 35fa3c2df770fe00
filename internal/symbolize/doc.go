// Package symbolize turns stack addresses into frames: kernel addresses
// through /proc/kallsyms, user addresses through the process's executable
// mappings and the ELF files behind them (.symtab, .dynsym, and .gopclntab for
// Go binaries, stripped or not).
//
// It owns the symbol caches the profiler needs and nothing else: no BPF, no
// rendering. A [Symbolizer] is safe for concurrent use.
//
// # Processes that exit
//
// Sampled stacks are often symbolized after the process is gone. [Symbolizer.Remember]
// (called from an exec or first-sample hook, or implicitly by the first
// [Symbolizer.User] call for a pid) snapshots the executable mappings of
// /proc/PID/maps and loads the symbol table of every file behind them, read
// through /proc/PID/map_files or /proc/PID/root so that files in other mount
// namespaces (containers) and deleted files resolve. At most 4096 processes
// are remembered (least recently used are dropped); [Symbolizer.Forget] drops
// one explicitly, for example on process exit once its samples are written.
// Loading a table costs milliseconds per new file (libc: about 8 ms) and is
// done once per file; later processes only stat their files. A remembered
// pid that exits and is reused keeps the old snapshot until Forget or
// Remember: call Forget on exit when pids may be reused.
//
// Symbol tables are cached per file, keyed by GNU build id (fallback: device,
// inode, mtime and size), and shared by every process that maps the file.
//
// # Addresses
//
// Addresses are symbolized as given. For every frame but the innermost, a
// stack holds return addresses, which point after the call instruction and
// may belong to the next function (or line) when a call ends a function:
// callers that want the call site pass addr-1 for those, as pprof does.
//
// # Names
//
// C++ and Rust names are demangled the way pprof shows them by default:
// without parameter lists and return types ("ns::Klass::method",
// "std::vector<int>::push_back"), so that samples of one function aggregate
// into one name. Go names are the runtime's ("main.hotLoop",
// "net/http.(*conn).serve").
package symbolize
