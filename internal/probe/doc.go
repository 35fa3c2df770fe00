// Package probe is the front end of kscope's compiler for the bpftrace
// language: Load parses and type-checks a script. The stages are separate
// packages, the way go/scanner, go/parser and go/types are:
//
//	ast    the syntax tree with positions, its printers and error type
//	parse  lexer and parser: source → ast.Program
//	check  type checker: ast.Program → check.Info (types, maps, probes)
//
// None of them needs BPF or the kernel; docs/design/probe-language.md
// describes them and the stages that follow (code generation to an
// *ebpf.CollectionSpec and the runtime behind `kscope run`).
package probe
