package fileio

import "github.com/kscope/kscope/internal/bpfx"

// ForceAnyFD makes Start count reads and writes on every kind of fd until
// the returned func runs.
func ForceAnyFD() (restore func()) { return bpfx.ForceHook(Name, variantAnyFD) }

// Test knobs for the external tests.
var (
	ProcsEntries  = &procsEntries
	ExitedEntries = &exitedEntries
	ErrsEntries   = &errsEntries
)

// AnyFD reports whether reads and writes count on every kind of fd.
func (c *Collector) AnyFD() bool { return c.anyFD }

// ForceTracepoints makes Start attach one tracepoint per syscall instead of
// taking the dispatcher's slots, until the returned func runs.
func ForceTracepoints() (restore func()) { return bpfx.ForceHook(Name, variantRegularFiles) }

// Variant returns the variant Start chose.
func (c *Collector) Variant() string { return c.variant }
