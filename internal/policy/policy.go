package policy

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxRules is how many rules all loaded files may hold together: the
// kernel side keeps one bit per rule in a 1,024-bit mask.
const MaxRules = 1024

// MaxPath is the longest path a selector may name, in bytes: the kernel
// side compares paths in 256-byte keys, NUL included.
const MaxPath = 254

// MaxFileSize bounds a policy file.
const MaxFileSize = 1 << 20

// The events a rule may be on, as the format names them.
var Events = []string{"exec", "open", "connect", "bind", "sendmsg", "ptrace", "setuid", "module_load", "bpf", "mount", "kill", "chmod"}

// Supported are the events kscope policy matches: all of Events.
var Supported = Events

// EventIndex is an event's number in the kernel side's tables: its place
// in Events, from 1.
func EventIndex(on string) int { return slices.Index(Events, on) + 1 }

// SockEvents are the events matched by cgroup sock_addr programs; their
// deny is an EPERM from the program and they have no kill.
var SockEvents = []string{"connect", "bind", "sendmsg"}

// SyscallEvents are the events matched at their syscalls' entry.
var SyscallEvents = []string{"ptrace", "setuid", "module_load", "bpf", "mount", "kill", "chmod"}

// Severities, Actions, Modes and Accesses are the values of those keys.
var (
	Severities = []string{"info", "low", "medium", "high", "critical"}
	Actions    = []string{"alert", "kill", "deny"}
	Modes      = []string{"enforce", "audit"}
	Accesses   = []string{"read", "write", "create", "truncate"}
	Protocols  = []string{"tcp", "udp"}
)

// Error is a policy error at a place in a file.
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	s := e.File
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line) + ":" + strconv.Itoa(e.Col)
	}
	return s + ": " + e.Msg
}

// Errors are every error found in a set of files, in file order.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Pos is where a rule or key is in its file.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Paths is a path selector: exact paths, prefixes and globs, each with its
// not_ form. A path passes when it matches one of the positive lists (or
// there are none) and none of the not_ lists.
type Paths struct {
	Path, Prefix, Glob          []string
	NotPath, NotPrefix, NotGlob []string
}

// Empty reports whether the selector has no list.
func (p *Paths) Empty() bool {
	return p == nil || len(p.Path)+len(p.Prefix)+len(p.Glob)+len(p.NotPath)+len(p.NotPrefix)+len(p.NotGlob) == 0
}

// HasGlob reports whether the selector has a glob list.
func (p *Paths) HasGlob() bool { return p != nil && len(p.Glob)+len(p.NotGlob) > 0 }

// User selects on the task's credentials: its real uid one of UID, its
// effective uid one of EUID, its real gid one of GID (each when given), and
// a real uid other than 0 when NotRoot.
type User struct {
	UID, EUID, GID []uint32
	NotRoot        bool
}

// File selects an opened file: its path and any of the access modes.
type File struct {
	Paths
	Access []string
}

// Destination selects a connect's destination: any of the CIDRs and none
// of the NotCIDRs, a port in any of the Ports ranges and in none of the
// NotPorts ones, and the protocol.
type Destination struct {
	CIDR, NotCIDR   []netip.Prefix
	Ports, NotPorts []PortRange
	Protocol        string
}

// PortRange is a destination port range, both ends included; a single
// port has First == Last.
type PortRange struct{ First, Last uint16 }

func (r PortRange) String() string {
	if r.First == r.Last {
		return strconv.Itoa(int(r.First))
	}
	return strconv.Itoa(int(r.First)) + "-" + strconv.Itoa(int(r.Last))
}

// Contains reports whether port is in the range.
func (r PortRange) Contains(port uint16) bool { return port >= r.First && port <= r.Last }

// Namespaces are the namespace kinds, as /proc/PID/ns names them.
var Namespaces = []string{"pid", "mnt", "net", "user", "uts", "ipc", "cgroup"}

