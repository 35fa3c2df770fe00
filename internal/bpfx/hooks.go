package bpfx

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
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
// refused. Hooks better than the one ForceHook set for collector are passed
// over as "forced". It fails when no hook can be used.
func ChooseHook(log *slog.Logger, collector string, hooks ...Hook) (string, error) {
	if len(hooks) == 0 {
		return "", errors.New("choosing a hook: no hooks")
	}
	force := forcedHook(collector)
	if force != "" && !slices.ContainsFunc(hooks, func(h Hook) bool { return h.Kind == force }) {
		return "", fmt.Errorf("choosing a hook: %s forced to %s, which it does not have", collector, force)
	}
	var errs []error
	for i, h := range hooks {
		var why error
		switch {
		case force != "" && h.Kind != force:
			why = errors.New("forced")
		case force != "" || i == len(hooks)-1 && h.Why == nil:
			// Forced or the last resort: taken as it is.
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

var (
	forceMu sync.Mutex
	forced  = map[string]string{}
)

// ForceHook makes ChooseHook for collector take the hook of the given kind,
// as if the kernel refused every better one, until the returned func runs.
// Tests use it to run each fallback on a kernel that has the best hook.
func ForceHook(collector, kind string) (restore func()) {
	forceMu.Lock()
	defer forceMu.Unlock()
	prev, had := forced[collector]
	forced[collector] = kind
	return func() {
		forceMu.Lock()
		defer forceMu.Unlock()
		if had {
			forced[collector] = prev
		} else {
			delete(forced, collector)
		}
	}
}

func forcedHook(collector string) string {
	forceMu.Lock()
	defer forceMu.Unlock()
	return forced[collector]
}
