package config

import (
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// ProbesCollector runs the probes key's scripts: a non-empty probes key
// enables it unless collectors.probes says otherwise.
const ProbesCollector = "probes"

// probes reads the probes key: a bpftrace script (.bt) or a directory of
// them, or a list of these. Relative paths are relative to the
// configuration file.
func (p *parser) probes(n *yaml.Node, c *Config) {
	nodes := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		nodes = n.Content
	}
	c.Probes = nil
	for _, v := range nodes {
		s := p.str(v, "probes")
		if s == "" {
			if p.err == nil {
				p.fail(v, "probes", "want a script (.bt) or a directory of scripts, or a list of them")
			}
			return
		}
		if !filepath.IsAbs(s) {
			s = filepath.Join(filepath.Dir(p.file), s)
			if abs, err := filepath.Abs(s); err == nil {
				s = abs
			}
		}
		c.Probes = append(c.Probes, s)
	}
}

// enableProbes runs the probes collector when probes lists something and
// the file does not set collectors.probes itself.
func enableProbes(top *yaml.Node, c *Config) {
	if len(c.Probes) == 0 {
		return
	}
	cc, ok := c.Collectors[ProbesCollector]
	if !ok || hasKey(top, "collectors", ProbesCollector) {
		return
	}
	cc.Enabled = true
	c.Collectors[ProbesCollector] = cc
}