// Namespace selects on the task's namespaces: NotHost lists kinds of which
// one must not be the host's (the namespaces of pid 1 when kscope starts).
type Namespace struct {
	NotHost []string
}

// Args selects on argv; it runs in user space.
type Args struct {
	Contains []string
	Regex    *regexp.Regexp
}

// Match is a rule's selectors; all that are set must hold.
type Match struct {
	Binary, Parent, Ancestor, Cgroup *Paths
	User                             *User
	// Comm passes a task whose comm is one of Comm (when given) and none
	// of NotComm.
	Comm, NotComm []string
	Args          *Args
	Container     []string
	File          *File
	Destination   *Destination
	Namespace     *Namespace
	// Capability lists capabilities (CAP_SYS_ADMIN…) of which the task
	// must hold one in its effective set.
	Capability []string
}

// Rule is one rule of a policy file.
type Rule struct {
	Name        string
	Description string
	Severity    string
	On          string
	Match       Match
	Action      string
	Mode        string
	Pos         Pos
	// Webhook is the file's webhook, if it has one (webhook.go).
	Webhook *Webhook
	// keys is where each key of the rule is, for errors found later.
	keys map[string]Pos
}

// KeyPos returns where key (dotted, e.g. "match.binary") is in the rule's
// file, or the rule's position.
func (r *Rule) KeyPos(key string) Pos {
	if p, ok := r.keys[key]; ok {
		return p
	}
	return r.Pos
}

// Load reads and parses the files; it returns every rule or every error.
// Rule names must be unique across the files.
func Load(files []string) ([]*Rule, error) {
	var rules []*Rule
	var errs Errors
	for _, f := range files {
		data, err := readFile(f)
		if err != nil {
			errs = append(errs, &Error{File: f, Msg: err.Error()})
			continue
		}
		rs, err := Parse(f, data)
		var pe Errors
		if errors.As(err, &pe) {
			errs = append(errs, pe...)
		} else if err != nil {
			errs = append(errs, &Error{File: f, Msg: err.Error()})
		}
		rules = append(rules, rs...)
	}
	seen := map[string]*Rule{}
	for _, r := range rules {
		if o := seen[r.Name]; o != nil {
			errs = append(errs, &Error{File: r.Pos.File, Line: r.Pos.Line, Col: r.Pos.Col, Msg: fmt.Sprintf("rule %q is already defined at %s", r.Name, o.Pos)})
		}
		seen[r.Name] = r
	}
	if len(rules) > MaxRules {
		r := rules[MaxRules]
		errs = append(errs, &Error{File: r.Pos.File, Line: r.Pos.Line, Col: r.Pos.Col,
			Msg: fmt.Sprintf("rule %s is rule %d of %d: at most %d rules can be loaded together (the kernel side keeps one bit per rule)", r.Name, MaxRules+1, len(rules), MaxRules)})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return rules, nil
}

func readFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("cannot read: %w", pe.Err)
		}
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("larger than %d KiB: not a policy file", MaxFileSize>>10)
	}
	return data, nil
}

// Parse parses one file's contents (named file in errors). It returns the
// rules and, when any rule is wrong, Errors holding every error found.
func Parse(file string, data []byte) ([]*Rule, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Errors{yamlError(file, err)}
	}
	p := &parser{file: file}
	if len(doc.Content) == 0 {
		return nil, Errors{{File: file, Msg: "empty policy file: want a mapping with rules"}}
	}
	var rules []*Rule
	var hook *Webhook
	p.mapping(doc.Content[0], "", []string{"rules", "webhook"}, []string{"rules"}, func(key string, k, v *yaml.Node) {
		if key == "webhook" {
			hook = p.webhook(v)
			return
		}
		if v.Kind != yaml.SequenceNode {
			p.fail(v, "rules: want a list of rules")
			return
		}
		if len(v.Content) == 0 {
			p.fail(v, "rules: the list is empty")
		}
		for _, n := range v.Content {
			if r := p.rule(n); r != nil {
				rules = append(rules, r)
			}
		}
	})
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	for _, r := range rules {
		r.Webhook = hook
	}
	return rules, nil
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
	e := &Error{File: file, Msg: "invalid YAML: " + msg}
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
	p.errs = append(p.errs, &Error{File: p.file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf(format, a...)})
}

