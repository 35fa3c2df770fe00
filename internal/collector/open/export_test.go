package open

import "github.com/kscope/kscope/internal/bpfx"

// ForceEntryExit makes Start use the entry+exit variant of the hooks until
// the returned func runs.
func ForceEntryExit() (restore func()) { return bpfx.ForceHook(Name, variantEntryExit) }
