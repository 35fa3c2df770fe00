package check

import (
	"regexp"
	"strings"
)

// builtin is a variable the language provides.
type builtin struct {
	typ Type
	// only lists the probe types the builtin exists in; nil means all.
	only []string
	// child marks cpid, which needs a command to run (-c).
	child bool
}

var (
	intT    = Type{Kind: Int}
	strT    = Type{Kind: String}
	unknown = Type{Kind: Unknown}
	voidT   = Type{Kind: Void}
)

var builtins = map[string]builtin{
	"pid": {typ: intT}, "tid": {typ: intT}, "uid": {typ: intT}, "gid": {typ: intT},
	"cpu": {typ: intT}, "numaid": {typ: intT}, "rand": {typ: intT}, "nsecs": {typ: intT},
	"elapsed": {typ: intT}, "cgroup": {typ: intT}, "jiffies": {typ: intT},
	"cpid": {typ: intT, child: true},
	"comm": {typ: strT}, "username": {typ: strT}, "probe": {typ: strT},
	"func":    {typ: strT, only: []string{"kprobe", "kretprobe", "uprobe", "uretprobe", "fentry", "fexit"}},
	"curtask": {typ: Type{Kind: Pointer, Name: "struct task_struct"}},
	"kstack":  {typ: Type{Kind: Stack}}, "ustack": {typ: Type{Kind: Stack}},
	"ctx":    {typ: unknown},
	"retval": {typ: unknown, only: []string{"kretprobe", "uretprobe", "fexit"}},
	"args":   {typ: Type{Kind: Args}, only: []string{"tracepoint", "rawtracepoint", "fentry", "fexit", "uprobe", "uretprobe", "usdt"}},
}

var (
	argN  = regexp.MustCompile(`^arg[0-9]+$`)
	sargN = regexp.MustCompile(`^sarg[0-9]+$`)
)

// lookupBuiltin finds a builtin, including argN and sargN.
func lookupBuiltin(name string) (builtin, bool) {
	if b, ok := builtins[name]; ok {
		return b, true
	}
	switch {
	case argN.MatchString(name) && len(name) < 8:
		return builtin{typ: unknown, only: []string{"kprobe", "uprobe", "usdt", "rawtracepoint"}}, true
	case sargN.MatchString(name) && len(name) < 9:
		return builtin{typ: unknown, only: []string{"kprobe", "uprobe"}}, true
	}
	return builtin{}, false
}

// isConstName reports whether an unknown identifier looks like a C enum
// constant or macro (AF_INET, TCP_ESTABLISHED), which BTF and the
// included headers resolve after checking.
func isConstName(name string) bool {
	hasUpper := false
	for _, c := range name {
		switch {
		case c >= 'A' && c <= 'Z':
			hasUpper = true
		case c == '_' || c >= '0' && c <= '9':
		default:
			return false
		}
	}
	return hasUpper
}

// function describes a function's signature.
type function struct {
	min, max int  // arity; max -1 for variadic
	ret      Type // the result
	stmt     bool // only as a statement (returns nothing)
	mapArg   bool // the first argument must be a map
	strArg   []int
	intArg   []int
	unsafe   bool // needs --unsafe
	fmtArg   bool // the first argument is a printf format
	only     []string
	never    []string // probe types it cannot be used in
}

// regProbes are the probe types whose context holds registers.
var regProbes = []string{"kprobe", "kretprobe", "uprobe", "uretprobe", "usdt", "profile"}

