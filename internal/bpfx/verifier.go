package bpfx

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// LoadError annotates an error from loading a collection. A verifier
// rejection is kept whole (%+v prints the full log), since its last lines
// rarely say enough on their own.
func LoadError(what string, err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Errorf("loading %s: %w\n%+v", what, err, ve)
	}
	return fmt.Errorf("loading %s: %w", what, err)
}