func (p *parser) pos(n *yaml.Node) Pos { return Pos{p.file, n.Line, n.Column} }

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

func prefix(where string) string {
	if where == "" {
		return ""
	}
	return where + ": "
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
	if len(v.Content) == 0 {
		p.fail(v, "%s: the list is empty", where)
	}
	return v.Content
}

func (p *parser) strings(v *yaml.Node, where string) []string {
	var out []string
	for _, n := range p.list(v, where) {
		if s, ok := p.scalar(n, where); ok {
			if s == "" {
				p.fail(n, "%s: empty string", where)
				continue
			}
			out = append(out, s)
		}
	}
	return out
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)

var ruleKeys = []string{"name", "description", "severity", "on", "match", "action", "mode"}

func (p *parser) rule(n *yaml.Node) *Rule {
	before := len(p.errs)
	r := &Rule{Severity: "medium", Mode: "enforce", Pos: p.pos(n), keys: map[string]Pos{}}
	var match *yaml.Node
	p.mapping(n, "rule", ruleKeys, []string{"name", "on", "action"}, func(key string, k, v *yaml.Node) {
		r.keys[key] = p.pos(v)
		switch key {
		case "name":
			if s, ok := p.scalar(v, "name"); ok {
				if !nameRE.MatchString(s) {
					p.fail(v, "name: %q: want 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit", s)
				}
				r.Name = s
			}
		case "description":
			r.Description, _ = p.scalar(v, "description")
		case "severity":
			r.Severity = p.oneOf(v, "severity", Severities)
		case "on":
			r.On = p.oneOf(v, "on", Events)
		case "match":
			match = v
		case "action":
			r.Action = p.oneOf(v, "action", Actions)
		case "mode":
			r.Mode = p.oneOf(v, "mode", Modes)
		}
	})
	if match != nil {
		p.match(match, r)
	} else if n.Kind == yaml.MappingNode {
		p.fail(n, "rule %s: missing key \"match\": a rule without selectors would match every %s", r.Name, orEvent(r.On))
	}
	if len(p.errs) > before {
		return nil
	}
	p.check(r)
	if len(p.errs) > before {
		return nil
	}
	return r
}

func orEvent(on string) string {
	if on == "" {
		return "event"
	}
	return on
}

// The selectors of each event: those of the task, and the event's own.
var selectors = func() map[string][]string {
	task := []string{"binary", "parent", "ancestor", "user", "comm", "args", "cgroup", "container", "namespace", "capability"}
	m := map[string][]string{}
	for _, on := range Events {
		m[on] = task
	}
	m["open"] = append(slices.Clone(task), "file")
	for _, on := range SockEvents {
		m[on] = append(slices.Clone(task), "destination")
	}
	return m
}()

// Selectors returns the selectors valid on an event.
func Selectors(on string) []string { return selectors[on] }

var allSelectors = []string{"binary", "parent", "ancestor", "user", "comm", "args", "cgroup", "container", "namespace", "capability", "file", "destination"}

