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
// Loading a table costs milliseconds per new file (libc: about 3 ms) and is
// done once per file; later processes only stat their files. A remembered
// pid that exits and is reused keeps the old snapshot until Forget or
// Remember: call Forget on exit when pids may be reused.
//
// Symbol tables are cached per file, keyed by GNU build id (fallback: device,
// inode, mtime and size), and shared by every process that maps the file.
// A table lives while a remembered process maps its file, or while it is
// one of the 64 last used.
//
// # Memory
//
// Tables keep compact indexes and read the rest from the file when a
// lookup needs it, with pread through the descriptor opened at load (so
// deleted files and other mount namespaces keep working):
//
//   - ELF symbols: 16 bytes per function (address, size, name offset);
//     names are read, and demangled, on lookup. Aliases at one address are
//     ranked at load, reading only their names.
//   - Go pclntab: the header and one function entry in 128 (a few KB for
//     the largest binaries); a lookup binary-searches one block of the
//     function table and decodes the function's file and line tables
//     from the file (debug/gosym's algorithm; Go 1.16 and later, older
//     tables through debug/gosym in memory). ELF symbols inside the
//     pclntab's range are not indexed: the pclntab answers for them.
//   - /proc/kallsyms: text symbols only, 8 bytes each plus the names packed
//     in 64 KB chunks, "__pfx_" padding symbols folded into their
//     functions (about 2 MB for 120,000 symbols).
//
// Frames read from files are cached process-wide (4096 entries), and each
// Go table caches 256 decoded functions. A table's descriptor is closed
// when the table is garbage. At most 256 are open at once: past that the
// least recently read is closed, and reopened on its next read through
// /proc/PID/map_files or /proc/PID/root if that still leads to the same
// file (device, inode, size, mtime). So only with more than 256 files in
// use can a deleted file whose processes have all exited lose its names.
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
