package agent

import (
	"log/slog"
	"os"
	"runtime/debug"
)

// The agent's memory settings. The agent is meant to stay within
// memoryBudget of RSS on a busy host; part of its RSS is not the Go
// runtime's (the pages of its executable it has touched, shared with every
// process running it, and the BPF maps it has mapped), so the budget bounds
// the Go runtime's memory as a soft limit: past it the collector runs more
// often. It is not set lower: a limit below the live heap makes the
// collector run all the time. Below it the heap may grow by gcPercent over
// what is live between collections (the Go default is 100): the agent
// allocates little between scrapes, so collecting more often costs little
// CPU, and the heap's peak is a third lower. GOMEMLIMIT and GOGC in the
// environment take precedence.
const (
	memoryBudget = 60 << 20
	gcPercent    = 50
)

// setMemoryLimits applies the settings above and returns the limit in
// force.
func setMemoryLimits(logger *slog.Logger) int64 {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryBudget)
	}
	limit := debug.SetMemoryLimit(-1)
	logger.Debug("memory limit", "go_limit_bytes", limit)
	return limit
}
