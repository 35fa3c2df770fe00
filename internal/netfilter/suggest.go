package netfilter

import (
	"bytes"
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SeenFlow is one flow as a suggestion takes it: what the agent's flows
// collector stored when the flow ended.
type SeenFlow struct {
	Proto         string // tcp or udp
	Local, Remote netip.AddrPort
	// Direction is out (the local side opened it), in (the peer did) or
	// "" (not seen: the side with the lower port is taken for the server).
	Direction string
	PID       uint32
	Comm      string
	Bytes     uint64 // payload bytes, both ways
}

// PeerEphemeral is the port range taken for a peer's side of a
// connection it opened: the peer's ephemeral ports, which differ between
// systems (Linux 32768-60999, Windows 49152-65535), so every unprivileged
// port.
var PeerEphemeral = PortRange{1024, 65535}

// SuggestOptions say what filter to suggest.
type SuggestOptions struct {
	Name      string // the filter's name
	Interface string
	Hook      string // xdp, tc-ingress or tc-egress
	// Ephemeral is the local ephemeral port range (ip_local_port_range):
	// replies to the host's own connections come back to it.
	Ephemeral PortRange
	// MaxPeers: a protocol and port with more peers than this gets one
	// rule listing them all instead of one rule per peer (0: no limit).
	MaxPeers int
	// MaxSources bounds the distinct peers of the filter (the kernel's
	// source and destination tries hold 16,384 prefixes); the peers with
	// the least traffic are left out beyond it. 0: DefaultMaxSources.
	MaxSources int
	// Header are comment lines written at the top of the file.
	Header []string
}

// DefaultMaxSources bounds a suggested filter's distinct peers.
const DefaultMaxSources = 16000

// Suggestion is a suggested filter: an allow rule per peer, protocol and
// port seen, default drop, audit mode.
type Suggestion struct {
	Options SuggestOptions
	Rules   []*SuggestedRule
	Flows   int // flows the rules cover
	// OmittedFlows counts the flows left out to keep within MaxRules and
	// MaxSources (the least traffic first).
	OmittedFlows int
	IPv6         bool // an IPv6 flow was seen: neighbour discovery is allowed
}

// SuggestedRule is one allow rule of a suggestion.
type SuggestedRule struct {
	Name     string
	Peers    []netip.Prefix // empty: any address
	Proto    string
	Ports    PortRange
	Flows    int
	Bytes    uint64
	Services []uint16 // the server ports of the flows (for replies: the peers')
	Procs    map[string][]uint32
	Comment  string
}

type suggestKey struct {
	peer  netip.Prefix
	proto string
	ports PortRange
}

// Suggest builds a filter that allows the flows seen and drops the rest,
// in audit mode. On an ingress hook a rule matches the packets a peer
// sends: its source is the peer and its port the local server port (a
// flow the peer opened) or, for a flow the host opened, the port its
// replies come back to: the ephemeral range (or the local port, when it
// is outside that range). On tc-egress it matches the packets sent to a
// peer: the destination is the peer and the port the peer's server port,
// or for a flow the peer opened, PeerEphemeral (or the peer's port
// outside it).
func Suggest(flows []SeenFlow, o SuggestOptions) *Suggestion {
	if o.MaxSources <= 0 {
		o.MaxSources = DefaultMaxSources
	}
	s := &Suggestion{Options: o}
	egress := o.Hook == "tc-egress"
	agg := map[suggestKey]*SuggestedRule{}
	for _, f := range flows {
		proto := f.Proto
		if proto != "tcp" && proto != "udp" {
			continue
		}
		remote := f.Remote.Addr().Unmap().WithZone("")
		if !remote.IsValid() {
			continue
		}
		if remote.Is6() {
			s.IPv6 = true
		}
		dir := f.Direction
		if dir != "in" && dir != "out" {
			dir = "out"
			if f.Local.Port() < f.Remote.Port() {
				dir = "in"
			}
		}
		var port PortRange
		var service uint16
		switch {
		case !egress && dir == "in":
			port, service = single(f.Local.Port()), f.Local.Port()
		case !egress:
			port, service = within(f.Local.Port(), o.Ephemeral), f.Remote.Port()
		case dir == "out":
			port, service = single(f.Remote.Port()), f.Remote.Port()
		default:
			port, service = within(f.Remote.Port(), PeerEphemeral), f.Local.Port()
		}
		k := suggestKey{netip.PrefixFrom(remote, remote.BitLen()), proto, port}
		r := agg[k]
		if r == nil {
			r = &SuggestedRule{Peers: []netip.Prefix{k.peer}, Proto: proto, Ports: port, Procs: map[string][]uint32{}}
			agg[k] = r
		}
		r.Flows++
		r.Bytes += f.Bytes
		if !slices.Contains(r.Services, service) {
			r.Services = append(r.Services, service)
		}
		comm := f.Comm
		if comm == "" {
			comm = "?"
		}
		if f.PID != 0 && !slices.Contains(r.Procs[comm], f.PID) {
			r.Procs[comm] = append(r.Procs[comm], f.PID)
		} else if _, ok := r.Procs[comm]; !ok {
			r.Procs[comm] = nil
		}
	}

	// The busiest first: what does not fit is the least traffic.
	rules := make([]*SuggestedRule, 0, len(agg))
	for _, r := range agg {
		rules = append(rules, r)
	}
	slices.SortFunc(rules, func(a, b *SuggestedRule) int {
		return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), cmp.Compare(b.Flows, a.Flows), compareRules(a, b))
	})
	peers := map[netip.Prefix]bool{}
	kept := rules[:0]
	for _, r := range rules {
		if p := r.Peers[0]; !peers[p] {
			if len(peers) >= o.MaxSources {
				s.OmittedFlows += r.Flows
				continue
			}
			peers[p] = true
		}
		kept = append(kept, r)
	}
	rules = kept

	// A protocol and port with many peers: one rule listing them.
	if o.MaxPeers > 0 {
		type group struct {
			proto string
			ports PortRange
		}
		groups := map[group][]*SuggestedRule{}
		for _, r := range rules {
			g := group{r.Proto, r.Ports}
			groups[g] = append(groups[g], r)
		}
		merged := rules[:0:0]
		for _, r := range rules {
			g := groups[group{r.Proto, r.Ports}]
			if len(g) <= o.MaxPeers {
				merged = append(merged, r)
				continue
			}
			if g[0] != r {
				continue
			}
			m := &SuggestedRule{Proto: r.Proto, Ports: r.Ports, Procs: map[string][]uint32{}}
			for _, x := range g {
				m.Peers = append(m.Peers, x.Peers...)
				m.Flows += x.Flows
				m.Bytes += x.Bytes
				for _, sv := range x.Services {
					if !slices.Contains(m.Services, sv) {
						m.Services = append(m.Services, sv)
					}
				}
				for c, pids := range x.Procs {
					for _, p := range pids {
						if !slices.Contains(m.Procs[c], p) {
							m.Procs[c] = append(m.Procs[c], p)
						}
					}
					if _, ok := m.Procs[c]; !ok {
						m.Procs[c] = nil
					}
				}
			}
			slices.SortFunc(m.Peers, comparePrefix)
			merged = append(merged, m)
		}
		rules = merged
	}

	limit := MaxRules
	if s.IPv6 {
		limit-- // the neighbour discovery rule
	}
	if len(rules) > limit {
		for _, r := range rules[limit:] {
			s.OmittedFlows += r.Flows
		}
		rules = rules[:limit]
	}
	slices.SortFunc(rules, compareRules)
	for _, r := range rules {
		s.Flows += r.Flows
		slices.Sort(r.Services)
		r.Name = ruleName(r, egress)
		r.Comment = ruleComment(r, egress)
	}
	s.Rules = rules
	return s
}

