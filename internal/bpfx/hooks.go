package bpfx

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	efeatures "github.com/cilium/ebpf/features"
)

// Hook is one way to attach a collector's programs: a hook kind, by its
// feature name (FeatTpBTF, FeatRawTracepoint, FeatTracepoint; FeatFentry
// and FeatKprobe fit the same chain). A choice between variants of the
// programs that is not one of hook kind (task storage or a hash, say) is
// made the same way, its Kind a name the collector gives the variant and
// its Why the probe.
type Hook struct {
	Kind string
	// Why returns why this kernel cannot use the hook, or nil. Nil Why
	// probes the kind with ProbeFeature, except for the last hook of a
	// chain: the last resort is taken unprobed, and attaching it reports
	// what is missing. Why may load the programs and keep them.
	Why func() error
	// What says what taking this hook instead of a better one means, for
	// the fallback log; "" says "<kind> instead of <better kind>".
	What string
}

// ChooseHook returns the kind of the first of hooks, best first, that this
// kernel can use. Each hook passed over logs, with the collector's logger,
// "fallback" with what the next one means and why the better one was
// refused. When ForceHook forced one of the chain's kinds for collector,
// the hooks better than it are passed over as "forced" and it is taken
// unprobed. It fails when no hook can be used.
func ChooseHook(log *slog.Logger, collector string, hooks ...Hook) (string, error) {
	if len(hooks) == 0 {
		return "", errors.New("choosing a hook: no hooks")
	}
	force := slices.IndexFunc(hooks, func(h Hook) bool { return isForced(collector, h.Kind) })
	var errs []error
	for i, h := range hooks {
		var why error
		switch {
		case force >= 0 && i < force:
			why = errors.New("forced")
		case i == force || i == len(hooks)-1 && h.Why == nil:
			// Forced, or the last resort: taken as it is.
		case h.Why != nil:
			why = h.Why()
		default:
			why = ProbeFeature(h.Kind)
		}
		if why == nil {
			return h.Kind, nil
		}
		if i+1 < len(hooks) {
			next := hooks[i+1]
			what := next.What
			if what == "" {
				what = next.Kind + " instead of " + h.Kind
			}
			// The first line: not a whole verifier log.
			first, _, _ := strings.Cut(why.Error(), "\n")
			log.Info("fallback", "what", what, "why", first)
		}
		errs = append(errs, fmt.Errorf("%s: %w", h.Kind, why))
	}
	return "", fmt.Errorf("choosing a hook: %w", errors.Join(errs...))
}

type forceKey struct{ collector, kind string }

var (
	forceMu sync.Mutex
	forced  = map[forceKey]int{}
)

// ForceHook makes ChooseHook for collector take the hook of the given kind
// in any chain that has it, as if the kernel refused every better one,
// until the returned func runs. Tests use it to run each fallback on a
// kernel that has the best hook.
func ForceHook(collector, kind string) (restore func()) {
	k := forceKey{collector, kind}
	forceMu.Lock()
	defer forceMu.Unlock()
	forced[k]++
	return sync.OnceFunc(func() {
		forceMu.Lock()
		defer forceMu.Unlock()
		if forced[k]--; forced[k] == 0 {
			delete(forced, k)
		}
	})
}

func isForced(collector, kind string) bool {
	forceMu.Lock()
	defer forceMu.Unlock()
	return forced[forceKey{collector, kind}] > 0
}

// TaskPtRegs returns why tracepoint programs cannot call bpf_task_pt_regs
// (Linux 5.15), or nil: a syscall's exit hook needs it to read the
// call's arguments from the saved user registers. It serves as the Why of
// the variants that do.
func TaskPtRegs() error {
	if err := efeatures.HaveProgramHelper(ebpf.TracePoint, asm.FnTaskPtRegs); err != nil {
		return fmt.Errorf("bpf_task_pt_regs: %w", err)
	}
	return nil
}
