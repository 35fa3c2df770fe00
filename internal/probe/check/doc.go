// Package check type-checks a parsed script of kscope's probe language.
//
// It owns what the language defines without looking at the kernel: the
// probe types and their spellings (BEGIN/begin, kprobe/k, fentry/f/kfunc…)
// with the shape of their attach points, the builtins and the probe types
// each exists in (retval only on return probes, args where there is a
// typed argument record, argN where there are registers), the functions'
// arities and argument kinds, printf formats against their arguments, the
// map functions (count, sum, avg, min, max, stats, hist, lhist) that may
// only be assigned to maps, each map's key and value types learned from
// its first assignment anywhere in the script, $locals scoped to a probe
// (for variables to their loop), positional parameters, and the config
// block's keys.
//
// What only the kernel knows stays Unknown here: struct fields (args->f,
// ((struct sock *)arg0)->f), C enum constants and macros. Code generation
// resolves them through BTF and tracepoint formats.
//
// Errors are an ast.ErrorList of at most ten errors, each as
// "file:line:col: message" with the source line and a caret, and with the
// nearest name for a misspelt function, builtin, probe type, event or
// config key.
package check
