package policy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// issueExample is the format as issue 15 gives it.
const issueExample = `rules:
  - name: no-tmp-exec
    description: programs started from /tmp
    severity: high
    on: exec
    match:
      binary: {prefix: [/tmp/, /dev/shm/]}       # or path: [...] / glob: [...]
      user: {not_root: true}                      # or uid: [...]
    action: kill                                  # alert | kill | deny
    mode: enforce                                 # enforce | audit
  - name: no-metadata
    on: connect
    match:
      destination: {cidr: [169.254.169.254/32], ports: [80, 443], protocol: tcp}
    action: deny
  - name: shadow-readers
    on: open
    match:
      file: {path: [/etc/shadow], access: [read]}
      binary: {not_path: [/usr/bin/passwd, /usr/sbin/sshd]}
    action: alert
`

func TestParseIssueExample(t *testing.T) {
	rules, err := Parse("p.yaml", []byte(issueExample))
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 3 {
		t.Fatalf("got %d rules", len(rules))
	}
	r := rules[0]
	if r.Name != "no-tmp-exec" || r.Description != "programs started from /tmp" || r.Severity != "high" || r.On != "exec" ||
		r.Action != "kill" || r.Mode != "enforce" || fmt.Sprint(r.Match.Binary.Prefix) != "[/tmp/ /dev/shm/]" ||
		!r.Match.User.NotRoot || r.Pos.Line != 2 || r.Pos.Col != 5 {
		t.Errorf("rule 0: %+v", r)
	}
	d := rules[1].Match.Destination
	if fmt.Sprint(d.CIDR) != "[169.254.169.254/32]" || fmt.Sprint(d.Ports) != "[80 443]" || d.Protocol != "tcp" ||
		rules[1].Severity != "medium" || rules[1].Mode != "enforce" {
		t.Errorf("rule 1: %+v %+v", rules[1], d)
	}
	f := rules[2].Match.File
	if fmt.Sprint(f.Path) != "[/etc/shadow]" || fmt.Sprint(f.Access) != "[read]" ||
		fmt.Sprint(rules[2].Match.Binary.NotPath) != "[/usr/bin/passwd /usr/sbin/sshd]" {
		t.Errorf("rule 2: %+v", f)
	}
}