func (p *parser) match(n *yaml.Node, r *Rule) {
	m := &r.Match
	p.mapping(n, "match", allSelectors, nil, func(key string, k, v *yaml.Node) {
		r.keys["match."+key] = p.pos(k)
		if sel, ok := selectors[r.On]; ok && !slices.Contains(sel, key) {
			p.fail(k, "match: %s is not a selector of %s events (want one of %s)", key, r.On, strings.Join(selectors[r.On], ", "))
			return
		}
		where := "match." + key
		switch key {
		case "binary":
			m.Binary = p.paths(v, where, pathKeys, true)
		case "parent":
			m.Parent = p.paths(v, where, pathKeys, true)
		case "ancestor":
			m.Ancestor = p.paths(v, where, pathKeys, true)
		case "cgroup":
			m.Cgroup = p.paths(v, where, pathKeys, true)
		case "user":
			m.User = p.user(v, where)
		case "comm":
			m.Comm, m.NotComm = p.comm(v, where)
		case "args":
			m.Args = p.args(v, where)
		case "container":
			m.Container = p.strings(v, where)
		case "file":
			m.File = p.fileSel(v, where)
		case "destination":
			m.Destination = p.destination(v, where)
		case "namespace":
			m.Namespace = p.namespace(v, where)
		case "capability":
			for _, item := range p.list(v, where) {
				s, ok := p.scalar(item, where)
				if !ok {
					continue
				}
				if !slices.Contains(Capabilities, s) {
					p.fail(item, "%s: %q is not a capability: want a name of capability(7) such as CAP_SYS_ADMIN, in upper case", where, s)
					continue
				}
				m.Capability = append(m.Capability, s)
			}
		}
	})
	if n.Kind == yaml.MappingNode && len(n.Content) == 0 {
		p.fail(n, "match: no selectors: a rule without selectors would match every %s", orEvent(r.On))
	}
}

var pathKeys = []string{"path", "prefix", "glob", "not_path", "not_prefix", "not_glob"}

func (p *parser) paths(n *yaml.Node, where string, keys []string, absolute bool) *Paths {
	ps := &Paths{}
	p.mapping(n, where, keys, nil, func(key string, k, v *yaml.Node) {
		w := where + "." + key
		var dst *[]string
		switch key {
		case "path":
			dst = &ps.Path
		case "prefix":
			dst = &ps.Prefix
		case "glob":
			dst = &ps.Glob
		case "not_path":
			dst = &ps.NotPath
		case "not_prefix":
			dst = &ps.NotPrefix
		case "not_glob":
			dst = &ps.NotGlob
		}
		for i, s := range p.strings(v, w) {
			item := v.Content[i]
			if absolute && !strings.HasPrefix(s, "/") {
				p.fail(item, "%s: %q is not an absolute path", w, s)
				continue
			}
			if len(s) > MaxPath {
				p.fail(item, "%s: %q is longer than %d bytes", w, s[:32]+"…", MaxPath)
				continue
			}
			if strings.Contains(s, "\x00") {
				p.fail(item, "%s: a path cannot hold a NUL byte", w)
				continue
			}
			if strings.HasSuffix(key, "glob") {
				if _, err := path.Match(s, ""); err != nil {
					p.fail(item, "%s: %q: bad glob: %v", w, s, err)
					continue
				}
			}
			*dst = append(*dst, s)
		}
	})
	if n.Kind == yaml.MappingNode && len(n.Content) == 0 {
		p.fail(n, "%s: empty: want one of %s", where, strings.Join(keys, ", "))
	}
	return ps
}

// comm is comm's list form ([NAME…]) or its mapping ({name: [NAME…],
// not_name: [NAME…]}).
func (p *parser) comm(n *yaml.Node, where string) (names, not []string) {
	check := func(v *yaml.Node, w string) []string {
		out := p.strings(v, w)
		for i, c := range out {
			if len(c) > 15 {
				p.fail(v.Content[i], "%s: %q is longer than the kernel's 15-byte comm", w, c)
			}
		}
		return out
	}
	if n.Kind != yaml.MappingNode {
		return check(n, where), nil
	}
	p.mapping(n, where, []string{"name", "not_name"}, nil, func(key string, k, v *yaml.Node) {
		if key == "name" {
			names = check(v, where+".name")
		} else {
			not = check(v, where+".not_name")
		}
	})
	if len(n.Content) == 0 {
		p.fail(n, "%s: empty: want a list of names, or name: [...] / not_name: [...]", where)
	}
	return names, not
}