func single(p uint16) PortRange { return PortRange{p, p} }

// within is r when p is in it, else p alone.
func within(p uint16, r PortRange) PortRange {
	if r.Lo <= p && p <= r.Hi && r.Lo != 0 {
		return r
	}
	return single(p)
}

func comparePrefix(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}

// compareRules orders rules by protocol, port, then peers.
func compareRules(a, b *SuggestedRule) int {
	if c := cmp.Or(cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Ports.Lo, b.Ports.Lo), cmp.Compare(a.Ports.Hi, b.Ports.Hi)); c != 0 {
		return c
	}
	return slices.CompareFunc(a.Peers, b.Peers, comparePrefix)
}

func ruleName(r *SuggestedRule, egress bool) string {
	way := "from"
	if egress {
		way = "to"
	}
	who := strconv.Itoa(len(r.Peers)) + "-peers"
	if len(r.Peers) == 1 {
		// Rule names take letters, digits, '_', '.' and '-': an IPv6
		// address's colons become '_'.
		who = strings.ReplaceAll(r.Peers[0].Addr().String(), ":", "_")
	}
	return r.Proto + "-" + r.Ports.String() + "-" + way + "-" + who
}

// maxListed bounds the processes and ports a comment names.
const maxListed = 6

func ruleComment(r *SuggestedRule, egress bool) string {
	var b strings.Builder
	comms := make([]string, 0, len(r.Procs))
	for c := range r.Procs {
		comms = append(comms, c)
	}
	slices.Sort(comms)
	for i, c := range comms {
		if i == maxListed {
			fmt.Fprintf(&b, ", and %d more", len(comms)-maxListed)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(CommentSafe(c))
		pids := slices.Clone(r.Procs[c])
		slices.Sort(pids)
		if len(pids) > 0 {
			b.WriteString(" (pid ")
			for j, p := range pids {
				if j == maxListed {
					fmt.Fprintf(&b, " and %d more", len(pids)-maxListed)
					break
				}
				if j > 0 {
					b.WriteString(", ")
				}
				b.WriteString(strconv.FormatUint(uint64(p), 10))
			}
			b.WriteString(")")
		}
	}
	flows := "flows"
	if r.Flows == 1 {
		flows = "flow"
	}
	fmt.Fprintf(&b, ": %d %s, %d bytes; ", r.Flows, flows, r.Bytes)
	ports := make([]string, 0, len(r.Services))
	for i, p := range r.Services {
		if i == maxListed {
			ports = append(ports, fmt.Sprintf("and %d more", len(r.Services)-maxListed))
			break
		}
		ports = append(ports, strconv.Itoa(int(p)))
	}
	svc := strings.Join(ports, ", ")
	single := r.Ports.Lo == r.Ports.Hi
	switch {
	case !egress && single && len(r.Services) == 1 && r.Services[0] == r.Ports.Lo:
		fmt.Fprintf(&b, "connections to local port %s", svc)
	case !egress:
		fmt.Fprintf(&b, "replies to connections to port %s", svc)
	case single && len(r.Services) == 1 && r.Services[0] == r.Ports.Lo:
		fmt.Fprintf(&b, "connections to port %s", svc)
	default:
		fmt.Fprintf(&b, "replies from local port %s", svc)
	}
	return b.String()
}

// CommentSafe makes s fit on one line of a YAML comment: control
// characters and invalid UTF-8 become '?'.
func CommentSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return '?'
		}
		return r
	}, s)
}

