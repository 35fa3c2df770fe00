package main

// Collectors register themselves with the registry (collector.Spec) when
// linked in: this import list is the only place the binary names them.
import (
	_ "github.com/kscope/kscope/internal/collector/block"
	_ "github.com/kscope/kscope/internal/collector/connect"
	_ "github.com/kscope/kscope/internal/collector/dns"
	_ "github.com/kscope/kscope/internal/collector/drops"
	_ "github.com/kscope/kscope/internal/collector/exec"
	_ "github.com/kscope/kscope/internal/collector/exit"
	_ "github.com/kscope/kscope/internal/collector/fileio"
	_ "github.com/kscope/kscope/internal/collector/flows"
	_ "github.com/kscope/kscope/internal/collector/http"
	_ "github.com/kscope/kscope/internal/collector/netfilter"
	_ "github.com/kscope/kscope/internal/collector/oom"
	_ "github.com/kscope/kscope/internal/collector/open"
	_ "github.com/kscope/kscope/internal/collector/policy"
	_ "github.com/kscope/kscope/internal/collector/probes"
	_ "github.com/kscope/kscope/internal/collector/process"
	_ "github.com/kscope/kscope/internal/collector/profile"
	_ "github.com/kscope/kscope/internal/collector/sched"
	_ "github.com/kscope/kscope/internal/collector/signals"
	_ "github.com/kscope/kscope/internal/collector/syscalls"
	_ "github.com/kscope/kscope/internal/collector/tcp"
	_ "github.com/kscope/kscope/internal/collector/top" // procnet
	_ "github.com/kscope/kscope/internal/collector/uprobe"
)