func (p *parser) namespace(n *yaml.Node, where string) *Namespace {
	ns := &Namespace{}
	p.mapping(n, where, []string{"not_host"}, []string{"not_host"}, func(key string, k, v *yaml.Node) {
		for _, item := range p.list(v, where+".not_host") {
			if s := p.oneOf(item, where+".not_host", Namespaces); s != "" && !slices.Contains(ns.NotHost, s) {
				ns.NotHost = append(ns.NotHost, s)
			}
		}
	})
	return ns
}

func (p *parser) user(n *yaml.Node, where string) *User {
	u := &User{}
	p.mapping(n, where, []string{"uid", "euid", "gid", "not_root"}, nil, func(key string, k, v *yaml.Node) {
		switch key {
		case "uid", "euid", "gid":
			what, dst := "user", &u.UID
			switch key {
			case "euid":
				dst = &u.EUID
			case "gid":
				what, dst = "group", &u.GID
			}
			for _, item := range p.list(v, where+"."+key) {
				x, err := strconv.ParseUint(item.Value, 10, 32)
				if item.Kind != yaml.ScalarNode || err != nil {
					p.fail(item, "%s.%s: %q is not a %s id (0 to 4294967295)", where, key, item.Value, what)
					continue
				}
				*dst = append(*dst, uint32(x))
			}
		case "not_root":
			if v.Kind != yaml.ScalarNode || (v.Value != "true" && v.Value != "false") {
				p.fail(v, "%s.not_root: want true or false", where)
				return
			}
			u.NotRoot = v.Value == "true"
		}
	})
	if len(u.UID)+len(u.EUID)+len(u.GID) == 0 && !u.NotRoot && n.Kind == yaml.MappingNode && len(p.errs) == 0 {
		p.fail(n, "%s: selects nothing: want uid, euid or gid: [...], or not_root: true", where)
	}
	return u
}

func (p *parser) args(n *yaml.Node, where string) *Args {
	a := &Args{}
	p.mapping(n, where, []string{"contains", "regex"}, nil, func(key string, k, v *yaml.Node) {
		switch key {
		case "contains":
			a.Contains = p.strings(v, where+".contains")
		case "regex":
			s, ok := p.scalar(v, where+".regex")
			if !ok {
				return
			}
			re, err := regexp.Compile(s)
			if err != nil {
				p.fail(v, "%s.regex: %v", where, err)
				return
			}
			a.Regex = re
		}
	})
	return a
}

func (p *parser) fileSel(n *yaml.Node, where string) *File {
	f := &File{}
	keys := append(append([]string(nil), pathKeys...), "access")
	var access *yaml.Node
	p.mapping(n, where, keys, nil, func(key string, k, v *yaml.Node) {
		if key == "access" {
			access = v
		}
	})
	if access != nil {
		for _, item := range p.list(access, where+".access") {
			if s := p.oneOf(item, where+".access", Accesses); s != "" {
				f.Access = append(f.Access, s)
			}
		}
	}
	// The path keys, without access.
	if n.Kind == yaml.MappingNode {
		c := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value != "access" && slices.Contains(pathKeys, n.Content[i].Value) {
				c.Content = append(c.Content, n.Content[i], n.Content[i+1])
			}
		}
		if len(c.Content) > 0 {
			f.Paths = *p.paths(c, where, pathKeys, true)
		} else if access == nil {
			p.fail(n, "%s: empty: want one of %s", where, strings.Join(keys, ", "))
		}
	}
	return f
}

