package check

import (
	"math"
	"strconv"
	"strings"

	"github.com/kscope/kscope/internal/probe/ast"
)

// provider describes one probe type.
type provider struct {
	name      string // canonical
	minParts  int
	maxParts  int
	usage     string
	wildcards bool
}

var providers = map[string]*provider{}

// aliases maps every accepted spelling of a probe type to its canonical
// name.
var aliases = map[string]string{}

func init() {
	for _, p := range []struct {
		names []string
		p     provider
	}{
		{[]string{"BEGIN", "begin"}, provider{name: "begin", usage: "BEGIN"}},
		{[]string{"END", "end"}, provider{name: "end", usage: "END"}},
		{[]string{"tracepoint", "t"}, provider{name: "tracepoint", minParts: 2, maxParts: 2, usage: "tracepoint:CATEGORY:NAME", wildcards: true}},
		{[]string{"rawtracepoint", "rt"}, provider{name: "rawtracepoint", minParts: 1, maxParts: 2, usage: "rawtracepoint:[MODULE:]NAME", wildcards: true}},
		{[]string{"kprobe", "k"}, provider{name: "kprobe", minParts: 1, maxParts: 2, usage: "kprobe:[MODULE:]FUNCTION[+OFFSET]", wildcards: true}},
		{[]string{"kretprobe", "kr"}, provider{name: "kretprobe", minParts: 1, maxParts: 2, usage: "kretprobe:[MODULE:]FUNCTION", wildcards: true}},
		{[]string{"fentry", "f", "kfunc"}, provider{name: "fentry", minParts: 1, maxParts: 2, usage: "fentry:[MODULE:]FUNCTION", wildcards: true}},
		{[]string{"fexit", "fr", "kretfunc"}, provider{name: "fexit", minParts: 1, maxParts: 2, usage: "fexit:[MODULE:]FUNCTION", wildcards: true}},
		{[]string{"uprobe", "u"}, provider{name: "uprobe", minParts: 1, maxParts: 3, usage: "uprobe:BINARY:[LANGUAGE:]FUNCTION[+OFFSET]", wildcards: true}},
		{[]string{"uretprobe", "ur"}, provider{name: "uretprobe", minParts: 1, maxParts: 3, usage: "uretprobe:BINARY:[LANGUAGE:]FUNCTION", wildcards: true}},
		{[]string{"usdt", "U"}, provider{name: "usdt", minParts: 1, maxParts: 3, usage: "usdt:BINARY:[PROVIDER:]NAME", wildcards: true}},
		{[]string{"profile", "p"}, provider{name: "profile", minParts: 1, maxParts: 2, usage: "profile:hz|s|ms|us:RATE"}},
		{[]string{"interval", "i"}, provider{name: "interval", minParts: 1, maxParts: 2, usage: "interval:s|ms|us|hz:RATE"}},
		{[]string{"software", "s"}, provider{name: "software", minParts: 1, maxParts: 2, usage: "software:EVENT[:COUNT]"}},
		{[]string{"hardware", "h"}, provider{name: "hardware", minParts: 1, maxParts: 2, usage: "hardware:EVENT[:COUNT]"}},
		{[]string{"iter", "it"}, provider{name: "iter", minParts: 1, maxParts: 2, usage: "iter:task|task_file|task_vma[:PIN]"}},
		{[]string{"watchpoint", "w"}, provider{name: "watchpoint", minParts: 3, maxParts: 3, usage: "watchpoint:ADDRESS|FUNCTION+argN:LENGTH:MODE"}},
		{[]string{"asyncwatchpoint", "aw"}, provider{name: "asyncwatchpoint", minParts: 3, maxParts: 3, usage: "asyncwatchpoint:ADDRESS|FUNCTION+argN:LENGTH:MODE"}},
	} {
		pp := p.p
		providers[pp.name] = &pp
		for _, n := range p.names {
			aliases[n] = pp.name
		}
	}
}

var softwareEvents = []string{
	"alignment-faults", "bpf-output", "context-switches", "cpu-clock", "cpu-migrations",
	"dummy", "emulation-faults", "major-faults", "minor-faults", "page-faults", "task-clock",
	"cpu", "cs", "faults", "migrations",
}

