// Package collector defines the contract every BPF-backed collector meets,
// the registry the CLI and agent build collectors from, and what collectors
// share: the in-kernel filter, the stats they report, the start-once and
// close-once lifecycle and the conversion of kernel timestamps and headers
// into event values.
package collector
