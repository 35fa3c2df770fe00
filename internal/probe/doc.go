// Package probe is the front end of kscope's compiler for the bpftrace
// language: Load parses and type-checks a script. The stages are separate
// packages, the way go/scanner, go/parser and go/types are:
//
//	ast    the syntax tree with positions, its printers and error type
//	parse  lexer and parser: source → ast.Program
//	check  type checker: ast.Program → check.Info (types, maps, probes)
//	codegen  check.Info → *ebpf.CollectionSpec (BPF programs and maps)
//	run    the runtime of kscope run: load, attach, print as bpftrace does
//
// None of the first four needs the kernel; docs/design/probe-language.md
// describes them, and docs/run.md what kscope run compiles so far.
package probe
