package netfilter

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxRules is the most rules one filter holds (one bit each in the
// kernel's rule sets).
const MaxRules = 1024

// DefaultRule names the counters of the packets no rule matched, in stats
// and metrics; no rule may have the name.
const DefaultRule = "default"

// MaxFileSize bounds a filter file.
const MaxFileSize = 4 << 20

// The values of the file's enumerated keys.
var (
	Hooks    = []string{"xdp", "tc-ingress", "tc-egress"}
	Defaults = []string{"allow", "drop"}
	Modes    = []string{"enforce", "audit"}
	Actions  = []string{"drop", "allow", "rate-limit"}
)

// Protocols names the IP protocols a rule may give by name (a number
// 0-255 is accepted too).
var Protocols = map[string]uint8{"icmp": 1, "tcp": 6, "udp": 17, "icmpv6": 58, "sctp": 132}

// Hook indexes, as the kernel's filter_info records them.
const (
	HookXDP = iota
	HookTCIngress
	HookTCEgress
)

// Action is what a rule does with the packets it matches.
type Action uint8

// The actions, as the kernel's rule table holds them.
const (
	ActionAllow Action = iota
	ActionDrop
	ActionRateLimit
)

func (a Action) String() string {
	switch a {
	case ActionAllow:
		return "allow"
	case ActionDrop:
		return "drop"
	case ActionRateLimit:
		return "rate-limit"
	}
	return "action" + strconv.Itoa(int(a))
}

// Filter is one entry of a file's filters: a program on one interface's
// hook with its rules.
type Filter struct {
	Name      string
	Interface string
	Hook      string // xdp, tc-ingress or tc-egress
	Default   string // allow or drop: what happens to packets no rule matches
	Mode      string // enforce or audit
	Rules     []*Rule
	Pos       Pos
	File      string
}

// HookIndex returns the hook as HookXDP, HookTCIngress or HookTCEgress.
func (f *Filter) HookIndex() int { return slices.Index(Hooks, f.Hook) }

// Rule is one rule: a packet matches when its source is in one of Source
// (or Source is empty), its destination in one of Destination, its IP
// protocol is Protocol and its destination port in one of Ports.
type Rule struct {
	Name        string
	Action      Action
	Source      []netip.Prefix
	Destination []netip.Prefix
	Protocol    int // -1 for any
	Ports       []PortRange
	Rate        uint32 // rate-limit: packets per second per source
	Burst       uint32 // rate-limit: packets a source may send at once
	Pos         Pos
}

// PortRange is an inclusive range of ports.
type PortRange struct{ Lo, Hi uint16 }

func (r PortRange) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(int(r.Lo))
	}
	return strconv.Itoa(int(r.Lo)) + "-" + strconv.Itoa(int(r.Hi))
}

// Pos is a place in a file.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Error is a filter file error at a place in it.
type Error struct {
	Pos
	Msg string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.File + ": " + e.Msg
	}
	return e.Pos.String() + ": " + e.Msg
}

// Errors are every error found in a file, in file order.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Load reads and parses a filter file.
func Load(file string) ([]*Filter, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("opening the filter file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the filter file: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, Errors{{Pos: Pos{File: file}, Msg: fmt.Sprintf("larger than %d MiB: not a filter file", MaxFileSize>>20)}}
	}
	return Parse(file, data)
}

var (
	nameRE       = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$`)
	filterNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}$`) // a bpffs directory: no dots
)

// Parse parses a file's contents (file names it in errors). When anything
// is wrong it returns Errors holding every error found.
func Parse(file string, data []byte) ([]*Filter, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Errors{yamlError(file, err)}
	}
	if len(doc.Content) == 0 {
		return nil, Errors{{Pos: Pos{File: file}, Msg: "empty filter file: want a mapping with filters"}}
	}
	p := &parser{file: file}
	var filters []*Filter
	p.mapping(doc.Content[0], "", []string{"filters"}, []string{"filters"}, func(_ string, _, v *yaml.Node) {
		for _, n := range p.list(v, "filters") {
			if f := p.filter(n); f != nil {
				filters = append(filters, f)
			}
		}
	})
	names := map[string]bool{}
	hooks := map[string]*Filter{}
	for _, f := range filters {
		if names[f.Name] {
			p.errs = append(p.errs, &Error{f.Pos, fmt.Sprintf("filter %q: the name is used twice", f.Name)})
		}
		names[f.Name] = true
		key := f.Interface + " " + f.Hook
		if g := hooks[key]; g != nil {
			p.errs = append(p.errs, &Error{f.Pos, fmt.Sprintf("filter %q: %s on %s is filter %q's already", f.Name, f.Hook, f.Interface, g.Name)})
		}
		hooks[key] = f
	}
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return filters, nil
}

