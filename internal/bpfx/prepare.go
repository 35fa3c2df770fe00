package bpfx

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf/rlimit"
)

// ErrNoTracefs is returned by Prepare when tracepoints cannot be reached.
var ErrNoTracefs = errors.New("tracefs is not mounted and could not be mounted")

// Prepare readies this process and host for loading tracing programs:
// checks privileges, mounts tracefs/debugfs/bpffs where missing and lifts
// the memlock limit that kernels before 5.11 charge BPF maps against.
func Prepare() ([]Mount, error) {
	if err := CheckPrivileges(); err != nil {
		return nil, err
	}
	mounts := EnsureMounts()
	if err := TracefsErr(); err != nil {
		if errors.Is(err, ErrTracefsUnreadable) {
			return mounts, err
		}
		var why []string
		for _, m := range mounts {
			if m.Error != "" {
				why = append(why, m.Error)
			}
		}
		return mounts, fmt.Errorf("%w: %s", ErrNoTracefs, strings.Join(why, "; "))
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return mounts, fmt.Errorf("raising the memlock limit: %w", err)
	}
	return mounts, nil
}