var functions = map[string]function{
	// Aggregations, only as "@map = f(…)".
	"count": {min: 0, max: 0}, "sum": {min: 1, max: 1, intArg: []int{0}}, "avg": {min: 1, max: 1, intArg: []int{0}},
	"min": {min: 1, max: 1, intArg: []int{0}}, "max": {min: 1, max: 1, intArg: []int{0}}, "stats": {min: 1, max: 1, intArg: []int{0}},
	"hist": {min: 1, max: 2, intArg: []int{0, 1}}, "lhist": {min: 4, max: 4, intArg: []int{0, 1, 2, 3}},
	// Map functions.
	"delete":  {min: 1, max: 2, ret: voidT, stmt: true, mapArg: true},
	"clear":   {min: 1, max: 1, ret: voidT, stmt: true, mapArg: true},
	"zero":    {min: 1, max: 1, ret: voidT, stmt: true, mapArg: true},
	"print":   {min: 1, max: 3, ret: voidT, stmt: true},
	"has_key": {min: 2, max: 2, ret: intT, mapArg: true},
	"len":     {min: 1, max: 1, ret: intT},
	// Output and control.
	"printf":   {min: 1, max: -1, ret: voidT, stmt: true, fmtArg: true},
	"errorf":   {min: 1, max: -1, ret: voidT, stmt: true, fmtArg: true},
	"warnf":    {min: 1, max: -1, ret: voidT, stmt: true, fmtArg: true},
	"debugf":   {min: 1, max: -1, ret: voidT, stmt: true, fmtArg: true},
	"system":   {min: 1, max: -1, ret: voidT, stmt: true, fmtArg: true, unsafe: true},
	"cat":      {min: 1, max: -1, ret: voidT, stmt: true, fmtArg: true},
	"time":     {min: 0, max: 1, ret: voidT, stmt: true, strArg: []int{0}},
	"join":     {min: 1, max: 2, ret: voidT, stmt: true, strArg: []int{1}},
	"exit":     {min: 0, max: 1, ret: voidT, stmt: true},
	"signal":   {min: 1, max: 1, ret: voidT, stmt: true, unsafe: true, never: []string{"begin", "end"}},
	"override": {min: 1, max: 1, ret: voidT, stmt: true, unsafe: true, only: []string{"kprobe"}},
	"unwatch":  {min: 1, max: 1, ret: voidT, stmt: true},
	// Values.
	"str":          {min: 1, max: 2, ret: strT},
	"buf":          {min: 1, max: 2, ret: Type{Kind: Buffer}},
	"ksym":         {min: 1, max: 1, ret: strT},
	"usym":         {min: 1, max: 1, ret: strT},
	"kaddr":        {min: 1, max: 1, ret: intT, strArg: []int{0}},
	"uaddr":        {min: 1, max: 1, ret: intT, strArg: []int{0}, only: []string{"uprobe", "uretprobe", "usdt"}},
	"ntop":         {min: 1, max: 2, ret: Type{Kind: Inet}},
	"pton":         {min: 1, max: 1, ret: Type{Kind: Buffer}, strArg: []int{0}},
	"cgroupid":     {min: 1, max: 1, ret: intT, strArg: []int{0}},
	"cgroup_path":  {min: 1, max: 2, ret: strT},
	"reg":          {min: 1, max: 1, ret: intT, strArg: []int{0}, only: regProbes},
	"strftime":     {min: 2, max: 2, ret: strT, strArg: []int{0}},
	"strncmp":      {min: 3, max: 3, ret: intT},
	"strcontains":  {min: 2, max: 2, ret: intT},
	"strerror":     {min: 1, max: 1, ret: strT},
	"macaddr":      {min: 1, max: 1, ret: strT},
	"path":         {min: 1, max: 2, ret: strT},
	"kstack":       {min: 0, max: 2, ret: Type{Kind: Stack}},
	"ustack":       {min: 0, max: 2, ret: Type{Kind: Stack}},
	"bswap":        {min: 1, max: 1, ret: intT},
	"kptr":         {min: 1, max: 1, ret: unknown},
	"uptr":         {min: 1, max: 1, ret: unknown},
	"percpu_kaddr": {min: 1, max: 2, ret: intT, strArg: []int{0}},
	"nsecs":        {min: 0, max: 1, ret: intT},
	"getopt":       {min: 1, max: 2, ret: unknown, strArg: []int{0}},
	"skboutput":    {min: 4, max: 4, ret: intT, strArg: []int{0}},
}

func functionNames() []string {
	names := make([]string, 0, len(functions))
	for n := range functions {
		names = append(names, n)
	}
	return names
}

func builtinNames() []string {
	names := make([]string, 0, len(builtins)+1)
	for n := range builtins {
		names = append(names, n)
	}
	return append(names, "arg0")
}

// verbs parses a printf format and returns the conversion letters, in
// order, or an error message. It accepts C's flags, width, precision and
// length modifiers and bpftrace's %r (buffers) with its x/h modifiers.
func verbs(format string) ([]byte, string) {
	var out []byte
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		if i < len(format) && format[i] == '%' {
			continue
		}
		for i < len(format) && strings.IndexByte("-+ #0", format[i]) >= 0 {
			i++
		}
		for i < len(format) && (format[i] >= '0' && format[i] <= '9' || format[i] == '.') {
			i++
		}
		for i < len(format) && strings.IndexByte("hlzjtL", format[i]) >= 0 {
			i++
		}
		if i >= len(format) {
			return nil, "format ends in the middle of a conversion"
		}
		v := format[i]
		if strings.IndexByte("diuxXocspraAeEfFgG", v) < 0 {
			return nil, "unknown conversion %" + string(v)
		}
		if v == 'r' && i+1 < len(format) && (format[i+1] == 'x' || format[i+1] == 'h') {
			i++
		}
		out = append(out, v)
	}
	return out, ""
}
