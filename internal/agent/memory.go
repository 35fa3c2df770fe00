package agent

import (
	"os"
	"runtime/debug"
)

// gcPercent is how much the agent's heap may grow over what is live
// between collections (Go's default is 100): the agent allocates little
// between scrapes, so collecting twice as often costs little CPU, and the
// heap peaks a third lower. GOGC in the environment takes precedence.
//
// The agent sets no soft memory limit of its own (GOMEMLIMIT still sets
// one): a limit near the live heap, which grows with the distinct commands
// a host runs, makes the collector run all the time, as a 60 MiB limit did
// on the 2-CPU VM of docs/benchmarks.md under a storm of unique commands.
const gcPercent = 50

// setGCPercent applies gcPercent unless GOGC is set.
func setGCPercent() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}
