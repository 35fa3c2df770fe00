package top

// Test knobs for the external tests.
var (
	ForceNetHooks = &forceNetHooks
	ForceAnyFD    = &forceAnyFD
	ProcsEntries  = &procsEntries
)
