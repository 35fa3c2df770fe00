// Package bpfx holds the thin helpers kscope puts over cilium/ebpf: mounting
// the filesystems BPF needs, checking privileges, probing kernel features,
// choosing the hook a collector attaches by (with its fallbacks logged and
// forced in tests), holding links that close once in reverse order,
// reading ring buffers with loss accounting and reporting verifier errors,
// and loading objects with the kernel's types for CO-RE: parsed once per
// process, or, for the short-lived commands that set a type cache
// (SetTypeCache), read from a small per-boot file of the kernel types an
// object's relocations look up (typecache.go). It knows nothing about
// particular collectors.
package bpfx