func (p *parser) destination(n *yaml.Node, where string) *Destination {
	d := &Destination{}
	p.mapping(n, where, []string{"cidr", "not_cidr", "ports", "not_ports", "protocol"}, nil, func(key string, k, v *yaml.Node) {
		w := where + "." + key
		switch key {
		case "cidr", "not_cidr":
			for i, s := range p.strings(v, w) {
				pf, err := netip.ParsePrefix(s)
				if err != nil {
					if a, aerr := netip.ParseAddr(s); aerr == nil {
						pf = netip.PrefixFrom(a, a.BitLen())
					} else {
						p.fail(v.Content[i], "%s: %q is not a CIDR (want e.g. 10.0.0.0/8 or fd00::/8)", w, s)
						continue
					}
				}
				if pf.Masked() != pf {
					p.fail(v.Content[i], "%s: %q has host bits set (did you mean %s?)", w, s, pf.Masked())
					continue
				}
				if pf.Addr().Is4In6() {
					pf = netip.PrefixFrom(pf.Addr().Unmap(), pf.Bits()-96)
				}
				if key == "cidr" {
					d.CIDR = append(d.CIDR, pf)
				} else {
					d.NotCIDR = append(d.NotCIDR, pf)
				}
			}
		case "ports", "not_ports":
			for _, item := range p.list(v, w) {
				r, err := ParsePortRange(item.Value)
				if item.Kind != yaml.ScalarNode || err != nil {
					p.fail(item, "%s: %q is not a port (1 to 65535) or a range of them (8000-8999)", w, item.Value)
					continue
				}
				if key == "ports" {
					d.Ports = append(d.Ports, r)
				} else {
					d.NotPorts = append(d.NotPorts, r)
				}
			}
		case "protocol":
			d.Protocol = p.oneOf(v, w, Protocols)
		}
	})
	if n.Kind == yaml.MappingNode && len(n.Content) == 0 {
		p.fail(n, "%s: empty: want one of cidr, not_cidr, ports, not_ports, protocol", where)
	}
	return d
}

// ParsePortRange parses a port ("443") or a range of ports ("8000-8999"),
// from 1 to 65535.
func ParsePortRange(s string) (PortRange, error) {
	port := func(s string) (uint16, error) {
		x, err := strconv.ParseUint(s, 10, 16)
		if err != nil || x == 0 {
			return 0, fmt.Errorf("%q is not a port (1 to 65535)", s)
		}
		return uint16(x), nil
	}
	a, b, isRange := strings.Cut(s, "-")
	first, err := port(a)
	if err != nil {
		return PortRange{}, err
	}
	if !isRange {
		return PortRange{first, first}, nil
	}
	last, err := port(b)
	if err != nil {
		return PortRange{}, err
	}
	if last < first {
		return PortRange{}, fmt.Errorf("range %s ends before it starts", s)
	}
	return PortRange{first, last}, nil
}

// check validates what holds across keys: which actions an event has.
func (p *parser) check(r *Rule) {
	pos := r.KeyPos("action")
	fail := func(format string, a ...any) {
		p.errs = append(p.errs, &Error{File: pos.File, Line: pos.Line, Col: pos.Col, Msg: fmt.Sprintf(format, a...)})
	}
	switch {
	case slices.Contains(SockEvents, r.On) && r.Action == "kill":
		fail("action: kill is not an action of %s rules: use deny (EPERM from a cgroup sock_addr program) or alert", r.On)
	case r.On == "sendmsg" && r.Match.Destination != nil && r.Match.Destination.Protocol == "tcp":
		pos = r.KeyPos("match.destination")
		fail("match.destination.protocol: sendmsg rules see UDP sends only (the cgroup sendmsg hooks): tcp never matches")
	}
}

// Capabilities are the capabilities' names, by number (capability(7)).
var Capabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// CapNames lists the capabilities of an effective set, by name (CAP_N for
// one kscope does not know).
func CapNames(set uint64) []string {
	var out []string
	for i := range 64 {
		if set&(1<<i) == 0 {
			continue
		}
		if i < len(Capabilities) {
			out = append(out, Capabilities[i])
		} else {
			out = append(out, "CAP_"+strconv.Itoa(i))
		}
	}
	return out
}
