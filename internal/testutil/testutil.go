// Package testutil holds what kscope's privileged tests share: honest skips
// that fail where every feature must be present, helpers that wait for
// conditions instead of sleeping, and workload helpers.
package testutil

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/bpfx"
)

// InCI reports whether the tests run in CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// RequireAll reports whether every kernel feature, privilege and tool the
// suite uses must be present, so that a skip is a failure: in CI (CI=true)
// and wherever KSCOPE_REQUIRE_ALL=1 (which .ci/run sets).
func RequireAll() bool { return InCI() || os.Getenv("KSCOPE_REQUIRE_ALL") == "1" }

// Skip skips the test for a missing kernel feature, privilege or tool (name
// it), or fails it where RequireAll says everything must be present.
func Skip(t testing.TB, feature string, err error) {
	t.Helper()
	if RequireAll() {
		t.Fatalf("%s is required here but missing: %v", feature, err)
	}
	t.Skipf("%s missing: %v", feature, err)
}

// RequireRoot skips the test (a failure under RequireAll) unless it runs
// as root; why says what root is needed for.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "root ("+why+")", fmt.Errorf("running as uid %d", os.Geteuid()))
	}
}

// Tool returns the path of the host program name, or skips the test (a
// failure under RequireAll); why says what it is needed for.
func Tool(t testing.TB, name, why string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Skip(t, name+" ("+why+")", err)
	}
	return p
}

// Kallsyms returns /proc/kallsyms with real addresses, or skips the test
// (a failure under RequireAll) when the file is missing or its addresses
// are hidden (kptr_restrict, or not root).
func Kallsyms(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile("/proc/kallsyms")
	if err != nil {
		Skip(t, "/proc/kallsyms", err)
	}
	for _, line := range strings.SplitN(string(data), "\n", 1000) {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		if a, err := strconv.ParseUint(f[0], 16, 64); err == nil && a != 0 {
			return data
		}
	}
	Skip(t, "kallsyms addresses", errors.New("all zero: kptr_restrict, or not root"))
	return nil
}

// RequireBPF prepares the host for loading tracing programs (privileges,
// tracefs, bpffs, memlock) or skips the test saying why.
func RequireBPF(t testing.TB) {
	t.Helper()
	if _, err := bpfx.Prepare(); err != nil {
		if errors.Is(err, bpfx.ErrPrivileges) {
			Skip(t, "root or CAP_BPF+CAP_PERFMON", err)
		}
		Skip(t, "tracefs", err)
	}
}
