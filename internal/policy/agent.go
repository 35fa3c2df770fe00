package policy

// AgentOptions are the policy collector's options in the agent: the
// Options of its collector.Spec, so that the configuration's
// collectors.policy section decodes into them. The rules come from the
// agent's policies: key, not from the section: the agent loads and plans
// them and hands them over in Set.
type AgentOptions struct {
	// Audit puts every rule in audit mode (collectors.policy.audit).
	Audit bool `yaml:"audit"`
	// Set is the rules the agent loaded; nil in a section read from a
	// configuration file, which the collector refuses.
	Set *Set `yaml:"-"`
}

// Set is one loaded generation of the agent's rules: a reload that
// changes them builds a new Set.
type Set struct {
	Plans []*Plan
	// Cgroup is the cgroup v2 directory the connect rules attach to.
	Cgroup string
}