func TestParseEveryKey(t *testing.T) {
	src := `rules:
  - name: all
    on: exec
    match:
      binary: {path: [/a], prefix: [/b/], glob: ["/c/*"], not_path: [/d], not_prefix: [/e/], not_glob: ["/f/*"]}
      parent: {path: [/usr/sbin/nginx]}
      ancestor: {prefix: [/usr/]}
      user: {uid: [0, 1000], not_root: false}
      comm: [sh, bash]
      args: {contains: [-i], regex: "nc .* -e"}
      cgroup: {prefix: [/system.slice/]}
      container: [web]
    action: alert
    mode: audit
`
	rules, err := Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	m := rules[0].Match
	got := fmt.Sprint(m.Binary.Path, m.Binary.Prefix, m.Binary.Glob, m.Binary.NotPath, m.Binary.NotPrefix, m.Binary.NotGlob,
		m.Parent.Path, m.Ancestor.Prefix, m.User.UID, m.Comm, m.Args.Contains, m.Args.Regex, m.Cgroup.Prefix, m.Container)
	want := "[/a] [/b/] [/c/*] [/d] [/e/] [/f/*] [/usr/sbin/nginx] [/usr/] [0 1000] [sh bash] [-i] nc .* -e [/system.slice/] [web]"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"yaml", "rules: [\n", "p.yaml:1:1: invalid YAML"},
		{"empty", "", "p.yaml: empty policy file"},
		{"top key", "rule: []\n", `p.yaml:1:1: unknown key "rule"`},
		{"no rules", "rules: []\n", "p.yaml:1:8: rules: the list is empty"},
		{"unknown rule key", "rules:\n  - name: a\n    on: exec\n    action: alert\n    match: {comm: [x]}\n    actoin: kill\n", `p.yaml:6:5: rule: unknown key "actoin"`},
		{"missing name", "rules:\n  - on: exec\n    action: alert\n    match: {comm: [x]}\n", `p.yaml:2:5: rule: missing key "name"`},
		{"bad name", "rules:\n  - name: a b\n    on: exec\n    action: alert\n    match: {comm: [x]}\n", `p.yaml:2:11: name: "a b"`},
		{"unknown event", "rules:\n  - name: a\n    on: fork\n    action: alert\n    match: {comm: [x]}\n", `p.yaml:3:9: on: "fork" is not one of exec`},
		{"destination on ptrace", "rules:\n  - name: a\n    on: ptrace\n    action: alert\n    match: {destination: {ports: [1]}}\n", "p.yaml:5:13: match: destination is not a selector of ptrace events"},
		{"file on chmod", "rules:\n  - name: a\n    on: chmod\n    action: alert\n    match: {file: {path: [/x]}}\n", "p.yaml:5:13: match: file is not a selector of chmod events"},
		{"kill on bind", "rules:\n  - name: a\n    on: bind\n    action: kill\n    match: {destination: {ports: [1]}}\n", "p.yaml:4:13: action: kill is not an action of bind rules"},
		{"tcp sendmsg", "rules:\n  - name: a\n    on: sendmsg\n    action: deny\n    match: {destination: {protocol: tcp}}\n", "p.yaml:5:13: match.destination.protocol: sendmsg rules see UDP sends only"},
		{"relative cgroup", "rules:\n  - name: a\n    on: exec\n    action: alert\n    match: {cgroup: {prefix: [system.slice]}}\n", `p.yaml:5:31: match.cgroup.prefix: "system.slice" is not an absolute path`},
		{"bad ancestor glob", "rules:\n  - name: a\n    on: exec\n    action: alert\n    match: {ancestor: {not_glob: [\"/a/[\"]}}\n", `p.yaml:5:35: match.ancestor.not_glob: "/a/[": bad glob`},
		{"selector of another event", "rules:\n  - name: a\n    on: exec\n    action: alert\n    match: {file: {path: [/x]}}\n", "p.yaml:5:13: match: file is not a selector of exec events"},
		{"unknown selector", "rules:\n  - name: a\n    on: exec\n    action: alert\n    match: {binray: {path: [/x]}}\n", `p.yaml:5:13: match: unknown key "binray"`},
		{"no match", "rules:\n  - name: a\n    on: exec\n    action: alert\n", `p.yaml:2:5: rule a: missing key "match"`},
		{"empty match", "rules:\n  - name: a\n    on: exec\n    action: alert\n    match: {}\n", "p.yaml:5:12: match: no selectors"},
		{"relative path", "rules:\n  - name: a\n    on: exec\n    action: alert\n    match: {binary: {path: [bin/sh]}}\n", `p.yaml:5:29: match.binary.path: "bin/sh" is not an absolute path`},
		{"bad glob", "rules:\n  - name: a\n    on: exec\n    action: alert\n    match: {binary: {glob: [\"/a/[\"]}}\n", "p.yaml:5:29: match.binary.glob: \"/a/[\": bad glob"},
		{"bad cidr", "rules:\n  - name: a\n    on: connect\n    action: deny\n    match: {destination: {cidr: [10.0.0.0/33]}}\n", `p.yaml:5:34: match.destination.cidr: "10.0.0.0/33" is not a CIDR`},
		{"host bits", "rules:\n  - name: a\n    on: connect\n    action: deny\n    match: {destination: {cidr: [10.0.0.1/8]}}\n", `has host bits set (did you mean 10.0.0.0/8?)`},
		{"bad port", "rules:\n  - name: a\n    on: connect\n    action: deny\n    match: {destination: {ports: [0]}}\n", `p.yaml:5:35: match.destination.ports: "0" is not a port`},
		{"bad protocol", "rules:\n  - name: a\n    on: connect\n    action: deny\n    match: {destination: {protocol: sctp}}\n", `match.destination.protocol: "sctp" is not one of tcp, udp`},
		{"bad access", "rules:\n  - name: a\n    on: open\n    action: alert\n    match: {file: {access: [exec]}}\n", `p.yaml:5:29: match.file.access: "exec" is not one of read`},
		{"bad uid", "rules:\n  - name: a\n    on: exec\n    action: alert\n    match: {user: {uid: [-1]}}\n", `p.yaml:5:26: match.user.uid: "-1" is not a user id`},
		{"long comm", "rules:\n  - name: a\n    on: exec\n    action: alert\n    match: {comm: [abcdefghijklmnop]}\n", "longer than the kernel's 15-byte comm"},
		{"bad regex", "rules:\n  - name: a\n    on: exec\n    action: alert\n    match: {args: {regex: \"(\"}}\n", "p.yaml:5:27: match.args.regex: error parsing regexp"},
		{"bad action", "rules:\n  - name: a\n    on: exec\n    action: block\n    match: {comm: [x]}\n", `p.yaml:4:13: action: "block" is not one of alert, kill, deny`},
		{"kill on connect", "rules:\n  - name: a\n    on: connect\n    action: kill\n    match: {destination: {ports: [1]}}\n", "p.yaml:4:13: action: kill is not an action of connect rules"},
		{"bad mode", "rules:\n  - name: a\n    on: exec\n    action: alert\n    mode: dry\n    match: {comm: [x]}\n", `p.yaml:5:11: mode: "dry" is not one of enforce, audit`},
		{"duplicate key", "rules:\n  - name: a\n    name: b\n    on: exec\n    action: alert\n    match: {comm: [x]}\n", `p.yaml:3:5: rule: key "name" given twice`},
		{"empty selector", "rules:\n  - name: a\n    on: exec\n    action: alert\n    match: {binary: {}}\n", "p.yaml:5:21: match.binary: empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %q", err, tc.want)
			}
			var es Errors
			if err != nil && !errors.As(err, &es) {
				t.Errorf("not Errors: %T", err)
			}
		})
	}
}

