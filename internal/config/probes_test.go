package config

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var probesSections = []Section{{Name: "exec", Default: true}, {Name: ProbesCollector}}

func TestProbes(t *testing.T) {
	for _, tc := range []struct {
		src     string
		files   []string
		enabled bool
	}{
		{"probes: getppid.bt\n", []string{"/etc/kscope/getppid.bt"}, true},
		{"probes: [/srv/a.bt, d/]\n", []string{"/srv/a.bt", "/etc/kscope/d"}, true},
		{"probes: [/srv/a.bt]\ncollectors: {probes: false}\n", []string{"/srv/a.bt"}, false},
		{"collectors: {exec: true}\n", nil, false},
	} {
		c, err := Parse("/etc/kscope/agent.yaml", []byte(tc.src), probesSections)
		if err != nil {
			t.Errorf("%q: %v", tc.src, err)
			continue
		}
		if !slices.Equal(c.Probes, tc.files) || c.Collectors[ProbesCollector].Enabled != tc.enabled {
			t.Errorf("%q: probes %q, enabled %v", tc.src, c.Probes, c.Collectors[ProbesCollector].Enabled)
		}
	}
}

// Relative to the configuration file, as absolute paths; a wrong value
// is refused at its place.
func TestProbesRelativeAndInvalid(t *testing.T) {
	c, err := Parse("conf/agent.yaml", []byte("probes: p.bt\n"), probesSections)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.Abs("conf/p.bt")
	if len(c.Probes) != 1 || c.Probes[0] != want {
		t.Errorf("probes %q, want %s", c.Probes, want)
	}
	_, err = Parse("k.yaml", []byte("interval: 1s\nprobes: {a: 1}\n"), probesSections)
	if err == nil || !strings.HasPrefix(err.Error(), "k.yaml:2") {
		t.Errorf("error %v: want one at k.yaml:2", err)
	}
}