var hardwareEvents = []string{
	"backend-stalls", "branch-instructions", "branch-misses", "bus-cycles", "cache-misses",
	"cache-references", "cpu-cycles", "frontend-stalls", "instructions", "ref-cycles",
	"branches", "cycles",
}

// attachPoint checks one attach point and returns its canonical provider
// ("" when it is wrong).
func (c *checker) attachPoint(a *ast.AttachPoint) string {
	name, ok := aliases[a.Provider]
	if !ok {
		names := make([]string, 0, len(aliases))
		for n := range aliases {
			if len(n) > 2 {
				names = append(names, n)
			}
		}
		c.errorf(a.Pos, "unknown probe type %q%s", a.Provider, suggest(a.Provider, names))
		return ""
	}
	p := providers[name]
	if n := len(a.Parts); n < p.minParts || n > p.maxParts {
		c.errorf(a.Pos, "%s takes %s, not %q", name, p.usage, a.Raw)
		return ""
	}
	for _, part := range a.Parts {
		if part == "" {
			c.errorf(a.Pos, "empty field in attach point %q: want %s", a.Raw, p.usage)
			return ""
		}
		if !p.wildcards && strings.ContainsAny(part, "*?") {
			c.errorf(a.Pos, "%s does not take wildcards: %q", name, a.Raw)
			return ""
		}
	}
	switch name {
	case "iter":
		iters := []string{"task", "task_file", "task_vma"}
		if !contains(iters, a.Parts[0]) {
			c.errorf(a.Pos, "unknown iterator %q%s", a.Parts[0], suggest(a.Parts[0], iters))
			return ""
		}
	case "watchpoint", "asyncwatchpoint":
		if n, ok := count(a.Parts[1]); !ok || n == 0 || n > 8 {
			c.errorf(a.Pos, "%s length %q must be 1 to 8 bytes", name, a.Parts[1])
			return ""
		}
		if m := a.Parts[2]; m == "" || strings.Trim(m, "rwx") != "" {
			c.errorf(a.Pos, "%s mode %q must be made of r, w and x", name, m)
			return ""
		}
	case "kretprobe", "uretprobe", "fentry", "fexit":
		if fn := a.Parts[len(a.Parts)-1]; strings.Contains(fn, "+") {
			c.errorf(a.Pos, "%s takes no +offset (only kprobe and uprobe do): %q", name, a.Raw)
			return ""
		}
	case "profile", "interval":
		rate := a.Parts[len(a.Parts)-1]
		unit := "hz"
		if len(a.Parts) == 2 {
			unit = a.Parts[0]
		}
		units := []string{"hz", "s", "ms", "us"}
		if !contains(units, unit) {
			c.errorf(a.Pos, "unknown %s unit %q (want hz, s, ms or us)%s", name, unit, suggest(unit, units))
			return ""
		}
		if n, ok := count(rate); !ok || n == 0 {
			c.errorf(a.Pos, "%s rate %q is not a positive integer", name, rate)
			return ""
		}
	case "software", "hardware":
		events := softwareEvents
		if name == "hardware" {
			events = hardwareEvents
		}
		if !contains(events, a.Parts[0]) {
			c.errorf(a.Pos, "unknown %s event %q%s", name, a.Parts[0], suggest(a.Parts[0], events))
			return ""
		}
		if len(a.Parts) == 2 {
			if n, ok := count(a.Parts[1]); !ok || n == 0 {
				c.errorf(a.Pos, "%s count %q is not a positive integer", name, a.Parts[1])
				return ""
			}
		}
	}
	return name
}

// count parses a rate or count in an attach point: decimal digits, or
// digits with a decimal exponent (1e6), as bpftrace reads them.
func count(s string) (uint64, bool) {
	mant, exp, hasExp := strings.Cut(s, "e")
	n, err := strconv.ParseUint(mant, 10, 64)
	if err != nil {
		return 0, false
	}
	if hasExp {
		e, err := strconv.ParseUint(exp, 10, 8)
		if err != nil {
			return 0, false
		}
		for range e {
			if n > math.MaxUint64/10 {
				return 0, false
			}
			n *= 10
		}
	}
	return n, true
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
