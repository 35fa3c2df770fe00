package main

// Collectors register themselves with the registry when linked in.
import (
	_ "github.com/kscope/kscope/internal/collector/connect"
	_ "github.com/kscope/kscope/internal/collector/exec"
	_ "github.com/kscope/kscope/internal/collector/exit"
	_ "github.com/kscope/kscope/internal/collector/open"
)
