// Package bpfx holds the thin helpers kscope puts over cilium/ebpf: mounting
// the filesystems BPF needs, checking privileges, probing kernel features,
// reading ring buffers with loss accounting and reporting verifier errors.
// It knows nothing about particular collectors.
package bpfx
