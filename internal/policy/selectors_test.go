package policy

import (
	"fmt"
	"strings"
	"testing"
)

// TestParseSelectors: the credential, comm, port, namespace and capability
// selectors in every form they take.
func TestParseSelectors(t *testing.T) {
	rules, err := Parse("p.yaml", []byte(`rules:
  - name: creds
    on: exec
    match:
      user: {uid: [0], euid: [1000, 1001], gid: [4321], not_root: false}
      comm: {name: [sh, bash], not_name: [dash]}
      namespace: {not_host: [pid, net, pid]}
      capability: [CAP_SYS_ADMIN, CAP_NET_RAW]
    action: alert
  - name: ports
    on: connect
    match:
      destination: {ports: [80, 8000-8999, "443"], not_ports: [8080], protocol: tcp}
      comm: {not_name: [curl]}
    action: deny
`))
	if err != nil {
		t.Fatal(err)
	}
	m := rules[0].Match
	got := fmt.Sprint(m.User.UID, m.User.EUID, m.User.GID, m.Comm, m.NotComm, m.Namespace.NotHost, m.Capability)
	if want := "[0] [1000 1001] [4321] [sh bash] [dash] [pid net] [CAP_SYS_ADMIN CAP_NET_RAW]"; got != want {
		t.Errorf("rule creds:\ngot  %s\nwant %s", got, want)
	}
	m = rules[1].Match
	got = fmt.Sprint(m.Destination.Ports, m.Destination.NotPorts, m.Comm, m.NotComm)
	if want := "[80 8000-8999 443] [8080] [] [curl]"; got != want {
		t.Errorf("rule ports:\ngot  %s\nwant %s", got, want)
	}
}

func TestParseSelectorErrors(t *testing.T) {
	rule := func(on, match string) string {
		return "rules:\n  - name: a\n    on: " + on + "\n    action: alert\n    match: " + match + "\n"
	}
	for _, tc := range []struct{ name, src, want string }{
		{"bad euid", rule("exec", "{user: {euid: [x]}}"), `p.yaml:5:27: match.user.euid: "x" is not a user id`},
		{"bad gid", rule("exec", "{user: {gid: [-2]}}"), `p.yaml:5:26: match.user.gid: "-2" is not a group id`},
		{"unknown user key", rule("exec", "{user: {egid: [1]}}"), `p.yaml:5:20: match.user: unknown key "egid" (want one of uid, euid, gid, not_root)`},
		{"user selects nothing", rule("exec", "{user: {not_root: false}}"), "match.user: selects nothing: want uid, euid or gid: [...], or not_root: true"},
		{"comm empty mapping", rule("exec", "{comm: {}}"), "p.yaml:5:19: match.comm: empty: want a list of names, or name: [...] / not_name: [...]"},
		{"comm unknown key", rule("exec", "{comm: {not: [sh]}}"), `p.yaml:5:20: match.comm: unknown key "not" (want one of name, not_name)`},
		{"long not_name", rule("exec", "{comm: {not_name: [abcdefghijklmnop]}}"), `p.yaml:5:31: match.comm.not_name: "abcdefghijklmnop" is longer than the kernel's 15-byte comm`},
		{"reversed range", rule("connect", "{destination: {ports: [9000-8000]}}"), `p.yaml:5:35: match.destination.ports: "9000-8000" is not a port (1 to 65535) or a range of them (8000-8999)`},
		{"range from 0", rule("connect", "{destination: {not_ports: [0-10]}}"), `p.yaml:5:39: match.destination.not_ports: "0-10" is not a port`},
		{"range past 65535", rule("connect", "{destination: {ports: [65000-65536]}}"), `"65000-65536" is not a port`},
		{"half range", rule("connect", "{destination: {ports: [80-]}}"), `"80-" is not a port`},
		{"unknown namespace", rule("exec", "{namespace: {not_host: [time]}}"), `p.yaml:5:36: match.namespace.not_host: "time" is not one of pid, mnt, net, user, uts, ipc, cgroup`},
		{"namespace without not_host", rule("exec", "{namespace: {}}"), `p.yaml:5:24: match.namespace: missing key "not_host"`},
		{"namespace list", rule("exec", "{namespace: [pid]}"), "p.yaml:5:24: match.namespace: want a mapping with keys not_host"},
		{"unknown capability", rule("exec", "{capability: [CAP_SYS_ADMIM]}"), `p.yaml:5:26: match.capability: "CAP_SYS_ADMIM" is not a capability: want a name of capability(7) such as CAP_SYS_ADMIN, in upper case`},
		{"capability lower case", rule("exec", "{capability: [sys_admin]}"), `"sys_admin" is not a capability`},
		{"empty capability", rule("exec", "{capability: []}"), "p.yaml:5:25: match.capability: the list is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %q", err, tc.want)
			}
		})
	}
}