func yamlError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, tail, ok := strings.Cut(rest, ": "); ok {
			if l, err := strconv.Atoi(n); err == nil {
				line, msg = l, tail
			}
		}
	}
	e := &Error{Pos: Pos{File: file}, Msg: "invalid YAML: " + msg}
	if line > 0 {
		e.Line, e.Col = line, 1
	}
	return e
}

type parser struct {
	file string
	errs Errors
}

func (p *parser) fail(n *yaml.Node, format string, a ...any) {
	p.errs = append(p.errs, &Error{p.pos(n), fmt.Sprintf(format, a...)})
}

func (p *parser) pos(n *yaml.Node) Pos { return Pos{p.file, n.Line, n.Column} }

func prefix(where string) string {
	if where == "" {
		return ""
	}
	return where + ": "
}

// mapping walks a mapping, calling set per key; unknown, duplicate and
// missing required keys are errors.
func (p *parser) mapping(n *yaml.Node, where string, keys, required []string, set func(key string, k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.fail(n, "%swant a mapping with keys %s", prefix(where), strings.Join(keys, ", "))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(keys, k.Value) {
			p.fail(k, "%sunknown key %q (want one of %s)", prefix(where), k.Value, strings.Join(keys, ", "))
			continue
		}
		if seen[k.Value] {
			p.fail(k, "%skey %q given twice", prefix(where), k.Value)
			continue
		}
		seen[k.Value] = true
		set(k.Value, k, v)
	}
	for _, r := range required {
		if !seen[r] {
			p.fail(n, "%smissing key %q", prefix(where), r)
		}
	}
}

func (p *parser) scalar(v *yaml.Node, where string) (string, bool) {
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		p.fail(v, "%s: want a value", where)
		return "", false
	}
	return v.Value, true
}

func (p *parser) oneOf(v *yaml.Node, where string, values []string) string {
	s, ok := p.scalar(v, where)
	if !ok {
		return ""
	}
	if !slices.Contains(values, s) {
		p.fail(v, "%s: %q is not one of %s", where, s, strings.Join(values, ", "))
		return ""
	}
	return s
}

func (p *parser) list(v *yaml.Node, where string) []*yaml.Node {
	if v.Kind != yaml.SequenceNode {
		p.fail(v, "%s: want a list", where)
		return nil
	}
	return v.Content
}

var filterKeys = []string{"name", "interface", "hook", "default", "mode", "rules"}

func (p *parser) filter(n *yaml.Node) *Filter {
	f := &Filter{Hook: "xdp", Default: "allow", Mode: "enforce", Pos: p.pos(n), File: p.file}
	before := len(p.errs)
	var rulesNode *yaml.Node
	p.mapping(n, "filter", filterKeys, []string{"name", "interface"}, func(key string, _, v *yaml.Node) {
		switch key {
		case "name":
			if s, ok := p.scalar(v, "name"); ok {
				if !filterNameRE.MatchString(s) {
					p.fail(v, "name: %q: want 1-63 letters, digits, '_' or '-', not starting with '-'", s)
				}
				f.Name = s
			}
		case "interface":
			if s, ok := p.scalar(v, "interface"); ok {
				if len(s) > 15 || strings.ContainsAny(s, "/ \t\n") || s == "." || s == ".." {
					p.fail(v, "interface: %q is not an interface name", s)
				}
				f.Interface = s
			}
		case "hook":
			f.Hook = p.oneOf(v, "hook", Hooks)
		case "default":
			f.Default = p.oneOf(v, "default", Defaults)
		case "mode":
			f.Mode = p.oneOf(v, "mode", Modes)
		case "rules":
			rulesNode = v
		}
	})
	if rulesNode != nil {
		names := map[string]bool{}
		for i, rn := range p.list(rulesNode, "rules") {
			r := p.rule(rn, i)
			if r == nil {
				continue
			}
			if names[r.Name] {
				p.fail(rn, "rule %q: the name is used twice in filter %q", r.Name, f.Name)
			}
			names[r.Name] = true
			f.Rules = append(f.Rules, r)
		}
		if len(rulesNode.Content) > MaxRules {
			p.fail(rulesNode, "rules: %d rules, at most %d per filter", len(rulesNode.Content), MaxRules)
		}
	}
	if len(p.errs) > before {
		return nil
	}
	return f
}

var ruleKeys = []string{"name", "action", "source", "destination", "protocol", "ports", "rate", "burst"}

