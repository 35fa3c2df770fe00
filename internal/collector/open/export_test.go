package open

// ForceEntryExit lets tests run the entry+exit variant of the hooks.
var ForceEntryExit = &forceEntryExit
