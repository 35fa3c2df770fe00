package collector

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// Apply writes the filter and ring buffer settings into a collection spec
// built from bpf/include/kscope.h, before it is loaded.
func (c Config) Apply(spec *ebpf.CollectionSpec) error {
	f := c.Filter
	var comm [16]uint8
	copy(comm[:], f.Comm)
	vars := map[string]any{
		"filter_pid":     f.PID,
		"filter_uid_on":  boolByte(f.UID != nil),
		"filter_comm":    comm,
		"filter_comm_on": boolByte(f.Comm != ""),
		"filter_failed":  boolByte(f.Failed),
		// Wake the reader when an eighth of the ring is full; it polls too.
		"wakeup_bytes": uint64(c.RingBytes / 8),
	}
	if f.UID != nil {
		vars["filter_uid"] = *f.UID
	}
	for name, v := range vars {
		vs, ok := spec.Variables[name]
		if !ok {
			return fmt.Errorf("spec has no variable %s", name)
		}
		if err := vs.Set(v); err != nil {
			return fmt.Errorf("setting %s: %w", name, err)
		}
	}
	rb, ok := spec.Maps["events"]
	if !ok {
		return fmt.Errorf("spec has no events ring buffer")
	}
	rb.MaxEntries = uint32(c.RingBytes)
	return nil
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}