func TestParseReportsEveryError(t *testing.T) {
	src := "rules:\n  - name: a\n    on: exec\n    action: block\n    match: {comm: [x]}\n  - name: b\n    on: fork\n    action: alert\n    match: {comm: [x]}\n"
	_, err := Parse("p.yaml", []byte(src))
	var es Errors
	if !errors.As(err, &es) || len(es) != 2 || es[0].Line != 4 || es[1].Line != 7 {
		t.Fatalf("got %v", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	b := filepath.Join(dir, "b.yaml")
	rule := "rules:\n  - name: same\n    on: exec\n    action: alert\n    match: {comm: [x]}\n"
	os.WriteFile(a, []byte(rule), 0o644)
	os.WriteFile(b, []byte(rule), 0o644)
	_, err := Load([]string{a, b})
	if err == nil || !strings.Contains(err.Error(), b+`:2:5: rule "same" is already defined at `+a+":2:5") {
		t.Errorf("duplicate names: %v", err)
	}
	_, err = Load([]string{filepath.Join(dir, "missing.yaml")})
	if err == nil || !strings.Contains(err.Error(), "missing.yaml: cannot read: no such file or directory") {
		t.Errorf("missing file: %v", err)
	}
	var big strings.Builder
	big.WriteString("rules:\n")
	for i := 0; i <= MaxRules; i++ {
		fmt.Fprintf(&big, "  - {name: r%d, on: exec, action: alert, match: {comm: [x]}}\n", i)
	}
	os.WriteFile(a, []byte(big.String()), 0o644)
	_, err = Load([]string{a})
	if err == nil || !strings.Contains(err.Error(), a+":1026:5: rule r1024 is rule 1025 of 1025: at most 1024 rules can be loaded together") {
		t.Errorf("too many rules: %v", err)
	}
}

func u32(v uint32) *uint32 { return &v }

func TestMatches(t *testing.T) {
	rules, err := Parse("p.yaml", []byte(issueExample+`  - name: globbed
    on: exec
    match:
      binary: {glob: ["/opt/*/bin/x"], not_prefix: [/opt/ok/]}
      comm: [x]
    action: alert
  - name: udp-any
    on: connect
    match:
      destination: {cidr: ["fd00::/8"], not_cidr: ["fd00::1/128"], protocol: udp}
    action: alert
  - name: writes
    on: open
    match:
      file: {prefix: [/etc/], access: [write, truncate]}
      user: {uid: [1000]}
    action: alert
`))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*Rule{}
	for _, r := range rules {
		byName[r.Name] = r
	}
	for _, tc := range []struct {
		rule string
		ev   Event
		want bool
	}{
		{"no-tmp-exec", Event{Type: "exec", UID: u32(1000), Filename: "/tmp/x"}, true},
		{"no-tmp-exec", Event{Type: "exec", UID: u32(0), Filename: "/tmp/x"}, false},
		{"no-tmp-exec", Event{Type: "exec", UID: u32(1000), Filename: "/dev/shm/y"}, true},
		{"no-tmp-exec", Event{Type: "exec", UID: u32(1000), Filename: "/usr/bin/x"}, false},
		{"no-tmp-exec", Event{Type: "open", UID: u32(1000), Path: "/tmp/x"}, false},
		{"no-metadata", Event{Type: "connect", UID: u32(0), DAddr: "169.254.169.254", DPort: 80, Proto: "tcp"}, true},
		{"no-metadata", Event{Type: "connect", UID: u32(0), DAddr: "::ffff:169.254.169.254", DPort: 443, Proto: "tcp"}, true},
		{"no-metadata", Event{Type: "connect", UID: u32(0), DAddr: "169.254.169.254", DPort: 8080, Proto: "tcp"}, false},
		{"no-metadata", Event{Type: "connect", UID: u32(0), DAddr: "169.254.169.254", DPort: 80, Proto: "udp"}, false},
		{"no-metadata", Event{Type: "connect", UID: u32(0), DAddr: "169.254.169.253", DPort: 80, Proto: "tcp"}, false},
		{"shadow-readers", Event{Type: "open", UID: u32(0), Path: "/etc/shadow", Flags: "O_RDONLY", Binary: "/usr/bin/cat"}, true},
		{"shadow-readers", Event{Type: "open", UID: u32(0), Path: "/etc/shadow", Flags: "O_RDWR", Binary: "/usr/bin/cat"}, true},
		{"shadow-readers", Event{Type: "open", UID: u32(0), Path: "/etc/shadow", Flags: "O_WRONLY", Binary: "/usr/bin/cat"}, false},
		{"shadow-readers", Event{Type: "open", UID: u32(0), Path: "/etc/shadow", Flags: "O_RDONLY", Binary: "/usr/sbin/sshd"}, false},
		{"shadow-readers", Event{Type: "open", UID: u32(0), Path: "/etc/shadow2", Flags: "O_RDONLY"}, false},
		{"globbed", Event{Type: "exec", UID: u32(0), Filename: "/opt/a/bin/x", Comm: "x"}, true},
		{"globbed", Event{Type: "exec", UID: u32(0), Filename: "/opt/ok/bin/x", Comm: "x"}, false},
		{"globbed", Event{Type: "exec", UID: u32(0), Filename: "/opt/a/bin/x", Comm: "y"}, false},
		{"udp-any", Event{Type: "connect", UID: u32(0), DAddr: "fd00::2", DPort: 53, Proto: "udp"}, true},
		{"udp-any", Event{Type: "connect", UID: u32(0), DAddr: "fd00::1", DPort: 53, Proto: "udp"}, false},
		{"udp-any", Event{Type: "connect", UID: u32(0), DAddr: "10.0.0.1", DPort: 53, Proto: "udp"}, false},
		{"writes", Event{Type: "open", UID: u32(1000), Path: "/etc/passwd", Flags: "O_RDONLY|O_TRUNC"}, true},
		{"writes", Event{Type: "open", UID: u32(1000), Path: "/etc/passwd", Flags: "O_RDONLY|O_CREAT"}, false},
		{"writes", Event{Type: "open", UID: u32(1001), Path: "/etc/passwd", Flags: "O_WRONLY"}, false},
	} {
		if got := byName[tc.rule].Matches(&tc.ev); got != tc.want {
			t.Errorf("%s on %+v: got %v, want %v", tc.rule, tc.ev, got, tc.want)
		}
	}
}

func TestAccessBits(t *testing.T) {
	for _, tc := range []struct {
		flags uint32
		want  string
	}{
		{0, "[read]"}, {1, "[write]"}, {2, "[read write]"}, {0o101, "[write create]"}, {0o1001, "[write truncate]"}, {0o1102, "[read write create truncate]"},
	} {
		if got := fmt.Sprint(AccessNames(AccessBits(tc.flags))); got != tc.want {
			t.Errorf("%o: got %s, want %s", tc.flags, got, tc.want)
		}
		if got := AccessBits(FlagsValue(flagString(tc.flags))); got != AccessBits(tc.flags) {
			t.Errorf("%o: FlagsValue round trip: %d", tc.flags, got)
		}
	}
}

func flagString(f uint32) string {
	s := [...]string{"O_RDONLY", "O_WRONLY", "O_RDWR"}[f&3]
	if f&0o100 != 0 {
		s += "|O_CREAT"
	}
	if f&0o1000 != 0 {
		s += "|O_TRUNC"
	}
	return s
}

func features(missing ...string) Features {
	return func(name string) error {
		for _, m := range missing {
			if m == name {
				return errors.New("no " + name)
			}
		}
		return nil
	}
}

func TestPlan(t *testing.T) {
	rules, err := Parse("p.yaml", []byte(issueExample+`  - name: deny-exec
    on: exec
    match: {binary: {path: [/bin/nc]}}
    action: deny
  - name: glob-kill
    on: exec
    match: {binary: {glob: ["/tmp/*"]}}
    action: kill
    mode: audit
`))
	if err != nil {
		t.Fatal(err)
	}
	plans, err := PlanRules(rules, features(FeatLSM), false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"no-tmp-exec: on exec, runs in kernel; action kill: bpf_send_signal(SIGKILL) from the sched_process_exec tracepoint, before the new program runs an instruction, in the offending task",
		"no-metadata: on connect, runs in kernel; action deny: EPERM from the cgroup/connect4 and cgroup/connect6 programs on the cgroup",
		"shadow-readers: on open, runs in kernel; action alert: an alert event from the open/openat syscall exit, before the file descriptor reaches user space",
		"deny-exec: on exec, runs in kernel; action deny -> kill (fallback: deny of exec needs BPF LSM, which does not work here (no lsm); taking kill instead.): bpf_send_signal(SIGKILL) from the sched_process_exec tracepoint, before the new program runs an instruction, in the offending task",
		"glob-kill: on exec, runs in user (binary glob in user space); action kill -> alert (fallback: binary glob run in user space, which cannot act synchronously: alert only): an alert event, from user space; audit: reports what alert would do and lets the operation through",
	}
	for i, p := range plans {
		if got := p.Describe(); got != want[i] {
			t.Errorf("plan %d:\ngot  %s\nwant %s", i, got, want[i])
		}
	}
	// Without bpf_send_signal and cgroup sock_addr everything alerts, and says so.
	plans, _ = PlanRules(rules, features(FeatLSM, FeatSendSignal, FeatCgroupSockAddr), true)
	for _, i := range []int{0, 1, 3} {
		if p := plans[i]; p.Action != "alert" || p.Fallback == "" || p.Enforce {
			t.Errorf("plan %d: %s", i, p.Describe())
		}
	}
	// A connect's parent and ancestors are matched in the kernel, from the
	// process table.
	rules, _ = Parse("p.yaml", []byte("rules:\n  - name: a\n    on: connect\n    action: deny\n    match: {parent: {path: [/x]}, ancestor: {prefix: [/y/]}}\n"))
	plans, _ = PlanRules(rules, features(), false)
	if p := plans[0]; p.Stage != "kernel" || p.Action != "deny" {
		t.Errorf("connect parent: %s", p.Describe())
	}
	// Globs on ancestors and cgroups run in user space and only alert.
	rules, _ = Parse("p.yaml", []byte("rules:\n  - name: a\n    on: exec\n    action: kill\n    match: {ancestor: {glob: [/x*]}, cgroup: {glob: [/a/*]}}\n"))
	plans, _ = PlanRules(rules, features(), false)
	if p := plans[0]; p.Stage != "user" || p.Action != "alert" || !strings.Contains(p.Describe(), "(ancestor glob, cgroup glob in user space); action kill -> alert") {
		t.Errorf("ancestor glob: %s", p.Describe())
	}
	// A kill on a syscall event says the syscall runs first; a deny
	// without BPF LSM says it falls back.
	rules, _ = Parse("p.yaml", []byte("rules:\n  - name: a\n    on: module_load\n    action: deny\n    match: {user: {uid: [0]}}\n  - name: b\n    on: bind\n    action: deny\n    match: {destination: {ports: [22]}}\n"))
	plans, _ = PlanRules(rules, features(FeatLSM), false)
	if got, want := plans[0].Describe(), "a: on module_load, runs in kernel; action deny -> kill (fallback: deny of module_load needs BPF LSM, which does not work here (no lsm); taking kill instead.): bpf_send_signal(SIGKILL) from the entry tracepoint of init_module, finit_module, in the offending task: it dies on its way out of the syscall, which has run"; got != want {
		t.Errorf("module_load:\ngot  %s\nwant %s", got, want)
	}
	if got, want := plans[1].Describe(), "b: on bind, runs in kernel; action deny: EPERM from the cgroup/bind4 and cgroup/bind6 programs on the cgroup"; got != want {
		t.Errorf("bind:\ngot  %s\nwant %s", got, want)
	}
	// container runs in the kernel: a kill is a kill, and a deny of exec
	// runs in its LSM hook; check says how containers are matched.
	rules, _ = Parse("p.yaml", []byte("rules:\n  - name: a\n    on: exec\n    action: kill\n    match: {container: [web], binary: {prefix: [/tmp/]}}\n  - name: b\n    on: exec\n    action: deny\n    match: {container: [0123456789ab]}\n"))
	plans, _ = PlanRules(rules, features(), false)
	if got, want := plans[0].Describe(), "a: on exec, runs in kernel; action kill: bpf_send_signal(SIGKILL) from the sched_process_exec tracepoint, before the new program runs an instruction, in the offending task; container: "+ContainerMatching; got != want {
		t.Errorf("container:\ngot  %s\nwant %s", got, want)
	}
	if p := plans[1]; p.Stage != "kernel" || !p.LSM() || !strings.HasPrefix(p.Describe(), "b: on exec, runs in kernel; action deny: deny via BPF LSM (EPERM) from the bprm_creds_for_exec hook") {
		t.Errorf("container deny: %s", p.Describe())
	}
	// With BPF LSM a deny of open, exec, ptrace, module_load, bpf and
	// mount runs in its LSM hook; setuid, kill and chmod have none.
	var y strings.Builder
	y.WriteString("rules:\n")
	for _, on := range []string{"exec", "open", "ptrace", "module_load", "bpf", "mount", "setuid", "kill", "chmod"} {
		fmt.Fprintf(&y, "  - name: %s\n    on: %s\n    action: deny\n    match: {user: {uid: [0]}}\n", on, on)
	}
	rules, err = Parse("p.yaml", []byte(y.String()))
	if err != nil {
		t.Fatal(err)
	}
	plans, _ = PlanRules(rules, features(), false)
	wantLSM := []string{
		"exec: on exec, runs in kernel; action deny: deny via BPF LSM (EPERM) from the bprm_creds_for_exec hook: the execve fails and the new program never runs",
		"open: on open, runs in kernel; action deny: deny via BPF LSM (EPERM) from the file_open hook: the open fails before a descriptor exists or the file is truncated (with O_CREAT a missing file has been created, empty)",
		"ptrace: on ptrace, runs in kernel; action deny: deny via BPF LSM (EPERM) from the ptrace_access_check hook: PTRACE_ATTACH or PTRACE_SEIZE fails, nothing is attached",
		"module_load: on module_load, runs in kernel; action deny: deny via BPF LSM (EPERM) from the kernel_read_file (finit_module) and kernel_load_data (init_module) hooks: the module is never read",
		"bpf: on bpf, runs in kernel; action deny: deny via BPF LSM (EPERM) from the bpf hook: BPF_PROG_LOAD or BPF_MAP_CREATE fails, nothing is created",
		"mount: on mount, runs in kernel; action deny: deny via BPF LSM (EPERM) from the sb_mount and move_mount hooks: nothing is mounted or moved",
		"setuid: on setuid, runs in kernel; action deny -> kill (fallback: kscope has no BPF LSM deny of setuid; taking kill instead.): bpf_send_signal(SIGKILL) from the entry tracepoint of setuid, setgid, setreuid, setregid, setresuid, setresgid, capset, in the offending task: it dies on its way out of the syscall, which has run",
	}
	for i, want := range wantLSM {
		if got := plans[i].Describe(); got != want {
			t.Errorf("LSM plan %d:\ngot  %s\nwant %s", i, got, want)
		}
		if plans[i].LSM() != (i < 6) {
			t.Errorf("LSM plan %d: LSM() %v", i, plans[i].LSM())
		}
	}
	for _, p := range plans[6:] {
		if p.LSM() || p.Action != "kill" || !strings.HasPrefix(p.Fallback, "kscope has no BPF LSM deny of "+p.Rule.On) {
			t.Errorf("LSM plan: %s", p.Describe())
		}
	}
	// Compiled, an LSM deny in enforce mode is a deny rule.
	if tb := Compile(plans); tb.Deny != (Bits{0b111111}) || tb.Kill != (Bits{0b111000000}) {
		t.Errorf("compiled: deny %v kill %v", tb.Deny, tb.Kill)
	}
}

func TestCompile(t *testing.T) {
	rules, err := Parse("p.yaml", []byte(`rules:
  - {name: a, on: exec, action: kill, match: {binary: {prefix: [/tmp/], not_prefix: [/tmp/ok/]}}}
  - {name: b, on: exec, action: alert, match: {binary: {prefix: [/tmp/x/], path: [/bin/sh]}, user: {not_root: true}}}
  - {name: c, on: connect, action: deny, mode: audit, match: {destination: {cidr: [10.0.0.0/8, 10.1.0.0/16], ports: [80], protocol: udp}}}
  - {name: d, on: open, action: alert, match: {file: {path: [/etc/shadow], access: [read]}, comm: [cat]}}
`))
	if err != nil {
		t.Fatal(err)
	}
	plans, err := PlanRules(rules, features(), false)
	if err != nil {
		t.Fatal(err)
	}
	tb := Compile(plans)
	got := fmt.Sprint(tb.Prefixes[PathKey{DimBinary, "/tmp/"}], tb.Prefixes[PathKey{DimBinary, "/tmp/ok/"}],
		tb.Prefixes[PathKey{DimBinary, "/tmp/x/"}], tb.Paths[PathKey{DimBinary, "/bin/sh"}], tb.Paths[PathKey{DimFile, "/etc/shadow"}],
		tb.On[EventIndex("exec")], tb.On[EventIndex("connect")], tb.On[EventIndex("open")], tb.HasBinary, tb.NotRoot, tb.Kill, tb.Deny, tb.UDP, tb.TCP, tb.Ports[PortKey{80, 16}], tb.Comms["cat"], tb.Access,
		len(tb.CIDRs))
	want := "{1 0} {1 1} {3 0} {2 0} {8 0} 3 4 8 3 2 1 0 4 0 {4 0} {8 0} [8 0 0 0] 2"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// The Go mirror of the kernel's path lookup.
	for _, tc := range []struct {
		path string
		want uint64
	}{
		{"/tmp/a", 1}, {"/tmp/ok/a", 0}, {"/tmp/x/a", 3}, {"/bin/sh", 2}, {"/usr/bin/sh", 0}, {"", 0},
	} {
		// Rules c and d have no binary selector: they pass whatever the path.
		if got := tb.PathRules(DimBinary, tc.path, tb.HasBinary)[0] & 3; got != tc.want {
			t.Errorf("PathRules(%q): got %b, want %b", tc.path, got, tc.want)
		}
	}
	for p, m := range tb.CIDRs {
		if p.String() == "10.1.0.0/16" && m.Pos != (Bits{4}) {
			t.Errorf("10.1.0.0/16: %v", m)
		}
	}
}

// FuzzParse: any input is parsed or rejected with Errors, never a panic,
// and every rule parsed can be planned, compiled and matched.
func FuzzParse(f *testing.F) {
	f.Add([]byte(issueExample))
	f.Add([]byte("rules:\n  - {name: a, on: exec, action: alert, match: {binary: {glob: [\"/a/*\"]}, args: {regex: x}}}\n"))
	f.Add([]byte("rules: [\n"))
	f.Add([]byte("rules:\n  - {name: a, on: exec, action: kill, match: {user: {euid: [0], gid: [1]}, comm: {not_name: [sh]}, namespace: {not_host: [pid]}, capability: [CAP_BPF]}}\n  - {name: b, on: connect, action: deny, match: {destination: {ports: [1-100, 443], not_ports: [50-60]}}}\n"))
	f.Add([]byte("rules:\n  - {name: a, on: ptrace, action: kill, match: {ancestor: {path: [/a], not_glob: [\"/b/*\"]}, cgroup: {prefix: [/docker/]}}}\n  - {name: b, on: sendmsg, action: deny, match: {destination: {cidr: [::1/128]}}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, err := Parse("f.yaml", data)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %T %v", err, err)
			}
			for _, e := range es {
				if e.File != "f.yaml" || e.Msg == "" {
					t.Fatalf("bad error %+v", e)
				}
			}
			return
		}
		if len(rules) > MaxRules {
			return
		}
		plans, err := PlanRules(rules, features(), false)
		if err != nil {
			return
		}
		Compile(plans)
		for _, r := range rules {
			r.Matches(&Event{Type: r.On, UID: u32(0), Filename: "/tmp/x", Path: "/etc/x", DAddr: "10.0.0.1", DPort: 80, Proto: "tcp",
				Ancestors: []string{"/bin/sh", "/usr/sbin/nginx"}, Cgroup: "/docker/x", EUID: u32(1), GID: u32(1),
				Caps: []string{"CAP_BPF"}, Namespaces: []string{"net"}})
		}
	})
}
