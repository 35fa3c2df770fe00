package policy

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestMatchAncestorAndCgroup(t *testing.T) {
	rules, err := Parse("p.yaml", []byte(`rules:
  - name: under-nginx
    on: exec
    match:
      ancestor: {path: [/usr/sbin/nginx], not_prefix: [/opt/ok/]}
    action: alert
  - name: in-docker
    on: mount
    match:
      cgroup: {prefix: [/docker], not_path: [/docker/trusted]}
    action: alert
  - name: docker-glob
    on: kill
    match:
      cgroup: {glob: [/system.slice/docker-*.scope]}
    action: alert
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rule int
		ev   Event
		want bool
	}{
		{0, Event{Type: "exec", Ancestors: []string{"/bin/sh", "/usr/sbin/nginx", "/sbin/init"}}, true},
		{0, Event{Type: "exec", Ancestors: []string{"/bin/sh", "/usr/sbin/nginx", "/opt/ok/sup"}}, false},
		{0, Event{Type: "exec", Ancestors: []string{"/bin/sh"}}, false},
		{0, Event{Type: "exec"}, false},
		{0, Event{Type: "open", Ancestors: []string{"/usr/sbin/nginx"}}, false},
		{1, Event{Type: "mount", Cgroup: "/docker"}, true},
		{1, Event{Type: "mount", Cgroup: "/docker/abc"}, true},
		{1, Event{Type: "mount", Cgroup: "/dockerx"}, false},
		{1, Event{Type: "mount", Cgroup: "/docker/trusted"}, false},
		{1, Event{Type: "mount", Cgroup: "/"}, false},
		{2, Event{Type: "kill", Cgroup: "/system.slice/docker-0123.scope"}, true},
		{2, Event{Type: "kill", Cgroup: "/system.slice/ssh.service"}, false},
	} {
		uid := uint32(0)
		tc.ev.UID = &uid
		if got := rules[tc.rule].Matches(&tc.ev); got != tc.want {
			t.Errorf("%s on %+v: got %v, want %v", rules[tc.rule].Name, tc.ev, got, tc.want)
		}
	}
}

func TestCompileAncestorAndCgroup(t *testing.T) {
	rules, err := Parse("p.yaml", []byte(`rules:
  - {name: a, on: exec, action: alert, match: {ancestor: {path: [/usr/sbin/nginx], not_prefix: [/opt/]}}}
  - {name: b, on: mount, action: alert, match: {cgroup: {prefix: [/docker/], path: [/x], not_path: [/docker/ok]}}}
  - {name: c, on: kill, action: alert, match: {cgroup: {glob: [/a/*]}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	plans, err := PlanRules(rules, features(), false)
	if err != nil {
		t.Fatal(err)
	}
	tb := Compile(plans)
	got := fmt.Sprint(tb.Paths[PathKey{DimAncestor, "/usr/sbin/nginx"}], tb.Prefixes[PathKey{DimAncestor, "/opt/"}], tb.HasAncestor,
		tb.Cgroups[CgroupKey{"/docker", false}], tb.Cgroups[CgroupKey{"/x", true}], tb.Cgroups[CgroupKey{"/docker/ok", true}], tb.HasCgroup,
		tb.On[EventIndex("exec")], tb.On[EventIndex("mount")], tb.On[EventIndex("kill")], tb.UserStage, len(tb.Cgroups))
	if want := "{1 0} {0 1} 1 {2 0} {2 0} {0 2} 2 1 2 4 4 3"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if m := tb.PathMasks(DimAncestor, "/opt/x"); m != (Masks{Bits{0}, Bits{1}}) {
		t.Errorf("PathMasks: %v", m)
	}
}

func TestCheckCapacity(t *testing.T) {
	var b strings.Builder
	b.WriteString("rules:\n  - name: many\n    on: exec\n    action: alert\n    match:\n      binary:\n        path:\n")
	for i := 0; i <= CapPaths; i++ {
		fmt.Fprintf(&b, "          - /bin/p%d\n", i)
	}
	rules, err := Parse("p.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	plans, err := PlanRules(rules, features(), false)
	if err != nil {
		t.Fatal(err)
	}
	err = Compile(plans).CheckCapacity()
	if want := "the rules name 4097 distinct exact paths: the kernel side holds at most 4096"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	// 1,025 rules: more than the kernel's rule mask.
	b.Reset()
	b.WriteString("rules:\n")
	for i := 0; i <= MaxRules; i++ {
		fmt.Fprintf(&b, "  - {name: r%d, on: exec, action: alert, match: {comm: [x]}}\n", i)
	}
	f := t.TempDir() + "/p.yaml"
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load([]string{f}); err == nil || !strings.Contains(err.Error(), f+":1026:5: rule r1024 is rule 1025 of 1025: at most 1024 rules can be loaded together") {
		t.Errorf("1,025 rules: %v", err)
	}
}

func TestChain(t *testing.T) {
	anc := []Ancestor{{PID: 3, Binary: "/bin/sh"}, {PID: 2}, {PID: 1, Binary: "/usr/sbin/nginx"}}
	if got, want := Chain(anc, "/usr/bin/bash"), "nginx → pid 2 → sh → bash"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := Chain(nil, "/bin/true"); got != "true" {
		t.Errorf("no ancestors: %q", got)
	}
}
