package top

import "github.com/kscope/kscope/internal/bpfx"

// Test knobs for the external tests.
var ProcsEntries = &procsEntries

// ForceNetHooks makes Start count network bytes with h until the returned
// func runs.
func ForceNetHooks(h NetHooks) (restore func()) { return bpfx.ForceHook(Name, netKinds[h]) }

// ForceAnyFD makes Start count reads and writes on every kind of fd until
// the returned func runs.
func ForceAnyFD() (restore func()) { return bpfx.ForceHook(Name, variantAnyFD) }