func (p *parser) rule(n *yaml.Node, i int) *Rule {
	r := &Rule{Name: "rule-" + strconv.Itoa(i+1), Protocol: -1, Pos: p.pos(n)}
	before := len(p.errs)
	var portsNode, rateNode, burstNode *yaml.Node
	p.mapping(n, "rule", ruleKeys, []string{"action"}, func(key string, _, v *yaml.Node) {
		switch key {
		case "name":
			if s, ok := p.scalar(v, "name"); ok {
				if !nameRE.MatchString(s) {
					p.fail(v, "name: %q: want 1-63 letters, digits, '_', '.' or '-', not starting with '.' or '-'", s)
				} else if s == DefaultRule {
					p.fail(v, "name: %q names the counters of the packets no rule matched: choose another", s)
				}
				r.Name = s
			}
		case "action":
			switch p.oneOf(v, "action", Actions) {
			case "drop":
				r.Action = ActionDrop
			case "allow":
				r.Action = ActionAllow
			case "rate-limit":
				r.Action = ActionRateLimit
			}
		case "source":
			r.Source = p.prefixes(v, "source")
		case "destination":
			r.Destination = p.prefixes(v, "destination")
		case "protocol":
			s, ok := p.scalar(v, "protocol")
			if !ok {
				return
			}
			if n, ok := Protocols[strings.ToLower(s)]; ok {
				r.Protocol = int(n)
			} else if n, err := strconv.ParseUint(s, 10, 8); err == nil {
				r.Protocol = int(n)
			} else {
				p.fail(v, "protocol: %q is not tcp, udp, sctp, icmp, icmpv6 or a number 0-255", s)
			}
		case "ports":
			portsNode = v
		case "rate":
			rateNode = v
		case "burst":
			burstNode = v
		}
	})
	if portsNode != nil {
		r.Ports = p.ports(portsNode)
		if r.Protocol >= 0 && !hasPorts(uint8(r.Protocol)) {
			p.fail(portsNode, "ports: protocol %d has no ports (want tcp, udp or sctp)", r.Protocol)
		}
	}
	if r.Action == ActionRateLimit {
		if rateNode == nil {
			p.fail(n, "rule %q: a rate-limit rule needs a rate (e.g. rate: 1000/s)", r.Name)
		} else {
			r.Rate = p.rate(rateNode)
		}
		r.Burst = r.Rate
		if burstNode != nil {
			r.Burst = p.count(burstNode, "burst")
		}
	} else {
		for _, x := range []struct {
			n   *yaml.Node
			key string
		}{{rateNode, "rate"}, {burstNode, "burst"}} {
			if x.n != nil {
				p.fail(x.n, "%s: only a rate-limit rule has a %s", x.key, x.key)
			}
		}
	}
	if len(p.errs) > before {
		return nil
	}
	return r
}

func hasPorts(proto uint8) bool { return proto == 6 || proto == 17 || proto == 132 }

func (p *parser) prefixes(v *yaml.Node, where string) []netip.Prefix {
	items := p.list(v, where)
	if v.Kind == yaml.SequenceNode && len(items) == 0 {
		p.fail(v, "%s: the list is empty (leave the key out to match any address)", where)
	}
	var out []netip.Prefix
	for _, n := range items {
		s, ok := p.scalar(n, where)
		if !ok {
			continue
		}
		var pf netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			pf, err = netip.ParsePrefix(s)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(s); err == nil {
				pf = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil || pf.Addr().Zone() != "" {
			p.fail(n, "%s: %q is not an address or CIDR (10.0.0.0/8, 2001:db8::/32)", where, s)
			continue
		}
		if pf.Masked() != pf {
			p.fail(n, "%s: %q has host bits set (did you mean %s?)", where, s, pf.Masked())
			continue
		}
		out = append(out, pf)
	}
	return out
}

func (p *parser) ports(v *yaml.Node) []PortRange {
	items := p.list(v, "ports")
	if v.Kind == yaml.SequenceNode && len(items) == 0 {
		p.fail(v, "ports: the list is empty (leave the key out to match any port)")
	}
	var out []PortRange
	for _, n := range items {
		s, ok := p.scalar(n, "ports")
		if !ok {
			continue
		}
		lo, hi, isRange := strings.Cut(s, "-")
		a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
		}
		if err1 != nil || err2 != nil {
			p.fail(n, "ports: %q is not a port (0-65535) or a range (8000-8999)", s)
			continue
		}
		if a > b {
			p.fail(n, "ports: %q: the range ends before it starts", s)
			continue
		}
		out = append(out, PortRange{uint16(a), uint16(b)})
	}
	return out
}

// MaxRate bounds rate and burst.
const MaxRate = 100_000_000

func (p *parser) rate(v *yaml.Node) uint32 {
	s, ok := p.scalar(v, "rate")
	if !ok {
		return 0
	}
	num, ok := strings.CutSuffix(s, "/s")
	n, err := strconv.ParseUint(strings.TrimSpace(num), 10, 32)
	if !ok || err != nil || n == 0 || n > MaxRate {
		p.fail(v, "rate: %q: want packets per second, 1/s to %d/s (e.g. 1000/s)", s, MaxRate)
		return 0
	}
	return uint32(n)
}

func (p *parser) count(v *yaml.Node, where string) uint32 {
	s, ok := p.scalar(v, where)
	if !ok {
		return 0
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 || n > MaxRate {
		p.fail(v, "%s: %q: want a number of packets, 1 to %d", where, s, MaxRate)
		return 0
	}
	return uint32(n)
}
