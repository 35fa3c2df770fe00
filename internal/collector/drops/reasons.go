package drops

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/btf"

	"github.com/kscope/kscope/internal/bpfx"
)

// Reasons names the values of the running kernel's enum skb_drop_reason.
// The enum changes between kernels (values are added in the middle), so
// names come from the kernel's BTF, never from a table of our own.
type Reasons map[uint32]string

const reasonPrefix = "SKB_DROP_REASON_"

// KernelReasons reads enum skb_drop_reason from the kernel's BTF.
func KernelReasons() (Reasons, error) {
	spec, err := bpfx.KernelTypes()
	if err != nil {
		return nil, fmt.Errorf("reading the kernel's BTF: %w", err)
	}
	var enum *btf.Enum
	if err := spec.TypeByName("skb_drop_reason", &enum); err != nil {
		if errors.Is(err, btf.ErrNotFound) {
			return nil, fmt.Errorf("finding enum skb_drop_reason in the kernel's BTF (Linux 5.17 added it): %w", err)
		}
		return nil, fmt.Errorf("finding enum skb_drop_reason: %w", err)
	}
	return ReasonsOf(enum), nil
}

// ReasonsOf names the values of an enum skb_drop_reason: the enumerator's
// name without SKB_DROP_REASON_ (NETFILTER_DROP), SKB_CONSUMED and
// SKB_NOT_DROPPED_YET as they are.
func ReasonsOf(enum *btf.Enum) Reasons {
	r := make(Reasons, len(enum.Values))
	for _, v := range enum.Values {
		if v.Value > 1<<32-1 {
			continue
		}
		if _, dup := r[uint32(v.Value)]; dup {
			continue // SKB_DROP_REASON_MAX aliases nothing real; keep the first name
		}
		r[uint32(v.Value)] = strings.TrimPrefix(v.Name, reasonPrefix)
	}
	return r
}

// Name returns the name of reason v, or "REASON_N" for a value the kernel's
// enum lacks (a subsystem's own reasons, above the core enum).
func (r Reasons) Name(v uint32) string {
	if n, ok := r[v]; ok {
		return n
	}
	return "REASON_" + strconv.FormatUint(uint64(v), 10)
}
