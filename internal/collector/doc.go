// Package collector defines the contract every BPF-backed collector meets;
// the registry of Specs, where each collector package declares itself once
// (name, doc, default, typed options, event kinds, outputs) and which the
// CLI, the agent, its configuration and the docs checks read; and what
// collectors share: the in-kernel filter, the stats they report, the
// start-once and close-once lifecycle and the conversion of kernel
// timestamps and headers into event values.
package collector
