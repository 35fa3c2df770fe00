// Package parse turns the text of a script in kscope's probe language (the
// bpftrace language) into an ast.Program.
//
// The Lexer scans tokens on demand; the parser is recursive descent with
// C's operator precedence and moves the lexer back to rescan attach points,
// whose lexical rules differ (paths, wildcards, quoted C++ names). Both
// older and newer spellings that scripts in the wild use are accepted:
// BEGIN/begin, args->f/args.f, kfunc/fentry. Preprocessor lines are kept
// as ast.Directive and C struct/union/enum definitions as ast.CDef text.
//
// Errors are an ast.ErrorList holding the first syntax error, printed as
// "file:line:col: message" with the source line and a caret. The parser
// never panics on any input (FuzzParse), and what it accepts prints back
// through ast.Format to source that parses to the same tree.
package parse