// plain says s can be written as a YAML scalar without quotes.
func plain(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '/') {
			return false
		}
	}
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "null", "y", "n", "~":
		return false
	}
	return s[0] != '-' && s[0] != '.'
}

// quote writes s as a YAML scalar: plain when safe, else double-quoted
// (Go's escapes \", \\, \n, \xNN, \uNNNN are YAML's too).
func quote(s string) string {
	if plain(s) {
		return s
	}
	return strconv.QuoteToASCII(s)
}

// YAML writes the suggestion as a filter file `net filter apply` takes.
func (s *Suggestion) YAML() []byte {
	var b bytes.Buffer
	for _, h := range s.Options.Header {
		b.WriteString("# " + CommentSafe(h) + "\n")
	}
	b.WriteString("filters:\n")
	fmt.Fprintf(&b, "  - name: %s\n", quote(s.Options.Name))
	fmt.Fprintf(&b, "    interface: %s\n", quote(s.Options.Interface))
	fmt.Fprintf(&b, "    hook: %s\n", quote(s.Options.Hook))
	b.WriteString("    default: drop\n")
	b.WriteString("    mode: audit               # watch the would-be drops, then: mode: enforce\n")
	if len(s.Rules) == 0 && !s.IPv6 {
		b.WriteString("    rules: []\n")
		return b.Bytes()
	}
	b.WriteString("    rules:\n")
	peerKey := "source"
	if s.Options.Hook == "tc-egress" {
		peerKey = "destination"
	}
	for _, r := range s.Rules {
		b.WriteString("      # " + CommentSafe(r.Comment) + "\n")
		fmt.Fprintf(&b, "      - {name: %s, action: allow", quote(r.Name))
		if len(r.Peers) > 0 {
			fmt.Fprintf(&b, ", %s: [", peerKey)
			for i, p := range r.Peers {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(quote(p.String()))
			}
			b.WriteString("]")
		}
		fmt.Fprintf(&b, ", protocol: %s, ports: [%s]}\n", r.Proto, quote(r.Ports.String()))
	}
	if s.IPv6 {
		b.WriteString("      # IPv6 neighbour discovery (ICMPv6): without it the interface loses its IPv6 neighbours\n")
		b.WriteString("      - {name: icmpv6, action: allow, protocol: icmpv6}\n")
	}
	return b.Bytes()
}
