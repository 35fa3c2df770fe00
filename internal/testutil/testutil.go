// Package testutil holds what kscope's privileged tests share: honest skips
// that fail in CI, and workload helpers.
package testutil

import (
	"errors"
	"os"
	"testing"

	"github.com/kscope/kscope/internal/bpfx"
)

// InCI reports whether the tests run in CI (CI=true), where every kernel
// feature the suite needs must be present: a skip there is a failure.
func InCI() bool { return os.Getenv("CI") == "true" }

// Skip skips the test for a missing kernel feature (name it) or fails it in
// CI, where the feature is expected.
func Skip(t testing.TB, feature string, err error) {
	t.Helper()
	if InCI() || os.Getenv("KSCOPE_REQUIRE_ALL") == "1" {
		t.Fatalf("%s is required here but missing: %v", feature, err)
	}
	t.Skipf("kernel feature %s missing: %v", feature, err)
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
