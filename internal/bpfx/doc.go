// Package bpfx holds the thin helpers kscope puts over cilium/ebpf: mounting
// the filesystems BPF needs, checking privileges, probing kernel features,
// choosing the hook a collector attaches by (with its fallbacks logged and
// forced in tests), holding links that close once in reverse order,
// reading ring buffers with loss accounting and reporting verifier errors.
// It knows nothing about particular collectors.
package bpfx
