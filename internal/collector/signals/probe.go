package signals

import (
	"github.com/cilium/ebpf/btf"

	"github.com/kscope/kscope/internal/bpfx"
)

// kernelHasMember reports whether the running kernel's struct typ has the
// named member, as the CO-RE checks in the BPF program will see it.
func kernelHasMember(typ, member string) bool {
	kt, err := bpfx.KernelTypes()
	if err != nil {
		return false
	}
	var s *btf.Struct
	if err := kt.TypeByName(typ, &s); err != nil {
		return false
	}
	for _, m := range s.Members {
		if m.Name == member {
			return true
		}
	}
	return false
}