func TestMatchSelectors(t *testing.T) {
	rules, err := Parse("p.yaml", []byte(`rules:
  - {name: euid, on: exec, action: alert, match: {user: {euid: [1000]}}}
  - {name: gid, on: exec, action: alert, match: {user: {gid: [50, 60]}}}
  - {name: not-sh, on: exec, action: alert, match: {comm: {not_name: [sh]}}}
  - {name: ns, on: exec, action: alert, match: {namespace: {not_host: [mnt, net]}}}
  - {name: cap, on: exec, action: alert, match: {capability: [CAP_SYS_ADMIN, CAP_BPF]}}
  - {name: ports, on: connect, action: deny, match: {destination: {ports: [8000-8999, 22], not_ports: [8080-8081]}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	conn := func(port uint16) Event { return Event{Type: "connect", DAddr: "10.0.0.1", DPort: port, Proto: "tcp"} }
	for _, tc := range []struct {
		rule int
		ev   Event
		want bool
	}{
		{0, Event{Type: "exec", EUID: u32(1000)}, true},
		{0, Event{Type: "exec", EUID: u32(0)}, false},
		{0, Event{Type: "exec"}, false}, // no euid: unknown
		{1, Event{Type: "exec", GID: u32(60)}, true},
		{1, Event{Type: "exec", GID: u32(0)}, false},
		{2, Event{Type: "exec", Comm: "bash"}, true},
		{2, Event{Type: "exec", Comm: "sh"}, false},
		{3, Event{Type: "exec", Namespaces: []string{"net"}}, true},
		{3, Event{Type: "exec", Namespaces: []string{"pid", "uts"}}, false},
		{3, Event{Type: "exec"}, false},
		{4, Event{Type: "exec", Caps: []string{"CAP_CHOWN", "CAP_BPF"}}, true},
		{4, Event{Type: "exec", Caps: []string{"CAP_CHOWN"}}, false},
		{5, conn(8000), true},
		{5, conn(8999), true},
		{5, conn(22), true},
		{5, conn(8080), false},
		{5, conn(8081), false},
		{5, conn(8082), true},
		{5, conn(7999), false},
		{5, conn(9000), false},
	} {
		if tc.ev.UID == nil {
			tc.ev.UID = u32(0)
		}
		if got := rules[tc.rule].Matches(&tc.ev); got != tc.want {
			t.Errorf("%s on %+v: got %v, want %v", rules[tc.rule].Name, tc.ev, got, tc.want)
		}
	}
}

func TestPortPrefixes(t *testing.T) {
	for _, tc := range []struct {
		r    PortRange
		want string
	}{
		{PortRange{443, 443}, "[{443 16}]"},
		{PortRange{8000, 8999}, "[{8000 10} {8064 9} {8192 7} {8704 8} {8960 11} {8992 13}]"},
		{PortRange{1, 65535}, "[{1 16} {2 15} {4 14} {8 13} {16 12} {32 11} {64 10} {128 9} {256 8} {512 7} {1024 6} {2048 5} {4096 4} {8192 3} {16384 2} {32768 1}]"},
		{PortRange{65535, 65535}, "[{65535 16}]"},
		{PortRange{1024, 2047}, "[{1024 6}]"},
	} {
		ks := PortPrefixes(tc.r)
		if got := fmt.Sprint(ks); got != tc.want {
			t.Errorf("%v: got %s, want %s", tc.r, got, tc.want)
		}
		// Exactly the range's ports, none twice.
		n := map[uint16]int{}
		for _, k := range ks {
			for p := 0; p < 1<<16; p++ {
				if k.Contains(uint16(p)) {
					n[uint16(p)]++
				}
			}
		}
		for p := 0; p < 1<<16; p++ {
			want := 0
			if tc.r.Contains(uint16(p)) {
				want = 1
			}
			if n[uint16(p)] != want {
				t.Fatalf("%v: port %d is in %d prefixes, want %d", tc.r, p, n[uint16(p)], want)
			}
		}
	}
}

// TestCompileSelectors: the kernel tables of the new selectors, and the
// Go mirror of the port trie agreeing with the offline matcher.
func TestCompileSelectors(t *testing.T) {
	rules, err := Parse("p.yaml", []byte(`rules:
  - {name: a, on: exec, action: alert, match: {user: {uid: [5], euid: [1000], gid: [50]}, comm: {name: [sh], not_name: [dash]}}}
  - {name: b, on: exec, action: alert, match: {namespace: {not_host: [net, user]}, capability: [CAP_SYS_ADMIN]}}
  - {name: c, on: connect, action: deny, match: {destination: {ports: [8000-8999], not_ports: [8080]}}}
  - {name: d, on: connect, action: deny, match: {destination: {not_ports: [8000-8001]}, comm: [dash]}}
`))
	if err != nil {
		t.Fatal(err)
	}
	plans, err := PlanRules(rules, features(), false)
	if err != nil {
		t.Fatal(err)
	}
	tb := Compile(plans)
	got := fmt.Sprint(tb.IDs[IDKey{IDUID, 5}], tb.IDs[IDKey{IDEUID, 1000}], tb.IDs[IDKey{IDGID, 50}], len(tb.IDs),
		tb.HasUID, tb.HasEUID, tb.HasGID, tb.Comms["sh"], tb.Comms["dash"], tb.HasComm,
		tb.HasNS, tb.NS, tb.HasCap, tb.Caps[21], tb.HasPort)
	if want := "1 1 1 3 1 1 1 {1 0} {8 1} 9 2 [0 0 2 2 0 0 0] 2 2 4"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	for _, port := range []uint16{1, 7999, 8000, 8001, 8002, 8079, 8080, 8081, 8999, 9000, 65535} {
		m := tb.PortMasks(port)
		kernel := m.Pos.Or(tb.HasPort.Not()).AndNot(m.Neg)[0] & (4 | 8)
		var offline uint64
		for i, r := range rules[2:] {
			if r.Matches(&Event{Type: "connect", UID: u32(0), Comm: "dash", DAddr: "10.0.0.1", DPort: port, Proto: "tcp"}) {
				offline |= 4 << i
			}
		}
		if kernel != offline {
			t.Errorf("port %d: kernel tables pass %b, the offline matcher %b", port, kernel, offline)
		}
	}
}
