package policy

import (
	"fmt"
	"strings"
	"testing"
)

func TestIsContainerID(t *testing.T) {
	for s, want := range map[string]bool{
		"0123456789ab":                   true,
		"0123456789a":                    false, // 11 digits
		"0123456789AB":                   false, // upper case: a name
		"web":                            false,
		"0123456789abcdefg":              false,
		strings.Repeat("f", 64):          true,
		strings.Repeat("f", 65):          false,
		"":                               false,
		"kscope-polctr-0123456789abcdef": false,
	} {
		if got := IsContainerID(s); got != want {
			t.Errorf("IsContainerID(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestContainerTable: ids and prefixes go into the table as given, names
// only once resolved, and every entry carries its shorter prefixes' rules,
// as the kernel's longest-prefix lookup returns only the longest.
func TestContainerTable(t *testing.T) {
	id := "0123456789ab" + strings.Repeat("c", 52)
	other := "0123456789ab" + strings.Repeat("d", 52)
	rules, err := Parse("p.yaml", []byte(fmt.Sprintf(`rules:
  - {name: short, on: exec, action: kill, match: {container: [0123456789ab]}}
  - {name: longer, on: exec, action: kill, match: {container: [0123456789abcc]}}
  - {name: named, on: exec, action: kill, match: {container: [web, db]}}
  - {name: full, on: exec, action: alert, match: {container: [%s]}}
  - {name: none, on: exec, action: alert, match: {comm: [x]}}
`, id)))
	if err != nil {
		t.Fatal(err)
	}
	plans, _ := PlanRules(rules, features(), false)
	tb := Compile(plans)
	bits := func(rules ...int) Bits {
		var b Bits
		for _, r := range rules {
			b.Set(r)
		}
		return b
	}
	if tb.HasContainer != bits(0, 1, 2, 3) {
		t.Errorf("HasContainer %v", tb.HasContainer)
	}
	if got := fmt.Sprint(tb.ContainerNames); got != fmt.Sprintf("map[0123456789ab:1 0123456789abcc:2 %s:8 db:4 web:4]", id) {
		t.Errorf("ContainerNames %s", got)
	}
	for _, tc := range []struct {
		name     string
		resolved map[string][]string
		lookup   string
		want     Bits
	}{
		{"unresolved name", nil, other, bits(0)},
		{"prefix and full id", nil, id, bits(0, 1, 3)},
		{"resolved name", map[string][]string{"web": {other}}, other, bits(0, 2)},
		{"resolved twice", map[string][]string{"web": {id}, "db": {id}}, id, bits(0, 1, 2, 3)},
		{"another container", map[string][]string{"web": {other}}, strings.Repeat("e", 64), bits()},
		{"not an id", map[string][]string{"web": {"short"}}, other, bits(0)},
		{"unknown name", map[string][]string{"cache": {other}}, other, bits(0)},
	} {
		table := tb.ContainerTable(tc.resolved)
		if got := ContainerMasks(table, tc.lookup); got.Pos != tc.want || !got.Neg.IsZero() {
			t.Errorf("%s: %v, want %v (table %v)", tc.name, got.Pos, tc.want, table)
		}
	}
	// The selectors' own entries: three, whatever is resolved.
	if n := len(tb.ContainerTable(nil)); n != 3 {
		t.Errorf("%d entries, want 3", n)
	}
	// Matched offline as in the kernel: by name, by id prefix.
	uid := uint32(0)
	for _, tc := range []struct {
		ev   Event
		rule int
		want bool
	}{
		{Event{Type: "exec", UID: &uid, ContainerID: id}, 0, true},
		{Event{Type: "exec", UID: &uid, ContainerID: other}, 1, false},
		{Event{Type: "exec", UID: &uid, Container: "web", ContainerID: other}, 2, true},
		{Event{Type: "exec", UID: &uid}, 2, false},
	} {
		if got := rules[tc.rule].Matches(&tc.ev); got != tc.want {
			t.Errorf("rule %s on %+v: %v, want %v", rules[tc.rule].Name, tc.ev, got, tc.want)
		}
	}
	// The table's capacity is checked.
	var y strings.Builder
	y.WriteString("rules:\n  - name: many\n    on: exec\n    action: alert\n    match:\n      container:\n")
	for i := range CapSet + 1 {
		fmt.Fprintf(&y, "        - %012x\n", i)
	}
	rules, err = Parse("p.yaml", []byte(y.String()))
	if err != nil {
		t.Fatal(err)
	}
	plans, _ = PlanRules(rules, features(), false)
	if err := Compile(plans).CheckCapacity(); err == nil || !strings.Contains(err.Error(), "1025 distinct container ids and id prefixes: the kernel side holds at most 1024") {
		t.Errorf("capacity: %v", err)
	}
}
