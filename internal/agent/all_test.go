package agent

import (
	"context"
	"testing"

	_ "github.com/kscope/kscope/internal/collector/block"
	_ "github.com/kscope/kscope/internal/collector/connect"
	_ "github.com/kscope/kscope/internal/collector/dns"
	_ "github.com/kscope/kscope/internal/collector/drops"
	_ "github.com/kscope/kscope/internal/collector/exec"
	_ "github.com/kscope/kscope/internal/collector/fileio"
	_ "github.com/kscope/kscope/internal/collector/flows"
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
	_ "github.com/kscope/kscope/internal/collector/top"
	_ "github.com/kscope/kscope/internal/collector/uprobe"
	"github.com/kscope/kscope/internal/testutil"
)

// Every collector the agent runs by default attaches on this kernel (the
// development host's and, through scripts/test-vm.sh, Debian's stock one),
// the way `kscope agent --check` checks it.
func TestCheckAllCollectors(t *testing.T) {
	testutil.RequireBPF(t)
	var names []string
	for name, on := range DefaultCollectors() {
		if on && name != "broken" {
			names = append(names, name)
		}
	}
	if len(names) < 13 {
		t.Fatalf("only %d collectors registered: %v", len(names), names)
	}
	st, err := Check(context.Background(), testConfig(t, names...), quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		t.Logf("%-9s %-8v %s", s.Name, s.Took.Round(1e6), s.Notes)
	}
}
