package fileio

// Test knobs for the external tests.
var (
	ForceAnyFD    = &forceAnyFD
	ProcsEntries  = &procsEntries
	ExitedEntries = &exitedEntries
	ErrsEntries   = &errsEntries
)

// AnyFD reports whether reads and writes count on every kind of fd.
func (c *Collector) AnyFD() bool { return c.anyFD }
