// Package ast holds the syntax tree of a script in kscope's probe language
// (the bpftrace language): probes with their attach points, predicates and
// statements, and the expressions in them, each node with its position.
//
// It also prints a tree two ways: Sexpr, a compact s-expression without
// positions that tests compare, and Format, source text that parses back to
// the same tree. The package knows nothing about parsing, types or BPF.
package ast
