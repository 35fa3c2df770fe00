// Package version reports the version kscope was built as.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is set at link time: -ldflags "-X github.com/kscope/kscope/internal/version.Version=v0.1.0".
var Version = "devel"

// String returns "kscope VERSION (COMMIT, GOVERSION linux/amd64)".
func String() string {
	commit := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				commit = s.Value[:12]
			}
		}
	}
	return fmt.Sprintf("kscope %s (%s, %s %s/%s)", Version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
